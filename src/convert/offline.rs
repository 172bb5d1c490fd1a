//! The gateway's disposition of each decoded HL7 v2 message or SS-MIX2 file
//! (`intake::decide`, the same rule), applied in input order with the keys seen in
//! memory, and the records of the files that stay current filed per patient.
//!
//! As in the gateway: unreadable or with errors → rejected; the same key and content
//! seen before in this input → duplicate; the same key with other content → rejected
//! (`intake.key_reused`); an invalidation file (flag `0`) → superseded, withdrawing the
//! files of the same record accepted before it; otherwise accepted, its patient linked
//! to persons as the gateway links it (`intake::identity`). A withdrawn file stays
//! reported as accepted (it was, until the invalidation came) but its records are not
//! converted.

use std::collections::HashMap;

use super::patients::Patients;
use crate::error::Issue;
use crate::intake::report::report_of;
use crate::intake::{Disposition, FileReport, Incoming, KeysInMemory, Verdict, decide, identity};

/// A file or message of the input, decoded or already reported.
pub enum Item {
    Decoded {
        path: String,
        incoming: Box<Incoming>,
    },
    Reported(FileReport),
}

/// Decides every item in input order and, as the gateway does when it stores it, links
/// each accepted message's patient (`intake::identity::link_message`) and files its
/// records; an invalidation withdraws the records of the files it supersedes (their links
/// stay, as in the gateway). Returns the reports in input order.
pub fn settle(items: Vec<Item>, patients: &mut Patients) -> Vec<FileReport> {
    let mut seen = KeysInMemory::default();
    let mut reports = Vec::with_capacity(items.len());
    // Records of the accepted files of each record (SS-MIX2 file name stem) still current.
    let mut current: HashMap<String, Vec<Vec<usize>>> = HashMap::new();
    for item in items {
        let (path, incoming) = match item {
            Item::Reported(r) => {
                reports.push(r);
                continue;
            }
            Item::Decoded { path, incoming } => (path, incoming),
        };
        let Ok(verdict) = decide(&incoming, &mut seen);
        let disposition = match verdict {
            Verdict::Unreadable => Disposition::Rejected,
            Verdict::Invalid => Disposition::Error,
            Verdict::Duplicate => Disposition::Duplicate,
            Verdict::KeyReused => Disposition::KeyReused,
            Verdict::Invalidation => {
                let stem = incoming.origin.as_ref().map(|o| o.stem.as_str());
                let withdrawn = stem.and_then(|s| current.remove(s)).unwrap_or_default();
                patients.withdraw(withdrawn.iter().flatten().copied());
                Disposition::Superseded {
                    withdrawn: withdrawn.len(),
                }
            }
            Verdict::Accept => {
                let (filed, warnings) = file(&incoming, patients);
                if let Some(origin) = &incoming.origin {
                    current.entry(origin.stem.clone()).or_default().push(filed);
                }
                Disposition::Accepted {
                    records: incoming.mapped.as_ref().map_or(0, |m| m.records.len()),
                    mapped: incoming.mapped.as_ref().is_some_and(|m| !m.not_mapped),
                    warnings,
                }
            }
        };
        reports.push(report_of(path, &incoming, Ok(disposition)));
    }
    reports
}

/// Links an accepted message's patient and files its records; returns the records' numbers
/// and the warnings linking gave.
fn file(incoming: &Incoming, patients: &mut Patients) -> (Vec<usize>, Vec<Issue>) {
    let mut warnings = Vec::new();
    let Ok((owner, _)) = identity::link_message(patients, incoming, &mut warnings);
    let Some(mapped) = &incoming.mapped else {
        return (Vec::new(), warnings);
    };
    if let Some(p) = &mapped.patient {
        patients.describe(owner, &p.demographics);
    }
    let subject = incoming.subject();
    let mut filed = Vec::with_capacity(mapped.records.len());
    for record in &mapped.records {
        if let Some(f) = record.record.facility() {
            patients.add_organization(f, None);
        }
        filed.push(patients.file(
            owner,
            subject.as_ref(),
            &record.location,
            record.record.clone(),
        ));
    }
    (filed, warnings)
}
