//! Create, update, read and search of single resources.

use serde_json::Value;

use super::id_space::IdSpace;
use super::persist::{self, WriteCtx, Written};
use super::prepare::{self, Prepared};
use super::{FhirBody, FhirResponse, ReturnPreference, SearchsetPage, registry, searchset};
use crate::app::AppState;
use crate::auth::access;
use crate::codec::fhir::document::DocumentKind;
use crate::codec::fhir::{ResourceType, json as fhir_json, outcome, resource_type, search_params};
use crate::domain::datetime::now_millis;
use crate::error::{ErrorCode, Problem};
use crate::service::{Ctx, sha256};
use crate::store::inputs::NewInput;
use crate::store::search::{SearchQuery, Visibility};
use crate::telemetry;

/// `{base}/{type}/{id}/_history/{version}`.
pub fn version_url(base: &str, w: &Written) -> String {
    format!("{base}/{}/{}/_history/{}", w.rtype, w.own_id, w.version)
}

fn respond(base: &str, w: Written, prefer: ReturnPreference) -> FhirResponse {
    let status = if w.created { 201 } else { 200 };
    let body = match prefer {
        ReturnPreference::Representation => FhirBody::Text(w.body.clone()),
        ReturnPreference::Minimal => FhirBody::Empty,
        ReturnPreference::OperationOutcome => FhirBody::Json(outcome::from_issues(&w.warnings)),
    };
    FhirResponse {
        status,
        body,
        location: Some(version_url(base, &w)),
        version: Some(w.version),
        last_modified: Some(w.last_updated),
    }
}

/// Records what was stored, for the metrics.
pub fn count_records(written: &[Written]) {
    for w in written {
        for kind in &w.record_kinds {
            telemetry::count_ingested("fhir", kind, 1);
        }
    }
}

fn new_input<'a>(ctx: &'a Ctx, digest: &'a [u8], size: usize, received_at: i64) -> NewInput<'a> {
    NewInput {
        client_id: ctx.caller.client_id,
        format: "fhir",
        received_at,
        request_id: Some(&ctx.request_id),
        sha256: digest,
        size: size as i64,
        label: None,
    }
}

/// `POST /fhir/{type}`, optionally conditional (`If-None-Exist`).
pub async fn create(
    app: &AppState,
    ctx: &Ctx,
    rtype: ResourceType,
    body: &[u8],
    if_none_exist: Option<String>,
    prefer: ReturnPreference,
    base: &str,
) -> Result<FhirResponse, Problem> {
    access::fhir_write(&ctx.caller, rtype)?;
    let value = fhir_json::parse(body)?;
    prepare::resource_type_of(&value, Some(rtype), rtype.as_str())?;
    if rtype == ResourceType::Bundle {
        // Documents and collections are stored whole and their entries extracted.
        if DocumentKind::of(&value).is_none() {
            return Err(Problem::new(
                ErrorCode::InvalidBundle,
                "Bundle.type",
                "POST /fhir/Bundle takes document and collection Bundles; post batch and transaction Bundles to /fhir",
            ));
        }
        return super::document::process(app, ctx, body, value, Some(base)).await;
    }
    let mut prepared =
        prepare::prepare(&ctx.caller, rtype, value, prepare::new_id(), rtype.as_str())?;
    prepared.fresh_id = true;
    let received_at = now_millis();
    let mut resource = prepared.resource.clone();
    let stamped = prepare::stamp(&mut resource, 1, received_at);
    let digest = sha256(body);
    let size = body.len();
    let ctx2 = ctx.clone();
    let written = app
        .store
        .write(move |tx| {
            let input_id = tx.insert_input(&new_input(&ctx2, &digest, size, received_at))?;
            let mut w = WriteCtx::new(&ctx2, input_id, received_at);
            if let Some(query) = &if_none_exist
                && let Some(row) =
                    persist::conditional_match(tx, &ctx2.caller, rtype, query, "If-None-Exist")?
            {
                return persist::matched(tx, &mut w, row, rtype);
            }
            let written = persist::create(tx, &mut w, &prepared, &stamped, received_at)?;
            tx.append_audit(&w.audit)?;
            Ok::<_, Problem>(written)
        })
        .await?;
    count_records(std::slice::from_ref(&written));
    Ok(respond(base, written, prefer))
}

