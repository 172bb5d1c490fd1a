//! Validation against the FHIR R4 JSON Schema: the subset in `schemas/fhir/`, derived from
//! the official 4.0.1 schema for the types kakari serves (a test keeps it in step), checked
//! with the `jsonschema` crate. Compiled once.

use std::sync::LazyLock;

use jsonschema::Draft;
use serde_json::Value;

use crate::error::{ErrorCode, Issue};
use crate::validation::SchemaCheck;

const SUBSET: &str = include_str!("../../../schemas/fhir/r4-subset.schema.json");

static CHECK: LazyLock<SchemaCheck> = LazyLock::new(|| {
    let mut schema: Value = serde_json::from_str(SUBSET).unwrap_or(Value::Null);
    if let Value::Object(o) = &mut schema {
        o.insert(
            "$ref".into(),
            Value::String("#/definitions/ResourceList".into()),
        );
    }
    SchemaCheck::compile(&schema, Draft::Draft7, ErrorCode::SchemaViolation)
});

/// Compiles the schema now rather than on first use, reporting a broken build.
pub fn warm_up() -> Result<(), String> {
    CHECK.ready()
}

/// Validates a resource; returns the schema issues located under `root`
/// (`Patient`, `Bundle.entry[3].resource`).
pub fn validate(resource: &Value, root: &str) -> Vec<Issue> {
    CHECK.check(resource, root)
}

/// Checks that `body` is a resource of type `rtype` that validates against the schema
/// (`fhir.not_a_resource`, `fhir.schema` with located issues).
pub fn check_resource(body: &Value, rtype: &str) -> Result<(), crate::error::Problem> {
    use crate::error::Problem;
    if body.get("resourceType").and_then(Value::as_str) != Some(rtype) {
        return Err(Problem::new(
            ErrorCode::NotAResource,
            "resourceType",
            format!("expected a {rtype}"),
        ));
    }
    let issues = validate(body, rtype);
    if issues.iter().any(Issue::is_error) {
        return Err(Problem::with_issues(ErrorCode::SchemaViolation, issues));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_embedded_schema_compiles() {
        warm_up().unwrap();
    }

    #[test]
    fn a_valid_patient_passes() {
        let p = json!({"resourceType": "Patient", "id": "p1", "birthDate": "1970-01-01",
                       "name": [{"family": "山田", "given": ["太郎"]}]});
        assert!(validate(&p, "Patient").is_empty());
    }

    #[test]
    fn the_ideographic_space_is_text_and_c0_controls_are_not() {
        // FHIR's `\S` is XML Schema's: U+3000 is an ordinary character of a string.
        let p = json!({"resourceType": "Patient", "id": "p1",
                       "name": [{"text": "山田　太郎　", "family": "山田", "given": ["　太郎"]}],
                       "address": [{"text": "東京都　千代田区"}]});
        assert!(
            validate(&p, "Patient").is_empty(),
            "{:?}",
            validate(&p, "Patient")
        );
        // Tab, CR and LF are allowed in strings; other C0 controls are not.
        let ok = json!({"resourceType": "Patient", "name": [{"text": "a\tb\r\nc"}]});
        assert!(validate(&ok, "Patient").is_empty());
        for bad in ["a\u{0001}b", "a\u{000B}b", "\u{001F}"] {
            let p = json!({"resourceType": "Patient", "name": [{"text": bad}]});
            let issues = validate(&p, "Patient");
            assert!(
                issues.iter().any(|i| i.location == "Patient.name[0].text"),
                "{bad:?}: {issues:?}"
            );
        }
        // A code keeps refusing whitespace runs, but U+3000 is not XML whitespace.
        let o = json!({"resourceType": "Observation", "status": "final ", "code": {"text": "x"}});
        assert!(!validate(&o, "Observation").is_empty());
    }

    #[test]
    fn errors_are_located_and_do_not_quote_values() {
        let p = json!({"resourceType": "Patient", "birthDate": "1970-13-45",
                       "gender": "secret-value", "nickname": "x"});
        let issues = validate(&p, "Patient");
        let locations: Vec<&str> = issues.iter().map(|i| i.location.as_str()).collect();
        assert!(locations.contains(&"Patient.birthDate"), "{issues:?}");
        assert!(locations.contains(&"Patient.gender"), "{issues:?}");
        assert!(locations.contains(&"Patient"), "{issues:?}");
        for i in &issues {
            assert!(!i.message.contains("1970-13-45"));
            assert!(!i.message.contains("secret-value"));
        }
        assert!(issues.iter().any(|i| i.message.contains("nickname")));
    }

    #[test]
    fn contained_resources_of_served_types_are_validated() {
        let o = json!({"resourceType": "Observation", "status": "final",
                       "code": {"text": "x"},
                       "contained": [{"resourceType": "Patient", "id": "c1", "birthDate": "bad"}]});
        let issues = validate(&o, "Observation");
        assert!(
            issues
                .iter()
                .any(|i| i.location == "Observation.contained[0].birthDate"),
            "{issues:?}"
        );
    }
}
