//! Registering a person's one family doctor (かかりつけ医): proposals, their activation by
//! the person (or evidence of the person's signed request), ending, and who sees what.
//! The rules are `domain::registration`'s; this module applies them in one transaction per
//! change, serialised per person, with the audit row and the events telling the parties.
//!
//! * Who proposes: the doctor or the EMR of the institution registered with (a doctor only
//!   themself), or the person's insurer (always pending). Only certified institutions, and
//!   the practitioner must work there.
//! * Exactly one active registration per person (a partial unique index backs it);
//!   activating one ends the previous one and supersedes the person's other proposals.
//! * A pending registration opens nothing; it lapses after the policy's days.
//! * Who a person's doctor is, is visible to every provider and to the person's insurer;
//!   proposals that never took effect and the consent only to the parties (the person,
//!   the insurer, the registered institution); see `docs/access.md`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::AppState;
use crate::auth::{Caller, Role, access};
use crate::domain::registration::{
    self as rules, ActivationBasis, ConsentBasis, Outcome, Proposer, RegistrationStatus as Status,
};
use crate::domain::{FhirDateTime, InstitutionCode, MemberId};
use crate::error::{ErrorCode, Problem};
use crate::service::Ctx;
use crate::service::consent::{ConsentView, consent_view};
use crate::service::notifications::{Audience, tell, topic};
use crate::store::Tx;
use crate::store::persons::PersonLink;
use crate::store::registrations::{NewConsent, NewRegistration, RegistrationRow};

/// The consent part of a registration request.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    /// Share lab values with the insurer for its health programs (重症化予防, 特定保健指導).
    pub insurer_programs: bool,
}

/// Evidence of the person's own signed request or decision, recorded by the institution.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// Where the signed document is filed at the institution (a DocumentReference id, a
    /// scanned form's number): 1-200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub document: String,
    /// The user at the institution who attests it: 1-200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub attested_by: String,
}

impl Evidence {
    /// Checks the lengths; `location` names the field.
    pub fn check(&self, location: &str) -> Result<(), Problem> {
        for (field, value) in [
            ("document", &self.document),
            ("attested_by", &self.attested_by),
        ] {
            let n = value.trim().chars().count();
            if n == 0 || value.chars().count() > 200 {
                return Err(Problem::new(
                    ErrorCode::InvalidBody,
                    format!("{location}.{field}"),
                    "must be 1 to 200 characters",
                ));
            }
        }
        Ok(())
    }
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
    /// The person's signed request, when the institution holds one: where the operator's
    /// policy allows, a registration replacing another institution's then takes effect
    /// without waiting for the person's confirmation.
    #[schema(inline)]
    pub evidence: Option<Evidence>,
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
    /// `pending`, `active`, `ended`, `refused`, `withdrawn` or `superseded`.
    pub status: String,
    /// What made it active: `first`, `same_institution`, `evidence` or `person`.
    pub basis: Option<String>,
    pub created_at: i64,
    /// When it was activated, refused or withdrawn.
    pub decided_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
    /// A pending registration lapses at this time (epoch milliseconds).
    pub expires_at: Option<i64>,
    /// The consent asked for with it (shown to the parties; applied when it takes effect).
    pub requested_consent: Option<bool>,
}

/// `GET /registrations?member=`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct RegistrationStatus {
    pub member: String,
    pub current: Option<RegistrationView>,
    /// Proposals waiting for the person (only to the parties: the person, the insurer,
    /// the proposer).
    pub pending: Vec<RegistrationView>,
    /// Every registration shown, newest first (the current one and pending ones included).
    pub history: Vec<RegistrationView>,
    /// The consent in force (only to the person, the insurer and the registered
    /// institution).
    pub consent: Option<ConsentView>,
}

pub(crate) fn parse_member(raw: &str, location: &str) -> Result<MemberId, Problem> {
    MemberId::parse(raw)
        .map_err(|e| Problem::new(ErrorCode::InvalidMemberId, location, e.to_string()))
}

const DAY_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// Days a pending registration waits, from the operator's policy.
pub(crate) fn pending_days(app: &AppState) -> u32 {
    app.config.registration_policy().pending_days
}

fn view(
    tx: &mut Tx<'_>,
    r: RegistrationRow,
    expires_at: Option<i64>,
    party: bool,
) -> Result<RegistrationView, Problem> {
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
        status: r.status.as_str().to_owned(),
        basis: r.basis.map(|b| b.as_str().to_owned()),
        created_at: r.created_at,
        decided_at: r.decided_at,
        ended_at: r.ended_at,
        end_reason: r.end_reason,
        expires_at: (r.status == Status::Pending)
            .then_some(expires_at)
            .flatten(),
        requested_consent: if party { r.requested_consent } else { None },
    })
}

