//! Writes one 特定健診 CDA document (`hc08_V08.xsd`) for a person and an exam date from
//! their lab results. The XML is written directly (escaped strings into one buffer, no DOM).
//!
//! Structure written (kakari as the file's author, e.g. a clinic returning lab values to
//! the member's insurer):
//!
//! ```text
//! ClinicalDocument            typeId POCD_HD000040, id nullFlavor=NI, code 10 (報告区分 特定健診),
//!                             effectiveTime = creation date, confidentialityCode N
//!   recordTarget/patientRole  id 保険者番号 / 記号 / 番号 / 枝番; patient name, sex, birthTime
//!   author                    time, representedOrganization id = sender (…6.102)
//!   custodian                 representedCustodianOrganization id = sender
//!   documentationOf/serviceEvent  code 010, effectiveTime = exam date, performer organization
//!   component/structuredBody
//!     component/section 01010 (特定健診の項目) then 01990 (追加項目), each: code, empty text,
//!       entry/observation per item, in item-table order; items of a series group
//!       (一連検査グループ) go inside one container observation (code nullFlavor=NA) as
//!       entryRelationship COMP / RSON.
//! ```
//!
//! Only results that resolve to a checkup item (`CheckupItems::item_for_result`) are
//! written; the rest are counted in the `ExportReport` by JLAC10 code. Quantities are put
//! into the item's unit (`CheckupItems::to_item_unit`): spellings keep the literal, real
//! conversions are rounded to the item's format, values without a unit are taken to be in
//! the item's unit and counted. Absent values are written as `nullFlavor` (`negated` as
//! `negationInd="true"`).

use std::collections::HashSet;

use time::Date;

use super::oid;
use super::report::{ExportReport, SkipReason};
use super::xml_out::{is_xml_text, push_attr, push_date, push_text};
use crate::domain::{
    Decimal, Demographics, InstitutionCode, LabResult, LabValue, MemberId, ReferenceRange, Sex,
};
use crate::mapping::checkup_items::{
    CheckupItem, CheckupItems, ItemQuantity, Section, XmlDataType,
};

/// One person's results for one exam date.
#[derive(Debug, Clone, Copy)]
pub struct CheckupRecord<'a> {
    pub member: &'a MemberId,
    pub demographics: &'a Demographics,
    pub exam_date: Date,
    /// The institution that performed the checkup or the tests; the sender when `None`.
    pub performer: Option<&'a InstitutionCode>,
    pub results: &'a [LabResult],
}

/// Who writes the file, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentContext {
    /// The sending institution (10-digit 特定健診機関番号 / medical institution code).
    pub sender: InstitutionCode,
    pub created: Date,
}

/// Writes one document. Returns `None` (and counts it) when no result maps to an item.
pub fn write_document(
    record: &CheckupRecord<'_>,
    context: &DocumentContext,
    items: &CheckupItems,
    report: &mut ExportReport,
) -> Option<Vec<u8>> {
    let mut out = String::new();
    write_document_into(record, context, items, report, &mut out).then(|| out.into_bytes())
}

/// Writes one document into `out` (cleared first). False when nothing was written.
pub(crate) fn write_document_into(
    record: &CheckupRecord<'_>,
    context: &DocumentContext,
    items: &CheckupItems,
    report: &mut ExportReport,
    out: &mut String,
) -> bool {
    out.clear();
    let plan = plan(record, items, report);
    if plan.is_empty() {
        report.documents_without_items += 1;
        return false;
    }
    report.documents += 1;
    report.observations += plan.len();
    header(out, record, context);
    body(out, &plan);
    true
}

#[derive(Debug)]
enum PlannedValue<'a> {
    Quantity(Decimal),
    Coded(&'a str),
    Text(&'a str),
    Null(&'a str),
    Negated,
}

#[derive(Debug)]
struct Planned<'a> {
    position: usize,
    item: &'a CheckupItem,
    value: PlannedValue<'a>,
    flag: Option<&'a str>,
    range: Option<PlannedRange<'a>>,
}

#[derive(Debug)]
struct PlannedRange<'a> {
    low: Option<Decimal>,
    high: Option<Decimal>,
    text: Option<&'a str>,
}

