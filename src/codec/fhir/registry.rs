//! kakari's own registry rendered as FHIR R4: a registration as an `EpisodeOfCare`, the
//! insurer-programs consent as a `Consent`, a certified institution as a
//! `HealthcareService`, and the registered doctor as `Patient.generalPractitioner`.
//!
//! These resources are derived (read-only): they are built from the registration,
//! consent and directory tables on every read, never stored as FHIR.
//!
//! Why `EpisodeOfCare` and not `CareTeam` for a registration: a registration is one
//! institution taking on one responsibility for one person over a period, with one
//! responsible doctor, which is what `EpisodeOfCare` models (`managingOrganization`,
//! `careManager`, `period`, `status` active → finished). `CareTeam` models several
//! participants collaborating on care and has no single responsible institution.
//!
//! People are referred to by their insurance member id (a logical reference): the person
//! may have several facility-local `Patient` resources, and these resources are visible to
//! parties (insurers, other providers) who may read none of them.

use serde_json::{Value, json};

use crate::domain::code_system::id_system;
use crate::domain::datetime::format_instant_millis;
use crate::domain::registration::RegistrationStatus;

/// `EpisodeOfCare.type` of a registration.
pub const REGISTRATION_TYPE: &str = "urn:kakari:episode-type";
/// `HealthcareService.characteristic` system: the かかりつけ医 function vocabulary.
pub const FUNCTION_SYSTEM: &str = "urn:kakari:kakaritsuke-function";
/// Extension on `HealthcareService`: persons registered now (`<10` below ten).
pub const REGISTERED_PERSONS_EXTENSION: &str = "urn:kakari:extension:registered-persons";
/// Identifier system of registrations.
pub const REGISTRATION_ID_SYSTEM: &str = "urn:kakari:registration";
/// Identifier system of directory practitioner ids that are not 医籍登録番号.
pub const PRACTITIONER_ID_SYSTEM: &str = "urn:kakari:practitioner";

/// The registry's derived resource types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryType {
    EpisodeOfCare,
    Consent,
    HealthcareService,
}

impl RegistryType {
    pub const ALL: &'static [RegistryType] = &[
        RegistryType::EpisodeOfCare,
        RegistryType::Consent,
        RegistryType::HealthcareService,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EpisodeOfCare => "EpisodeOfCare",
            Self::Consent => "Consent",
            Self::HealthcareService => "HealthcareService",
        }
    }

    /// The search parameters of each type (name, documentation), besides `_count` and
    /// `_cursor`.
    pub fn search_params(self) -> &'static [(&'static str, &'static str)] {
        const PERSON: [(&str, &str); 2] = [
            (
                "patient",
                "a Patient the caller may read (Patient/<id> or <id>)",
            ),
            (
                "member",
                "the person's insurance member id 保険者番号:記号:番号:枝番",
            ),
        ];
        match self {
            Self::EpisodeOfCare => &[PERSON[0], PERSON[1], ("status", "active | finished")],
            Self::Consent => &[
                PERSON[0],
                PERSON[1],
                (
                    "status",
                    "active (the decision in force) | inactive (earlier ones)",
                ),
            ],
            Self::HealthcareService => &[
                (
                    "characteristic",
                    "a かかりつけ医 function code (GET /directory/functions)",
                ),
                ("prefecture", "prefecture code 01-47 or name"),
                ("city", "city name"),
                ("name", "words in the name or address"),
            ],
        }
    }
}

/// A registration as the registry holds it.
#[derive(Debug, Clone)]
pub struct RegistrationFacts<'a> {
    pub id: i64,
    pub member_key: &'a str,
    pub practitioner: &'a str,
    pub practitioner_name: Option<&'a str>,
    pub organization: &'a str,
    pub organization_name: Option<&'a str>,
    pub start_date: &'a str,
    pub created_at: i64,
    pub ended_at: Option<i64>,
    pub status: RegistrationStatus,
}

/// A consent decision as the registry holds it.
#[derive(Debug, Clone)]
pub struct ConsentFacts<'a> {
    pub id: i64,
    pub member_key: &'a str,
    pub insurer: &'a str,
    pub insurer_programs: bool,
    pub recorded_at: i64,
    /// The newest decision of the person (the one in force).
    pub current: bool,
}

