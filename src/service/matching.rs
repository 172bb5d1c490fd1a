//! Push-type support: an insurer posts a member's need anonymously (region, condition
//! categories, wanted functions); certified institutions of the region see it without the
//! member's identity and raise their hands; the insurer and the member see the hands; the
//! member (their `person` client) accepts one, and that acceptance is their confirmation:
//! a registration with the chosen institution and doctor is proposed and takes effect in
//! the same transaction through `registration::confirm_in` (basis `person`).
//!
//! No identity reaches an institution before the member accepted its hand: institutions
//! see needs as `AnonymousNeedView` (no member id, insurer, person or free text), and their
//! events carry the same; after acceptance the chosen institution is told the registration
//! like any registration that took effect.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::AppState;
use crate::auth::{Caller, Role, access};
use crate::domain::matching::{self as rules, AnonymousNeed};
use crate::domain::registration::RegistrationStatus;
use crate::domain::{MemberId, directory};
use crate::error::{ErrorCode, Problem};
use crate::service::Ctx;
use crate::service::registration::{self, RegistrationView};
use crate::store::Tx;
use crate::store::directory::{DirectoryQuery, OrganizationRow};
use crate::store::events::{NewEvent, Recipient};
use crate::store::matching::{HandRow, NeedRow, NewNeed};
use crate::store::persons::PersonLink;
use crate::store::registrations::NewRegistration;

/// `POST /insurer/needs`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NeedRequest {
    /// The member: `保険者番号:記号:番号:枝番` (the insurer's own; never shown to institutions).
    pub member: String,
    /// Prefecture code 01-47 or name.
    pub prefecture: String,
    /// A city of the prefecture, to narrow the region.
    pub city: Option<String>,
    /// Condition categories (`GET /needs/vocabulary`).
    #[serde(default)]
    pub conditions: Vec<String>,
    /// Wanted かかりつけ医 functions (`GET /directory/functions`), e.g. `home-care`.
    #[serde(default)]
    pub functions: Vec<String>,
}

/// A raised hand, as the insurer and the member see it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct HandView {
    pub id: i64,
    pub organization: String,
    pub organization_name: Option<String>,
    pub practitioner: String,
    pub practitioner_name: Option<String>,
    /// The functions the institution is certified for.
    pub functions: Vec<String>,
    pub message: Option<String>,
    /// Epoch milliseconds.
    pub raised_at: i64,
}

/// A need, as the insurer and the member see it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct NeedView {
    pub id: i64,
    pub member: String,
    pub prefecture: String,
    pub city: Option<String>,
    pub conditions: Vec<String>,
    pub functions: Vec<String>,
    /// `open`, `accepted` or `withdrawn`.
    pub status: String,
    pub posted_at: i64,
    pub hands: Vec<HandView>,
    pub accepted_hand: Option<i64>,
    /// The registration the member's acceptance made.
    pub registration: Option<i64>,
}

/// A need, as an institution of the region sees it: no identity.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct AnonymousNeedView {
    pub id: i64,
    pub prefecture: String,
    pub city: Option<String>,
    pub conditions: Vec<String>,
    pub functions: Vec<String>,
    pub posted_at: i64,
    /// The hand this institution raised, if it did.
    pub your_hand: Option<i64>,
}

/// `POST /needs/{id}/hands`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandRequest {
    /// The doctor of the institution who would be the member's registered doctor.
    pub practitioner: String,
    /// A short note to the member (up to 500 characters; no patient data).
    pub message: Option<String>,
}

/// `POST /me/needs/{id}/accept`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// The hand accepted.
    pub hand: i64,
    /// The person's consent to insurer programs with the registration.
    pub insurer_programs: Option<bool>,
}

fn invalid(location: &str, message: &str) -> Problem {
    Problem::new(ErrorCode::InvalidBody, location, message)
}

fn not_found() -> Problem {
    Problem::new(ErrorCode::ResourceNotFound, "id", "no such need")
}

