//! FHIR R4 routes under `/fhir`. Each handler extracts, calls one service function, and
//! responds; errors are OperationOutcomes.

use actix_web::{HttpRequest, HttpResponse, web};

use super::extract::{Authenticated, JsonBody, base_url};
use super::problem::HttpProblem;
use super::respond;
use crate::app::AppState;
use crate::codec::fhir::bundle::parse_etag;
use crate::codec::fhir::{ResourceType, capability};
use crate::error::{ErrorCode, Problem};
use crate::service::fhir::registry::{self, RegistryType};
use crate::service::fhir::{ReturnPreference, bundle, rest};
use crate::service::medication_list::{self, Whose};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/fhir")
            // Inquiries and subscriptions first: their own handlers and roles.
            .configure(super::collaboration::fhir_routes)
            .service(
                web::resource(["", "/"])
                    .route(web::post().to(post_bundle))
                    .default_service(web::to(super::method_not_allowed)),
            )
            .service(
                web::resource("/metadata")
                    .route(web::get().to(metadata))
                    .default_service(web::to(super::method_not_allowed)),
            )
            .service(
                web::resource("/Patient/$medication-list")
                    .route(web::get().to(medication_list_of_member))
                    .default_service(web::to(super::method_not_allowed)),
            )
            .service(
                web::resource("/Patient/{id}/$medication-list")
                    .route(web::get().to(medication_list_of_patient))
                    .default_service(web::to(super::method_not_allowed)),
            )
            .service(
                web::resource("/{type}")
                    .route(web::get().to(search))
                    .route(web::post().to(create))
                    .default_service(web::to(super::method_not_allowed)),
            )
            .service(
                web::resource("/{type}/{id}")
                    .route(web::get().to(read))
                    .route(web::put().to(update))
                    .default_service(web::to(super::method_not_allowed)),
            ),
    );
}

type FhirResult = Result<HttpResponse, HttpProblem>;

/// A stored type, or the registry's derived (read-only) types.
enum Served {
    Stored(ResourceType),
    Registry(RegistryType),
}

fn served_type(name: &str) -> Result<Served, HttpProblem> {
    match RegistryType::parse(name) {
        Some(t) => Ok(Served::Registry(t)),
        None => resource_type(name).map(Served::Stored),
    }
}

/// A type that can be written: registry types are derived and read-only.
fn writable_type(name: &str) -> Result<ResourceType, HttpProblem> {
    if RegistryType::parse(name).is_some() {
        return Err(HttpProblem::fhir(Problem::new(
            ErrorCode::UnsupportedInteraction,
            "type",
            "derived from registrations, consents and the directory: read-only (use /registrations, /consents, /admin/organizations)",
        )));
    }
    resource_type(name)
}

fn resource_type(name: &str) -> Result<ResourceType, HttpProblem> {
    ResourceType::parse(name).ok_or_else(|| {
        HttpProblem::fhir(Problem::new(
            ErrorCode::UnsupportedResourceType,
            "type",
            "resource type not served (see /fhir/metadata)",
        ))
    })
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|h| h.to_str().ok())
}

/// Refuses an `Accept` that rules out JSON.
/// The version an `If-Match` header names, if any.
pub(super) fn if_match(req: &HttpRequest) -> Result<Option<i64>, HttpProblem> {
    match header(req, "If-Match") {
        Some(raw) => Ok(Some(parse_etag(raw).ok_or_else(|| {
            HttpProblem::fhir(Problem::new(
                ErrorCode::InvalidParameter,
                "If-Match",
                "expected W/\"<version>\"",
            ))
        })?)),
        None => Ok(None),
    }
}

pub(super) fn check_accept(req: &HttpRequest) -> Result<(), HttpProblem> {
    match header(req, "Accept") {
        None => Ok(()),
        Some(a)
            if a.contains("json")
                || a.contains("*/*")
                || a.contains("application/*")
                || a.trim().is_empty() =>
        {
            Ok(())
        }
        Some(_) => Err(HttpProblem::fhir(Problem::new(
            ErrorCode::NotAcceptable,
            "Accept",
            "this server produces application/fhir+json",
        ))),
    }
}

pub(super) fn base(app: &AppState, req: &HttpRequest) -> String {
    base_url(req, app.config.public_base_url.as_deref(), "/fhir")
}

/// Query pairs in order, repeats kept (`date=ge2020&date=lt2021`).
pub(super) fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    req.query_string()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