/// A registration as its parties see it, with its lapse time.
pub(crate) fn party_view(
    tx: &mut Tx<'_>,
    r: RegistrationRow,
    pending_days: u32,
) -> Result<RegistrationView, Problem> {
    let expires = r.created_at + i64::from(pending_days) * DAY_MILLIS;
    view(tx, r, Some(expires), true)
}

fn forbidden() -> Problem {
    Problem::new(
        ErrorCode::Forbidden,
        "",
        "only the doctor or EMR of the institution, or the person's insurer, may do this",
    )
}

fn invalid(location: &str, message: &str) -> Problem {
    Problem::new(ErrorCode::InvalidBody, location, message)
}

fn member_of(r: &RegistrationRow) -> Result<MemberId, Problem> {
    MemberId::parse(&r.member_key).map_err(|_| Problem::bare(ErrorCode::Internal))
}

/// Lets the person's overdue proposals lapse, telling their proposers.
pub(crate) fn lapse_overdue(
    tx: &mut Tx<'_>,
    person: i64,
    pending_days: u32,
) -> Result<(), Problem> {
    let cutoff = tx.now() - i64::from(pending_days) * DAY_MILLIS;
    for r in tx.lapse_pending_registrations(person, cutoff)? {
        let Some(r) = tx.registration(r.id)? else {
            continue;
        };
        tell(
            tx,
            topic::REGISTRATION_REFUSED,
            &r,
            &Audience {
                organizations: vec![&r.organization],
                insurer: true,
                person: true,
            },
            json!({"reason": "lapsed"}),
        )?;
    }
    Ok(())
}

/// Makes `r` (just inserted active, or pending and now confirmed) the person's one active
/// registration: ends the previous one (telling its institution), supersedes the person's
/// other proposals, records the consent asked for, and tells the insurer and the person.
fn take_effect(
    tx: &mut Tx<'_>,
    ctx: &Ctx,
    r: &RegistrationRow,
    previous: Option<RegistrationRow>,
    consent: Option<(bool, ConsentBasis, Option<&str>)>,
) -> Result<(), Problem> {
    let by = ctx.caller.client_id;
    if let Some(previous) = &previous {
        tell(
            tx,
            topic::REGISTRATION_ENDED,
            previous,
            &Audience {
                organizations: vec![&previous.organization],
                insurer: false,
                person: false,
            },
            json!({"reason": "replaced"}),
        )?;
    }
    for other in tx.pending_registrations(r.person_pk)? {
        if other.id == r.id {
            continue;
        }
        tx.close_pending_registration(
            other.id,
            Status::Superseded,
            by,
            "another registration took effect",
        )?;
        if let Some(other) = tx.registration(other.id)? {
            tell(
                tx,
                topic::REGISTRATION_REFUSED,
                &other,
                &Audience {
                    organizations: vec![&other.organization],
                    insurer: false,
                    person: false,
                },
                json!({"reason": "superseded"}),
            )?;
        }
    }
    if let Some((insurer_programs, basis, evidence)) = consent {
        tx.record_consent(&NewConsent {
            person_pk: r.person_pk,
            insurer_programs,
            recorded_by: by,
            registration_id: Some(r.id),
            basis,
            evidence_document: evidence,
        })?;
    }
    // Open inquiries about the person follow them to the new registered doctor.
    crate::service::inquiries::follow_registration(tx, ctx, r.person_pk, Some(r))?;
    let mut organizations = vec![r.organization.as_str()];
    if let Some(p) = &previous
        && p.organization != r.organization
    {
        // The institution the person leaves is told its registration ended (above), not
        // where the person went.
        organizations.retain(|o| *o != p.organization);
    }
    tell(
        tx,
        topic::REGISTRATION_ACTIVATED,
        r,
        &Audience {
            organizations,
            insurer: true,
            person: true,
        },
        json!({"replaces": previous.as_ref().map(|p| p.id)}),
    )
}

