//! 保健指導判定値 and 受診勧奨判定値 (`mappings/thresholds.csv`): the values at which a
//! checkup result calls for health guidance or for seeing a doctor, from the MHLW
//! 「標準的な健診・保健指導プログラム（令和6年度版）」.
//!
//! Thresholds are defined per *measure* (the item table's `measure` column), so every
//! method variant of an analyte shares them. Each rule is `value <comparator> threshold`
//! in the rule's unit, optionally for one sex. Ordinal coded items (urine protein: 1 −,
//! 2 ±, 3 +, 4 ++, 5 +++) compare their code as a number.

use std::sync::LazyLock;

use super::checkup_items::{CheckupItems, ItemQuantity};
use super::curated::{CuratedTable, TableError, TableSource};
use crate::domain::{Decimal, LabResult, LabValue, Sex};

const TABLE: &str = "thresholds.csv";
const COLUMNS: [&str; 7] = [
    "measure",
    "name",
    "level",
    "comparator",
    "value",
    "unit",
    "sex",
];
const BUNDLED_TEXT: &str = include_str!("../../mappings/thresholds.csv");

/// How far a value is from the reference range, in the program's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// Below the 保健指導判定値.
    Normal,
    /// At or beyond the 保健指導判定値: health guidance.
    HealthGuidance,
    /// At or beyond the 受診勧奨判定値: the person should see a doctor.
    Consultation,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::HealthGuidance => "health_guidance",
            Self::Consultation => "consultation",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "health_guidance" => Some(Self::HealthGuidance),
            "consultation" => Some(Self::Consultation),
            _ => None,
        }
    }
}

/// A comparison of the value against the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    AtLeast,
    Above,
    AtMost,
    Below,
}

impl Comparator {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            ">=" => Self::AtLeast,
            ">" => Self::Above,
            "<=" => Self::AtMost,
            "<" => Self::Below,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AtLeast => ">=",
            Self::Above => ">",
            Self::AtMost => "<=",
            Self::Below => "<",
        }
    }

    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::AtLeast => value >= threshold,
            Self::Above => value > threshold,
            Self::AtMost => value <= threshold,
            Self::Below => value < threshold,
        }
    }

    /// True when larger values are worse.
    fn upward(self) -> bool {
        matches!(self, Self::AtLeast | Self::Above)
    }
}

/// One threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threshold {
    pub measure: String,
    pub name: String,
    pub level: Level,
    pub comparator: Comparator,
    pub value: Decimal,
    /// UCUM unit of `value`; empty for ordinal coded items.
    pub unit: String,
    /// The sex the rule applies to; `None` for both.
    pub sex: Option<Sex>,
}

/// A result's measure and level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub measure: String,
    pub level: Level,
}

/// The loaded thresholds.
#[derive(Debug, Clone)]
pub struct Thresholds {
    source: TableSource,
    rules: Vec<Threshold>,
}

static BUNDLED: LazyLock<Result<Thresholds, TableError>> =
    LazyLock::new(|| Thresholds::parse(BUNDLED_TEXT));

