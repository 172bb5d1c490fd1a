//! Reads a 特定健診 submission: a ZIP in the MHLW archive layout, or one CDA document.
//!
//! In a ZIP, entries are recognised by their last path components (with or without the
//! root folder): `ix08_V08.xml` (index), `DATA/h*.xml` (checkup documents), `CLAIMS/*`
//! (settlement files, counted), `DATA/` files not starting with `h` (other document kinds,
//! counted), `su08_V08.xml` and `XSD/…` (not read). Every document is read on its own: a
//! bad one is reported with its path and the others are kept.
//!
//! The ZIP is walked by `codec::archive`, the walker every archive kakari takes goes
//! through (names, links, encryption, per-entry size and ratio, declared and actual, entry
//! count and running total); only the index and checkup documents are decompressed. Its
//! refusals are reported under the `tokutei.archive_*` codes.

use std::io::Cursor;

use crate::codec::archive::{self, ArchiveKind, Entry, Refusal, Stop};

use super::document::{CheckupDocument, DocumentRead};
use super::index::{ArchiveIndex, INDEX_FILE, read_index};
use super::reader::read_document;
use super::safe_xml::DocumentLimits;
use crate::error::{ErrorCode, Issue};
use crate::mapping::checkup_items::CheckupItems;

/// Caps applied to a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Largest accepted upload, compressed.
    pub max_archive_bytes: u64,
    /// Most entries in the ZIP central directory.
    pub max_entries: usize,
    /// Largest decompressed entry.
    pub max_entry_bytes: u64,
    /// Most decompressed bytes over all entries read.
    pub max_total_bytes: u64,
    /// Highest decompressed/compressed ratio of one entry.
    pub max_compression_ratio: u64,
    /// Caps for each XML file.
    pub document: DocumentLimits,
}

impl Default for ReadLimits {
    /// 512 MiB upload, 100 000 entries, 16 MiB per entry, 2 GiB in total, and the
    /// archive walker's ratio limit (checkup XML compresses about 8–20 times).
    fn default() -> Self {
        Self {
            max_archive_bytes: 512 * 1024 * 1024,
            max_entries: 100_000,
            max_entry_bytes: 16 * 1024 * 1024,
            max_total_bytes: 2 * 1024 * 1024 * 1024,
            max_compression_ratio: archive::Limits::default().max_ratio,
            document: DocumentLimits::default(),
        }
    }
}

/// A document and where it was found (`…/DATA/h….xml`; empty for a single document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveDocument {
    pub path: String,
    pub document: CheckupDocument,
}

/// Everything read from a submission.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveRead {
    pub index: Option<ArchiveIndex>,
    pub documents: Vec<ArchiveDocument>,
    /// Settlement (`CLAIMS/`) and non-checkup `DATA/` files seen but not read.
    pub other_files: usize,
    /// Issues; locations start with the entry path (`…/DATA/h1.xml /ClinicalDocument/…`).
    pub issues: Vec<Issue>,
}

impl ArchiveRead {
    /// True when the submission was refused as a whole (no document could be read).
    pub fn is_refused(&self) -> bool {
        self.documents.is_empty() && self.issues.iter().any(Issue::is_error)
    }
}

/// Reads a ZIP archive or a single XML document, whichever `bytes` is.
pub fn read_submission(bytes: &[u8], items: &CheckupItems, limits: &ReadLimits) -> ArchiveRead {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return read_archive(bytes, items, limits);
    }
    let DocumentRead { document, issues } = read_document(bytes, items, &limits.document);
    ArchiveRead {
        index: None,
        documents: document
            .map(|document| ArchiveDocument {
                path: String::new(),
                document,
            })
            .into_iter()
            .collect(),
        other_files: 0,
        issues,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    Index,
    Checkup,
    OtherData,
    Claim,
    NotRead,
    Unknown,
}

fn classify(path: &str) -> EntryKind {
    let mut parts = path.rsplit('/');
    let file = parts.next().unwrap_or("");
    let parent = parts.next().unwrap_or("");
    let is_xml = file.to_ascii_lowercase().ends_with(".xml");
    if file.eq_ignore_ascii_case(INDEX_FILE) {
        EntryKind::Index
    } else if file.eq_ignore_ascii_case("su08_V08.xml") || path.split('/').any(|p| p == "XSD") {
        EntryKind::NotRead
    } else if parent == "DATA" && is_xml {
        if file.starts_with(['h', 'H']) {
            EntryKind::Checkup
        } else {
            EntryKind::OtherData
        }
    } else if parent == "CLAIMS" {
        EntryKind::Claim
    } else {
        EntryKind::Unknown
    }
}

fn with_path(path: &str, mut issues: Vec<Issue>) -> Vec<Issue> {
    for issue in &mut issues {
        issue.location = format!("{path} {}", issue.location);
    }
    issues
}

