//! Registrations of a person's family doctor, and consent.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use serde::Deserialize;

use super::extract::{Authenticated, JsonBody};
use super::problem::HttpProblem;
use super::{query, respond};
use crate::api_schema;
use crate::app::AppState;
use crate::auth::access;
use crate::service::registration::{
    self, ConsentChange, ConsentView, RegistrationRequest, RegistrationStatus, RegistrationView,
};

type ApiResult = Result<HttpResponse, HttpProblem>;

/// Registers a person's family doctor; ends the previous registration.
#[utoipa::path(tag = "registration", request_body = RegistrationRequest, responses(
    (status = 201, description = "registered", body = RegistrationView),
    (status = 403, description = "not the doctor/EMR of the institution nor the person's insurer"),
    (status = 422, description = "invalid body, unknown or uncertified institution, practitioner elsewhere")
), security(("bearer" = [])))]
#[post("/registrations")]
pub async fn register(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    JsonBody(body): JsonBody,
) -> ApiResult {
    access::require_role(&ctx.caller, access::REGISTRATION_MANAGERS).map_err(HttpProblem::json)?;
    let request: RegistrationRequest = api_schema::parse(&body).map_err(HttpProblem::json)?;
    let view = registration::register(&app, &ctx, request)
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::CREATED, &view))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MemberQuery {
    /// `保険者番号:記号:番号[:枝番]`.
    pub member: String,
}

/// The current registration and the history of a person.
#[utoipa::path(tag = "registration", params(MemberQuery), responses(
    (status = 200, body = RegistrationStatus),
    (status = 403, description = "not a provider nor the person's insurer")
), security(("bearer" = [])))]
#[get("/registrations")]
pub async fn status(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    req: HttpRequest,
) -> ApiResult {
    let q: MemberQuery = query::parse(&req).map_err(HttpProblem::json)?;
    let status = registration::status(&app, &ctx, &q.member)
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &status))
}

/// Ends a registration.
#[utoipa::path(tag = "registration", params(("id" = i64, Path, description = "registration id")), responses(
    (status = 200, description = "ended", body = RegistrationView),
    (status = 404, description = "no active registration with this id that the caller manages")
), security(("bearer" = [])))]
#[delete("/registrations/{id}")]
pub async fn end(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    id: web::Path<i64>,
) -> ApiResult {
    let view = registration::end(&app, &ctx, id.into_inner())
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &view))
}

/// Records the person's decision on sharing lab values with the insurer.
#[utoipa::path(tag = "registration", request_body = ConsentChange, responses(
    (status = 200, description = "recorded; in force from now", body = ConsentView),
    (status = 404, description = "no active registration for this member")
), security(("bearer" = [])))]
#[post("/consents")]
pub async fn consent(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    JsonBody(body): JsonBody,
) -> ApiResult {
    access::require_role(&ctx.caller, access::REGISTRATION_MANAGERS).map_err(HttpProblem::json)?;
    let change: ConsentChange = api_schema::parse(&body).map_err(HttpProblem::json)?;
    let view = registration::change_consent(&app, &ctx, change)
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &view))
}
