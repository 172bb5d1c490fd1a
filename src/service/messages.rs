//! HL7 v2 intake shared by `POST /hl7v2`, the MLLP listener and SS-MIX2 archives: one
//! decoded message is decided on (`intake::decide`, the rule `kakari convert` applies
//! too), then kept as received, mapped to canonical records, its patient linked to a
//! person through IN1, and answered with what its acknowledgement must say. The
//! acknowledgement is built only after the unit of work that stored it committed.
//!
//! * unreadable (no MSH): quarantined, AR;
//! * errors (required fields missing, storage rules): quarantined, not mapped, AE with ERR
//!   locations; the key is not claimed, so a corrected message under the same MSH-10 is
//!   processed;
//! * seen before with the same content: nothing written, AA again;
//! * seen before with other content (`intake.key_reused`): quarantined, AE;
//! * an SS-MIX2 invalidation file: the current files of the record are withdrawn;
//! * otherwise stored and mapped: AA, with warnings in ERR.

use crate::codec::hl7v2::MappedMessage;
use crate::domain::{MemberId, Provenance, SourceFormat};
use crate::error::{Issue, Problem};
use crate::intake::report::key_reused_issue;
use crate::intake::{Disposition, Incoming, KeyState, SeenKeys, Verdict, decide, identity};
use crate::service::Ctx;
use crate::service::derived::{self, Agent, Origin, PatientSide, Writer};
use crate::service::intake::{record_input, store_record};
use crate::store::inputs::{KeyClaim, NewQuarantine};
use crate::store::messages::NewMessage;
use crate::store::persons::NewCoverage;
use crate::store::records::Owner;
use crate::store::{StoreError, Tx};

/// The sender's idempotency keys in the database (`idempotency_keys`).
struct DbKeys<'t, 'c> {
    tx: &'t mut Tx<'c>,
    scope: &'t str,
}

impl SeenKeys for DbKeys<'_, '_> {
    type Error = StoreError;

    fn claim(&mut self, key: &str, digest: &[u8; 32]) -> Result<KeyState, StoreError> {
        Ok(match self.tx.claim_key(self.scope, key, Some(digest))? {
            KeyClaim::New => KeyState::New,
            KeyClaim::Seen {
                digest: Some(seen), ..
            } if seen.as_slice() != digest.as_slice() => KeyState::OtherContent,
            KeyClaim::Seen { .. } => KeyState::SameContent,
        })
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
    let scope = ctx.caller.sender_scope();
    let verdict = decide(incoming, &mut DbKeys { tx, scope: &scope })?;
    match (verdict, &incoming.mapped) {
        (Verdict::Duplicate, _) => Ok(Disposition::Duplicate),
        (Verdict::KeyReused, _) => {
            keep_in_quarantine(
                tx,
                ctx,
                incoming,
                &[key_reused_issue(incoming)],
                received_at,
            )?;
            Ok(Disposition::KeyReused)
        }
        (Verdict::Invalid, _) => {
            let issues: Vec<Issue> = incoming.all_issues().cloned().collect();
            keep_in_quarantine(tx, ctx, incoming, &issues, received_at)?;
            Ok(Disposition::Error)
        }
        (Verdict::Invalidation, Some(mapped)) => {
            withdraw(tx, ctx, incoming, mapped, &scope, received_at)
        }
        (Verdict::Accept, Some(mapped)) => accept(tx, ctx, incoming, mapped, &scope, received_at),
        (Verdict::Unreadable | Verdict::Invalidation | Verdict::Accept, _) => {
            keep_in_quarantine(tx, ctx, incoming, &incoming.issues, received_at)?;
            Ok(Disposition::Rejected)
        }
    }
}

/// The row of a kept message.
fn message_row<'a>(
    ctx: &Ctx,
    incoming: &'a Incoming,
    mapped: &'a MappedMessage,
    scope: &'a str,
    message_type: &'a str,
    received_at: i64,
) -> NewMessage<'a> {
    let header = &mapped.header;
    NewMessage {
        input_id: 0,
        client_id: ctx.caller.client_id,
        scope,
        control_id: Some(&header.control_id),
        sending_app: Some(&header.sending_application),
        sending_facility: Some(&header.sending_facility),
        message_type: Some(message_type),
        storage_name: incoming.origin.as_ref().map(|o| o.stem.as_str()),
        data_type: incoming.origin.as_ref().map(|o| o.data_type.as_str()),
        patient_pk: None,
        status: "",
        received_at,
        raw: &incoming.raw,
    }
}

/// Records the input of a kept message, labelled with its storage path or MSH-10.
fn record_message_input(
    tx: &mut Tx<'_>,
    ctx: &Ctx,
    incoming: &Incoming,
    mapped: &MappedMessage,
    received_at: i64,
) -> Result<i64, Problem> {
    let label = incoming
        .origin
        .as_ref()
        .map_or(mapped.header.control_id.as_str(), |o| o.path.as_str());
    record_input(
        tx,
        ctx,
        format_of(incoming).0,
        &incoming.digest,
        incoming.raw.len(),
        received_at,
        Some(label),
    )
}

