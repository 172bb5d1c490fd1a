//! The directory: public search (JSON), and its maintenance by administrators.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, put, web};

use super::extract::{Authenticated, JsonBody};
use super::problem::HttpProblem;
use super::{query, respond};
use crate::api_schema;
use crate::app::AppState;
use crate::auth::access;
use crate::service::directory::{
    self, DirectoryPage, DirectorySearch, FunctionView, OrganizationRequest, OrganizationView,
    PractitionerRequest, PractitionerView,
};

type ApiResult = Result<HttpResponse, HttpProblem>;

/// Certified institutions by function and place. Public; no patient data (registered
/// persons are shown as `<10` below ten).
#[utoipa::path(tag = "directory", params(DirectorySearch), responses(
    (status = 200, body = DirectoryPage),
    (status = 400, description = "unknown function or prefecture, unknown parameter")
))]
#[get("/directory/organizations")]
pub async fn search(app: web::Data<AppState>, req: HttpRequest) -> ApiResult {
    let q: DirectorySearch = query::parse(&req).map_err(HttpProblem::json)?;
    let page = directory::search(&app, q)
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &page))
}

/// The function vocabulary (common functions are required for certification).
#[utoipa::path(tag = "directory", responses((status = 200, body = Vec<FunctionView>)))]
#[get("/directory/functions")]
pub async fn functions() -> HttpResponse {
    respond::json(StatusCode::OK, &directory::functions())
}

/// Creates or replaces an institution and its certification (admin).
#[utoipa::path(tag = "admin", params(("code" = String, Path, description = "10-digit institution code")),
    request_body = OrganizationRequest, responses(
    (status = 201, description = "created", body = OrganizationView),
    (status = 200, description = "replaced", body = OrganizationView),
    (status = 422, description = "invalid body (e.g. certified without every common function)")
), security(("bearer" = [])))]
#[put("/admin/organizations/{code}")]
pub async fn put_organization(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    code: web::Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    access::require_role(&ctx.caller, access::ADMINISTRATORS).map_err(HttpProblem::json)?;
    let request: OrganizationRequest = api_schema::parse(&body).map_err(HttpProblem::json)?;
    let (view, created) = directory::put_organization(&app, &ctx, &code, request)
        .await
        .map_err(HttpProblem::json)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(respond::json(status, &view))
}

/// Creates or replaces a practitioner (admin).
#[utoipa::path(tag = "admin", params(("id" = String, Path, description = "practitioner id")),
    request_body = PractitionerRequest, responses(
    (status = 201, description = "created", body = PractitionerView),
    (status = 200, description = "replaced", body = PractitionerView)
), security(("bearer" = [])))]
#[put("/admin/practitioners/{id}")]
pub async fn put_practitioner(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    id: web::Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    access::require_role(&ctx.caller, access::ADMINISTRATORS).map_err(HttpProblem::json)?;
    let request: PractitionerRequest = api_schema::parse(&body).map_err(HttpProblem::json)?;
    let (view, created) = directory::put_practitioner(&app, &ctx, &id, request)
        .await
        .map_err(HttpProblem::json)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(respond::json(status, &view))
}
