//! Batch and transaction Bundles (`POST /fhir`).
//!
//! Both run as one unit of work with one durable commit. A transaction is all or nothing:
//! the first failing entry aborts it and its error (located at `Bundle.entry[i]…`) is the
//! response. A batch runs every entry in its own savepoint: good entries are kept, each bad
//! one gets its own error in the batch-response. `Bundle.identifier` makes a re-sent Bundle
//! return the first response without writing anything, also when the copies arrive at the
//! same time (the key is claimed inside the unit of work); the same identifier with other
//! content is refused (`intake.key_reused`), never answered with the first response.
//! Document and collection Bundles posted here go to `document`.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::persist::{self, WriteCtx, Written};
use super::prepare::{self, Prepared};
use super::rest::count_records;
use super::{FhirBody, FhirResponse};
use crate::app::AppState;
use crate::codec::fhir::bundle::{self, BundleKind, Entry, Method};
use crate::codec::fhir::digest::bundle_content_digest;
use crate::codec::fhir::document::DocumentKind;
use crate::codec::fhir::{json as fhir_json, outcome};
use crate::domain::datetime::{format_instant_millis, now_millis};
use crate::error::{ErrorCode, Problem};
use crate::intake::report::bundle_key_reused;
use crate::service::{Ctx, sha256};
use crate::store::Tx;
use crate::store::inputs::{KeyClaim, NewInput};

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

pub(super) fn success_entry(w: &Written) -> Value {
    let status = if w.created { 201 } else { 200 };
    let mut response = json!({
        "status": format!("{status} {}", reason(status)),
        "location": format!("{}/{}/_history/{}", w.rtype, w.own_id, w.version),
        "etag": format!("W/\"{}\"", w.version),
        "lastModified": format_instant_millis(w.last_updated),
    });
    if !w.warnings.is_empty() {
        response["outcome"] = outcome::from_issues(&w.warnings);
    }
    json!({"response": response})
}

fn error_entry(p: &Problem) -> Value {
    let status = p.status();
    json!({"response": {
        "status": format!("{status} {}", reason(status)),
        "outcome": outcome::from_problem(p)
    }})
}

pub(super) use crate::codec::fhir::bundle::at_entry;

/// An entry after id assignment.
pub(super) struct Planned {
    pub entry: Entry,
    pub id: String,
    /// The id was assigned here (a POST entry), so it cannot exist yet.
    pub fresh: bool,
}

fn target(p: &Planned) -> String {
    format!("{}/{}", p.entry.rtype, p.id)
}

pub(super) fn reference_map(planned: &[Planned]) -> HashMap<String, String> {
    planned
        .iter()
        .filter_map(|p| p.entry.full_url.clone().map(|u| (u, target(p))))
        .collect()
}

pub(super) fn prepare_all(
    ctx: &Ctx,
    planned: &[Planned],
    map: &HashMap<String, String>,
) -> Vec<Result<Prepared, Problem>> {
    planned
        .iter()
        .map(|p| {
            let mut resource = p.entry.resource.clone();
            let base = p.entry.full_url.as_deref().and_then(bundle::rest_base);
            bundle::rewrite_references(&mut resource, map, base);
            let location = format!("Bundle.entry[{}].resource", p.entry.index);
            prepare::prepare(
                &ctx.caller,
                p.entry.rtype,
                resource,
                p.id.clone(),
                &location,
            )
            .map(|mut prep| {
                prep.fresh_id = p.fresh;
                prep
            })
        })
        .collect()
}

/// How a Bundle's unit of work starts.
pub(super) enum Start {
    /// A re-send of a Bundle already processed: its stored answer.
    Replay(Vec<u8>),
    /// A new Bundle, recorded as this input.
    Input(i64),
}

