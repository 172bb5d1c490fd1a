//! Unit conversion rules for checkup values (`mappings/checkup-unit-conversions.csv`).
//!
//! The 特定健診 item table fixes one unit per item (its UCUM column). A value arriving in
//! another unit is converted when a rule `(analyte, from, to)` exists: `to = from × factor +
//! offset`. Rules for one analyte (the first five characters of the JLAC10 / item code)
//! win over rules for every analyte (`*`). A rule with factor 1 and offset 0 is a spelling
//! alias and keeps the literal (and so the precision) untouched; any other rule rounds the
//! result to the number of decimals the item's format allows.

use unicode_normalization::UnicodeNormalization;

use super::curated::{CuratedTable, TableError, TableSource};
use crate::domain::Decimal;

const TABLE: &str = "checkup-unit-conversions.csv";
const COLUMNS: [&str; 6] = [
    "analyte",
    "from_unit",
    "to_unit",
    "factor",
    "offset",
    "note",
];

/// One conversion rule.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitConversion {
    /// JLAC10 analyte (5 characters), or `None` for a rule that applies to every analyte.
    pub analyte: Option<String>,
    /// Normalised source unit.
    pub from: String,
    /// The item-table unit it converts to.
    pub to: String,
    pub factor: f64,
    pub offset: f64,
}

impl UnitConversion {
    /// True for a spelling alias: the number does not change.
    pub fn is_identity(&self) -> bool {
        self.factor == 1.0 && self.offset == 0.0
    }

    /// Applies the rule. Identity rules return the literal unchanged; others round to
    /// `decimals` fraction digits. `None` when the result is not a finite number.
    pub fn apply(&self, value: &Decimal, decimals: usize) -> Option<Decimal> {
        if self.is_identity() {
            return Some(value.clone());
        }
        let converted = value.to_f64() * self.factor + self.offset;
        if !converted.is_finite() {
            return None;
        }
        let text = format!("{converted:.decimals$}");
        Decimal::parse_lenient(&text).ok()
    }
}

/// The loaded rules.
#[derive(Debug, Clone)]
pub struct UnitConversions {
    source: TableSource,
    rules: Vec<UnitConversion>,
}

/// Unit text in comparable form: NFKC (full-width and ㎎-style ligatures), micro signs as
/// `u`, surrounding spaces removed. Case is significant, as in UCUM.
pub fn normalise_unit(unit: &str) -> String {
    unit.nfkc()
        .map(|c| if matches!(c, 'μ' | 'µ') { 'u' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

fn number(row: &super::curated::CuratedRow, index: usize, column: &str) -> Result<f64, TableError> {
    let cell = row.get(index);
    Decimal::parse(cell)
        .map(|d| d.to_f64())
        .map_err(|_| TableError::row(TABLE, row.line, format!("{column} is not a decimal number")))
}

impl UnitConversions {
    /// Parses the conversion table.
    pub fn parse(text: &str) -> Result<Self, TableError> {
        let table = CuratedTable::parse(TABLE, text)?;
        let rows = table.select(&COLUMNS, &[])?;
        let mut rules: Vec<UnitConversion> = Vec::with_capacity(rows.len());
        for row in &rows {
            let analyte = match row.get(0) {
                "*" => None,
                a if a.len() == 5 && a.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                    Some(a.to_owned())
                }
                _ => {
                    return Err(TableError::row(
                        TABLE,
                        row.line,
                        "analyte must be `*` or a 5-character JLAC10 analyte code",
                    ));
                }
            };
            let from = normalise_unit(row.get(1));
            let to = row.get(2).to_owned();
            if from.is_empty() || to.is_empty() || from == to {
                return Err(TableError::row(
                    TABLE,
                    row.line,
                    "from_unit and to_unit must be present and differ",
                ));
            }
            let factor = number(row, 3, "factor")?;
            let offset = number(row, 4, "offset")?;
            if factor <= 0.0 {
                return Err(TableError::row(TABLE, row.line, "factor must be positive"));
            }
            let rule = UnitConversion {
                analyte,
                from,
                to,
                factor,
                offset,
            };
            if rules
                .iter()
                .any(|r| r.analyte == rule.analyte && r.from == rule.from && r.to == rule.to)
            {
                return Err(TableError::row(
                    TABLE,
                    row.line,
                    "duplicate (analyte, from_unit, to_unit)",
                ));
            }
            rules.push(rule);
        }
        Ok(Self {
            source: table.source(),
            rules,
        })
    }

    pub fn source(&self) -> &TableSource {
        &self.source
    }

    pub fn rules(&self) -> &[UnitConversion] {
        &self.rules
    }

    /// The rule converting `from` (any spelling) into `to` for `analyte`; an analyte rule
    /// wins over a general one.
    pub fn find(&self, analyte: &str, from: &str, to: &str) -> Option<&UnitConversion> {
        let from = normalise_unit(from);
        let matching = |r: &&UnitConversion| r.from == from && r.to == to;
        self.rules
            .iter()
            .filter(matching)
            .find(|r| r.analyte.as_deref() == Some(analyte))
            .or_else(|| {
                self.rules
                    .iter()
                    .filter(matching)
                    .find(|r| r.analyte.is_none())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUNDLED: &str = include_str!("../../mappings/checkup-unit-conversions.csv");

    #[test]
    fn every_bundled_rule_parses_and_is_unique() {
        let rules = UnitConversions::parse(BUNDLED).unwrap();
        assert!(rules.rules().len() >= 40);
        assert_eq!(rules.source().version, "2024");
    }

    #[test]
    fn analyte_rules_win_and_spellings_keep_the_literal() {
        let rules = UnitConversions::parse(BUNDLED).unwrap();
        let glucose = rules.find("3D010", "mmol/L", "mg/dL").unwrap();
        let value = Decimal::parse("5.5").unwrap();
        assert_eq!(glucose.apply(&value, 0).unwrap().as_str(), "99");
        let alias = rules.find("3F015", "mg/dl", "mg/dL").unwrap();
        assert!(alias.is_identity());
        let literal = Decimal::parse("120.0").unwrap();
        assert_eq!(alias.apply(&literal, 0).unwrap().as_str(), "120.0");
        // Full-width and micro-sign spellings normalise before matching.
        assert!(rules.find("3C015", "μmol/L", "mg/dL").is_some());
        assert!(rules.find("3C015", "ｍｇ／ｄｌ", "mg/dL").is_some());
        // No rule for an analyte-specific conversion on another analyte.
        assert!(rules.find("3B035", "mmol/L", "mg/dL").is_none());
    }

    #[test]
    fn hba1c_ifcc_converts_with_offset() {
        let rules = UnitConversions::parse(BUNDLED).unwrap();
        let rule = rules.find("3D046", "mmol/mol", "%").unwrap();
        let ifcc = Decimal::parse("48").unwrap();
        assert_eq!(rule.apply(&ifcc, 1).unwrap().as_str(), "6.5");
    }

    #[test]
    fn malformed_rules_name_their_line() {
        let bad = "# source: s\n# version: v\n# licence: l\nanalyte,from_unit,to_unit,factor,offset,note\n*,mg/L,mg/dL,x,0,\n";
        assert!(matches!(
            UnitConversions::parse(bad),
            Err(TableError { line: 5, .. })
        ));
    }
}
