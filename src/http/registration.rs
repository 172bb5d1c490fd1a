//! Registrations of a person's family doctor, consent, the person's own view (`/me`) and
//! notifications. Each handler states the roles it is open to (`Authorized<…>`), checked
//! before the body is read.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use serde::{Deserialize, Serialize};

use super::extract::{
    Authorized, ConsentRecorders, JsonBody, NotificationReaders, PersonClientIssuers, Persons,
    RawBody, RegistrationManagers, RegistrationReaders,
};
use super::problem::HttpProblem;
use super::{query, respond};
use crate::api_schema;
use crate::app::AppState;
use crate::service::clients::CreatedClient;
use crate::service::consent::{ConsentChange, ConsentView};
use crate::service::notifications::NotificationPage;
use crate::service::person::{self, AccessPage, PersonClientRequest, PersonView};
use crate::service::registration::{
    self, RegistrationRequest, RegistrationStatus, RegistrationView,
};

type ApiResult = Result<HttpResponse, HttpProblem>;

/// Proposes a person's family doctor. Active at once when nothing is replaced (or the
/// doctor changes within the institution, or the institution records the person's signed
/// request, as the operator's policy allows); otherwise pending until the person confirms.
#[utoipa::path(tag = "registration", request_body = RegistrationRequest, responses(
    (status = 201, description = "registered (status active) or waiting for the person (status pending)", body = RegistrationView),
    (status = 401, description = "no or invalid credentials"),
    (status = 403, description = "not the doctor/EMR of the institution nor the person's insurer"),
    (status = 415, description = "not JSON"),
    (status = 422, description = "invalid body, unknown or uncertified institution, practitioner elsewhere")
), security(("bearer" = [])))]
#[post("/registrations")]
pub async fn register(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<RegistrationManagers>,
    JsonBody(body): JsonBody,
) -> ApiResult {
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

/// The current registration and the history of a person (proposals and consent only to
/// the parties).
#[utoipa::path(tag = "registration", params(MemberQuery), responses(
    (status = 200, body = RegistrationStatus),
    (status = 400, description = "bad member id"),
    (status = 401, description = "no or invalid credentials"),
    (status = 403, description = "not a provider, the person's insurer nor the person")
), security(("bearer" = [])))]
#[get("/registrations")]
pub async fn status(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<RegistrationReaders>,
    req: HttpRequest,
) -> ApiResult {
    let q: MemberQuery = query::parse(&req).map_err(HttpProblem::json)?;
    let status = registration::status(&app, &ctx, &q.member)
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &status))
}

/// Ends an active registration (its institution) or withdraws a pending proposal (its
/// proposer).
#[utoipa::path(tag = "registration", params(("id" = i64, Path, description = "registration id")), responses(
    (status = 200, description = "ended or withdrawn", body = RegistrationView),
    (status = 401, description = "no or invalid credentials"),
    (status = 403, description = "the role never manages registrations"),
    (status = 404, description = "no active or pending registration with this id that the caller manages")
), security(("bearer" = [])))]
#[delete("/registrations/{id}")]
pub async fn end(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<RegistrationManagers>,
    id: web::Path<i64>,
) -> ApiResult {
    let view = registration::end(&app, &ctx, id.into_inner())
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &view))
}

/// Records a decision on sharing lab values with the insurer: the registered institution
/// on the person's documented behalf (`evidence`), the insurer a withdrawal it received,
/// or the person.
#[utoipa::path(tag = "registration", request_body = ConsentChange, responses(
    (status = 200, description = "recorded; in force from now", body = ConsentView),
    (status = 401, description = "no or invalid credentials"),
    (status = 403, description = "not the person, the registered institution nor the person's insurer; or an insurer granting"),
    (status = 404, description = "no active registration for this member"),
    (status = 422, description = "an institution without the person's signed document")
), security(("bearer" = [])))]
#[post("/consents")]
pub async fn consent(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<ConsentRecorders>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let change: ConsentChange = api_schema::parse(&body).map_err(HttpProblem::json)?;
    let view = crate::service::consent::change(&app, &ctx, change)
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &view))
}

/// The person's registration, the proposals waiting for them, and their consent.
#[utoipa::path(tag = "person", responses(
    (status = 200, body = PersonView),
    (status = 401, description = "no or invalid credentials"),
    (status = 403, description = "not a person client")
), security(("bearer" = [])))]
#[get("/me")]
pub async fn me(app: web::Data<AppState>, Authorized(ctx, _): Authorized<Persons>) -> ApiResult {
    let view = person::view(&app, &ctx).await.map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &view))
}

/// What the person answers to a proposal.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// The person's consent to insurer programs (default: the one the proposal asked for).
    pub insurer_programs: Option<bool>,
}

