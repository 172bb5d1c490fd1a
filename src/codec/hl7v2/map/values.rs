//! Typed readings of HL7 v2 data types shared by every message family: CWE/CE codings,
//! DTM timestamps, NM numbers, CQ quantities, XCN people. Each reading that fails says
//! where (`OBX[2]-5`) and why, never what the value was.

use std::borrow::Cow;

use time::Date;
use unicode_normalization::UnicodeNormalization;

use crate::codec::hl7v2::message::Value;
use crate::domain::code_system::KnownSystem;
use crate::domain::{Coding, Decimal, FhirDateTime, InstitutionCode, Quantity};
use crate::error::{ErrorCode, Issue};

/// Where codes of a facility's own tables (`99…` mnemonics) are namespaced.
pub const LOCAL_SYSTEM_PREFIX: &str = "urn:kakari:local:";
/// Where HL7 v2 coding-system mnemonics kakari does not know are namespaced.
pub const HL7_TABLE_PREFIX: &str = "urn:kakari:hl7v2-table:";

/// The code-system URI for a CWE-3 mnemonic: the canonical URI of a known system, the HL7
/// terminology URL of an `HL7nnnn` table, a per-facility URN for local (`99…`) or unnamed
/// tables, and a kakari URN for any other mnemonic.
pub fn system_uri(mnemonic: &str, facility: &InstitutionCode) -> Cow<'static, str> {
    if let Some(known) = KnownSystem::from_hl7(mnemonic) {
        return Cow::Borrowed(known.uri());
    }
    if let Some(table) = mnemonic
        .strip_prefix("HL7")
        .filter(|t| t.len() == 4 && t.bytes().all(|b| b.is_ascii_digit()))
    {
        return Cow::Owned(format!("http://terminology.hl7.org/CodeSystem/v2-{table}"));
    }
    if mnemonic.is_empty() || mnemonic.starts_with("99") || mnemonic == "L" {
        return Cow::Owned(format!("{LOCAL_SYSTEM_PREFIX}{facility}:{mnemonic}"));
    }
    Cow::Owned(format!("{HL7_TABLE_PREFIX}{mnemonic}"))
}

/// One coding from its three parts, or `None` when the code is empty.
pub fn coding_of(
    code: &Value<'_>,
    display: &Value<'_>,
    system: &Value<'_>,
    facility: &InstitutionCode,
) -> Option<Coding> {
    let code_text = code.non_empty()?;
    let display = display.non_empty().map(Cow::into_owned);
    Some(Coding {
        system: system_uri(&system.text(), facility).into_owned(),
        code: code_text.into_owned(),
        display,
    })
}

