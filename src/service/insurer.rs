//! Insurer intake: claims (UKE) and checkups (特定健診 XML).
//!
//! An insurer posts data about its own members only: receipts and documents of other
//! insurers are skipped with an issue (and a file with none of its own is refused). A
//! re-posted file (same bytes) is a no-op that answers with the first import's report.
//! Refused files are kept in quarantine. Every person whose data was written gets an
//! audit row in the same transaction.

use std::collections::BTreeSet;

use crate::app::AppState;
use crate::auth::access;
use crate::codec::{tokutei, uke};
use crate::domain::datetime::now_millis;
use crate::domain::{ClinicalRecord, InsurerNumber, Provenance, SourceFormat, SubjectRef};
use crate::error::{ErrorCode, Issue, Problem};
use crate::intake::identity;
use crate::service::derived::{Agent, Origin, Writer};
use crate::service::intake::{hex, quarantine, record_input, seen_before, store_record};
use crate::service::report::ImportReport;
use crate::service::{Ctx, sha256};
use crate::store::audit::AuditEntry;
use crate::store::persons::NewCoverage;
use crate::store::records::Owner;
use crate::telemetry;

fn insurer_of(ctx: &Ctx) -> Result<InsurerNumber, Problem> {
    access::require_role(&ctx.caller, access::INSURERS)?;
    ctx.caller.insurer.clone().ok_or_else(|| {
        Problem::new(
            ErrorCode::Forbidden,
            "",
            "the client is not bound to an insurer",
        )
    })
}

fn person_audit(ctx: &Ctx, person_pk: i64, resource_type: &str, detail: String) -> AuditEntry {
    let mut entry = ctx.audit("ingest");
    entry.resource_type = Some(resource_type.to_owned());
    entry.person_pk = Some(person_pk);
    entry.detail = Some(detail);
    entry
}

/// The outcome of a unit of work that may have found the input seen before.
enum Stored {
    Fresh(ImportReport),
    Replayed(Vec<u8>),
}

/// The first import's report, marked as a duplicate.
fn replayed(bytes: Vec<u8>) -> Result<ImportReport, Problem> {
    let mut report: ImportReport =
        serde_json::from_slice(&bytes).map_err(|_| Problem::bare(ErrorCode::Internal))?;
    report.duplicate = true;
    Ok(report)
}

/// Stores a refused input in quarantine (in its own unit of work) and returns the refusal.
async fn refuse(
    app: &AppState,
    ctx: &Ctx,
    format: &'static str,
    received_at: i64,
    body: &[u8],
    problem: Problem,
) -> Problem {
    telemetry::count_rejected(format, problem.code.as_str());
    let (ctx2, body, kept) = (ctx.clone(), body.to_vec(), problem.clone());
    let stored = app
        .store
        .write(move |tx| quarantine(tx, &ctx2, format, received_at, None, &kept, &body))
        .await;
    if stored.is_err() {
        tracing::error!(request_id = %ctx.request_id, "a refused input could not be quarantined");
    }
    problem
}

