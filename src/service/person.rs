//! The person's own view (role `person`, bound to one member id): their registration and
//! its history, the proposals waiting for them, their consent, and who accessed their
//! data. Person clients are issued by an administrator or by the person's insurer (the
//! insurer knows its members); how the person proved who they are is recorded with the
//! client (`identity_evidence`), so a stronger proofing (マイナンバーカード) plugs in as
//! another issuer and evidence kind without changing what a person client may do.

use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::access;
use crate::domain::MemberId;
use crate::domain::datetime::format_instant_millis;
use crate::error::{ErrorCode, Problem};
use crate::service::Ctx;
use crate::service::clients::{self, ClientRequest, CreatedClient};
use crate::service::consent::{ConsentView, consent_view};
use crate::service::registration::{
    RegistrationView, lapse_overdue, parse_member, party_view, pending_days,
};
use crate::store::audit::AuditFilter;
use crate::store::persons::PersonLink;

/// `GET /me`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct PersonView {
    pub member: String,
    /// The registered doctor in force.
    pub current: Option<RegistrationView>,
    /// Proposals waiting for the person's confirmation or refusal.
    pub pending: Vec<RegistrationView>,
    /// Every registration and proposal, newest first (current and pending included).
    pub history: Vec<RegistrationView>,
    /// The consent to insurer programs in force.
    pub consent: Option<ConsentView>,
    /// Every consent decision, newest first.
    pub consent_history: Vec<ConsentView>,
}

fn member_of(ctx: &Ctx) -> Result<MemberId, Problem> {
    access::require_role(&ctx.caller, access::PERSONS)?;
    ctx.caller.member.clone().ok_or_else(|| {
        Problem::new(
            ErrorCode::Forbidden,
            "",
            "the client is not bound to a person",
        )
    })
}

/// `GET /me`.
pub async fn view(app: &AppState, ctx: &Ctx) -> Result<PersonView, Problem> {
    let member = member_of(ctx)?;
    let days = pending_days(app);
    let ctx2 = ctx.clone();
    app.store
        .write(move |tx| {
            let mut out = PersonView {
                member: member.key(),
                current: None,
                pending: Vec::new(),
                history: Vec::new(),
                consent: None,
                consent_history: Vec::new(),
            };
            let Some(person) = tx.person_by_member(&member)? else {
                return Ok(out);
            };
            lapse_overdue(tx, person.pk, days)?;
            for r in tx.registration_history(person.pk)? {
                let shown = party_view(tx, r, days)?;
                match shown.status.as_str() {
                    "active" => out.current = Some(shown.clone()),
                    "pending" => out.pending.push(shown.clone()),
                    _ => {}
                }
                out.history.push(shown);
            }
            out.consent_history = tx
                .consent_history(person.pk)?
                .into_iter()
                .map(consent_view)
                .collect();
            out.consent = out.consent_history.first().cloned();
            let mut audit = ctx2.audit("person.read");
            audit.resource_type = Some("EpisodeOfCare".into());
            audit.person_pk = Some(person.pk);
            tx.append_audit(&[audit])?;
            Ok::<_, Problem>(out)
        })
        .await
}

/// One access to the person's data, as the person reads it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct AccessView {
    /// Position in the audit trail (also the cursor).
    pub seq: i64,
    /// RFC 3339, UTC.
    pub at: String,
    /// Who: the client's name and role (`emr`, `doctor`, `insurer`, `person` …).
    pub who: Option<String>,
    pub role: Option<String>,
    /// The institution (10-digit code) or insurer (8 digits) the client acts for.
    pub organization: Option<String>,
    pub insurer: Option<String>,
    /// `read`, `search`, `ingest`, `registration.create`, `consent.change`, …
    pub action: String,
    pub resource_type: Option<String>,
    /// `success`, `denied` or `failed`.
    pub outcome: String,
}

/// A page of the person's access log.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct AccessPage {
    pub entries: Vec<AccessView>,
    /// Give it as `after` for the next page (also when the page is empty).
    pub next_after: i64,
}