/// The codings of a CWE / CE value: the identifier triplet and the alternate one.
pub fn codings(value: &Value<'_>, facility: &InstitutionCode) -> Vec<Coding> {
    let c = |n| value.component(n);
    [
        coding_of(&c(1), &c(2), &c(3), facility),
        coding_of(&c(4), &c(5), &c(6), facility),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The codings of a CWE written in the subcomponents of one component (TQ1-3, CQ units).
pub fn sub_codings(component: &Value<'_>, facility: &InstitutionCode) -> Vec<Coding> {
    let s = |n| component.subcomponent(n);
    [
        coding_of(&s(1), &s(2), &s(3), facility),
        coding_of(&s(4), &s(5), &s(6), facility),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A value's text with escapes resolved, when not empty; an escape sequence kakari does
/// not understand is kept as written and reported.
pub fn text(value: &Value<'_>, issues: &mut Vec<Issue>) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    let (text, malformed) = value.text_checked();
    if malformed {
        issues.push(Issue::warning(
            ErrorCode::Hl7Escape,
            value.location().to_string(),
            "escape sequence not understood; kept as written",
        ));
    }
    Some(text.into_owned())
}

/// The text a CWE shows a person: its text component, else its identifier.
pub fn display_text(value: &Value<'_>) -> Option<String> {
    value
        .component(2)
        .non_empty()
        .or_else(|| value.component(1).non_empty())
        .map(Cow::into_owned)
}

/// A DTM / TS value (first component). Japan time when no offset is written.
pub fn timestamp(value: &Value<'_>, issues: &mut Vec<Issue>) -> Option<FhirDateTime> {
    let component = value.component(1);
    let text = component.non_empty()?;
    let parsed = text
        .is_ascii()
        .then(|| FhirDateTime::parse_hl7(text.trim()).ok())
        .flatten();
    if parsed.is_none() {
        issues.push(Issue::error(
            ErrorCode::Hl7InvalidValue,
            component.location().to_string(),
            "not an HL7 date/time (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+ZZZZ])",
        ));
    }
    parsed
}

/// The calendar day of a DTM / DT value.
pub fn date(value: &Value<'_>, issues: &mut Vec<Issue>) -> Option<Date> {
    let at = timestamp(value, issues)?;
    let day = at.date();
    if day.is_none() {
        issues.push(Issue::warning(
            ErrorCode::Hl7InvalidValue,
            value.location().to_string(),
            "date has less than day precision",
        ));
    }
    day
}

/// An NM value, keeping its literal precision. Full-width digits, sign and point
/// (`６．８０`) are read as their ASCII forms and reported.
pub fn decimal(value: &Value<'_>, issues: &mut Vec<Issue>) -> Option<Decimal> {
    let text = value.non_empty()?;
    let mut parsed = Decimal::parse_lenient(&text).ok();
    if parsed.is_none() && text.chars().any(|c| ('\u{ff01}'..='\u{ff5e}').contains(&c)) {
        let narrow: String = text.nfkc().collect();
        parsed = Decimal::parse_lenient(&narrow).ok();
        if parsed.is_some() {
            issues.push(Issue::warning(
                ErrorCode::Hl7InvalidValue,
                value.location().to_string(),
                "number written with full-width characters; read as ASCII digits",
            ));
        }
    }
    if parsed.is_none() {
        issues.push(Issue::error(
            ErrorCode::Hl7InvalidValue,
            value.location().to_string(),
            "not a number (NM)",
        ));
    }
    parsed
}

/// An amount with a unit given as a CWE value (RXE-3 with RXE-5, OBX-5 with OBX-6).
pub fn quantity(
    amount: &Value<'_>,
    unit: &Value<'_>,
    facility: &InstitutionCode,
    issues: &mut Vec<Issue>,
) -> Option<Quantity> {
    let value = decimal(amount, issues)?;
    Some(with_unit(value, codings(unit, facility).into_iter().next()))
}

/// A CQ value: amount in component 1, unit as a CWE in the subcomponents of component 2
/// (RXE-19 `3^TAB&錠&MR9P`, TQ1-6 `5^d`).
pub fn composite_quantity(
    value: &Value<'_>,
    facility: &InstitutionCode,
    issues: &mut Vec<Issue>,
) -> Option<Quantity> {
    let amount = decimal(&value.component(1), issues)?;
    let unit = sub_codings(&value.component(2), facility)
        .into_iter()
        .next();
    Some(with_unit(amount, unit))
}

fn with_unit(value: Decimal, unit: Option<Coding>) -> Quantity {
    match unit {
        Some(unit) => Quantity {
            value,
            unit: Some(unit.display.clone().unwrap_or_else(|| unit.code.clone())),
            code: Some(unit.code),
            unit_system: Some(unit.system),
        },
        None => Quantity {
            value,
            unit: None,
            code: None,
            unit_system: None,
        },
    }
}

/// A person (XCN) as the source identifies them: the id, else the name.
pub fn person(value: &Value<'_>) -> Option<String> {
    if let Some(id) = value.component(1).non_empty() {
        return Some(id.into_owned());
    }
    let family = value.component(2).text();
    let given = value.component(3).text();
    let name = [family.as_ref(), given.as_ref()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    (!name.is_empty()).then_some(name)
}

/// Reports a code that is not in the table its field uses.
pub fn unknown_code(value: &Value<'_>, table: &str, issues: &mut Vec<Issue>) {
    issues.push(Issue::warning(
        ErrorCode::Hl7UnknownCode,
        value.location().to_string(),
        format!("code is not in HL7 table {table}"),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::hl7v2::message::Message;

    fn facility() -> InstitutionCode {
        InstitutionCode::parse("1311234567").unwrap()
    }

    #[test]
    fn systems_are_canonical_local_or_namespaced() {
        let f = facility();
        assert_eq!(
            system_uri("HOT9", &f),
            "http://medis.or.jp/CodeSystem/master-HOT9"
        );
        assert_eq!(
            system_uri("HL70162", &f),
            "http://terminology.hl7.org/CodeSystem/v2-0162"
        );
        assert_eq!(system_uri("99XYZ", &f), "urn:kakari:local:1311234567:99XYZ");
        assert_eq!(
            system_uri("JHSD0001", &f),
            "urn:kakari:hl7v2-table:JHSD0001"
        );
    }

    #[test]
    fn typed_readings_report_where_they_fail() {
        let m = Message::parse_str(
            "MSH|^~\\&|A|B|||||RDE^O11|1|P|2.5\rRXE||108665201^ダーゼン錠^HOT9^99001^ダーゼン^99XYZ|1.50||TAB^錠^MR9P||||||||||||||3^TAB&錠&MR9P|x|2011X\r",
        )
        .unwrap();
        let rxe = m.first("RXE").unwrap();
        let f = facility();
        let codes = codings(&rxe.field(2), &f);
        assert_eq!(codes.len(), 2);
        assert_eq!(codes[0].code, "108665201");
        assert_eq!(codes[1].system, "urn:kakari:local:1311234567:99XYZ");
        let mut issues = Vec::new();
        let dose = quantity(&rxe.field(3), &rxe.field(5), &f, &mut issues).unwrap();
        assert_eq!(dose.value.as_str(), "1.50");
        assert_eq!(dose.unit.as_deref(), Some("錠"));
        assert_eq!(dose.code.as_deref(), Some("TAB"));
        let daily = composite_quantity(&rxe.field(19), &f, &mut issues).unwrap();
        assert_eq!(daily.value.as_str(), "3");
        assert_eq!(daily.code.as_deref(), Some("TAB"));
        assert!(issues.is_empty());
        assert_eq!(
            text(&rxe.field(2).component(2), &mut issues).as_deref(),
            Some("ダーゼン錠")
        );
        assert!(issues.is_empty());
        assert!(decimal(&rxe.field(20), &mut issues).is_none());
        assert!(timestamp(&rxe.field(21), &mut issues).is_none());
        let m = Message::parse_str("MSH|^~\\&|A|B|||||RDE^O11|1|P|2.5\rRXE||1^a\\Zq\\b\r").unwrap();
        let name = m.query("RXE-2.2").unwrap();
        assert_eq!(text(&name, &mut issues).as_deref(), Some("a\\Zq\\b"));
        let found: Vec<_> = issues
            .iter()
            .map(|i| (i.code, i.location.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (ErrorCode::Hl7InvalidValue, "RXE-20"),
                (ErrorCode::Hl7InvalidValue, "RXE-21.1"),
                (ErrorCode::Hl7Escape, "RXE-2.2"),
            ]
        );
    }
}
