//! Code masters (admin): reload without restart, and the unmapped-codes report.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};

use super::extract::Authenticated;
use super::problem::HttpProblem;
use super::respond;
use crate::app::AppState;
use crate::service::masters::{self, ReloadReport, UnmappedView};

/// Re-reads the masters directory (`KAKARI_MASTERS_DIR`) and swaps the drug master in use;
/// on error the master in use stays.
#[utoipa::path(tag = "admin", responses(
    (status = 200, body = ReloadReport),
    (status = 422, description = "a master file cannot be read; the master in use stays")
), security(("bearer" = [])))]
#[post("/admin/masters/reload")]
pub async fn reload(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
) -> Result<HttpResponse, HttpProblem> {
    let report = masters::reload(&app, &ctx)
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &report))
}

/// Drug codes seen since the last (re)load that no master maps, per code system.
#[utoipa::path(tag = "admin", responses((status = 200, body = Vec<UnmappedView>)), security(("bearer" = [])))]
#[get("/admin/masters/unmapped")]
pub async fn unmapped(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
) -> Result<HttpResponse, HttpProblem> {
    let report = masters::unmapped(&app, &ctx).map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &report))
}
