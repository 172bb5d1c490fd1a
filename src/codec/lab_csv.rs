//! The CSV layout of pulled lab values (one row per result, UTF-8, header row):
//!
//! `result_id, member_id, date, item_code, jlac10, item_name, value, unit, range_low,
//! range_high, range_text, flag, facility`
//!
//! * `result_id`: kakari's feed number of the result (increasing in commit order);
//! * `member_id`: `保険者番号:記号:番号[:枝番]`;
//! * `date`: the day the specimen was taken or the measurement made (Japan time);
//! * `item_code`: the 特定健診 item code when the result maps to one, else empty;
//! * `value`: as recorded (decimals keep their precision; coded values their code, text
//!   values their text; empty when absent).

use crate::domain::{LabResult, LabValue, MemberId};
use crate::mapping::checkup_items::CheckupItems;

pub const HEADER: &[&str] = &[
    "result_id",
    "member_id",
    "date",
    "item_code",
    "jlac10",
    "item_name",
    "value",
    "unit",
    "range_low",
    "range_high",
    "range_text",
    "flag",
    "facility",
];

/// Writes the header row.
pub fn header() -> Vec<u8> {
    row(HEADER.iter().map(|s| (*s).to_owned()).collect())
}

fn row(fields: Vec<String>) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let _ = w.write_record(&fields);
    w.into_inner().unwrap_or_default()
}

/// One result as a CSV row.
pub fn result_row(
    seq: i64,
    member: &MemberId,
    result: &LabResult,
    items: &CheckupItems,
) -> Vec<u8> {
    let date = result
        .effective
        .and_then(|e| e.date())
        .map(|d| format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day()))
        .unwrap_or_default();
    let item = items.item_for_result(result).map(|m| m.item);
    let (value, unit) = match &result.value {
        LabValue::Quantity {
            value,
            comparator,
            unit,
            ..
        } => (
            format!("{}{}", comparator.as_deref().unwrap_or(""), value.as_str()),
            unit.clone().unwrap_or_default(),
        ),
        LabValue::Coded(c) => (c.code.clone(), String::new()),
        LabValue::Text(t) => (t.clone(), String::new()),
        LabValue::Absent { .. } => (String::new(), String::new()),
    };
    let range = result.reference_range.as_ref();
    row(vec![
        seq.to_string(),
        member.key(),
        date,
        item.map(|i| i.code.clone()).unwrap_or_default(),
        result.jlac10().unwrap_or_default().to_owned(),
        result
            .name
            .clone()
            .or_else(|| item.map(|i| i.name.clone()))
            .unwrap_or_default(),
        value,
        unit,
        range
            .and_then(|r| r.low.as_ref())
            .map(|d| d.as_str().to_owned())
            .unwrap_or_default(),
        range
            .and_then(|r| r.high.as_ref())
            .map(|d| d.as_str().to_owned())
            .unwrap_or_default(),
        range.and_then(|r| r.text.clone()).unwrap_or_default(),
        result.flag.clone().unwrap_or_default(),
        result
            .facility
            .as_ref()
            .map(|f| f.as_str().to_owned())
            .unwrap_or_default(),
    ])
}