/// A certified institution as the directory shows it.
#[derive(Debug, Clone)]
pub struct ServiceFacts<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub prefecture_name: &'a str,
    pub city: Option<&'a str>,
    pub address: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub url: Option<&'a str>,
    pub certified: bool,
    /// (code, Japanese label) of each function offered.
    pub functions: Vec<(&'a str, &'a str)>,
    pub registered_persons: &'a str,
    pub updated_at: i64,
}

fn member_reference(member_key: &str) -> Value {
    json!({"type": "Patient", "identifier": {"system": id_system::MEMBER_ID, "value": member_key}})
}

/// A logical reference to an institution of the directory.
pub fn organization_reference(code: &str, name: Option<&str>) -> Value {
    let mut r = json!({"type": "Organization", "identifier": {"system": id_system::INSTITUTION, "value": code}});
    if let Some(n) = name {
        r["display"] = json!(n);
    }
    r
}

/// A logical reference to a practitioner of the directory: 医籍登録番号 when the id is
/// one (digits), else kakari's own practitioner id.
pub fn practitioner_reference(id: &str, name: Option<&str>) -> Value {
    let system = if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        id_system::MEDICAL_REGISTRATION
    } else {
        PRACTITIONER_ID_SYSTEM
    };
    let mut r = json!({"type": "Practitioner", "identifier": {"system": system, "value": id}});
    if let Some(n) = name {
        r["display"] = json!(n);
    }
    r
}

/// `EpisodeOfCare.status` of a registration: a pending one is `planned`, one that never
/// took effect (refused, withdrawn, superseded) `cancelled`.
pub fn episode_status(status: RegistrationStatus) -> &'static str {
    match status {
        RegistrationStatus::Pending => "planned",
        RegistrationStatus::Active => "active",
        RegistrationStatus::Ended => "finished",
        RegistrationStatus::Refused
        | RegistrationStatus::Withdrawn
        | RegistrationStatus::Superseded => "cancelled",
    }
}

/// A registration as an `EpisodeOfCare`.
pub fn episode_of_care(r: &RegistrationFacts<'_>) -> Value {
    let mut period = json!({"start": r.start_date});
    if let Some(end) = r.ended_at {
        period["end"] = json!(format_instant_millis(end));
    }
    json!({
        "resourceType": "EpisodeOfCare",
        "id": r.id.to_string(),
        "meta": {"lastUpdated": format_instant_millis(r.ended_at.unwrap_or(r.created_at))},
        "identifier": [{"system": REGISTRATION_ID_SYSTEM, "value": r.id.to_string()}],
        "status": episode_status(r.status),
        "type": [{"coding": [{"system": REGISTRATION_TYPE, "code": "kakaritsuke-registration",
                               "display": "かかりつけ医登録"}]}],
        "patient": member_reference(r.member_key),
        "managingOrganization": organization_reference(r.organization, r.organization_name),
        "period": period,
        "careManager": practitioner_reference(r.practitioner, r.practitioner_name),
    })
}

/// A decision on sharing lab values with the insurer for its health programs, as a
/// `Consent` (permit or deny; the newest decision is `active`, earlier ones `inactive`).
pub fn consent(c: &ConsentFacts<'_>) -> Value {
    json!({
        "resourceType": "Consent",
        "id": c.id.to_string(),
        "meta": {"lastUpdated": format_instant_millis(c.recorded_at)},
        "status": if c.current { "active" } else { "inactive" },
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                               "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0",
                                   "display": "Patient Consent"}]}],
        "patient": member_reference(c.member_key),
        "dateTime": format_instant_millis(c.recorded_at),
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                    "code": if c.insurer_programs { "OPTIN" } else { "OPTOUT" }}],
                       "text": "保険者の保健事業への検査値の提供"},
        "provision": {
            "type": if c.insurer_programs { "permit" } else { "deny" },
            "actor": [{
                "role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                      "code": "IRCP"}]},
                "reference": {"type": "Organization",
                              "identifier": {"system": id_system::INSURER, "value": c.insurer}}
            }],
            "action": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction",
                                     "code": "disclose"}]}],
            "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "POPHLTH"}],
            "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "Observation"}]
        }
    })
}

