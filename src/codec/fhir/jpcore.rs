//! The JP Core rules that matter for this product, beyond the R4 schema.
//!
//! JP Core 1.1 names identifier and code systems by OID and 1.2 by URL; every rule here
//! accepts both. Rules (from the JP Core profiles; see docs/fhir.md for sources):
//! * every clinical resource names its patient by a literal reference (kakari links records
//!   to people through it);
//! * JP_MedicationRequest: RP number and order-in-RP identifiers, `intent = order`,
//!   `authoredOn`, a coded medication; quantities and supply duration complete;
//! * JP_MedicationDispense: RP number and order-in-RP identifiers, `quantity`,
//!   `whenHandedOver`;
//! * JP_Observation_LabResult (when claimed): laboratory category, coded item with text,
//!   `effective[x]`, `specimen`;
//! * JP_Patient: at least one identifier with a value; facility-local patient id systems
//!   are `urn:oid:1.2.392.100495.20.3.51.` + `1` + a valid 10-digit institution code;
//! * member ids (`保険者番号:記号:番号:枝番`), institution codes (10 digits) and insurer
//!   numbers (up to 8 digits) are well-formed wherever their systems appear.
//!
//! Injection orders (JP_*_Injection profiles or `medicationReference`) have no order-in-RP.

use serde_json::Value;

use super::ResourceType;
use super::path::{child, index};
use super::value::{items, profiles, str_of};
use crate::domain::code_system::id_system;
use crate::domain::{InstitutionCode, InsurerNumber, MemberId};
use crate::error::{ErrorCode, Issue};

/// RP (剤グループ) number identifier systems (1.1 OID, 1.2 URL).
pub const RP_NUMBER_SYSTEMS: &[&str] = &[
    "urn:oid:1.2.392.100495.20.3.81",
    "http://jpfhir.jp/fhir/core/mhlw/IdSystem/Medication-RPGroupNumber",
];
/// Order-in-RP identifier systems.
pub const ORDER_IN_RP_SYSTEMS: &[&str] = &[
    "urn:oid:1.2.392.100495.20.3.82",
    "http://jpfhir.jp/fhir/core/mhlw/IdSystem/MedicationAdministrationIndex",
];
/// Order (request instance) identifier systems.
pub const REQUEST_ID_SYSTEMS: &[&str] = &[
    "http://jpfhir.jp/fhir/core/IdSystem/resourceInstance-identifier",
    "http://jpfhir.jp/fhir/Common/IdSystem/resourceInstance-identifier",
];
const LAB_CATEGORY_SYSTEMS: &[&str] = &[
    "http://jpfhir.jp/fhir/core/CodeSystem/JP_SimpleObservationCategory_CS",
    "http://terminology.hl7.org/CodeSystem/observation-category",
];
const LOCAL_PATIENT_ROOT: &str = "urn:oid:1.2.392.100495.20.3.51.";

struct Rules<'a> {
    root: &'a str,
    issues: Vec<Issue>,
}

impl Rules<'_> {
    fn error(&mut self, code: ErrorCode, location: String, message: &str) {
        self.issues.push(Issue::error(code, location, message));
    }

    fn warn(&mut self, location: String, message: &str) {
        self.issues.push(Issue::warning(
            ErrorCode::JpCoreViolation,
            location,
            message,
        ));
    }

    fn at(&self, element: &str) -> String {
        child(self.root, element)
    }
}

fn claims_profile(resource: &Value, suffix: &str) -> bool {
    profiles(resource).any(|p| p.ends_with(suffix))
}

fn is_injection(resource: &Value) -> bool {
    resource.get("medicationReference").is_some() || claims_profile(resource, "_Injection")
}

fn has_identifier(resource: &Value, systems: &[&str]) -> bool {
    items(resource, "identifier").iter().any(|i| {
        str_of(i, "system").is_some_and(|s| systems.contains(&s))
            && str_of(i, "value").is_some_and(|v| !v.is_empty())
    })
}

fn has_coding(concept: Option<&Value>) -> bool {
    concept.is_some_and(|c| {
        items(c, "coding")
            .iter()
            .any(|coding| str_of(coding, "code").is_some())
    })
}

