//! Inquiries (照会) as FHIR `Task`: an insurer asks about a member, kakari routes the
//! question to the member's registered doctor (the active registration's), the doctor
//! accepts, answers and completes it, the insurer follows it. Only the two parties see a
//! Task (anyone else gets the same 404 as for a Task that does not exist); every step is
//! audited and told to the other party as an event (`inquiry.*`, delivered by
//! subscriptions too), in the transaction of the change; every version is kept
//! (`_history`).
//!
//! When the member's registration moves, open inquiries follow it
//! ([`follow_registration`], the rule in `domain::inquiry`).

use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::{Caller, Role};
use crate::codec::fhir::task::{self, Owner};
use crate::domain::datetime::format_instant_millis;
use crate::domain::inquiry::{
    self as rules, InquiryActor, InquiryStatus, Rerouting, TransitionRefusal,
};
use crate::domain::{InsurerNumber, MemberId};
use crate::error::{ErrorCode, Problem};
use crate::service::Ctx;
use crate::service::fhir::{FhirResponse, SearchsetPage, searchset};
use crate::store::Tx;
use crate::store::events::{NewEvent, Recipient};
use crate::store::inquiries::{InquiryChange, InquiryFilter, InquiryRow, NewInquiry};
use crate::store::registrations::RegistrationRow;

fn not_found() -> Problem {
    Problem::new(ErrorCode::ResourceNotFound, "Task", "no such resource")
}

/// In which capacity the caller acts on an inquiry (`None`: not a party; it stays hidden).
fn actor(caller: &Caller, row: &InquiryRow) -> Option<InquiryActor> {
    match caller.role {
        Role::Doctor
            if caller.practitioner.is_some() && caller.practitioner == row.owner_practitioner =>
        {
            Some(InquiryActor::Owner)
        }
        Role::Insurer
            if caller.insurer.as_ref().map(InsurerNumber::as_str) == Some(&row.insurer) =>
        {
            Some(InquiryActor::Insurer)
        }
        _ => None,
    }
}

fn parse_body(row: &InquiryRow) -> Result<Value, Problem> {
    serde_json::from_str(&row.body).map_err(|_| Problem::bare(ErrorCode::Internal))
}

fn member_of(row: &InquiryRow) -> Result<MemberId, Problem> {
    MemberId::parse(&row.member_key).map_err(|_| Problem::bare(ErrorCode::Internal))
}

fn insurer_number(row: &InquiryRow) -> Result<InsurerNumber, Problem> {
    InsurerNumber::parse(&row.insurer).map_err(|_| Problem::bare(ErrorCode::Internal))
}

fn served(row: &InquiryRow, status: u16, base: &str) -> FhirResponse {
    FhirResponse {
        status,
        body: crate::service::fhir::FhirBody::Text(row.body.clone()),
        location: Some(format!("{base}/Task/{}/_history/{}", row.id, row.version)),
        version: Some(row.version),
        last_modified: Some(row.updated_at),
    }
}

