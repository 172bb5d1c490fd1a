//! Collaboration routes under `/fhir`: inquiries as `Task` (create, read, update, search,
//! history), `Subscription` (create, read, list, end, `$status`, `$redeliver`), and the
//! satisfaction survey (`Questionnaire`, `QuestionnaireResponse`). Each
//! handler states its roles (`Authorized<…>`, checked before the body is read), calls one
//! service function and responds; errors are OperationOutcomes.

use actix_web::{HttpRequest, HttpResponse, web};

use super::extract::{
    Authorized, InquiryAskers, InquiryParties, JsonBody, Subscribers, SubscriptionManagers,
    SurveyRespondents,
};
use super::fhir::{base, check_accept, if_match, query_pairs};
use super::problem::HttpProblem;
use super::respond;
use crate::app::AppState;
use crate::error::{ErrorCode, Problem};
use crate::service::{inquiries, subscriptions, surveys};

type FhirResult = Result<HttpResponse, HttpProblem>;

/// Registers the routes on the `/fhir` scope (before the generic `/{type}` ones).
pub fn fhir_routes(cfg: &mut web::ServiceConfig) {
    let not_allowed = || web::to(super::method_not_allowed);
    cfg.service(
        web::resource("/Task")
            .route(web::post().to(create_task))
            .route(web::get().to(search_tasks))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/Task/{id}")
            .route(web::get().to(read_task))
            .route(web::put().to(update_task))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/Task/{id}/_history")
            .route(web::get().to(task_history))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/Task/{id}/_history/{version}")
            .route(web::get().to(read_task_version))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/Subscription")
            .route(web::post().to(create_subscription))
            .route(web::get().to(search_subscriptions))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/Subscription/{id}")
            .route(web::get().to(read_subscription))
            .route(web::delete().to(end_subscription))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/Subscription/{id}/$status")
            .route(web::get().to(subscription_status))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/Subscription/{id}/$redeliver")
            .route(web::post().to(redeliver))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/Questionnaire/{id}")
            .route(web::get().to(read_questionnaire))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/QuestionnaireResponse")
            .route(web::post().to(submit_survey))
            .default_service(not_allowed()),
    );
}

/// kakari's satisfaction questionnaire (no patient data, no credentials needed).
async fn read_questionnaire(id: web::Path<String>, req: HttpRequest) -> FhirResult {
    check_accept(&req)?;
    if id.as_str() != crate::codec::fhir::survey::QUESTIONNAIRE_ID {
        return Err(HttpProblem::fhir(Problem::new(
            ErrorCode::ResourceNotFound,
            "Questionnaire",
            "no such resource",
        )));
    }
    fhir(Ok(surveys::questionnaire()))
}

async fn submit_survey(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<SurveyRespondents>,
    req: HttpRequest,
    JsonBody(body): JsonBody,
) -> FhirResult {
    check_accept(&req)?;
    fhir(surveys::submit(&app, &ctx, &body, &base(&app, &req)).await)
}

fn fhir(resp: Result<crate::service::fhir::FhirResponse, Problem>) -> FhirResult {
    resp.map(respond::fhir).map_err(HttpProblem::fhir)
}

async fn create_task(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<InquiryAskers>,
    req: HttpRequest,
    JsonBody(body): JsonBody,
) -> FhirResult {
    check_accept(&req)?;
    fhir(inquiries::create(&app, &ctx, &body, &base(&app, &req)).await)
}

async fn search_tasks(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<InquiryParties>,
    req: HttpRequest,
) -> FhirResult {
    check_accept(&req)?;
    fhir(inquiries::search(&app, &ctx, &query_pairs(&req), &base(&app, &req)).await)
}

async fn read_task(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<InquiryParties>,
    id: web::Path<String>,
    req: HttpRequest,
) -> FhirResult {
    check_accept(&req)?;
    fhir(inquiries::read(&app, &ctx, &id, None, &base(&app, &req)).await)
}

async fn read_task_version(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<InquiryParties>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> FhirResult {
    check_accept(&req)?;
    let (id, version) = path.into_inner();
    fhir(inquiries::read(&app, &ctx, &id, Some(&version), &base(&app, &req)).await)
}

async fn task_history(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<InquiryParties>,
    id: web::Path<String>,
    req: HttpRequest,
) -> FhirResult {
    check_accept(&req)?;
    fhir(inquiries::history(&app, &ctx, &id, &base(&app, &req)).await)
}

async fn update_task(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<InquiryParties>,
    id: web::Path<String>,
    req: HttpRequest,
    JsonBody(body): JsonBody,
) -> FhirResult {
    check_accept(&req)?;
    let if_match = if_match(&req)?;
    fhir(inquiries::update(&app, &ctx, &id, &body, if_match, &base(&app, &req)).await)
}

async fn create_subscription(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<Subscribers>,
    req: HttpRequest,
    JsonBody(body): JsonBody,
) -> FhirResult {
    check_accept(&req)?;
    fhir(subscriptions::create(&app, &ctx, &body, &base(&app, &req)).await)
}

async fn search_subscriptions(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<Subscribers>,
    req: HttpRequest,
) -> FhirResult {
    check_accept(&req)?;
    fhir(subscriptions::search(&app, &ctx, &query_pairs(&req), &base(&app, &req)).await)
}

async fn read_subscription(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<SubscriptionManagers>,
    id: web::Path<String>,
    req: HttpRequest,
) -> FhirResult {
    check_accept(&req)?;
    fhir(subscriptions::read(&app, &ctx, &id).await)
}

async fn end_subscription(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<Subscribers>,
    id: web::Path<String>,
    req: HttpRequest,
) -> FhirResult {
    check_accept(&req)?;
    fhir(subscriptions::end(&app, &ctx, &id).await)
}

async fn subscription_status(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<SubscriptionManagers>,
    id: web::Path<String>,
    req: HttpRequest,
) -> FhirResult {
    check_accept(&req)?;
    fhir(subscriptions::status(&app, &ctx, &id, &base(&app, &req)).await)
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RedeliverQuery {
    /// Only this event number (also one already delivered); default every dead letter.
    event: Option<i64>,
}

async fn redeliver(
    app: web::Data<AppState>,
    Authorized(ctx, _): Authorized<SubscriptionManagers>,
    id: web::Path<String>,
    req: HttpRequest,
) -> FhirResult {
    check_accept(&req)?;
    let q: RedeliverQuery = super::query::parse(&req).map_err(HttpProblem::fhir)?;
    fhir(subscriptions::redeliver(&app, &ctx, &id, q.event, &base(&app, &req)).await)
}
