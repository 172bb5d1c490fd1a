//! The request gate: the one place every request passes before routing to a handler and
//! before any body is read.
//!
//! 0. The request target: too long (414) or carrying a control character (400), refused
//!    before anything else looks at it (`http::target`).
//! 1. Authentication: the bearer token and the connection's client certificate (mTLS)
//!    become a caller (`auth::Authenticator::authenticate_request`); the result is left
//!    in the request's extensions for the `Authenticated` extractor. Public endpoints
//!    ignore it, so a stray header never breaks `/healthz`.
//! 2. Per-client limits of an authenticated caller: the request rate (token bucket,
//!    `auth::rate`; 429 `request.rate_limited` with `Retry-After`) and the request size
//!    (413 `request.body_too_large` from `Content-Length` at once, or while a chunked body
//!    streams in).
//! 3. Denials are audited: a 401 or 403 on an endpoint that serves or takes patient data
//!    leaves an audit row with outcome `denied` (the route pattern and the error code,
//!    never the path's values).

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{AUTHORIZATION, CONTENT_LENGTH, HeaderValue, RETRY_AFTER};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, ResponseError, web};
use futures_util::StreamExt;
use tracing_actix_web::RequestId;

use super::problem::{Flavor, HttpProblem};
use crate::app::AppState;
use crate::auth::Authenticated;
use crate::auth::rate::{Rate, retry_after_secs};
use crate::error::{ErrorCode, Problem};
use crate::store::audit::AuditEntry;
use crate::tls::PeerCertificate;

/// The gate's verdict on the credentials of a request that presented any.
#[derive(Debug, Clone)]
pub struct Authentication(pub Result<Authenticated, Problem>);

/// Paths whose endpoints serve or take patient data (denials there are audited).
pub fn is_patient_data(path: &str) -> bool {
    if path == "/fhir/metadata" {
        return false;
    }
    path == "/fhir"
        || [
            "/fhir/",
            "/registrations",
            "/consents",
            "/insurer/",
            "/hl7v2",
            "/ssmix2",
            "/doctor/",
        ]
        .iter()
        .any(|p| path.starts_with(p))
}

fn refuse(req: ServiceRequest, problem: Problem, retry_after: Option<u64>) -> ServiceResponse {
    let flavor = Flavor::of_path(req.path());
    let mut response = HttpProblem { problem, flavor }.error_response();
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    req.into_response(response)
}

fn too_large(location: &str) -> Problem {
    Problem::new(
        ErrorCode::BodyTooLarge,
        location,
        "the body exceeds the client's request size limit",
    )
}

/// Caps the request body at `limit` bytes while it streams in; the body extractors turn
/// the overflow into `request.body_too_large`.
fn limit_payload(req: &mut ServiceRequest, limit: usize) {
    let mut seen = 0usize;
    let limited = req.take_payload().map(move |chunk| {
        let chunk = chunk?;
        seen = seen.saturating_add(chunk.len());
        if seen > limit {
            Err(PayloadError::Overflow)
        } else {
            Ok(chunk)
        }
    });
    req.set_payload(Payload::Stream {
        payload: Box::pin(limited),
    });
}

pub async fn gate(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(app) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    if let Err(problem) =
        super::target::check(req.path(), req.query_string(), app.config.max_uri_bytes)
    {
        return Ok(refuse(req, problem, None));
    }
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .map(|h| h.to_str().unwrap_or("").to_owned());
    let certificate = req.conn_data::<PeerCertificate>().cloned();
    if header.is_some() || certificate.is_some() {
        let result = app
            .auth
            .authenticate_request(header.as_deref(), certificate.as_ref())
            .await;
        if let Ok(auth) = &result {
            let rate = Rate::effective(
                auth.limits.rate_limit_per_second,
                auth.limits.rate_burst,
                app.config.rate_limit_per_second,
                app.config.rate_burst,
            );
            if let Some(rate) = rate
                && let Err(wait) = app.rate.check(auth.caller.client_id, rate, Instant::now())
            {
                let problem = Problem::new(
                    ErrorCode::RateLimited,
                    "",
                    "the client's request rate limit is exhausted",
                );
                return Ok(refuse(req, problem, Some(retry_after_secs(wait))));
            }
            if let Some(max) = auth.limits.max_request_bytes {
                let max = usize::try_from(max.max(0)).unwrap_or(usize::MAX);
                let declared = req
                    .headers()
                    .get(CONTENT_LENGTH)
                    .and_then(|h| h.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                if declared.is_some_and(|n| n > max as u64) {
                    return Ok(refuse(req, too_large("Content-Length"), None));
                }
                limit_payload(&mut req, max);
            }
        }
        req.extensions_mut().insert(Authentication(result));
    }
    let response = next.call(req).await?.map_into_boxed_body();
    let status = response.status().as_u16();
    if matches!(status, 401 | 403) && is_patient_data(response.request().path()) {
        let entry = denied_entry(&response);
        if let Err(e) = app
            .store
            .write(move |tx| tx.append_audit(&[entry]).map(|_| ()))
            .await
        {
            tracing::error!(error = %e, "cannot audit a denied request");
        }
    }
    Ok(response)
}

/// The audit row of a refused request: who (when known), which route, which code.
fn denied_entry(response: &ServiceResponse<BoxBody>) -> AuditEntry {
    let req = response.request();
    let caller = req
        .extensions()
        .get::<Authentication>()
        .and_then(|a| a.0.as_ref().ok().map(|a| a.caller.clone()));
    let code = response
        .response()
        .error()
        .and_then(|e| e.as_error::<HttpProblem>())
        .map_or("", |p| p.problem.code.as_str());
    let pattern = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let resource_type = req
        .path()
        .strip_prefix("/fhir/")
        .and_then(|rest| rest.split('/').next())
        .filter(|t| !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_alphabetic()))
        .map(str::to_owned);
    AuditEntry {
        request_id: req.extensions().get::<RequestId>().map(|id| id.to_string()),
        client_id: caller.as_ref().map(|c| c.client_id),
        role: caller.as_ref().map(|c| c.role.as_str().to_owned()),
        action: "access".to_owned(),
        resource_type,
        outcome: "denied".to_owned(),
        detail: Some(
            format!("{} {pattern} {code}", req.method())
                .trim_end()
                .to_owned(),
        ),
        ..AuditEntry::default()
    }
}

#[cfg(test)]
mod tests {
    use super::is_patient_data;

    #[test]
    fn patient_data_paths_are_recognised() {
        for p in [
            "/fhir",
            "/fhir/Observation/1",
            "/registrations",
            "/consents",
            "/insurer/lab-results",
            "/hl7v2",
            "/ssmix2",
        ] {
            assert!(is_patient_data(p), "{p}");
        }
        for p in [
            "/fhir/metadata",
            "/admin/clients",
            "/healthz",
            "/directory/organizations",
        ] {
            assert!(!is_patient_data(p), "{p}");
        }
    }
}