/// HL7 ObservationInterpretation codes kakari writes; others are left out.
const FLAGS: [&str; 12] = [
    "H", "L", "HH", "LL", "A", "AA", "N", "U", "D", "B", "W", "S",
];

fn integer_digits(value: &Decimal) -> usize {
    let text = value.as_str().trim_start_matches('-');
    let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
    mantissa.split('.').next().map_or(0, str::len)
}

fn plan<'a>(
    record: &CheckupRecord<'a>,
    items: &'a CheckupItems,
    report: &mut ExportReport,
) -> Vec<Planned<'a>> {
    let mut planned: Vec<Planned<'a>> = Vec::with_capacity(record.results.len());
    let mut seen: HashSet<&str> = HashSet::with_capacity(record.results.len());
    for result in record.results {
        let Some(found) = items.item_for_result(result) else {
            match result.jlac10() {
                Some(jlac10) => report.unmapped(jlac10),
                None => report.without_code += 1,
            }
            continue;
        };
        let item = found.item;
        let code = item.code.as_str();
        if result
            .effective
            .as_ref()
            .and_then(|at| at.date())
            .is_some_and(|day| day != record.exam_date)
        {
            report.skip(SkipReason::OtherExamDate, code);
            continue;
        }
        if seen.contains(code) {
            report.skip(SkipReason::Duplicate, code);
            continue;
        }
        let Some((value, range)) = planned_value(item, result, items, report) else {
            continue;
        };
        seen.insert(code);
        planned.push(Planned {
            position: items.position(code).unwrap_or(usize::MAX),
            item,
            value,
            flag: result.flag.as_deref().filter(|f| FLAGS.contains(f)),
            range,
        });
    }
    planned.sort_by_key(|p| (p.item.section, p.position));
    planned
}

fn planned_value<'a>(
    item: &'a CheckupItem,
    result: &'a LabResult,
    items: &'a CheckupItems,
    report: &mut ExportReport,
) -> Option<(PlannedValue<'a>, Option<PlannedRange<'a>>)> {
    let code = item.code.as_str();
    let skip = |report: &mut ExportReport, reason| {
        report.skip(reason, code);
        None
    };
    let text_range = |range: &'a Option<ReferenceRange>| {
        range
            .as_ref()
            .and_then(|r| r.text.as_deref())
            .filter(|t| is_xml_text(t))
            .map(|text| PlannedRange {
                low: None,
                high: None,
                text: Some(text),
            })
    };
    match (&result.value, item.data_type) {
        (LabValue::Absent { reason }, _) => {
            let value = match reason.as_deref() {
                Some(oid::NEGATED) => PlannedValue::Negated,
                Some(null) if oid::NULL_FLAVORS.contains(&null) => PlannedValue::Null(null),
                _ => PlannedValue::Null("NI"),
            };
            Some((value, None))
        }
        (
            LabValue::Quantity {
                value,
                comparator,
                unit,
                ..
            },
            XmlDataType::Pq,
        ) => {
            if comparator.is_some() {
                return skip(report, SkipReason::Comparator);
            }
            let quantity = match items.to_item_unit(item, value, unit.as_deref()) {
                Ok(q) => q,
                Err(_) => return skip(report, SkipReason::UnitNotConvertible),
            };
            if item
                .integer_digits()
                .is_some_and(|max| integer_digits(quantity.value()) > max)
            {
                return skip(report, SkipReason::OutOfFormat);
            }
            match quantity {
                ItemQuantity::Converted(_) => report.converted(code),
                ItemQuantity::Assumed(_) => report.unit_assumed(code),
                ItemQuantity::Same(_) => {}
            }
            let range = result.reference_range.as_ref().and_then(|r| {
                let bound = |b: &Option<Decimal>| {
                    b.as_ref()
                        .and_then(|d| items.to_item_unit(item, d, unit.as_deref()).ok())
                        .map(|q| q.value().clone())
                };
                let planned = PlannedRange {
                    low: bound(&r.low),
                    high: bound(&r.high),
                    text: r.text.as_deref().filter(|t| is_xml_text(t)),
                };
                (planned.low.is_some() || planned.high.is_some() || planned.text.is_some())
                    .then_some(planned)
            });
            let value = match quantity {
                ItemQuantity::Same(v) | ItemQuantity::Converted(v) | ItemQuantity::Assumed(v) => v,
            };
            Some((PlannedValue::Quantity(value), range))
        }
        (LabValue::Coded(coding), XmlDataType::Cd | XmlDataType::Co) => {
            let system_ok = item
                .result_oid
                .as_deref()
                .is_some_and(|oid| coding.system.strip_prefix("urn:oid:") == Some(oid));
            let code_ok = !coding.code.is_empty()
                && !coding.code.chars().any(char::is_whitespace)
                && is_xml_text(&coding.code);
            if !system_ok || !code_ok {
                return skip(report, SkipReason::ValueType);
            }
            Some((
                PlannedValue::Coded(&coding.code),
                text_range(&result.reference_range),
            ))
        }
        (LabValue::Text(text), XmlDataType::St) => {
            let too_long = item
                .max_text_len()
                .is_some_and(|max| text.chars().count() > max);
            if too_long || !is_xml_text(text) {
                return skip(report, SkipReason::OutOfFormat);
            }
            Some((
                PlannedValue::Text(text),
                text_range(&result.reference_range),
            ))
        }
        _ => skip(report, SkipReason::ValueType),
    }
}

