//! The audit trail as FHIR R4: each row an `AuditEvent`, a page of rows a `searchset`
//! `Bundle` (`GET /admin/audit?format=fhir`).
//!
//! Mapping: `type` is the DICOM/HL7 `rest` event type and `subtype` kakari's own action
//! (`urn:kakari:audit-action`); `action` is the CRUDE letter of that action; `outcome` is
//! `0` (success), `4` (denied: a minor failure, the request was refused) or `8` (failed);
//! the requesting client is the one agent (identifier `urn:kakari:client`); kakari is the
//! observer. Entities are the resource (`Type/id` reference) and the person whose data
//! it was (kakari's opaque person reference, never the member id). The row's chain hash
//! travels in an extension so a consumer can check the chain.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::domain::datetime::format_instant_millis;

/// Identifier system of API clients.
pub const CLIENT_SYSTEM: &str = "urn:kakari:client";
/// Identifier system of kakari's opaque person references.
pub const PERSON_SYSTEM: &str = "urn:kakari:person";
/// `AuditEvent.subtype` system: kakari's audit actions.
pub const ACTION_SYSTEM: &str = "urn:kakari:audit-action";
/// Extension carrying the row's chain hash (base64 SHA-256).
pub const HASH_EXTENSION: &str = "urn:kakari:extension:audit-hash";
/// Extension carrying the row's sequence number in the chain.
pub const SEQ_EXTENSION: &str = "urn:kakari:extension:audit-seq";

/// One audit row, as the renderer needs it.
#[derive(Debug, Clone, Copy)]
pub struct AuditFacts<'a> {
    pub seq: i64,
    pub at_millis: i64,
    pub request_id: Option<&'a str>,
    pub client_id: Option<i64>,
    pub role: Option<&'a str>,
    pub action: &'a str,
    pub resource_type: Option<&'a str>,
    pub resource_id: Option<&'a str>,
    /// Opaque person reference (`person-<n>`).
    pub person: Option<&'a str>,
    pub outcome: &'a str,
    pub detail: Option<&'a str>,
    pub hash: &'a [u8],
}

/// The `AuditEvent.action` letter of a kakari action.
pub fn crude(action: &str) -> &'static str {
    let verb = action.rsplit('.').next().unwrap_or(action);
    match verb {
        "create" | "ingest" => "C",
        "read" | "search" | "export" | "access" => "R",
        "update" | "change" | "revoke" | "reload" | "organization" | "practitioner" => "U",
        "delete" | "end" => "D",
        _ => "E",
    }
}

fn outcome_code(outcome: &str) -> &'static str {
    match outcome {
        "success" => "0",
        "denied" => "4",
        _ => "8",
    }
}

/// One row as an `AuditEvent`.
pub fn audit_event(f: &AuditFacts<'_>) -> Value {
    let mut event = json!({
        "resourceType": "AuditEvent",
        "id": format!("audit-{}", f.seq),
        "extension": [
            // FHIR R4 has no 64-bit integer: the sequence number is written as a string.
            {"url": SEQ_EXTENSION, "valueString": f.seq.to_string()},
            {"url": HASH_EXTENSION, "valueBase64Binary": STANDARD.encode(f.hash)}
        ],
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation"
        },
        "subtype": [{"system": ACTION_SYSTEM, "code": f.action}],
        "action": crude(f.action),
        "recorded": format_instant_millis(f.at_millis),
        "outcome": outcome_code(f.outcome),
        "source": {
            "observer": {"display": "kakari"},
            "type": [{
                "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                "code": "4",
                "display": "Application Server"
            }]
        }
    });
    if let Some(detail) = f.detail {
        event["outcomeDesc"] = json!(detail);
    }
    let mut agent = json!({"requestor": true});
    match f.client_id {
        Some(id) => {
            agent["who"] =
                json!({"identifier": {"system": CLIENT_SYSTEM, "value": id.to_string()}});
        }
        None => agent["who"] = json!({"display": "unauthenticated"}),
    }
    if let Some(role) = f.role {
        agent["role"] = json!([{"coding": [{"system": "urn:kakari:client-role", "code": role}]}]);
    }
    if let Some(request_id) = f.request_id.filter(|r| !r.is_empty()) {
        agent["altId"] = json!(request_id);
    }
    event["agent"] = json!([agent]);
    let mut entities = Vec::new();
    if let Some(rtype) = f.resource_type {
        let what = match f.resource_id {
            Some(id) => json!({"reference": format!("{rtype}/{id}")}),
            None => json!({"type": rtype}),
        };
        entities.push(json!({
            "what": what,
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"}
        }));
    }
    if let Some(person) = f.person {
        entities.push(json!({
            "what": {"identifier": {"system": PERSON_SYSTEM, "value": person}},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"}
        }));
    }
    if !entities.is_empty() {
        event["entity"] = Value::Array(entities);
    }
    event
}

/// A page of rows as a `searchset` Bundle; `next` is the URL of the following page.
pub fn bundle(rows: &[AuditFacts<'_>], self_url: &str, next: &str, at_millis: i64) -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": format_instant_millis(at_millis),
        "link": [
            {"relation": "self", "url": self_url},
            {"relation": "next", "url": next}
        ],
        "entry": rows.iter().map(|f| json!({
            "fullUrl": format!("urn:kakari:audit:{}", f.seq),
            "resource": audit_event(f),
            "search": {"mode": "match"}
        })).collect::<Vec<_>>()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_map_to_crude_letters() {
        assert_eq!(crude("create"), "C");
        assert_eq!(crude("registration.create"), "C");
        assert_eq!(crude("search"), "R");
        assert_eq!(crude("client.revoke"), "U");
        assert_eq!(crude("registration.end"), "D");
        assert_eq!(crude("something-else"), "E");
    }

    #[test]
    fn a_denied_anonymous_request_renders() {
        let e = audit_event(&AuditFacts {
            seq: 3,
            at_millis: 0,
            request_id: None,
            client_id: None,
            role: None,
            action: "access",
            resource_type: Some("Observation"),
            resource_id: None,
            person: None,
            outcome: "denied",
            detail: Some("GET /fhir/{type}/{id} auth.missing_token"),
            hash: &[1, 2, 3],
        });
        assert_eq!(e["outcome"], "4");
        assert_eq!(e["agent"][0]["who"]["display"], "unauthenticated");
        assert_eq!(e["entity"][0]["what"]["type"], "Observation");
    }
}
