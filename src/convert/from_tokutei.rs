//! Reads a 特定健診 submission (`codec::tokutei::read_submission`): a ZIP in the MHLW
//! layout or one CDA document. Each document is a report row (its results the records,
//! filed under the person its member id names as the gateway files them); an entry that
//! yields no document is a rejected row with its first error.

use std::collections::BTreeMap;
use std::path::Path;

use super::Fatal;
use super::patients::Patients;
use crate::codec::tokutei::{ReadLimits, read_submission};
use crate::domain::{ClinicalRecord, SubjectRef};
use crate::error::Issue;
use crate::intake::{FileReport, identity};
use crate::mapping::checkup_items::CheckupItems;

/// The entry an issue belongs to: its location up to the first space (`…/DATA/h1.xml`).
fn entry_of(issue: &Issue) -> &str {
    issue
        .location
        .split_once(' ')
        .map_or(issue.location.as_str(), |(p, _)| p)
}

/// Reads the submission; a submission refused as a whole is a fatal error.
pub fn read(
    input: &Path,
    items: &CheckupItems,
    patients: &mut Patients,
) -> Result<Vec<FileReport>, Fatal> {
    let bytes = std::fs::read(input).map_err(|_| Fatal("the input cannot be read".into()))?;
    let name = input
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let read = read_submission(&bytes, items, &ReadLimits::default());
    let single = read.index.is_none() && !bytes.starts_with(b"PK");
    if read.is_refused() {
        let first = read.issues.iter().find(|i| i.is_error());
        return Err(Fatal(format!(
            "{}{}: {}",
            first.map_or("tokutei", |i| i.code.as_str()),
            first
                .map(|i| format!(" at {name} {}", i.location))
                .unwrap_or_default(),
            first.map_or("", |i| i.message.as_str())
        )));
    }
    // Issues by entry; a single document's issues are all its own.
    let mut by_entry: BTreeMap<String, Vec<&Issue>> = BTreeMap::new();
    for issue in &read.issues {
        let entry = if single {
            String::new()
        } else {
            entry_of(issue).to_owned()
        };
        by_entry.entry(entry).or_default().push(issue);
    }
    let mut reports = Vec::new();
    for doc in &read.documents {
        let d = &doc.document;
        let subject = SubjectRef::Member(d.member.clone());
        let mut linking = Vec::new();
        let Ok(owner) =
            identity::resolve_owner(patients, &subject, &d.demographics, &doc.path, &mut linking);
        patients.describe(owner, &d.demographics);
        for code in [&d.performer, &d.author].into_iter().flatten() {
            patients.add_organization(code, None);
        }
        for r in &d.results {
            // As the gateway stores them: the performing institution when the result names none.
            let mut result = r.clone();
            result.facility = result.facility.or_else(|| d.performer.clone());
            patients.file(
                owner,
                Some(&subject),
                &doc.path,
                ClinicalRecord::Lab(result),
            );
        }
        let path = if doc.path.is_empty() {
            name.clone()
        } else {
            doc.path.clone()
        };
        let warnings = by_entry
            .remove(&doc.path)
            .unwrap_or_default()
            .into_iter()
            .chain(&linking)
            .map(|i| format!("{} at {}", i.code, i.location))
            .collect();
        reports.push(FileReport::accepted(path, d.results.len(), warnings));
    }
    for (entry, issues) in by_entry {
        let path = if entry.is_empty() {
            name.clone()
        } else {
            entry
        };
        if let Some(error) = issues.iter().find(|i| i.is_error()) {
            reports.push(FileReport::rejected(path, error));
        } else {
            let mut report = FileReport::skipped(path, "not a checkup document");
            report.warnings = issues
                .iter()
                .map(|i| format!("{} at {}", i.code, i.location))
                .collect();
            reports.push(report);
        }
    }
    Ok(reports)
}
