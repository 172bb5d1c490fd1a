//! PID → the facility's patient and its demographics; IN1 → coverage links (ADT-00).
//!
//! IN1 as SS-MIX2 writes it (ConceptMap `segment-adt-00-in1-to-coverage`): IN1-3 the
//! insurer number (保険者番号), IN1-10 the card symbol (記号, CX.1), IN1-11 the card number
//! (番号, XON.1). The ConceptMap maps 枝番 to IN1-10 as well without naming a component;
//! kakari reads it from IN1-10's second repetition when that is one or two digits and
//! otherwise leaves it unknown, which the family matching of `MemberId` is built for.
//! Public-funding entries (公費: a 法別番号 in IN1-2 that is not a health-insurance one)
//! carry a recipient number, not a member id, and are skipped.

use super::values;
use super::{Context, PatientInfo};
use crate::codec::hl7v2::message::{Message, Segment, Value};
use crate::domain::{CoverageLink, Demographics, MemberId, Sex};
use crate::error::{ErrorCode, Issue};

/// IN1-2 plan codes (JHSD table 0001, 法別番号) of health insurance, as opposed to public
/// funding: 協会けんぽ, 船員, 日雇, 組合, 自衛官, 共済, 後期高齢, 特例退職, 退職者医療,
/// 国保 (`C0`) and the 70s of the older schemes.
const HEALTH_INSURANCE_PLANS: &[&str] = &[
    "01", "02", "03", "04", "06", "07", "31", "32", "33", "34", "39", "63", "67", "72", "73", "74",
    "75", "C0",
];

/// The patient of a message, from its first PID.
pub(super) fn patient(message: &Message<'_>, issues: &mut Vec<Issue>) -> Option<PatientInfo> {
    let pid = message.first("PID")?;
    let local_id = local_id(&pid);
    if local_id.is_none() {
        issues.push(Issue::error(
            ErrorCode::Hl7RequiredMissing,
            pid.location().with_field(3).to_string(),
            "patient id list has no id",
        ));
    }
    Some(PatientInfo {
        local_id: local_id?,
        demographics: demographics(&pid, issues),
    })
}

/// PID-3.1 of the repetition typed `PI` (patient internal id), else of the first one.
pub(super) fn local_id(pid: &Segment<'_>) -> Option<String> {
    let field = pid.field(3);
    let chosen = field
        .repetitions()
        .find(|r| r.component(5).raw() == "PI")
        .unwrap_or_else(|| field.repetition(1));
    chosen
        .component(1)
        .non_empty()
        .map(|id| id.trim().to_owned())
}

fn demographics(pid: &Segment<'_>, issues: &mut Vec<Issue>) -> Demographics {
    let mut name = None;
    let mut name_kana = None;
    for (i, repetition) in pid.field(5).repetitions().enumerate() {
        let text = person_name(&repetition);
        match repetition.component(8).raw() {
            "P" => name_kana = name_kana.or(text),
            "I" => name = name.or(text),
            _ if i == 0 => name = name.or(text),
            _ => {}
        }
    }
    let sex_value = pid.field(8);
    let sex = match sex_value.non_empty() {
        Some(code) => {
            let sex = Sex::from_hl7(&code);
            if sex.is_none() {
                values::unknown_code(&sex_value, "0001", issues);
            }
            sex
        }
        None => None,
    };
    Demographics {
        birth_date: values::date(&pid.field(7), issues),
        sex,
        name,
        name_kana,
    }
}

/// Family and given name (XPN.1, XPN.2) joined by a space.
fn person_name(xpn: &Value<'_>) -> Option<String> {
    let family = xpn.component(1).text();
    let given = xpn.component(2).text();
    let parts: Vec<&str> = [family.as_ref(), given.as_ref()]
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Coverage links from the IN1 segments.
pub(super) fn coverages(context: &Context<'_, '_>, issues: &mut Vec<Issue>) -> Vec<CoverageLink> {
    context
        .message
        .segments()
        .filter(|s| s.name() == "IN1")
        .filter_map(|in1| coverage(context, &in1, issues))
        .collect()
}

fn coverage(
    context: &Context<'_, '_>,
    in1: &Segment<'_>,
    issues: &mut Vec<Issue>,
) -> Option<CoverageLink> {
    let plan = in1.field(2).component(1).text();
    if plan.len() == 2 && !HEALTH_INSURANCE_PLANS.contains(&plan.as_ref()) {
        return None;
    }
    let insurer = in1.field(3).component(1).non_empty();
    let symbol = in1.field(10).repetition(1).component(1).non_empty();
    let number = in1.field(11).component(1).non_empty();
    let branch_value = in1.field(10).repetition(2).component(1);
    let branch = branch_value
        .non_empty()
        .filter(|b| (1..=2).contains(&b.len()) && b.bytes().all(|c| c.is_ascii_digit()));
    let (Some(insurer), Some(symbol), Some(number)) = (insurer, symbol, number) else {
        issues.push(Issue::warning(
            ErrorCode::Hl7CoverageIncomplete,
            in1.location().to_string(),
            "insurer number (IN1-3), symbol (IN1-10) or number (IN1-11) is empty; the patient cannot be linked to a person from this segment",
        ));
        return None;
    };
    match MemberId::from_parts(&insurer, &symbol, &number, branch.as_deref()) {
        Ok(member) => Some(CoverageLink {
            subject: context.subject.clone(),
            member,
            active: true,
        }),
        Err(reason) => {
            issues.push(Issue::error(
                ErrorCode::Hl7InvalidValue,
                in1.location().to_string(),
                format!("insurance parts do not form a member id: {reason}"),
            ));
            None
        }
    }
}