/// An invalidation file: withdraws the current files of the record it names; it is not
/// current data itself.
fn withdraw(
    tx: &mut Tx<'_>,
    ctx: &Ctx,
    incoming: &Incoming,
    mapped: &MappedMessage,
    scope: &str,
    received_at: i64,
) -> Result<Disposition, Problem> {
    let stem = incoming.origin.as_ref().map_or("", |o| o.stem.as_str());
    let input_id = record_message_input(tx, ctx, incoming, mapped, received_at)?;
    let current = tx.current_messages(scope, stem)?;
    for m in &current {
        derived::withdraw(tx, m.input_id)?;
        tx.supersede_message(m)?;
    }
    let message_type = mapped.header.message_type();
    tx.insert_message(&NewMessage {
        input_id,
        status: "invalidation",
        ..message_row(ctx, incoming, mapped, scope, &message_type, received_at)
    })?;
    let key = incoming.dedup_key().unwrap_or_default();
    tx.complete_key(scope, &key, Some(input_id), 200, b"superseded")?;
    Ok(Disposition::Superseded {
        withdrawn: current.len(),
    })
}

/// Keeps a message, links its patient and stores its records.
fn accept(
    tx: &mut Tx<'_>,
    ctx: &Ctx,
    incoming: &Incoming,
    mapped: &MappedMessage,
    scope: &str,
    received_at: i64,
) -> Result<Disposition, Problem> {
    let header = &mapped.header;
    let (format, source) = format_of(incoming);
    let input_id = record_message_input(tx, ctx, incoming, mapped, received_at)?;
    let mut warnings = Vec::new();
    let (owner, members) = link_subject(tx, ctx, incoming, input_id, received_at, &mut warnings)?;
    let mut stored = Vec::with_capacity(mapped.records.len());
    for record in &mapped.records {
        let prov = Provenance {
            client_id: ctx.caller.client_id,
            input_id,
            format: source,
            received_at,
            location: record.location.clone(),
        };
        stored.push(store_record(tx, &record.record, owner, &prov)?);
    }
    let records = stored.len();
    serve_as_fhir(
        tx,
        ctx,
        incoming,
        mapped,
        (scope, input_id, received_at),
        owner,
        &stored,
        &members,
    )?;
    let message_type = header.message_type();
    tx.insert_message(&NewMessage {
        input_id,
        patient_pk: owner.patient_pk,
        status: if mapped.not_mapped {
            "not_mapped"
        } else {
            "mapped"
        },
        ..message_row(ctx, incoming, mapped, scope, &message_type, received_at)
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
    let key = incoming.dedup_key().unwrap_or_default();
    tx.complete_key(scope, &key, Some(input_id), 200, b"accepted")?;
    Ok(Disposition::Accepted {
        records,
        mapped: !mapped.not_mapped,
        warnings,
    })
}

/// Writes the message's patient, records and coverages as FHIR resources, with the
/// message's Provenance (`service::derived`).
#[allow(clippy::too_many_arguments)]
fn serve_as_fhir(
    tx: &mut Tx<'_>,
    ctx: &Ctx,
    incoming: &Incoming,
    mapped: &MappedMessage,
    (scope, input_id, received_at): (&str, i64, i64),
    owner: Owner,
    stored: &[i64],
    members: &[MemberId],
) -> Result<(), Problem> {
    let key = incoming.dedup_key().unwrap_or_default();
    let facility = ctx.caller.facility.as_ref().map(|f| f.as_str());
    let origin = Origin {
        format: format_of(incoming).1,
        input_id,
        scope,
        key: &key,
        label: Some(
            incoming
                .origin
                .as_ref()
                .map_or(mapped.header.control_id.as_str(), |o| o.file_name.as_str()),
        ),
        received_at,
        client_id: ctx.caller.client_id,
        owner_facility: facility,
        agent: Agent::Institution(facility.unwrap_or_default()),
    };
    let mut writer = Writer::new(&origin);
    let side = mapped.patient.as_ref().map(|p| PatientSide {
        demographics: &p.demographics,
        identifiers: &p.identifiers,
    });
    if let Some(patient) = writer.patient_of(tx, owner, side)? {
        for (i, (record, pk)) in mapped.records.iter().zip(stored).enumerate() {
            let location = format!("{}#{}", record.location, i + 1);
            writer.record(tx, *pk, &record.record, &location, &patient)?;
        }
        for member in members {
            writer.coverage(tx, &patient, member)?;
        }
    }
    writer.finish(tx)
}

/// Links the message's patient and the persons its IN1 segments name
/// (`intake::identity::link_message`, as `kakari convert` does) and records a coverage per
/// link; returns the patient and the member ids it was linked to.
fn link_subject(
    tx: &mut Tx<'_>,
    ctx: &Ctx,
    incoming: &Incoming,
    input_id: i64,
    received_at: i64,
    warnings: &mut Vec<Issue>,
) -> Result<(Owner, Vec<MemberId>), Problem> {
    let (owner, links) = identity::link_message(tx, incoming, warnings)?;
    let mut linked = Vec::with_capacity(links.len());
    for link in links {
        tx.insert_coverage(&NewCoverage {
            patient_pk: link.patient_pk,
            person_pk: Some(link.person_pk),
            member_key: &link.member.key(),
            active: link.active,
            source_resource_pk: None,
            input_id,
            client_id: ctx.caller.client_id,
            received_at,
        })?;
        linked.push(link.member);
    }
    Ok((owner, linked))
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