fn anonymous(n: &NeedRow) -> AnonymousNeed {
    AnonymousNeed {
        prefecture: n.prefecture.clone(),
        city: n.city.clone(),
        conditions: n.conditions.clone(),
        functions: n.functions.clone(),
    }
}

fn anonymous_view(n: &NeedRow, your_hand: Option<i64>) -> AnonymousNeedView {
    AnonymousNeedView {
        id: n.id,
        prefecture: n.prefecture.clone(),
        city: n.city.clone(),
        conditions: n.conditions.clone(),
        functions: n.functions.clone(),
        posted_at: n.created_at,
        your_hand,
    }
}

fn hand_view(tx: &mut Tx<'_>, h: HandRow) -> Result<HandView, Problem> {
    let org = tx.organization(&h.organization)?;
    let practitioner_name = tx.practitioner(&h.practitioner)?.map(|p| p.name);
    Ok(HandView {
        id: h.id,
        organization_name: org.as_ref().map(|o| o.name.clone()),
        functions: org.map(|o| o.functions).unwrap_or_default(),
        organization: h.organization,
        practitioner: h.practitioner,
        practitioner_name,
        message: h.message,
        raised_at: h.created_at,
    })
}

fn need_view(tx: &mut Tx<'_>, n: NeedRow) -> Result<NeedView, Problem> {
    let mut hands = Vec::new();
    for h in tx.hands(n.id)? {
        hands.push(hand_view(tx, h)?);
    }
    Ok(NeedView {
        id: n.id,
        member: n.member_key,
        prefecture: n.prefecture,
        city: n.city,
        conditions: n.conditions,
        functions: n.functions,
        status: n.status,
        posted_at: n.created_at,
        hands,
        accepted_hand: n.accepted_hand,
        registration: n.registration_id,
    })
}

/// An event for an institution about a need: only the anonymous part.
fn tell_institution(
    tx: &mut Tx<'_>,
    topic: &str,
    organization: &str,
    n: &NeedRow,
) -> Result<(), Problem> {
    let payload = json!({"need": n.id, "prefecture": n.prefecture, "city": n.city,
                         "conditions": n.conditions, "functions": n.functions});
    tx.insert_event(&NewEvent {
        topic,
        recipient: Recipient::Organization(organization),
        person_pk: None,
        registration_id: None,
        payload: &payload.to_string(),
        focus: None,
    })?;
    Ok(())
}

fn audit(
    ctx: &Ctx,
    action: &str,
    need: i64,
    person: Option<i64>,
) -> crate::store::audit::AuditEntry {
    let mut e = ctx.audit(action);
    e.resource_type = Some("Need".into());
    e.resource_id = Some(need.to_string());
    e.person_pk = person;
    e
}

/// `POST /insurer/needs`: the insurer posts a member's need; every certified institution
/// of the region is told (anonymously).
pub async fn post(app: &AppState, ctx: &Ctx, req: NeedRequest) -> Result<NeedView, Problem> {
    let member = registration::parse_member(&req.member, "body.member")?;
    if !access::is_insurer_of(&ctx.caller, &member) {
        return Err(Problem::new(
            ErrorCode::Forbidden,
            "body.member",
            "an insurer posts needs of its own members only",
        ));
    }
    let prefecture = directory::prefecture_code(&req.prefecture)
        .ok_or_else(|| invalid("body.prefecture", "a prefecture code 01-47 or name"))?;
    let city = req
        .city
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    if city.as_ref().is_some_and(|c| c.chars().count() > 50) {
        return Err(invalid("body.city", "at most 50 characters"));
    }
    rules::check(&req.conditions, &req.functions)
        .map_err(|r| invalid(&format!("body.{}", r.field), r.message))?;
    let ctx2 = ctx.clone();
    app.store
        .write(move |tx| {
            let person = match tx.resolve_person(&member, None, None)? {
                PersonLink::Linked(pk) => pk,
                PersonLink::Ambiguous { .. } => {
                    return Err(Problem::new(
                        ErrorCode::InvalidMemberId,
                        "body.member",
                        "without 枝番 this member id matches several family members; give the 枝番",
                    ));
                }
            };
            let key = member.key();
            let insurer = member.insurer().as_str().to_owned();
            let id = tx.insert_need(&NewNeed {
                person_pk: person,
                member_key: &key,
                insurer: &insurer,
                created_by: ctx2.caller.client_id,
                prefecture: &prefecture,
                city: city.as_deref(),
                conditions: &req.conditions,
                functions: &req.functions,
            })?;
            let need = tx.need(id)?.ok_or_else(not_found)?;
            for org in institutions_of_region(tx, &need)? {
                tell_institution(tx, "need.posted", &org.code, &need)?;
            }
            tx.append_audit(&[audit(&ctx2, "need.create", id, Some(person))])?;
            need_view(tx, need)
        })
        .await
}