/// Checks the institution and practitioner of a proposal against the directory.
fn check_directory(tx: &mut Tx<'_>, organization: &str, practitioner: &str) -> Result<(), Problem> {
    let org = tx
        .organization(organization)?
        .ok_or_else(|| invalid("body.organization", "no such institution in the directory"))?;
    if !org.certified {
        return Err(invalid(
            "body.organization",
            "the institution is not certified as かかりつけ医-capable",
        ));
    }
    let p = tx
        .practitioner(practitioner)?
        .ok_or_else(|| invalid("body.practitioner", "no such practitioner in the directory"))?;
    if p.organization.as_deref() != Some(organization) {
        return Err(invalid(
            "body.practitioner",
            "the practitioner does not work at this institution",
        ));
    }
    Ok(())
}

/// `POST /registrations`: a proposal, active at once or pending as the policy says.
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
        .ok_or_else(|| invalid("body.start", "a date YYYY-MM-DD"))?;
    let start = format!(
        "{:04}-{:02}-{:02}",
        start.year(),
        start.month() as u8,
        start.day()
    );
    let organization = InstitutionCode::parse(&req.organization)
        .map_err(|_| invalid("body.organization", "a 10-digit institution code"))?
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
    let proposer = if ctx.caller.role == Role::Insurer {
        Proposer::Insurer
    } else {
        Proposer::Institution
    };
    if let Some(evidence) = &req.evidence {
        if proposer == Proposer::Insurer {
            return Err(invalid(
                "body.evidence",
                "evidence of the person's request is recorded by the registering institution",
            ));
        }
        evidence.check("body.evidence")?;
    }
    let policy = app.config.registration_policy();
    let ctx2 = ctx.clone();
    let days = policy.pending_days;
    app.store
        .write(move |tx| {
            check_directory(tx, &organization, &req.practitioner)?;
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
            lapse_overdue(tx, person, days)?;
            let by = ctx2.caller.client_id;
            let active = tx.active_registration(person)?;
            let outcome = rules::on_proposal(
                &policy,
                proposer,
                active.as_ref().map(|a| a.organization.as_str()),
                &organization,
                req.evidence.is_some(),
            );
            let evidence = req.evidence.as_ref();
            // A proposer proposing again replaces its own earlier proposal.
            for earlier in tx.pending_registrations(person)? {
                if earlier.organization == organization
                    || (proposer == Proposer::Insurer && earlier.created_by == by)
                {
                    tx.close_pending_registration(
                        earlier.id,
                        Status::Withdrawn,
                        by,
                        "proposed again",
                    )?;
                }
            }
            let (status, basis) = match outcome {
                Outcome::Active(basis) => (Status::Active, Some(basis)),
                Outcome::Pending => (Status::Pending, None),
            };
            let previous = if status == Status::Active {
                tx.end_active_registration(person, by, "replaced")?
            } else {
                None
            };
            let id = tx.insert_registration(&NewRegistration {
                person_pk: person,
                member_key: &member.key(),
                practitioner: &req.practitioner,
                organization: &organization,
                start_date: &start,
                created_by: by,
                status,
                basis,
                evidence_document: evidence.map(|e| e.document.as_str()),
                evidence_attested_by: evidence.map(|e| e.attested_by.as_str()),
                requested_consent: Some(req.consent.insurer_programs),
            })?;
            let row = tx
                .registration(id)?
                .ok_or_else(|| Problem::bare(ErrorCode::Internal))?;
            if status == Status::Active {
                take_effect(
                    tx,
                    &ctx2,
                    &row,
                    previous,
                    Some((
                        req.consent.insurer_programs,
                        ConsentBasis::Registration,
                        evidence.map(|e| e.document.as_str()),
                    )),
                )?;
            } else {
                let mut audience = Audience {
                    organizations: Vec::new(),
                    insurer: true,
                    person: true,
                };
                if proposer == Proposer::Institution {
                    audience.organizations.push(&organization);
                }
                tell(
                    tx,
                    topic::REGISTRATION_REQUESTED,
                    &row,
                    &audience,
                    json!({}),
                )?;
                if let Some(current) = &active {
                    tell(
                        tx,
                        topic::TRANSFER_REQUESTED,
                        current,
                        &Audience {
                            organizations: vec![&current.organization],
                            insurer: false,
                            person: false,
                        },
                        json!({}),
                    )?;
                }
            }
            let mut audit = ctx2.audit("registration.create");
            audit.resource_type = Some("EpisodeOfCare".into());
            audit.resource_id = Some(id.to_string());
            audit.person_pk = Some(person);
            audit.detail = Some(format!("status={}", status.as_str()));
            tx.append_audit(&[audit])?;
            party_view(tx, row, days)
        })
        .await
}

