//! The person's consent to share lab values with their insurer for its health programs
//! (重症化予防, 特定保健指導). Recorded with when, by whom and on what basis; the newest
//! decision is in force, so a withdrawal stops the next insurer pull.
//!
//! Who records (`domain::registration::consent_basis`): the person, themself; the
//! registered institution, on the person's documented behalf (a document reference and the
//! attesting user); the insurer only a withdrawal it received, never a grant.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::AppState;
use crate::auth::access;
use crate::domain::registration::{self as rules, ConsentActor, ConsentRefusal};
use crate::error::{ErrorCode, Problem};
use crate::service::Ctx;
use crate::service::notifications::{Audience, tell, topic};
use crate::service::registration::{Evidence, parse_member};
use crate::store::Tx;
use crate::store::registrations::{ConsentRow, NewConsent};

/// `POST /consents`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentChange {
    pub member: String,
    pub insurer_programs: bool,
    /// The person's signed decision the registered institution records on their behalf
    /// (required from an institution; not from the person or an insurer's withdrawal).
    #[schema(inline)]
    pub evidence: Option<Evidence>,
}

/// A consent decision as shown to the parties.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct ConsentView {
    pub insurer_programs: bool,
    pub recorded_at: i64,
    /// The client that recorded it.
    pub recorded_by: i64,
    /// `person`, `institution` (on the person's documented behalf), `registration` (asked
    /// for with the registration the person confirmed or signed) or `insurer_withdrawal`.
    pub basis: String,
}

pub fn consent_view(c: ConsentRow) -> ConsentView {
    ConsentView {
        insurer_programs: c.insurer_programs,
        recorded_at: c.recorded_at,
        recorded_by: c.recorded_by,
        basis: c.basis.as_str().to_owned(),
    }
}

fn refusal(r: ConsentRefusal) -> Problem {
    match r {
        ConsentRefusal::InsurerGrant => Problem::new(
            ErrorCode::ConsentInsurerGrant,
            "body.insurer_programs",
            "an insurer records a withdrawal it received; consent is given by the person",
        ),
        ConsentRefusal::NoEvidence => Problem::new(
            ErrorCode::ConsentEvidenceRequired,
            "body.evidence",
            "the institution records the person's decision with the document it signed",
        ),
    }
}

/// Records a decision for the person in the open unit of work (the caller locked the
/// person) and tells the parties.
fn record(
    tx: &mut Tx<'_>,
    ctx: &Ctx,
    person_pk: i64,
    insurer_programs: bool,
    actor: ConsentActor,
    evidence: Option<&Evidence>,
) -> Result<ConsentView, Problem> {
    let basis =
        rules::consent_basis(actor, insurer_programs, evidence.is_some()).map_err(refusal)?;
    let active = tx.active_registration(person_pk)?;
    tx.record_consent(&NewConsent {
        person_pk,
        insurer_programs,
        recorded_by: ctx.caller.client_id,
        registration_id: active.as_ref().map(|a| a.id),
        basis,
        evidence_document: evidence.map(|e| e.document.as_str()),
    })?;
    if let Some(active) = &active {
        tell(
            tx,
            topic::CONSENT_CHANGED,
            active,
            &Audience {
                organizations: vec![&active.organization],
                insurer: true,
                person: true,
            },
            json!({"insurer_programs": insurer_programs, "basis": basis.as_str()}),
        )?;
    }
    let mut audit = ctx.audit("consent.change");
    audit.resource_type = Some("Consent".into());
    audit.person_pk = Some(person_pk);
    // The decision itself is the person's; the trail names only who recorded it and why.
    audit.detail = Some(format!("basis={}", basis.as_str()));
    tx.append_audit(&[audit])?;
    tx.current_consent(person_pk)?
        .map(consent_view)
        .ok_or_else(|| Problem::bare(ErrorCode::Internal))
}

/// `POST /consents`: the registered institution (with evidence), the insurer (a
/// withdrawal), or the person.
pub async fn change(app: &AppState, ctx: &Ctx, req: ConsentChange) -> Result<ConsentView, Problem> {
    access::require_role(&ctx.caller, access::CONSENT_RECORDERS)?;
    let member = parse_member(&req.member, "body.member")?;
    if let Some(e) = &req.evidence {
        e.check("body.evidence")?;
    }
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
            tx.lock_person(person.pk)?;
            let active = tx
                .active_registration(person.pk)?
                .ok_or_else(not_registered)?;
            let actor = access::consent_actor(&ctx2.caller, &active.organization, &member)
                .ok_or_else(|| {
                    Problem::new(
                        ErrorCode::Forbidden,
                        "",
                        "consent is recorded by the person, the registered institution or the person's insurer",
                    )
                })?;
            record(
                tx,
                &ctx2,
                person.pk,
                req.insurer_programs,
                actor,
                req.evidence.as_ref(),
            )
        })
        .await
}

/// `PUT /me/consent`: the person's own decision (with or without a registration).
pub async fn decide_as_person(
    app: &AppState,
    ctx: &Ctx,
    insurer_programs: bool,
) -> Result<ConsentView, Problem> {
    access::require_role(&ctx.caller, access::PERSONS)?;
    let member = ctx.caller.member.clone().ok_or_else(|| {
        Problem::new(
            ErrorCode::Forbidden,
            "",
            "the client is not bound to a person",
        )
    })?;
    let ctx2 = ctx.clone();
    app.store
        .write(move |tx| {
            let person = match tx.resolve_person(&member, None, None)? {
                crate::store::persons::PersonLink::Linked(pk) => pk,
                crate::store::persons::PersonLink::Ambiguous { .. } => {
                    return Err(Problem::new(
                        ErrorCode::InvalidMemberId,
                        "member",
                        "the person's member id has no 枝番 and matches several family members",
                    ));
                }
            };
            tx.lock_person(person)?;
            record(
                tx,
                &ctx2,
                person,
                insurer_programs,
                ConsentActor::Person,
                None,
            )
        })
        .await
}
