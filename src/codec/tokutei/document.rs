//! A 特定健診 document as kakari reads it: who, when, where, and one lab result per
//! observation.

use time::Date;

use crate::domain::{Demographics, InstitutionCode, LabResult, MemberId};
use crate::error::Issue;

/// One checkup document (one person, one exam date).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckupDocument {
    /// From the insurer number, 記号, 番号 and 枝番 identifiers of `recordTarget`.
    pub member: MemberId,
    /// Birth date and sex; the name is kept as written (usually カナ, in `name_kana`).
    pub demographics: Demographics,
    /// 健診実施日 (`documentationOf/serviceEvent/effectiveTime`).
    pub exam_date: Option<Date>,
    /// The institution that performed the checkup (serviceEvent performer).
    pub performer: Option<InstitutionCode>,
    /// The institution that created the file (author).
    pub author: Option<InstitutionCode>,
    /// 報告区分 (`10` = 特定健診).
    pub report_category: Option<String>,
    /// 健診プログラム種別 (`010` = 特定健診).
    pub program: Option<String>,
    /// One result per observation, in document order; subject is the member.
    pub results: Vec<LabResult>,
}

/// The outcome of reading one document: the document when the person could be
/// identified, and every issue found. An `Error` issue next to a document marks a part
/// that was not taken (an observation, the exam date); without a document, the issues say
/// why the file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRead {
    pub document: Option<CheckupDocument>,
    pub issues: Vec<Issue>,
}
