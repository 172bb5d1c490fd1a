//! Telling the parties what changed: a registration proposed, activated, replaced,
//! refused or ended, a consent decision recorded. Events are written in the transaction of
//! the change (`store::events`), so nothing is told that did not happen and nothing that
//! happened goes untold; each party reads its own with `GET /notifications` (and
//! subscriptions deliver the same rows).
//!
//! Each recipient is told only what is theirs to know: the institution a person leaves is
//! told that its registration ended (not where the person went); the insurer and the
//! person are told the whole change.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::AppState;
use crate::auth::{Caller, Role, access};
use crate::error::{ErrorCode, Problem};
use crate::service::Ctx;
use crate::store::Tx;
use crate::store::events::{NewEvent, Recipient};
use crate::store::registrations::RegistrationRow;

/// Topics of events.
pub mod topic {
    /// A registration was proposed and waits for the person.
    pub const REGISTRATION_REQUESTED: &str = "registration.requested";
    /// Someone asked to take over the person's registration (to the current institution).
    pub const TRANSFER_REQUESTED: &str = "registration.transfer-requested";
    /// A registration took effect.
    pub const REGISTRATION_ACTIVATED: &str = "registration.activated";
    /// A registration ended (replaced by another, or ended by a party).
    pub const REGISTRATION_ENDED: &str = "registration.ended";
    /// The person refused a proposal.
    pub const REGISTRATION_REFUSED: &str = "registration.refused";
    /// A consent decision on insurer programs was recorded.
    pub const CONSENT_CHANGED: &str = "consent.changed";
}

/// Who is told about a registration change.
pub struct Audience<'a> {
    pub organizations: Vec<&'a str>,
    pub insurer: bool,
    pub person: bool,
}

/// Records `topic` about `r` for each of `audience`; `extra` is merged into the payload.
pub fn tell(
    tx: &mut Tx<'_>,
    topic: &str,
    r: &RegistrationRow,
    audience: &Audience<'_>,
    extra: serde_json::Value,
) -> Result<(), Problem> {
    let insurer = r.member_key.split(':').next().unwrap_or_default();
    let full = payload(r, &extra);
    // What an institution is told about a registration that is not its own: only that it
    // concerns its registered person.
    let for_organization = |organization: &str| {
        if organization == r.organization {
            full.clone()
        } else {
            let mut p = json!({"member": r.member_key, "status": r.status.as_str()});
            merge(&mut p, &extra);
            p.to_string()
        }
    };
    // The parties may read the registration itself (`GET /fhir/EpisodeOfCare/{id}`).
    let focus = format!("EpisodeOfCare/{}", r.id);
    for organization in &audience.organizations {
        let own = *organization == r.organization;
        tx.insert_event(&NewEvent {
            topic,
            recipient: Recipient::Organization(organization),
            person_pk: Some(r.person_pk),
            registration_id: own.then_some(r.id),
            payload: &for_organization(organization),
            focus: own.then_some(focus.as_str()),
        })?;
    }
    if audience.insurer {
        tx.insert_event(&NewEvent {
            topic,
            recipient: Recipient::Insurer(insurer),
            person_pk: Some(r.person_pk),
            registration_id: Some(r.id),
            payload: &full,
            focus: Some(&focus),
        })?;
    }
    if audience.person {
        tx.insert_event(&NewEvent {
            topic,
            recipient: Recipient::Member(&r.member_key),
            person_pk: Some(r.person_pk),
            registration_id: Some(r.id),
            payload: &full,
            focus: Some(&focus),
        })?;
    }
    Ok(())
}

fn merge(into: &mut serde_json::Value, extra: &serde_json::Value) {
    if let (Some(into), Some(extra)) = (into.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            into.insert(k.clone(), v.clone());
        }
    }
}

fn payload(r: &RegistrationRow, extra: &serde_json::Value) -> String {
    let mut p = json!({
        "registration": r.id,
        "member": r.member_key,
        "organization": r.organization,
        "practitioner": r.practitioner,
        "status": r.status.as_str(),
    });
    merge(&mut p, extra);
    p.to_string()
}

/// One event as a party reads it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq)]
pub struct NotificationView {
    pub id: i64,
    /// Epoch milliseconds.
    pub at: i64,
    pub topic: String,
    pub registration: Option<i64>,
    /// What happened, for this recipient (registration id, member, institution, status,
    /// reason …).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// A page of notifications.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq)]
pub struct NotificationPage {
    pub notifications: Vec<NotificationView>,
    /// Give it as `since` to get the ones after this page (also when the page is empty).
    pub next_since: i64,
}

/// The recipients a caller reads for (`member_key`: the person's normalised member id): its
/// institution's events, and a doctor's own (inquiries routed to them).
pub fn recipients<'a>(caller: &'a Caller, member_key: Option<&'a str>) -> Vec<Recipient<'a>> {
    match caller.role {
        Role::Emr | Role::Doctor | Role::Pharmacy => caller
            .facility
            .iter()
            .map(|f| Recipient::Organization(f.as_str()))
            .chain(
                caller
                    .practitioner
                    .iter()
                    .filter(|_| caller.role == Role::Doctor)
                    .map(|p| Recipient::Practitioner(p.as_str())),
            )
            .collect(),
        Role::Insurer => caller
            .insurer
            .iter()
            .map(|i| Recipient::Insurer(i.as_str()))
            .collect(),
        Role::Person => member_key.map(Recipient::Member).into_iter().collect(),
        Role::Admin => Vec::new(),
    }
}

/// `GET /notifications?since=&limit=`: the caller's own, oldest first.
pub async fn list(
    app: &AppState,
    ctx: &Ctx,
    since: Option<i64>,
    limit: Option<i64>,
) -> Result<NotificationPage, Problem> {
    access::require_role(&ctx.caller, access::NOTIFICATION_READERS)?;
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::new(
            ErrorCode::InvalidParameter,
            "limit",
            "limit must be 1 to 1000",
        ));
    }
    let since = since.unwrap_or(0).max(0);
    let caller = ctx.caller.clone();
    let rows = app
        .store
        .read(move |tx| {
            let member_key = caller.member.as_ref().map(crate::domain::MemberId::key);
            tx.events_for(&recipients(&caller, member_key.as_deref()), since, limit)
        })
        .await?;
    let next_since = rows.last().map_or(since, |r| r.id);
    Ok(NotificationPage {
        notifications: rows
            .into_iter()
            .map(|r| NotificationView {
                id: r.id,
                at: r.at,
                topic: r.topic,
                registration: r.registration_id,
                detail: serde_json::from_str(&r.payload).unwrap_or(serde_json::Value::Null),
            })
            .collect(),
        next_since,
    })
}
