//! Request extractors: the authenticated caller, and request bodies read with a size
//! limit, a content-type check and time limits (a total time, and a minimum average rate
//! after a grace period, so a body trickled in a byte at a time cannot hold a connection:
//! 408 `request.body_timeout`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::StreamExt;
use tracing_actix_web::RequestId;

use super::problem::{Flavor, HttpProblem};
use crate::app::AppState;
use crate::auth::{Role, access};
use crate::error::{ErrorCode, Problem};
use crate::service::Ctx;

fn flavor(req: &HttpRequest) -> Flavor {
    Flavor::of_path(req.path())
}

fn app(req: &HttpRequest) -> Result<Arc<AppState>, HttpProblem> {
    req.app_data::<web::Data<AppState>>()
        .map(|d| d.clone().into_inner())
        .ok_or_else(|| HttpProblem::json(Problem::bare(ErrorCode::Internal)))
}

/// The request id tracing-actix-web assigned.
pub fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|id| id.to_string())
        .unwrap_or_default()
}

/// An authenticated request context.
pub struct Authenticated(pub Ctx);

impl FromRequest for Authenticated {
    type Error = HttpProblem;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let flavor = flavor(&req);
            let decided = req
                .extensions()
                .get::<super::gate::Authentication>()
                .map(|a| a.0.clone());
            let decided = match decided {
                Some(result) => result,
                // Not through the gate (or no credentials presented): decide here.
                None => {
                    let app = app(&req)?;
                    let header = req
                        .headers()
                        .get("Authorization")
                        .map(|h| h.to_str().unwrap_or("").to_owned());
                    let certificate = req.conn_data::<crate::tls::PeerCertificate>().cloned();
                    app.auth
                        .authenticate_request(header.as_deref(), certificate.as_ref())
                        .await
                }
            };
            let caller = decided
                .map(|a| a.caller)
                .map_err(|problem| HttpProblem { problem, flavor })?;
            Ok(Authenticated(Ctx {
                caller,
                request_id: request_id(&req),
            }))
        })
    }
}

/// The roles an endpoint is open to: a marker type per set (`Persons`, …), so a handler
/// states them in its signature and cannot forget the check.
pub trait Roles {
    const ROLES: &'static [Role];
}

