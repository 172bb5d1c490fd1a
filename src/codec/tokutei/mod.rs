//! 特定健診 XML: the MHLW electronic standard format for specific health checkups
//! (「特定健診・特定保健指導の電子的な標準様式」, V08 schemas), as insurers' systems read and
//! write it. One HL7 CDA R2 document per person and exam date (`hc08_V08.xsd`), shipped in a
//! ZIP with an index (`ix08_V08.xsd`).
//!
//! * Intake: `read_submission` takes a ZIP in the MHLW layout or a single document and
//!   returns the documents (member, demographics, exam date, institution, one `LabResult`
//!   per observation) with located issues; `read_document` reads one document.
//! * Export: `ArchiveWriter` streams one document per person and exam date into a ZIP in
//!   the MHLW layout with its index; `write_document` writes one document. Results that do
//!   not map to a checkup item are left out and counted in an `ExportReport`.
//!
//! Reading never resolves DTDs or entities, caps sizes and depths, and never panics. The
//! item codes, units and JLAC10 mapping come from `mapping::checkup_items`. The structures
//! read and written, the mapping rules and the limits are described in `docs/tokutei.md`.

mod archive_reader;
mod archive_writer;
mod document;
mod index;
mod location;
pub mod oid;
mod reader;
mod report;
mod safe_xml;
mod writer;
mod xml_out;

pub use archive_reader::{ArchiveDocument, ArchiveRead, ReadLimits, read_archive, read_submission};
pub use archive_writer::{ArchiveHeader, ArchiveWriter, ExportedArchive, MAX_DOCUMENTS};
pub use document::{CheckupDocument, DocumentRead};
pub use index::{ArchiveIndex, INDEX_FILE};
pub use reader::read_document;
pub use report::{ExportReport, SkipReason};
pub use safe_xml::DocumentLimits;
pub use writer::{CheckupRecord, DocumentContext, write_document};
