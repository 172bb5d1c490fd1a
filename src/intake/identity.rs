//! Whom the records of an input belong to: the links every intake makes between a
//! facility's patients and insured persons, written once over an abstract set of
//! identities (`Identities`) that the store backs with its tables and `kakari convert` with
//! memory, so both link exactly the same records to the same persons.
//!
//! * A member id names a person through `domain::person_link` (family cards without 枝番
//!   resolved by birth date and sex; an ambiguous one is reported and links nothing).
//! * A facility-local id (HL7 PID-3, a UKE カルテ番号) is that facility's patient; a FHIR
//!   Patient id is the patient written under it.
//! * Insurance (HL7 IN1, UKE HO with a カルテ番号, FHIR Patient member ids and Coverage)
//!   links a patient to a person. An HL7 IN1 or FHIR link moves the patient to the person it
//!   names; a claim links only a patient not linked yet (the clinic's own data wins over
//!   the insurer's).
//!
//! Keys are the store's row keys (`i64`); the in-memory side numbers its rows the same way.

use crate::codec::fhir::to_domain::PatientFacts;
use crate::codec::uke::ReceiptRecords;
use crate::domain::person_link::LinkFacts;
use crate::domain::{Demographics, InstitutionCode, MemberId, SubjectRef};
use crate::error::{ErrorCode, Issue};

use super::incoming::Incoming;

/// Whom a record belongs to: a facility's patient, a person, or both (neither while a
/// family card stays ambiguous).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Owner {
    pub patient_pk: Option<i64>,
    pub person_pk: Option<i64>,
}

/// The outcome of resolving a member id to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonLink {
    Linked(i64),
    /// Several family members (or none compatible) match a member id without 枝番.
    Ambiguous {
        candidates: usize,
    },
}

/// A patient row as the linking rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatientLinked {
    pub pk: i64,
    /// The person the patient is linked to, if any.
    pub person_pk: Option<i64>,
}

/// A link made from insurance, for the caller to record (the store keeps a coverage row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageLinked {
    pub patient_pk: Option<i64>,
    pub person_pk: i64,
    pub member: MemberId,
    pub active: bool,
}

/// The persons and patients known so far, and the changes linking makes to them.
pub trait Identities {
    type Error;
    /// Finds or creates the person `member` denotes (`domain::person_link::decide`), and
    /// fills in the birth date and sex it lacks.
    fn person_of_member(
        &mut self,
        member: &MemberId,
        facts: LinkFacts,
    ) -> Result<PersonLink, Self::Error>;
    /// The facility's patient with this local id, created when new; the birth date and sex
    /// given replace the known ones.
    fn local_patient(
        &mut self,
        facility: &InstitutionCode,
        local_id: &str,
        demographics: &Demographics,
    ) -> Result<PatientLinked, Self::Error>;
    /// The patient written as FHIR Patient `fhir_id`, a placeholder owned by `facility`
    /// when the Patient has not arrived yet.
    fn fhir_patient(
        &mut self,
        fhir_id: &str,
        facility: Option<&str>,
    ) -> Result<PatientLinked, Self::Error>;
    /// Records what a Patient resource says (its own facility-local id and demographics);
    /// a patient known only by that local id merges into it.
    fn record_fhir_patient(
        &mut self,
        fhir_id: &str,
        facility: Option<&str>,
        local_id: Option<&str>,
        demographics: &Demographics,
    ) -> Result<PatientLinked, Self::Error>;
    /// The birth date and sex known of a patient.
    fn patient_facts(&mut self, patient_pk: i64) -> Result<LinkFacts, Self::Error>;
    /// Makes the patient the person's (replacing an earlier link).
    fn link_patient_to_person(
        &mut self,
        patient_pk: i64,
        person_pk: i64,
    ) -> Result<(), Self::Error>;
}

fn ambiguous_card(location: impl Into<String>, consequence: &str) -> Issue {
    Issue::warning(
        ErrorCode::InvalidMemberId,
        location,
        format!("member id without 枝番 matches several family members; {consequence}"),
    )
}

/// The warning of a member id that links no patient because it is an ambiguous family card.
pub fn patient_not_linked(location: impl Into<String>) -> Issue {
    ambiguous_card(location, "the patient is not linked yet")
}

/// The warning of a coverage whose member id is incomplete (no insurer number, 記号 or 番号).
pub fn incomplete_member(location: impl Into<String>) -> Issue {
    Issue::warning(
        ErrorCode::InvalidMemberId,
        location,
        "the coverage gives no complete member id (insurer number, 記号, 番号); the patient is not linked yet",
    )
}

/// Resolves the subject of records decoded from a file or message: a member id is its
/// person (an ambiguous family card leaves the records unlinked, with a warning at
/// `location`); a facility-local id is the facility's patient; a FHIR Patient id its
/// patient.
pub fn resolve_owner<I: Identities>(
    ids: &mut I,
    subject: &SubjectRef,
    demographics: &Demographics,
    location: &str,
    issues: &mut Vec<Issue>,
) -> Result<Owner, I::Error> {
    Ok(match subject {
        SubjectRef::Member(member) => {
            match ids.person_of_member(member, LinkFacts::of(demographics))? {
                PersonLink::Linked(pk) => Owner {
                    patient_pk: None,
                    person_pk: Some(pk),
                },
                PersonLink::Ambiguous { .. } => {
                    issues.push(ambiguous_card(location, "records kept unlinked"));
                    Owner::default()
                }
            }
        }
        SubjectRef::Local { facility, local_id } => Owner {
            patient_pk: Some(ids.local_patient(facility, local_id, demographics)?.pk),
            person_pk: None,
        },
        SubjectRef::FhirPatient(id) => Owner {
            patient_pk: Some(ids.fhir_patient(id, None)?.pk),
            person_pk: None,
        },
    })
}

