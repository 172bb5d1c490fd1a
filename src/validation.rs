//! JSON Schema validation with located, value-free issues, shared by the FHIR schema check
//! and the checks of kakari's own API bodies.
//!
//! The `jsonschema` crate's own messages quote the instance (which may be patient data),
//! so each error is re-described from its kind and located by its instance path.
//!
//! Beyond the schema, no string (value or key) may hold a character below U+0020 other
//! than tab, CR and LF: FHIR strings may not, and no database should be handed one
//! (PostgreSQL refuses NUL in text). The schema's own patterns miss some (`xhtml`
//! narrative, API bodies), so every document is walked for them.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{Draft, Validator};
use serde_json::Value;

use crate::codec::fhir::json::has_control_character;
use crate::codec::fhir::path;
use crate::error::{ErrorCode, Issue};

/// Most issues reported for one document.
const MAX_ISSUES: usize = 50;

/// A compiled schema and the error code its violations carry.
pub struct SchemaCheck {
    validator: Result<Validator, String>,
    code: ErrorCode,
}

impl SchemaCheck {
    pub fn compile(schema: &Value, draft: Draft, code: ErrorCode) -> Self {
        let validator = jsonschema::options()
            .with_draft(draft)
            .should_validate_formats(false)
            .build(schema)
            .map_err(|e| e.to_string());
        Self { validator, code }
    }

    /// Whether the schema compiled (checked at startup).
    pub fn ready(&self) -> Result<(), String> {
        self.validator.as_ref().map(|_| ()).map_err(Clone::clone)
    }

    /// The issues of `instance`, located under `root`.
    pub fn check(&self, instance: &Value, root: &str) -> Vec<Issue> {
        let validator = match &self.validator {
            Ok(v) => v,
            Err(_) => {
                return vec![Issue::error(
                    ErrorCode::Internal,
                    root,
                    "a schema failed to compile",
                )];
            }
        };
        let mut issues = Vec::new();
        if !validator.is_valid(instance) {
            issues.extend(validator.iter_errors(instance).take(MAX_ISSUES).map(|e| {
                Issue::error(
                    self.code,
                    path::expression(root, e.instance_path().as_str()),
                    describe(e.kind(), e.schema_path().as_str()),
                )
            }));
        }
        control_characters(instance, root, self.code, &mut issues);
        issues.sort_by(|a, b| a.location.cmp(&b.location));
        issues.dedup_by(|a, b| a.location == b.location && a.message == b.message);
        issues.truncate(MAX_ISSUES);
        issues
    }
}

const CONTROL_CHARACTER: &str = "holds a character below U+0020 other than tab, CR and LF";

/// Reports every string (and key) under `location` holding a control character, unless
/// the schema already reported that location.
fn control_characters(value: &Value, location: &str, code: ErrorCode, issues: &mut Vec<Issue>) {
    if issues.len() >= MAX_ISSUES {
        return;
    }
    fn report(location: &str, code: ErrorCode, issues: &mut Vec<Issue>) {
        if !issues.iter().any(|i| i.location == location) {
            issues.push(Issue::error(code, location, CONTROL_CHARACTER));
        }
    }
    match value {
        Value::String(s) if has_control_character(s) => report(location, code, issues),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                control_characters(item, &format!("{location}[{i}]"), code, issues);
            }
        }
        Value::Object(members) => {
            for (key, member) in members {
                if has_control_character(key) {
                    report(location, code, issues);
                    continue;
                }
                control_characters(
                    member,
                    &path::child(location, &path::sanitise_name(key)),
                    code,
                    issues,
                );
            }
        }
        _ => {}
    }
}

/// The type definition a schema error was raised in (`dateTime`, `HumanName`).
fn defining_type(schema_path: &str) -> Option<&str> {
    let mut last = None;
    let mut parts = schema_path.split('/');
    while let Some(p) = parts.next() {
        if p == "definitions" {
            last = parts.next();
        }
    }
    last
}

fn type_name(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(t) => t.to_string(),
        TypeKind::Multiple(set) => set
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

fn describe(kind: &ValidationErrorKind, schema_path: &str) -> String {
    let within = defining_type(schema_path)
        .map(|t| format!(" ({t})"))
        .unwrap_or_default();
    match kind {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let names: Vec<String> = unexpected.iter().map(|n| path::sanitise_name(n)).collect();
            format!("unknown element(s): {}", names.join(", "))
        }
        ValidationErrorKind::Required { property } => format!(
            "missing required element '{}'",
            property
                .as_str()
                .map(path::sanitise_name)
                .unwrap_or_default()
        ),
        ValidationErrorKind::Type { kind } => {
            format!("must be of JSON type {}{within}", type_name(kind))
        }
        ValidationErrorKind::Pattern { .. } => {
            format!("value does not have the required format{within}")
        }
        ValidationErrorKind::Enum { options } => {
            let allowed: Vec<String> = options
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            format!("value is not one of: {}", allowed.join(", "))
        }
        ValidationErrorKind::Constant { expected_value } => match expected_value.as_str() {
            Some(s) => format!("must be '{}'", path::sanitise_name(s)),
            None => "value is not the required constant".into(),
        },
        ValidationErrorKind::MinItems { limit } => format!("needs at least {limit} item(s)"),
        ValidationErrorKind::MaxItems { limit } => format!("allows at most {limit} item(s)"),
        ValidationErrorKind::MinLength { limit } => {
            format!("must be at least {limit} character(s)")
        }
        ValidationErrorKind::MaxLength { limit } => format!("must be at most {limit} character(s)"),
        ValidationErrorKind::OneOfNotValid { .. } | ValidationErrorKind::AnyOf { .. } => {
            format!("matches none of the allowed forms{within}")
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => {
            "matches more than one allowed form".into()
        }
        ValidationErrorKind::Minimum { .. } | ValidationErrorKind::ExclusiveMinimum { .. } => {
            "value is too small".into()
        }
        ValidationErrorKind::Maximum { .. } | ValidationErrorKind::ExclusiveMaximum { .. } => {
            "value is too large".into()
        }
        _ => format!("violates the schema{within}"),
    }
}
