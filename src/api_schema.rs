//! kakari's own API bodies (`POST /admin/clients`, `POST /registrations`, …) are validated
//! against JSON Schemas generated from the Rust types that read them (utoipa), so the
//! OpenAPI document, the validation and the code cannot drift apart. The same schemas are
//! exported to `schemas/api/` (a test keeps the files in step).

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use jsonschema::Draft;
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::{PartialSchema, ToSchema};

use crate::error::{ErrorCode, Problem};
use crate::validation::SchemaCheck;

/// The JSON Schema of an API body type.
pub fn schema_of<T: ToSchema + PartialSchema>() -> Value {
    let mut schema = serde_json::to_value(T::schema()).unwrap_or(Value::Null);
    if let Value::Object(o) = &mut schema {
        o.insert(
            "$schema".into(),
            Value::String("https://json-schema.org/draft/2020-12/schema".into()),
        );
        o.insert("title".into(), Value::String(T::name().into_owned()));
    }
    schema
}

static CHECKS: LazyLock<Mutex<HashMap<TypeId, Arc<SchemaCheck>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn check_for<T: ToSchema + PartialSchema + 'static>() -> Arc<SchemaCheck> {
    let id = TypeId::of::<T>();
    let mut checks = match CHECKS.lock() {
        Ok(c) => c,
        Err(poisoned) => poisoned.into_inner(),
    };
    checks
        .entry(id)
        .or_insert_with(|| {
            Arc::new(SchemaCheck::compile(
                &schema_of::<T>(),
                Draft::Draft202012,
                ErrorCode::InvalidBody,
            ))
        })
        .clone()
}

/// Parses and validates an API body: malformed JSON is 400, a body that violates the
/// schema is 422 with every issue located (`body.role`).
pub fn parse<T: DeserializeOwned + ToSchema + PartialSchema + 'static>(
    bytes: &[u8],
) -> Result<T, Problem> {
    let value = crate::codec::fhir::json::parse(bytes)?;
    let check = check_for::<T>();
    if check.ready().is_err() {
        tracing::error!(schema = %T::name(), "an API body schema does not compile");
        return Err(Problem::bare(ErrorCode::Internal));
    }
    let issues = check.check(&value, "body");
    if !issues.is_empty() {
        return Err(Problem::with_issues(ErrorCode::InvalidBody, issues));
    }
    serde_json::from_value(value).map_err(|_| {
        Problem::new(
            ErrorCode::InvalidBody,
            "body",
            "body does not have the expected shape",
        )
    })
}

/// Whether a body type's schema compiles (checked by the test that exports them).
pub fn compiles<T: ToSchema + PartialSchema + 'static>() -> Result<(), String> {
    check_for::<T>().ready()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::clients::ClientRequest;

    #[test]
    fn bodies_are_checked_against_the_type_schema() {
        let ok: ClientRequest =
            parse(br#"{"name": "clinic", "role": "emr", "facility": "1311234567"}"#).unwrap();
        assert_eq!(ok.role, "emr");
        let unknown = parse::<ClientRequest>(br#"{"name": "x", "role": "emr", "colour": "red"}"#)
            .unwrap_err();
        assert_eq!(unknown.code, ErrorCode::InvalidBody);
        assert!(unknown.issues[0].message.contains("colour"), "{unknown:?}");
        let wrong_type = parse::<ClientRequest>(br#"{"name": 12, "role": "emr"}"#).unwrap_err();
        assert_eq!(wrong_type.issues[0].location, "body.name");
        let missing = parse::<ClientRequest>(br#"{"name": "x"}"#).unwrap_err();
        assert!(missing.issues.iter().any(|i| i.message.contains("role")));
        assert_eq!(
            parse::<ClientRequest>(b"{").unwrap_err().code,
            ErrorCode::MalformedJson
        );
    }
}