/// `PUT /fhir/{type}/{id}` (update, or create with a client-chosen id).
#[allow(clippy::too_many_arguments)]
pub async fn update(
    app: &AppState,
    ctx: &Ctx,
    rtype: ResourceType,
    id: &str,
    body: &[u8],
    if_match: Option<i64>,
    prefer: ReturnPreference,
    base: &str,
) -> Result<FhirResponse, Problem> {
    access::fhir_write(&ctx.caller, rtype)?;
    if rtype == ResourceType::Bundle {
        return Err(Problem::new(
            ErrorCode::UnsupportedInteraction,
            "Bundle",
            "a stored document or collection is kept as received and never updated; post a new Bundle",
        ));
    }
    if !resource_type::is_valid_id(id) {
        return Err(Problem::new(
            ErrorCode::InvalidId,
            "id",
            "not a valid FHIR id",
        ));
    }
    let value = fhir_json::parse(body)?;
    prepare::resource_type_of(&value, Some(rtype), rtype.as_str())?;
    match value.get("id").and_then(Value::as_str) {
        Some(body_id) if body_id == id => {}
        _ => {
            return Err(Problem::new(
                ErrorCode::IdMismatch,
                format!("{rtype}.id"),
                "the body's id must equal the id in the URL",
            ));
        }
    }
    let prepared: Prepared =
        prepare::prepare(&ctx.caller, rtype, value, id.to_owned(), rtype.as_str())?;
    let received_at = now_millis();
    let digest = sha256(body);
    let size = body.len();
    let ctx2 = ctx.clone();
    let written = app
        .store
        .write(move |tx| {
            let input_id = tx.insert_input(&new_input(&ctx2, &digest, size, received_at))?;
            let mut w = WriteCtx::new(&ctx2, input_id, received_at);
            let written = persist::update(tx, &mut w, &prepared, if_match, received_at)?;
            tx.append_audit(&w.audit)?;
            Ok::<_, Problem>(written)
        })
        .await?;
    count_records(std::slice::from_ref(&written));
    Ok(respond(base, written, prefer))
}

fn not_found(rtype: ResourceType) -> Problem {
    Problem::new(
        ErrorCode::ResourceNotFound,
        rtype.as_str(),
        "no such resource",
    )
}

/// Writes the audit rows of a read; the data is released only after they commit.
pub(super) async fn audit_read(
    app: &AppState,
    ctx: &Ctx,
    entries: Vec<crate::store::audit::AuditEntry>,
) -> Result<(), Problem> {
    if entries.is_empty() {
        return Ok(());
    }
    app.store
        .write(move |tx| tx.append_audit(&entries).map(|_| ()))
        .await
        .map_err(|e: crate::store::StoreError| {
            tracing::error!(request_id = %ctx.request_id, "audit write failed; read withheld");
            Problem::from(e)
        })
}

/// `GET /fhir/{type}/{id}`.
pub async fn read(
    app: &AppState,
    ctx: &Ctx,
    rtype: ResourceType,
    id: &str,
    base: &str,
) -> Result<FhirResponse, Problem> {
    let visibility = access::fhir_read(&ctx.caller, rtype)?;
    if !resource_type::is_valid_id(id) {
        return Err(not_found(rtype));
    }
    let (t, i) = (rtype.as_str().to_owned(), id.to_owned());
    let caller = ctx.caller.clone();
    let found = app
        .store
        .read(move |tx| {
            let ids = IdSpace::of(tx, &caller)?;
            let served = ids.served(tx, &t, &i)?;
            let Some(mut row) = tx.resource(&t, &served)? else {
                return Ok(None);
            };
            if !tx.is_visible(&visibility, &row)? {
                return Ok(None);
            }
            let patient = match row.subject_ref.as_deref() {
                Some(subject) => match subject.strip_prefix("Patient/") {
                    Some(pid) => tx.patient_by_fhir_id(pid)?,
                    None => None,
                },
                None if rtype == ResourceType::Patient => tx.patient_by_fhir_id(&row.id)?,
                None => None,
            };
            if rtype == ResourceType::Patient {
                registry::decorate_patient(tx, &mut row)?;
            }
            let body = ids.to_own_text(tx, std::mem::take(&mut row.body))?;
            Ok::<_, Problem>(Some((row, patient, body)))
        })
        .await?;
    let (row, patient, body) = found.ok_or_else(|| not_found(rtype))?;
    if rtype.is_patient_data() {
        let mut entry = ctx.audit("read");
        entry.resource_type = Some(rtype.as_str().to_owned());
        entry.resource_id = Some(row.id.clone());
        entry.patient_pk = patient.as_ref().map(|p| p.pk);
        entry.person_pk = patient.and_then(|p| p.person_pk);
        audit_read(app, ctx, vec![entry]).await?;
    }
    Ok(FhirResponse {
        status: 200,
        // The id as the caller asked for it.
        location: Some(format!("{base}/{rtype}/{id}/_history/{}", row.version)),
        version: Some(row.version),
        last_modified: Some(row.last_updated),
        body: FhirBody::Text(body),
    })
}

