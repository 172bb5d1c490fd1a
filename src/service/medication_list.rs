//! The consolidated medication list of one person, for their registered doctor: every
//! medication record of the person (clinic prescriptions, pharmacy dispensing, insurer
//! claims, statements, administrations, whatever format they arrived in) loaded with its
//! sources, run through the engine (`consolidate`), and handed to a renderer (FHIR Bundle
//! for `$medication-list`, the doctor's page).
//!
//! Who may ask (`docs/access.md`): the person's registered doctor, and the EMR or doctors
//! of the registered institution, while the registration is active. Everyone else gets the
//! same 403 whether or not the person exists or is registered elsewhere. Every list is
//! audited (one row for the person) before it is released.

use std::collections::BTreeMap;

use time::Date;

use crate::app::AppState;
use crate::auth::{Caller, Role, access};
use crate::codec::fhir::medication_list::{self as render, ListFacts};
use crate::consolidate;
use crate::domain::datetime::now_millis;
use crate::domain::medication_list::{MedicationList, SourcedMedication};
use crate::domain::{FhirDateTime, MemberId};
use crate::error::{ErrorCode, Problem};
use crate::service::Ctx;
use crate::service::derived::person_patient;
use crate::store::Tx;

/// Whose list, as of when.
#[derive(Debug, Clone)]
pub enum Whose {
    /// A FHIR Patient id the caller may name (`/fhir/Patient/{id}/$medication-list`).
    Patient(String),
    /// An insurance member id (`?member=`).
    Member(String),
}

/// A person's list with what renderers need to show its sources.
#[derive(Debug, Clone)]
pub struct PersonList {
    pub member: MemberId,
    /// The FHIR Patient the list is about (the person's own Patient).
    pub patient_id: String,
    pub list: MedicationList,
    pub inputs: Vec<SourcedMedication>,
    /// Institution code → name, from the directory, for every institution the list names.
    pub institutions: BTreeMap<String, String>,
    /// Client id → name of every client that sent a source.
    pub senders: BTreeMap<i64, String>,
    /// When the list was made (epoch ms).
    pub generated_at: i64,
}

fn refused() -> Problem {
    Problem::new(
        ErrorCode::Forbidden,
        "",
        "the medication list is for the person's registered doctor and institution",
    )
}

/// Parses `asOf` (`YYYY-MM-DD`); today (Japan time) when absent.
pub fn as_of(raw: Option<&str>) -> Result<Date, Problem> {
    match raw {
        None => Ok(crate::domain::datetime::today_in_japan()),
        Some(text) => FhirDateTime::parse(text)
            .ok()
            .filter(|_| text.len() == 10)
            .and_then(|d| d.date())
            .ok_or_else(|| {
                Problem::new(
                    ErrorCode::InvalidParameter,
                    "asOf",
                    "asOf is a date YYYY-MM-DD",
                )
            }),
    }
}

/// May the caller see the list of a person whose active registration is `(organization,
/// practitioner)`?
fn may_see(caller: &Caller, organization: &str, practitioner: &str) -> bool {
    match caller.role {
        Role::Doctor => {
            caller.practitioner.as_deref() == Some(practitioner)
                || access::works_at(caller, organization)
        }
        Role::Emr => access::works_at(caller, organization),
        _ => false,
    }
}

/// The person `whose` names, if the caller may name them so.
fn person_of(tx: &mut Tx<'_>, caller: &Caller, whose: &Whose) -> Result<Option<i64>, Problem> {
    match whose {
        Whose::Member(raw) => {
            let member = MemberId::parse(raw)
                .map_err(|e| Problem::new(ErrorCode::InvalidMemberId, "member", e.to_string()))?;
            Ok(tx.person_by_member(&member)?.map(|p| p.pk))
        }
        Whose::Patient(id) => {
            let visibility = access::fhir_read(caller, crate::codec::fhir::ResourceType::Patient)?;
            let Some(row) = tx.resource("Patient", id)? else {
                return Ok(None);
            };
            if !tx.is_visible(&visibility, &row)? {
                return Ok(None);
            }
            Ok(tx.patient_by_fhir_id(id)?.and_then(|p| p.person_pk))
        }
    }
}

/// Builds a person's list as of a day, for the registered doctor or institution.
pub async fn build(
    app: &AppState,
    ctx: &Ctx,
    whose: Whose,
    as_of: Date,
) -> Result<PersonList, Problem> {
    if !matches!(ctx.caller.role, Role::Doctor | Role::Emr) {
        return Err(refused());
    }
    let settings = app.config.medication_list;
    let from = as_of
        .checked_sub(time::Duration::days(i64::from(settings.look_back_days)))
        .unwrap_or(as_of);
    let ctx2 = ctx.clone();
    // A write unit of work: the person's own Patient may be created, and the audit row is
    // committed before anything is released.
    let (member, patient_id, inputs) = app
        .store
        .write(move |tx| {
            let Some(person) = person_of(tx, &ctx2.caller, &whose)? else {
                return Err(refused());
            };
            let Some(active) = tx.active_registration(person)? else {
                return Err(refused());
            };
            if !may_see(&ctx2.caller, &active.organization, &active.practitioner) {
                return Err(refused());
            }
            let member = MemberId::parse(&active.member_key)
                .map_err(|_| Problem::bare(ErrorCode::Internal))?;
            let patient_id = person_patient(tx, person)?;
            let inputs = tx.medication_of_person(person, from, as_of)?;
            let mut audit = ctx2.audit("medication-list");
            audit.resource_type = Some("MedicationStatement".into());
            audit.person_pk = Some(person);
            audit.detail = Some(format!("{} record(s)", inputs.len()));
            tx.append_audit(&[audit])?;
            Ok::<_, Problem>((member, patient_id, inputs))
        })
        .await?;
    let master = app.drugs.current();
    let list = consolidate::consolidate(&inputs, &master, &app.finding_rules, as_of, &settings);
    let names = app
        .store
        .read(move |tx| {
            let mut institutions = BTreeMap::new();
            let mut senders = BTreeMap::new();
            for input in &inputs {
                for code in [
                    input.record.facility.as_ref(),
                    input.record.prescribing_facility.as_ref(),
                ]
                .into_iter()
                .flatten()
                {
                    if !institutions.contains_key(code.as_str())
                        && let Some(o) = tx.organization(code.as_str())?
                    {
                        institutions.insert(code.as_str().to_owned(), o.name);
                    }
                }
                let client = input.source.provenance.client_id;
                if let std::collections::btree_map::Entry::Vacant(slot) = senders.entry(client)
                    && let Some(c) = tx.client_by_id(client)?
                {
                    slot.insert(c.name);
                }
            }
            Ok::<_, Problem>((institutions, senders, inputs))
        })
        .await?;
    let (institutions, senders, inputs) = names;
    Ok(PersonList {
        member,
        patient_id,
        list,
        inputs,
        institutions,
        senders,
        generated_at: now_millis(),
    })
}

/// `$medication-list`: the list as a FHIR `collection` Bundle.
pub async fn as_fhir(
    app: &AppState,
    ctx: &Ctx,
    whose: Whose,
    as_of_raw: Option<&str>,
) -> Result<serde_json::Value, Problem> {
    let day = as_of(as_of_raw)?;
    let built = build(app, ctx, whose, day).await?;
    let facts = ListFacts {
        list: &built.list,
        inputs: &built.inputs,
        patient_id: &built.patient_id,
        institutions: &built.institutions,
        senders: &built.senders,
        generated_at: built.generated_at,
    };
    Ok(render::bundle(&facts, || {
        format!("urn:uuid:{}", uuid::Uuid::new_v4())
    }))
}
