//! SS-MIX2 standardized storage: the layout rules that tie a file's path and name to the
//! HL7 message inside it.
//!
//! `StoragePath::parse` reads `<PID[0:3]>/<PID[3:6]>/<PID>/<date or ->/<type>/<file>` and
//! the seven-part file name; `check_message` holds the message against them (PID-3, MSH-9
//! for the data type, the care-date field for the date folder); `check_file` does both
//! for a path and its bytes. Each broken rule is an `Issue` with a stable code:
//!
//! | code | rule |
//! |---|---|
//! | `ssmix2.file_name` | seven parts; date `YYYYMMDD` or `-`; 17-digit timestamp; flag 0/1; 15-character order number (warning) |
//! | `ssmix2.path_layout` | five folders above the file; the first two are the patient id's characters 1–3 and 4–6 |
//! | `ssmix2.patient_mismatch` | patient folder = file-name patient id = PID-3 |
//! | `ssmix2.date_mismatch` | date folder = file-name date; `-` exactly for the undated data types |
//! | `ssmix2.data_type_mismatch` | data-type folder = file-name data type |
//! | `ssmix2.unknown_data_type` | the data type is one of the standardized ones |
//! | `ssmix2.message_type` | MSH-9 is a message type of the data type |
//! | `ssmix2.care_date` | the date folder matches the care-date field of the message type (warning) |
//! | `ssmix2.invalidated` | flag `0`: a later file supersedes this one (warning) |
//!
//! An invalidated file is found again through `StoragePath::record_key` (same patient,
//! date, data type and order number).

pub mod data_type;
pub mod storage_path;

pub use data_type::DataType;
pub use storage_path::{RecordKey, StoragePath};

use crate::codec::hl7v2::map::patient_id;
use crate::codec::hl7v2::message::Message;
use crate::error::{ErrorCode, Issue};

/// The outcome of checking one stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    /// The path's parts, when the file name could be read.
    pub path: Option<StoragePath>,
    /// Every storage rule broken, and the reason when no message could be read.
    pub issues: Vec<Issue>,
}

/// Checks a file: its path (relative to the storage root, or including it) and its bytes.
/// Issues about the message's own content (character set, segment order, mapping) come
/// from `hl7v2`, not from here; only a message that cannot be read at all is reported.
pub fn check_file(path: &str, bytes: &[u8]) -> FileCheck {
    let (storage_path, mut issues) = StoragePath::parse(path);
    match Message::parse(bytes) {
        Ok(message) => {
            if let Some(p) = &storage_path {
                issues.extend(check_message(p, &message));
            }
        }
        Err(rejected) => issues.extend(rejected.issues),
    }
    FileCheck {
        path: storage_path,
        issues,
    }
}

/// Holds a message against the path it was stored under.
pub fn check_message(path: &StoragePath, message: &Message<'_>) -> Vec<Issue> {
    let mut issues = Vec::new();
    // The storage path is the store's own index of the patient (folder and file name were
    // checked against each other already); a PID-3 that disagrees with it is reported and
    // the path's patient id is used.
    if patient_id(message).as_deref() != Some(path.patient_id.as_str()) {
        issues.push(Issue::warning(
            ErrorCode::Ssmix2PatientMismatch,
            "PID-3",
            "PID-3 differs from the storage path's patient id; the path's id is used",
        ));
    }
    let (code, event, _) = message.message_type();
    let message_type = format!("{code}^{event}");
    if let Some(definition) = path.data_type_definition()
        && !definition.holds(&message_type)
    {
        issues.push(Issue::error(
            ErrorCode::Ssmix2MessageType,
            "MSH-9",
            format!(
                "{message_type} is not a message type of data type {} (expected {})",
                definition.code,
                definition.message_types.join(" or ")
            ),
        ));
    }
    if let (Some(date), Some((segment, field))) =
        (path.date, data_type::care_date_field(&message_type))
    {
        let mut found = false;
        for s in message.segments().filter(|s| s.name() == segment) {
            found = true;
            let value = s.field(field).component(1);
            let day = value.raw().get(..8).and_then(storage_path::parse_date);
            if day != Some(date) {
                issues.push(Issue::warning(
                    ErrorCode::Ssmix2CareDate,
                    value.location().to_string(),
                    format!("care date ({segment}-{field}) differs from the date folder"),
                ));
                break;
            }
        }
        if !found {
            issues.push(Issue::warning(
                ErrorCode::Ssmix2CareDate,
                segment,
                format!("no {segment} segment gives the care date ({segment}-{field})"),
            ));
        }
    }
    issues
}