/// The distinct patients (pk, person) whose resources a page holds.
fn subjects_of(
    tx: &mut crate::store::Tx<'_>,
    rtype: ResourceType,
    rows: &[crate::store::resources::ResourceRow],
) -> Result<Vec<(i64, Option<i64>)>, Problem> {
    let mut ids: Vec<&str> = rows
        .iter()
        .filter_map(|row| match rtype {
            ResourceType::Patient => Some(row.id.as_str()),
            _ => row.subject_ref.as_deref()?.strip_prefix("Patient/"),
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(p) = tx.patient_by_fhir_id(id)? {
            out.push((p.pk, p.person_pk));
        }
    }
    Ok(out)
}

/// `GET /fhir/{type}?…`: a searchset Bundle with `total` and paging links.
pub async fn search(
    app: &AppState,
    ctx: &Ctx,
    rtype: ResourceType,
    pairs: &[(String, String)],
    base: &str,
) -> Result<FhirResponse, Problem> {
    let visibility = access::fhir_read(&ctx.caller, rtype)?;
    let request = search_params::parse_query(rtype, pairs)?;
    let mut query = SearchQuery {
        rtype: rtype.as_str().to_owned(),
        clauses: request.clauses.clone(),
        visibility: visibility.clone(),
        count: request.count,
        after_pk: request.cursor,
    };
    let caller = ctx.caller.clone();
    let (page, subjects) = app
        .store
        .read(move |tx| {
            let ids = IdSpace::of(tx, &caller)?;
            query.clauses = persist::served_clauses(tx, &ids, rtype, query.clauses)?;
            let mut page = tx.search(&query)?;
            if rtype == ResourceType::Patient {
                for row in &mut page.rows {
                    registry::decorate_patient(tx, row)?;
                }
            }
            let subjects = if rtype.is_patient_data() {
                subjects_of(tx, rtype, &page.rows)?
            } else {
                Vec::new()
            };
            // The caller's own ids from here on (the audit above used served ids).
            for row in &mut page.rows {
                row.id = ids.own(tx, &row.rtype, &row.id)?;
                row.body = ids.to_own_text(tx, std::mem::take(&mut row.body))?;
            }
            Ok::<_, Problem>((page, subjects))
        })
        .await?;
    if rtype.is_patient_data() && visibility != Visibility::All {
        // One row per patient whose data is released (so each person can see who read
        // their data), or one for a search that released nothing.
        let summary = format!("{} of {} result(s) returned", page.rows.len(), page.total);
        let mut entries: Vec<_> = subjects
            .iter()
            .map(|(patient, person)| {
                let mut entry = ctx.audit("search");
                entry.resource_type = Some(rtype.as_str().to_owned());
                entry.patient_pk = Some(*patient);
                entry.person_pk = *person;
                entry.detail = Some(summary.clone());
                entry
            })
            .collect();
        if entries.is_empty() {
            let mut entry = ctx.audit("search");
            entry.resource_type = Some(rtype.as_str().to_owned());
            entry.detail = Some(summary);
            entries.push(entry);
        }
        audit_read(app, ctx, entries).await?;
    }
    let mut params = request.canonical.clone();
    params.push(("_count".into(), request.count.to_string()));
    let entries = page
        .rows
        .into_iter()
        .map(|row| {
            let resource: Value = serde_json::from_str(&row.body).unwrap_or(Value::Null);
            (row.rtype, row.id, resource)
        })
        .collect();
    let bundle = searchset(
        base,
        rtype.as_str(),
        SearchsetPage {
            params,
            next_cursor: page.next_after.map(|n| n.to_string()),
            total: page.total,
            entries,
        },
    );
    Ok(FhirResponse::json(200, bundle))
}
