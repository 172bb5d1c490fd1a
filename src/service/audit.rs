//! The audit trail for administrators (`GET /admin/audit`): filtered, paged by an opaque
//! cursor over the chain's sequence numbers, as kakari's JSON page or as FHIR
//! `AuditEvent`s.
//!
//! Persons appear by an opaque reference (`person-<n>`), never by member id, and an
//! administrator cannot look a member id up: `person=` takes a reference read from the
//! trail. Administrators never read registrations or consent decisions (docs/access.md),
//! so rows about them, and about a person's own requests, are listed without the person
//! and without detail, and a `person=` listing leaves them out.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::app::AppState;
use crate::auth::access;
use crate::codec::fhir::audit_event::{self, AuditFacts};
use crate::domain::datetime::{format_instant_millis, now_millis};
use crate::error::{ErrorCode, Problem};
use crate::service::Ctx;
use crate::store::audit::{AuditEntry, AuditFilter, AuditRow};

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;
const OUTCOMES: &[&str] = &["success", "denied", "failed"];

/// What an administrator asks for: the query of `GET /admin/audit` (all optional; strings
/// as given in the query).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Client id.
    pub client: Option<i64>,
    /// Action, e.g. `read`, `search`, `create`, `ingest`, `access`.
    pub action: Option<String>,
    /// FHIR resource type (or kakari's own: `Registration`, `Client`, …).
    pub resource_type: Option<String>,
    /// Opaque reference of the person whose data it was (`person-<n>`, as listed).
    pub person: Option<String>,
    /// `success`, `denied` or `failed`.
    pub outcome: Option<String>,
    /// RFC 3339 date-time, inclusive.
    pub since: Option<String>,
    /// RFC 3339 date-time, exclusive.
    pub until: Option<String>,
    /// Rows per page, 1-1000 (default 100).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (absent: from the first row).
    pub cursor: Option<String>,
    /// `json` (default) or `fhir` (a Bundle of AuditEvent); rendering is the HTTP layer's.
    pub format: Option<String>,
}

/// One audit row as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntryView {
    /// Position in the hash chain (1, 2, …).
    pub seq: i64,
    /// When the row was written (RFC 3339, UTC).
    pub at: String,
    pub request_id: Option<String>,
    /// The client that made the request (0: the bootstrap administrator; null: not
    /// authenticated).
    pub client: Option<i64>,
    pub role: Option<String>,
    pub action: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    /// Opaque reference of the person whose data it was (`person-<n>`).
    pub person: Option<String>,
    /// `success`, `denied` or `failed`.
    pub outcome: String,
    /// Structural detail (counts, formats, route and error code); never patient values.
    pub detail: Option<String>,
    /// The row's chain hash, lower-case hex SHA-256.
    pub hash: String,
}

/// A page of the trail.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    #[schema(inline)]
    pub entries: Vec<AuditEntryView>,
    /// Resume after the last row of this page (also in `Kakari-Next-Cursor`); with no
    /// rows, the cursor given.
    pub next_cursor: String,
    /// Whether this page ended the trail as it stood (fewer rows than `limit`).
    pub complete: bool,
}

/// A page, in the shape the handler renders.
pub struct AuditListing {
    pub rows: Vec<AuditRow>,
    pub next_cursor: String,
    pub complete: bool,
}

fn bad(location: &str, message: &str) -> Problem {
    Problem::new(ErrorCode::InvalidParameter, location, message)
}

pub fn encode_cursor(seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("kakari-audit-v1:{seq}"))
}

pub fn decode_cursor(cursor: &str) -> Result<i64, Problem> {
    let fail = || bad("cursor", "not a cursor kakari issued");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| fail())?;
    let text = String::from_utf8(bytes).map_err(|_| fail())?;
    text.strip_prefix("kakari-audit-v1:")
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .ok_or_else(fail)
}

fn instant(value: &str, location: &str) -> Result<i64, Problem> {
    let at = OffsetDateTime::parse(value, &Rfc3339).map_err(|_| {
        bad(
            location,
            "must be an RFC 3339 date-time, e.g. 2026-10-01T00:00:00+09:00",
        )
    })?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| bad(location, "date-time out of range"))
}

fn short_text(value: Option<String>, location: &str) -> Result<Option<String>, Problem> {
    match value {
        Some(v) if v.is_empty() || v.len() > 100 => {
            Err(bad(location, "must be 1 to 100 characters"))
        }
        v => Ok(v),
    }
}

