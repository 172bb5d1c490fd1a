//! Reads an SS-MIX2 storage tree (a directory, or a zip / tar / tar.gz archive of one)
//! with the import's own walker and file check (`service::storage_tree`,
//! `service::ssmix2::prepare_file`).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::Fatal;
use super::offline::{self, Item};
use super::patients::Patients;
use super::progress::Progress;
use crate::domain::InstitutionCode;
use crate::service::ssmix2::{FileReport, prepare_file};
use crate::service::storage_tree::{self, Entry};

/// Reads every file of the tree; returns the per-file report.
pub fn read(
    input: &Path,
    facility: &InstitutionCode,
    patients: &mut Patients,
) -> Result<Vec<FileReport>, Fatal> {
    let mut items = Vec::new();
    let progress;
    let mut sink = |entry: Entry, progress: &Progress| {
        progress.step();
        items.push(match entry {
            Entry::File { path, bytes } => {
                let mut incoming = prepare_file(&path, bytes, facility);
                // The raw bytes are not needed once decoded; keep memory to the records.
                incoming.raw = Vec::new();
                Item::Decoded {
                    path,
                    incoming: Box::new(incoming),
                }
            }
            Entry::Refused { path, issue } => Item::Reported(FileReport::rejected(path, &issue)),
            Entry::Skipped { path, reason } => Item::Reported(FileReport::skipped(path, reason)),
        });
        true
    };
    if input.is_dir() {
        progress = Progress::new(Some(storage_tree::count_dir(input)?), "files");
        storage_tree::walk_dir(input, &mut |e| sink(e, &progress))?;
    } else {
        let unreadable = || Fatal("the input cannot be read".into());
        let mut file = File::open(input).map_err(|_| unreadable())?;
        let mut head = [0u8; 512];
        let n = file.read(&mut head).map_err(|_| unreadable())?;
        let kind = storage_tree::sniff(&head[..n]).ok_or_else(|| {
            Fatal("an SS-MIX2 input is a directory or a zip, tar or tar.gz archive".into())
        })?;
        let total = storage_tree::count_archive(File::open(input).map_err(|_| unreadable())?, kind);
        progress = Progress::new(total, "files");
        let file = File::open(input).map_err(|_| unreadable())?;
        storage_tree::walk_archive(file, kind, &mut |e| sink(e, &progress))?;
    }
    progress.finish();
    Ok(offline::settle(items, patients))
}