/// `POST /insurer/claims`: a UKE claims file of the insurer's own members.
pub async fn post_claims(app: &AppState, ctx: &Ctx, body: &[u8]) -> Result<ImportReport, Problem> {
    let insurer = insurer_of(ctx)?;
    let received_at = now_millis();
    let file = match uke::parse(body) {
        Ok(f) => f,
        Err(p) => return Err(refuse(app, ctx, "uke", received_at, body, p).await),
    };
    let master = app.drugs.current();
    let claims = uke::to_domain(&file, Some(&master));
    let mut report = ImportReport::new("uke");
    for issue in &file.issues {
        report.issue(issue);
    }
    // Only the insurer's own receipts go in.
    let mut own = Vec::new();
    for receipt in claims.receipts {
        match &receipt.member {
            Some(m) if m.insurer() == &insurer => own.push(receipt),
            _ => {
                report.skipped += 1;
                report.issue(&Issue::warning(
                    ErrorCode::UkeOtherInsurer,
                    format!("line {}", receipt.line),
                    "receipt of another insurer or without insurer (公費単独); not imported",
                ));
            }
        }
    }
    if own.is_empty() && report.skipped > 0 {
        let problem = Problem::new(
            ErrorCode::UkeOtherInsurer,
            "file",
            "no receipt of this insurer's members",
        );
        return Err(refuse(app, ctx, "uke", received_at, body, problem).await);
    }
    for receipt in &own {
        for m in &receipt.medications {
            if !m.codings.iter().any(|c| master.yj7(c).is_some()) {
                *report
                    .unmapped_codes
                    .entry("receipt_drug".into())
                    .or_default() += 1;
            }
        }
    }
    let digest = sha256(body);
    let size = body.len();
    let institution = claims.institution.clone();
    let ctx2 = ctx.clone();
    let stored = app
        .store
        .write(move |tx| {
            if let Some(previous) = seen_before(tx, &ctx2.caller, &format!("uke|{}", hex(&digest)))?
            {
                return Ok(Stored::Replayed(previous));
            }
            let input_id = record_input(tx, &ctx2, "uke", &digest, size, received_at, None)?;
            report.input_id = input_id;
            let mut audit = Vec::new();
            let mut issues = Vec::new();
            let (scope, key) = (ctx2.caller.sender_scope(), format!("uke|{}", hex(&digest)));
            let insurer_number = insurer.as_str().to_owned();
            let origin = Origin {
                format: SourceFormat::Uke,
                input_id,
                scope: &scope,
                key: &key,
                label: None,
                received_at,
                client_id: ctx2.caller.client_id,
                owner_facility: None,
                agent: Agent::Insurer(&insurer_number),
            };
            let mut writer = Writer::new(&origin);
            for receipt in &own {
                let location = format!("line {}", receipt.line);
                // The claiming clinic's patient number ties its own records to the person.
                let (owner, link) = identity::link_receipt(tx, receipt, &location, &mut issues)?;
                if let Some(link) = link {
                    tx.insert_coverage(&NewCoverage {
                        patient_pk: link.patient_pk,
                        person_pk: Some(link.person_pk),
                        member_key: &link.member.key(),
                        active: link.active,
                        source_resource_pk: None,
                        input_id,
                        client_id: ctx2.caller.client_id,
                        received_at,
                    })?;
                }
                let prov = Provenance {
                    client_id: ctx2.caller.client_id,
                    input_id,
                    format: SourceFormat::Uke,
                    received_at,
                    location: location.clone(),
                };
                let patient = writer.patient_of(tx, owner, None)?;
                let records = receipt
                    .medications
                    .iter()
                    .cloned()
                    .map(ClinicalRecord::Medication)
                    .chain(
                        receipt
                            .conditions
                            .iter()
                            .cloned()
                            .map(ClinicalRecord::Condition),
                    );
                for (i, record) in records.enumerate() {
                    let pk = store_record(tx, &record, owner, &prov)?;
                    if let Some(patient) = &patient {
                        writer.record(
                            tx,
                            pk,
                            &record,
                            &format!("{location}#{}", i + 1),
                            patient,
                        )?;
                    }
                }
                report.count("medication", receipt.medications.len() as u64);
                report.count("condition", receipt.conditions.len() as u64);
                match owner {
                    Owner {
                        person_pk: Some(person),
                        ..
                    } => audit.push(person_audit(
                        &ctx2,
                        person,
                        "Claim",
                        format!("uke receipt at {location}, institution {institution}"),
                    )),
                    _ => {
                        report.unlinked +=
                            (receipt.medications.len() + receipt.conditions.len()) as u64
                    }
                }
                report.accepted += 1;
            }
            writer.finish(tx)?;
            for issue in &issues {
                report.issue(issue);
            }
            tx.append_audit(&audit)?;
            let text = serde_json::to_vec(&report).unwrap_or_default();
            tx.complete_key(
                &ctx2.caller.sender_scope(),
                &format!("uke|{}", hex(&digest)),
                Some(input_id),
                200,
                &text,
            )?;
            Ok::<_, Problem>(Stored::Fresh(report))
        })
        .await?;
    match stored {
        Stored::Fresh(report) => {
            for (kind, n) in &report.records {
                telemetry::count_ingested(
                    "uke",
                    if kind == "medication" {
                        "medication"
                    } else {
                        "condition"
                    },
                    *n,
                );
            }
            Ok(report)
        }
        Stored::Replayed(bytes) => replayed(bytes),
    }
}

