//! Administration: API clients and the audit trail.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};

use super::extract::{Authenticated, JsonBody, base_url};
use super::problem::HttpProblem;
use super::{query, respond};
use crate::api_schema;
use crate::app::AppState;
use crate::auth::access;
use crate::error::{ErrorCode, Problem};
use crate::service::audit::{self, AuditPage, AuditQuery};
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

/// The audit trail, oldest first, filtered and paged. The next page's cursor is in
/// `Kakari-Next-Cursor` (and `next_cursor` / the Bundle's `next` link).
#[utoipa::path(tag = "admin", params(AuditQuery), responses(
    (status = 200, description = "a page of the trail (JSON, or FHIR with format=fhir)", body = AuditPage,
        headers(("Kakari-Next-Cursor" = String, description = "cursor of the next page"))),
    (status = 400, description = "bad filter, cursor, format or limit"),
    (status = 401, description = "no or bad token"),
    (status = 403, description = "not an administrator")
), security(("bearer" = [])))]
#[get("/admin/audit")]
pub async fn list_audit(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    req: HttpRequest,
) -> ApiResult {
    access::require_role(&ctx.caller, access::ADMINISTRATORS).map_err(HttpProblem::json)?;
    let q: AuditQuery = query::parse(&req).map_err(HttpProblem::json)?;
    let fhir = match q.format.as_deref() {
        None | Some("json") => false,
        Some("fhir") => true,
        Some(_) => {
            return Err(HttpProblem::json(Problem::new(
                ErrorCode::InvalidParameter,
                "format",
                "format is json or fhir",
            )));
        }
    };
    let listing = audit::list(&app, &ctx, q)
        .await
        .map_err(HttpProblem::json)?;
    let mut response = HttpResponse::Ok();
    response.insert_header(("Kakari-Next-Cursor", listing.next_cursor.clone()));
    if fhir {
        let base = base_url(&req, app.config.public_base_url.as_deref(), "/admin/audit");
        let rest: Vec<&str> = req
            .query_string()
            .split('&')
            .filter(|pair| !pair.is_empty() && !pair.starts_with("cursor="))
            .collect();
        let bundle = listing.fhir(&base, &rest.join("&"));
        Ok(response
            .content_type(respond::FHIR_JSON)
            .body(super::respond::json_bytes(&bundle)))
    } else {
        Ok(response
            .content_type("application/json")
            .body(serde_json::to_string(&listing.page()).unwrap_or_default()))
    }
}
