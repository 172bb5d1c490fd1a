//! Insurer endpoints: claims and checkups in, lab values out.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use futures_util::stream;
use serde::Deserialize;

use super::extract::{Authenticated, RawBody};
use super::problem::HttpProblem;
use super::{query, respond};
use crate::app::AppState;
use crate::error::{ErrorCode, Problem};
use crate::service::insurer;
use crate::service::lab_pull::{self, ExportBody, PullFormat, PullRequest};
use crate::service::report::ImportReport;

type ApiResult = Result<HttpResponse, HttpProblem>;

/// Imports a UKE claims file (Shift_JIS, as the receipt system wrote it) of the insurer's
/// own members. Re-posting the same file returns the first report with `duplicate: true`.
#[utoipa::path(tag = "insurer", request_body(content = String, content_type = "application/octet-stream",
    description = "the UKE file's bytes"),
    responses(
        (status = 200, description = "import report", body = ImportReport),
        (status = 403, description = "not an insurer, or no receipt of its members"),
        (status = 422, description = "not a readable UKE file (kept in quarantine)")
    ), security(("bearer" = [])))]
#[post("/insurer/claims")]
pub async fn post_claims(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    RawBody(body): RawBody,
) -> ApiResult {
    let report = insurer::post_claims(&app, &ctx, &body)
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &report))
}

/// Imports 特定健診 results: an MHLW archive (ZIP) or one CDA document.
#[utoipa::path(tag = "insurer", request_body(content = String, content_type = "application/zip",
    description = "the archive or an XML document"),
    responses(
        (status = 200, description = "import report", body = ImportReport),
        (status = 403, description = "not an insurer"),
        (status = 422, description = "no readable document of the insurer's members (kept in quarantine)")
    ), security(("bearer" = [])))]
#[post("/insurer/checkups")]
pub async fn post_checkups(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    RawBody(body): RawBody,
) -> ApiResult {
    let report = insurer::post_checkups(&app, &ctx, &body)
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &report))
}

/// Query of a lab pull.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LabQuery {
    /// The cursor from `Kakari-Next-Cursor` of the previous pull (empty or absent: from the start).
    pub since: Option<String>,
    /// `fhir` (default), `csv` or `tokutei`.
    pub format: Option<String>,
    /// Results per page, 1-10000 (default 1000).
    pub limit: Option<i64>,
}

/// The lab values of the insurer's members who have an active registration and consent,
/// committed after `since`, in commit order. The next cursor is in `Kakari-Next-Cursor`.
#[utoipa::path(tag = "insurer", params(LabQuery), responses(
    (status = 200, description = "a FHIR Bundle, CSV (see docs/api.md), or a 特定健診 ZIP",
        headers(("Kakari-Next-Cursor" = String, description = "cursor of the next page"),
                ("Kakari-Results" = i64, description = "results on this page"))),
    (status = 400, description = "bad cursor, format or limit"),
    (status = 403, description = "not an insurer")
), security(("bearer" = [])))]
#[get("/insurer/lab-results")]
pub async fn lab_results(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    req: HttpRequest,
) -> ApiResult {
    let q: LabQuery = query::parse(&req).map_err(HttpProblem::json)?;
    let format = match q.format.as_deref() {
        None | Some("fhir") => PullFormat::Fhir,
        Some(f) => PullFormat::parse(f).ok_or_else(|| {
            HttpProblem::json(Problem::new(
                ErrorCode::InvalidParameter,
                "format",
                "format is fhir, csv or tokutei",
            ))
        })?,
    };
    let request = PullRequest {
        since: q.since,
        format,
        limit: q.limit.unwrap_or(lab_pull::DEFAULT_LIMIT),
    };
    let export = lab_pull::pull(&app, &ctx, request)
        .await
        .map_err(HttpProblem::json)?;
    let mut response = HttpResponse::Ok();
    response
        .content_type(export.content_type)
        .insert_header(("Kakari-Next-Cursor", export.next_cursor.clone()))
        .insert_header(("Kakari-Results", export.results.to_string()));
    if let Some(name) = &export.file_name {
        response.insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}.zip\""),
        ));
    }
    if let Some(report) = &export.report {
        response.insert_header(("Kakari-Export-Report", report.to_string()));
    }
    Ok(match export.body {
        ExportBody::Whole(bytes) => response.body(bytes),
        ExportBody::Stream(receiver) => {
            response.streaming(stream::unfold(receiver, |mut receiver| async move {
                receiver.recv().await.map(|chunk| {
                    let chunk = chunk
                        .map_err(|p| actix_web::error::ErrorInternalServerError(p.code.as_str()));
                    (chunk, receiver)
                })
            }))
        }
    })
}
