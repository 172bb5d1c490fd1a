//! PPR^ZD1 (PPR-01) → `Condition`s, per ConceptMap `segment-ppr-01-prb-to-condition`.
//!
//! One condition per PRB: codes PRB-3 (MEDIS `MDCDX2` exchange code) and the ICD-10
//! triplet of PRB-10 (`I10`), name PRB-3.2, onset PRB-16, recorded PRB-7, clinical status
//! from the outcome PRB-14 (HL7 table 0241). PRB-1 `DE` (deleted) is marked
//! `entered-in-error`. A diagnosis is suspected (疑い) when PRB-13 says provisional, when
//! the following ZPR carries the MEDIS modifier 8002 (の疑い), or when the MEDIS name
//! ends with 疑い.

use super::values;
use super::{ClinicalRecord, Context, MappedRecord};
use crate::codec::hl7v2::message::{Segment, Value};
use crate::domain::Condition;
use crate::domain::code_system::KnownSystem;
use crate::error::Issue;

/// The MEDIS modifier code of の疑い.
const SUSPECTED_MODIFIER: &str = "8002";

/// Conditions of a PPR^ZD1.
pub(super) fn problems(
    context: &Context<'_, '_>,
    records: &mut Vec<MappedRecord>,
    issues: &mut Vec<Issue>,
) {
    let mut current: Option<(Segment<'_>, Condition)> = None;
    for segment in context.message.segments() {
        match segment.name().as_str() {
            "PRB" => {
                if let Some(done) = current.take() {
                    records.push(finish(done));
                }
                current = condition(context, &segment, issues).map(|c| (segment, c));
            }
            "ZPR" => {
                if let Some((_, condition)) = current.as_mut() {
                    let modifier = |n| segment.field(n).component(1);
                    if [modifier(3), modifier(6)]
                        .iter()
                        .any(|m| m.raw() == SUSPECTED_MODIFIER)
                    {
                        condition.suspected = true;
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(done) = current.take() {
        records.push(finish(done));
    }
}

fn finish((prb, condition): (Segment<'_>, Condition)) -> MappedRecord {
    MappedRecord {
        location: prb.location().to_string(),
        record: ClinicalRecord::Condition(condition),
    }
}

fn condition(
    context: &Context<'_, '_>,
    prb: &Segment<'_>,
    issues: &mut Vec<Issue>,
) -> Option<Condition> {
    let problem = prb.field(3);
    let mut codes = values::codings(&problem, context.facility);
    let classification = prb.field(10);
    if let Some(icd) = values::coding_of(
        &classification.component(1),
        &classification.component(2),
        &classification.component(3),
        context.facility,
    )
    .filter(|c| c.known_system() == Some(KnownSystem::Icd10))
    {
        codes.push(icd);
    }
    let name = problem.component(2).non_empty().map(|n| n.into_owned());
    if codes.is_empty() && name.is_none() {
        issues.push(Issue::error(
            crate::error::ErrorCode::Hl7RequiredMissing,
            problem.location().to_string(),
            "problem id is empty",
        ));
        return None;
    }
    let deleted = prb.field(1).raw() == "DE";
    let suspected = matches!(prb.field(13).component(1).raw(), "P" | "S")
        || name.as_deref().is_some_and(|n| n.ends_with("疑い"));
    Some(Condition {
        subject: context.subject.clone(),
        codes,
        name,
        onset: values::timestamp(&prb.field(16), issues),
        recorded: values::timestamp(&prb.field(7), issues),
        clinical_status: if deleted {
            Some("entered-in-error".to_owned())
        } else {
            outcome(&prb.field(14), issues)
        },
        suspected,
        facility: Some(context.facility.clone()),
    })
}

/// PRB-14 (HL7 table 0241, patient outcome) → FHIR clinical status.
fn outcome(value: &Value<'_>, issues: &mut Vec<Issue>) -> Option<String> {
    let code = value.component(1).non_empty()?;
    let status = match code.as_ref() {
        "F" | "S" => "resolved",
        "N" | "R" | "W" => "active",
        "D" => "inactive",
        "U" => return None,
        _ => {
            values::unknown_code(value, "0241", issues);
            return None;
        }
    };
    Some(status.to_owned())
}
