//! Reads an SS-MIX2 storage tree (a directory, or a zip / tar / tar.gz archive of one)
//! with the import's own walker and file check (`codec::archive`,
//! `intake::storage_file`). As in the gateway's import, an archive that breaks or reaches a
//! limit part-way keeps the files read before, and is itself reported rejected.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::Fatal;
use super::offline::{self, Item};
use super::patients::Patients;
use super::progress::Progress;
use crate::codec::archive::{self, Entry, Limits};
use crate::domain::InstitutionCode;
use crate::intake::FileReport;
use crate::intake::report::stopped;
use crate::intake::storage_file::{TreeItem, tree_item};

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
        items.push(match tree_item(entry, facility) {
            TreeItem::File { path, mut incoming } => {
                // The raw bytes are not needed once decoded; keep memory to the records.
                incoming.raw = Vec::new();
                Item::Decoded { path, incoming }
            }
            TreeItem::Reported(report) => Item::Reported(*report),
        });
        true
    };
    let limits = Limits::default();
    let name = input
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    // A walk that stops part-way keeps what it read, as the gateway's import does; the
    // archive gets a rejected row saying why the rest was not read.
    let walked = if input.is_dir() {
        progress = Progress::new(Some(archive::count_dir(input)?), "files");
        archive::walk_dir(input, &limits, &archive::everything, &mut |e| {
            sink(e, &progress)
        })
    } else {
        let unreadable = || Fatal("the input cannot be read".into());
        let mut file = File::open(input).map_err(|_| unreadable())?;
        let mut head = [0u8; 512];
        let n = file.read(&mut head).map_err(|_| unreadable())?;
        let kind = archive::sniff(&head[..n]).ok_or_else(|| {
            Fatal("an SS-MIX2 input is a directory or a zip, tar or tar.gz archive".into())
        })?;
        let total = archive::count_archive(File::open(input).map_err(|_| unreadable())?, kind);
        progress = Progress::new(total, "files");
        let file = File::open(input).map_err(|_| unreadable())?;
        archive::walk_archive(file, kind, &limits, &archive::everything, &mut |e| {
            sink(e, &progress)
        })
    };
    if let Err(stop) = walked {
        items.push(Item::Reported(stopped(name, stop)));
    }
    progress.finish();
    Ok(offline::settle(items, patients))
}