/// The certified institutions a need is shown to.
fn institutions_of_region(
    tx: &mut Tx<'_>,
    need: &NeedRow,
) -> Result<Vec<OrganizationRow>, Problem> {
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let (rows, total) = tx.search_organizations(&DirectoryQuery {
            prefecture: Some(need.prefecture.clone()),
            city: need.city.clone(),
            certified_only: true,
            limit: 500,
            offset,
            ..DirectoryQuery::default()
        })?;
        offset += rows.len() as i64;
        let done = rows.is_empty() || offset >= total;
        all.extend(rows);
        if done {
            return Ok(all);
        }
    }
}

/// `GET /insurer/needs`: the insurer's needs with their hands, newest first.
pub async fn of_insurer(app: &AppState, ctx: &Ctx) -> Result<Vec<NeedView>, Problem> {
    let insurer = crate::auth::access::bound_insurer(&ctx.caller)?
        .as_str()
        .to_owned();
    let ctx2 = ctx.clone();
    app.store
        .write(move |tx| {
            let mut out = Vec::new();
            let mut persons = std::collections::BTreeSet::new();
            for n in tx.needs_of_insurer(&insurer, 1000)? {
                persons.insert(n.person_pk);
                out.push(need_view(tx, n)?);
            }
            let entries: Vec<_> = persons
                .into_iter()
                .map(|p| audit(&ctx2, "need.read", 0, Some(p)))
                .collect();
            tx.append_audit(&entries)?;
            Ok::<_, Problem>(out)
        })
        .await
}

/// `DELETE /insurer/needs/{id}`: the insurer withdraws an open need; the institutions
/// that raised hands are told (anonymously).
pub async fn withdraw(app: &AppState, ctx: &Ctx, id: i64) -> Result<NeedView, Problem> {
    let ctx2 = ctx.clone();
    app.store
        .write(move |tx| {
            tx.lock_need(id)?;
            let need = tx.need(id)?.ok_or_else(not_found)?;
            if ctx2.caller.insurer.as_ref().map(|i| i.as_str()) != Some(need.insurer.as_str()) {
                return Err(not_found());
            }
            if !tx.close_need(id, "withdrawn", None, None)? {
                return Err(Problem::new(
                    ErrorCode::NeedNotOpen,
                    "id",
                    "the need is no longer open",
                ));
            }
            for h in tx.hands(id)? {
                tell_institution(tx, "need.withdrawn", &h.organization, &need)?;
            }
            tx.append_audit(&[audit(&ctx2, "need.withdraw", id, Some(need.person_pk))])?;
            let need = tx.need(id)?.ok_or_else(not_found)?;
            need_view(tx, need)
        })
        .await
}

/// The certified institution the caller works at (EMR or doctor), or why not.
fn own_institution(tx: &mut Tx<'_>, caller: &Caller) -> Result<OrganizationRow, Problem> {
    let code = caller.facility.as_ref().ok_or_else(|| {
        Problem::new(
            ErrorCode::Forbidden,
            "",
            "the client is not bound to an institution",
        )
    })?;
    tx.organization(code.as_str())?
        .filter(|o| o.certified)
        .ok_or_else(|| {
            Problem::new(
                ErrorCode::Forbidden,
                "",
                "needs are shown to institutions certified as かかりつけ医-capable",
            )
        })
}

