//! Health, readiness and metrics (no authentication).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use super::respond;
use crate::app::AppState;
use crate::service::health;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Status {
    pub status: String,
}

/// Liveness: the process serves requests.
#[utoipa::path(tag = "operations", responses((status = 200, description = "alive", body = Status)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    respond::json(
        StatusCode::OK,
        &Status {
            status: "ok".into(),
        },
    )
}

/// Readiness: the database answers and stores (a committed one-row write).
#[utoipa::path(tag = "operations", responses(
    (status = 200, description = "ready", body = Status),
    (status = 503, description = "database unreachable or cannot store", body = Status)
))]
#[get("/readyz")]
pub async fn readyz(app: web::Data<AppState>) -> HttpResponse {
    match health::ready(&app).await {
        Ok(()) => respond::json(
            StatusCode::OK,
            &Status {
                status: "ready".into(),
            },
        ),
        Err(reason) => respond::json(StatusCode::SERVICE_UNAVAILABLE, &Status { status: reason }),
    }
}

/// Prometheus text exposition.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
#[get("/metrics")]
pub async fn metrics(app: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(health::metrics_text(&app))
}
