//! `POST /ssmix2`: an SS-MIX2 storage tree as a zip, tar or tar.gz archive.

use actix_web::{HttpResponse, post, web};
use futures_util::stream;
use tokio::sync::mpsc;

use super::extract::{Authenticated, SpooledBody};
use super::problem::HttpProblem;
use crate::app::AppState;
use crate::intake::{FileReport, ImportSummary};
use crate::service::hl7::facility_of;
use crate::service::ssmix2;

/// The per-file import report (streamed as files are committed).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Ssmix2Report {
    pub format: String,
    pub files: Vec<FileReport>,
    pub summary: ImportSummary,
}

/// Imports an SS-MIX2 standardized storage tree. Good files are imported even when others
/// are bad; bad files are kept in quarantine. The report lists every file: `accepted`,
/// `duplicate`, `superseded`, `skipped` (with the reason) or `rejected` (with code and
/// location); it is streamed as each chunk of files commits.
#[utoipa::path(tag = "ssmix2", request_body(content = String, content_type = "application/zip",
    description = "zip, tar or tar.gz of the storage tree"),
    responses(
        (status = 200, description = "per-file import report", body = Ssmix2Report),
        (status = 413, description = "archive larger than max_archive_bytes"),
        (status = 415, description = "not a zip, tar or tar.gz archive")
    ), security(("bearer" = [])))]
#[post("/ssmix2")]
pub async fn post_ssmix2(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    SpooledBody(spool): SpooledBody,
) -> Result<HttpResponse, HttpProblem> {
    let facility = facility_of(&ctx).map_err(HttpProblem::json)?;
    let kind = ssmix2::check_archive(spool.path()).map_err(HttpProblem::json)?;
    let (sender, receiver) = mpsc::channel(8);
    let app = app.into_inner();
    tokio::task::spawn_blocking(move || {
        // The spool lives until the import is done.
        ssmix2::run(app, ctx, spool.path(), kind, facility, sender);
        drop(spool);
    });
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .streaming(stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|chunk| {
                let chunk =
                    chunk.map_err(|p| actix_web::error::ErrorInternalServerError(p.code.as_str()));
                (chunk, receiver)
            })
        })))
}