fn open_id(out: &mut String, root: &str, extension: &str) {
    out.push_str("<id");
    push_attr(out, "root", root);
    push_attr(out, "extension", extension);
    out.push_str("/>");
}

fn header(out: &mut String, record: &CheckupRecord<'_>, context: &DocumentContext) {
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ClinicalDocument xmlns=\"");
    out.push_str(oid::HL7_NS);
    out.push_str(
        "\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"",
    );
    out.push_str(oid::HL7_NS);
    out.push_str(" ../XSD/hc08_V08.xsd\">");
    out.push_str("<typeId");
    push_attr(out, "root", oid::CDA_TYPE_ID);
    out.push_str(" extension=\"POCD_HD000040\"/><id nullFlavor=\"NI\"/><code");
    push_attr(out, "code", oid::REPORT_SPECIFIC_CHECKUP);
    push_attr(out, "codeSystem", oid::REPORT_CATEGORY);
    out.push_str("/><effectiveTime value=\"");
    push_date(out, context.created);
    out.push_str("\"/><confidentialityCode code=\"N\"");
    push_attr(out, "codeSystem", oid::CONFIDENTIALITY);
    out.push_str("/>");

    out.push_str("<recordTarget><patientRole>");
    let member = record.member;
    open_id(out, oid::INSURER, member.insurer().as_str());
    open_id(out, oid::CARD_SYMBOL, member.symbol());
    open_id(out, oid::CARD_NUMBER, member.number());
    if let Some(branch) = member.branch() {
        open_id(out, oid::CARD_BRANCH, branch);
    }
    let demographics = record.demographics;
    let name = demographics
        .name_kana
        .as_deref()
        .or(demographics.name.as_deref())
        .filter(|n| is_xml_text(n));
    let sex = match demographics.sex {
        Some(Sex::Male) => Some("1"),
        Some(Sex::Female) => Some("2"),
        _ => None,
    };
    if name.is_some() || sex.is_some() || demographics.birth_date.is_some() {
        out.push_str("<patient>");
        if let Some(name) = name {
            out.push_str("<name>");
            push_text(out, name);
            out.push_str("</name>");
        }
        if let Some(sex) = sex {
            out.push_str("<administrativeGenderCode");
            push_attr(out, "code", sex);
            push_attr(out, "codeSystem", oid::SEX);
            out.push_str("/>");
        }
        if let Some(birth) = demographics.birth_date {
            out.push_str("<birthTime value=\"");
            push_date(out, birth);
            out.push_str("\"/>");
        }
        out.push_str("</patient>");
    }
    out.push_str("</patientRole></recordTarget>");

    out.push_str("<author><time value=\"");
    push_date(out, context.created);
    out.push_str("\"/><assignedAuthor><id nullFlavor=\"NI\"/><representedOrganization>");
    open_id(out, oid::CHECKUP_PROVIDER, context.sender.as_str());
    out.push_str("</representedOrganization></assignedAuthor></author>");
    out.push_str("<custodian><assignedCustodian><representedCustodianOrganization>");
    open_id(out, oid::CHECKUP_PROVIDER, context.sender.as_str());
    out.push_str("</representedCustodianOrganization></assignedCustodian></custodian>");

    out.push_str("<documentationOf><serviceEvent><code");
    push_attr(out, "code", oid::PROGRAM_SPECIFIC_CHECKUP);
    push_attr(out, "codeSystem", oid::PROGRAM_TYPE);
    out.push_str("/><effectiveTime value=\"");
    push_date(out, record.exam_date);
    out.push_str(
        "\"/><performer typeCode=\"PRF\"><assignedEntity><id nullFlavor=\"NI\"/><representedOrganization>",
    );
    let performer = record.performer.unwrap_or(&context.sender);
    open_id(out, oid::CHECKUP_PROVIDER, performer.as_str());
    out.push_str(
        "</representedOrganization></assignedEntity></performer></serviceEvent></documentationOf>",
    );
}

