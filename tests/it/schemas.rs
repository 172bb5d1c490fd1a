//! The FHIR JSON Schema subset in `schemas/fhir/` is derived from the official R4 schema
//! (`../shared/corpus/fhir-r4/fhir.schema.json`). This test re-derives it and fails when
//! the committed file differs; `KAKARI_REGENERATE_SCHEMAS=1` rewrites the file instead.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::{Map, Value, json};

/// The resource types kakari serves (keep in step with `codec::fhir::ResourceType`).
const TYPES: &[&str] = &[
    "Patient",
    "Coverage",
    "Organization",
    "Practitioner",
    "PractitionerRole",
    "MedicationRequest",
    "MedicationDispense",
    "MedicationStatement",
    "Observation",
    "Condition",
    "AllergyIntolerance",
];

fn crate_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn collect_refs(v: &Value, defs: &Map<String, Value>, seen: &mut BTreeSet<String>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                if k == "$ref" {
                    if let Some(name) = child
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/definitions/"))
                        && name != "ResourceList"
                        && seen.insert(name.to_owned())
                    {
                        collect_refs(&defs[name], defs, seen);
                    }
                } else {
                    collect_refs(child, defs, seen);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|c| collect_refs(c, defs, seen)),
        _ => {}
    }
}

/// Drops `description` annotations (strings), keeping elements named `description`.
fn strip_descriptions(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.get("description").is_some_and(Value::is_string) {
                o.remove("description");
            }
            o.values_mut().for_each(strip_descriptions);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_descriptions),
        _ => {}
    }
}

/// Derives the subset: every definition reachable from `TYPES`, descriptions dropped, and
/// `ResourceList` (contained resources) replaced by a dispatch on `resourceType` that
/// validates the served types fully and any other type by its envelope only.
pub fn derive(official: &Value) -> Value {
    let defs = official["definitions"].as_object().expect("definitions");
    let mut seen: BTreeSet<String> = TYPES.iter().map(|t| (*t).to_owned()).collect();
    for t in TYPES {
        collect_refs(&defs[*t], defs, &mut seen);
    }
    let mut out = Map::new();
    for name in &seen {
        let mut def = defs[name].clone();
        strip_descriptions(&mut def);
        out.insert(name.clone(), def);
    }
    let dispatch: Vec<Value> = TYPES
        .iter()
        .map(|t| {
            json!({
                "if": {"properties": {"resourceType": {"const": t}}},
                "then": {"$ref": format!("#/definitions/{t}")}
            })
        })
        .collect();
    out.insert(
        "ResourceList".into(),
        json!({
            "type": "object",
            "required": ["resourceType"],
            "properties": {"resourceType": {"type": "string", "pattern": "^[A-Z][A-Za-z]+$"}},
            "allOf": dispatch
        }),
    );
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://kakari.example/schemas/fhir/r4-subset.schema.json",
        "title": "FHIR R4 JSON Schema, subset served by kakari (derived from the official 4.0.1 schema)",
        "definitions": out
    })
}

#[test]
fn fhir_schema_subset_is_derived_from_the_official_schema() {
    let official_path = crate_path("../shared/corpus/fhir-r4/fhir.schema.json");
    let Ok(bytes) = std::fs::read(&official_path) else {
        eprintln!(
            "corpus absent ({}), schema derivation check skipped",
            official_path.display()
        );
        return;
    };
    let official: Value = serde_json::from_slice(&bytes).expect("official schema parses");
    let derived = serde_json::to_string_pretty(&derive(&official)).unwrap() + "\n";
    let target = crate_path("schemas/fhir/r4-subset.schema.json");
    if std::env::var_os("KAKARI_REGENERATE_SCHEMAS").is_some() {
        std::fs::write(&target, &derived).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&target).unwrap_or_default();
    assert!(
        committed == derived,
        "schemas/fhir/r4-subset.schema.json is out of date; run with KAKARI_REGENERATE_SCHEMAS=1"
    );
}

/// Asserts that a resource kakari serves validates against the official FHIR R4 JSON
/// Schema (all types, not only the stored ones); skipped when the corpus is absent.
pub fn assert_valid_fhir(resource: &Value) {
    static OFFICIAL: std::sync::OnceLock<Option<Value>> = std::sync::OnceLock::new();
    let official = OFFICIAL.get_or_init(|| {
        let path = crate_path("../shared/corpus/fhir-r4/fhir.schema.json");
        std::fs::read(&path)
            .ok()
            .map(|bytes| serde_json::from_slice(&bytes).expect("official schema is JSON"))
    });
    let Some(official) = official else {
        eprintln!("official FHIR schema absent: validation skipped");
        return;
    };
    let rtype = resource["resourceType"].as_str().expect("a resourceType");
    let schema = json!({
        "$ref": format!("#/definitions/{rtype}"),
        "definitions": official["definitions"],
    });
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft6)
        .should_validate_formats(false)
        .build(&schema)
        .expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(resource)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{rtype} is not valid FHIR R4: {errors:?}\n{resource}"
    );
}