/// A certified institution as a `HealthcareService` (its address in a contained
/// `Location`; the registered-persons indicator as an extension).
pub fn healthcare_service(s: &ServiceFacts<'_>) -> Value {
    let mut address = json!({"country": "JP", "state": s.prefecture_name});
    if let Some(city) = s.city {
        address["city"] = json!(city);
    }
    if let Some(line) = s.address {
        address["line"] = json!([line]);
    }
    let mut telecom = Vec::new();
    if let Some(phone) = s.phone {
        telecom.push(json!({"system": "phone", "value": phone}));
    }
    if let Some(url) = s.url {
        telecom.push(json!({"system": "url", "value": url}));
    }
    let characteristic: Vec<Value> = s
        .functions
        .iter()
        .map(|(code, label)| json!({"coding": [{"system": FUNCTION_SYSTEM, "code": code, "display": label}]}))
        .collect();
    let mut service = json!({
        "resourceType": "HealthcareService",
        "id": s.code,
        "meta": {"lastUpdated": format_instant_millis(s.updated_at)},
        "extension": [{"url": REGISTERED_PERSONS_EXTENSION, "valueString": s.registered_persons}],
        "contained": [{"resourceType": "Location", "id": "address", "name": s.name, "address": address}],
        "identifier": [{"system": id_system::INSTITUTION, "value": s.code}],
        "active": s.certified,
        "providedBy": organization_reference(s.code, Some(s.name)),
        "category": [{"coding": [{"system": FUNCTION_SYSTEM, "code": "kakaritsuke",
                                   "display": "かかりつけ医機能"}]}],
        "location": [{"reference": "#address"}],
        "name": s.name,
    });
    if !characteristic.is_empty() {
        service["characteristic"] = json!(characteristic);
    }
    if !telecom.is_empty() {
        service["telecom"] = json!(telecom);
    }
    service
}

/// Adds the registered doctor and institution to a Patient as `generalPractitioner`,
/// unless the sender already gave one.
pub fn add_general_practitioner(patient: &mut Value, r: &RegistrationFacts<'_>) {
    if patient.get("generalPractitioner").is_some() {
        return;
    }
    if let Some(obj) = patient.as_object_mut() {
        obj.insert(
            "generalPractitioner".into(),
            json!([
                practitioner_reference(r.practitioner, r.practitioner_name),
                organization_reference(r.organization, r.organization_name)
            ]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(ended: Option<i64>) -> RegistrationFacts<'static> {
        RegistrationFacts {
            id: 7,
            member_key: "06139463:1:1001:01",
            practitioner: "123456",
            practitioner_name: Some("桜井 直子"),
            organization: "1311234567",
            organization_name: Some("さくら内科"),
            start_date: "2026-04-01",
            created_at: 1_790_000_000_000,
            ended_at: ended,
            status: if ended.is_some() {
                RegistrationStatus::Ended
            } else {
                RegistrationStatus::Active
            },
        }
    }

    #[test]
    fn a_registration_is_an_episode_of_care_with_its_doctor() {
        let active = episode_of_care(&registration(None));
        assert_eq!(active["status"], "active");
        assert_eq!(
            active["careManager"]["identifier"]["system"],
            id_system::MEDICAL_REGISTRATION
        );
        assert_eq!(
            active["patient"]["identifier"]["value"],
            "06139463:1:1001:01"
        );
        assert!(active["period"].get("end").is_none());
        let ended = episode_of_care(&registration(Some(1_795_000_000_000)));
        assert_eq!(ended["status"], "finished");
        assert!(ended["period"]["end"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn consent_permits_or_denies_the_insurer() {
        let facts = ConsentFacts {
            id: 3,
            member_key: "06139463:1:1001:01",
            insurer: "06139463",
            insurer_programs: false,
            recorded_at: 1_790_000_000_000,
            current: true,
        };
        let c = consent(&facts);
        assert_eq!(c["provision"]["type"], "deny");
        assert_eq!(c["policyRule"]["coding"][0]["code"], "OPTOUT");
        assert_eq!(
            c["provision"]["actor"][0]["reference"]["identifier"]["value"],
            "06139463"
        );
    }

    #[test]
    fn general_practitioner_is_added_only_when_absent() {
        let mut p = json!({"resourceType": "Patient", "id": "p1"});
        add_general_practitioner(&mut p, &registration(None));
        assert_eq!(p["generalPractitioner"][0]["display"], "桜井 直子");
        let mut given =
            json!({"resourceType": "Patient", "generalPractitioner": [{"display": "x"}]});
        add_general_practitioner(&mut given, &registration(None));
        assert_eq!(given["generalPractitioner"].as_array().unwrap().len(), 1);
    }
}