/// Checks a resource; returns errors and warnings located under `root`.
pub fn check(rtype: ResourceType, resource: &Value, root: &str) -> Vec<Issue> {
    let mut r = Rules {
        root,
        issues: Vec::new(),
    };
    if let Some(subject) = rtype.subject_element() {
        subject_reference(&mut r, resource, subject, rtype == ResourceType::Coverage);
    }
    match rtype {
        ResourceType::MedicationRequest => medication_request(&mut r, resource),
        ResourceType::MedicationDispense => medication_dispense(&mut r, resource),
        ResourceType::Observation => observation(&mut r, resource),
        ResourceType::Patient => patient(&mut r, resource),
        ResourceType::Coverage => coverage(&mut r, resource),
        ResourceType::Organization => organization(&mut r, resource),
        _ => {}
    }
    identifiers(&mut r, resource);
    r.issues
}

/// The patient is named by a literal reference (`Patient/{id}`), or logically by the
/// insurance member id (as JP-CLINS resources do) or a facility-local patient id. A
/// malformed member id is located at its value.
fn subject_reference(r: &mut Rules<'_>, resource: &Value, element: &str, optional: bool) {
    let at = r.at(element);
    let Some(subject) = resource.get(element) else {
        if !optional {
            r.error(
                ErrorCode::JpCoreViolation,
                at,
                "the patient must be given: a literal reference (Patient/{id}) or the member id (identifier)",
            );
        }
        return;
    };
    if str_of(subject, "reference").is_some_and(|s| !s.is_empty()) {
        return;
    }
    let ident = subject.get("identifier");
    let system = ident.and_then(|i| str_of(i, "system")).unwrap_or("");
    let value = ident.and_then(|i| str_of(i, "value"));
    let at_ident = child(&at, "identifier");
    if id_system::is_member_id(system) {
        match value.map(MemberId::parse) {
            Some(Ok(_)) => {}
            Some(Err(e)) => r.error(
                ErrorCode::InvalidMemberId,
                child(&at_ident, "value"),
                &format!("a member id is 保険者番号:記号:番号[:枝番] ({e})"),
            ),
            None => r.error(
                ErrorCode::InvalidMemberId,
                child(&at_ident, "value"),
                "the member id has no value",
            ),
        }
    } else if id_system::local_patient_facility(system).is_some() {
        if value.is_none_or(str::is_empty) {
            r.error(
                ErrorCode::JpCoreViolation,
                child(&at_ident, "value"),
                "the facility-local patient id has no value",
            );
        }
    } else if !optional {
        r.error(
            ErrorCode::JpCoreViolation,
            at,
            "the patient must be given as a literal reference (Patient/{id}) or logically by the member id (identifier.system JP_Insurance_memberID) or a facility-local patient id",
        );
    }
}

fn rp_identifiers(r: &mut Rules<'_>, resource: &Value, injection: bool) {
    if !has_identifier(resource, RP_NUMBER_SYSTEMS) {
        r.error(
            ErrorCode::JpCoreViolation,
            r.at("identifier"),
            "an RP number identifier (urn:oid:1.2.392.100495.20.3.81) is required",
        );
    }
    if !injection && !has_identifier(resource, ORDER_IN_RP_SYSTEMS) {
        r.error(
            ErrorCode::JpCoreViolation,
            r.at("identifier"),
            "an order-in-RP identifier (urn:oid:1.2.392.100495.20.3.82) is required",
        );
    }
}

