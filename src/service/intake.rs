//! What every file and message intake shares: recording the input, the idempotency key of
//! a re-sent input, and the quarantine of refused inputs (whom the records belong to is
//! `intake::identity`, shared with `kakari convert`).

use crate::auth::Caller;
use crate::domain::{ClinicalRecord, Provenance};
use crate::error::Problem;
use crate::service::Ctx;
use crate::store::Tx;
use crate::store::inputs::{KeyClaim, NewInput, NewQuarantine};
use crate::store::records::Owner;

/// Hex of a SHA-256 digest.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Records an input (every request body, message or file kakari took in).
pub fn record_input(
    tx: &mut Tx<'_>,
    ctx: &Ctx,
    format: &str,
    digest: &[u8],
    size: usize,
    received_at: i64,
    label: Option<&str>,
) -> Result<i64, Problem> {
    Ok(tx.insert_input(&NewInput {
        client_id: ctx.caller.client_id,
        format,
        received_at,
        request_id: Some(&ctx.request_id),
        sha256: digest,
        size: size as i64,
        label,
    })?)
}

/// Claims the idempotency key of an input whose key fixes its content (UKE and 特定健診
/// files are keyed by their SHA-256); `Some(stored response)` when it was seen.
pub fn seen_before(
    tx: &mut Tx<'_>,
    caller: &Caller,
    key: &str,
) -> Result<Option<Vec<u8>>, Problem> {
    match tx.claim_key(&caller.sender_scope(), key, None)? {
        KeyClaim::New => Ok(None),
        KeyClaim::Seen { response, .. } => Ok(Some(response.unwrap_or_default())),
    }
}

/// Keeps a refused input for inspection and re-processing.
pub fn quarantine(
    tx: &mut Tx<'_>,
    ctx: &Ctx,
    format: &str,
    received_at: i64,
    label: Option<&str>,
    problem: &Problem,
    body: &[u8],
) -> Result<i64, Problem> {
    let first = problem.issues.first();
    Ok(tx.insert_quarantine(&NewQuarantine {
        client_id: ctx.caller.client_id,
        format,
        received_at,
        request_id: Some(&ctx.request_id),
        code: problem.code.as_str(),
        location: first.map_or("", |i| i.location.as_str()),
        message: first.map_or("", |i| i.message.as_str()),
        label,
        body,
    })?)
}

/// Stores one canonical record; returns its pk.
pub fn store_record(
    tx: &mut Tx<'_>,
    record: &ClinicalRecord,
    owner: Owner,
    prov: &Provenance,
) -> Result<i64, Problem> {
    Ok(match record {
        ClinicalRecord::Medication(m) => tx.insert_medication(m, owner, prov, None)?,
        ClinicalRecord::Lab(l) => tx.insert_lab(l, owner, prov, None)?,
        ClinicalRecord::Condition(c) => tx.insert_condition(c, owner, prov, None)?,
        ClinicalRecord::Allergy(a) => tx.insert_allergy(a, owner, prov, None)?,
    })
}