/// `GET /me/access?after=&limit=`: who read or changed the person's data, oldest first.
/// Parties are named; nothing of other persons is in it. Reading one's own log is not
/// itself logged (or polling would always find a new row).
pub async fn access_log(
    app: &AppState,
    ctx: &Ctx,
    after: Option<i64>,
    limit: Option<i64>,
) -> Result<AccessPage, Problem> {
    let member = member_of(ctx)?;
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::new(
            ErrorCode::InvalidParameter,
            "limit",
            "limit must be 1 to 1000",
        ));
    }
    let after = after.unwrap_or(0).max(0);
    app.store
        .read(move |tx| {
            let Some(person) = tx.person_by_member(&member)? else {
                return Ok(AccessPage {
                    entries: Vec::new(),
                    next_after: after,
                });
            };
            let rows = tx.list_audit(&AuditFilter {
                person_pk: Some(person.pk),
                after_seq: Some(after),
                limit,
                ..AuditFilter::default()
            })?;
            let mut names = std::collections::HashMap::new();
            let mut entries = Vec::with_capacity(rows.len());
            for r in &rows {
                let client = match r.entry.client_id {
                    Some(id) if id > 0 => {
                        if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(id) {
                            slot.insert(tx.client_by_id(id)?);
                        }
                        names.get(&id).cloned().flatten()
                    }
                    _ => None,
                };
                entries.push(AccessView {
                    seq: r.seq,
                    at: format_instant_millis(r.at),
                    who: client.as_ref().map(|c| c.name.clone()),
                    role: r.entry.role.clone(),
                    organization: client.as_ref().and_then(|c| c.facility.clone()),
                    insurer: client.as_ref().and_then(|c| c.insurer.clone()),
                    action: r.entry.action.clone(),
                    resource_type: r.entry.resource_type.clone(),
                    outcome: r.entry.outcome.clone(),
                });
            }
            Ok::<_, Problem>(AccessPage {
                next_after: rows.last().map_or(after, |r| r.seq),
                entries,
            })
        })
        .await
}

/// `POST /insurer/person-clients`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonClientRequest {
    /// The person's member id, with 枝番 (a person is one member of a family card).
    pub member: String,
    /// A label for the client (e.g. the app installation); 1-200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// How the issuer knows it is the person: `insurer-record` (the insurer's own member
    /// records and its usual verification), `in-person`, `mynumber-card` … (1-100
    /// characters; recorded, not interpreted).
    #[schema(min_length = 1, max_length = 100)]
    pub identity_evidence: String,
    /// Optional expiry, epoch milliseconds.
    pub expires_at: Option<i64>,
}

/// Issues a `person` client for a member: by an administrator, or by the member's own
/// insurer. Returns the token (shown once).
pub async fn issue_client(
    app: &AppState,
    ctx: &Ctx,
    req: PersonClientRequest,
) -> Result<CreatedClient, Problem> {
    access::require_role(&ctx.caller, access::PERSON_CLIENT_ISSUERS)?;
    let member = parse_member(&req.member, "body.member")?;
    if member.branch().is_none() {
        return Err(Problem::new(
            ErrorCode::InvalidMemberId,
            "body.member",
            "a person client needs the member id with 枝番 (one member of the family card)",
        ));
    }
    if ctx.caller.role == crate::auth::Role::Insurer && !access::is_insurer_of(&ctx.caller, &member)
    {
        return Err(Problem::new(
            ErrorCode::Forbidden,
            "body.member",
            "an insurer issues person clients for its own members only",
        ));
    }
    let evidence = req.identity_evidence.trim();
    if evidence.is_empty() || evidence.chars().count() > 100 {
        return Err(Problem::new(
            ErrorCode::InvalidBody,
            "body.identity_evidence",
            "must be 1 to 100 characters",
        ));
    }
    // The person exists from now on (their records may arrive later).
    let key = member.key();
    let linked = app
        .store
        .write(move |tx| tx.resolve_person(&member, None, None))
        .await?;
    if let PersonLink::Ambiguous { .. } = linked {
        return Err(Problem::new(
            ErrorCode::InvalidMemberId,
            "body.member",
            "this member id matches several persons",
        ));
    }
    let request = ClientRequest {
        name: req.name,
        role: "person".into(),
        member: Some(key),
        expires_at: req.expires_at,
        identity_evidence: Some(evidence.to_owned()),
        ..ClientRequest::default()
    };
    clients::create_in(&app.store, &request, Some(ctx)).await
}
