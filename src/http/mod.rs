//! The actix-web HTTP interface: routes, middleware (request id, tracing, metrics, the
//! authentication and limits gate), error bodies. Handlers are thin: extract, call one service function, respond.

pub mod admin;
pub mod collaboration;
pub mod directory;
pub mod directory_page;
pub mod extract;
pub mod fhir;
pub mod findings;
pub mod gate;
pub mod health;
pub mod hl7;
pub mod insurer;
pub mod masters;
pub mod matching;
pub mod medication_page;
pub mod middleware;
pub mod openapi;
pub mod problem;
pub mod query;
pub mod registration;
pub mod respond;
pub mod ssmix2;
pub mod target;

use actix_web::{HttpRequest, HttpResponse};

use crate::error::{ErrorCode, Problem};
use problem::{Flavor, HttpProblem};

/// The fallback for unknown paths.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, HttpProblem> {
    Err(HttpProblem {
        problem: Problem::new(ErrorCode::RouteNotFound, "path", "no such endpoint"),
        flavor: Flavor::of_path(req.path()),
    })
}

/// The fallback for known paths called with another method.
pub async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, HttpProblem> {
    Err(HttpProblem {
        problem: Problem::new(
            ErrorCode::MethodNotAllowed,
            "method",
            "method not allowed here",
        ),
        flavor: Flavor::of_path(req.path()),
    })
}