fn medication_request(r: &mut Rules<'_>, mr: &Value) {
    let injection = is_injection(mr);
    rp_identifiers(r, mr, injection);
    if str_of(mr, "intent").is_some_and(|i| i != "order") {
        r.error(
            ErrorCode::JpCoreViolation,
            r.at("intent"),
            "intent must be 'order'",
        );
    }
    if mr.get("authoredOn").is_none() {
        r.error(
            ErrorCode::JpCoreViolation,
            r.at("authoredOn"),
            "authoredOn is required",
        );
    }
    if !injection && !has_coding(mr.get("medicationCodeableConcept")) {
        r.error(
            ErrorCode::JpCoreViolation,
            r.at("medicationCodeableConcept.coding"),
            "the medication must be coded (HOT, YJ, receipt or 一般名 code)",
        );
    }
    if let Some(dispense) = mr.get("dispenseRequest") {
        let at = r.at("dispenseRequest");
        if let Some(q) = dispense.get("quantity")
            && (q.get("value").is_none() || str_of(q, "code").is_none())
        {
            r.error(
                ErrorCode::JpCoreViolation,
                child(&at, "quantity"),
                "a dispensed quantity needs value and unit code",
            );
        }
        if let Some(d) = dispense.get("expectedSupplyDuration") {
            if d.get("value").is_none() {
                r.error(
                    ErrorCode::JpCoreViolation,
                    child(&at, "expectedSupplyDuration.value"),
                    "the supply duration needs a value",
                );
            }
            if str_of(d, "code").is_some_and(|c| c != "d") {
                r.error(
                    ErrorCode::JpCoreViolation,
                    child(&at, "expectedSupplyDuration.code"),
                    "the supply duration is counted in days (UCUM 'd')",
                );
            }
        }
    }
}

fn medication_dispense(r: &mut Rules<'_>, md: &Value) {
    let injection = is_injection(md);
    rp_identifiers(r, md, injection);
    match md.get("quantity") {
        Some(q) if q.get("value").is_some() && str_of(q, "code").is_some() => {}
        _ => r.error(
            ErrorCode::JpCoreViolation,
            r.at("quantity"),
            "the dispensed quantity with value and unit code is required",
        ),
    }
    if md.get("whenHandedOver").is_none() {
        r.error(
            ErrorCode::JpCoreViolation,
            r.at("whenHandedOver"),
            "whenHandedOver is required",
        );
    }
    if !injection && !has_coding(md.get("medicationCodeableConcept")) {
        r.error(
            ErrorCode::JpCoreViolation,
            r.at("medicationCodeableConcept.coding"),
            "the medication must be coded",
        );
    }
}

fn observation(r: &mut Rules<'_>, obs: &Value) {
    if !claims_profile(obs, "/JP_Observation_LabResult") {
        return;
    }
    let categories: Vec<(Option<&str>, Option<&str>)> = items(obs, "category")
        .iter()
        .flat_map(|c| items(c, "coding"))
        .map(|c| (str_of(c, "system"), str_of(c, "code")))
        .collect();
    let jp = categories
        .iter()
        .any(|(s, c)| *s == Some(LAB_CATEGORY_SYSTEMS[0]) && *c == Some("laboratory"));
    let hl7 = categories
        .iter()
        .any(|(s, c)| *s == Some(LAB_CATEGORY_SYSTEMS[1]) && *c == Some("laboratory"));
    if !jp && !hl7 {
        r.error(
            ErrorCode::JpCoreViolation,
            r.at("category"),
            "a lab result needs the 'laboratory' category",
        );
    } else if !jp {
        r.warn(
            r.at("category"),
            "the 'laboratory' category should use JP_SimpleObservationCategory_CS (accepted from HL7 observation-category)",
        );
    }
    let code = obs.get("code");
    if !has_coding(code) {
        r.error(
            ErrorCode::JpCoreViolation,
            r.at("code.coding"),
            "the test item must be coded",
        );
    }
    if code.and_then(|c| str_of(c, "text")).is_none() {
        r.error(
            ErrorCode::JpCoreViolation,
            r.at("code.text"),
            "code.text is required",
        );
    }
    let effective = [
        "effectiveDateTime",
        "effectivePeriod",
        "effectiveTiming",
        "effectiveInstant",
    ];
    if !effective.iter().any(|e| obs.get(*e).is_some()) {
        r.error(
            ErrorCode::JpCoreViolation,
            r.at("effective[x]"),
            "effective[x] is required",
        );
    }
    if obs.get("specimen").is_none() {
        r.error(
            ErrorCode::JpCoreViolation,
            r.at("specimen"),
            "specimen is required",
        );
    }
}