/// What identifies a received Bundle.
pub(super) struct Received {
    /// `system|value` of `Bundle.identifier`.
    pub key: Option<String>,
    /// The Bundle's content digest (`codec::fhir::digest`): a re-send must carry the same.
    pub content: [u8; 32],
    /// SHA-256 of the body.
    pub digest: Vec<u8>,
    pub size: i64,
    pub received_at: i64,
}

impl Received {
    pub fn new(body: &[u8], bundle: &Value, key: Option<String>, received_at: i64) -> Self {
        Self {
            key,
            content: bundle_content_digest(bundle),
            digest: sha256(body),
            size: body.len() as i64,
            received_at,
        }
    }
}

/// Starts a Bundle's unit of work: claims `Bundle.identifier` with the Bundle's content
/// digest (a re-send of the same content replays the first answer; the same identifier
/// with other content is `intake.key_reused`, never the first answer), then records the
/// input.
pub(super) fn start(tx: &mut Tx<'_>, ctx: &Ctx, r: &Received) -> Result<Start, Problem> {
    let scope = ctx.caller.sender_scope();
    if let Some(key) = &r.key {
        match tx.claim_key(&scope, &format!("bundle|{key}"), Some(&r.content))? {
            KeyClaim::New => {}
            KeyClaim::Seen {
                digest: Some(seen), ..
            } if seen.as_slice() != r.content.as_slice() => {
                return Err(Problem::with_issues(
                    ErrorCode::IntakeKeyReused,
                    vec![bundle_key_reused()],
                ));
            }
            KeyClaim::Seen { response, .. } => {
                return Ok(Start::Replay(response.unwrap_or_default()));
            }
        }
    }
    let input_id = tx.insert_input(&NewInput {
        client_id: ctx.caller.client_id,
        format: "fhir",
        received_at: r.received_at,
        request_id: Some(&ctx.request_id),
        sha256: &r.digest,
        size: r.size,
        label: r.key.as_deref(),
    })?;
    Ok(Start::Input(input_id))
}

/// `POST /fhir` with a batch or transaction Bundle (documents and collections go to
/// `document::process`).
pub async fn process(app: &AppState, ctx: &Ctx, body: &[u8]) -> Result<FhirResponse, Problem> {
    let value = fhir_json::parse(body)?;
    if DocumentKind::of(&value).is_some() && value.get("resourceType") == Some(&json!("Bundle")) {
        return super::document::process(app, ctx, body, value, None).await;
    }
    let received_at = now_millis();
    let identifier = bundle::identifier_of(&value);
    let received = Received::new(body, &value, identifier, received_at);
    let request = bundle::parse(value)?;
    let kind = request.kind;
    let key = request.identifier.clone();

    let mut planned = Vec::new();
    let mut refused: Vec<(usize, Problem)> = Vec::new();
    for (i, entry) in request.entries.into_iter().enumerate() {
        match entry {
            Ok(entry) => {
                let fresh = entry.id.is_none();
                let id = entry.id.clone().unwrap_or_else(prepare::new_id);
                planned.push(Planned { entry, id, fresh });
            }
            Err(p) if kind == BundleKind::Transaction => return Err(at_entry(p, i)),
            Err(p) => refused.push((i, at_entry(p, i))),
        }
    }
    let map = reference_map(&planned);
    let mut prepared = Vec::with_capacity(planned.len());
    for (p, result) in planned.iter().zip(prepare_all(ctx, &planned, &map)) {
        match result {
            Ok(prep) => prepared.push(Ok(prep)),
            Err(e) if kind == BundleKind::Transaction => return Err(at_entry(e, p.entry.index)),
            Err(e) => prepared.push(Err(e)),
        }
    }
    let stamped: Vec<Option<String>> = prepared
        .iter()
        .zip(&planned)
        .map(|(prep, p)| match (prep, p.entry.method) {
            (Ok(prep), Method::Post) => {
                let mut r = prep.resource.clone();
                Some(prepare::stamp(&mut r, 1, received_at))
            }
            _ => None,
        })
        .collect();

    let ctx2 = ctx.clone();
    let outcome = app
        .store
        .write(move |tx| {
            let scope = ctx2.caller.sender_scope();
            let input_id = match start(tx, &ctx2, &received)? {
                Start::Replay(response) => return Ok::<_, Problem>(Outcome::Replayed(response)),
                Start::Input(id) => id,
            };
            let mut w = WriteCtx::new(&ctx2, input_id, received_at);
            let (entries, written) = match kind {
                BundleKind::Transaction => transaction(tx, &mut w, &ctx2, planned, prepared, stamped, received_at)?,
                BundleKind::Batch => batch(tx, &mut w, planned, prepared, stamped, refused, received_at)?,
            };
            tx.append_audit(&w.audit)?;
            let response = json!({
                "resourceType": "Bundle",
                "type": if kind == BundleKind::Transaction { "transaction-response" } else { "batch-response" },
                "entry": entries
            });
            let text = serde_json::to_string(&response).unwrap_or_default();
            if let Some(key) = &key {
                tx.complete_key(&scope, &format!("bundle|{key}"), Some(input_id), 200, text.as_bytes())?;
            }
            Ok(Outcome::Fresh(text, written))
        })
        .await?;
    let text = match outcome {
        Outcome::Replayed(bytes) => String::from_utf8(bytes).unwrap_or_default(),
        Outcome::Fresh(text, written) => {
            count_records(&written);
            text
        }
    };
    Ok(FhirResponse {
        status: 200,
        body: FhirBody::Text(text),
        location: None,
        version: None,
        last_modified: None,
    })
}

