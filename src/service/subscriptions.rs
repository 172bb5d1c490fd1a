//! Subscriptions (FHIR R4 `Subscription`, Subscriptions R5 Backport IG): a party asks
//! kakari to push its own events on a topic to its https endpoint. Who may subscribe to
//! what follows from what the party may read: a subscription delivers the subscriber's
//! own events (the rows of `GET /notifications`), so an insurer receives its inquiries and
//! its registered, consenting members' new lab values, a doctor the inquiries routed to
//! them, a person their own registration events.
//!
//! Delivery itself is `crate::delivery` (the worker); this module makes, shows and ends
//! subscriptions, answers `$status` (with the event counter) and redelivers dead-lettered
//! notifications, and builds the notification Bundle the worker sends.

use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::{Caller, Role};
use crate::codec::fhir::registry::{self as registry_codec, RegistrationFacts};
use crate::codec::fhir::subscription::{
    self as codec, NotificationEvent, StatusFacts, StatusType, SubscriptionFacts,
};
use crate::delivery::endpoint;
use crate::domain::subscription::{Content, Subscriber, SubscriptionStatus, Topic};
use crate::error::{ErrorCode, Problem};
use crate::service::Ctx;
use crate::service::fhir::FhirResponse;
use crate::store::Tx;
use crate::store::events::EventRow;
use crate::store::subscriptions::{DeliveryRow, NewSubscription, SubscriptionRow};

fn not_found() -> Problem {
    Problem::new(
        ErrorCode::ResourceNotFound,
        "Subscription",
        "no such resource",
    )
}

/// The recipient (`events.recipient_kind`, `events.recipient`) whose events a caller's
/// subscription to `topic` delivers, or why the caller may not subscribe to it.
fn recipient_for(caller: &Caller, topic: Topic) -> Result<(&'static str, String), Problem> {
    let refuse = || {
        Problem::new(
            ErrorCode::SubscriptionTopicForbidden,
            "Subscription.criteria",
            "the client's role receives no events on this topic",
        )
    };
    let facility = || caller.facility.as_ref().map(|f| f.as_str().to_owned());
    let (subscriber, kind, recipient) = match caller.role {
        Role::Insurer => (
            Subscriber::Insurer,
            "insurer",
            caller.insurer.as_ref().map(|i| i.as_str().to_owned()),
        ),
        Role::Doctor if matches!(topic, Topic::Inquiry | Topic::MedicationFinding) => (
            Subscriber::Doctor,
            "practitioner",
            caller.practitioner.clone(),
        ),
        Role::Doctor | Role::Emr | Role::Pharmacy => {
            (Subscriber::Institution, "organization", facility())
        }
        Role::Person => (
            Subscriber::Person,
            "member",
            caller.member.as_ref().map(crate::domain::MemberId::key),
        ),
        Role::Admin => return Err(refuse()),
    };
    if !topic.open_to(subscriber) {
        return Err(refuse());
    }
    let recipient = recipient.ok_or_else(|| {
        Problem::new(
            ErrorCode::Forbidden,
            "",
            "the client is not bound to the party whose events it would receive",
        )
    })?;
    Ok((kind, recipient))
}

fn facts(s: &SubscriptionRow) -> SubscriptionFacts<'_> {
    SubscriptionFacts {
        id: s.id,
        topic: s.topic,
        endpoint: &s.endpoint,
        content: s.content,
        headers: &s.headers,
        status: s.status,
        reason: s.reason.as_deref(),
        error: s.last_error.as_deref(),
        updated_at: s.updated_at,
    }
}

fn new_secret() -> Result<String, Problem> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| Problem::bare(ErrorCode::Internal))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn endpoint_problem(e: endpoint::EndpointRefusal) -> Problem {
    Problem::new(
        ErrorCode::SubscriptionEndpoint,
        "Subscription.channel.endpoint",
        e.to_string(),
    )
}

/// `POST /fhir/Subscription`.
pub async fn create(
    app: &AppState,
    ctx: &Ctx,
    body: &[u8],
    base: &str,
) -> Result<FhirResponse, Problem> {
    let value = crate::codec::fhir::json::parse(body)?;
    let request = codec::read_request(&value)?;
    let (kind, recipient) = recipient_for(&ctx.caller, request.topic)?;
    endpoint::check(&request.endpoint, app.config.delivery_allow_loopback)
        .await
        .map_err(endpoint_problem)?;
    let secret = new_secret()?;
    let ctx2 = ctx.clone();
    let base = base.to_owned();
    app.store
        .write(move |tx| {
            let id = tx.insert_subscription(&NewSubscription {
                client_id: ctx2.caller.client_id,
                recipient_kind: kind,
                recipient: &recipient,
                topic: request.topic,
                endpoint: &request.endpoint,
                content: request.content,
                headers: &request.headers,
                secret: &secret,
                reason: request.reason.as_deref(),
                end_at: None,
            })?;
            let row = tx.subscription(id)?.ok_or_else(not_found)?;
            let mut audit = ctx2.audit("subscription.create");
            audit.resource_type = Some("Subscription".into());
            audit.resource_id = Some(id.to_string());
            audit.detail = Some(format!("topic={}", row.topic.canonical()));
            tx.append_audit(&[audit])?;
            let resource = codec::with_secret(codec::render(&facts(&row)), &secret);
            Ok::<_, Problem>(FhirResponse {
                status: 201,
                body: crate::service::fhir::FhirBody::Json(resource),
                location: Some(format!("{base}/Subscription/{id}")),
                version: None,
                last_modified: Some(row.updated_at),
            })
        })
        .await
}

