//! Push-type matching: the insurer's needs (`/insurer/needs`), institutions' view of their
//! region's needs and their raised hands (`/needs`), the member's acceptance (`/me/needs`).
//! Each handler states its roles (`Authorized<…>`, checked before the body is read).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, web};

use super::extract::{Authorized, Insurers, JsonBody, NeedResponders, Persons};
use super::problem::HttpProblem;
use super::respond;
use crate::api_schema;
use crate::app::AppState;
use crate::service::matching::{
    self, AcceptRequest, AnonymousNeedView, ConditionView, HandRequest, NeedRequest, NeedView,
};
use crate::service::registration::RegistrationView;

type ApiResult = Result<HttpResponse, HttpProblem>;

/// Posts a member's need; certified institutions of the region are told without the
/// member's identity.
#[utoipa::path(tag = "matching", request_body = NeedRequest, responses(
    (status = 201, body = NeedView),
    (status = 401, description = "no or invalid credentials"),
    (status = 403, description = "not an insurer, or not its member"),
    (status = 415, description = "not JSON"),
    (status = 422, description = "invalid body: unknown category or function, bad prefecture")
), security(("bearer" = [])))]
#[post("/insurer/needs")]
pub async fn post_need(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<Insurers>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let request: NeedRequest = api_schema::parse(&body).map_err(HttpProblem::json)?;
    let view = matching::post(&app, &ctx, request)
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::CREATED, &view))
}

/// The insurer's needs with the hands raised, newest first.
#[utoipa::path(tag = "matching", responses(
    (status = 200, body = Vec<NeedView>),
    (status = 401, description = "no or invalid credentials"),
    (status = 403, description = "not an insurer")
), security(("bearer" = [])))]
#[get("/insurer/needs")]
pub async fn insurer_needs(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<Insurers>,
) -> ApiResult {
    let views = matching::of_insurer(&app, &ctx)
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &views))
}

/// Withdraws an open need.
#[utoipa::path(tag = "matching", params(("id" = i64, Path, description = "need id")), responses(
    (status = 200, body = NeedView),
    (status = 401, description = "no or invalid credentials"),
    (status = 403, description = "not an insurer"),
    (status = 404, description = "no need of this insurer with this id"),
    (status = 409, description = "no longer open")
), security(("bearer" = [])))]
#[delete("/insurer/needs/{id}")]
pub async fn withdraw_need(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<Insurers>,
    id: web::Path<i64>,
) -> ApiResult {
    let view = matching::withdraw(&app, &ctx, id.into_inner())
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &view))
}

/// The open needs of the caller's region (certified institutions), without identity.
#[utoipa::path(tag = "matching", responses(
    (status = 200, body = Vec<AnonymousNeedView>),
    (status = 401, description = "no or invalid credentials"),
    (status = 403, description = "not the EMR or a doctor of a certified institution")
), security(("bearer" = [])))]
#[get("/needs")]
pub async fn region_needs(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<NeedResponders>,
) -> ApiResult {
    let views = matching::of_region(&app, &ctx)
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &views))
}

/// The condition categories a need may name (public).
#[utoipa::path(tag = "matching", responses((status = 200, body = Vec<ConditionView>)))]
#[get("/needs/vocabulary")]
pub async fn vocabulary() -> HttpResponse {
    respond::json(StatusCode::OK, &matching::conditions())
}

/// Raises the institution's hand on a need of its region (again: replaces its doctor and
/// note).
#[utoipa::path(tag = "matching", params(("id" = i64, Path, description = "need id")),
    request_body = HandRequest, responses(
    (status = 201, body = AnonymousNeedView),
    (status = 401, description = "no or invalid credentials"),
    (status = 403, description = "not the EMR or a doctor of a certified institution; a doctor naming another"),
    (status = 404, description = "no open need of the region with this id"),
    (status = 409, description = "no longer open"),
    (status = 422, description = "practitioner not of this institution, note too long")
), security(("bearer" = [])))]
#[post("/needs/{id}/hands")]
pub async fn raise_hand(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<NeedResponders>,
    id: web::Path<i64>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let request: HandRequest = api_schema::parse(&body).map_err(HttpProblem::json)?;
    let view = matching::raise_hand(&app, &ctx, id.into_inner(), request)
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::CREATED, &view))
}

/// The needs the person's insurer posted for them, with the hands raised.
#[utoipa::path(tag = "person", responses(
    (status = 200, body = Vec<NeedView>),
    (status = 401, description = "no or invalid credentials"),
    (status = 403, description = "not a person client")
), security(("bearer" = [])))]
#[get("/me/needs")]
pub async fn my_needs(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<Persons>,
) -> ApiResult {
    let views = matching::of_person(&app, &ctx)
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &views))
}

/// The person accepts a hand: the registration with that institution takes effect (their
/// confirmation), ending the previous one.
#[utoipa::path(tag = "person", params(("id" = i64, Path, description = "need id")),
    request_body = AcceptRequest, responses(
    (status = 200, description = "registered", body = RegistrationView),
    (status = 401, description = "no or invalid credentials"),
    (status = 403, description = "not a person client"),
    (status = 404, description = "no need of the person's with this id"),
    (status = 409, description = "no longer open, or the institution can no longer be chosen"),
    (status = 422, description = "no such hand on this need")
), security(("bearer" = [])))]
#[post("/me/needs/{id}/accept")]
pub async fn accept(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<Persons>,
    id: web::Path<i64>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let request: AcceptRequest = api_schema::parse(&body).map_err(HttpProblem::json)?;
    let view = matching::accept(&app, &ctx, id.into_inner(), request)
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &view))
}