enum Outcome {
    Replayed(Vec<u8>),
    Fresh(String, Vec<Written>),
}

fn write_one(
    tx: &mut Tx<'_>,
    w: &mut WriteCtx<'_>,
    entry: &Entry,
    prep: &Prepared,
    stamped: Option<&str>,
    received_at: i64,
) -> Result<Written, Problem> {
    match entry.method {
        Method::Post => {
            if let Some(query) = &entry.if_none_exist
                && let Some(row) = persist::conditional_match(
                    tx,
                    w.caller,
                    entry.rtype,
                    query,
                    &format!("Bundle.entry[{}].request.ifNoneExist", entry.index),
                )?
            {
                return persist::matched(tx, w, row, entry.rtype);
            }
            match stamped {
                Some(body) => persist::create(tx, w, prep, body, received_at),
                None => {
                    let mut r = prep.resource.clone();
                    let body = prepare::stamp(&mut r, 1, received_at);
                    persist::create(tx, w, prep, &body, received_at)
                }
            }
        }
        Method::Put => persist::update(tx, w, prep, entry.if_match, received_at),
    }
}

pub(super) type EntriesAndWritten = (Vec<Value>, Vec<Written>);
type PreparedEntry = (Result<Prepared, Problem>, Option<String>);

pub(super) fn transaction(
    tx: &mut Tx<'_>,
    w: &mut WriteCtx<'_>,
    ctx: &Ctx,
    planned: Vec<Planned>,
    prepared: Vec<Result<Prepared, Problem>>,
    stamped: Vec<Option<String>>,
    received_at: i64,
) -> Result<EntriesAndWritten, Problem> {
    let mut prepared: Vec<Prepared> = prepared.into_iter().collect::<Result<_, _>>()?;
    let mut stamped = stamped;
    // Conditional creates first: a match changes where references to that entry point.
    let mut matched: HashMap<usize, Written> = HashMap::new();
    let mut remap = false;
    let mut planned = planned;
    for (k, p) in planned.iter_mut().enumerate() {
        if let (Method::Post, Some(query)) = (p.entry.method, &p.entry.if_none_exist) {
            let location = format!("Bundle.entry[{}].request.ifNoneExist", p.entry.index);
            let found =
                match persist::conditional_match(tx, w.caller, p.entry.rtype, query, &location) {
                    // An implied condition with several matches creates a new resource.
                    Err(e) if p.entry.implied_condition && e.code == ErrorCode::MultipleMatches => {
                        None
                    }
                    other => other.map_err(|e| at_entry(e, p.entry.index))?,
                };
            if let Some(row) = found {
                p.id = row.id.clone();
                remap |= p.entry.full_url.is_some();
                matched.insert(k, persist::matched(tx, w, row, p.entry.rtype)?);
            }
        }
    }
    if remap {
        let map = reference_map(&planned);
        prepared = prepare_all(ctx, &planned, &map)
            .into_iter()
            .zip(&planned)
            .map(|(r, p)| r.map_err(|e| at_entry(e, p.entry.index)))
            .collect::<Result<_, _>>()?;
        stamped = vec![None; planned.len()];
    }
    let mut slots: Vec<Option<Written>> = planned.iter().map(|_| None).collect();
    for k in write_order(&planned) {
        let (p, prep) = (&planned[k], &prepared[k]);
        let result = match matched.remove(&k) {
            Some(m) => m,
            None => {
                let mut entry = p.entry.clone();
                entry.if_none_exist = None;
                write_one(tx, w, &entry, prep, stamped[k].as_deref(), received_at)
                    .map_err(|e| at_entry(e, p.entry.index))?
            }
        };
        slots[k] = Some(result);
    }
    let written: Vec<Written> = slots.into_iter().flatten().collect();
    let entries = written.iter().map(success_entry).collect();
    Ok((entries, written))
}

