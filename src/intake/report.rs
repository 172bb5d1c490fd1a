//! The per-file report of an import or a conversion: one row per file or message
//! (`accepted`, `duplicate`, `superseded`, `skipped`, `rejected` with code and location),
//! and the totals. `POST /ssmix2` streams these rows; `kakari convert` prints them.

use serde::{Deserialize, Serialize};

use super::disposition::Disposition;
use super::incoming::Incoming;
use crate::codec::archive::{Entry, Refusal, Stop};
use crate::error::{ErrorCode, Issue, Problem};

/// The fate of one file of the archive.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct FileReport {
    /// The entry's path in the archive.
    pub path: String,
    /// `accepted`, `duplicate`, `superseded`, `skipped`, `rejected`.
    pub status: String,
    /// For accepted files: false when the data type is kept as received but not mapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapped: Option<bool>,
    pub records: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Warnings about an accepted file (codes and locations).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub warnings: Vec<String>,
}

impl FileReport {
    pub(crate) fn bare(path: String, status: &str) -> Self {
        Self {
            path,
            status: status.into(),
            mapped: None,
            records: 0,
            code: None,
            location: None,
            message: None,
            warnings: Vec::new(),
        }
    }

    /// A file refused for `issue`.
    pub fn rejected(path: String, issue: &Issue) -> Self {
        Self {
            code: Some(issue.code.as_str().into()),
            location: Some(issue.location.clone()),
            message: Some(issue.message.clone()),
            ..Self::bare(path, "rejected")
        }
    }

    /// A file read and converted into `records` records, with its warnings.
    pub fn accepted(path: String, records: usize, warnings: Vec<String>) -> Self {
        Self {
            mapped: Some(true),
            records,
            warnings,
            ..Self::bare(path, "accepted")
        }
    }

    /// A file not read, for `reason`.
    pub fn skipped(path: String, reason: &str) -> Self {
        Self {
            message: Some(reason.into()),
            ..Self::bare(path, "skipped")
        }
    }
}

/// Totals of an import.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct ImportSummary {
    pub files: u64,
    pub accepted: u64,
    pub duplicate: u64,
    pub superseded: u64,
    pub skipped: u64,
    pub rejected: u64,
    pub records: u64,
}

impl ImportSummary {
    /// Counts one file's report.
    pub fn add(&mut self, f: &FileReport) {
        self.files += 1;
        self.records += f.records as u64;
        match f.status.as_str() {
            "accepted" => self.accepted += 1,
            "duplicate" => self.duplicate += 1,
            "superseded" => self.superseded += 1,
            "skipped" => self.skipped += 1,
            _ => self.rejected += 1,
        }
    }
}

/// The report of one file from its decoding and what became of it.
pub fn report_of(
    path: String,
    incoming: &Incoming,
    outcome: Result<Disposition, Problem>,
) -> FileReport {
    let all: Vec<&Issue> = incoming.all_issues().collect();
    let first_error = all.iter().find(|i| i.is_error()).copied();
    let warnings: Vec<String> = all
        .iter()
        .filter(|i| !i.is_error())
        .map(|i| format!("{} at {}", i.code, i.location))
        .collect();
    let mut report = FileReport::bare(path, "");
    match outcome {
        Ok(Disposition::Accepted {
            records,
            mapped,
            warnings: stored,
        }) => {
            report.status = "accepted".into();
            report.records = records;
            report.mapped = Some(mapped);
            report.warnings = warnings;
            report.warnings.extend(
                stored
                    .iter()
                    .map(|i| format!("{} at {}", i.code, i.location)),
            );
        }
        Ok(Disposition::Duplicate) => report.status = "duplicate".into(),
        Ok(Disposition::Superseded { withdrawn }) => {
            report.status = "superseded".into();
            report.message = Some(format!(
                "invalidated file (flag 0); {withdrawn} earlier version(s) withdrawn"
            ));
        }
        Ok(Disposition::KeyReused) => {
            let issue = key_reused_issue(incoming);
            report.status = "rejected".into();
            report.code = Some(issue.code.as_str().into());
            report.location = Some(issue.location);
            report.message = Some(issue.message);
        }
        Ok(Disposition::Error | Disposition::Rejected) => {
            report.status = "rejected".into();
            if let Some(i) = first_error {
                report.code = Some(i.code.as_str().into());
                report.location = Some(i.location.clone());
                report.message = Some(i.message.clone());
            }
        }
        Err(problem) => {
            report.status = "rejected".into();
            report.code = Some(problem.code.as_str().into());
            report.location = problem.issues.first().map(|i| i.location.clone());
            report.message = problem.issues.first().map(|i| i.message.clone());
        }
    }
    report
}

/// A file entry's path and bytes, or the report of an entry that is not a file to read
/// (refused, skipped, unread).
pub fn file_or_report(entry: Entry) -> Result<(String, Vec<u8>), Box<FileReport>> {
    match entry {
        Entry::File { path, bytes } => Ok((path, bytes)),
        Entry::Refused { path, refusal, .. } => Err(Box::new(FileReport::rejected(
            path,
            &refusal_issue(refusal),
        ))),
        Entry::Skipped { path, reason } => Err(Box::new(FileReport::skipped(path, reason))),
        Entry::Unread { path } => Err(Box::new(FileReport::skipped(path, "not read"))),
    }
}

/// An entry refusal under the `archive.*` codes.
pub fn refusal_issue(refusal: Refusal) -> Issue {
    Issue::error(
        ErrorCode::ArchiveUnsafeEntry,
        "archive entry",
        refusal.reason(),
    )
}

/// Why an input whose key was used before for other content is refused.
pub fn key_reused_issue(incoming: &Incoming) -> Issue {
    key_reused(incoming.origin.is_some())
}

/// The `intake.key_reused` issue of a storage file (`true`) or a message.
pub fn key_reused(storage_file: bool) -> Issue {
    let (location, message) = if storage_file {
        (
            "file name",
            "a file of this name with other content was stored before; a changed file needs a new name (timestamp)",
        )
    } else {
        (
            "MSH-10",
            "a message with this control id from this sender and other content was stored before; send it with a new MSH-10",
        )
    };
    Issue::error(ErrorCode::IntakeKeyReused, location, message)
}

/// The row of an archive (or directory) whose walk stopped part-way: the entries reported
/// before it were read; the rest of the archive was not.
pub fn stopped(path: String, stop: Stop) -> FileReport {
    let problem = stop_problem(stop);
    match problem.issues.first() {
        Some(issue) => FileReport::rejected(path, issue),
        None => FileReport::bare(path, "rejected"),
    }
}

/// Why a Bundle whose identifier came before with other content is refused.
pub fn bundle_key_reused() -> Issue {
    Issue::error(
        ErrorCode::IntakeKeyReused,
        "Bundle.identifier",
        "a Bundle with this identifier and other content was received before; send changes with a new identifier",
    )
}

/// Why the walk of a tree stopped, under the `archive.*` codes.
pub fn stop_problem(stop: Stop) -> Problem {
    let code = match stop {
        Stop::Invalid(_) => ErrorCode::ArchiveInvalid,
        Stop::Limit(_) => ErrorCode::ArchiveLimit,
    };
    Problem::new(code, "archive", stop.reason())
}
