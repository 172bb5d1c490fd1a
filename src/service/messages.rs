//! HL7 v2 intake shared by `POST /hl7v2`, the MLLP listener and SS-MIX2 archives: one
//! decoded message is stored (kept as received, mapped to canonical records, its patient
//! linked to a person through IN1), deduplicated on the sender's own id, and answered with
//! what its acknowledgement must say.
//!
//! * A message that cannot be read (no MSH) is quarantined: AR.
//! * A message with errors (required fields missing, wrong structure) is kept in
//!   quarantine and not mapped: AE with ERR locations. Its key is not claimed, so a
//!   corrected message with the same MSH-10 is processed.
//! * A message seen before (same sender MSH-3/MSH-4 + MSH-10, or same SS-MIX2 file name)
//!   writes nothing: AA again.
//! * Otherwise it is stored and mapped: AA, with warnings in ERR. The acknowledgement is
//!   built only after the unit of work that stored it committed.

use crate::codec::hl7v2::MappedMessage;
use crate::codec::hl7v2::map::ClinicalRecord;
use crate::domain::{Provenance, SourceFormat, SubjectRef};
use crate::error::{Issue, Problem};
use crate::service::Ctx;
use crate::service::intake::{record_input, resolve_owner};
use crate::store::Tx;
use crate::store::inputs::{KeyClaim, NewQuarantine};
use crate::store::messages::NewMessage;
use crate::store::persons::{PersonLink, birth_date_text, sex_code};

/// Where a message came from in an SS-MIX2 storage tree.
#[derive(Debug, Clone)]
pub struct StorageOrigin {
    /// The file's path in the archive (a location; never logged).
    pub path: String,
    /// The 7-field file name without its flag: the key of the record across versions.
    pub stem: String,
    pub file_name: String,
    pub data_type: String,
    /// The patient id of the storage path (used over a disagreeing PID-3).
    pub patient_id: String,
    /// False for an invalidated (`_0`) file.
    pub valid: bool,
}

/// One message ready to store.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub raw: Vec<u8>,
    /// `None` when the message could not be read at all.
    pub mapped: Option<MappedMessage>,
    /// The refusal of an unreadable message, or storage-rule findings of a file.
    pub issues: Vec<Issue>,
    pub origin: Option<StorageOrigin>,
}

impl Incoming {
    /// A message of an HL7 v2 body as read by `hl7v2::receive` (not from a storage tree).
    pub fn from_received(received: &crate::codec::hl7v2::Received<'_>) -> Self {
        let (mapped, issues) = match &received.outcome {
            Ok((_, mapped)) => (Some(mapped.clone()), Vec::new()),
            Err(rejected) => (None, rejected.issues.clone()),
        };
        Self {
            raw: received.bytes.to_vec(),
            mapped,
            issues,
            origin: None,
        }
    }

    /// Whom the records are about: the storage path's patient id wins over PID-3 for
    /// SS-MIX2 files.
    pub fn subject(&self) -> Option<SubjectRef> {
        let mapped = self.mapped.as_ref()?;
        match (&self.origin, &mapped.subject) {
            (Some(origin), Some(SubjectRef::Local { facility, .. })) => Some(SubjectRef::Local {
                facility: facility.clone(),
                local_id: origin.patient_id.clone(),
            }),
            (_, subject) => subject.clone(),
        }
    }

    /// The key a message is recognised by when it arrives again: the SS-MIX2 file name,
    /// else the sender (MSH-3, MSH-4) and MSH-10.
    pub fn dedup_key(&self) -> Option<String> {
        match (&self.origin, &self.mapped) {
            (Some(origin), _) => Some(format!("ssmix2|{}", origin.file_name)),
            (None, Some(mapped)) => {
                let header = &mapped.header;
                Some(format!(
                    "hl7|{}|{}|{}",
                    header.sending_application, header.sending_facility, header.control_id
                ))
            }
            (None, None) => None,
        }
    }
}

/// What happened to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Accepted {
        records: usize,
        mapped: bool,
    },
    Duplicate,
    /// An invalidation (`_0`) file: the earlier version's records were withdrawn.
    Superseded {
        withdrawn: usize,
    },
    /// Kept in quarantine, not mapped (AE).
    Error,
    /// Unreadable; kept in quarantine (AR).
    Rejected,
}

