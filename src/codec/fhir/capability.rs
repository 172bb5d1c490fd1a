//! The CapabilityStatement: exactly what this server supports, generated from the same
//! tables the server runs on (types, search parameters, interactions).

use serde_json::{Value, json};

use super::ResourceType;
use super::registry::RegistryType;
use super::search_params::{COMMON_PARAMS, params_of};

/// The canonical URL of the `$medication-list` OperationDefinition.
pub const MEDICATION_LIST_OPERATION: &str =
    "urn:kakari:OperationDefinition:Patient-medication-list";

/// `$medication-list` as an OperationDefinition (contained in the CapabilityStatement).
pub fn medication_list_operation() -> Value {
    json!({
        "resourceType": "OperationDefinition",
        "id": "medication-list",
        "url": MEDICATION_LIST_OPERATION,
        "name": "MedicationList",
        "status": "active",
        "kind": "operation",
        "code": "medication-list",
        "resource": ["Patient"],
        "system": false,
        "type": true,
        "instance": true,
        "affectsState": false,
        "description": "The person's consolidated medication list as of a day: one MedicationStatement per drug course (derivedFrom its MedicationRequest, MedicationDispense and claim sources), DetectedIssue for duplicate therapy (DUPTHPY), same-class duplicates (DUPTHPCLS) and polypharmacy, and a Provenance. Only the person's registered doctor and institution may call it; every call is audited.",
        "parameter": [
            {"name": "member", "use": "in", "min": 0, "max": "1", "type": "string",
             "documentation": "insurance member id (保険者番号:記号:番号:枝番), for the type-level call"},
            {"name": "asOf", "use": "in", "min": 0, "max": "1", "type": "date",
             "documentation": "the day the list is for (default: today in Japan)"},
            {"name": "return", "use": "out", "min": 1, "max": "1", "type": "Bundle",
             "documentation": "a collection Bundle"}
        ]
    })
}

/// The CapabilityStatement served at `GET /fhir/metadata`.
pub fn statement(base: &str, software_version: &str) -> Value {
    let resources: Vec<Value> = ResourceType::ALL
        .iter()
        .map(|t| {
            let mut params: Vec<Value> = params_of(*t)
                .iter()
                .map(|p| json!({"name": p.name, "type": p.kind.as_fhir(), "documentation": p.doc}))
                .collect();
            params.extend(
                COMMON_PARAMS
                    .iter()
                    .map(|(name, kind)| json!({"name": name, "type": kind})),
            );
            let interactions = if *t == ResourceType::Bundle {
                // Documents and collections are stored as received, never updated.
                json!([{"code": "read"}, {"code": "create"}, {"code": "search-type"}])
            } else {
                json!([{"code": "read"}, {"code": "create"}, {"code": "update"}, {"code": "search-type"}])
            };
            let mut resource = json!({
                "type": t.as_str(),
                "interaction": interactions,
                "versioning": "versioned-update",
                "readHistory": false,
                "updateCreate": true,
                "conditionalCreate": true,
                "conditionalUpdate": false,
                "conditionalDelete": "not-supported",
                "searchParam": params
            });
            if let Some(profile) = t.jp_core_profile() {
                resource["profile"] = json!(profile);
            }
            if *t == ResourceType::Patient {
                resource["operation"] = json!([{
                    "name": "medication-list",
                    "definition": MEDICATION_LIST_OPERATION,
                    "documentation": "the person's consolidated medication list (clinic prescriptions, pharmacy dispensing, insurer claims) with duplicate-therapy and polypharmacy findings; for the registered doctor and institution"
                }]);
            }
            if *t == ResourceType::Bundle {
                resource["updateCreate"] = json!(false);
                resource["conditionalCreate"] = json!(false);
                resource["documentation"] = json!(
                    "document and collection Bundles (POST /fhir/Bundle or POST /fhir): kept as received; entries of served types are also stored as their own resources"
                );
            }
            resource
        })
        .collect();
    let derived = RegistryType::ALL.iter().map(|t| {
        let params: Vec<Value> = t
            .search_params()
            .iter()
            .map(|(name, doc)| {
                let kind = if *name == "patient" { "reference" } else { "token" };
                json!({"name": name, "type": kind, "documentation": doc})
            })
            .collect();
        json!({
            "type": t.as_str(),
            "documentation": "derived from kakari's registrations, consents and directory; read-only",
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": params
        })
    });
    let resources: Vec<Value> = resources
        .into_iter()
        .chain(derived)
        .chain(collaboration())
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "contained": [medication_list_operation()],
        "status": "active",
        "date": "2026-11-26",
        "kind": "instance",
        "software": {"name": "kakari", "version": software_version},
        "implementation": {"description": "kakari registered family doctor gateway", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "implementationGuide": ["http://jpfhir.jp/fhir/core/ImplementationGuide/jpfhir.jp.core"],
        "rest": [{
            "mode": "server",
            "security": {
                "description": "Authorization: Bearer <token> issued per client (kakari client add / POST /admin/clients)"
            },
            "resource": resources,
            "interaction": [{"code": "batch"}, {"code": "transaction"}],
            "searchParam": [
                {"name": "_count", "type": "number", "documentation": "page size, 1 to 1000 (default 20)"},
                {"name": "_cursor", "type": "string", "documentation": "opaque paging cursor from a next link"}
            ]
        }]
    })
}

