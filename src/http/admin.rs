//! Administration: API clients and the audit trail.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, web};

use super::extract::{Authenticated, JsonBody};
use super::problem::HttpProblem;
use super::respond;
use crate::api_schema;
use crate::app::AppState;
use crate::auth::access;
use crate::service::clients::{self, ClientRequest, ClientView, CreatedClient};

type ApiResult = Result<HttpResponse, HttpProblem>;

/// Creates an API client; the token is in this response only.
#[utoipa::path(tag = "admin", request_body = ClientRequest, responses(
    (status = 201, description = "created; the token is shown only here", body = CreatedClient),
    (status = 401, description = "no or bad token"),
    (status = 403, description = "not an administrator"),
    (status = 422, description = "invalid body")
), security(("bearer" = [])))]
#[post("/admin/clients")]
pub async fn create_client(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    JsonBody(body): JsonBody,
) -> ApiResult {
    access::require_role(&ctx.caller, access::ADMINISTRATORS).map_err(HttpProblem::json)?;
    let request: ClientRequest = api_schema::parse(&body).map_err(HttpProblem::json)?;
    let created = clients::create(&app, &ctx, request)
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::CREATED, &created))
}

/// Lists API clients (never their tokens).
#[utoipa::path(tag = "admin", responses((status = 200, body = Vec<ClientView>)), security(("bearer" = [])))]
#[get("/admin/clients")]
pub async fn list_clients(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
) -> ApiResult {
    let list = clients::list(&app, &ctx).await.map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &list))
}

/// Revokes a client's token.
#[utoipa::path(tag = "admin", params(("id" = i64, Path, description = "client id")), responses(
    (status = 204, description = "revoked"),
    (status = 404, description = "no active client with this id")
), security(("bearer" = [])))]
#[delete("/admin/clients/{id}")]
pub async fn revoke_client(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    id: web::Path<i64>,
) -> ApiResult {
    clients::revoke(&app, &ctx, id.into_inner())
        .await
        .map_err(HttpProblem::json)?;
    Ok(HttpResponse::NoContent().finish())
}
