//! Writes a set of checkup documents as a ZIP in the MHLW archive layout
//! (送付用ファイルアーカイブ):
//!
//! ```text
//! {sender}_{insurer}_{YYYYMMDD}{N}_1.zip
//! └── {sender}_{insurer}_{YYYYMMDD}{N}_1/
//!     ├── ix08_V08.xml                       index: 種別 6, date, sender, receiver, 実施区分 1, count
//!     ├── DATA/h{sender}{YYYYMMDD}{N}1{serial:06}.xml   one CDA per person and exam date
//!     └── XSD/…                              the schemas, when the operator supplies them
//! ```
//!
//! `sender` is the 10-digit institution number, `insurer` the 8-digit receiving insurer,
//! `YYYYMMDD` the creation date, `N` the same-day split number (0–9), the final `1` the
//! 実施区分 (特定健診). No summary (`su08_V08.xml`) or settlement (`CLAIMS/`) files are
//! written: they carry checkup fees, which a lab-value export does not have.

use std::collections::BTreeMap;
use std::io::{Cursor, Write};

use time::Date;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::index::{INDEX_FILE, write_index};
use super::oid;
use super::report::ExportReport;
use super::writer::{CheckupRecord, DocumentContext, write_document_into};
use super::xml_out::yyyymmdd;
use crate::domain::{Demographics, InstitutionCode, InsurerNumber, LabResult, MemberId};
use crate::error::{ErrorCode, Problem};
use crate::mapping::checkup_items::CheckupItems;

/// Deflate level: 1 is several times faster than the default 6 on checkup XML and the
/// archive grows by a few percent (6 % on the test archive); exports are made per request.
const COMPRESSION_LEVEL: i64 = 1;

/// Most documents one archive can name (six-digit serial).
pub const MAX_DOCUMENTS: u32 = 999_999;

/// Who sends the archive to whom, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveHeader {
    pub sender: InstitutionCode,
    pub receiver: InsurerNumber,
    pub created: Date,
    /// 同日分割送信回数: 0 for the first archive of the day to this insurer, up to 9.
    pub split: u8,
}

impl ArchiveHeader {
    /// The root folder name (and the ZIP name without `.zip`).
    pub fn root_name(&self) -> String {
        format!(
            "{}_{}_{}{}_{}",
            self.sender,
            self.receiver,
            yyyymmdd(self.created),
            self.split,
            oid::SERVICE_EVENT_SPECIFIC_CHECKUP
        )
    }

    /// The archive's file name.
    pub fn file_name(&self) -> String {
        format!("{}.zip", self.root_name())
    }

    /// The name of the `serial`-th document under `DATA/`.
    pub fn document_name(&self, serial: u32) -> String {
        format!(
            "h{}{}{}{}{:06}.xml",
            self.sender,
            yyyymmdd(self.created),
            self.split,
            oid::SERVICE_EVENT_SPECIFIC_CHECKUP,
            serial
        )
    }
}

/// A finished archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedArchive {
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub documents: u32,
    pub report: ExportReport,
}

/// Streams documents into an in-memory ZIP.
pub struct ArchiveWriter<'t> {
    header: ArchiveHeader,
    context: DocumentContext,
    items: &'t CheckupItems,
    zip: ZipWriter<Cursor<Vec<u8>>>,
    options: SimpleFileOptions,
    root: String,
    documents: u32,
    report: ExportReport,
    buffer: String,
}

fn zip_failure(_: impl std::error::Error) -> Problem {
    Problem::new(
        ErrorCode::Internal,
        "archive",
        "writing the ZIP archive failed",
    )
}

fn safe_relative_path(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\\')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains(':'))
}

