//! `GET /insurer/findings`: program findings of the insurer's registered, consenting
//! members, as JSON or as a FHIR `DetectedIssue` Bundle, paged by an opaque cursor.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Deserialize;

use super::extract::{Authorized, Insurers, base_url};
use super::problem::HttpProblem;
use super::{query, respond};
use crate::app::AppState;
use crate::error::{ErrorCode, Problem};
use crate::service::fhir::query_string;
use crate::service::program_findings::{self, FindingsPage, FindingsRequest};

/// Query of a findings page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FindingsQuery {
    /// The cursor from `Kakari-Next-Cursor` of the previous page (absent: from the first member).
    pub since: Option<String>,
    /// Members evaluated per page, 1-1000 (default 100).
    pub limit: Option<i64>,
    /// The day the findings are as of, `YYYY-MM-DD` (default: today in Japan).
    #[serde(rename = "asOf")]
    #[param(rename = "asOf")]
    pub as_of: Option<String>,
    /// `json` (default) or `fhir` (a searchset Bundle of DetectedIssue).
    pub format: Option<String>,
}

/// Findings of the insurer's members with an active registration and consent: duplicate
/// therapy and polypharmacy (medication list, claims included), untreated high-risk
/// values, interrupted treatment, frequent tests; each explains its rule, threshold and
/// records.
#[utoipa::path(tag = "insurer", params(FindingsQuery), responses(
    (status = 200, description = "a page of findings (JSON or a FHIR Bundle)", body = FindingsPage,
        headers(("Kakari-Next-Cursor" = String, description = "cursor of the next members"))),
    (status = 400, description = "bad cursor, limit, asOf or format"),
    (status = 401, description = "no or invalid credentials"),
    (status = 403, description = "not an insurer")
), security(("bearer" = [])))]
#[get("/insurer/findings")]
pub async fn findings(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<Insurers>,
    req: HttpRequest,
) -> Result<HttpResponse, HttpProblem> {
    let q: FindingsQuery = query::parse(&req).map_err(HttpProblem::json)?;
    let fhir = match q.format.as_deref() {
        None | Some("json") => false,
        Some("fhir") => true,
        Some(_) => {
            return Err(HttpProblem::json(Problem::new(
                ErrorCode::InvalidParameter,
                "format",
                "json or fhir",
            )));
        }
    };
    let limit = q.limit.unwrap_or(100);
    let page = program_findings::list(
        &app,
        &ctx,
        FindingsRequest {
            since: q.since.clone(),
            limit,
            as_of: q.as_of.clone(),
        },
    )
    .await
    .map_err(HttpProblem::json)?;
    let cursor = page.next_cursor.clone();
    if !fhir {
        let mut response = respond::json(StatusCode::OK, &page);
        if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&cursor) {
            response.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static("kakari-next-cursor"),
                v,
            );
        }
        return Ok(response);
    }
    let base = base_url(
        &req,
        app.config.public_base_url.as_deref(),
        "/insurer/findings",
    );
    let mut params = vec![
        ("format".to_owned(), "fhir".to_owned()),
        ("limit".to_owned(), limit.to_string()),
    ];
    if let Some(a) = &q.as_of {
        params.push(("asOf".into(), a.clone()));
    }
    let mut this = params.clone();
    if let Some(s) = &q.since {
        this.push(("since".into(), s.clone()));
    }
    let self_url = format!("{base}?{}", query_string(&this));
    params.push(("since".into(), cursor.clone()));
    let next_url = format!("{base}?{}", query_string(&params));
    let bundle = program_findings::as_fhir(
        &page,
        &self_url,
        (!page.complete).then_some(next_url.as_str()),
    );
    Ok(HttpResponse::Ok()
        .content_type(respond::FHIR_JSON)
        .insert_header(("Kakari-Next-Cursor", cursor))
        .body(super::respond::json_bytes(&bundle)))
}