impl ReadLimits {
    /// The archive walker's limits (`codec::archive`, the rules every archive follows).
    pub fn archive(&self) -> archive::Limits {
        archive::Limits {
            max_entries: self.max_entries,
            max_entry_bytes: self.max_entry_bytes,
            max_total_bytes: self.max_total_bytes,
            max_ratio: self.max_compression_ratio,
        }
    }
}

/// An entry refusal under the 特定健診 codes; unsafe names are located by entry number.
fn refusal_issue(path: String, index: usize, refusal: Refusal) -> Issue {
    match refusal {
        Refusal::Unsafe(why) => Issue::error(
            ErrorCode::TokuteiArchiveUnsafeEntry,
            format!("entry[{index}]"),
            why,
        ),
        Refusal::Limit(why) => Issue::error(ErrorCode::TokuteiArchiveLimit, path, why),
        Refusal::Damaged(why) => Issue::error(ErrorCode::TokuteiArchiveInvalid, path, why),
    }
}

/// Reads a ZIP archive in the MHLW layout.
pub fn read_archive(bytes: &[u8], items: &CheckupItems, limits: &ReadLimits) -> ArchiveRead {
    let mut read = ArchiveRead::default();
    if bytes.len() as u64 > limits.max_archive_bytes {
        read.issues.push(Issue::error(
            ErrorCode::TokuteiArchiveLimit,
            "archive",
            "archive is larger than the upload limit",
        ));
        return read;
    }
    let mut counted_files: u64 = 0;
    let wanted = |path: &str| matches!(classify(path), EntryKind::Index | EntryKind::Checkup);
    let walked = archive::walk_archive(
        Cursor::new(bytes),
        ArchiveKind::Zip,
        &limits.archive(),
        &wanted,
        &mut |entry| {
            match entry {
                Entry::Refused {
                    path,
                    index,
                    refusal,
                } => read.issues.push(refusal_issue(path, index, refusal)),
                Entry::Skipped { .. } => {}
                Entry::Unread { path } => match classify(&path) {
                    EntryKind::Claim | EntryKind::OtherData => {
                        read.other_files += 1;
                        counted_files += 1;
                    }
                    EntryKind::Unknown => read.issues.push(Issue::warning(
                        ErrorCode::TokuteiIndexMismatch,
                        path,
                        "entry is not part of the MHLW archive layout; ignored",
                    )),
                    _ => {}
                },
                Entry::File { path, bytes } if classify(&path) == EntryKind::Index => {
                    match read_index(&bytes, &limits.document) {
                        Ok(index) => read.index = Some(index),
                        Err(issue) => read.issues.extend(with_path(&path, vec![issue])),
                    }
                }
                Entry::File { path, bytes } => {
                    counted_files += 1;
                    let DocumentRead { document, issues } =
                        read_document(&bytes, items, &limits.document);
                    read.issues.extend(with_path(&path, issues));
                    if let Some(document) = document {
                        read.documents.push(ArchiveDocument { path, document });
                    }
                }
            }
            true
        },
    );
    match walked {
        Err(Stop::Invalid(why)) => {
            read.issues.push(Issue::error(
                ErrorCode::TokuteiArchiveInvalid,
                "archive",
                why,
            ));
            return read;
        }
        Err(Stop::Limit(why)) => {
            read.issues
                .push(Issue::error(ErrorCode::TokuteiArchiveLimit, "archive", why));
            return read;
        }
        Ok(()) => {}
    }
    match &read.index {
        None => read.issues.push(Issue::warning(
            ErrorCode::TokuteiIndexMismatch,
            INDEX_FILE,
            "the archive has no readable index",
        )),
        Some(index) if index.total_record_count != Some(counted_files) => {
            read.issues.push(Issue::warning(
                ErrorCode::TokuteiIndexMismatch,
                format!("{INDEX_FILE} /index/totalRecordCount"),
                "the index's file count differs from the data and settlement files in the archive",
            ));
        }
        Some(_) => {}
    }
    read
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_layout_with_or_without_a_root_folder() {
        assert_eq!(classify("r/ix08_V08.xml"), EntryKind::Index);
        assert_eq!(classify("DATA/h123.xml"), EntryKind::Checkup);
        assert_eq!(classify("r/DATA/g123.xml"), EntryKind::OtherData);
        assert_eq!(classify("r/CLAIMS/c1.xml"), EntryKind::Claim);
        assert_eq!(
            classify("r/XSD/coreschemas/voc_hcgv08.xsd"),
            EntryKind::NotRead
        );
        assert_eq!(classify("r/su08_V08.xml"), EntryKind::NotRead);
        assert_eq!(classify("readme.txt"), EntryKind::Unknown);
    }

    #[test]
    fn garbage_is_refused_as_a_whole() {
        let items = CheckupItems::bundled().unwrap();
        let read = read_archive(b"PK\x03\x04garbage", items, &ReadLimits::default());
        assert!(read.is_refused());
        assert_eq!(read.issues[0].code, ErrorCode::TokuteiArchiveInvalid);
        let read = read_submission(b"not xml at all", items, &ReadLimits::default());
        assert!(read.is_refused());
    }
}