/// An event about an inquiry for one party.
fn tell(
    tx: &mut Tx<'_>,
    topic: &str,
    recipient: Recipient<'_>,
    row: &InquiryRow,
    visible: bool,
    extra: Value,
) -> Result<(), Problem> {
    let mut payload =
        json!({"task": row.id, "status": row.status.as_str(), "member": row.member_key});
    if !visible {
        // Told only that an inquiry is no longer theirs: not its state, not where it went.
        payload = json!({"task": row.id, "status": "reassigned"});
    }
    if let (Some(p), Some(e)) = (payload.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    let focus = format!("Task/{}/_history/{}", row.id, row.version);
    tx.insert_event(&NewEvent {
        topic,
        recipient,
        person_pk: Some(row.person_pk),
        registration_id: None,
        payload: &payload.to_string(),
        focus: visible.then_some(focus.as_str()),
    })?;
    Ok(())
}

fn owner<'a>(r: &'a RegistrationRow, name: Option<&'a str>) -> Owner<'a> {
    Owner {
        practitioner: &r.practitioner,
        practitioner_name: name,
        organization: &r.organization,
    }
}

fn audit(
    ctx: &Ctx,
    action: &str,
    row: &InquiryRow,
    detail: Option<String>,
) -> crate::store::audit::AuditEntry {
    let mut e = ctx.audit(action);
    e.resource_type = Some("Task".into());
    e.resource_id = Some(row.id.to_string());
    e.person_pk = Some(row.person_pk);
    e.detail = detail;
    e
}

/// `POST /fhir/Task`: the insurer asks; kakari routes it to the registered doctor.
pub async fn create(
    app: &AppState,
    ctx: &Ctx,
    body: &[u8],
    base: &str,
) -> Result<FhirResponse, Problem> {
    let insurer = crate::auth::access::bound_insurer(&ctx.caller)?.clone();
    let value = crate::codec::fhir::json::parse(body)?;
    let new = task::read_new(&value)?;
    if new.member.insurer() != &insurer {
        return Err(Problem::new(
            ErrorCode::Forbidden,
            "Task.for",
            "an insurer asks about its own members only",
        ));
    }
    let ctx2 = ctx.clone();
    let base = base.to_owned();
    app.store
        .write(move |tx| {
            let no_doctor = || {
                Problem::new(
                    ErrorCode::InquiryNoRegisteredDoctor,
                    "Task.for",
                    "the member has no active registration with a family doctor",
                )
            };
            let person = tx.person_by_member(&new.member)?.ok_or_else(no_doctor)?;
            tx.lock_person(person.pk)?;
            let registration = tx.active_registration(person.pk)?.ok_or_else(no_doctor)?;
            let name = tx.practitioner(&registration.practitioner)?.map(|p| p.name);
            let member_key = new.member.key();
            let mut body = new.body.clone();
            let row = tx.insert_inquiry(
                &NewInquiry {
                    person_pk: person.pk,
                    member_key: &member_key,
                    insurer: insurer.as_str(),
                    created_by: ctx2.caller.client_id,
                    owner_practitioner: &registration.practitioner,
                    owner_organization: &registration.organization,
                },
                InquiryStatus::Requested,
                |id, at| {
                    task::stamp(
                        &mut body,
                        id,
                        1,
                        at,
                        &insurer,
                        &new.member,
                        Some(owner(&registration, name.as_deref())),
                    );
                    body.to_string()
                },
            )?;
            tell(
                tx,
                "inquiry.routed",
                Recipient::Practitioner(&registration.practitioner),
                &row,
                true,
                json!({"code": new.code}),
            )?;
            tx.append_audit(&[audit(
                &ctx2,
                "inquiry.create",
                &row,
                Some(format!("code={}", new.code)),
            )])?;
            Ok::<_, Problem>(served(&row, 201, &base))
        })
        .await
}

fn transition_problem(r: TransitionRefusal) -> Problem {
    match r {
        TransitionRefusal::NotAllowed => Problem::new(
            ErrorCode::InquiryTransition,
            "Task.status",
            "not a status change this party may make from the current status",
        ),
        TransitionRefusal::AnswerRequired => Problem::new(
            ErrorCode::InquiryAnswerRequired,
            "Task.output",
            "completing an inquiry needs the answer in Task.output",
        ),
        TransitionRefusal::AnswerOnlyWithCompletion => Problem::new(
            ErrorCode::InquiryAnswerRequired,
            "Task.output",
            "the answer is given with completion (status completed)",
        ),
    }
}

/// Sets `executionPeriod` as the doctor works: started when accepted, ended when finished.
fn execution_period(task: &mut Value, from: InquiryStatus, to: InquiryStatus, at: i64) {
    let now = format_instant_millis(at);
    if from == InquiryStatus::Requested && to != from {
        task["executionPeriod"] = json!({"start": now});
    }
    if matches!(
        to,
        InquiryStatus::Completed | InquiryStatus::Rejected | InquiryStatus::Cancelled
    ) && to != from
        && let Some(period) = task
            .get_mut("executionPeriod")
            .and_then(Value::as_object_mut)
    {
        period.insert("end".into(), json!(now));
    }
}

/// `PUT /fhir/Task/{id}`: the doctor accepts, starts, rejects or completes (with the
/// answer); the insurer cancels. Other elements must stay as stored.
pub async fn update(
    app: &AppState,
    ctx: &Ctx,
    id: &str,
    body: &[u8],
    if_match: Option<i64>,
    base: &str,
) -> Result<FhirResponse, Problem> {
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let incoming = crate::codec::fhir::json::parse(body)?;
    if incoming
        .get("id")
        .and_then(Value::as_str)
        .is_some_and(|i| i != id.to_string())
    {
        return Err(Problem::new(
            ErrorCode::IdMismatch,
            "Task.id",
            "the id in the body differs from the id in the URL",
        ));
    }
    let ctx2 = ctx.clone();
    let base = base.to_owned();
    app.store
        .write(move |tx| {
            tx.lock_inquiry(id)?;
            let row = tx.inquiry(id)?.ok_or_else(not_found)?;
            let actor = actor(&ctx2.caller, &row).ok_or_else(not_found)?;
            if if_match.is_some_and(|v| v != row.version) {
                return Err(Problem::new(
                    ErrorCode::VersionConflict,
                    "If-Match",
                    "the inquiry changed since that version",
                ));
            }
            let may_change = match actor {
                InquiryActor::Owner => task::OWNER_MAY_CHANGE,
                InquiryActor::Insurer => task::INSURER_MAY_CHANGE,
            };
            let stored = parse_body(&row)?;
            let mut next = task::merge_update(&stored, &incoming, may_change)?;
            let to = task::status_of(&next)?;
            rules::transition(actor, row.status, to, task::has_answer(&next))
                .map_err(transition_problem)?;
            let now = tx.now();
            execution_period(&mut next, row.status, to, now);
            let name = match &row.owner_practitioner {
                Some(p) => tx.practitioner(p)?.map(|p| p.name),
                None => None,
            };
            let owner = row
                .owner_practitioner
                .as_deref()
                .zip(row.owner_organization.as_deref())
                .map(|(p, o)| Owner {
                    practitioner: p,
                    practitioner_name: name.as_deref(),
                    organization: o,
                });
            let (insurer, member) = (insurer_number(&row)?, member_of(&row)?);
            task::stamp(
                &mut next,
                id,
                row.version + 1,
                now,
                &insurer,
                &member,
                owner,
            );
            let text = next.to_string();
            tx.update_inquiry(&InquiryChange {
                id,
                status: to,
                owner_practitioner: row.owner_practitioner.as_deref(),
                owner_organization: row.owner_organization.as_deref(),
                body: &text,
                by: ctx2.caller.client_id,
            })?;
            let updated = tx.inquiry(id)?.ok_or_else(not_found)?;
            let topic = format!("inquiry.{}", to.as_str());
            match actor {
                InquiryActor::Owner if to != row.status => {
                    tell(
                        tx,
                        &topic,
                        Recipient::Insurer(&row.insurer),
                        &updated,
                        true,
                        json!({}),
                    )?;
                }
                InquiryActor::Insurer => {
                    if let Some(p) = &row.owner_practitioner {
                        tell(
                            tx,
                            &topic,
                            Recipient::Practitioner(p),
                            &updated,
                            true,
                            json!({}),
                        )?;
                    }
                }
                InquiryActor::Owner => {}
            }
            tx.append_audit(&[audit(
                &ctx2,
                "inquiry.update",
                &updated,
                Some(format!("status={}->{}", row.status.as_str(), to.as_str())),
            )])?;
            Ok(served(&updated, 200, &base))
        })
        .await
}

/// `GET /fhir/Task/{id}` (and `/_history/{vid}` with `version`).
pub async fn read(
    app: &AppState,
    ctx: &Ctx,
    id: &str,
    version: Option<&str>,
    base: &str,
) -> Result<FhirResponse, Problem> {
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let version = match version {
        Some(v) => Some(v.parse::<i64>().map_err(|_| not_found())?),
        None => None,
    };
    let ctx2 = ctx.clone();
    let base = base.to_owned();
    app.store
        .write(move |tx| {
            let row = tx.inquiry(id)?.ok_or_else(not_found)?;
            actor(&ctx2.caller, &row).ok_or_else(not_found)?;
            let response = match version {
                None => served(&row, 200, &base),
                Some(v) => {
                    let found = tx
                        .inquiry_versions(id)?
                        .into_iter()
                        .find(|x| x.version == v)
                        .ok_or_else(not_found)?;
                    FhirResponse {
                        status: 200,
                        body: crate::service::fhir::FhirBody::Text(found.body),
                        location: Some(format!("{base}/Task/{id}/_history/{v}")),
                        version: Some(v),
                        last_modified: Some(found.at),
                    }
                }
            };
            tx.append_audit(&[audit(&ctx2, "read", &row, None)])?;
            Ok::<_, Problem>(response)
        })
        .await
}

/// `GET /fhir/Task/{id}/_history`: every version, newest first (a `history` Bundle).
pub async fn history(
    app: &AppState,
    ctx: &Ctx,
    id: &str,
    base: &str,
) -> Result<FhirResponse, Problem> {
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let ctx2 = ctx.clone();
    let base = base.to_owned();
    app.store
        .write(move |tx| {
            let row = tx.inquiry(id)?.ok_or_else(not_found)?;
            actor(&ctx2.caller, &row).ok_or_else(not_found)?;
            let versions = tx.inquiry_versions(id)?;
            let entries: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let resource: Value = serde_json::from_str(&v.body).unwrap_or(Value::Null);
                    json!({
                        "fullUrl": format!("{base}/Task/{id}"),
                        "resource": resource,
                        "request": {"method": if v.version == 1 { "POST" } else { "PUT" },
                                    "url": if v.version == 1 { "Task".to_owned() } else { format!("Task/{id}") }},
                        "response": {"status": if v.version == 1 { "201" } else { "200" },
                                     "etag": format!("W/\"{}\"", v.version),
                                     "lastModified": format_instant_millis(v.at)}
                    })
                })
                .collect();
            tx.append_audit(&[audit(&ctx2, "history", &row, None)])?;
            Ok::<_, Problem>(FhirResponse::json(
                200,
                json!({"resourceType": "Bundle", "type": "history", "total": entries.len(), "entry": entries}),
            ))
        })
        .await
}

