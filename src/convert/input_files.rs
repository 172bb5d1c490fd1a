//! The files of an input that is one file or a directory (HL7 v2, FHIR): a directory is
//! walked by the one safe walker (`codec::archive`, links and special files refused, in
//! name order) with a progress bar; entries that are not files to read come back as
//! report rows, and so does a walk stopped part-way by a limit.

use std::path::Path;

use super::Fatal;
use super::progress::Progress;
use crate::codec::archive::{self, Limits};
use crate::intake::FileReport;
use crate::intake::report::{file_or_report, stopped};

/// One entry of the input: a file's path (relative to the directory, or the file's name)
/// and bytes, or the report row of an entry not read.
pub type Found<'a> = Result<(&'a str, &'a [u8]), FileReport>;

/// Calls `sink` with every entry of the input, in order.
pub fn each(input: &Path, sink: &mut dyn FnMut(Found<'_>)) -> Result<(), Fatal> {
    if input.is_dir() {
        let progress = Progress::new(Some(archive::count_dir(input)?), "files");
        let walked = archive::walk_dir(
            input,
            &Limits::default(),
            &archive::everything,
            &mut |entry| {
                progress.step();
                match file_or_report(entry) {
                    Ok((path, bytes)) => sink(Ok((&path, &bytes))),
                    Err(report) => sink(Err(*report)),
                }
                true
            },
        );
        // Stopped part-way (a limit): what was read stays, the folder says why the rest not.
        if let Err(stop) = walked {
            let name = input
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            sink(Err(stopped(name, stop)));
        }
        progress.finish();
    } else {
        let bytes = std::fs::read(input).map_err(|_| Fatal("the input cannot be read".into()))?;
        let name = input
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        sink(Ok((&name, &bytes)));
    }
    Ok(())
}
