//! Reads HL7 v2 messages: a file holding one message or a batch (any character set
//! `codec::hl7v2` reads), or a directory of such files. Each message is one report row,
//! named `file` or `file#N` (N-th message of a batch).

use std::path::Path;

use super::Fatal;
use super::input_files;
use super::offline::{self, Item};
use super::patients::Patients;
use crate::codec::hl7v2;
use crate::domain::InstitutionCode;
use crate::error::{ErrorCode, Issue};
use crate::intake::{FileReport, Incoming};

/// Reads every message of the input; returns the per-message report.
pub fn read(
    input: &Path,
    facility: &InstitutionCode,
    patients: &mut Patients,
) -> Result<Vec<FileReport>, Fatal> {
    let mut items = Vec::new();
    input_files::each(input, &mut |found| match found {
        Ok((path, bytes)) => messages(path, bytes, facility, &mut items),
        Err(report) => items.push(Item::Reported(report)),
    })?;
    Ok(offline::settle(items, patients))
}

/// Splits one file into messages and decodes each.
fn messages(path: &str, bytes: &[u8], facility: &InstitutionCode, items: &mut Vec<Item>) {
    let (received, envelope) = hl7v2::receive(bytes, facility);
    if received.is_empty() {
        let issue = envelope.first().cloned().unwrap_or_else(|| {
            Issue::error(
                ErrorCode::Hl7NoHeader,
                "byte 0",
                "no HL7 message (MSH) found",
            )
        });
        items.push(Item::Reported(FileReport::rejected(
            path.to_owned(),
            &issue,
        )));
        return;
    }
    // Envelope errors (segments outside any message) mean part of the file was not read.
    let (errors, mut notes): (Vec<Issue>, Vec<Issue>) =
        envelope.into_iter().partition(Issue::is_error);
    if let Some(first) = errors.first() {
        items.push(Item::Reported(FileReport::rejected(
            format!("{path} (batch envelope)"),
            first,
        )));
    }
    let several = received.len() > 1;
    for (i, message) in received.iter().enumerate() {
        let mut incoming = Incoming::from_received(message);
        incoming.raw = Vec::new();
        // Envelope warnings (declared counts) go with the first message.
        incoming.issues.append(&mut notes);
        let name = if several {
            format!("{path}#{}", i + 1)
        } else {
            path.to_owned()
        };
        items.push(Item::Decoded {
            path: name,
            incoming: Box::new(incoming),
        });
    }
}