impl<'t> ArchiveWriter<'t> {
    /// Starts an archive. The split number must be a single digit.
    pub fn new(header: ArchiveHeader, items: &'t CheckupItems) -> Result<Self, Problem> {
        if header.split > 9 {
            return Err(Problem::new(
                ErrorCode::InvalidParameter,
                "split",
                "the same-day split number is a single digit (0-9)",
            ));
        }
        let modified = zip::DateTime::from_date_and_time(
            u16::try_from(header.created.year()).unwrap_or(1980),
            u8::from(header.created.month()),
            header.created.day(),
            0,
            0,
            0,
        )
        .unwrap_or_default();
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(COMPRESSION_LEVEL))
            .last_modified_time(modified)
            .unix_permissions(0o644);
        Ok(Self {
            context: DocumentContext {
                sender: header.sender.clone(),
                created: header.created,
            },
            root: header.root_name(),
            header,
            items,
            zip: ZipWriter::new(Cursor::new(Vec::new())),
            options,
            documents: 0,
            report: ExportReport::default(),
            buffer: String::with_capacity(32 * 1024),
        })
    }

    /// Adds a schema file under `XSD/` (e.g. `hc08_V08.xsd`, `coreschemas/voc_hcgv08.xsd`).
    pub fn add_schema(&mut self, relative_path: &str, bytes: &[u8]) -> Result<(), Problem> {
        if !safe_relative_path(relative_path) {
            return Err(Problem::new(
                ErrorCode::TokuteiArchiveUnsafeEntry,
                "schema path",
                "schema path must be relative, without `..`, `:` or backslashes",
            ));
        }
        let name = format!("{}/XSD/{relative_path}", self.root);
        self.zip
            .start_file(name, self.options)
            .map_err(zip_failure)?;
        self.zip.write_all(bytes).map_err(zip_failure)
    }

    /// Adds one person's document. Returns false (and counts it) when none of the results
    /// maps to a checkup item. The member must belong to the receiving insurer.
    pub fn add(&mut self, record: &CheckupRecord<'_>) -> Result<bool, Problem> {
        if record.member.insurer() != &self.header.receiver {
            return Err(Problem::new(
                ErrorCode::TokuteiInsurerMismatch,
                "record.member",
                "the member's insurer number is not the archive's receiver",
            ));
        }
        if self.documents >= MAX_DOCUMENTS {
            return Err(Problem::new(
                ErrorCode::TokuteiArchiveFull,
                "archive",
                "an archive holds at most 999999 documents; start a new split",
            ));
        }
        let written = write_document_into(
            record,
            &self.context,
            self.items,
            &mut self.report,
            &mut self.buffer,
        );
        if !written {
            return Ok(false);
        }
        self.documents += 1;
        let name = format!(
            "{}/DATA/{}",
            self.root,
            self.header.document_name(self.documents)
        );
        self.zip
            .start_file(name, self.options)
            .map_err(zip_failure)?;
        self.zip
            .write_all(self.buffer.as_bytes())
            .map_err(zip_failure)?;
        Ok(true)
    }

    /// Adds one person's results: one document per exam date (the results' effective
    /// dates, in date order), the performer being the first result's facility. Results
    /// without a date cannot be placed in a document and are counted with the results
    /// without code. Returns the number of documents written.
    pub fn add_person(
        &mut self,
        member: &MemberId,
        demographics: &Demographics,
        results: &[LabResult],
    ) -> Result<usize, Problem> {
        let mut by_date: BTreeMap<Date, Vec<LabResult>> = BTreeMap::new();
        for result in results {
            match result.effective.and_then(|e| e.date()) {
                Some(day) => by_date.entry(day).or_default().push(result.clone()),
                None => self.report.without_code += 1,
            }
        }
        let mut written = 0;
        for (day, group) in by_date {
            let performer = group.iter().find_map(|r| r.facility.clone());
            if self.add(&CheckupRecord {
                member,
                demographics,
                exam_date: day,
                performer: performer.as_ref(),
                results: &group,
            })? {
                written += 1;
            }
        }
        Ok(written)
    }

    /// Writes the index and closes the archive.
    pub fn finish(mut self) -> Result<ExportedArchive, Problem> {
        self.buffer.clear();
        write_index(
            &mut self.buffer,
            &self.header.sender,
            &self.header.receiver,
            self.header.created,
            self.documents as usize,
        );
        self.zip
            .start_file(format!("{}/{INDEX_FILE}", self.root), self.options)
            .map_err(zip_failure)?;
        self.zip
            .write_all(self.buffer.as_bytes())
            .map_err(zip_failure)?;
        let bytes = self.zip.finish().map_err(zip_failure)?.into_inner();
        Ok(ExportedArchive {
            file_name: self.header.file_name(),
            bytes,
            documents: self.documents,
            report: self.report,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn names_follow_the_mhlw_archive_rules() {
        let header = ArchiveHeader {
            sender: InstitutionCode::parse("1311234567").unwrap(),
            receiver: InsurerNumber::parse("06139463").unwrap(),
            created: date!(2024 - 05 - 27),
            split: 0,
        };
        assert_eq!(header.file_name(), "1311234567_06139463_202405270_1.zip");
        assert_eq!(header.document_name(1), "h13112345672024052701000001.xml");
        assert_eq!(header.document_name(1).len(), 31);
        let items = CheckupItems::bundled().unwrap();
        let bad = ArchiveHeader {
            split: 10,
            ..header
        };
        assert!(ArchiveWriter::new(bad, items).is_err());
        assert!(!safe_relative_path("../x.xsd"));
        assert!(!safe_relative_path("/x.xsd"));
        assert!(safe_relative_path("coreschemas/voc_hcgv08.xsd"));
    }
}