impl Thresholds {
    /// The thresholds shipped in `mappings/`, parsed once.
    pub fn bundled() -> Result<&'static Thresholds, TableError> {
        BUNDLED.as_ref().map_err(Clone::clone)
    }

    /// Parses a thresholds table. Within a measure and sex, the consultation threshold
    /// must lie beyond the guidance threshold in the direction of the comparator.
    pub fn parse(text: &str) -> Result<Self, TableError> {
        let table = CuratedTable::parse(TABLE, text)?;
        let rows = table.select(&COLUMNS, &[])?;
        let mut rules: Vec<Threshold> = Vec::with_capacity(rows.len());
        for row in &rows {
            let bad = |message: &str| TableError::row(TABLE, row.line, message);
            let measure = row.get(0);
            if measure.is_empty()
                || !measure
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(bad(
                    "measure must be lower-case letters, digits and underscores",
                ));
            }
            let level = Level::parse(row.get(2))
                .ok_or_else(|| bad("level must be health_guidance or consultation"))?;
            let comparator = Comparator::parse(row.get(3))
                .ok_or_else(|| bad("comparator must be >=, >, <= or <"))?;
            let value =
                Decimal::parse(row.get(4)).map_err(|_| bad("value is not a decimal number"))?;
            let sex = match row.get(6) {
                "" => None,
                "male" => Some(Sex::Male),
                "female" => Some(Sex::Female),
                _ => return Err(bad("sex must be empty, male or female")),
            };
            let rule = Threshold {
                measure: measure.to_owned(),
                name: row.get(1).to_owned(),
                level,
                comparator,
                value,
                unit: row.get(5).to_owned(),
                sex,
            };
            if let Some(other) = rules
                .iter()
                .find(|r| r.measure == rule.measure && r.sex == rule.sex)
            {
                if other.level == rule.level {
                    return Err(bad("duplicate level for this measure and sex"));
                }
                if other.unit != rule.unit || other.comparator.upward() != rule.comparator.upward()
                {
                    return Err(bad("unit and direction must agree within a measure"));
                }
                let (guidance, consultation) = if rule.level == Level::Consultation {
                    (other, &rule)
                } else {
                    (&rule, other)
                };
                let (g, c) = (guidance.value.to_f64(), consultation.value.to_f64());
                if (guidance.comparator.upward() && c < g)
                    || (!guidance.comparator.upward() && c > g)
                {
                    return Err(bad(
                        "consultation threshold must lie beyond the guidance threshold",
                    ));
                }
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

    pub fn rules(&self) -> &[Threshold] {
        &self.rules
    }

    /// The rules for a measure.
    pub fn for_measure<'a>(&'a self, measure: &'a str) -> impl Iterator<Item = &'a Threshold> {
        self.rules.iter().filter(move |r| r.measure == measure)
    }

    /// The level of `value` (in the rules' unit) for `measure`. `None` when the measure has
    /// no thresholds, or its thresholds depend on sex and `sex` is unknown.
    pub fn evaluate(&self, measure: &str, value: f64, sex: Option<Sex>) -> Option<Level> {
        let mut applicable = self
            .for_measure(measure)
            .filter(|r| r.sex.is_none() || r.sex == sex)
            .peekable();
        applicable.peek()?;
        Some(
            applicable
                .filter(|r| r.comparator.holds(value, r.value.to_f64()))
                .map(|r| r.level)
                .max()
                .unwrap_or(Level::Normal),
        )
    }

    /// Evaluates a lab result: finds its item and measure, puts a quantity into the
    /// rules' unit, or reads an ordinal code. `None` when any of that is not possible.
    pub fn evaluate_result(
        &self,
        result: &LabResult,
        items: &CheckupItems,
        sex: Option<Sex>,
    ) -> Option<Evaluation> {
        let item = items.item_for_result(result)?.item;
        let measure = item.measure.as_deref()?;
        let rule = self.for_measure(measure).next()?;
        let value = match &result.value {
            LabValue::Quantity {
                value,
                comparator: None,
                unit,
                ..
            } => {
                let quantity = items.to_item_unit(item, value, unit.as_deref()).ok()?;
                if item.ucum.as_deref().unwrap_or("") != rule.unit {
                    return None;
                }
                match quantity {
                    ItemQuantity::Same(v)
                    | ItemQuantity::Converted(v)
                    | ItemQuantity::Assumed(v) => v.to_f64(),
                }
            }
            LabValue::Coded(coding) if rule.unit.is_empty() => coding.code.parse::<f64>().ok()?,
            _ => return None,
        };
        Some(Evaluation {
            measure: measure.to_owned(),
            level: self.evaluate(measure, value, sex)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::code_system::Coding;
    use crate::domain::{MemberId, SubjectRef};

    fn thresholds() -> &'static Thresholds {
        Thresholds::bundled().unwrap()
    }

    /// Every row is valid and names a measure of the item table, in that measure's unit.
    #[test]
    fn every_bundled_row_is_valid_against_the_item_table() {
        let items = CheckupItems::bundled().unwrap();
        let rules = thresholds().rules();
        assert_eq!(rules.len(), 34);
        for rule in rules {
            let measured: Vec<_> = items.measure_items(&rule.measure).collect();
            assert!(!measured.is_empty(), "{} has no items", rule.measure);
            for item in measured {
                assert_eq!(
                    item.ucum.as_deref().unwrap_or(""),
                    rule.unit,
                    "{}",
                    item.code
                );
            }
        }
    }

    #[test]
    fn design_consultation_values_are_the_bundled_ones() {
        let consult = |measure: &str| {
            thresholds()
                .for_measure(measure)
                .find(|r| r.level == Level::Consultation && r.sex.is_none())
                .map(|r| format!("{}{}", r.comparator.as_str(), r.value))
        };
        for (measure, expected) in [
            ("sbp", ">=140"),
            ("dbp", ">=90"),
            ("glucose_fasting", ">=126"),
            ("hba1c", ">=6.5"),
            ("ldl", ">=140"),
            ("tg_fasting", ">=300"),
            ("hdl", "<=34"),
            ("ast", ">=51"),
            ("alt", ">=51"),
            ("ggt", ">=101"),
            ("egfr", "<45"),
        ] {
            assert_eq!(consult(measure).as_deref(), Some(expected), "{measure}");
        }
    }

    #[test]
    fn levels_follow_the_comparators_at_the_boundaries() {
        let t = thresholds();
        assert_eq!(t.evaluate("sbp", 129.0, None), Some(Level::Normal));
        assert_eq!(t.evaluate("sbp", 130.0, None), Some(Level::HealthGuidance));
        assert_eq!(t.evaluate("sbp", 140.0, None), Some(Level::Consultation));
        assert_eq!(t.evaluate("hdl", 40.0, None), Some(Level::Normal));
        assert_eq!(t.evaluate("hdl", 39.0, None), Some(Level::HealthGuidance));
        assert_eq!(t.evaluate("hdl", 34.0, None), Some(Level::Consultation));
        assert_eq!(t.evaluate("egfr", 60.0, None), Some(Level::Normal));
        assert_eq!(t.evaluate("egfr", 59.9, None), Some(Level::HealthGuidance));
        assert_eq!(t.evaluate("egfr", 44.9, None), Some(Level::Consultation));
        assert_eq!(t.evaluate("bmi", 30.0, None), None);
    }

    #[test]
    fn sex_specific_thresholds_need_the_sex() {
        let t = thresholds();
        assert_eq!(
            t.evaluate("hemoglobin", 12.5, Some(Sex::Male)),
            Some(Level::HealthGuidance)
        );
        assert_eq!(
            t.evaluate("hemoglobin", 12.5, Some(Sex::Female)),
            Some(Level::Normal)
        );
        assert_eq!(t.evaluate("hemoglobin", 12.5, None), None);
    }

    #[test]
    fn results_are_evaluated_in_the_item_unit_and_ordinals_by_code() {
        let items = CheckupItems::bundled().unwrap();
        let member = MemberId::parse("06139463:12:345:01").unwrap();
        let glucose = |value: &str, unit: &str| {
            let mut r = LabResult::new(
                SubjectRef::Member(member.clone()),
                LabValue::Quantity {
                    value: Decimal::parse(value).unwrap(),
                    comparator: None,
                    unit: Some(unit.to_owned()),
                    unit_code: None,
                    unit_system: None,
                },
            );
            r.codes.push(Coding::new(
                "http://medis.or.jp/CodeSystem/master-JLAC10-17digits",
                "3D010000001926101",
                None,
            ));
            r
        };
        let eval = thresholds().evaluate_result(&glucose("7.2", "mmol/L"), items, None);
        assert_eq!(eval.unwrap().level, Level::Consultation);
        let eval = thresholds().evaluate_result(&glucose("99", "mg/dL"), items, None);
        assert_eq!(eval.unwrap().level, Level::Normal);
        assert_eq!(
            thresholds().evaluate_result(&glucose("99", "kg"), items, None),
            None
        );

        let mut protein = LabResult::new(
            SubjectRef::Member(member.clone()),
            LabValue::Coded(Coding::new("urn:oid:1.2.392.200119.6.2102", "3", None)),
        );
        protein.codes.push(Coding::new(
            "urn:oid:1.2.392.200119.6.1005",
            "1A010000000191111",
            None,
        ));
        let eval = thresholds().evaluate_result(&protein, items, None).unwrap();
        assert_eq!(eval.measure, "urine_protein");
        assert_eq!(eval.level, Level::Consultation);
    }

    #[test]
    fn inconsistent_tables_are_refused() {
        let head = "# source: s\n# version: v\n# licence: l\nmeasure,name,level,comparator,value,unit,sex\n";
        let inverted = format!(
            "{head}sbp,x,health_guidance,>=,140,mm[Hg],\nsbp,x,consultation,>=,130,mm[Hg],\n"
        );
        assert!(matches!(
            Thresholds::parse(&inverted),
            Err(TableError { line: 6, .. })
        ));
        let bad_level = format!("{head}sbp,x,urgent,>=,140,mm[Hg],\n");
        assert!(Thresholds::parse(&bad_level).is_err());
    }
}