/// The search parameters of Task.
pub const SEARCH_PARAMS: &[(&str, &str)] = &[
    (
        "status",
        "requested | accepted | rejected | in-progress | on-hold | completed | cancelled (comma: any of)",
    ),
    ("patient", "the member: 保険者番号:記号:番号:枝番"),
];

/// `GET /fhir/Task?…`: the doctor's inquiries (routed to them), the insurer's (asked by
/// it); newest first.
pub async fn search(
    app: &AppState,
    ctx: &Ctx,
    pairs: &[(String, String)],
    base: &str,
) -> Result<FhirResponse, Problem> {
    let mut filter = InquiryFilter {
        limit: 50,
        ..InquiryFilter::default()
    };
    let mut member = None;
    let mut params = Vec::new();
    let invalid = |name: &str, message: &str| Problem::new(ErrorCode::InvalidSearch, name, message);
    for (name, value) in pairs {
        match name.as_str() {
            "_count" => {
                filter.limit = value
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| invalid(name, "_count must be 1-1000"))?;
                continue;
            }
            "_cursor" => {
                filter.before_id = Some(
                    value
                        .parse::<i64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| invalid(name, "not a cursor of this search"))?,
                );
                continue;
            }
            "status" => {
                for s in value.split(',') {
                    filter.statuses.push(
                        InquiryStatus::parse(s).ok_or_else(|| invalid(name, "unknown status"))?,
                    );
                }
            }
            "patient" => {
                let raw = value
                    .strip_prefix(crate::domain::code_system::id_system::MEMBER_ID)
                    .and_then(|v| v.strip_prefix('|'))
                    .unwrap_or(value);
                member = Some(MemberId::parse(raw).map_err(|e| {
                    Problem::new(ErrorCode::InvalidMemberId, name.as_str(), e.to_string())
                })?);
            }
            _ => {
                return Err(Problem::new(
                    ErrorCode::UnknownSearchParameter,
                    name.as_str(),
                    "search parameter not supported for Task (see /fhir/metadata)",
                ));
            }
        }
        params.push((name.clone(), value.clone()));
    }
    match ctx.caller.role {
        Role::Doctor => {
            filter.owner = Some(ctx.caller.practitioner.clone().ok_or_else(|| {
                Problem::new(
                    ErrorCode::Forbidden,
                    "",
                    "the client is not bound to a practitioner",
                )
            })?);
        }
        _ => {
            filter.insurer = Some(
                crate::auth::access::bound_insurer(&ctx.caller)?
                    .as_str()
                    .to_owned(),
            )
        }
    }
    let count = filter.limit;
    params.push(("_count".into(), count.to_string()));
    let ctx2 = ctx.clone();
    let (rows, total) = app
        .store
        .write(move |tx| {
            if let Some(m) = &member {
                match tx.person_by_member(m)? {
                    Some(p) => filter.person_pk = Some(p.pk),
                    None => return Ok((Vec::new(), 0)),
                }
            }
            let total = tx.count_inquiries(&InquiryFilter {
                before_id: None,
                ..filter.clone()
            })?;
            filter.limit = count + 1;
            let rows = tx.list_inquiries(&filter)?;
            let persons: std::collections::BTreeSet<i64> = rows
                .iter()
                .take(count as usize)
                .map(|r| r.person_pk)
                .collect();
            let entries: Vec<_> = persons
                .into_iter()
                .map(|pk| {
                    let mut e = ctx2.audit("search");
                    e.resource_type = Some("Task".into());
                    e.person_pk = Some(pk);
                    e
                })
                .collect();
            tx.append_audit(&entries)?;
            Ok::<_, Problem>((rows, total))
        })
        .await?;
    let mut rows = rows;
    let next_cursor = if rows.len() as i64 > count {
        rows.truncate(count as usize);
        rows.last().map(|r| r.id.to_string())
    } else {
        None
    };
    let entries = rows
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            ("Task".to_owned(), r.id.to_string(), v)
        })
        .collect();
    Ok(FhirResponse::json(
        200,
        searchset(
            base,
            "Task",
            SearchsetPage {
                params,
                next_cursor,
                total,
                entries,
            },
        ),
    ))
}