/// `DELETE /registrations/{id}`: the registered institution ends an active registration;
/// a proposer withdraws its pending proposal. The insurer never ends a registration.
pub async fn end(app: &AppState, ctx: &Ctx, id: i64) -> Result<RegistrationView, Problem> {
    access::require_role(&ctx.caller, access::REGISTRATION_MANAGERS)?;
    let ctx2 = ctx.clone();
    let days = pending_days(app);
    app.store
        .write(move |tx| {
            let not_found = || {
                Problem::new(
                    ErrorCode::ResourceNotFound,
                    "id",
                    "no active or pending registration with this id that the caller manages",
                )
            };
            let row = tx.registration(id)?.ok_or_else(not_found)?;
            let member = member_of(&row)?;
            let caller = &ctx2.caller;
            let allowed = match row.status {
                Status::Active => access::works_at(caller, &row.organization),
                Status::Pending => {
                    access::works_at(caller, &row.organization)
                        || (access::is_insurer_of(caller, &member)
                            && row.created_by == caller.client_id)
                }
                _ => false,
            };
            // Not revealing whether it exists to those who may not manage it.
            if !allowed {
                return Err(not_found());
            }
            tx.lock_person(row.person_pk)?;
            let by = caller.client_id;
            let (changed, topic, reason) = if row.status == Status::Active {
                (
                    tx.end_registration(id, by, "ended")?,
                    topic::REGISTRATION_ENDED,
                    "ended",
                )
            } else {
                (
                    tx.close_pending_registration(id, Status::Withdrawn, by, "withdrawn")?,
                    topic::REGISTRATION_REFUSED,
                    "withdrawn",
                )
            };
            if !changed {
                return Err(not_found());
            }
            if row.status == Status::Active {
                // No successor: open inquiries wait on hold for the next registered doctor.
                crate::service::inquiries::follow_registration(tx, &ctx2, row.person_pk, None)?;
            }
            let row = tx.registration(id)?.ok_or_else(not_found)?;
            tell(
                tx,
                topic,
                &row,
                &Audience {
                    organizations: vec![&row.organization],
                    insurer: true,
                    person: true,
                },
                json!({"reason": reason}),
            )?;
            let mut audit = ctx2.audit("registration.end");
            audit.resource_type = Some("EpisodeOfCare".into());
            audit.resource_id = Some(id.to_string());
            audit.person_pk = Some(row.person_pk);
            tx.append_audit(&[audit])?;
            party_view(tx, row, days)
        })
        .await
}

/// Is the caller a party to the person's registrations as a whole: the person, the
/// insurer, or the institution of the active registration.
fn is_party(caller: &Caller, member: &MemberId, active: Option<&RegistrationRow>) -> bool {
    access::is_person(caller, member)
        || access::is_insurer_of(caller, member)
        || active.is_some_and(|a| {
            access::is_party_to_registration(caller, &a.organization, &a.practitioner, member)
        })
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
            "registrations are visible to providers, the person's insurer and the person",
        ));
    }
    let ctx2 = ctx.clone();
    let days = pending_days(app);
    let key = member.key();
    app.store
        .write(move |tx| {
            let Some(person) = tx.person_by_member(&member)? else {
                return Ok(RegistrationStatus {
                    member: key,
                    current: None,
                    pending: Vec::new(),
                    history: Vec::new(),
                    consent: None,
                });
            };
            lapse_overdue(tx, person.pk, days)?;
            let caller = &ctx2.caller;
            let active = tx.active_registration(person.pk)?;
            let party = is_party(caller, &member, active.as_ref());
            let own_org = caller.facility.as_ref().map(|f| f.as_str().to_owned());
            let mut current = None;
            let mut pending = Vec::new();
            let mut history = Vec::new();
            for r in tx.registration_history(person.pk)? {
                let proposer = own_org.as_deref() == Some(r.organization.as_str());
                let took_effect = matches!(r.status, Status::Active | Status::Ended);
                if !(party || proposer || took_effect) {
                    continue;
                }
                let shown = if party || proposer {
                    party_view(tx, r, days)?
                } else {
                    view(tx, r, None, false)?
                };
                match shown.status.as_str() {
                    "active" => current = Some(shown.clone()),
                    "pending" => pending.push(shown.clone()),
                    _ => {}
                }
                history.push(shown);
            }
            let consent = if party {
                tx.current_consent(person.pk)?.map(consent_view)
            } else {
                None
            };
            let mut audit = ctx2.audit("registration.read");
            audit.resource_type = Some("EpisodeOfCare".into());
            audit.person_pk = Some(person.pk);
            tx.append_audit(&[audit])?;
            Ok::<_, Problem>(RegistrationStatus {
                member: person.member_key,
                current,
                pending,
                history,
                consent,
            })
        })
        .await
}

