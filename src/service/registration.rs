//! Registering a person's one family doctor (かかりつけ医), ending it, and the person's
//! consent to share lab values with the insurer for its health programs.
//!
//! * Who may register: the doctor or the EMR of the institution registered with, or the
//!   person's insurer. Only certified institutions can be registered with, and the
//!   practitioner must work there.
//! * Exactly one active registration per person: a new one ends the previous one in the
//!   same transaction (serialised per person; a partial unique index backs it).
//! * Who a person's doctor is, is visible to every provider and to the person's insurer;
//!   the clinical data is not (see `docs/access.md`).
//! * Consent is recorded with when and by whom; the newest decision is in force, so a
//!   revocation stops the next insurer pull.

use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::{Role, access};
use crate::domain::{FhirDateTime, MemberId};
use crate::error::{ErrorCode, Problem};
use crate::service::Ctx;
use crate::store::Tx;
use crate::store::persons::PersonLink;
use crate::store::registrations::{ConsentRow, NewRegistration, RegistrationRow};

/// The consent part of a registration request.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    /// Share lab values with the insurer for its health programs (重症化予防, 特定保健指導).
    pub insurer_programs: bool,
}

/// `POST /registrations`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationRequest {
    /// `保険者番号:記号:番号[:枝番]`.
    pub member: String,
    /// The practitioner id (directory).
    pub practitioner: String,
    /// The 10-digit institution code (directory, certified).
    pub organization: String,
    /// First day, `YYYY-MM-DD`.
    pub start: String,
    #[schema(inline)]
    pub consent: ConsentRequest,
}

/// `POST /consents`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentChange {
    pub member: String,
    pub insurer_programs: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct ConsentView {
    pub insurer_programs: bool,
    pub recorded_at: i64,
    /// The client that recorded it.
    pub recorded_by: i64,
}

/// A registration as shown.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct RegistrationView {
    pub id: i64,
    pub member: String,
    pub practitioner: String,
    pub practitioner_name: Option<String>,
    pub organization: String,
    pub organization_name: Option<String>,
    pub start: String,
    /// `active` or `ended`.
    pub status: String,
    pub created_at: i64,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
}

/// `GET /registrations?member=`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct RegistrationStatus {
    pub member: String,
    pub current: Option<RegistrationView>,
    pub history: Vec<RegistrationView>,
    pub consent: Option<ConsentView>,
}

fn parse_member(raw: &str, location: &str) -> Result<MemberId, Problem> {
    MemberId::parse(raw)
        .map_err(|e| Problem::new(ErrorCode::InvalidMemberId, location, e.to_string()))
}

fn consent_view(c: ConsentRow) -> ConsentView {
    ConsentView {
        insurer_programs: c.insurer_programs,
        recorded_at: c.recorded_at,
        recorded_by: c.recorded_by,
    }
}

fn registration_view(tx: &mut Tx<'_>, r: RegistrationRow) -> Result<RegistrationView, Problem> {
    let practitioner_name = tx.practitioner(&r.practitioner)?.map(|p| p.name);
    let organization_name = tx.organization(&r.organization)?.map(|o| o.name);
    Ok(RegistrationView {
        id: r.id,
        member: r.member_key,
        practitioner: r.practitioner,
        practitioner_name,
        organization: r.organization,
        organization_name,
        start: r.start_date,
        status: if r.ended_at.is_some() {
            "ended".into()
        } else {
            "active".into()
        },
        created_at: r.created_at,
        ended_at: r.ended_at,
        end_reason: r.end_reason,
    })
}

fn forbidden() -> Problem {
    Problem::new(
        ErrorCode::Forbidden,
        "",
        "only the doctor or EMR of the institution, or the person's insurer, may do this",
    )
}