macro_rules! roles {
    ($($(#[$doc:meta])* $name:ident => $set:path),* $(,)?) => {
        $( $(#[$doc])* pub struct $name; impl Roles for $name { const ROLES: &'static [Role] = $set; } )*
    };
}

roles! {
    /// `person` clients (`/me`).
    Persons => access::PERSONS,
    /// Who may propose or end registrations.
    RegistrationManagers => access::REGISTRATION_MANAGERS,
    /// Who may record consent decisions.
    ConsentRecorders => access::CONSENT_RECORDERS,
    /// Who may ask who a person's doctor is.
    RegistrationReaders => access::REGISTRATION_READERS,
    /// Who issues person clients.
    PersonClientIssuers => access::PERSON_CLIENT_ISSUERS,
    /// Who reads notifications.
    NotificationReaders => access::NOTIFICATION_READERS,
    /// Who asks inquiries (insurers).
    InquiryAskers => access::INQUIRY_ASKERS,
    /// The parties of inquiries (insurers, doctors).
    InquiryParties => access::INQUIRY_PARTIES,
    /// Who subscribes to their own events.
    Subscribers => access::SUBSCRIBERS,
    /// Subscription owners and administrators.
    SubscriptionManagers => access::SUBSCRIPTION_MANAGERS,
    /// Insurers.
    Insurers => access::INSURERS,
    /// The EMR and doctors of certified institutions (push-type matching).
    NeedResponders => access::NEED_RESPONDERS,
    /// Who submits satisfaction answers (insurers, persons).
    SurveyRespondents => access::SURVEY_RESPONDENTS,
}

/// An authenticated caller of one of `R`'s roles. Put it before the body extractor: a
/// caller of another role is refused (403) before the body is read or its content type
/// looked at.
pub struct Authorized<R: Roles>(pub Ctx, pub std::marker::PhantomData<R>);

impl<R: Roles + 'static> FromRequest for Authorized<R> {
    type Error = HttpProblem;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let flavor = flavor(req);
        let authenticated = Authenticated::from_request(req, payload);
        Box::pin(async move {
            let Authenticated(ctx) = authenticated.await?;
            access::require_role(&ctx.caller, R::ROLES)
                .map_err(|problem| HttpProblem { problem, flavor })?;
            Ok(Authorized(ctx, std::marker::PhantomData))
        })
    }
}

/// Which bodies an endpoint accepts.
#[derive(Debug, Clone, Copy)]
pub enum BodyKind {
    /// `application/fhir+json` or `application/json`.
    Json,
    /// Anything (the endpoint decodes it and names the format it found).
    Any,
}

fn media_type(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("Content-Type")
        .and_then(|h| h.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

/// Seconds a body may start slowly before its average rate is held to the minimum.
pub const BODY_RATE_GRACE: Duration = Duration::from_secs(10);

/// The time limits of reading one body.
struct BodyClock {
    started: Instant,
    total: Option<Duration>,
    min_bytes_per_sec: u64,
    received: u64,
}

impl BodyClock {
    fn new(total_secs: u64, min_bytes_per_sec: u64) -> Self {
        Self {
            started: Instant::now(),
            total: (total_secs > 0).then(|| Duration::from_secs(total_secs)),
            min_bytes_per_sec,
            received: 0,
        }
    }

    /// When the next byte must have arrived: at the total deadline, and early enough that
    /// the average rate since the start stays at the minimum once the grace period is over.
    fn deadline(&self) -> Option<Instant> {
        let total = self.total.map(|t| self.started + t);
        let rate = (self.min_bytes_per_sec > 0).then(|| {
            let needed =
                Duration::from_secs_f64((self.received + 1) as f64 / self.min_bytes_per_sec as f64);
            self.started + needed.max(BODY_RATE_GRACE)
        });
        match (total, rate) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next chunk of `payload`, or 408 when it does not come in time.
    async fn next(
        &mut self,
        payload: &mut Payload,
        flavor: Flavor,
    ) -> Result<Option<Result<Bytes, PayloadError>>, HttpProblem> {
        let chunk = match self.deadline() {
            None => payload.next().await,
            Some(deadline) => tokio::time::timeout_at(deadline.into(), payload.next())
                .await
                .map_err(|_| HttpProblem {
                    problem: Problem::new(
                        ErrorCode::BodyTimeout,
                        "body",
                        "the body did not arrive within the time limit or at the minimum rate",
                    ),
                    flavor,
                })?,
        };
        if let Some(Ok(bytes)) = &chunk {
            self.received += bytes.len() as u64;
        }
        Ok(chunk)
    }
}

/// Reads the request body up to the configured limit.
pub async fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
    kind: BodyKind,
) -> Result<Bytes, HttpProblem> {
    let flavor = flavor(req);
    let app = app(req)?;
    let limit = app.config.max_body_bytes;
    let refuse = |code: ErrorCode, location: &str, message: &str| HttpProblem {
        problem: Problem::new(code, location, message),
        flavor,
    };
    if let BodyKind::Json = kind {
        match media_type(req).as_deref() {
            Some("application/fhir+json" | "application/json") => {}
            _ => {
                return Err(refuse(
                    ErrorCode::UnsupportedMediaType,
                    "Content-Type",
                    "send Content-Type: application/fhir+json (or application/json)",
                ));
            }
        }
    }
    let declared = req
        .headers()
        .get("Content-Length")
        .and_then(|h| h.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(refuse(
            ErrorCode::BodyTooLarge,
            "Content-Length",
            "the body exceeds the size limit",
        ));
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(8192).min(limit));
    let mut clock = BodyClock::new(
        app.config.body_timeout_secs,
        app.config.body_min_bytes_per_sec,
    );
    while let Some(chunk) = clock.next(payload, flavor).await? {
        let chunk = chunk.map_err(|e| match e {
            PayloadError::Overflow => refuse(
                ErrorCode::BodyTooLarge,
                "body",
                "the body exceeds the size limit",
            ),
            _ => refuse(
                ErrorCode::MalformedJson,
                "body",
                "the body could not be read",
            ),
        })?;
        if body.len() + chunk.len() > limit {
            return Err(refuse(
                ErrorCode::BodyTooLarge,
                "body",
                "the body exceeds the size limit",
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A JSON request body (content type checked, size limited).
pub struct JsonBody(pub Bytes);

impl FromRequest for JsonBody {
    type Error = HttpProblem;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            read_body(&req, &mut payload, BodyKind::Json)
                .await
                .map(JsonBody)
        })
    }
}

/// Any request body (size limited).
pub struct RawBody(pub Bytes);

impl FromRequest for RawBody {
    type Error = HttpProblem;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            read_body(&req, &mut payload, BodyKind::Any)
                .await
                .map(RawBody)
        })
    }
}

/// The base URL of this server as the client addressed it (`https://host/fhir`).
pub fn base_url(req: &HttpRequest, configured: Option<&str>, suffix: &str) -> String {
    match configured {
        Some(base) => format!("{}{suffix}", base.trim_end_matches('/')),
        None => {
            let info = req.connection_info();
            format!("{}://{}{suffix}", info.scheme(), info.host())
        }
    }
}

/// A request body spooled to a temporary file (for archives: never held in memory).
pub struct SpooledBody(pub tempfile::NamedTempFile);

impl FromRequest for SpooledBody {
    type Error = HttpProblem;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let flavor = flavor(&req);
            let app = app(&req)?;
            let limit = app.config.max_archive_bytes;
            let refuse = |code: ErrorCode, message: &str| HttpProblem {
                problem: Problem::new(code, "body", message),
                flavor,
            };
            let declared = req
                .headers()
                .get("Content-Length")
                .and_then(|h| h.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > limit) {
                return Err(refuse(
                    ErrorCode::BodyTooLarge,
                    "the archive exceeds the size limit",
                ));
            }
            let spool = tempfile::NamedTempFile::new()
                .map_err(|_| refuse(ErrorCode::Internal, "cannot spool the upload"))?;
            let std_file = spool
                .reopen()
                .map_err(|_| refuse(ErrorCode::Internal, "cannot spool the upload"))?;
            let mut file = tokio::fs::File::from_std(std_file);
            let mut written: u64 = 0;
            let mut clock = BodyClock::new(
                app.config.archive_body_timeout_secs,
                app.config.body_min_bytes_per_sec,
            );
            while let Some(chunk) = clock.next(&mut payload, flavor).await? {
                let chunk = chunk.map_err(|e| match e {
                    PayloadError::Overflow => {
                        refuse(ErrorCode::BodyTooLarge, "the body exceeds the size limit")
                    }
                    _ => refuse(ErrorCode::ArchiveInvalid, "the upload could not be read"),
                })?;
                written += chunk.len() as u64;
                if written > limit {
                    return Err(refuse(
                        ErrorCode::BodyTooLarge,
                        "the archive exceeds the size limit",
                    ));
                }
                tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                    .await
                    .map_err(|_| refuse(ErrorCode::Internal, "cannot spool the upload"))?;
            }
            tokio::io::AsyncWriteExt::flush(&mut file)
                .await
                .map_err(|_| refuse(ErrorCode::Internal, "cannot spool the upload"))?;
            Ok(SpooledBody(spool))
        })
    }
}