fn patient(r: &mut Rules<'_>, p: &Value) {
    let with_value = items(p, "identifier")
        .iter()
        .any(|i| str_of(i, "value").is_some_and(|v| !v.is_empty()));
    if !with_value {
        r.error(
            ErrorCode::JpCoreViolation,
            r.at("identifier"),
            "a patient needs at least one identifier with a value",
        );
    }
}

fn coverage(r: &mut Rules<'_>, c: &Value) {
    const SUB_NUMBER: &str = "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_Coverage_InsuredPersonSubNumber";
    for (i, ext) in items(c, "extension").iter().enumerate() {
        if str_of(ext, "url") == Some(SUB_NUMBER)
            && let Some(v) = str_of(ext, "valueString")
            && MemberId::from_parts("00000000", "0", "0", Some(v)).is_err()
        {
            r.error(
                ErrorCode::InvalidMemberId,
                index(&r.at("extension"), i),
                "枝番 (InsuredPersonSubNumber) must be 1 or 2 digits",
            );
        }
    }
}

fn organization(r: &mut Rules<'_>, o: &Value) {
    for (i, ident) in items(o, "identifier").iter().enumerate() {
        let system = str_of(ident, "system").unwrap_or("");
        let value = str_of(ident, "value").unwrap_or("");
        let at = child(&index(&r.at("identifier"), i), "value");
        if id_system::is_institution(system) {
            if InstitutionCode::parse(value).is_err() {
                r.error(
                    ErrorCode::JpCoreViolation,
                    at,
                    "a medical institution code has 10 digits",
                );
            }
        } else if id_system::is_insurer(system) && InsurerNumber::parse(value).is_err() {
            r.error(
                ErrorCode::JpCoreViolation,
                at,
                "an insurer number has up to 8 digits",
            );
        }
    }
}

