//! The FHIR JSON Schema subset in `schemas/fhir/` is derived from the official R4 schema
//! (`../shared/corpus/fhir-r4/fhir.schema.json`). This test re-derives it and fails when
//! the committed file differs; `KAKARI_REGENERATE_SCHEMAS=1` rewrites the file instead.
//!
//! One deliberate change in the derivation: FHIR's regexes are XML Schema regexes, where
//! `\s` is XML whitespace (space, tab, CR, LF) and `\S` every other character. JSON
//! Schema reads them as ECMA-262 regexes, where `\s` is Unicode whitespace, so the official
//! JSON schema refuses the ideographic space U+3000 that Japanese text is full of (the FHIR
//! reference validator accepts it; later FHIR editions write the string regex as
//! `^[\s\S]+$`). [`SPEC_PATTERNS`] states every whitespace pattern of the official schema in
//! the spec's reading, keeping the C0 controls FHIR forbids (below U+0020 except tab, CR
//! and LF) refused; an official pattern with `\s`/`\S` that the table does not know fails
//! the derivation.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::{Map, Value, json};

/// The resource types kakari stores, and the collaboration types it reads (Task,
/// Subscription, QuestionnaireResponse): the subset always covers exactly them.
fn types() -> Vec<&'static str> {
    kakari::codec::fhir::ResourceType::ALL
        .iter()
        .map(|t| t.as_str())
        .chain(
            kakari::codec::fhir::COLLABORATION_INPUT_TYPES
                .iter()
                .copied(),
        )
        .collect()
}

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

/// Every official pattern that uses `\s` or `\S`, and the same rule in the reading FHIR
/// means (XML Schema whitespace: space, tab, CR, LF), with the C0 controls FHIR forbids
/// refused.
const SPEC_PATTERNS: &[(&str, &str)] = &[
    // string, markdown: any characters but the forbidden controls.
    (r"^[ \r\n\t\S]+$", r"^[^\x00-\x08\x0B\x0C\x0E-\x1F]+$"),
    // code: tokens without whitespace, separated by single whitespace characters.
    (
        r"^[^\s]+(\s[^\s]+)*$",
        r"^[^\x00-\x20]+([ \t\n\r][^\x00-\x20]+)*$",
    ),
    // uri, url, canonical: no whitespace, no controls.
    (r"^\S*$", r"^[^\x00-\x20]*$"),
    // base64 blocks with optional whitespace between them.
    (
        r"^(\s*([0-9a-zA-Z\+/=]){4}\s*)+$",
        r"^([ \t\n\r]*([0-9a-zA-Z\+/=]){4}[ \t\n\r]*)+$",
    ),
];

/// Rewrites every whitespace pattern to its reading in the FHIR specification.
pub fn spec_patterns(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, child) in o.iter_mut() {
                if k == "pattern"
                    && let Value::String(p) = child
                {
                    if let Some((_, spec)) =
                        SPEC_PATTERNS.iter().find(|(official, _)| official == p)
                    {
                        *p = (*spec).to_owned();
                    } else {
                        assert!(
                            !p.contains("\\s") && !p.contains("\\S"),
                            "official pattern {p} uses \\s or \\S: add its FHIR reading to SPEC_PATTERNS"
                        );
                    }
                } else {
                    spec_patterns(child);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(spec_patterns),
        _ => {}
    }
}

/// Derives the subset: every definition reachable from the served types, descriptions dropped,
/// whitespace patterns in the spec's reading ([`spec_patterns`]), and `ResourceList`
/// (contained resources, Bundle entries) replaced by a dispatch on `resourceType` that
/// validates the served types fully and any other type by its envelope only.
pub fn derive(official: &Value) -> Value {
    let defs = official["definitions"].as_object().expect("definitions");
    let types = types();
    let mut seen: BTreeSet<String> = types.iter().map(|t| (*t).to_owned()).collect();
    for t in &types {
        collect_refs(&defs[*t], defs, &mut seen);
    }
    let mut out = Map::new();
    for name in &seen {
        let mut def = defs[name].clone();
        strip_descriptions(&mut def);
        spec_patterns(&mut def);
        out.insert(name.clone(), def);
    }
    let dispatch: Vec<Value> = types
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
/// Schema (all types, not only the stored ones), its whitespace patterns read as the FHIR
/// specification means them ([`spec_patterns`]); skipped when the corpus is absent.
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
    let mut schema = json!({
        "$ref": format!("#/definitions/{rtype}"),
        "definitions": official["definitions"],
    });
    spec_patterns(&mut schema);
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
