//! Satisfaction surveys: a member answers kakari's questionnaire (FHIR `Questionnaire`
//! `kakari-satisfaction`) about an institution they are or were registered with, through
//! their insurer or their own person client (`POST /fhir/QuestionnaireResponse`); the
//! directory (API and page) shows each institution's per-item means from ten responses on
//! (`domain::survey`).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::AppState;
use crate::auth::Role;
use crate::codec::fhir::survey;
use crate::domain::datetime::format_instant_millis;
use crate::domain::survey::{ITEMS, summarise};
use crate::error::{ErrorCode, Problem};
use crate::service::Ctx;
use crate::service::directory::masked_count;
use crate::service::fhir::{FhirBody, FhirResponse};
use crate::store::Tx;

/// One item's mean, as the directory shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct ItemScoreView {
    pub item: String,
    pub question: String,
    /// The mean on the 1-5 scale, one decimal (`4.3`).
    pub mean: String,
}

/// An institution's satisfaction, as the directory shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct SatisfactionView {
    /// Responses: a number, or `<10`.
    pub responses: String,
    /// Per-item means; empty below 10 responses (suppressed).
    pub items: Vec<ItemScoreView>,
}

/// The satisfaction of each of `codes`, in order.
pub fn satisfaction_of(
    tx: &mut Tx<'_>,
    codes: &[String],
) -> Result<Vec<SatisfactionView>, Problem> {
    Ok(tx
        .survey_totals(codes)?
        .into_iter()
        .map(|t| {
            let per_item: Vec<(&str, i64, i64)> = t
                .items
                .iter()
                .map(|(i, n, s)| (i.as_str(), *n, *s))
                .collect();
            let summary = summarise(t.responses, &per_item);
            SatisfactionView {
                responses: masked_count(summary.responses),
                items: summary
                    .items
                    .into_iter()
                    .map(|s| ItemScoreView {
                        item: s.item.to_owned(),
                        question: ITEMS
                            .iter()
                            .find(|(l, _)| *l == s.item)
                            .map_or("", |(_, q)| q)
                            .to_owned(),
                        mean: s.mean,
                    })
                    .collect(),
            }
        })
        .collect())
}

/// `GET /fhir/Questionnaire/kakari-satisfaction` (no patient data).
pub fn questionnaire() -> FhirResponse {
    FhirResponse::json(200, survey::questionnaire())
}

/// `POST /fhir/QuestionnaireResponse`: a member's answers, from the member's own client or
/// their insurer.
pub async fn submit(
    app: &AppState,
    ctx: &Ctx,
    body: &[u8],
    base: &str,
) -> Result<FhirResponse, Problem> {
    let value = crate::codec::fhir::json::parse(body)?;
    let answers = survey::read_response(&value)?;
    let member = match ctx.caller.role {
        Role::Person => {
            let own = ctx.caller.member.clone().ok_or_else(|| {
                Problem::new(
                    ErrorCode::Forbidden,
                    "",
                    "the client is not bound to a person",
                )
            })?;
            if answers.member.as_ref().is_some_and(|m| m != &own) {
                return Err(Problem::new(
                    ErrorCode::Forbidden,
                    "QuestionnaireResponse.source",
                    "a person answers for themself",
                ));
            }
            own
        }
        _ => {
            let member = answers.member.clone().ok_or_else(|| {
                Problem::new(
                    ErrorCode::InvalidBody,
                    "QuestionnaireResponse.source",
                    "the member who answered (an insurer submits its members' answers)",
                )
            })?;
            if !crate::auth::access::is_insurer_of(&ctx.caller, &member) {
                return Err(Problem::new(
                    ErrorCode::Forbidden,
                    "QuestionnaireResponse.source",
                    "an insurer submits its own members' answers",
                ));
            }
            member
        }
    };
    let ctx2 = ctx.clone();
    let base = base.to_owned();
    app.store
        .write(move |tx| {
            let organization = answers.organization.as_str();
            let not_registered = || {
                Problem::new(
                    ErrorCode::SurveyNotRegistered,
                    "QuestionnaireResponse.subject",
                    "the member is not and was not registered with this institution",
                )
            };
            let person = tx.person_by_member(&member)?.ok_or_else(not_registered)?;
            if !tx.was_registered_with(person.pk, organization)? {
                return Err(not_registered());
            }
            let mut stored = value.clone();
            stored["source"] = json!({"type": "Patient", "identifier": {
                "system": crate::domain::code_system::id_system::MEMBER_ID, "value": member.key()}});
            let now = tx.now();
            stored["authored"] = json!(format_instant_millis(now));
            let id = tx.put_survey_response(
                person.pk,
                organization,
                ctx2.caller.client_id,
                &stored.to_string(),
                &answers.scores,
            )?;
            stored["id"] = json!(id.to_string());
            stored["meta"] = json!({"lastUpdated": format_instant_millis(now)});
            let mut audit = ctx2.audit("survey.submit");
            audit.resource_type = Some("QuestionnaireResponse".into());
            audit.resource_id = Some(id.to_string());
            audit.person_pk = Some(person.pk);
            tx.append_audit(&[audit])?;
            Ok::<_, Problem>(FhirResponse {
                status: 201,
                body: FhirBody::Json(stored),
                location: Some(format!("{base}/QuestionnaireResponse/{id}")),
                version: None,
                last_modified: Some(now),
            })
        })
        .await
}
