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
use unicode_normalization::UnicodeNormalization;

use crate::domain::{
    CoverageLink, Demographics, MemberId, NameRepresentation, PatientIdentifier, PersonName, Sex,
};
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
    let identifiers = identifiers(&pid, issues);
    let local_id = local_id_of(&identifiers);
    if local_id.is_none() {
        issues.push(Issue::error(
            ErrorCode::Hl7RequiredMissing,
            pid.location().with_field(3).to_string(),
            "patient id list has no id",
        ));
    }
    Some(PatientInfo {
        local_id: local_id?,
        identifiers,
        demographics: demographics(&pid, issues),
    })
}

/// The facility's own id among a patient's identifiers: the first typed `PI` (patient
/// internal), else the first.
fn local_id_of(identifiers: &[PatientIdentifier]) -> Option<String> {
    identifiers
        .iter()
        .find(|i| i.type_code.as_deref() == Some("PI"))
        .or_else(|| identifiers.first())
        .map(|i| i.value.clone())
}

/// The facility's own id of a PID (see `local_id_of`).
pub(super) fn local_id(pid: &Segment<'_>) -> Option<String> {
    local_id_of(&identifiers(pid, &mut Vec::new()))
}

/// Every repetition of PID-3 that has an id (CX.1), with its assigning authority (CX.4)
/// and type (CX.5). Full-width letters and digits in an id are read as their ASCII
/// forms (NFKC), and reported.
fn identifiers(pid: &Segment<'_>, issues: &mut Vec<Issue>) -> Vec<PatientIdentifier> {
    pid.field(3)
        .repetitions()
        .filter_map(|cx| {
            let id = cx.component(1);
            let value = id.non_empty()?;
            let value = value.trim();
            let value = if value.chars().any(is_full_width_ascii) {
                issues.push(Issue::warning(
                    ErrorCode::Hl7InvalidValue,
                    id.location().to_string(),
                    "id written with full-width characters; read as their ASCII forms",
                ));
                value.nfkc().collect()
            } else {
                value.to_owned()
            };
            if value.is_empty() {
                return None;
            }
            let authority = cx.component(4);
            Some(PatientIdentifier {
                value,
                assigning_authority: authority
                    .subcomponent(1)
                    .non_empty()
                    .or_else(|| authority.subcomponent(2).non_empty())
                    .map(|a| a.trim().to_owned()),
                type_code: cx.component(5).non_empty().map(|t| t.trim().to_owned()),
            })
        })
        .collect()
}

/// U+FF01–U+FF5E: the full-width forms of ASCII letters, digits and signs.
fn is_full_width_ascii(c: char) -> bool {
    ('\u{ff01}'..='\u{ff5e}').contains(&c)
}

fn demographics(pid: &Segment<'_>, issues: &mut Vec<Issue>) -> Demographics {
    let names: Vec<PersonName> = pid
        .field(5)
        .repetitions()
        .filter_map(|xpn| person_name(&xpn, issues))
        .collect();
    // The kanji name: the first ideographic one, else the first that is not phonetic (a
    // sender that does not say); the kana name: the first phonetic one.
    let name = names
        .iter()
        .find(|n| n.representation == Some(NameRepresentation::Ideographic))
        .or_else(|| {
            names
                .iter()
                .find(|n| n.representation != Some(NameRepresentation::Phonetic))
        })
        .and_then(PersonName::text);
    let name_kana = names
        .iter()
        .find(|n| n.representation == Some(NameRepresentation::Phonetic))
        .and_then(PersonName::text);
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
        names,
    }
}

/// One XPN repetition: family name XPN.1 (its surname, FN.1, when subcomponents are
/// used), given name XPN.2, name type XPN.7 (table 0200), representation XPN.8 (table
/// 4000/0465: `I` kanji, `P` kana, `A` alphabetic), escapes resolved.
fn person_name(xpn: &Value<'_>, issues: &mut Vec<Issue>) -> Option<PersonName> {
    let part = |value: Value<'_>, issues: &mut Vec<Issue>| {
        values::text(&value, issues)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
    };
    let family = part(xpn.component(1).subcomponent(1), issues);
    let given = part(xpn.component(2), issues);
    if family.is_none() && given.is_none() {
        return None;
    }
    let representation_value = xpn.component(8);
    let representation = representation_value.non_empty().and_then(|code| {
        let known = NameRepresentation::from_hl7(code.trim());
        if known.is_none() {
            values::unknown_code(&representation_value, "4000", issues);
        }
        known
    });
    Some(PersonName {
        family,
        given,
        representation,
        name_type: xpn.component(7).non_empty().map(|t| t.trim().to_owned()),
    })
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