/// `POST /registrations`.
pub async fn register(
    app: &AppState,
    ctx: &Ctx,
    req: RegistrationRequest,
) -> Result<RegistrationView, Problem> {
    let member = parse_member(&req.member, "body.member")?;
    let start = FhirDateTime::parse(&req.start)
        .ok()
        .and_then(|d| d.date())
        .filter(|_| req.start.len() == 10)
        .ok_or_else(|| Problem::new(ErrorCode::InvalidBody, "body.start", "a date YYYY-MM-DD"))?;
    let start = format!(
        "{:04}-{:02}-{:02}",
        start.year(),
        start.month() as u8,
        start.day()
    );
    let organization = crate::domain::InstitutionCode::parse(&req.organization)
        .map_err(|_| {
            Problem::new(
                ErrorCode::InvalidBody,
                "body.organization",
                "a 10-digit institution code",
            )
        })?
        .to_string();
    if !access::may_manage_registration(&ctx.caller, &organization, &member) {
        return Err(forbidden());
    }
    // A doctor registers patients to themselves.
    if ctx.caller.role == Role::Doctor
        && ctx.caller.practitioner.as_deref() != Some(req.practitioner.as_str())
    {
        return Err(Problem::new(
            ErrorCode::Forbidden,
            "body.practitioner",
            "a doctor registers patients to themselves",
        ));
    }
    let ctx2 = ctx.clone();
    app.store
        .write(move |tx| {
            let org = tx.organization(&organization)?.ok_or_else(|| {
                Problem::new(
                    ErrorCode::InvalidBody,
                    "body.organization",
                    "no such institution in the directory",
                )
            })?;
            if !org.certified {
                return Err(Problem::new(
                    ErrorCode::InvalidBody,
                    "body.organization",
                    "the institution is not certified as かかりつけ医-capable",
                ));
            }
            let practitioner = tx.practitioner(&req.practitioner)?.ok_or_else(|| {
                Problem::new(
                    ErrorCode::InvalidBody,
                    "body.practitioner",
                    "no such practitioner in the directory",
                )
            })?;
            if practitioner.organization.as_deref() != Some(organization.as_str()) {
                return Err(Problem::new(
                    ErrorCode::InvalidBody,
                    "body.practitioner",
                    "the practitioner does not work at this institution",
                ));
            }
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
            tx.lock_person(person)?;
            let by = ctx2.caller.client_id;
            let previous = tx.end_active_registration(person, by, "replaced")?;
            let id = tx.insert_registration(&NewRegistration {
                person_pk: person,
                member_key: &member.key(),
                practitioner: &req.practitioner,
                organization: &organization,
                start_date: &start,
                created_by: by,
            })?;
            tx.record_consent(person, req.consent.insurer_programs, by, Some(id))?;
            let mut audit = ctx2.audit("registration.create");
            audit.resource_type = Some("EpisodeOfCare".into());
            audit.resource_id = Some(id.to_string());
            audit.person_pk = Some(person);
            audit.detail = Some(match previous {
                Some(p) => format!(
                    "replaces registration {}; consent insurer_programs={}",
                    p.id, req.consent.insurer_programs
                ),
                None => format!("consent insurer_programs={}", req.consent.insurer_programs),
            });
            tx.append_audit(&[audit])?;
            let row = tx
                .registration(id)?
                .ok_or_else(|| Problem::bare(ErrorCode::Internal))?;
            registration_view(tx, row)
        })
        .await
}

