//! OUL^R22 (OML-11), ORU^R01 and the OBX of ADT-00 → `LabResult`s, per ConceptMaps
//! `segment-oml-11-obx-to-observation` and `segment-adt-00-obx-to-observation`.
//!
//! One result per OBX: codes OBX-3 (JLAC10 `JC10` and the local code, both kept), value by
//! OBX-2 (NM keeps its literal precision, SN and comparator-prefixed NM become a quantity
//! with a comparator, ST/TX/FT text, CWE/CE a coding), unit OBX-6, reference range OBX-7
//! (`low-high`, `<x`, `>x`, else text), flag OBX-8 (table 0078), status OBX-11 (table
//! 0085), effective time SPM-17 of the specimen (else OBX-14, else OBR-7), specimen type
//! SPM-4, performer OBX-16 (else the producer OBX-15).

use super::values;
use super::{ClinicalRecord, Context, MappedRecord};
use crate::codec::hl7v2::message::{Segment, Value};
use crate::domain::{Coding, Decimal, FhirDateTime, LabResult, LabValue, ReferenceRange};
use crate::error::{ErrorCode, Issue};

/// HL7 table 0078 (abnormal flags), v2.5.
const ABNORMAL_FLAGS: &[&str] = &[
    "L", "H", "LL", "HH", "<", ">", "N", "A", "AA", "U", "D", "B", "W", "S", "R", "I", "MS", "VS",
    "POS", "NEG", "IND", "DET", "ND", "AC", "RR", "QCF", "TOX", "EX", "HX", "LX",
];

/// What the enclosing SPM and OBR say about the results that follow them.
#[derive(Default, Clone)]
struct Specimen {
    collected: Option<FhirDateTime>,
    kind: Option<Coding>,
    observed: Option<FhirDateTime>,
}

/// Lab results of an OUL^R22.
pub(super) fn results(
    context: &Context<'_, '_>,
    records: &mut Vec<MappedRecord>,
    issues: &mut Vec<Issue>,
) {
    let mut specimen = Specimen::default();
    for segment in context.message.segments() {
        match segment.name().as_str() {
            "SPM" => {
                specimen = Specimen {
                    collected: values::timestamp(&segment.field(17), issues),
                    kind: values::codings(&segment.field(4), context.facility)
                        .into_iter()
                        .next(),
                    observed: None,
                };
            }
            "OBR" => specimen.observed = values::timestamp(&segment.field(7), issues),
            "OBX" => {
                if let Some(result) = result(context, &segment, &specimen, "laboratory", issues) {
                    records.push(result);
                }
            }
            _ => {}
        }
    }
}

/// Lab results of an ORU^R01, as laboratories and analysers send them: one per OBX like
/// OUL^R22, with the same readings. The specimen comes from OBR-15 (v2.3–2.6) or from the
/// SPM that closes the OBR group (v2.5 and later); the effective time from OBX-14, else
/// OBR-7, else the specimen's collection time SPM-17.
pub(super) fn observation_results(
    context: &Context<'_, '_>,
    records: &mut Vec<MappedRecord>,
    issues: &mut Vec<Issue>,
) {
    let mut order = Specimen::default();
    let mut closing: Option<Specimen> = None;
    let mut pending: Vec<MappedRecord> = Vec::new();
    for segment in context.message.segments() {
        match segment.name().as_str() {
            "OBR" => {
                finish_group(&mut pending, closing.take(), records);
                order = Specimen {
                    collected: None,
                    kind: values::sub_codings(&segment.field(15).component(1), context.facility)
                        .into_iter()
                        .next(),
                    observed: values::timestamp(&segment.field(7), issues),
                };
            }
            "SPM" => {
                closing = Some(Specimen {
                    collected: values::timestamp(&segment.field(17), issues),
                    kind: values::codings(&segment.field(4), context.facility)
                        .into_iter()
                        .next(),
                    observed: None,
                });
            }
            "OBX" => {
                if let Some(result) = result(context, &segment, &order, "laboratory", issues) {
                    pending.push(result);
                }
            }
            _ => {}
        }
    }
    finish_group(&mut pending, closing, records);
}

/// Gives the results of one OBR group what its closing SPM says, where they lack it.
fn finish_group(
    pending: &mut Vec<MappedRecord>,
    specimen: Option<Specimen>,
    records: &mut Vec<MappedRecord>,
) {
    for mut mapped in pending.drain(..) {
        if let (ClinicalRecord::Lab(result), Some(specimen)) = (&mut mapped.record, &specimen) {
            if result.specimen.is_none() {
                result.specimen.clone_from(&specimen.kind);
            }
            if result.effective.is_none() {
                result.effective = specimen.collected;
            }
        }
        records.push(mapped);
    }
}