/// The caller's own subscription (administrators see every one).
fn owned(tx: &mut Tx<'_>, caller: &Caller, id: &str) -> Result<SubscriptionRow, Problem> {
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let row = tx.subscription(id)?.ok_or_else(not_found)?;
    if row.client_id != caller.client_id && caller.role != Role::Admin {
        return Err(not_found());
    }
    Ok(row)
}

/// `GET /fhir/Subscription/{id}`.
pub async fn read(app: &AppState, ctx: &Ctx, id: &str) -> Result<FhirResponse, Problem> {
    let (caller, id) = (ctx.caller.clone(), id.to_owned());
    let row = app.store.read(move |tx| owned(tx, &caller, &id)).await?;
    Ok(FhirResponse::json(200, codec::render(&facts(&row))))
}

/// `GET /fhir/Subscription`: the caller's subscriptions.
pub async fn search(
    app: &AppState,
    ctx: &Ctx,
    pairs: &[(String, String)],
    base: &str,
) -> Result<FhirResponse, Problem> {
    if let Some((name, _)) = pairs.first() {
        return Err(Problem::new(
            ErrorCode::UnknownSearchParameter,
            name.as_str(),
            "Subscription searches take no parameters: they list the client's own",
        ));
    }
    let client = ctx.caller.client_id;
    let rows = app
        .store
        .read(move |tx| tx.subscriptions_of_client(client))
        .await?;
    let entries: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                "Subscription".to_owned(),
                r.id.to_string(),
                codec::render(&facts(r)),
            )
        })
        .collect();
    Ok(FhirResponse::json(
        200,
        crate::service::fhir::searchset(
            base,
            "Subscription",
            crate::service::fhir::SearchsetPage {
                params: Vec::new(),
                next_cursor: None,
                total: entries.len() as i64,
                entries,
            },
        ),
    ))
}

/// `DELETE /fhir/Subscription/{id}`: ends it (status `off`); nothing is queued any more,
/// and what was queued is not delivered.
pub async fn end(app: &AppState, ctx: &Ctx, id: &str) -> Result<FhirResponse, Problem> {
    let (ctx2, id) = (ctx.clone(), id.to_owned());
    app.store
        .write(move |tx| {
            let row = owned(tx, &ctx2.caller, &id)?;
            tx.set_subscription_status(row.id, SubscriptionStatus::Off, None)?;
            let mut audit = ctx2.audit("subscription.end");
            audit.resource_type = Some("Subscription".into());
            audit.resource_id = Some(row.id.to_string());
            tx.append_audit(&[audit])?;
            let row = tx.subscription(row.id)?.ok_or_else(not_found)?;
            Ok::<_, Problem>(FhirResponse::json(200, codec::render(&facts(&row))))
        })
        .await
}

fn status_of(tx: &mut Tx<'_>, row: &SubscriptionRow, base: &str) -> Result<Value, Problem> {
    let counts = tx.delivery_counts(row.id)?;
    let mut status = codec::status_parameters(
        base,
        &StatusFacts {
            subscription_id: row.id,
            topic: row.topic,
            status: row.status,
            kind: StatusType::QueryStatus,
            events_since_start: row.events_since_start,
            content: row.content,
            error: (row.status == SubscriptionStatus::Error)
                .then_some(row.last_error.as_deref())
                .flatten(),
        },
        &[],
    );
    status["extension"] = json!([
        {"url": "urn:kakari:extension:deliveries-pending", "valueInteger": counts.pending},
        {"url": "urn:kakari:extension:deliveries-delivered", "valueInteger": counts.delivered},
        {"url": "urn:kakari:extension:deliveries-dead", "valueInteger": counts.dead},
    ]);
    Ok(codec::status_bundle(status))
}

/// `GET /fhir/Subscription/{id}/$status`.
pub async fn status(
    app: &AppState,
    ctx: &Ctx,
    id: &str,
    base: &str,
) -> Result<FhirResponse, Problem> {
    let (caller, id, base) = (ctx.caller.clone(), id.to_owned(), base.to_owned());
    let bundle = app
        .store
        .read(move |tx| {
            let row = owned(tx, &caller, &id)?;
            status_of(tx, &row, &base)
        })
        .await?;
    Ok(FhirResponse::json(200, bundle))
}

