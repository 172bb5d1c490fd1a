//! Document and collection Bundles (`POST /fhir/Bundle`, or `POST /fhir`): the Bundle is
//! kept whole as received, and each entry of a served type is also stored as its own
//! resource, in one unit of work (all or nothing, like a transaction).
//!
//! * Every entry of a served type is created (`POST` semantics, server-assigned id);
//!   references between entries (`urn:uuid:` or absolute `fullUrl`s, relative references
//!   against an absolute `fullUrl`'s base) point to the stored resources. A Patient entry
//!   carrying the writer's own facility-local patient id reuses the Patient the writer
//!   already stored with that id (unchanged), so each document does not add a Patient.
//! * Entries of types kakari does not serve (Composition, DocumentReference, …) are
//!   reported in the response as kept only inside the stored Bundle: nothing is dropped,
//!   and the whole document stays readable as `Bundle/{id}` (references inside it as sent).
//! * Any invalid served entry refuses the whole Bundle, with every entry's issues located
//!   at `Bundle.entry[i]…`: a document is a unit, and nothing is acknowledged that is not
//!   stored.
//! * `Bundle.identifier` is the idempotency key: the same Bundle again returns the first
//!   answer; the same identifier with other content is `intake.key_reused`.
//!
//! The answer is `201` with an OperationOutcome listing where each entry went
//! (`Location` is the stored Bundle when posted to `/fhir/Bundle`).

use serde_json::{Value, json};

use super::bundle::{
    Planned, Received, Start, at_entry, prepare_all, reference_map, start, transaction,
};
use super::persist::{self, WriteCtx, Written};
use super::prepare;
use super::rest::count_records;
use super::{FhirBody, FhirResponse, query_string};
use crate::app::AppState;
use crate::auth::{Caller, access};
use crate::codec::fhir::bundle::{Entry, Method};
use crate::codec::fhir::document::{self, DocumentBundle, DocumentEntry};
use crate::codec::fhir::value::{items, str_of};
use crate::codec::fhir::{ResourceType, outcome, path};
use crate::domain::code_system::id_system;
use crate::domain::datetime::now_millis;
use crate::error::{ErrorCode, Issue, Problem};
use crate::service::Ctx;

/// The condition that finds the Patient the writer already stored for a Patient entry:
/// its facility-local id of the writer's own institution.
fn own_patient_condition(caller: &Caller, entry: &DocumentEntry) -> Option<String> {
    if entry.served != Some(ResourceType::Patient) {
        return None;
    }
    let own = id_system::local_patient_system(caller.facility.as_ref()?.as_str());
    items(&entry.resource, "identifier").iter().find_map(|i| {
        let value = str_of(i, "value").filter(|v| !v.is_empty())?;
        (str_of(i, "system") == Some(own.as_str()))
            .then(|| query_string(&[("identifier".to_owned(), format!("{own}|{value}"))]))
    })
}

fn plan(caller: &Caller, doc: &DocumentBundle) -> Vec<Planned> {
    doc.entries
        .iter()
        .filter_map(|e| {
            let rtype = e.served?;
            let condition = own_patient_condition(caller, e);
            Some(Planned {
                entry: Entry {
                    index: e.index,
                    full_url: e.full_url.clone(),
                    method: Method::Post,
                    rtype,
                    id: None,
                    implied_condition: condition.is_some(),
                    if_none_exist: condition,
                    if_match: None,
                    resource: e.resource.clone(),
                },
                id: prepare::new_id(),
                fresh: true,
            })
        })
        .collect()
}

fn information(location: String, text: String) -> Value {
    json!({"severity": "information", "code": "informational", "expression": [location], "diagnostics": text})
}

/// The OperationOutcome of a stored Bundle: where it and each entry went, and what kakari
/// keeps only inside it.
fn report(
    doc: &DocumentBundle,
    bundle: &Written,
    entries: &[(usize, Written)],
    warnings: &[Issue],
) -> Value {
    let stored_as = |w: &Written| format!("{}/{}/_history/{}", w.rtype, w.own_id, w.version);
    let mut issues = vec![information(
        "Bundle".into(),
        format!("the Bundle is kept as received as {}", stored_as(bundle)),
    )];
    for entry in &doc.entries {
        let at = format!("Bundle.entry[{}]", entry.index);
        match entries.iter().find(|(i, _)| *i == entry.index) {
            Some((_, w)) if w.created => {
                issues.push(information(at, format!("stored as {}", stored_as(w))));
            }
            Some((_, w)) => issues.push(information(
                at,
                format!(
                    "the writer's {} with this facility-local id; not changed",
                    stored_as(w)
                ),
            )),
            None => {
                let name = str_of(&entry.resource, "resourceType").unwrap_or("");
                issues.push(outcome::issue_json(&Issue::warning(
                    ErrorCode::UnsupportedResourceType,
                    format!("{at}.resource.resourceType"),
                    format!(
                        "{} is not served as its own resource; it is kept only inside {}",
                        path::sanitise_name(name),
                        stored_as(bundle)
                    ),
                )));
            }
        }
    }
    issues.extend(warnings.iter().map(outcome::issue_json));
    issues.extend(
        entries
            .iter()
            .flat_map(|(_, w)| w.warnings.iter().map(outcome::issue_json)),
    );
    json!({"resourceType": "OperationOutcome", "issue": issues})
}

