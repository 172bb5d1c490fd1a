//! `POST /ssmix2`: an SS-MIX2 standardized storage tree in a zip, tar or tar.gz archive.
//!
//! The upload is spooled to a temporary file (never held in memory) and read entry by
//! entry; files are decoded, checked against the storage rules, and stored in chunks (one
//! unit of work per chunk, a savepoint per file), and the per-file report is streamed out
//! as each chunk commits. Memory is bounded by the chunk size, whatever the archive size.
//!
//! Refused outright: absolute or `..` paths, links and devices, entries larger than
//! `MAX_ENTRY_BYTES`, compression ratios above `MAX_RATIO` (zip bombs), more than
//! `MAX_ENTRIES` entries, more than `MAX_TOTAL_BYTES` decompressed in all.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
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
use crate::telemetry;

pub const MAX_ENTRY_BYTES: u64 = 16 * 1024 * 1024;
pub const MAX_RATIO: u64 = 200;
pub const MAX_ENTRIES: usize = 5_000_000;
pub const MAX_TOTAL_BYTES: u64 = 256 * 1024 * 1024 * 1024;
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
    fn add(&mut self, f: &FileReport) {
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

/// The archive kinds read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    Zip,
    Tar,
    TarGz,
}

/// Recognises an archive by its first bytes.
pub fn sniff(head: &[u8]) -> Option<ArchiveKind> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(ArchiveKind::Zip)
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Some(ArchiveKind::TarGz)
    } else if head.get(257..262) == Some(b"ustar") {
        Some(ArchiveKind::Tar)
    } else {
        None
    }
}

fn refused(code: ErrorCode, message: &str) -> Problem {
    Problem::new(code, "archive", message)
}

/// A file taken from the archive, or why it was not.
enum Entry {
    File { path: String, bytes: Vec<u8> },
    Refused { path: String, issue: Issue },
    Skipped { path: String, reason: &'static str },
}

/// Checks an entry name: relative, no `..`, no drive letters or NULs. Returns it with `/`.
fn safe_name(name: &str) -> Result<String, &'static str> {
    let unified = name.replace('\\', "/");
    if unified.starts_with('/') || unified.contains('\0') || unified.get(1..2) == Some(":") {
        return Err("absolute path");
    }
    if unified.split('/').any(|c| c == "..") {
        return Err("path leaves the archive (..)");
    }
    Ok(unified)
}

fn is_noise(path: &str) -> bool {
    path.split('/')
        .any(|c| c.starts_with('.') || c == "__MACOSX" || c.eq_ignore_ascii_case("Thumbs.db"))
}

/// Reads an entry's bytes up to the cap.
fn read_capped(reader: &mut dyn Read, declared: u64) -> Result<Vec<u8>, &'static str> {
    if declared > MAX_ENTRY_BYTES {
        return Err("entry larger than the per-file limit");
    }
    let mut bytes = Vec::with_capacity(declared.min(MAX_ENTRY_BYTES) as usize);
    reader
        .take(MAX_ENTRY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|_| "entry data cannot be read")?;
    if bytes.len() as u64 > MAX_ENTRY_BYTES {
        return Err("entry larger than the per-file limit");
    }
    Ok(bytes)
}

fn unsafe_entry(path: String, why: &str) -> Entry {
    Entry::Refused {
        path,
        issue: Issue::error(ErrorCode::ArchiveUnsafeEntry, "archive entry", why),
    }
}