/// Puts dead-lettered notifications of a subscription (or only `event`, which may also be
/// one already delivered) back in the queue and reactivates the subscription; returns how
/// many were queued again. For the owner, administrators and `kakari delivery redeliver`.
pub fn redeliver_in(
    tx: &mut Tx<'_>,
    row: &SubscriptionRow,
    event: Option<i64>,
) -> Result<i64, Problem> {
    if row.status == SubscriptionStatus::Off {
        return Err(Problem::new(
            ErrorCode::InvalidParameter,
            "id",
            "the subscription is off; nothing is delivered for it",
        ));
    }
    Ok(tx.redeliver(row.id, event)?)
}

/// `POST /fhir/Subscription/{id}/$redeliver[?event=N]`.
pub async fn redeliver(
    app: &AppState,
    ctx: &Ctx,
    id: &str,
    event: Option<i64>,
    base: &str,
) -> Result<FhirResponse, Problem> {
    let (ctx2, id, base) = (ctx.clone(), id.to_owned(), base.to_owned());
    let bundle = app
        .store
        .write(move |tx| {
            let row = owned(tx, &ctx2.caller, &id)?;
            let n = redeliver_in(tx, &row, event)?;
            let mut audit = ctx2.audit("subscription.redeliver");
            audit.resource_type = Some("Subscription".into());
            audit.resource_id = Some(row.id.to_string());
            audit.detail = Some(format!("queued={n}"));
            tx.append_audit(&[audit])?;
            let row = tx.subscription(row.id)?.ok_or_else(not_found)?;
            status_of(tx, &row, &base)
        })
        .await?;
    Ok(FhirResponse::json(200, bundle))
}

/// The focus of an event as the resource (full-resource notifications): an inquiry's
/// version, a registration as `EpisodeOfCare`.
fn focus_resource(tx: &mut Tx<'_>, focus: &str) -> Result<Option<Value>, Problem> {
    let parts: Vec<&str> = focus.split('/').collect();
    match parts.as_slice() {
        ["Task", id, "_history", version] => {
            let (Ok(id), Ok(version)) = (id.parse::<i64>(), version.parse::<i64>()) else {
                return Ok(None);
            };
            Ok(tx
                .inquiry_versions(id)?
                .into_iter()
                .find(|v| v.version == version)
                .and_then(|v| serde_json::from_str(&v.body).ok()))
        }
        ["EpisodeOfCare", id] => {
            let Ok(id) = id.parse::<i64>() else {
                return Ok(None);
            };
            let Some(r) = tx.registration(id)? else {
                return Ok(None);
            };
            let practitioner = tx.practitioner(&r.practitioner)?.map(|p| p.name);
            let organization = tx.organization(&r.organization)?.map(|o| o.name);
            Ok(Some(registry_codec::episode_of_care(&RegistrationFacts {
                id: r.id,
                member_key: &r.member_key,
                practitioner: &r.practitioner,
                practitioner_name: practitioner.as_deref(),
                organization: &r.organization,
                organization_name: organization.as_deref(),
                start_date: &r.start_date,
                created_at: r.created_at,
                ended_at: r.ended_at,
                status: r.status,
            })))
        }
        _ => Ok(None),
    }
}

/// One notification ready to send: the body, and what the worker needs to sign and file it.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub body: Vec<u8>,
    pub event_number: i64,
}

/// Builds the notification Bundle of one queued delivery (in a read of the store).
pub fn notification(
    tx: &mut Tx<'_>,
    subscription: &SubscriptionRow,
    delivery: &DeliveryRow,
    base: &str,
) -> Result<Outgoing, Problem> {
    let EventRow {
        id: notification_id,
        at,
        topic: event_type,
        focus,
        ..
    } = tx
        .event(delivery.event_id)?
        .ok_or_else(|| Problem::bare(ErrorCode::Internal))?;
    let resource = match (&focus, subscription.content) {
        (Some(f), Content::FullResource) => focus_resource(tx, f)?,
        _ => None,
    };
    let event = NotificationEvent {
        number: delivery.event_number,
        at,
        event_type: &event_type,
        notification_id,
        focus: focus.as_deref(),
        resource,
    };
    let status = codec::status_parameters(
        base,
        &StatusFacts {
            subscription_id: subscription.id,
            topic: subscription.topic,
            status: subscription.status,
            kind: StatusType::EventNotification,
            events_since_start: subscription.events_since_start.max(delivery.event_number),
            content: subscription.content,
            error: None,
        },
        std::slice::from_ref(&event),
    );
    let bundle_id = uuid::Uuid::new_v4().to_string();
    let bundle = codec::notification(
        base,
        &bundle_id,
        tx.now(),
        status,
        subscription.id,
        &event,
        subscription.content,
    );
    Ok(Outgoing {
        body: bundle.to_string().into_bytes(),
        event_number: delivery.event_number,
    })
}
