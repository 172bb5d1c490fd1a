//! OperationOutcome: how every FHIR error (and the warnings of a success) is reported.

use serde_json::{Value, json};

use crate::error::{ErrorCode, Issue, Problem};

/// The system of kakari's own error codes in `OperationOutcome.issue.details`.
pub const ERROR_CODE_SYSTEM: &str = "urn:kakari:error-code";

/// The FHIR `issue-type` for a kakari code.
pub fn issue_type(code: ErrorCode) -> &'static str {
    use ErrorCode::*;
    match code {
        MalformedJson | NotAResource => "structure",
        SchemaViolation | JpCoreViolation | InvalidMemberId | InvalidReference | InvalidBody
        | InvalidId | IdMismatch | InvalidBundle => "invalid",
        CodeFormat => "code-invalid",
        UnitMismatch | DosageInconsistent | ClinsViolation => "business-rule",
        IntakeKeyReused => "duplicate",
        InvalidParameter | InvalidSearch => "value",
        UnknownParameter
        | UnknownSearchParameter
        | UnsupportedResourceType
        | UnsupportedInteraction
        | MethodNotAllowed
        | UnsupportedMediaType
        | NotAcceptable => "not-supported",
        ResourceNotFound | RouteNotFound => "not-found",
        MissingToken | InvalidToken => "login",
        Forbidden | FacilityMismatch => "forbidden",
        VersionConflict | MultipleMatches | StoreConflict => "conflict",
        BodyTooLarge => "too-costly",
        RateLimited => "throttled",
        TransactionFailed => "processing",
        StoreUnavailable => "transient",
        Internal => "exception",
        // Codes of the other formats, when they surface under /fhir: by their status.
        _ => match code.http_status() {
            401 => "login",
            403 => "forbidden",
            404 => "not-found",
            409 | 412 => "conflict",
            413 => "too-costly",
            422 => "invalid",
            500..=599 => "exception",
            _ => "invalid",
        },
    }
}

/// One OperationOutcome issue.
pub fn issue_json(issue: &Issue) -> Value {
    let mut v = json!({
        "severity": issue.severity.as_fhir(),
        "code": issue_type(issue.code),
        "details": {
            "coding": [{"system": ERROR_CODE_SYSTEM, "code": issue.code.as_str()}],
            "text": issue.code.title()
        },
        "diagnostics": issue.message,
    });
    if !issue.location.is_empty() {
        v["expression"] = json!([issue.location]);
    }
    v
}

/// An OperationOutcome for a refusal.
pub fn from_problem(problem: &Problem) -> Value {
    let issues: Vec<Value> = if problem.issues.is_empty() {
        vec![issue_json(&Issue::error(
            problem.code,
            "",
            problem.code.title(),
        ))]
    } else {
        problem.issues.iter().map(issue_json).collect()
    };
    json!({"resourceType": "OperationOutcome", "issue": issues})
}

/// An OperationOutcome listing warnings (or a plain "all ok").
pub fn from_issues(issues: &[Issue]) -> Value {
    if issues.is_empty() {
        return json!({
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "information", "code": "informational", "diagnostics": "ok"}]
        });
    }
    json!({"resourceType": "OperationOutcome", "issue": issues.iter().map(issue_json).collect::<Vec<_>>()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_an_issue_type() {
        for code in ErrorCode::ALL {
            assert!(!issue_type(*code).is_empty());
        }
    }

    #[test]
    fn outcome_carries_code_and_expression() {
        let p = Problem::new(
            ErrorCode::SchemaViolation,
            "Patient.birthDate",
            "not a valid date",
        );
        let o = from_problem(&p);
        assert_eq!(o["issue"][0]["details"]["coding"][0]["code"], "fhir.schema");
        assert_eq!(o["issue"][0]["expression"][0], "Patient.birthDate");
        assert_eq!(o["issue"][0]["code"], "invalid");
    }
}
