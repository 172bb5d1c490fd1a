//! Writes patients as JP Core FHIR R4 (`codec::fhir::render`): `fhir` is one `collection`
//! Bundle per patient (`patient-N.json` in the output directory) or, without `-o`, one
//! Bundle of everything on stdout; `ndjson` is one resource per line.
//!
//! A patient's resources: Patient, Coverage (when the member id is known), the
//! Organizations its records name, then its records. Ids are stable within a run:
//! `patient-N`, `coverage-N`, `org-<code>`, `patient-N-<kind>-M`.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

use super::Fatal;
use super::args::OutputFormat;
use super::patients::{Patient, Patients};
use super::report::OutputSummary;
use crate::codec::fhir::render::{self, PatientFacts};
use crate::domain::{ClinicalRecord, InstitutionCode};

fn org_id(code: &InstitutionCode) -> String {
    format!("org-{}", code.as_str())
}

/// The resources of one patient; organizations already written (ndjson) are skipped.
fn resources(
    n: usize,
    patient: &Patient,
    all: &Patients,
    written_orgs: &mut BTreeSet<InstitutionCode>,
) -> Vec<Value> {
    let pid = format!("patient-{n}");
    let mut out = vec![render::patient(
        &pid,
        &PatientFacts {
            local_ids: &patient.local_ids,
            member: patient.member.as_ref(),
            demographics: &patient.demographics,
            other_identifiers: &[],
        },
    )];
    if let Some(m) = &patient.member {
        out.push(render::member_coverage(&format!("coverage-{n}"), &pid, m));
    }
    let facilities: BTreeSet<&InstitutionCode> = patient
        .records
        .iter()
        .filter_map(ClinicalRecord::facility)
        .collect();
    for code in facilities {
        if written_orgs.insert(code.clone()) {
            let name = all.organizations.get(code).and_then(Option::as_deref);
            out.push(render::organization(&org_id(code), code, name));
        }
    }
    for (i, record) in patient.records.iter().enumerate() {
        let id = format!("{pid}-{}-{}", record.kind(), i + 1);
        out.push(match record {
            ClinicalRecord::Medication(m) => {
                let org = m
                    .facility
                    .as_ref()
                    .map(|f| format!("Organization/{}", org_id(f)));
                render::medication(&id, &pid, m, org.as_deref())
            }
            ClinicalRecord::Lab(l) => render::lab_observation(&id, &pid, l),
            ClinicalRecord::Condition(c) => render::condition(&id, &pid, c),
            ClinicalRecord::Allergy(a) => render::allergy(&id, &pid, a),
        });
    }
    out
}

fn bundle(resources: Vec<Value>) -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": resources.into_iter().map(render::bundle_entry).collect::<Vec<_>>()
    })
}

fn unwritable() -> Fatal {
    Fatal("the output cannot be written".into())
}

/// Writes every patient; returns what was written.
pub fn write(
    patients: &Patients,
    format: OutputFormat,
    output: Option<&Path>,
) -> Result<OutputSummary, Fatal> {
    let mut summary = OutputSummary::default();
    let mut stdout_resources = Vec::new();
    let mut ndjson: Box<dyn Write> = match (format, output) {
        (OutputFormat::Ndjson, Some(path)) => {
            summary.files.push(path.display().to_string());
            Box::new(std::io::BufWriter::new(
                std::fs::File::create(path).map_err(|_| unwritable())?,
            ))
        }
        _ => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    if let (OutputFormat::Fhir, Some(dir)) = (format, output) {
        std::fs::create_dir_all(dir).map_err(|_| unwritable())?;
    }
    let mut per_bundle_orgs;
    let mut global_orgs = BTreeSet::new();
    for (i, patient) in patients.grouped().iter().enumerate() {
        let n = i + 1;
        // A Bundle per patient carries its own organizations; ndjson and stdout write each once.
        let orgs = match (format, output) {
            (OutputFormat::Fhir, Some(_)) => {
                per_bundle_orgs = BTreeSet::new();
                &mut per_bundle_orgs
            }
            _ => &mut global_orgs,
        };
        let list = resources(n, patient, patients, orgs);
        summary.patients += 1;
        summary.resources += list.len();
        match (format, output) {
            (OutputFormat::Fhir, Some(dir)) => {
                let path = dir.join(format!("patient-{n}.json"));
                let text = serde_json::to_vec_pretty(&bundle(list)).map_err(|_| unwritable())?;
                std::fs::write(&path, text).map_err(|_| unwritable())?;
                summary.files.push(path.display().to_string());
            }
            (OutputFormat::Fhir, None) => stdout_resources.extend(list),
            _ => {
                for r in list {
                    serde_json::to_writer(&mut ndjson, &r).map_err(|_| unwritable())?;
                    ndjson.write_all(b"\n").map_err(|_| unwritable())?;
                }
            }
        }
    }
    if let (OutputFormat::Fhir, None) = (format, output) {
        serde_json::to_writer_pretty(&mut ndjson, &bundle(stdout_resources))
            .map_err(|_| unwritable())?;
        ndjson.write_all(b"\n").map_err(|_| unwritable())?;
    }
    ndjson.flush().map_err(|_| unwritable())?;
    Ok(summary)
}