/// `POST /insurer/checkups`: a 特定健診 archive (ZIP) or one CDA document.
pub async fn post_checkups(
    app: &AppState,
    ctx: &Ctx,
    body: &[u8],
) -> Result<ImportReport, Problem> {
    let insurer = insurer_of(ctx)?;
    let received_at = now_millis();
    let read = tokutei::read_submission(body, app.checkup_items, &tokutei::ReadLimits::default());
    if read.is_refused() {
        let code = read
            .issues
            .iter()
            .find(|i| i.is_error())
            .map_or(ErrorCode::TokuteiNotXml, |i| i.code);
        let problem = Problem::with_issues(
            code,
            read.issues
                .iter()
                .filter(|i| i.is_error())
                .cloned()
                .collect(),
        );
        return Err(refuse(app, ctx, "tokutei", received_at, body, problem).await);
    }
    let mut report = ImportReport::new("tokutei");
    for issue in &read.issues {
        report.issue(issue);
    }
    let mut own = Vec::new();
    for doc in read.documents {
        if doc.document.member.insurer() == &insurer {
            own.push(doc);
        } else {
            report.skipped += 1;
            report.issue(&Issue::warning(
                ErrorCode::TokuteiInsurerMismatch,
                doc.path.clone(),
                "document of another insurer's member; not imported",
            ));
        }
    }
    if own.is_empty() {
        let problem = Problem::new(
            ErrorCode::TokuteiInsurerMismatch,
            "archive",
            "no document of this insurer's members",
        );
        return Err(refuse(app, ctx, "tokutei", received_at, body, problem).await);
    }
    let digest = sha256(body);
    let size = body.len();
    let ctx2 = ctx.clone();
    let stored = app
        .store
        .write(move |tx| {
            if let Some(previous) =
                seen_before(tx, &ctx2.caller, &format!("tokutei|{}", hex(&digest)))?
            {
                return Ok(Stored::Replayed(previous));
            }
            let input_id = record_input(tx, &ctx2, "tokutei", &digest, size, received_at, None)?;
            report.input_id = input_id;
            let mut persons = BTreeSet::new();
            let mut issues = Vec::new();
            let (scope, key) = (
                ctx2.caller.sender_scope(),
                format!("tokutei|{}", hex(&digest)),
            );
            let insurer_number = insurer.as_str().to_owned();
            let origin = Origin {
                format: SourceFormat::Tokutei,
                input_id,
                scope: &scope,
                key: &key,
                label: None,
                received_at,
                client_id: ctx2.caller.client_id,
                owner_facility: None,
                agent: Agent::Insurer(&insurer_number),
            };
            let mut writer = Writer::new(&origin);
            for doc in &own {
                let d = &doc.document;
                let subject = SubjectRef::Member(d.member.clone());
                let owner =
                    identity::resolve_owner(tx, &subject, &d.demographics, &doc.path, &mut issues)?;
                let prov = Provenance {
                    client_id: ctx2.caller.client_id,
                    input_id,
                    format: SourceFormat::Tokutei,
                    received_at,
                    location: doc.path.clone(),
                };
                let patient = writer.patient_of(tx, owner, None)?;
                for (i, result) in d.results.iter().enumerate() {
                    let mut result = result.clone();
                    result.facility = result.facility.or_else(|| d.performer.clone());
                    let record = ClinicalRecord::Lab(result);
                    let pk = store_record(tx, &record, owner, &prov)?;
                    if let Some(patient) = &patient {
                        let location = format!("{}#{}", doc.path, i + 1);
                        writer.record(tx, pk, &record, &location, patient)?;
                    }
                }
                report.count("lab", d.results.len() as u64);
                match owner.person_pk {
                    Some(p) => {
                        persons.insert(p);
                    }
                    None => report.unlinked += d.results.len() as u64,
                }
                report.accepted += 1;
            }
            writer.finish(tx)?;
            for issue in &issues {
                report.issue(issue);
            }
            let audit: Vec<AuditEntry> = persons
                .iter()
                .map(|p| person_audit(&ctx2, *p, "Observation", "特定健診 checkup results".into()))
                .collect();
            tx.append_audit(&audit)?;
            let text = serde_json::to_vec(&report).unwrap_or_default();
            tx.complete_key(
                &ctx2.caller.sender_scope(),
                &format!("tokutei|{}", hex(&digest)),
                Some(input_id),
                200,
                &text,
            )?;
            Ok::<_, Problem>(Stored::Fresh(report))
        })
        .await?;
    match stored {
        Stored::Fresh(report) => {
            telemetry::count_ingested(
                "tokutei",
                "lab",
                report.records.get("lab").copied().unwrap_or(0),
            );
            Ok(report)
        }
        Stored::Replayed(bytes) => replayed(bytes),
    }
}
