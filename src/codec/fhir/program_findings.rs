//! Program findings for insurers as FHIR R4 `DetectedIssue`s in a `searchset` Bundle:
//! the member as a logical reference, the rule's code and severity, `detail` the
//! explanation, `implicated` the records it rests on, and kakari extensions naming the
//! rule, the threshold, the period and the finding's stable key.

use serde_json::{Value, json};

use crate::domain::Coding;
use crate::domain::code_system::id_system;

const EXT: &str = "urn:kakari:extension:finding-";

/// One finding as rendered.
#[derive(Debug, Clone)]
pub struct IssueFacts<'a> {
    pub id: &'a str,
    pub member_key: &'a str,
    pub rule: &'a str,
    pub key: &'a str,
    pub code: &'a Coding,
    pub severity: &'a str,
    pub as_of: &'a str,
    pub explanation: &'a str,
    pub threshold: &'a str,
    pub start: &'a str,
    pub end: &'a str,
    /// `Observation/abc`, `MedicationRequest/def` … the records served as FHIR.
    pub implicated: Vec<String>,
}

/// A finding as a `DetectedIssue`.
pub fn detected_issue(f: &IssueFacts<'_>) -> Value {
    let mut coding = json!({"system": f.code.system, "code": f.code.code});
    if let Some(d) = &f.code.display {
        coding["display"] = json!(d);
    }
    let mut issue = json!({
        "resourceType": "DetectedIssue",
        "id": f.id,
        "extension": [
            {"url": format!("{EXT}rule"), "valueCode": f.rule},
            {"url": format!("{EXT}key"), "valueString": f.key},
            {"url": format!("{EXT}threshold"), "valueString": f.threshold},
            {"url": format!("{EXT}held"), "valuePeriod": {"start": f.start, "end": f.end}}
        ],
        "status": "final",
        "code": {"coding": [coding]},
        "severity": f.severity,
        "patient": {"type": "Patient", "identifier": {"system": id_system::MEMBER_ID, "value": f.member_key}},
        "identifiedDateTime": f.as_of,
        "detail": f.explanation
    });
    if !f.implicated.is_empty() {
        issue["implicated"] = f
            .implicated
            .iter()
            .map(|r| json!({"reference": r}))
            .collect();
    }
    issue
}

/// A page of findings: a `searchset` Bundle, with a `next` link when there is more.
pub fn bundle(issues: Vec<Value>, self_url: &str, next_url: Option<&str>) -> Value {
    let mut links = vec![json!({"relation": "self", "url": self_url})];
    if let Some(next) = next_url {
        links.push(json!({"relation": "next", "url": next}));
    }
    let entries: Vec<Value> = issues
        .into_iter()
        .map(|r| json!({"resource": r, "search": {"mode": "match"}}))
        .collect();
    json!({"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries})
}
