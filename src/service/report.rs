//! The import report every intake endpoint answers with: what was accepted, what was
//! skipped and why, with locations and codes, never values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Issue;

/// One located finding of an import.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct ReportIssue {
    pub severity: String,
    pub code: String,
    pub location: String,
    pub message: String,
}

impl From<&Issue> for ReportIssue {
    fn from(i: &Issue) -> Self {
        Self {
            severity: i.severity.as_fhir().to_owned(),
            code: i.code.as_str().to_owned(),
            location: i.location.clone(),
            message: i.message.clone(),
        }
    }
}

/// The answer to an intake request.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq, Default)]
pub struct ImportReport {
    /// The stored input (for support and re-processing).
    pub input_id: i64,
    /// `uke`, `tokutei`, `hl7v2`, `ssmix2`.
    pub format: String,
    /// True when this exact input was imported before: nothing was written this time.
    pub duplicate: bool,
    /// Units accepted (receipts, documents, messages, files).
    pub accepted: u64,
    /// Units not imported (each has an issue saying why).
    pub skipped: u64,
    /// Records stored, by kind (`medication`, `condition`, `lab`, `allergy`).
    pub records: BTreeMap<String, u64>,
    /// Records stored without a person yet (no or ambiguous member id).
    pub unlinked: u64,
    /// Codes with no entry in the code masters, by system (counts).
    pub unmapped_codes: BTreeMap<String, u64>,
    pub issues: Vec<ReportIssue>,
}

impl ImportReport {
    pub fn new(format: &str) -> Self {
        Self {
            format: format.to_owned(),
            ..Self::default()
        }
    }

    pub fn count(&mut self, kind: &str, n: u64) {
        if n > 0 {
            *self.records.entry(kind.to_owned()).or_default() += n;
        }
    }

    pub fn issue(&mut self, issue: &Issue) {
        self.issues.push(issue.into());
    }
}
