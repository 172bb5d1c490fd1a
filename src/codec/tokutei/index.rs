//! The archive index `ix08_V08.xml` (交換用基本情報, `ix08_V08.xsd`): kind of exchange,
//! creation date, sender, receiver, 実施区分 and the number of files in the archive.

use std::fmt::Write;

use time::Date;

use super::oid;
use super::safe_xml::{DocumentLimits, Node, SafeReader, decode};
use super::xml_out::{push_attr, push_date};
use crate::domain::{FhirDateTime, InstitutionCode, InsurerNumber};
use crate::error::{ErrorCode, Issue};

/// The file name of the index inside the archive.
pub const INDEX_FILE: &str = "ix08_V08.xml";

/// The index as read. Identifiers are institution and insurer numbers, not patient data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveIndex {
    /// 種別コード (別表1): `6` = 健診機関から保険者, `3` = 代行機関から保険者, …
    pub interaction_type: Option<String>,
    pub created: Option<Date>,
    /// Sender id (`sender/id/@extension`): an institution, agency or insurer number.
    pub sender: Option<String>,
    pub receiver: Option<String>,
    /// 実施区分コード (別表3): `1` = 特定健診.
    pub service_event_type: Option<String>,
    /// 総ファイル数: data and settlement files in the archive.
    pub total_record_count: Option<u64>,
}

/// Reads an index file.
pub(crate) fn read_index(bytes: &[u8], limits: &DocumentLimits) -> Result<ArchiveIndex, Issue> {
    let text = decode(bytes)?;
    let mut reader = SafeReader::new(&text, oid::MHLW_NS, *limits);
    let mut index = ArchiveIndex::default();
    loop {
        match reader.next()? {
            Node::End => break,
            Node::Open => {}
            Node::Close | Node::Text(_) => continue,
        }
        let depth = reader.path.depth();
        let element = reader.element();
        if depth == 1 && !(element.in_ns && element.local == "index") {
            return Err(reader.path_issue(
                ErrorCode::TokuteiIndexMismatch,
                "the root element must be index in the MHLW namespace",
            ));
        }
        if !element.in_ns {
            continue;
        }
        let (local, attrs) = (&element.local, &element.attrs);
        let attr = |name: &str| attrs.get(name).map(str::to_owned);
        match (depth, local.as_str()) {
            (2, "interactionType") => index.interaction_type = attr("code"),
            (2, "creationTime") => {
                index.created = attrs
                    .get("value")
                    .and_then(|v| FhirDateTime::parse_hl7(v).ok())
                    .and_then(|d| d.date());
            }
            (2, "serviceEventType") => index.service_event_type = attr("code"),
            (2, "totalRecordCount") => {
                index.total_record_count = attrs.get("value").and_then(|v| v.parse().ok());
            }
            (3, "id") if reader.path.is(&["index", "sender", "id"]) => {
                index.sender = attr("extension");
            }
            (3, "id") if reader.path.is(&["index", "receiver", "id"]) => {
                index.receiver = attr("extension");
            }
            _ => {}
        }
    }
    Ok(index)
}

/// Writes an index for `total` files sent by a checkup institution to an insurer.
pub(crate) fn write_index(
    out: &mut String,
    sender: &InstitutionCode,
    receiver: &InsurerNumber,
    created: Date,
    total: usize,
) {
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<index xmlns=\"");
    out.push_str(oid::MHLW_NS);
    out.push_str(
        "\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"",
    );
    out.push_str(oid::MHLW_NS);
    out.push_str(" ./XSD/ix08_V08.xsd\">");
    out.push_str("<interactionType");
    push_attr(out, "code", oid::INTERACTION_PROVIDER_TO_INSURER);
    out.push_str("/><creationTime value=\"");
    push_date(out, created);
    out.push_str("\"/><sender><id");
    push_attr(out, "root", oid::CHECKUP_PROVIDER);
    push_attr(out, "extension", sender.as_str());
    out.push_str("/></sender><receiver><id");
    push_attr(out, "root", oid::INSURER);
    push_attr(out, "extension", receiver.as_str());
    out.push_str("/></receiver><serviceEventType");
    push_attr(out, "code", oid::SERVICE_EVENT_SPECIFIC_CHECKUP);
    out.push_str("/><totalRecordCount value=\"");
    let _ = write!(out, "{total}");
    out.push_str("\"/></index>\n");
}
