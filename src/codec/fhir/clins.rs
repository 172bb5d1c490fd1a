//! Rules of the JP-CLINS (電子カルテ情報共有サービス) profiles, applied when a resource
//! claims one in `meta.profile` (with or without a `|version`). JP-CLINS narrows JP Core
//! for the national service; a sender that claims its profile promises these, and the
//! service refuses resources that break them, so kakari does too (`fhir.clins`):
//!
//! * JP_MedicationRequest_CLINS_eCS / JP_MedicationRequest_eCS: the drug is coded by a
//!   YJ code or a 一般名処方マスタ code (HOT, receipt and local codes may accompany it);
//! * JP_Observation_LabResult_CLINS_eCS / JP_Observation_LabResult_eCS: the test item
//!   carries the institution's own code (system `JP_CLINS_ObsLabResult_LocalCode_CS`),
//!   besides any JLAC10 code.
//!
//! Resources that do not claim these profiles are not held to them.

use serde_json::Value;

use super::ResourceType;
use super::path::child;
use super::value::{items, profiles, str_of};
use crate::domain::code_system::KnownSystem;
use crate::error::{ErrorCode, Issue};

const MEDICATION_PROFILES: &[&str] = &[
    "http://jpfhir.jp/fhir/clins/StructureDefinition/JP_MedicationRequest_CLINS_eCS",
    "http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_MedicationRequest_eCS",
];
const LAB_PROFILES: &[&str] = &[
    "http://jpfhir.jp/fhir/clins/StructureDefinition/JP_Observation_LabResult_CLINS_eCS",
    "http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_Observation_LabResult_eCS",
];
/// The code system of an institution's own lab item codes in JP-CLINS.
pub const LOCAL_LAB_CODE_SYSTEM: &str =
    "http://jpfhir.jp/fhir/clins/CodeSystem/JP_CLINS_ObsLabResult_LocalCode_CS";

/// Does the resource claim one of `profiles` (a `|version` suffix allowed)?
fn claims(resource: &Value, wanted: &[&str]) -> bool {
    profiles(resource).any(|p| wanted.contains(&p))
}

fn coded_in(concept: Option<&Value>, accept: impl Fn(&str) -> bool) -> bool {
    concept
        .map(|c| items(c, "coding"))
        .unwrap_or_default()
        .iter()
        .any(|c| str_of(c, "system").is_some_and(&accept) && str_of(c, "code").is_some())
}

/// The JP-CLINS errors of a resource that claims a JP-CLINS profile.
pub fn check(rtype: ResourceType, resource: &Value, root: &str) -> Vec<Issue> {
    let mut issues = Vec::new();
    match rtype {
        ResourceType::MedicationRequest if claims(resource, MEDICATION_PROFILES) => {
            let drug = resource.get("medicationCodeableConcept");
            let yj_or_generic = coded_in(drug, |s| {
                matches!(
                    KnownSystem::from_uri(s),
                    Some(KnownSystem::Yj | KnownSystem::GenericName)
                )
            });
            if drug.is_some() && !yj_or_generic {
                issues.push(Issue::error(
                    ErrorCode::ClinsViolation,
                    child(root, "medicationCodeableConcept.coding"),
                    "JP-CLINS: the drug must be coded by a YJ code or a 一般名処方マスタ code",
                ));
            }
        }
        ResourceType::Observation
            if claims(resource, LAB_PROFILES)
                && !coded_in(resource.get("code"), |s| s == LOCAL_LAB_CODE_SYSTEM) =>
        {
            issues.push(Issue::error(
                ErrorCode::ClinsViolation,
                child(root, "code.coding"),
                "JP-CLINS: the test item must carry the institution's own code (JP_CLINS_ObsLabResult_LocalCode_CS)",
            ));
        }
        _ => {}
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_clins_prescription_needs_a_yj_or_generic_name_code() {
        let mut mr = json!({"resourceType": "MedicationRequest",
            "meta": {"profile": ["http://jpfhir.jp/fhir/clins/StructureDefinition/JP_MedicationRequest_CLINS_eCS|1.11.0"]},
            "medicationCodeableConcept": {"coding": [
                {"system": "http://medis.or.jp/CodeSystem/master-HOT9", "code": "103835401"},
                {"system": "urn:oid:1.2.392.100495.20.3.1.1.99", "code": "I3198200"}]}});
        let issues = check(ResourceType::MedicationRequest, &mr, "MedicationRequest");
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].code, ErrorCode::ClinsViolation);
        mr["medicationCodeableConcept"]["coding"]
            .as_array_mut()
            .unwrap()
            .push(json!({"system": "urn:oid:1.2.392.100495.20.1.81", "code": "1124030F2ZZZ"}));
        assert!(check(ResourceType::MedicationRequest, &mr, "MedicationRequest").is_empty());
        // Without the profile claim, JP Core's coding rule is enough.
        mr["meta"] = json!({});
        mr["medicationCodeableConcept"]["coding"] =
            json!([{"system": "http://medis.or.jp/CodeSystem/master-HOT9", "code": "103835401"}]);
        assert!(check(ResourceType::MedicationRequest, &mr, "MedicationRequest").is_empty());
    }

    #[test]
    fn a_clins_lab_result_needs_the_local_code() {
        let mut o = json!({"resourceType": "Observation",
            "meta": {"profile": ["http://jpfhir.jp/fhir/clins/StructureDefinition/JP_Observation_LabResult_CLINS_eCS"]},
            "code": {"coding": [{"system": "http://medis.or.jp/CodeSystem/master-JLAC10-17digits", "code": "8A065000002391901"}]}});
        let issues = check(ResourceType::Observation, &o, "Observation");
        assert_eq!(issues[0].location, "Observation.code.coding");
        o["code"]["coding"]
            .as_array_mut()
            .unwrap()
            .push(json!({"system": LOCAL_LAB_CODE_SYSTEM, "code": "0000181910"}));
        assert!(check(ResourceType::Observation, &o, "Observation").is_empty());
    }
}