/// The order entries are written in: Patients first (in Bundle order), so that the other
/// entries' subjects resolve to them whatever order the sender chose; responses keep the
/// Bundle's order.
fn write_order(planned: &[Planned]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_by_key(|&k| planned[k].entry.rtype != crate::codec::fhir::ResourceType::Patient);
    order
}

fn batch(
    tx: &mut Tx<'_>,
    w: &mut WriteCtx<'_>,
    planned: Vec<Planned>,
    prepared: Vec<Result<Prepared, Problem>>,
    stamped: Vec<Option<String>>,
    refused: Vec<(usize, Problem)>,
    received_at: i64,
) -> Result<EntriesAndWritten, Problem> {
    let total = planned.len() + refused.len();
    let mut slots: Vec<Option<Value>> = vec![None; total];
    for (i, p) in refused {
        if let Some(slot) = slots.get_mut(i) {
            *slot = Some(error_entry(&p));
        }
    }
    let mut written = Vec::new();
    let order = write_order(&planned);
    // Each entry's prepared resource and stamped body, taken when written.
    let mut work: Vec<Option<PreparedEntry>> =
        prepared.into_iter().zip(stamped).map(Some).collect();
    for k in order {
        let p = &planned[k];
        let Some((prep, body)) = work[k].take() else {
            continue;
        };
        let index = p.entry.index;
        let result = match prep {
            Err(e) => Err(e),
            Ok(prep) => {
                let audit_len = w.audit.len();
                tx.savepoint("batch_entry")?;
                match write_one(tx, w, &p.entry, &prep, body.as_deref(), received_at) {
                    Ok(done) => {
                        tx.release("batch_entry")?;
                        Ok(done)
                    }
                    Err(e) => {
                        tx.rollback_to("batch_entry")?;
                        tx.release("batch_entry")?;
                        w.audit.truncate(audit_len);
                        Err(at_entry(e, index))
                    }
                }
            }
        };
        let value = match &result {
            Ok(done) => success_entry(done),
            Err(e) => error_entry(e),
        };
        if let Some(slot) = slots.get_mut(index) {
            *slot = Some(value);
        }
        if let Ok(done) = result {
            written.push(done);
        }
    }
    let entries = slots
        .into_iter()
        .map(|s| s.unwrap_or_else(|| error_entry(&Problem::bare(ErrorCode::Internal))))
        .collect();
    Ok((entries, written))
}