/// `POST /me/registrations/{id}/confirm`: the person confirms a pending registration (with
/// the consent asked for, or their own decision).
pub async fn confirm(
    app: &AppState,
    ctx: &Ctx,
    id: i64,
    insurer_programs: Option<bool>,
) -> Result<RegistrationView, Problem> {
    decide(app, ctx, id, Decision::Confirm(insurer_programs)).await
}

/// `POST /me/registrations/{id}/refuse`.
pub async fn refuse(app: &AppState, ctx: &Ctx, id: i64) -> Result<RegistrationView, Problem> {
    decide(app, ctx, id, Decision::Refuse).await
}

/// Makes the person's pending registration `id` take effect on their decision (basis
/// `person`), in the caller's transaction (which holds `lock_person` and checked that the
/// caller is the person and the registration pending): ends the previous one, records the
/// consent (the person's, or the one the proposal asked for) and tells the parties. The
/// one code path of a person's confirmation: `POST /me/registrations/{id}/confirm`, and a
/// member accepting an institution's raised hand (`service::matching`).
pub(crate) fn confirm_in(
    tx: &mut Tx<'_>,
    ctx: &Ctx,
    id: i64,
    consent: Option<bool>,
) -> Result<RegistrationRow, Problem> {
    let by = ctx.caller.client_id;
    let pending = tx
        .registration(id)?
        .ok_or_else(|| Problem::bare(ErrorCode::Internal))?;
    let previous = tx.end_active_registration(pending.person_pk, by, "replaced")?;
    tx.activate_registration(id, ActivationBasis::Person, by)?;
    let row = tx
        .registration(id)?
        .ok_or_else(|| Problem::bare(ErrorCode::Internal))?;
    let consent = consent.or(row.requested_consent);
    take_effect(
        tx,
        ctx,
        &row,
        previous,
        consent.map(|c| (c, ConsentBasis::Person, None)),
    )?;
    Ok(row)
}

enum Decision {
    Confirm(Option<bool>),
    Refuse,
}

async fn decide(
    app: &AppState,
    ctx: &Ctx,
    id: i64,
    decision: Decision,
) -> Result<RegistrationView, Problem> {
    access::require_role(&ctx.caller, access::PERSONS)?;
    let ctx2 = ctx.clone();
    let days = pending_days(app);
    app.store
        .write(move |tx| {
            let not_found = || {
                Problem::new(
                    ErrorCode::ResourceNotFound,
                    "id",
                    "no registration of yours with this id",
                )
            };
            let row = tx.registration(id)?.ok_or_else(not_found)?;
            if !access::is_person(&ctx2.caller, &member_of(&row)?) {
                return Err(not_found());
            }
            tx.lock_person(row.person_pk)?;
            lapse_overdue(tx, row.person_pk, days)?;
            let row = tx.registration(id)?.ok_or_else(not_found)?;
            if row.status != Status::Pending {
                return Err(Problem::new(
                    ErrorCode::RegistrationNotPending,
                    "id",
                    "this registration is not waiting for your decision (already decided, withdrawn or lapsed)",
                ));
            }
            let by = ctx2.caller.client_id;
            let action = match decision {
                Decision::Confirm(consent) => {
                    confirm_in(tx, &ctx2, id, consent)?;
                    "registration.confirm"
                }
                Decision::Refuse => {
                    tx.close_pending_registration(id, Status::Refused, by, "refused by the person")?;
                    let row = tx.registration(id)?.ok_or_else(not_found)?;
                    let mut audience = Audience {
                        organizations: vec![&row.organization],
                        insurer: true,
                        person: false,
                    };
                    // An insurer's proposal was not the institution's; it is told nothing.
                    if tx
                        .client_by_id(row.created_by)?
                        .is_some_and(|c| c.role == Role::Insurer.as_str())
                    {
                        audience.organizations.clear();
                    }
                    tell(
                        tx,
                        topic::REGISTRATION_REFUSED,
                        &row,
                        &audience,
                        json!({"reason": "refused"}),
                    )?;
                    "registration.refuse"
                }
            };
            let mut audit = ctx2.audit(action);
            audit.resource_type = Some("EpisodeOfCare".into());
            audit.resource_id = Some(id.to_string());
            audit.person_pk = Some(row.person_pk);
            tx.append_audit(&[audit])?;
            let row = tx.registration(id)?.ok_or_else(not_found)?;
            party_view(tx, row, days)
        })
        .await
}