/// `GET /needs`: the open needs of the caller's region (certified institutions only),
/// without identity, newest first.
pub async fn of_region(app: &AppState, ctx: &Ctx) -> Result<Vec<AnonymousNeedView>, Problem> {
    let caller = ctx.caller.clone();
    app.store
        .read(move |tx| {
            let org = own_institution(tx, &caller)?;
            let needs: Vec<NeedRow> = tx
                .open_needs_in(&org.prefecture, 1000)?
                .into_iter()
                .filter(|n| rules::in_region(&anonymous(n), &org.prefecture, org.city.as_deref()))
                .collect();
            let ids: Vec<i64> = needs.iter().map(|n| n.id).collect();
            let hands = tx.hands_of_organization(&org.code, &ids)?;
            Ok::<_, Problem>(
                needs
                    .iter()
                    .map(|n| {
                        let own = hands.iter().find(|h| h.need_id == n.id).map(|h| h.id);
                        anonymous_view(n, own)
                    })
                    .collect(),
            )
        })
        .await
}

/// `POST /needs/{id}/hands`: a certified institution of the region raises its hand, naming
/// the doctor who would be registered; the insurer and the member are told.
pub async fn raise_hand(
    app: &AppState,
    ctx: &Ctx,
    id: i64,
    req: HandRequest,
) -> Result<AnonymousNeedView, Problem> {
    if let Some(m) = &req.message
        && (m.chars().count() > 500 || m.chars().any(|c| c.is_control() && c != '\n'))
    {
        return Err(invalid(
            "body.message",
            "at most 500 characters, no control characters",
        ));
    }
    if ctx.caller.role == Role::Doctor
        && ctx.caller.practitioner.as_deref() != Some(req.practitioner.as_str())
    {
        return Err(Problem::new(
            ErrorCode::Forbidden,
            "body.practitioner",
            "a doctor raises a hand for themself",
        ));
    }
    let ctx2 = ctx.clone();
    app.store
        .write(move |tx| {
            let org = own_institution(tx, &ctx2.caller)?;
            tx.lock_need(id)?;
            // A need outside the region is reported like one that does not exist.
            let need = tx
                .need(id)?
                .filter(|n| rules::in_region(&anonymous(n), &org.prefecture, org.city.as_deref()))
                .ok_or_else(not_found)?;
            if need.status != "open" {
                return Err(Problem::new(
                    ErrorCode::NeedNotOpen,
                    "id",
                    "the need is no longer open",
                ));
            }
            let practitioner = tx.practitioner(&req.practitioner)?;
            if practitioner.and_then(|p| p.organization).as_deref() != Some(org.code.as_str()) {
                return Err(invalid(
                    "body.practitioner",
                    "no practitioner of this institution with this id",
                ));
            }
            let hand = tx.raise_hand(
                id,
                &org.code,
                &req.practitioner,
                req.message.as_deref(),
                ctx2.caller.client_id,
            )?;
            let payload = json!({"need": id, "hand": hand.id, "organization": org.code,
                                 "organization_name": org.name, "practitioner": hand.practitioner});
            for recipient in [
                Recipient::Insurer(&need.insurer),
                Recipient::Member(&need.member_key),
            ] {
                tx.insert_event(&NewEvent {
                    topic: "need.hand-raised",
                    recipient,
                    person_pk: Some(need.person_pk),
                    registration_id: None,
                    payload: &payload.to_string(),
                    focus: None,
                })?;
            }
            tx.append_audit(&[audit(&ctx2, "need.hand", id, None)])?;
            Ok::<_, Problem>(anonymous_view(&need, Some(hand.id)))
        })
        .await
}

/// `GET /me/needs`: the needs the person's insurer posted for them, with the hands.
pub async fn of_person(app: &AppState, ctx: &Ctx) -> Result<Vec<NeedView>, Problem> {
    let member = ctx.caller.member.clone().ok_or_else(|| {
        Problem::new(
            ErrorCode::Forbidden,
            "",
            "the client is not bound to a person",
        )
    })?;
    app.store
        .read(move |tx| {
            let Some(person) = tx.person_by_member(&member)? else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            for n in tx.needs_of_person(person.pk)? {
                out.push(need_view(tx, n)?);
            }
            Ok::<_, Problem>(out)
        })
        .await
}

