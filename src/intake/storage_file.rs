//! One file of an SS-MIX2 standardized storage tree, decoded and checked against the
//! storage rules (path, file name, data type, PID-3 against the folder), as the gateway's
//! import and `kakari convert` both read it.

use crate::codec::hl7v2::{self, Message};
use crate::codec::ssmix2::{self, StoragePath};
use crate::domain::InstitutionCode;
use crate::error::ErrorCode;

use super::incoming::{Incoming, StorageOrigin, sha256};
use super::report::{FileReport, file_or_report};
use crate::codec::archive::Entry;

/// An entry of a storage tree: a file to decide on, or already reported.
pub enum TreeItem {
    File {
        path: String,
        incoming: Box<Incoming>,
    },
    Reported(Box<FileReport>),
}

/// Decodes a file entry of a storage tree; reports the others (refused, skipped).
pub fn tree_item(entry: Entry, facility: &InstitutionCode) -> TreeItem {
    match file_or_report(entry) {
        Ok((path, bytes)) => {
            let incoming = Box::new(prepare_file(&path, bytes, facility));
            TreeItem::File { path, incoming }
        }
        Err(report) => TreeItem::Reported(report),
    }
}

/// The storage-relative path: the last six components
/// (`<PID[0:3]>/<PID[3:6]>/<PID>/<date>/<type>/<file>`); archives often add a root folder.
fn storage_relative(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let from = parts.len().saturating_sub(6);
    parts[from..].join("/")
}

/// Decodes and checks one storage file. Its content digest is the file's bytes': the
/// file name is the key, and a file is re-sent byte for byte.
pub fn prepare_file(path: &str, bytes: Vec<u8>, facility: &InstitutionCode) -> Incoming {
    let relative = storage_relative(path);
    let (storage, mut issues) = StoragePath::parse(&relative);
    let Some(storage) = storage else {
        return Incoming::unreadable(bytes, issues);
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
        digest: sha256(&bytes),
        raw: bytes,
        mapped,
        issues,
        origin: Some(origin),
    }
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
