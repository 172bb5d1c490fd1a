//! ADT^A60 IAM (ADT-61) and ADT^A08 AL1 (ADT-00) → `Allergy`s, per ConceptMaps
//! `segment-adt-61-iam-to-allergyintolerance` and `segment-adt-00-al1-to-
//! allergyintolerance`.
//!
//! Codes IAM-3 / AL1-3, name their text, category from IAM-2 / AL1-2 (HL7 table 0127 by
//! ConceptMap `table-v2-0127`), criticality from the severity IAM-4 / AL1-4 (table 0128:
//! severe → high, mild or moderate → low), clinical status from the action code IAM-6
//! (table 0323: delete → inactive), recorded IAM-13.

use super::values;
use super::{ClinicalRecord, Context, MappedRecord};
use crate::codec::hl7v2::message::{Segment, Value};
use crate::domain::Allergy;
use crate::error::{ErrorCode, Issue};

/// Allergies of an ADT^A60.
pub(super) fn from_iam(
    context: &Context<'_, '_>,
    records: &mut Vec<MappedRecord>,
    issues: &mut Vec<Issue>,
) {
    for iam in context.message.segments().filter(|s| s.name() == "IAM") {
        let Some(mut allergy) = allergy(context, &iam, issues) else {
            continue;
        };
        allergy.clinical_status = action_status(&iam.field(6), issues);
        allergy.recorded = values::timestamp(&iam.field(13), issues);
        records.push(MappedRecord {
            location: iam.location().to_string(),
            record: ClinicalRecord::Allergy(allergy),
        });
    }
}

/// Allergies of an ADT^A08.
pub(super) fn from_al1(
    context: &Context<'_, '_>,
    records: &mut Vec<MappedRecord>,
    issues: &mut Vec<Issue>,
) {
    for al1 in context.message.segments().filter(|s| s.name() == "AL1") {
        if let Some(mut allergy) = allergy(context, &al1, issues) {
            allergy.clinical_status = Some("active".to_owned());
            records.push(MappedRecord {
                location: al1.location().to_string(),
                record: ClinicalRecord::Allergy(allergy),
            });
        }
    }
}

/// What IAM and AL1 share: fields 2 (type), 3 (allergen), 4 (severity).
fn allergy(
    context: &Context<'_, '_>,
    segment: &Segment<'_>,
    issues: &mut Vec<Issue>,
) -> Option<Allergy> {
    let allergen = segment.field(3);
    let codes = values::codings(&allergen, context.facility);
    let name = allergen.component(2).non_empty().map(|n| n.into_owned());
    if codes.is_empty() && name.is_none() {
        issues.push(Issue::error(
            ErrorCode::Hl7RequiredMissing,
            allergen.location().to_string(),
            "allergen is empty",
        ));
        return None;
    }
    Some(Allergy {
        subject: context.subject.clone(),
        codes,
        name,
        category: category(&segment.field(2), issues),
        criticality: criticality(&segment.field(4), issues),
        clinical_status: None,
        recorded: None,
        facility: Some(context.facility.clone()),
    })
}

/// Table 0127 → FHIR category (ConceptMap `table-v2-0127-to-allergyintolerancecategory`).
fn category(value: &Value<'_>, issues: &mut Vec<Issue>) -> Option<String> {
    let code = value.component(1).non_empty()?;
    let category = match code.as_ref() {
        "DA" => "medication",
        "FA" => "food",
        "EA" | "PA" | "LA" => "environment",
        "AA" => "biologic",
        "MA" | "MC" => return None,
        _ => {
            values::unknown_code(value, "0127", issues);
            return None;
        }
    };
    Some(category.to_owned())
}

/// Table 0128 → FHIR criticality.
fn criticality(value: &Value<'_>, issues: &mut Vec<Issue>) -> Option<String> {
    let code = value.component(1).non_empty()?;
    let criticality = match code.as_ref() {
        "SV" => "high",
        "MO" | "MI" => "low",
        "U" => "unable-to-assess",
        _ => {
            values::unknown_code(value, "0128", issues);
            return None;
        }
    };
    Some(criticality.to_owned())
}

/// Table 0323 (allergy action code) → clinical status.
fn action_status(value: &Value<'_>, issues: &mut Vec<Issue>) -> Option<String> {
    let code = value.component(1).non_empty()?;
    let status = match code.as_ref() {
        "A" | "U" | "X" => "active",
        "D" => "inactive",
        _ => {
            values::unknown_code(value, "0323", issues);
            return None;
        }
    };
    Some(status.to_owned())
}