/// Inquiries (`Task`) and subscriptions (`Subscription`, with the topics offered as the
/// backport IG's CapabilityStatement extension).
fn collaboration() -> Vec<Value> {
    use crate::domain::subscription::Topic;
    let topics: Vec<Value> = Topic::ALL
        .iter()
        .map(|t| json!({"url": super::subscription::TOPIC_CANONICAL_EXTENSION, "valueCanonical": t.canonical()}))
        .collect();
    let topic_docs: Vec<String> = Topic::ALL
        .iter()
        .map(|t| format!("{}: {}", t.canonical(), t.description()))
        .collect();
    vec![
        json!({
            "type": "Task",
            "documentation": "inquiries (照会): an insurer asks (create), kakari routes the Task to the member's registered doctor (owner), the doctor accepts, answers (output) and completes it (update); only the two parties read it",
            "interaction": [{"code": "read"}, {"code": "vread"}, {"code": "create"}, {"code": "update"},
                            {"code": "search-type"}, {"code": "history-instance"}],
            "versioning": "versioned",
            "readHistory": true,
            "updateCreate": false,
            "searchParam": [
                {"name": "status", "type": "token", "documentation": "requested | accepted | rejected | in-progress | on-hold | completed | cancelled (comma: any of)"},
                {"name": "patient", "type": "token", "documentation": "the member: 保険者番号:記号:番号:枝番"}
            ]
        }),
        json!({
            "type": "Subscription",
            "profile": super::subscription::SUBSCRIPTION_PROFILE,
            "extension": topics,
            "documentation": format!(
                "topic-based subscriptions (Subscriptions R5 Backport): rest-hook, application/fhir+json, empty | id-only | full-resource; a subscription delivers the subscriber's own events on the topic. Topics: {}",
                topic_docs.join("; ")
            ),
            "interaction": [{"code": "read"}, {"code": "create"}, {"code": "delete"}, {"code": "search-type"}],
            "operation": [
                {"name": "status", "definition": "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status"}
            ]
        }),
        json!({
            "type": "Questionnaire",
            "documentation": "kakari's satisfaction questionnaire (Questionnaire/kakari-satisfaction)",
            "interaction": [{"code": "read"}]
        }),
        json!({
            "type": "QuestionnaireResponse",
            "documentation": "a member's satisfaction answers about an institution they are or were registered with (subject: the institution; source: the member), from the member's insurer or person client; means are shown in the directory from 10 responses on",
            "interaction": [{"code": "create"}]
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_served_type_with_its_search_parameters() {
        let cs = statement("http://localhost/fhir", "0.1.0");
        let resources = cs["rest"][0]["resource"].as_array().unwrap();
        assert_eq!(
            resources.len(),
            ResourceType::ALL.len() + RegistryType::ALL.len() + 4
        );
        let subscription = resources
            .iter()
            .find(|r| r["type"] == "Subscription")
            .unwrap();
        assert_eq!(
            subscription["extension"].as_array().unwrap().len(),
            crate::domain::subscription::Topic::ALL.len()
        );
        let episode = resources
            .iter()
            .find(|r| r["type"] == "EpisodeOfCare")
            .unwrap();
        assert_eq!(
            episode["interaction"],
            json!([{"code": "read"}, {"code": "search-type"}])
        );
        let obs = resources
            .iter()
            .find(|r| r["type"] == "Observation")
            .unwrap();
        let names: Vec<&str> = obs["searchParam"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for expected in ["patient", "code", "date", "category", "_lastUpdated"] {
            assert!(names.contains(&expected), "{expected}");
        }
    }
}