/// Walks the archive, handing each entry to `sink`; stops on a refusal of the whole archive.
fn walk(file: File, kind: ArchiveKind, sink: &mut dyn FnMut(Entry) -> bool) -> Result<(), Problem> {
    let mut total: u64 = 0;
    let mut count: usize = 0;
    let mut account = |size: u64| -> Result<(), Problem> {
        count += 1;
        total = total.saturating_add(size);
        if count > MAX_ENTRIES {
            return Err(refused(ErrorCode::ArchiveLimit, "too many entries"));
        }
        if total > MAX_TOTAL_BYTES {
            return Err(refused(
                ErrorCode::ArchiveLimit,
                "too many bytes once decompressed",
            ));
        }
        Ok(())
    };
    match kind {
        ArchiveKind::Zip => {
            let mut zip = zip::ZipArchive::new(BufReader::new(file))
                .map_err(|_| refused(ErrorCode::ArchiveInvalid, "not a readable zip archive"))?;
            for i in 0..zip.len() {
                let mut entry = match zip.by_index(i) {
                    Ok(e) => e,
                    Err(_) => {
                        if !sink(unsafe_entry(
                            format!("entry {i}"),
                            "entry cannot be read (encrypted or unsupported method)",
                        )) {
                            return Ok(());
                        }
                        continue;
                    }
                };
                let raw_name = String::from_utf8_lossy(entry.name_raw()).into_owned();
                if entry.is_dir() {
                    continue;
                }
                let path = match safe_name(&raw_name) {
                    Ok(p) => p,
                    Err(why) => {
                        if !sink(unsafe_entry(raw_name, why)) {
                            return Ok(());
                        }
                        continue;
                    }
                };
                account(entry.size())?;
                let out = if entry.is_symlink() {
                    unsafe_entry(path, "links are refused")
                } else if entry.compressed_size() > 0
                    && entry.size() / entry.compressed_size().max(1) > MAX_RATIO
                {
                    unsafe_entry(path, "compression ratio too high (zip bomb)")
                } else if is_noise(&path) {
                    Entry::Skipped {
                        path,
                        reason: "not a storage file (hidden or system file)",
                    }
                } else {
                    let declared = entry.size();
                    match read_capped(&mut entry, declared) {
                        Ok(bytes) => Entry::File { path, bytes },
                        Err(why) => unsafe_entry(path, why),
                    }
                };
                if !sink(out) {
                    return Ok(());
                }
            }
        }
        ArchiveKind::Tar | ArchiveKind::TarGz => {
            let reader: Box<dyn Read> = match kind {
                ArchiveKind::TarGz => Box::new(flate2::read::GzDecoder::new(BufReader::new(file))),
                _ => Box::new(BufReader::new(file)),
            };
            let mut archive = tar::Archive::new(reader);
            let entries = archive
                .entries()
                .map_err(|_| refused(ErrorCode::ArchiveInvalid, "not a readable tar archive"))?;
            for entry in entries {
                let mut entry =
                    entry.map_err(|_| refused(ErrorCode::ArchiveInvalid, "damaged tar archive"))?;
                let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                let kind = entry.header().entry_type();
                if kind.is_dir() {
                    continue;
                }
                let path = match safe_name(&raw_name) {
                    Ok(p) => p,
                    Err(why) => {
                        if !sink(unsafe_entry(raw_name, why)) {
                            return Ok(());
                        }
                        continue;
                    }
                };
                let size = entry.header().size().unwrap_or(u64::MAX);
                account(size.min(MAX_ENTRY_BYTES + 1))?;
                let out = if !kind.is_file() {
                    unsafe_entry(path, "links, devices and special files are refused")
                } else if is_noise(&path) {
                    Entry::Skipped {
                        path,
                        reason: "not a storage file (hidden or system file)",
                    }
                } else {
                    match read_capped(&mut entry, size) {
                        Ok(bytes) => Entry::File { path, bytes },
                        Err(why) => unsafe_entry(path, why),
                    }
                };
                if !sink(out) {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
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

fn report_of(
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
    let mut report = FileReport {
        path,
        status: String::new(),
        mapped: None,
        records: 0,
        code: None,
        location: None,
        message: None,
        warnings: Vec::new(),
    };
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
    let walked = walk(file, kind, &mut |entry| {
        let direct = match entry {
            Entry::File { path, bytes } => {
                let incoming = prepare_file(&path, bytes, &facility);
                chunk.push((path, incoming));
                None
            }
            Entry::Refused { path, issue } => Some(FileReport {
                path,
                status: "rejected".into(),
                mapped: None,
                records: 0,
                code: Some(issue.code.as_str().into()),
                location: Some(issue.location),
                message: Some(issue.message),
                warnings: Vec::new(),
            }),
            Entry::Skipped { path, reason } => Some(FileReport {
                path,
                status: "skipped".into(),
                mapped: None,
                records: 0,
                code: None,
                location: None,
                message: Some(reason.into()),
                warnings: Vec::new(),
            }),
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
    fn entry_names_are_checked() {
        assert_eq!(safe_name("a/b/c").unwrap(), "a/b/c");
        assert_eq!(safe_name("a\\b").unwrap(), "a/b");
        assert!(safe_name("/etc/passwd").is_err());
        assert!(safe_name("a/../../x").is_err());
        assert!(safe_name("C:/x").is_err());
    }

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

    #[test]
    fn archives_are_recognised_by_their_bytes() {
        assert_eq!(sniff(b"PK\x03\x04rest"), Some(ArchiveKind::Zip));
        assert_eq!(sniff(&[0x1f, 0x8b, 8]), Some(ArchiveKind::TarGz));
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(sniff(&tar), Some(ArchiveKind::Tar));
        assert_eq!(sniff(b"MSH|"), None);
    }
}