/// Makes the member's open inquiries follow a registration change, in its transaction:
/// `new` is the registration now in force (`None`: ended without a successor). The rule
/// is `domain::inquiry::on_registration_change`; each party is told what is theirs.
pub fn follow_registration(
    tx: &mut Tx<'_>,
    ctx: &Ctx,
    person_pk: i64,
    new: Option<&RegistrationRow>,
) -> Result<(), Problem> {
    let ids: Vec<i64> = tx
        .open_inquiries_of(person_pk)?
        .iter()
        .map(|r| r.id)
        .collect();
    for id in ids {
        // Locked, then read again: a doctor's change in flight lands first.
        tx.lock_inquiry(id)?;
        let Some(row) = tx.inquiry(id)? else {
            continue;
        };
        let rule = rules::on_registration_change(
            row.status,
            row.owner_practitioner.as_deref(),
            new.map(|r| r.practitioner.as_str()),
        );
        let (status, reason, to) = match (rule, new) {
            (Rerouting::Unchanged, _) => continue,
            (Rerouting::ToNewDoctor, Some(r)) => (
                InquiryStatus::Requested,
                "re-routed to the member's new registered doctor",
                Some(r),
            ),
            (_, _) => (
                InquiryStatus::OnHold,
                "the member's registration ended; waiting for a new registered doctor",
                None,
            ),
        };
        let mut body = parse_body(&row)?;
        task::set_status(&mut body, status, reason);
        let name = match to {
            Some(r) => tx.practitioner(&r.practitioner)?.map(|p| p.name),
            None => None,
        };
        let now = tx.now();
        let (insurer, member) = (insurer_number(&row)?, member_of(&row)?);
        if let Some(obj) = body.as_object_mut() {
            obj.remove("executionPeriod");
        }
        task::stamp(
            &mut body,
            row.id,
            row.version + 1,
            now,
            &insurer,
            &member,
            to.map(|r| owner(r, name.as_deref())),
        );
        let text = body.to_string();
        tx.update_inquiry(&InquiryChange {
            id: row.id,
            status,
            owner_practitioner: to.map(|r| r.practitioner.as_str()),
            owner_organization: to.map(|r| r.organization.as_str()),
            body: &text,
            by: ctx.caller.client_id,
        })?;
        let updated = tx.inquiry(row.id)?.ok_or_else(not_found)?;
        if let Some(previous) = &row.owner_practitioner
            && to.map(|r| &r.practitioner) != Some(previous)
        {
            tell(
                tx,
                "inquiry.reassigned",
                Recipient::Practitioner(previous),
                &updated,
                false,
                json!({}),
            )?;
        }
        let topic = match to {
            Some(r) => {
                tell(
                    tx,
                    "inquiry.routed",
                    Recipient::Practitioner(&r.practitioner),
                    &updated,
                    true,
                    json!({}),
                )?;
                "inquiry.rerouted"
            }
            None => "inquiry.on-hold",
        };
        tell(
            tx,
            topic,
            Recipient::Insurer(&row.insurer),
            &updated,
            true,
            json!({}),
        )?;
        let action = if to.is_some() {
            "inquiry.reroute"
        } else {
            "inquiry.hold"
        };
        tx.append_audit(&[audit(ctx, action, &updated, None)])?;
    }
    Ok(())
}