/// The person confirms a pending registration: it takes effect, ending the previous one.
#[utoipa::path(tag = "person", params(("id" = i64, Path, description = "registration id")),
    request_body(content = ConfirmRequest, description = "optional"), responses(
    (status = 200, description = "in force", body = RegistrationView),
    (status = 401, description = "no or invalid credentials"),
    (status = 403, description = "not a person client"),
    (status = 404, description = "no registration of the person's with this id"),
    (status = 409, description = "not pending (decided, withdrawn or lapsed)")
), security(("bearer" = [])))]
#[post("/me/registrations/{id}/confirm")]
pub async fn confirm(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<Persons>,
    id: web::Path<i64>,
    RawBody(body): RawBody,
) -> ApiResult {
    // The body is optional; read with the same size and time limits as every body.
    let answer: ConfirmRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ConfirmRequest::default()
    } else {
        api_schema::parse(&body).map_err(HttpProblem::json)?
    };
    let view = registration::confirm(&app, &ctx, id.into_inner(), answer.insurer_programs)
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &view))
}

/// The person refuses a pending registration.
#[utoipa::path(tag = "person", params(("id" = i64, Path, description = "registration id")), responses(
    (status = 200, description = "refused", body = RegistrationView),
    (status = 401, description = "no or invalid credentials"),
    (status = 403, description = "not a person client"),
    (status = 404, description = "no registration of the person's with this id"),
    (status = 409, description = "not pending")
), security(("bearer" = [])))]
#[post("/me/registrations/{id}/refuse")]
pub async fn refuse(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<Persons>,
    id: web::Path<i64>,
) -> ApiResult {
    let view = registration::refuse(&app, &ctx, id.into_inner())
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &view))
}

/// The person's own consent decision.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonConsent {
    pub insurer_programs: bool,
}

/// The person gives or withdraws consent to insurer programs.
#[utoipa::path(tag = "person", request_body = PersonConsent, responses(
    (status = 200, description = "recorded; in force from now", body = ConsentView),
    (status = 401, description = "no or invalid credentials"),
    (status = 403, description = "not a person client"),
    (status = 415, description = "not JSON"),
    (status = 422, description = "invalid body")
), security(("bearer" = [])))]
#[put("/me/consent")]
pub async fn my_consent(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<Persons>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let decision: PersonConsent = api_schema::parse(&body).map_err(HttpProblem::json)?;
    let view = crate::service::consent::decide_as_person(&app, &ctx, decision.insurer_programs)
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &view))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AfterQuery {
    /// Entries after this position (`next_after` / `next_since` of the previous page).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// Who read or changed the person's data, oldest first.
#[utoipa::path(tag = "person", params(AfterQuery), responses(
    (status = 200, body = AccessPage),
    (status = 400, description = "bad paging"),
    (status = 401, description = "no or invalid credentials"),
    (status = 403, description = "not a person client")
), security(("bearer" = [])))]
#[get("/me/access")]
pub async fn my_access(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<Persons>,
    req: HttpRequest,
) -> ApiResult {
    let q: AfterQuery = query::parse(&req).map_err(HttpProblem::json)?;
    let page = person::access_log(&app, &ctx, q.after, q.limit)
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &page))
}

/// The caller's notifications (registration and consent changes that concern it).
#[utoipa::path(tag = "registration", params(AfterQuery), responses(
    (status = 200, body = NotificationPage),
    (status = 400, description = "bad paging"),
    (status = 401, description = "no or invalid credentials"),
    (status = 403, description = "administrators have none")
), security(("bearer" = [])))]
#[get("/notifications")]
pub async fn notifications(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<NotificationReaders>,
    req: HttpRequest,
) -> ApiResult {
    let q: AfterQuery = query::parse(&req).map_err(HttpProblem::json)?;
    let page = crate::service::notifications::list(&app, &ctx, q.after, q.limit)
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::OK, &page))
}

/// Issues a `person` client (token shown once) for one of the insurer's members, or (an
/// administrator) for anyone.
#[utoipa::path(tag = "person", request_body = PersonClientRequest, responses(
    (status = 201, description = "created; the token is shown only here", body = CreatedClient),
    (status = 401, description = "no or invalid credentials"),
    (status = 403, description = "not an administrator nor the member's insurer"),
    (status = 415, description = "not JSON"),
    (status = 422, description = "invalid body or member id without 枝番")
), security(("bearer" = [])))]
#[post("/insurer/person-clients")]
pub async fn issue_person_client(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<PersonClientIssuers>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let request: PersonClientRequest = api_schema::parse(&body).map_err(HttpProblem::json)?;
    let created = person::issue_client(&app, &ctx, request)
        .await
        .map_err(HttpProblem::json)?;
    Ok(respond::json(StatusCode::CREATED, &created))
}