/// `GET /admin/audit`.
pub async fn list(app: &AppState, ctx: &Ctx, q: AuditQuery) -> Result<AuditListing, Problem> {
    access::require_role(&ctx.caller, access::ADMINISTRATORS)?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad("limit", "limit must be 1 to 1000"));
    }
    let after = match q.cursor.as_deref() {
        Some(c) if !c.is_empty() => decode_cursor(c)?,
        _ => 0,
    };
    if let Some(o) = q.outcome.as_deref()
        && !OUTCOMES.contains(&o)
    {
        return Err(bad("outcome", "outcome is success, denied or failed"));
    }
    let since = q
        .since
        .as_deref()
        .map(|s| instant(s, "since"))
        .transpose()?;
    let until = q
        .until
        .as_deref()
        .map(|u| instant(u, "until"))
        .transpose()?;
    let person_pk = q.person.as_deref().map(parse_person_ref).transpose()?;
    let filter = AuditFilter {
        client_id: q.client,
        person_pk,
        without_relationships: person_pk.is_some(),
        action: short_text(q.action, "action")?,
        resource_type: short_text(q.resource_type, "resource_type")?,
        outcome: q.outcome,
        since,
        until,
        after_seq: Some(after),
        limit,
    };
    let rows = app
        .store
        .read(move |tx| tx.list_audit(&filter))
        .await
        .map_err(Problem::from)?;
    let complete = (rows.len() as i64) < limit;
    let next_cursor = encode_cursor(rows.last().map_or(after, |r| r.seq));
    Ok(AuditListing {
        rows,
        next_cursor,
        complete,
    })
}

fn person_ref(pk: i64) -> String {
    format!("person-{pk}")
}

fn parse_person_ref(value: &str) -> Result<i64, Problem> {
    value
        .strip_prefix("person-")
        .filter(|n| !n.is_empty() && n.len() <= 18 && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(|| {
            bad(
                "person",
                "person is a reference listed in the trail (person-<n>), not a member id",
            )
        })
}

/// The person and detail of a row as an operator may see them.
fn operator_view(entry: &AuditEntry) -> (Option<String>, Option<&str>) {
    if entry.is_about_relationship() {
        (None, None)
    } else {
        (entry.person_pk.map(person_ref), entry.detail.as_deref())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl AuditListing {
    /// kakari's JSON page.
    pub fn page(&self) -> AuditPage {
        AuditPage {
            entries: self
                .rows
                .iter()
                .map(|r| (r, operator_view(&r.entry)))
                .map(|(r, (person, detail))| AuditEntryView {
                    seq: r.seq,
                    at: format_instant_millis(r.at),
                    request_id: r.entry.request_id.clone().filter(|s| !s.is_empty()),
                    client: r.entry.client_id,
                    role: r.entry.role.clone(),
                    action: r.entry.action.clone(),
                    resource_type: r.entry.resource_type.clone(),
                    resource_id: r.entry.resource_id.clone(),
                    person,
                    outcome: r.entry.outcome.clone(),
                    detail: detail.map(str::to_owned),
                    hash: hex(&r.hash),
                })
                .collect(),
            next_cursor: self.next_cursor.clone(),
            complete: self.complete,
        }
    }

    /// A FHIR `searchset` Bundle of `AuditEvent`s; `base` is the URL of `/admin/audit`,
    /// `query` the request's query string without its cursor.
    pub fn fhir(&self, base: &str, query: &str) -> serde_json::Value {
        let views: Vec<(Option<String>, Option<&str>)> =
            self.rows.iter().map(|r| operator_view(&r.entry)).collect();
        let facts: Vec<AuditFacts<'_>> = self
            .rows
            .iter()
            .zip(&views)
            .map(|(r, (person, detail))| AuditFacts {
                seq: r.seq,
                at_millis: r.at,
                request_id: r.entry.request_id.as_deref(),
                client_id: r.entry.client_id,
                role: r.entry.role.as_deref(),
                action: &r.entry.action,
                resource_type: r.entry.resource_type.as_deref(),
                resource_id: r.entry.resource_id.as_deref(),
                person: person.as_deref(),
                outcome: &r.entry.outcome,
                detail: *detail,
                hash: &r.hash,
            })
            .collect();
        let sep = if query.is_empty() { "" } else { "&" };
        let self_url = if query.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{query}")
        };
        let next = format!("{base}?{query}{sep}cursor={}", self.next_cursor);
        audit_event::bundle(&facts, &self_url, &next, now_millis())
    }
}