/// Observations carried by an ADT^A08 (height, weight, blood type …). JLAC10 codes of
/// the `9N` family are vital signs, the rest laboratory results.
pub(super) fn observations(
    context: &Context<'_, '_>,
    records: &mut Vec<MappedRecord>,
    issues: &mut Vec<Issue>,
) {
    for obx in context.message.segments().filter(|s| s.name() == "OBX") {
        let category = if obx.field(3).component(1).raw().starts_with("9N") {
            "vital-signs"
        } else {
            "laboratory"
        };
        if let Some(result) = result(context, &obx, &Specimen::default(), category, issues) {
            records.push(result);
        }
    }
}

fn result(
    context: &Context<'_, '_>,
    obx: &Segment<'_>,
    specimen: &Specimen,
    category: &str,
    issues: &mut Vec<Issue>,
) -> Option<MappedRecord> {
    let code = obx.field(3);
    let codes = values::codings(&code, context.facility);
    if codes.is_empty() {
        issues.push(Issue::error(
            ErrorCode::Hl7RequiredMissing,
            code.location().to_string(),
            "observation code is empty",
        ));
        return None;
    }
    let value = value(context, obx, issues);
    let mut result = LabResult::new(context.subject.clone(), value);
    result.codes = codes;
    result.name = values::text(&code.component(2), issues);
    result.reference_range = reference_range(&obx.field(7));
    result.flag = flag(&obx.field(8).repetition(1), issues);
    result.status = status(&obx.field(11), issues);
    let observed = values::timestamp(&obx.field(14), issues);
    result.effective = specimen.collected.or(observed).or(specimen.observed);
    result.performer = values::person(&obx.field(16)).or_else(|| {
        obx.field(15)
            .component(1)
            .non_empty()
            .map(|p| p.into_owned())
    });
    result.facility = Some(context.facility.clone());
    result.specimen = specimen.kind.clone();
    result.category = Some(category.to_owned());
    Some(MappedRecord {
        location: obx.location().to_string(),
        record: ClinicalRecord::Lab(result),
    })
}

fn value(context: &Context<'_, '_>, obx: &Segment<'_>, issues: &mut Vec<Issue>) -> LabValue {
    let field = obx.field(5);
    if field.is_empty() {
        return LabValue::Absent { reason: None };
    }
    let value_type = obx.field(2).component(1).text();
    let first = field.repetition(1);
    match value_type.as_ref() {
        "NM" => numeric(context, obx, &first, issues),
        "SN" => structured_numeric(context, obx, &first, issues),
        "CWE" | "CE" | "CNE" => values::codings(&first, context.facility)
            .into_iter()
            .next()
            .map_or(LabValue::Absent { reason: None }, LabValue::Coded),
        "ST" | "TX" | "FT" | "" => {
            if value_type.is_empty() {
                issues.push(Issue::error(
                    ErrorCode::Hl7RequiredMissing,
                    obx.field(2).location().to_string(),
                    "value type is empty while a value is given; read as text",
                ));
            }
            let texts: Vec<String> = field
                .repetitions()
                .filter_map(|r| values::text(&r, issues))
                .collect();
            LabValue::Text(texts.join("\n"))
        }
        _ => LabValue::Text(field.text().into_owned()),
    }
}

fn numeric(
    context: &Context<'_, '_>,
    obx: &Segment<'_>,
    value: &Value<'_>,
    issues: &mut Vec<Issue>,
) -> LabValue {
    let text = value.text();
    if let Some((comparator, number)) = split_comparator(&text)
        && let Ok(decimal) = Decimal::parse_lenient(number)
    {
        issues.push(Issue::warning(
                ErrorCode::Hl7InvalidValue,
                value.location().to_string(),
                "NM value has a comparator prefix; read as a quantity with comparator (SN is the type for this)",
            ));
        return quantity(context, obx, decimal, Some(comparator));
    }
    match values::decimal(value, issues) {
        Some(decimal) => quantity(context, obx, decimal, None),
        None => LabValue::Text(text.into_owned()),
    }
}

