//! The gateway's disposition of each decoded HL7 v2 message or SS-MIX2 file
//! (`intake::decide`, the same rule), applied in input order with the keys seen in
//! memory, and the records of the files that stay current filed per patient.
//!
//! As in the gateway: unreadable or with errors → rejected; the same key and content
//! seen before in this input → duplicate; the same key with other content → rejected
//! (`intake.key_reused`); an invalidation file (flag `0`) → superseded, withdrawing the
//! files of the same record accepted before it; otherwise accepted. A withdrawn file
//! stays reported as accepted (it was, until the invalidation came) but its records are
//! not converted.

use std::collections::HashMap;

use super::patients::Patients;
use crate::error::ErrorCode;
use crate::intake::report::report_of;
use crate::intake::{Disposition, FileReport, Incoming, KeysInMemory, Verdict, decide};

/// A file or message of the input, decoded or already reported.
pub enum Item {
    Decoded {
        path: String,
        incoming: Box<Incoming>,
    },
    Reported(FileReport),
}

/// An accepted input waiting to be filed: its report's position, and the input unless an
/// invalidation withdrew it.
struct Kept {
    report: usize,
    incoming: Option<Box<Incoming>>,
}

/// Decides every item, files the records that stay current, and returns the reports in
/// input order.
pub fn settle(items: Vec<Item>, patients: &mut Patients) -> Vec<FileReport> {
    let mut seen = KeysInMemory::default();
    let mut reports = Vec::with_capacity(items.len());
    let mut kept: Vec<Kept> = Vec::new();
    // Accepted files of each record (SS-MIX2 file name stem) still current.
    let mut current: HashMap<String, Vec<usize>> = HashMap::new();
    for item in items {
        let (path, incoming) = match item {
            Item::Reported(r) => {
                reports.push(r);
                continue;
            }
            Item::Decoded { path, incoming } => (path, incoming),
        };
        let verdict = match decide(&incoming, &mut seen) {
            Ok(v) => v,
            Err(never) => match never {},
        };
        let disposition = match verdict {
            Verdict::Unreadable => Disposition::Rejected,
            Verdict::Invalid => Disposition::Error,
            Verdict::Duplicate => Disposition::Duplicate,
            Verdict::KeyReused => Disposition::KeyReused,
            Verdict::Invalidation => {
                let stem = incoming.origin.as_ref().map(|o| o.stem.as_str());
                let withdrawn = stem.and_then(|s| current.remove(s)).unwrap_or_default();
                for &k in &withdrawn {
                    kept[k].incoming = None;
                }
                Disposition::Superseded {
                    withdrawn: withdrawn.len(),
                }
            }
            Verdict::Accept => Disposition::Accepted {
                records: incoming.mapped.as_ref().map_or(0, |m| m.records.len()),
                mapped: incoming.mapped.as_ref().is_some_and(|m| !m.not_mapped),
                warnings: Vec::new(),
            },
        };
        let accepted = matches!(disposition, Disposition::Accepted { .. });
        reports.push(report_of(path, &incoming, Ok(disposition)));
        if accepted {
            if let Some(origin) = &incoming.origin {
                current
                    .entry(origin.stem.clone())
                    .or_default()
                    .push(kept.len());
            }
            kept.push(Kept {
                report: reports.len() - 1,
                incoming: Some(incoming),
            });
        }
    }
    for k in kept {
        if let Some(incoming) = k.incoming {
            let warnings = file(&incoming, patients);
            reports[k.report].warnings.extend(warnings);
        }
    }
    reports
}

/// Files an accepted message's patient, coverage and records; returns warnings about
/// links refused.
fn file(incoming: &Incoming, patients: &mut Patients) -> Vec<String> {
    let mut warnings = Vec::new();
    let (Some(mapped), Some(subject)) = (&incoming.mapped, incoming.subject()) else {
        return warnings;
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
    warnings
}