/// Identifier systems whose values have a known form, on every resource type.
fn identifiers(r: &mut Rules<'_>, resource: &Value) {
    for (i, ident) in items(resource, "identifier").iter().enumerate() {
        let system = str_of(ident, "system").unwrap_or("");
        let value = str_of(ident, "value").unwrap_or("");
        let base = index(&r.at("identifier"), i);
        if id_system::is_member_id(system) && MemberId::parse(value).is_err() {
            r.error(
                ErrorCode::InvalidMemberId,
                child(&base, "value"),
                "a member id is 保険者番号:記号:番号:枝番",
            );
        }
        if let Some(suffix) = system.strip_prefix(LOCAL_PATIENT_ROOT) {
            let valid = suffix
                .strip_prefix('1')
                .and_then(|code| InstitutionCode::parse(code).ok())
                .is_some_and(|code| {
                    code.as_str().len() == suffix.len() - 1
                        && matches!(code.prefecture().parse::<u8>(), Ok(1..=47))
                });
            if !valid {
                r.error(
                    ErrorCode::JpCoreViolation,
                    child(&base, "system"),
                    "a facility-local patient id system is urn:oid:1.2.392.100495.20.3.51.1 followed by the 10-digit institution code",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(rtype: ResourceType, v: &Value) -> Vec<String> {
        check(rtype, v, rtype.as_str())
            .into_iter()
            .filter(Issue::is_error)
            .map(|i| i.location)
            .collect()
    }

    fn request() -> Value {
        json!({
            "resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "identifier": [
                {"system": "urn:oid:1.2.392.100495.20.3.81", "value": "1"},
                {"system": "http://jpfhir.jp/fhir/core/mhlw/IdSystem/MedicationAdministrationIndex", "value": "1"}
            ],
            "medicationCodeableConcept": {"coding": [{"system": "urn:oid:1.2.392.200119.4.403.1", "code": "103835401"}]},
            "subject": {"reference": "Patient/p1"},
            "authoredOn": "2020-04-01"
        })
    }

    #[test]
    fn a_complete_request_passes_with_oid_or_url_systems() {
        assert!(errors(ResourceType::MedicationRequest, &request()).is_empty());
    }

    #[test]
    fn missing_jp_core_elements_are_named() {
        let mut mr = request();
        mr["identifier"] = json!([]);
        mr.as_object_mut().unwrap().remove("authoredOn");
        mr["intent"] = json!("plan");
        mr["subject"] = json!({"display": "x"});
        let errs = errors(ResourceType::MedicationRequest, &mr);
        assert!(errs.contains(&"MedicationRequest.identifier".to_owned()));
        assert!(errs.contains(&"MedicationRequest.authoredOn".to_owned()));
        assert!(errs.contains(&"MedicationRequest.intent".to_owned()));
        assert!(errs.contains(&"MedicationRequest.subject".to_owned()));
    }

    #[test]
    fn injection_orders_need_no_order_in_rp() {
        let mut mr = request();
        mr["identifier"] = json!([{"system": "urn:oid:1.2.392.100495.20.3.81", "value": "1"}]);
        mr["meta"] = json!({"profile": ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_MedicationRequest_Injection"]});
        assert!(errors(ResourceType::MedicationRequest, &mr).is_empty());
    }

    #[test]
    fn member_ids_and_local_patient_systems_are_checked() {
        let p = json!({"resourceType": "Patient", "identifier": [
            {"system": "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID", "value": "123"},
            {"system": "urn:oid:1.2.392.100495.20.3.51.19912345678", "value": "1"}
        ]});
        let issues = check(ResourceType::Patient, &p, "Patient");
        assert!(
            issues.iter().any(|i| i.code == ErrorCode::InvalidMemberId
                && i.location == "Patient.identifier[0].value")
        );
        assert!(
            issues
                .iter()
                .any(|i| i.location == "Patient.identifier[1].system")
        );
        let ok = json!({"resourceType": "Patient", "identifier": [
            {"system": "urn:oid:1.2.392.100495.20.3.51.11311234567", "value": "00000010"}]});
        assert!(errors(ResourceType::Patient, &ok).is_empty());
    }

    #[test]
    fn lab_results_accept_the_hl7_category_with_a_warning() {
        let o = json!({"resourceType": "Observation",
            "meta": {"profile": ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_LabResult"]},
            "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
            "code": {"coding": [{"system": "urn:oid:1.2.392.200119.4.504", "code": "3C020000002327101"}], "text": "尿酸"},
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2021-10-19T17:39:00+09:00",
            "specimen": {"reference": "Specimen/s1"}});
        let issues = check(ResourceType::Observation, &o, "Observation");
        assert!(issues.iter().all(|i| !i.is_error()), "{issues:?}");
        assert_eq!(issues.len(), 1);
    }

    #[test]
    fn the_patient_may_be_named_by_member_id_and_a_malformed_one_is_located() {
        let mut mr = request();
        for system in [
            "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID",
            "http://jpfhir.jp/fhir/core/IdSystem/JP_Insurance_memberID",
        ] {
            // Full-width digits and a missing 記号 and 枝番 are the card as written.
            for value in [
                "00012345:あいう:１８７:05",
                "00012345::１８７:",
                "０６１３９４６３:12:345",
            ] {
                mr["subject"] = json!({"identifier": {"system": system, "value": value}});
                assert!(
                    errors(ResourceType::MedicationRequest, &mr).is_empty(),
                    "{system} {value}"
                );
            }
        }
        mr["subject"] = json!({"identifier": {"system": "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID", "value": "123:あいう"}});
        let issues = check(ResourceType::MedicationRequest, &mr, "MedicationRequest");
        assert!(issues.iter().any(|i| i.code == ErrorCode::InvalidMemberId
            && i.location == "MedicationRequest.subject.identifier.value"));
        // Another logical identifier does not name a patient kakari can link.
        mr["subject"] = json!({"identifier": {"system": "http://example.org/ids", "value": "1"}});
        assert_eq!(
            errors(ResourceType::MedicationRequest, &mr),
            ["MedicationRequest.subject"]
        );
        // Encounter and Specimen need their patient like every clinical type.
        let enc =
            json!({"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}});
        assert_eq!(errors(ResourceType::Encounter, &enc), ["Encounter.subject"]);
    }
}