fn body(out: &mut String, plan: &[Planned<'_>]) {
    out.push_str("<component><structuredBody>");
    for section in [Section::SpecificCheckup, Section::Additional] {
        let entries: Vec<&Planned<'_>> =
            plan.iter().filter(|p| p.item.section == section).collect();
        if entries.is_empty() {
            continue;
        }
        out.push_str("<component><section><code");
        push_attr(out, "code", section.code());
        push_attr(out, "codeSystem", oid::SECTION);
        out.push_str("/><text/>");
        let mut groups_done: HashSet<&str> = HashSet::new();
        for planned in &entries {
            match (&planned.item.group, planned.item.group_relation) {
                (Some(group), Some(_)) => {
                    if !groups_done.insert(group.as_str()) {
                        continue;
                    }
                    out.push_str("<entry><observation classCode=\"OBS\" moodCode=\"EVN\"><code nullFlavor=\"NA\"/>");
                    for member in entries
                        .iter()
                        .filter(|p| p.item.group.as_deref() == Some(group.as_str()))
                    {
                        let relation = member.item.group_relation.map_or("COMP", |r| r.type_code());
                        out.push_str("<entryRelationship");
                        push_attr(out, "typeCode", relation);
                        out.push('>');
                        observation(out, member);
                        out.push_str("</entryRelationship>");
                    }
                    out.push_str("</observation></entry>");
                }
                _ => {
                    out.push_str("<entry>");
                    observation(out, planned);
                    out.push_str("</entry>");
                }
            }
        }
        out.push_str("</section></component>");
    }
    out.push_str("</structuredBody></component></ClinicalDocument>\n");
}

fn quantity(out: &mut String, element: &str, value: &Decimal, unit: Option<&str>) {
    out.push('<');
    out.push_str(element);
    push_attr(out, "value", value.as_str());
    if let Some(unit) = unit {
        push_attr(out, "unit", unit);
    }
    out.push_str("/>");
}

fn observation(out: &mut String, planned: &Planned<'_>) {
    let item = planned.item;
    out.push_str("<observation classCode=\"OBS\" moodCode=\"EVN\"");
    if matches!(planned.value, PlannedValue::Negated) {
        out.push_str(" negationInd=\"true\"");
    }
    out.push_str("><code");
    push_attr(out, "code", &item.code);
    push_attr(out, "codeSystem", oid::CHECKUP_ITEM);
    push_attr(out, "displayName", &item.name);
    out.push_str("/>");
    let xsi_type = item.data_type.as_str();
    match &planned.value {
        PlannedValue::Quantity(value) => {
            out.push_str("<value xsi:type=\"PQ\"");
            push_attr(out, "value", value.as_str());
            if let Some(unit) = &item.ucum {
                push_attr(out, "unit", unit);
            }
            out.push_str("/>");
        }
        PlannedValue::Coded(code) => {
            out.push_str("<value");
            push_attr(out, "xsi:type", xsi_type);
            push_attr(out, "code", code);
            if let Some(system) = &item.result_oid {
                push_attr(out, "codeSystem", system);
            }
            out.push_str("/>");
        }
        PlannedValue::Text(text) => {
            out.push_str("<value xsi:type=\"ST\">");
            push_text(out, text);
            out.push_str("</value>");
        }
        PlannedValue::Null(null_flavor) => {
            out.push_str("<value");
            push_attr(out, "xsi:type", xsi_type);
            push_attr(out, "nullFlavor", null_flavor);
            out.push_str("/>");
        }
        PlannedValue::Negated => {}
    }
    if let Some(flag) = planned.flag {
        out.push_str("<interpretationCode");
        push_attr(out, "code", flag);
        out.push_str("/>");
    }
    if let Some(method) = &item.method_code {
        out.push_str("<methodCode");
        push_attr(out, "code", method);
        out.push_str("/>");
    }
    if let Some(range) = &planned.range {
        out.push_str("<referenceRange><observationRange>");
        if let Some(text) = range.text {
            out.push_str("<text>");
            push_text(out, text);
            out.push_str("</text>");
        }
        if range.low.is_some() || range.high.is_some() {
            out.push_str("<value xsi:type=\"IVL_PQ\">");
            let unit = item.ucum.as_deref();
            if let Some(low) = &range.low {
                quantity(out, "low", low, unit);
            }
            if let Some(high) = &range.high {
                quantity(out, "high", high, unit);
            }
            out.push_str("</value>");
        }
        out.push_str("</observationRange></referenceRange>");
    }
    out.push_str("</observation>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::code_system::{Coding, KnownSystem};
    use crate::domain::{FhirDateTime, SubjectRef};
    use time::macros::date;

    fn lab(member: &MemberId, jlac10: &str, value: LabValue) -> LabResult {
        let mut result = LabResult::new(SubjectRef::Member(member.clone()), value);
        result
            .codes
            .push(Coding::new(KnownSystem::Jlac10.uri(), jlac10, None));
        result
    }

    fn quantity(value: &str, unit: Option<&str>) -> LabValue {
        LabValue::Quantity {
            value: Decimal::parse(value).unwrap(),
            comparator: None,
            unit: unit.map(str::to_owned),
            unit_code: None,
            unit_system: None,
        }
    }

    #[test]
    fn writes_mapped_results_and_counts_the_rest() {
        let items = CheckupItems::bundled().unwrap();
        let member = MemberId::parse("06139463:１２:３４５:01").unwrap();
        let demographics = Demographics::default();
        let mut results = vec![
            lab(&member, "3D046000001906202", quantity("5.60", Some("%"))),
            lab(&member, "5C105000002306101", quantity("1", None)),
            lab(
                &member,
                "3F015000002327101",
                quantity("1.70", Some("mmol/L")),
            ),
            lab(&member, "3D046000001906202", quantity("5.7", Some("%"))),
            lab(&member, "3B035000002327201", quantity("20", Some("kat/L"))),
        ];
        results[4].effective = Some(FhirDateTime::Date(date!(2024 - 04 - 05)));
        let record = CheckupRecord {
            member: &member,
            demographics: &demographics,
            exam_date: date!(2024 - 04 - 04),
            performer: None,
            results: &results,
        };
        let context = DocumentContext {
            sender: InstitutionCode::parse("1311234567").unwrap(),
            created: date!(2024 - 05 - 01),
        };
        let mut report = ExportReport::default();
        let xml = String::from_utf8(write_document(&record, &context, items, &mut report).unwrap())
            .unwrap();
        assert!(xml.contains("value=\"5.60\" unit=\"%\""), "{xml}");
        assert!(xml.contains("value=\"151\" unit=\"mg/dL\""), "{xml}");
        assert!(xml.contains("extension=\"12\""));
        assert_eq!(report.observations, 2);
        assert_eq!(report.unmapped["5C105000002306101"], 1);
        assert_eq!(
            report.skipped[&SkipReason::Duplicate]["3D046000001906202"],
            1
        );
        assert_eq!(
            report.skipped[&SkipReason::OtherExamDate]["3B035000002327201"],
            1
        );
        assert_eq!(report.converted["3F015000002327101"], 1);

        let only_unmapped = [lab(&member, "5C105000002306101", quantity("1", None))];
        let record = CheckupRecord {
            results: &only_unmapped,
            ..record
        };
        assert!(write_document(&record, &context, items, &mut report).is_none());
        assert_eq!(report.documents_without_items, 1);
    }

    #[test]
    fn counts_integer_digits_of_literals() {
        assert_eq!(integer_digits(&Decimal::parse("-123.45").unwrap()), 3);
        assert_eq!(integer_digits(&Decimal::parse("0.5").unwrap()), 1);
    }
}