/// `DELETE /registrations/{id}`.
pub async fn end(app: &AppState, ctx: &Ctx, id: i64) -> Result<RegistrationView, Problem> {
    if !matches!(ctx.caller.role, Role::Emr | Role::Doctor | Role::Insurer) {
        return Err(forbidden());
    }
    let ctx2 = ctx.clone();
    app.store
        .write(move |tx| {
            let not_found = || {
                Problem::new(
                    ErrorCode::ResourceNotFound,
                    "id",
                    "no active registration with this id",
                )
            };
            let row = tx.registration(id)?.ok_or_else(not_found)?;
            let member =
                MemberId::parse(&row.member_key).map_err(|_| Problem::bare(ErrorCode::Internal))?;
            if !access::may_manage_registration(&ctx2.caller, &row.organization, &member) {
                // Not revealing whether it exists to those who may not manage it.
                return Err(not_found());
            }
            tx.lock_person(row.person_pk)?;
            if !tx.end_registration(id, ctx2.caller.client_id, "ended")? {
                return Err(not_found());
            }
            let mut audit = ctx2.audit("registration.end");
            audit.resource_type = Some("EpisodeOfCare".into());
            audit.resource_id = Some(id.to_string());
            audit.person_pk = Some(row.person_pk);
            tx.append_audit(&[audit])?;
            let row = tx
                .registration(id)?
                .ok_or_else(|| Problem::bare(ErrorCode::Internal))?;
            registration_view(tx, row)
        })
        .await
}

/// `GET /registrations?member=`.
pub async fn status(
    app: &AppState,
    ctx: &Ctx,
    member: &str,
) -> Result<RegistrationStatus, Problem> {
    let member = parse_member(member, "member")?;
    if !access::may_see_registrations_of(&ctx.caller, &member) {
        return Err(Problem::new(
            ErrorCode::Forbidden,
            "",
            "registrations are visible to providers and the person's insurer",
        ));
    }
    let ctx2 = ctx.clone();
    let key = member.key();
    app.store
        .write(move |tx| {
            let person = tx.person_by_member(&member)?;
            let Some(person) = person else {
                return Ok(RegistrationStatus {
                    member: key,
                    current: None,
                    history: Vec::new(),
                    consent: None,
                });
            };
            let rows = tx.registration_history(person.pk)?;
            let mut history = Vec::with_capacity(rows.len());
            for r in rows {
                history.push(registration_view(tx, r)?);
            }
            let current = history.iter().find(|r| r.status == "active").cloned();
            let consent = tx.current_consent(person.pk)?.map(consent_view);
            let mut audit = ctx2.audit("registration.read");
            audit.resource_type = Some("EpisodeOfCare".into());
            audit.person_pk = Some(person.pk);
            tx.append_audit(&[audit])?;
            Ok::<_, Problem>(RegistrationStatus {
                member: person.member_key,
                current,
                history,
                consent,
            })
        })
        .await
}

/// `POST /consents`: records the person's decision. By the registered doctor or EMR of the
/// registered institution, or the person's insurer.
pub async fn change_consent(
    app: &AppState,
    ctx: &Ctx,
    req: ConsentChange,
) -> Result<ConsentView, Problem> {
    let member = parse_member(&req.member, "body.member")?;
    access::require_role(&ctx.caller, access::REGISTRATION_MANAGERS)?;
    let ctx2 = ctx.clone();
    app.store
        .write(move |tx| {
            let not_registered = || {
                Problem::new(
                    ErrorCode::ResourceNotFound,
                    "body.member",
                    "no active registration for this member",
                )
            };
            let person = tx.person_by_member(&member)?.ok_or_else(not_registered)?;
            let active = tx
                .active_registration(person.pk)?
                .ok_or_else(not_registered)?;
            if !access::may_manage_registration(&ctx2.caller, &active.organization, &member) {
                return Err(forbidden());
            }
            tx.lock_person(person.pk)?;
            tx.record_consent(
                person.pk,
                req.insurer_programs,
                ctx2.caller.client_id,
                Some(active.id),
            )?;
            let mut audit = ctx2.audit("consent.change");
            audit.resource_type = Some("Consent".into());
            audit.person_pk = Some(person.pk);
            audit.detail = Some(format!("insurer_programs={}", req.insurer_programs));
            tx.append_audit(&[audit])?;
            tx.current_consent(person.pk)?
                .map(consent_view)
                .ok_or_else(|| Problem::bare(ErrorCode::Internal))
        })
        .await
}
