//! What the store would decide for each decoded HL7 v2 message or SS-MIX2 file, decided
//! without a store, and the records of the accepted ones filed per patient.
//!
//! The rules are `service::messages::store`'s, over the whole input at once:
//! unreadable or with errors → rejected; seen before in this input (same SS-MIX2 file
//! name, or same sender and MSH-10) → duplicate; an invalidation file (flag `0`) →
//! superseded, withdrawing the valid files of the same record (same file name stem)
//! wherever they are in the input; otherwise accepted.

use std::collections::{HashMap, HashSet};

use super::patients::Patients;
use crate::error::{ErrorCode, Issue};
use crate::service::messages::{Disposition, Incoming};
use crate::service::ssmix2::{FileReport, report_of};

/// A file or message of the input, decoded or already reported.
pub enum Item {
    Decoded {
        path: String,
        incoming: Box<Incoming>,
    },
    Reported(FileReport),
}

fn has_errors(incoming: &Incoming) -> bool {
    incoming.issues.iter().any(Issue::is_error)
        || incoming.mapped.as_ref().is_some_and(|m| m.has_errors())
}

/// Decides every item, files the accepted records, and returns the reports in input order.
pub fn settle(items: Vec<Item>, patients: &mut Patients) -> Vec<FileReport> {
    // Valid, readable files of each invalidated record.
    let mut invalidated: HashMap<String, usize> = HashMap::new();
    for item in &items {
        if let Item::Decoded { incoming, .. } = item
            && let Some(origin) = incoming.origin.as_ref().filter(|o| !o.valid)
            && incoming.mapped.is_some()
        {
            invalidated.entry(origin.stem.clone()).or_default();
        }
    }
    for item in &items {
        if let Item::Decoded { incoming, .. } = item
            && let Some(origin) = incoming.origin.as_ref().filter(|o| o.valid)
            && !has_errors(incoming)
            && let Some(count) = invalidated.get_mut(&origin.stem)
        {
            *count += 1;
        }
    }
    let mut seen: HashSet<String> = HashSet::new();
    let mut reports = Vec::with_capacity(items.len());
    let mut link_warnings = Vec::new();
    for item in items {
        let (path, incoming) = match item {
            Item::Reported(r) => {
                reports.push(r);
                continue;
            }
            Item::Decoded { path, incoming } => (path, incoming),
        };
        // A key is claimed only by a file that is kept (as the store does): a rejected file
        // does not make a later good copy a duplicate.
        let mut claim = || {
            incoming
                .dedup_key()
                .is_none_or(|key| seen.insert(key.clone()))
        };
        let disposition = match &incoming.origin {
            _ if incoming.mapped.is_none() => Disposition::Rejected,
            Some(origin) if !origin.valid => {
                if claim() {
                    Disposition::Superseded {
                        withdrawn: invalidated.get(&origin.stem).copied().unwrap_or(0),
                    }
                } else {
                    Disposition::Duplicate
                }
            }
            _ if has_errors(&incoming) => Disposition::Error,
            _ if !claim() => Disposition::Duplicate,
            Some(origin) if invalidated.contains_key(&origin.stem) => {
                let mut report = FileReport::rejected(
                    path,
                    &Issue::warning(
                        ErrorCode::Ssmix2Invalidated,
                        "file name",
                        "withdrawn: an invalidation file (flag 0) of the same record is in the input",
                    ),
                );
                report.status = "superseded".into();
                reports.push(report);
                continue;
            }
            _ => file(&incoming, patients, &mut link_warnings),
        };
        let mut report = report_of(path, &incoming, Ok(disposition));
        report.warnings.append(&mut link_warnings);
        reports.push(report);
    }
    reports
}

/// Files an accepted message's patient, coverage and records; warnings about links
/// refused go into `warnings`.
fn file(incoming: &Incoming, patients: &mut Patients, warnings: &mut Vec<String>) -> Disposition {
    let Some(mapped) = &incoming.mapped else {
        return Disposition::Rejected;
    };
    let Some(subject) = incoming.subject() else {
        return Disposition::Accepted {
            records: 0,
            mapped: !mapped.not_mapped,
        };
    };
    if let Some(p) = &mapped.patient {
        patients.add_demographics(&subject, &p.demographics);
    }
    for (i, coverage) in mapped.coverages.iter().enumerate() {
        if !patients.link(&subject, &coverage.member) {
            warnings.push(format!(
                "{} at IN1[{}]: member id stands for a patient of another birth date or sex; not linked",
                ErrorCode::InvalidMemberId,
                i + 1
            ));
        }
    }
    for record in &mapped.records {
        if let Some(f) = record.record.facility() {
            patients.add_organization(f, None);
        }
        patients.add_record(&subject, record.record.clone());
    }
    Disposition::Accepted {
        records: mapped.records.len(),
        mapped: !mapped.not_mapped,
    }
}
