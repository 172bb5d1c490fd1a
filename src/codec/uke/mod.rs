//! UKE claims files (レセプト電算処理システム): 医科, 歯科 and 調剤 receipts as insurers
//! receive them.
//!
//! Bytes are decoded from Shift_JIS (CP932) first ([`text`]), each line becomes a typed
//! record with its line number ([`record`]), the lines are grouped into receipts
//! ([`file`]), and the receipts become domain values: medication records of kind `claim`
//! and conditions, linked to the insurance member the HO record names ([`domain`]).
//! Problems are reported as issues located by `line N field M`; the file is refused only
//! when it cannot be read as UKE at all. `docs/uke.md` lists the layouts and the rules.

pub mod date;
pub mod domain;
pub mod fields;
pub mod file;
pub mod record;
pub mod text;

pub use date::YearMonth;
pub use domain::{ClaimRecords, ReceiptRecords, to_domain};
pub use file::{Receipt, UkeFile};
pub use record::{FileKind, Located, Record};

use crate::error::Problem;

/// Parses a claims file as received (Shift_JIS bytes).
pub fn parse(bytes: &[u8]) -> Result<UkeFile, Problem> {
    let (text, encoding) = text::decode(bytes)?;
    let mut file = file::read(&text)?;
    if let Some(issue) = encoding {
        file.issues.insert(0, issue);
    }
    Ok(file)
}
