//! How refusals are written: OperationOutcome under `/fhir`, a JSON problem document
//! (`application/problem+json`) elsewhere. Both carry the stable code and located issues.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::codec::fhir::outcome;
use crate::error::{ErrorCode, Problem};

/// Which error dialect a route speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Fhir,
    Json,
}

impl Flavor {
    pub fn of_path(path: &str) -> Self {
        if path == "/fhir" || path.starts_with("/fhir/") {
            Flavor::Fhir
        } else {
            Flavor::Json
        }
    }
}

/// A `Problem` on its way out as an HTTP response.
#[derive(Debug)]
pub struct HttpProblem {
    pub problem: Problem,
    pub flavor: Flavor,
}

impl HttpProblem {
    pub fn fhir(problem: Problem) -> Self {
        Self {
            problem,
            flavor: Flavor::Fhir,
        }
    }

    pub fn json(problem: Problem) -> Self {
        Self {
            problem,
            flavor: Flavor::Json,
        }
    }
}

impl std::fmt::Display for HttpProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.problem.fmt(f)
    }
}

/// The JSON problem document of a refusal.
pub fn problem_json(problem: &Problem) -> serde_json::Value {
    json!({
        "type": format!("https://kakari.example/errors#{}", problem.code.as_str()),
        "title": problem.code.title(),
        "status": problem.status(),
        "code": problem.code.as_str(),
        "issues": problem.issues.iter().map(|i| json!({
            "severity": i.severity.as_fhir(),
            "code": i.code.as_str(),
            "location": i.location,
            "message": i.message,
        })).collect::<Vec<_>>()
    })
}

impl ResponseError for HttpProblem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.problem.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(code = %self.problem.code, "request failed");
        } else {
            let location = self
                .problem
                .issues
                .first()
                .map(|i| i.location.as_str())
                .unwrap_or("");
            tracing::info!(code = %self.problem.code, %location, "request refused");
        }
        let mut builder = HttpResponse::build(status);
        if matches!(
            self.problem.code,
            ErrorCode::MissingToken
                | ErrorCode::InvalidToken
                | ErrorCode::CertificateUnknown
                | ErrorCode::CertificateMismatch
                | ErrorCode::CertificateRequired
        ) {
            builder.insert_header(("WWW-Authenticate", "Bearer realm=\"kakari\""));
        }
        if self.problem.code == ErrorCode::RateLimited {
            builder.insert_header(("Retry-After", "1"));
        }
        match self.flavor {
            Flavor::Fhir => builder
                .content_type("application/fhir+json; charset=utf-8")
                .body(outcome::from_problem(&self.problem).to_string()),
            Flavor::Json => builder
                .content_type("application/problem+json")
                .body(problem_json(&self.problem).to_string()),
        }
    }
}