/// SN: `comparator^number[^separator^number]`; SS-MIX2 (NHO) also writes `< 0.5`.
fn structured_numeric(
    context: &Context<'_, '_>,
    obx: &Segment<'_>,
    value: &Value<'_>,
    issues: &mut Vec<Issue>,
) -> LabValue {
    let separator = value.component(3);
    if !separator.is_empty() {
        return LabValue::Text(value.text().into_owned());
    }
    let comparator = value.component(1).text();
    let number = value.component(2).text();
    let (comparator, number) = if number.is_empty() {
        match split_comparator(comparator.trim()) {
            Some((c, n)) => (c.to_owned(), n.trim().to_owned()),
            None => (String::new(), comparator.trim().to_owned()),
        }
    } else {
        (comparator.trim().to_owned(), number.into_owned())
    };
    match Decimal::parse_lenient(&number) {
        Ok(decimal) => quantity(
            context,
            obx,
            decimal,
            (!comparator.is_empty() && comparator != "=").then_some(comparator.as_str()),
        ),
        Err(_) => {
            issues.push(Issue::error(
                ErrorCode::Hl7InvalidValue,
                value.location().to_string(),
                "structured numeric (SN) value has no number",
            ));
            LabValue::Text(value.text().into_owned())
        }
    }
}

fn split_comparator(text: &str) -> Option<(&str, &str)> {
    ["<=", ">=", "<>", "<", ">", "≦", "≧", "＜", "＞"]
        .into_iter()
        .find_map(|c| text.strip_prefix(c).map(|rest| (c, rest.trim_start())))
        .map(|(c, rest)| {
            let c = match c {
                "≦" => "<=",
                "≧" => ">=",
                "＜" => "<",
                "＞" => ">",
                other => other,
            };
            (c, rest)
        })
}

fn quantity(
    context: &Context<'_, '_>,
    obx: &Segment<'_>,
    value: Decimal,
    comparator: Option<&str>,
) -> LabValue {
    let unit = obx.field(6);
    let coding = values::codings(&unit, context.facility).into_iter().next();
    LabValue::Quantity {
        value,
        comparator: comparator.map(str::to_owned),
        unit: values::display_text(&unit),
        unit_code: coding.as_ref().map(|c| c.code.clone()),
        unit_system: coding.map(|c| c.system),
    }
}

/// OBX-7: `low-high`, `<x` / `<=x` (high), `>x` / `>=x` (low), else text.
fn reference_range(value: &Value<'_>) -> Option<ReferenceRange> {
    let text = value.non_empty()?;
    let trimmed = text.trim();
    let parse = |s: &str| Decimal::parse_lenient(s).ok();
    if let Some((comparator, number)) = split_comparator(trimmed)
        && let Some(bound) = parse(number)
    {
        return Some(if comparator.starts_with('<') {
            ReferenceRange {
                high: Some(bound),
                ..ReferenceRange::default()
            }
        } else {
            ReferenceRange {
                low: Some(bound),
                ..ReferenceRange::default()
            }
        });
    }
    let split = trimmed
        .char_indices()
        .skip(1)
        .find(|&(_, c)| matches!(c, '-' | '～' | '〜' | '−'))
        .and_then(|(i, c)| Some((trimmed.get(..i)?, trimmed.get(i + c.len_utf8()..)?)));
    if let Some((low, high)) = split
        && let (Some(low), Some(high)) = (parse(low), parse(high))
    {
        return Some(ReferenceRange {
            low: Some(low),
            high: Some(high),
            text: None,
        });
    }
    Some(ReferenceRange {
        text: Some(trimmed.to_owned()),
        ..ReferenceRange::default()
    })
}

fn flag(value: &Value<'_>, issues: &mut Vec<Issue>) -> Option<String> {
    let code = value.component(1).non_empty()?;
    if !ABNORMAL_FLAGS.contains(&code.as_ref()) {
        values::unknown_code(value, "0078", issues);
    }
    Some(code.into_owned())
}

/// OBX-11 (HL7 table 0085) → FHIR observation status.
fn status(value: &Value<'_>, issues: &mut Vec<Issue>) -> Option<String> {
    let code = value.component(1).non_empty()?;
    let status = match code.as_ref() {
        "F" | "U" => "final",
        "C" => "corrected",
        "P" | "R" | "S" => "preliminary",
        "I" | "O" => "registered",
        "X" => "cancelled",
        "D" | "W" => "entered-in-error",
        "N" => "unknown",
        _ => {
            values::unknown_code(value, "0085", issues);
            return None;
        }
    };
    Some(status.to_owned())
}