async fn metadata(app: web::Data<AppState>, req: HttpRequest) -> FhirResult {
    check_accept(&req)?;
    let statement = capability::statement(&base(&app, &req), env!("CARGO_PKG_VERSION"));
    Ok(HttpResponse::Ok()
        .content_type(respond::FHIR_JSON)
        .body(super::respond::json_bytes(&statement)))
}

async fn create(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
    req: HttpRequest,
    JsonBody(body): JsonBody,
) -> FhirResult {
    check_accept(&req)?;
    let rtype = writable_type(&path)?;
    let if_none_exist = header(&req, "If-None-Exist").map(str::to_owned);
    let prefer = ReturnPreference::from_prefer(header(&req, "Prefer"));
    let resp = rest::create(
        &app,
        &ctx,
        rtype,
        &body,
        if_none_exist,
        prefer,
        &base(&app, &req),
    )
    .await
    .map_err(HttpProblem::fhir)?;
    Ok(respond::fhir(resp))
}

async fn update(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    JsonBody(body): JsonBody,
) -> FhirResult {
    check_accept(&req)?;
    let (type_name, id) = path.into_inner();
    let rtype = writable_type(&type_name)?;
    let if_match = if_match(&req)?;
    let prefer = ReturnPreference::from_prefer(header(&req, "Prefer"));
    let resp = rest::update(
        &app,
        &ctx,
        rtype,
        &id,
        &body,
        if_match,
        prefer,
        &base(&app, &req),
    )
    .await
    .map_err(HttpProblem::fhir)?;
    Ok(respond::fhir(resp))
}

async fn read(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> FhirResult {
    check_accept(&req)?;
    let (type_name, id) = path.into_inner();
    let resp = match served_type(&type_name)? {
        Served::Stored(rtype) => rest::read(&app, &ctx, rtype, &id, &base(&app, &req)).await,
        Served::Registry(rtype) => registry::read(&app, &ctx, rtype, &id).await,
    }
    .map_err(HttpProblem::fhir)?;
    Ok(respond::fhir(resp))
}

async fn search(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
    req: HttpRequest,
) -> FhirResult {
    check_accept(&req)?;
    let (pairs, base) = (query_pairs(&req), base(&app, &req));
    let resp = match served_type(&path)? {
        Served::Stored(rtype) => rest::search(&app, &ctx, rtype, &pairs, &base).await,
        Served::Registry(rtype) => registry::search(&app, &ctx, rtype, &pairs, &base).await,
    }
    .map_err(HttpProblem::fhir)?;
    Ok(respond::fhir(resp))
}

async fn post_bundle(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    req: HttpRequest,
    JsonBody(body): JsonBody,
) -> FhirResult {
    check_accept(&req)?;
    let resp = bundle::process(&app, &ctx, &body)
        .await
        .map_err(HttpProblem::fhir)?;
    Ok(respond::fhir(resp))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ListByMember {
    member: String,
    #[serde(rename = "asOf")]
    as_of: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ListAsOf {
    #[serde(rename = "asOf")]
    as_of: Option<String>,
}

/// `GET /fhir/Patient/$medication-list?member=…&asOf=…`.
async fn medication_list_of_member(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    req: HttpRequest,
) -> FhirResult {
    check_accept(&req)?;
    let q: ListByMember = super::query::parse(&req).map_err(HttpProblem::fhir)?;
    let bundle = medication_list::as_fhir(&app, &ctx, Whose::Member(q.member), q.as_of.as_deref())
        .await
        .map_err(HttpProblem::fhir)?;
    Ok(HttpResponse::Ok()
        .content_type(respond::FHIR_JSON)
        .body(super::respond::json_bytes(&bundle)))
}

/// `GET /fhir/Patient/{id}/$medication-list?asOf=…`.
async fn medication_list_of_patient(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    path: web::Path<String>,
    req: HttpRequest,
) -> FhirResult {
    check_accept(&req)?;
    let q: ListAsOf = super::query::parse(&req).map_err(HttpProblem::fhir)?;
    let whose = Whose::Patient(path.into_inner());
    let bundle = medication_list::as_fhir(&app, &ctx, whose, q.as_of.as_deref())
        .await
        .map_err(HttpProblem::fhir)?;
    Ok(HttpResponse::Ok()
        .content_type(respond::FHIR_JSON)
        .body(super::respond::json_bytes(&bundle)))
}
