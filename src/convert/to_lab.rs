//! Writes the lab results of patients with a member id: `csv` in the insurer pull's layout
//! (`codec::lab_csv`, `result_id` numbering the rows), `tokutei` as one MHLW ZIP per
//! insurer (`codec::tokutei::ArchiveWriter`, one document per person and exam date).
//! Results of patients without a member id (no IN1, no HO) cannot be addressed to an
//! insurer: they are counted, not written. An input without lab results is an error.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use super::Fatal;
use super::patients::{Patient, Patients};
use super::report::OutputSummary;
use crate::codec::{lab_csv, tokutei};
use crate::domain::{ClinicalRecord, InstitutionCode, LabResult};
use crate::mapping::checkup_items::CheckupItems;

fn labs(patient: &Patient) -> impl Iterator<Item = &LabResult> {
    patient.records.iter().filter_map(|r| match r {
        ClinicalRecord::Lab(l) => Some(l),
        _ => None,
    })
}

fn unwritable() -> Fatal {
    Fatal("the output cannot be written".into())
}

fn require_labs(patients: &Patients) -> Result<(), Fatal> {
    if patients.has_lab_results() {
        Ok(())
    } else {
        Err(Fatal(
            "the input has no lab results; nothing to write as csv or tokutei (try --to fhir)"
                .into(),
        ))
    }
}

/// Writes the CSV to `output` or stdout.
pub fn write_csv(
    patients: &Patients,
    items: &CheckupItems,
    output: Option<&Path>,
) -> Result<OutputSummary, Fatal> {
    require_labs(patients)?;
    let mut summary = OutputSummary::default();
    let mut out: Box<dyn Write> = match output {
        Some(path) => {
            summary.files.push(path.display().to_string());
            Box::new(std::io::BufWriter::new(
                std::fs::File::create(path).map_err(|_| unwritable())?,
            ))
        }
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    out.write_all(&lab_csv::header())
        .map_err(|_| unwritable())?;
    let mut seq = 0i64;
    for patient in &patients.grouped() {
        let Some(member) = &patient.member else {
            summary.unlinked_lab_results += labs(patient).count();
            continue;
        };
        let mut any = false;
        for result in labs(patient) {
            seq += 1;
            any = true;
            out.write_all(&lab_csv::result_row(seq, member, result, items))
                .map_err(|_| unwritable())?;
        }
        summary.patients += usize::from(any);
    }
    out.flush().map_err(|_| unwritable())?;
    summary.lab_results = usize::try_from(seq).unwrap_or(0);
    Ok(summary)
}

/// Writes one archive per insurer into the directory `output`.
pub fn write_tokutei(
    patients: &Patients,
    items: &CheckupItems,
    sender: &InstitutionCode,
    output: &Path,
) -> Result<OutputSummary, Fatal> {
    require_labs(patients)?;
    let mut summary = OutputSummary::default();
    let groups = patients.grouped();
    let mut by_insurer: BTreeMap<String, Vec<&Patient>> = BTreeMap::new();
    for patient in &groups {
        match &patient.member {
            Some(m) => by_insurer
                .entry(m.insurer().as_str().to_owned())
                .or_default()
                .push(patient),
            None => summary.unlinked_lab_results += labs(patient).count(),
        }
    }
    std::fs::create_dir_all(output).map_err(|_| unwritable())?;
    let created = time::OffsetDateTime::now_utc()
        .to_offset(crate::domain::datetime::JST)
        .date();
    let mut report = tokutei::ExportReport::default();
    for group in by_insurer.values() {
        let Some(member) = group.first().and_then(|p| p.member.as_ref()) else {
            continue;
        };
        let header = tokutei::ArchiveHeader {
            sender: sender.clone(),
            receiver: member.insurer().clone(),
            created,
            split: 0,
        };
        let mut writer = tokutei::ArchiveWriter::new(header, items)?;
        for patient in group {
            let Some(member) = &patient.member else {
                continue;
            };
            let results: Vec<LabResult> = labs(patient).cloned().collect();
            if writer.add_person(member, &patient.demographics, &results)? > 0 {
                summary.patients += 1;
            }
        }
        let archive = writer.finish()?;
        report.merge(&archive.report);
        let path = output.join(&archive.file_name);
        std::fs::write(&path, &archive.bytes).map_err(|_| unwritable())?;
        summary.files.push(path.display().to_string());
    }
    summary.lab_results = report.observations;
    summary.tokutei = Some(report);
    Ok(summary)
}
