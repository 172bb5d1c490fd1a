//! Reads a 特定健診 submission: a ZIP in the MHLW archive layout, or one CDA document.
//!
//! In a ZIP, entries are recognised by their last path components (with or without the
//! root folder): `ix08_V08.xml` (index), `DATA/h*.xml` (checkup documents), `CLAIMS/*`
//! (settlement files, counted), `DATA/` files not starting with `h` (other document kinds,
//! counted), `su08_V08.xml` and `XSD/…` (not read). Every document is read on its own: a
//! bad one is reported with its path and the others are kept.
//!
//! Refused before any decompression: more entries than the limit, a declared size or
//! compression ratio over the limit, names that are absolute or climb out (`..`), links,
//! encrypted entries and compression methods other than stored/deflate. While reading, the
//! actual decompressed size and ratio are checked again (headers can lie), and so is the
//! running total.

use std::io::{Cursor, Read};

use zip::ZipArchive;

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
    /// 512 MiB upload, 100 000 entries, 16 MiB per entry, 2 GiB in total, ratio 100
    /// (checkup XML compresses about 8–20 times).
    fn default() -> Self {
        Self {
            max_archive_bytes: 512 * 1024 * 1024,
            max_entries: 100_000,
            max_entry_bytes: 16 * 1024 * 1024,
            max_total_bytes: 2 * 1024 * 1024 * 1024,
            max_compression_ratio: 100,
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

fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.contains('\0')
        && name
            .split('/')
            .all(|part| part != ".." && !part.contains(':'))
}

fn with_path(path: &str, mut issues: Vec<Issue>) -> Vec<Issue> {
    for issue in &mut issues {
        issue.location = format!("{path} {}", issue.location);
    }
    issues
}

/// Reads a ZIP archive in the MHLW layout.
pub fn read_archive(bytes: &[u8], items: &CheckupItems, limits: &ReadLimits) -> ArchiveRead {
    let mut read = ArchiveRead::default();
    let refuse = |mut read: ArchiveRead, code: ErrorCode, location: &str, message: &str| {
        read.issues.push(Issue::error(code, location, message));
        read
    };
    if bytes.len() as u64 > limits.max_archive_bytes {
        return refuse(
            read,
            ErrorCode::TokuteiArchiveLimit,
            "archive",
            "archive is larger than the upload limit",
        );
    }
    let Ok(mut archive) = ZipArchive::new(Cursor::new(bytes)) else {
        return refuse(
            read,
            ErrorCode::TokuteiArchiveInvalid,
            "archive",
            "not a readable ZIP archive (central directory)",
        );
    };
    if archive.len() > limits.max_entries {
        return refuse(
            read,
            ErrorCode::TokuteiArchiveLimit,
            "archive",
            "more entries than the limit",
        );
    }
    let mut total: u64 = 0;
    let mut counted_files: u64 = 0;
    for i in 0..archive.len() {
        let at = format!("entry[{}]", i + 1);
        let mut file = match archive.by_index(i) {
            Ok(file) => file,
            Err(_) => {
                read.issues.push(Issue::error(
                    ErrorCode::TokuteiArchiveUnsafeEntry,
                    at,
                    "entry cannot be opened: encrypted, unsupported compression method or damaged header",
                ));
                continue;
            }
        };
        if file.is_dir() {
            continue;
        }
        if file.is_symlink() {
            read.issues.push(Issue::error(
                ErrorCode::TokuteiArchiveUnsafeEntry,
                at,
                "symbolic links are refused",
            ));
            continue;
        }
        let name = match file.name() {
            Ok(name) if safe_name(&name) && file.enclosed_name().is_some() => name.into_owned(),
            _ => {
                read.issues.push(Issue::error(
                    ErrorCode::TokuteiArchiveUnsafeEntry,
                    at,
                    "entry name is absolute, climbs out of the archive, or is not valid",
                ));
                continue;
            }
        };
        let kind = classify(&name);
        match kind {
            EntryKind::NotRead => continue,
            EntryKind::Claim | EntryKind::OtherData => {
                read.other_files += 1;
                counted_files += 1;
                continue;
            }
            EntryKind::Unknown => {
                read.issues.push(Issue::warning(
                    ErrorCode::TokuteiIndexMismatch,
                    name,
                    "entry is not part of the MHLW archive layout; ignored",
                ));
                continue;
            }
            EntryKind::Index | EntryKind::Checkup => {}
        }
        let declared = file.size();
        let compressed = file.compressed_size().max(1);
        if declared > limits.max_entry_bytes || declared / compressed > limits.max_compression_ratio
        {
            read.issues.push(Issue::error(
                ErrorCode::TokuteiArchiveLimit,
                name,
                "entry's declared size or compression ratio exceeds the limit",
            ));
            continue;
        }
        let mut content = Vec::with_capacity(usize::try_from(declared).unwrap_or(0).min(1 << 20));
        let cap = limits.max_entry_bytes.saturating_add(1);
        if (&mut file).take(cap).read_to_end(&mut content).is_err() {
            read.issues.push(Issue::error(
                ErrorCode::TokuteiArchiveInvalid,
                name,
                "entry data is damaged (decompression or CRC failure)",
            ));
            continue;
        }
        let actual = content.len() as u64;
        if actual > limits.max_entry_bytes || actual / compressed > limits.max_compression_ratio {
            read.issues.push(Issue::error(
                ErrorCode::TokuteiArchiveLimit,
                name,
                "entry decompresses beyond the size or ratio limit",
            ));
            continue;
        }
        total = total.saturating_add(actual);
        if total > limits.max_total_bytes {
            read.issues.push(Issue::error(
                ErrorCode::TokuteiArchiveLimit,
                name,
                "archive decompresses beyond the total size limit; remaining entries not read",
            ));
            break;
        }
        if kind == EntryKind::Index {
            match read_index(&content, &limits.document) {
                Ok(index) => read.index = Some(index),
                Err(issue) => read.issues.extend(with_path(&name, vec![issue])),
            }
            continue;
        }
        counted_files += 1;
        let DocumentRead { document, issues } = read_document(&content, items, &limits.document);
        read.issues.extend(with_path(&name, issues));
        if let Some(document) = document {
            read.documents.push(ArchiveDocument {
                path: name,
                document,
            });
        }
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
        assert!(!safe_name("../etc/passwd"));
        assert!(!safe_name("/abs.xml"));
        assert!(!safe_name("a\\b.xml"));
        assert!(!safe_name("C:/x.xml"));
        assert!(safe_name("root/DATA/h1.xml"));
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