impl Disposition {
    pub fn label(&self) -> &'static str {
        match self {
            Disposition::Accepted { .. } => "accepted",
            Disposition::Duplicate => "duplicate",
            Disposition::Superseded { .. } => "superseded",
            Disposition::Error | Disposition::Rejected => "rejected",
        }
    }
}

fn format_of(incoming: &Incoming) -> (&'static str, SourceFormat) {
    match incoming.origin {
        Some(_) => ("ssmix2", SourceFormat::Ssmix2),
        None => ("hl7v2", SourceFormat::Hl7v2),
    }
}

fn keep_in_quarantine(
    tx: &mut Tx<'_>,
    ctx: &Ctx,
    incoming: &Incoming,
    issues: &[Issue],
    received_at: i64,
) -> Result<(), Problem> {
    let first = issues.iter().find(|i| i.is_error()).or(issues.first());
    let (format, _) = format_of(incoming);
    tx.insert_quarantine(&NewQuarantine {
        client_id: ctx.caller.client_id,
        format,
        received_at,
        request_id: Some(&ctx.request_id),
        code: first.map_or("hl7.no_header", |i| i.code.as_str()),
        location: first.map_or("", |i| i.location.as_str()),
        message: first.map_or("", |i| i.message.as_str()),
        label: incoming.origin.as_ref().map(|o| o.path.as_str()),
        body: &incoming.raw,
    })?;
    Ok(())
}

