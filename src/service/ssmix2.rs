//! `POST /ssmix2`: an SS-MIX2 standardized storage tree in a zip, tar or tar.gz archive.
//!
//! The upload is spooled to a temporary file (never held in memory) and read entry by
//! entry; files are decoded, checked against the storage rules, and stored in chunks (one
//! unit of work per chunk, a savepoint per file), and the per-file report is streamed out
//! as each chunk commits. Memory is bounded by the chunk size, whatever the archive size.
//! The archive is walked by `storage_tree` (limits and refusals are described there);
//! `prepare_file` and the report vocabulary are shared with `kakari convert`.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;
use std::sync::Arc;

use actix_web::web::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::app::AppState;
use crate::codec::hl7v2::{self, Message};
use crate::codec::ssmix2::{self, StoragePath};
use crate::domain::InstitutionCode;
use crate::domain::datetime::now_millis;
use crate::error::{ErrorCode, Issue, Problem};
use crate::service::Ctx;
use crate::service::messages::{self, Disposition, Incoming, StorageOrigin};
use crate::service::storage_tree::{ArchiveKind, Entry, sniff, walk_archive};
use crate::telemetry;

/// Files per unit of work.
const CHUNK: usize = 256;

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
    fn bare(path: String, status: &str) -> Self {
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

/// The storage-relative path: the last six components
/// (`<PID[0:3]>/<PID[3:6]>/<PID>/<date>/<type>/<file>`); archives often add a root folder.
fn storage_relative(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let from = parts.len().saturating_sub(6);
    parts[from..].join("/")
}

/// Decodes and checks one storage file.
pub fn prepare_file(path: &str, bytes: Vec<u8>, facility: &InstitutionCode) -> Incoming {
    let relative = storage_relative(path);
    let (storage, mut issues) = StoragePath::parse(&relative);
    let Some(storage) = storage else {
        return Incoming {
            raw: bytes,
            mapped: None,
            issues,
            origin: None,
        };
    };
    let file_name = relative.rsplit('/').next().unwrap_or("").to_owned();
    let stem = file_name
        .rsplit_once('_')
        .map_or(file_name.clone(), |(s, _)| s.to_owned());
    let origin = StorageOrigin {
        path: path.to_owned(),
        stem,
        file_name,
        data_type: storage.data_type.clone(),
        patient_id: storage.patient_id.clone(),
        valid: storage.valid,
    };
    // The invalidation marker is the disposition itself, not an issue of the file.
    issues.retain(|i| i.code != ErrorCode::Ssmix2Invalidated);
    let mapped = match Message::parse(&bytes) {
        Ok(message) => {
            issues.extend(ssmix2::check_message(&storage, &message));
            Some(hl7v2::map_message(&message, facility))
        }
        Err(rejected) => {
            issues.extend(rejected.issues);
            None
        }
    };
    Incoming {
        raw: bytes,
        mapped,
        issues,
        origin: Some(origin),
    }
}

/// The report of one file from its decoding and what became of it.
pub fn report_of(
    path: String,
    incoming: &Incoming,
    outcome: Result<Disposition, Problem>,
) -> FileReport {
    let all: Vec<&Issue> = incoming
        .issues
        .iter()
        .chain(incoming.mapped.iter().flat_map(|m| m.issues.iter()))
        .collect();
    let first_error = all.iter().find(|i| i.is_error()).copied();
    let warnings: Vec<String> = all
        .iter()
        .filter(|i| !i.is_error())
        .map(|i| format!("{} at {}", i.code, i.location))
        .collect();
    let mut report = FileReport::bare(path, "");
    match outcome {
        Ok(Disposition::Accepted { records, mapped }) => {
            report.status = "accepted".into();
            report.records = records;
            report.mapped = Some(mapped);
            report.warnings = warnings;
        }
        Ok(Disposition::Duplicate) => report.status = "duplicate".into(),
        Ok(Disposition::Superseded { withdrawn }) => {
            report.status = "superseded".into();
            report.message = Some(format!(
                "invalidated file (flag 0); {withdrawn} earlier version(s) withdrawn"
            ));
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

/// Stores the files of a chunk in one unit of work and returns their reports.
fn flush(
    app: &AppState,
    ctx: &Ctx,
    chunk: &mut Vec<(String, Incoming)>,
) -> Result<Vec<FileReport>, Problem> {
    if chunk.is_empty() {
        return Ok(Vec::new());
    }
    let taken = std::mem::take(chunk);
    let incoming: Vec<Incoming> = taken.iter().map(|(_, i)| i.clone()).collect();
    let ctx2 = ctx.clone();
    let received_at = now_millis();
    let outcomes = app
        .store
        .write_blocking(move |tx| messages::store_all(tx, &ctx2, &incoming, received_at))?;
    Ok(taken
        .into_iter()
        .zip(outcomes)
        .map(|((path, incoming), outcome)| report_of(path, &incoming, outcome))
        .collect())
}

/// Imports an archive already spooled to `path`; the streamed report goes to `sender`.
/// Returns an error before anything is sent when the archive cannot be read at all.
pub fn check_archive(path: &Path) -> Result<ArchiveKind, Problem> {
    let mut file = File::open(path).map_err(|_| Problem::bare(ErrorCode::Internal))?;
    let mut head = [0u8; 512];
    let n = file
        .read(&mut head)
        .map_err(|_| Problem::bare(ErrorCode::Internal))?;
    sniff(&head[..n]).ok_or_else(|| {
        Problem::new(
            ErrorCode::UnsupportedMediaType,
            "body",
            "an SS-MIX2 upload is a zip, tar or tar.gz archive",
        )
    })
}

/// Runs an import on the current (blocking) thread, sending report fragments.
pub fn run(
    app: Arc<AppState>,
    ctx: Ctx,
    path: &Path,
    kind: ArchiveKind,
    facility: InstitutionCode,
    sender: mpsc::Sender<Result<Bytes, Problem>>,
) {
    let send = |text: String| sender.blocking_send(Ok(Bytes::from(text))).is_ok();
    if !send("{\"format\":\"ssmix2\",\"files\":[".into()) {
        return;
    }
    let mut summary = ImportSummary::default();
    let mut first = true;
    let mut emit = |reports: Vec<FileReport>, summary: &mut ImportSummary| -> bool {
        let mut text = String::new();
        for r in &reports {
            summary.add(r);
            if !first {
                text.push(',');
            }
            first = false;
            text.push_str(&serde_json::to_string(r).unwrap_or_default());
        }
        text.is_empty() || send(text)
    };
    let file = match File::open(path).and_then(|mut f| f.rewind().map(|()| f)) {
        Ok(f) => f,
        Err(_) => {
            let _ = sender.blocking_send(Err(Problem::bare(ErrorCode::Internal)));
            return;
        }
    };
    let mut chunk: Vec<(String, Incoming)> = Vec::with_capacity(CHUNK);
    let mut failure: Option<Problem> = None;
    let walked = walk_archive(file, kind, &mut |entry| {
        let direct = match entry {
            Entry::File { path, bytes } => {
                let incoming = prepare_file(&path, bytes, &facility);
                chunk.push((path, incoming));
                None
            }
            Entry::Refused { path, issue } => Some(FileReport::rejected(path, &issue)),
            Entry::Skipped { path, reason } => Some(FileReport::skipped(path, reason)),
        };
        if let Some(report) = direct
            && !emit(vec![report], &mut summary)
        {
            return false;
        }
        if chunk.len() >= CHUNK {
            match flush(&app, &ctx, &mut chunk) {
                Ok(reports) => emit(reports, &mut summary),
                Err(p) => {
                    failure = Some(p);
                    false
                }
            }
        } else {
            true
        }
    });
    if failure.is_none() {
        match flush(&app, &ctx, &mut chunk) {
            Ok(reports) => {
                emit(reports, &mut summary);
            }
            Err(p) => failure = Some(p),
        }
    }
    let archive_problem = walked.err().or(failure);
    let mut tail = format!(
        "],\"summary\":{}",
        serde_json::to_string(&summary).unwrap_or_default()
    );
    if let Some(p) = &archive_problem {
        // The archive broke (or the database failed) part-way: everything reported above
        // as accepted was committed; the rest was not.
        tail.push_str(&format!(
            ",\"stopped\":{{\"code\":\"{}\",\"message\":{}}}",
            p.code.as_str(),
            serde_json::to_string(
                &p.issues
                    .first()
                    .map(|i| i.message.clone())
                    .unwrap_or_default()
            )
            .unwrap_or_default()
        ));
    }
    tail.push('}');
    telemetry::count_ingested("ssmix2", "file", summary.accepted);
    let _ = send(tail);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_storage_path_is_found_under_a_root_folder() {
        assert_eq!(
            storage_relative("sampleData/999/901/9999013/-/ADT-00/f"),
            "999/901/9999013/-/ADT-00/f"
        );
        assert_eq!(
            storage_relative("999/901/9999013/-/ADT-00/f"),
            "999/901/9999013/-/ADT-00/f"
        );
    }
}
