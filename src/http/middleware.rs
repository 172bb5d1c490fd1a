//! Cross-cutting request handling: metrics per route and status, the `X-Request-Id`
//! response header, a last-resort net that turns a panic into a 500 problem response
//! instead of a dropped connection, and the request's log span ([`RequestSpan`]), which
//! names the route and the parameter names, never a value from the path or the query.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::Error;
use actix_web::HttpMessage;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use futures_util::FutureExt;
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

use super::problem::{Flavor, HttpProblem};
use crate::error::{ErrorCode, Problem};
use crate::telemetry::{HTTP_DURATION, HTTP_REQUESTS};

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let flavor = Flavor::of_path(req.path());
    let request_id = req.extensions().get::<RequestId>().map(|id| id.to_string());
    // The request must not be cloned before routing (actix routes by mutating it), so a
    // panic is turned into an error that actix renders with our problem body.
    let result = AssertUnwindSafe(next.call(req)).catch_unwind().await;
    let mut response = match result {
        Ok(Ok(res)) => res.map_into_boxed_body(),
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            tracing::error!("a request handler panicked");
            metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => "panicked", "status" => "500")
                .increment(1);
            return Err(HttpProblem {
                problem: Problem::bare(ErrorCode::Internal),
                flavor,
            }
            .into());
        }
    };
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    if let Some(id) = request_id
        && let Ok(value) = HeaderValue::from_str(&id)
    {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(response)
}

/// The root span of every request (tracing-actix-web's default records the whole target,
/// query values included: member ids and birth dates at INFO). Fields: method, route
/// pattern, target as route plus parameter names (`http::target::loggable`), request id,
/// status and the error code of a refusal.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let pattern = request.match_pattern();
        let target = super::target::loggable(pattern.as_deref(), request.query_string());
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.to_string())
            .unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = pattern.as_deref().unwrap_or("unmatched"),
            http.target = %target,
            request_id = %request_id,
            http.status_code = tracing::field::Empty,
            error.code = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, error) = match outcome {
            Ok(response) => (response.status(), response.response().error()),
            Err(error) => (error.as_response_error().status_code(), Some(error)),
        };
        span.record("http.status_code", status.as_u16());
        if let Some(problem) = error.and_then(|e| e.as_error::<HttpProblem>()) {
            span.record("error.code", problem.problem.code.as_str());
        }
    }
}