/// Stores one message in the open unit of work.
pub fn store(
    tx: &mut Tx<'_>,
    ctx: &Ctx,
    incoming: &Incoming,
    received_at: i64,
) -> Result<Disposition, Problem> {
    let Some(mapped) = &incoming.mapped else {
        keep_in_quarantine(tx, ctx, incoming, &incoming.issues, received_at)?;
        return Ok(Disposition::Rejected);
    };
    let mut issues: Vec<Issue> = incoming.issues.clone();
    issues.extend(mapped.issues.iter().cloned());
    let header = &mapped.header;
    let scope = ctx.caller.sender_scope();
    let (format, source) = format_of(incoming);
    let digest = super::sha256(&incoming.raw);
    let message_type = format!("{}^{}", header.message_code, header.event);

    // An invalidation file withdraws the record it names; it is not current data.
    if let Some(origin) = incoming.origin.as_ref().filter(|o| !o.valid) {
        let key = incoming.dedup_key().unwrap_or_default();
        if let KeyClaim::Seen { .. } = tx.claim_key(&scope, &key)? {
            return Ok(Disposition::Duplicate);
        }
        let input_id = record_input(
            tx,
            ctx,
            format,
            &digest,
            incoming.raw.len(),
            received_at,
            Some(&origin.path),
        )?;
        let current = tx.current_messages(&scope, &origin.stem)?;
        for m in &current {
            tx.supersede_message(m)?;
        }
        tx.insert_message(&NewMessage {
            input_id,
            client_id: ctx.caller.client_id,
            scope: &scope,
            control_id: Some(&header.control_id),
            sending_app: Some(&header.sending_application),
            sending_facility: Some(&header.sending_facility),
            message_type: Some(&message_type),
            storage_name: Some(&origin.stem),
            data_type: Some(&origin.data_type),
            patient_pk: None,
            status: "invalidation",
            received_at,
            raw: &incoming.raw,
        })?;
        tx.complete_key(&scope, &key, Some(input_id), 200, b"superseded")?;
        return Ok(Disposition::Superseded {
            withdrawn: current.len(),
        });
    }

    if issues.iter().any(Issue::is_error) {
        keep_in_quarantine(tx, ctx, incoming, &issues, received_at)?;
        return Ok(Disposition::Error);
    }

    let key = incoming.dedup_key().unwrap_or_default();
    if let KeyClaim::Seen { .. } = tx.claim_key(&scope, &key)? {
        return Ok(Disposition::Duplicate);
    }
    let label = incoming
        .origin
        .as_ref()
        .map(|o| o.path.as_str())
        .unwrap_or(&header.control_id);
    let input_id = record_input(
        tx,
        ctx,
        format,
        &digest,
        incoming.raw.len(),
        received_at,
        Some(label),
    )?;

    // The patient: the storage path's id wins over PID-3 for SS-MIX2 files.
    let subject = incoming.subject();
    let demographics = mapped
        .patient
        .as_ref()
        .map(|p| p.demographics.clone())
        .unwrap_or_default();
    let mut link_issues = Vec::new();
    let owner = match &subject {
        Some(s) => resolve_owner(tx, s, &demographics, "PID-3", &mut link_issues)?,
        None => Default::default(),
    };
    for coverage in &mapped.coverages {
        let birth = birth_date_text(demographics.birth_date);
        let sex = sex_code(demographics.sex);
        match tx.resolve_person(&coverage.member, birth, sex)? {
            PersonLink::Linked(person) => {
                if let Some(patient) = owner.patient_pk {
                    tx.link_patient(patient, person)?;
                }
                tx.insert_coverage(owner.patient_pk, Some(person), &coverage.member.key(), coverage.active, None, input_id, ctx.caller.client_id, received_at)?;
            }
            PersonLink::Ambiguous { .. } => link_issues.push(Issue::warning(
                crate::error::ErrorCode::InvalidMemberId,
                "IN1",
                "member id without 枝番 matches several family members; the patient is not linked yet",
            )),
        }
    }
    let mut records = 0;
    for record in &mapped.records {
        let prov = Provenance {
            client_id: ctx.caller.client_id,
            input_id,
            format: source,
            received_at,
            location: record.location.clone(),
        };
        match &record.record {
            ClinicalRecord::Medication(m) => tx.insert_medication(m, owner, &prov, None)?,
            ClinicalRecord::Lab(l) => tx.insert_lab(l, owner, &prov, None)?,
            ClinicalRecord::Condition(c) => tx.insert_condition(c, owner, &prov, None)?,
            ClinicalRecord::Allergy(a) => tx.insert_allergy(a, owner, &prov, None)?,
        };
        records += 1;
    }
    tx.insert_message(&NewMessage {
        input_id,
        client_id: ctx.caller.client_id,
        scope: &scope,
        control_id: Some(&header.control_id),
        sending_app: Some(&header.sending_application),
        sending_facility: Some(&header.sending_facility),
        message_type: Some(&message_type),
        storage_name: incoming.origin.as_ref().map(|o| o.stem.as_str()),
        data_type: incoming.origin.as_ref().map(|o| o.data_type.as_str()),
        patient_pk: owner.patient_pk,
        status: if mapped.not_mapped {
            "not_mapped"
        } else {
            "mapped"
        },
        received_at,
        raw: &incoming.raw,
    })?;
    let mut audit = ctx.audit("ingest");
    audit.resource_type = Some(message_type);
    audit.patient_pk = owner.patient_pk;
    audit.person_pk = match owner.patient_pk {
        Some(pk) => tx.patient(pk)?.and_then(|p| p.person_pk),
        None => owner.person_pk,
    };
    audit.detail = Some(format!("{format} message, {records} record(s)"));
    tx.append_audit(&[audit])?;
    tx.complete_key(&scope, &key, Some(input_id), 200, b"accepted")?;
    Ok(Disposition::Accepted {
        records,
        mapped: !mapped.not_mapped,
    })
}

/// Stores several messages in one unit of work, each in its own savepoint (a store
/// failure of one does not undo the others).
pub fn store_all(
    tx: &mut Tx<'_>,
    ctx: &Ctx,
    incoming: &[Incoming],
    received_at: i64,
) -> Result<Vec<Result<Disposition, Problem>>, Problem> {
    let mut out = Vec::with_capacity(incoming.len());
    for one in incoming {
        tx.savepoint("message")?;
        match store(tx, ctx, one, received_at) {
            Ok(d) => {
                tx.release("message")?;
                out.push(Ok(d));
            }
            Err(e) => {
                tx.rollback_to("message")?;
                tx.release("message")?;
                out.push(Err(e));
            }
        }
    }
    Ok(out)
}