/// Today in Japan, `YYYY-MM-DD`.
fn japan_today(now_millis: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(now_millis.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(time::macros::offset!(+9));
    let d = at.date();
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

/// `POST /me/needs/{id}/accept`: the member accepts a hand. A registration with that
/// institution and doctor is proposed and, being the person's own decision, takes effect
/// at once through the person's confirmation (`registration::confirm_in`); the need is
/// closed; the chosen institution is told the registration, the others that the need
/// closed.
pub async fn accept(
    app: &AppState,
    ctx: &Ctx,
    id: i64,
    req: AcceptRequest,
) -> Result<RegistrationView, Problem> {
    access::require_role(&ctx.caller, access::PERSONS)?;
    let ctx2 = ctx.clone();
    let days = registration::pending_days(app);
    app.store
        .write(move |tx| {
            tx.lock_need(id)?;
            let need = tx.need(id)?.ok_or_else(not_found)?;
            let member = MemberId::parse(&need.member_key).map_err(|_| Problem::bare(ErrorCode::Internal))?;
            if !access::is_person(&ctx2.caller, &member) {
                return Err(not_found());
            }
            if need.status != "open" {
                return Err(Problem::new(ErrorCode::NeedNotOpen, "id", "the need is no longer open"));
            }
            let hands = tx.hands(id)?;
            let hand = hands
                .iter()
                .find(|h| h.id == req.hand)
                .cloned()
                .ok_or_else(|| invalid("body.hand", "no hand with this id was raised on this need"))?;
            // The institution must still be certified and the doctor still work there.
            let org = tx.organization(&hand.organization)?.filter(|o| o.certified);
            let works = tx
                .practitioner(&hand.practitioner)?
                .and_then(|p| p.organization)
                .is_some_and(|o| o == hand.organization);
            if org.is_none() || !works {
                return Err(Problem::new(
                    ErrorCode::NeedNotOpen,
                    "body.hand",
                    "the institution is no longer certified or the doctor no longer works there",
                ));
            }
            tx.lock_person(need.person_pk)?;
            registration::lapse_overdue(tx, need.person_pk, days)?;
            let start = japan_today(tx.now());
            let registration_id = tx.insert_registration(&NewRegistration {
                person_pk: need.person_pk,
                member_key: &need.member_key,
                practitioner: &hand.practitioner,
                organization: &hand.organization,
                start_date: &start,
                created_by: hand.created_by,
                status: RegistrationStatus::Pending,
                basis: None,
                evidence_document: None,
                evidence_attested_by: None,
                requested_consent: req.insurer_programs,
            })?;
            let row = registration::confirm_in(tx, &ctx2, registration_id, req.insurer_programs)?;
            tx.close_need(id, "accepted", Some(hand.id), Some(registration_id))?;
            for other in hands.iter().filter(|h| h.id != hand.id) {
                tell_institution(tx, "need.closed", &other.organization, &need)?;
            }
            let payload = json!({"need": id, "hand": hand.id, "registration": registration_id,
                                 "organization": hand.organization, "practitioner": hand.practitioner});
            tx.insert_event(&NewEvent {
                topic: "need.accepted",
                recipient: Recipient::Insurer(&need.insurer),
                person_pk: Some(need.person_pk),
                registration_id: Some(registration_id),
                payload: &payload.to_string(),
                focus: None,
            })?;
            let mut entry = audit(&ctx2, "need.accept", id, Some(need.person_pk));
            entry.detail = Some(format!("registration={registration_id}"));
            tx.append_audit(&[entry])?;
            registration::party_view(tx, row, days)
        })
        .await
}

/// The vocabulary of condition categories (public).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct ConditionView {
    pub code: String,
    pub label: String,
}

pub fn conditions() -> Vec<ConditionView> {
    rules::CONDITIONS
        .iter()
        .map(|(c, l)| ConditionView {
            code: (*c).to_owned(),
            label: (*l).to_owned(),
        })
        .collect()
}