/// Links an accepted HL7 v2 message (or SS-MIX2 file): its patient (the storage path's id
/// wins over PID-3), then the person each IN1 names, with the message's birth date and
/// sex. Returns the owner of the message's records and the links made.
pub fn link_message<I: Identities>(
    ids: &mut I,
    incoming: &Incoming,
    warnings: &mut Vec<Issue>,
) -> Result<(Owner, Vec<CoverageLinked>), I::Error> {
    let Some(mapped) = &incoming.mapped else {
        return Ok((Owner::default(), Vec::new()));
    };
    let demographics = mapped
        .patient
        .as_ref()
        .map(|p| p.demographics.clone())
        .unwrap_or_default();
    let owner = match &incoming.subject() {
        Some(s) => resolve_owner(ids, s, &demographics, "PID-3", warnings)?,
        None => Owner::default(),
    };
    let mut linked = Vec::new();
    for (i, coverage) in mapped.coverages.iter().enumerate() {
        let person = match ids.person_of_member(&coverage.member, LinkFacts::of(&demographics))? {
            PersonLink::Linked(person) => person,
            PersonLink::Ambiguous { .. } => {
                warnings.push(patient_not_linked(format!("IN1[{}]", i + 1)));
                continue;
            }
        };
        if let Some(patient) = owner.patient_pk {
            ids.link_patient_to_person(patient, person)?;
        }
        linked.push(CoverageLinked {
            patient_pk: owner.patient_pk,
            person_pk: person,
            member: coverage.member.clone(),
            active: coverage.active,
        });
    }
    Ok((owner, linked))
}

/// Links one claim (UKE receipt): its records belong to the member's person; the
/// claiming clinic's patient (カルテ番号) becomes the person's when it is not linked yet.
pub fn link_receipt<I: Identities>(
    ids: &mut I,
    receipt: &ReceiptRecords,
    location: &str,
    issues: &mut Vec<Issue>,
) -> Result<(Owner, Option<CoverageLinked>), I::Error> {
    let owner = resolve_owner(
        ids,
        &receipt.subject,
        &receipt.demographics,
        location,
        issues,
    )?;
    let mut linked = None;
    if let (Some(link), Some(person)) = (&receipt.coverage, owner.person_pk)
        && let SubjectRef::Local { facility, local_id } = &link.subject
    {
        let patient = ids.local_patient(facility, local_id, &receipt.demographics)?;
        if patient.person_pk.is_none() {
            ids.link_patient_to_person(patient.pk, person)?;
        }
        linked = Some(CoverageLinked {
            patient_pk: Some(patient.pk),
            person_pk: person,
            member: link.member.clone(),
            active: true,
        });
    }
    Ok((owner, linked))
}

/// Records a FHIR Patient written as `fhir_id` by `facility` and links it to the person
/// its member id names (with its own birth date and sex).
pub fn link_fhir_patient<I: Identities>(
    ids: &mut I,
    fhir_id: &str,
    facility: Option<&str>,
    facts: &PatientFacts,
    location: &str,
    warnings: &mut Vec<Issue>,
) -> Result<Owner, I::Error> {
    let local_id = facts
        .local_ids
        .iter()
        .find(|(f, _)| Some(f.as_str()) == facility)
        .map(|(_, id)| id.as_str());
    let row = ids.record_fhir_patient(fhir_id, facility, local_id, &facts.demographics)?;
    let mut owner = Owner {
        patient_pk: Some(row.pk),
        person_pk: row.person_pk,
    };
    if let Some(member) = &facts.member {
        match ids.person_of_member(member, LinkFacts::of(&facts.demographics))? {
            PersonLink::Linked(person) => {
                ids.link_patient_to_person(row.pk, person)?;
                owner.person_pk = Some(person);
            }
            PersonLink::Ambiguous { .. } => warnings.push(patient_not_linked(location)),
        }
    }
    Ok(owner)
}

/// Links a coverage's beneficiary (`owner.patient_pk`, if any) to the person `member`
/// names, with the patient's known birth date and sex; an inactive coverage names the
/// person without moving the patient. Returns the person, `None` for an ambiguous card.
pub fn link_coverage<I: Identities>(
    ids: &mut I,
    owner: &mut Owner,
    member: &MemberId,
    active: bool,
    location: &str,
    warnings: &mut Vec<Issue>,
) -> Result<Option<i64>, I::Error> {
    let facts = match owner.patient_pk {
        Some(pk) => ids.patient_facts(pk)?,
        None => LinkFacts::default(),
    };
    Ok(match ids.person_of_member(member, facts)? {
        PersonLink::Linked(person) => {
            if let Some(patient) = owner.patient_pk
                && active
            {
                ids.link_patient_to_person(patient, person)?;
            }
            owner.person_pk = Some(person);
            Some(person)
        }
        PersonLink::Ambiguous { .. } => {
            warnings.push(patient_not_linked(location));
            None
        }
    })
}