/// `POST /fhir/Bundle` or `POST /fhir` with a document or collection Bundle; `base` is the
/// FHIR base URL for `Location` (unknown on the `/fhir` route).
pub async fn process(
    app: &AppState,
    ctx: &Ctx,
    body: &[u8],
    value: Value,
    base: Option<&str>,
) -> Result<FhirResponse, Problem> {
    access::fhir_write(&ctx.caller, ResourceType::Bundle)?;
    let doc = document::parse(&value)?;
    let received_at = now_millis();
    let received = Received::new(body, &value, doc.identifier.clone(), received_at);
    // The Bundle as received: R4 schema (served entries by their type) and code forms.
    let mut whole = prepare::prepare(
        &ctx.caller,
        ResourceType::Bundle,
        value,
        prepare::new_id(),
        "Bundle",
    )?;
    whole.fresh_id = true;
    let planned = plan(&ctx.caller, &doc);
    let map = reference_map(&planned);
    let prepared = prepare_all(ctx, &planned, &map);
    let errors: Vec<Issue> = planned
        .iter()
        .zip(&prepared)
        .filter_map(|(p, r)| r.as_ref().err().map(|e| at_entry(e.clone(), p.entry.index)))
        .flat_map(|e| e.issues)
        .collect();
    if let Some(first) = errors.iter().find(|i| i.is_error()) {
        let code = first.code;
        return Err(Problem::with_issues(code, errors));
    }
    let stamped: Vec<Option<String>> = prepared
        .iter()
        .map(|p| {
            p.as_ref().ok().map(|prep| {
                let mut r = prep.resource.clone();
                prepare::stamp(&mut r, 1, received_at)
            })
        })
        .collect();
    let slots: Vec<(usize, Option<String>)> = planned
        .iter()
        .map(|p| (p.entry.index, p.entry.full_url.clone()))
        .collect();
    let key = doc.identifier.clone();
    let ctx2 = ctx.clone();
    let done = app
        .store
        .write(move |tx| {
            let scope = ctx2.caller.sender_scope();
            let input_id = match start(tx, &ctx2, &received)? {
                Start::Replay(response) => return Ok::<_, Problem>(Done::Replayed(response)),
                Start::Input(id) => id,
            };
            let mut w = WriteCtx::new(&ctx2, input_id, received_at);
            let (_, written) =
                transaction(tx, &mut w, &ctx2, planned, prepared, stamped, received_at)?;
            let targets: Vec<(Option<String>, String)> = slots
                .iter()
                .zip(&written)
                .map(|((_, url), w)| (url.clone(), format!("{}/{}", w.rtype, w.id)))
                .collect();
            whole.extracted.subject = document::subject(&doc, &targets);
            let mut resource = whole.resource.clone();
            let stamped_whole = prepare::stamp(&mut resource, 1, received_at);
            let stored = persist::create(tx, &mut w, &whole, &stamped_whole, received_at)?;
            tx.append_audit(&w.audit)?;
            let entries: Vec<(usize, Written)> =
                slots.iter().map(|(i, _)| *i).zip(written).collect();
            let mut warnings = doc.warnings.clone();
            warnings.extend(stored.warnings.iter().cloned());
            let outcome = report(&doc, &stored, &entries, &warnings);
            let reply = json!({"bundle": stored.id, "version": stored.version, "outcome": outcome});
            let text = serde_json::to_string(&reply).unwrap_or_default();
            if let Some(key) = &key {
                tx.complete_key(
                    &scope,
                    &format!("bundle|{key}"),
                    Some(input_id),
                    201,
                    text.as_bytes(),
                )?;
            }
            let mut all: Vec<Written> = entries.into_iter().map(|(_, w)| w).collect();
            all.push(stored);
            Ok(Done::Fresh(reply, all))
        })
        .await?;
    let (status, reply) = match done {
        Done::Replayed(bytes) => (200, serde_json::from_slice(&bytes).unwrap_or(Value::Null)),
        Done::Fresh(reply, written) => {
            count_records(&written);
            (201, reply)
        }
    };
    let id = reply["bundle"].as_str().unwrap_or("");
    let version = reply["version"].as_i64().unwrap_or(1);
    Ok(FhirResponse {
        status,
        location: base.map(|b| format!("{b}/Bundle/{id}/_history/{version}")),
        version: Some(version),
        last_modified: Some(received_at),
        body: FhirBody::Json(reply["outcome"].clone()),
    })
}

enum Done {
    Replayed(Vec<u8>),
    Fresh(Value, Vec<Written>),
}
