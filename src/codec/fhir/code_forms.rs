//! The form of codes in the code systems whose codes have one, wherever a Coding sits in a
//! resource (`coding[]` of any CodeableConcept, extensions and contained resources too).
//!
//! A code of the wrong form can name nothing in its system: it would be stored, never
//! mapped, and silently left out of duplicate-therapy and lab-value checks. So it is
//! refused (`fhir.code_format`), located at the coding's `code`. The forms:
//!
//! | system | form |
//! |---|---|
//! | HOT9 / HOT7 / HOT13 (MEDIS-DC) | 9 / 7 / 13 digits |
//! | YJ (個別医薬品コード), 薬価基準収載医薬品コード, 一般名処方マスタ code | 12 characters: 薬効分類 4 digits, ingredient and route 3 digits, 剤形 letter, then 4 letters or digits (一般名 codes end in `ZZZ` mostly) |
//! | レセプト電算処理システム医薬品コード | 9 digits |
//! | JLAC10, 特定健診 item code | 17 letters and digits |
//! | JAMI usage code (用法) | 16 letters and digits |
//! | 傷病名コード (支払基金) | 7 digits |
//! | MEDIS 病名交換用コード | 8 letters and digits |
//!
//! Codes are compared as written: full-width digits are not a code of these systems.

use serde_json::Value;

use super::path::{child, index};
use crate::domain::code_system::KnownSystem;
use crate::error::{ErrorCode, Issue};

/// A test of a code's form, and its description for messages.
type Form = (fn(&str) -> bool, &'static str);

/// The form a code of `system` must have; `None` when kakari knows no fixed form for the
/// system.
fn form(system: KnownSystem) -> Option<Form> {
    Some(match system {
        KnownSystem::Hot9 | KnownSystem::ReceiptDrug => (|c| digits(c, 9), "9 digits"),
        KnownSystem::Hot7 => (|c| digits(c, 7), "7 digits"),
        KnownSystem::Hot13 => (|c| digits(c, 13), "13 digits"),
        KnownSystem::Yj | KnownSystem::DrugPriceList | KnownSystem::GenericName => (
            drug_code12,
            "12 characters: 7 digits, a 剤形 letter, 4 letters or digits",
        ),
        KnownSystem::Jlac10 | KnownSystem::CheckupItem => {
            (|c| alphanumeric(c, 17), "17 letters or digits")
        }
        KnownSystem::JamiUsage => (|c| alphanumeric(c, 16), "16 letters or digits"),
        KnownSystem::ReceiptDisease => (|c| digits(c, 7), "7 digits"),
        KnownSystem::MedisDisease => (|c| alphanumeric(c, 8), "8 letters or digits"),
        KnownSystem::Merit9Unit | KnownSystem::Icd10 | KnownSystem::Ucum => return None,
    })
}

fn digits(code: &str, len: usize) -> bool {
    code.len() == len && code.bytes().all(|b| b.is_ascii_digit())
}

fn alphanumeric(code: &str, len: usize) -> bool {
    code.len() == len
        && code
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

/// 薬価基準 / YJ / 一般名 codes: 薬効分類 (4) + ingredient and route (3) digits, the 剤形
/// letter, then 規格, 銘柄 and check characters.
fn drug_code12(code: &str) -> bool {
    let b = code.as_bytes();
    alphanumeric(code, 12) && b[..7].iter().all(u8::is_ascii_digit) && b[7].is_ascii_uppercase()
}

/// Errors for every coding of a known system whose code does not have the system's form.
pub fn check(resource: &Value, root: &str) -> Vec<Issue> {
    let mut issues = Vec::new();
    walk(resource, root, &mut issues);
    issues
}

fn walk(v: &Value, at: &str, issues: &mut Vec<Issue>) {
    match v {
        Value::Object(o) => {
            if let (Some(Value::String(system)), Some(Value::String(code))) =
                (o.get("system"), o.get("code"))
                && let Some((valid, described)) = KnownSystem::from_uri(system).and_then(form)
                && !valid(code)
            {
                issues.push(Issue::error(
                    ErrorCode::CodeFormat,
                    child(at, "code"),
                    format!("a code of this system has {described}"),
                ));
            }
            for (name, value) in o {
                walk(value, &child(at, name), issues);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &index(at, i), issues);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn locations(v: &Value) -> Vec<String> {
        let mut found: Vec<String> = check(v, "MedicationRequest")
            .into_iter()
            .map(|i| {
                assert_eq!(i.code, ErrorCode::CodeFormat);
                i.location
            })
            .collect();
        found.sort();
        found
    }

    #[test]
    fn well_formed_codes_of_every_spelling_pass() {
        let mr = json!({"medicationCodeableConcept": {"coding": [
            {"system": "urn:oid:1.2.392.200119.4.403.1", "code": "103835401"},
            {"system": "http://medis.or.jp/CodeSystem/master-HOT9", "code": "103835401"},
            {"system": "urn:oid:1.2.392.200119.4.403.2", "code": "1038354"},
            {"system": "urn:oid:1.2.392.200119.4.402.1", "code": "1038354010101"},
            {"system": "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code", "code": "2171022F1020"},
            {"system": "urn:oid:1.2.392.100495.20.2.81", "code": "1124030F2ZZZ"},
            {"system": "urn:oid:1.2.392.100495.20.2.71", "code": "620098801"},
            {"system": "http://example.org/local", "code": "any thing"}]},
            "dosageInstruction": [{"timing": {"code": {"coding": [
                {"system": "urn:oid:1.2.392.200250.2.2.20", "code": "1013044400000000"}]}}}]});
        assert!(locations(&mr).is_empty());
    }

    #[test]
    fn codes_of_the_wrong_form_are_located() {
        let mr = json!({"medicationCodeableConcept": {"coding": [
            {"system": "urn:oid:1.2.392.200119.4.403.1", "code": "10383540"},
            {"system": "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code", "code": "217102F1020"},
            {"system": "urn:oid:1.2.392.100495.20.2.81", "code": "１１２４０３０F２ZZZ"},
            {"system": "urn:oid:1.2.392.100495.20.2.71", "code": "62009880A"}]},
            "contained": [{"resourceType": "Observation", "code": {"coding": [
                {"system": "urn:oid:1.2.392.200119.4.504", "code": "3D046000001906"}]}}]});
        assert_eq!(
            locations(&mr),
            [
                "MedicationRequest.contained[0].code.coding[0].code",
                "MedicationRequest.medicationCodeableConcept.coding[0].code",
                "MedicationRequest.medicationCodeableConcept.coding[1].code",
                "MedicationRequest.medicationCodeableConcept.coding[2].code",
                "MedicationRequest.medicationCodeableConcept.coding[3].code",
            ]
        );
    }
}
