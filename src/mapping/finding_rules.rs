//! The medication-list rules as data (`mappings/medication-findings.csv`): per rule, the
//! `DetectedIssue` code, the severity, the threshold and the days the condition must hold.
//!
//! | rule | threshold counts | fires when |
//! |---|---|---|
//! | `duplicate-therapy` | prescribing institutions at once | one ingredient-and-route key (`yj7`) is active from at least `threshold` institutions on at least `min_days` days |
//! | `same-class` | prescribing institutions at once | different ingredients of one class (`class4`) are active from at least `threshold` institutions on at least `min_days` days |
//! | `polypharmacy` | distinct regular oral drugs at once | at least `threshold` of them are active together on at least `min_days` days |
//!
//! A rule left out of the table is not checked. Each rule appears at most once; severity
//! is a FHIR `DetectedIssue.severity` (`high`, `moderate`, `low`); the institution
//! thresholds are at least 2 (one institution alone is no duplicate), the polypharmacy
//! threshold at least 2, `min_days` at least 1.

use std::path::Path;
use std::sync::LazyLock;

use super::curated::{CuratedTable, TableError, TableSource};
use crate::domain::{Coding, FindingRule, FindingSeverity, RuleSetting};

const TABLE: &str = "medication-findings.csv";
const COLUMNS: [&str; 7] = [
    "rule",
    "code_system",
    "code",
    "display",
    "severity",
    "threshold",
    "min_days",
];
const BUNDLED_TEXT: &str = include_str!("../../mappings/medication-findings.csv");

/// The loaded rules, in table order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingRules {
    pub source: TableSource,
    settings: Vec<RuleSetting>,
}

static BUNDLED: LazyLock<Result<FindingRules, TableError>> =
    LazyLock::new(|| FindingRules::parse(BUNDLED_TEXT));

impl FindingRules {
    /// The rules shipped in `mappings/`, parsed once.
    pub fn bundled() -> Result<&'static FindingRules, TableError> {
        BUNDLED.as_ref().map_err(Clone::clone)
    }

    /// Reads an operator's table (same format) from a file.
    pub fn load(path: &Path) -> Result<Self, TableError> {
        let bytes = std::fs::read(path).map_err(|_| TableError::row(TABLE, 0, "cannot be read"))?;
        let text = String::from_utf8(bytes).map_err(|_| TableError::row(TABLE, 0, "not UTF-8"))?;
        Self::parse(&text)
    }

    /// Parses and checks a rules table.
    pub fn parse(text: &str) -> Result<Self, TableError> {
        let table = CuratedTable::parse(TABLE, text)?;
        let rows = table.select(&COLUMNS, &[])?;
        let mut settings: Vec<RuleSetting> = Vec::with_capacity(rows.len());
        for row in &rows {
            let bad = |message: &str| TableError::row(TABLE, row.line, message);
            let rule = FindingRule::parse(row.get(0))
                .ok_or_else(|| bad("rule must be duplicate-therapy, same-class or polypharmacy"))?;
            if settings.iter().any(|s| s.rule == rule) {
                return Err(bad("the rule appears on an earlier row"));
            }
            let system = row.get(1);
            if !system.contains(':') || system.contains(char::is_whitespace) {
                return Err(bad("code_system must be a URI"));
            }
            let code = row.opt(2).ok_or_else(|| bad("code is empty"))?;
            let severity = FindingSeverity::parse(row.get(4))
                .ok_or_else(|| bad("severity must be high, moderate or low"))?;
            let threshold: u32 = row
                .get(5)
                .parse()
                .map_err(|_| bad("threshold must be a whole number"))?;
            if threshold < 2 {
                return Err(bad("threshold must be at least 2"));
            }
            let min_days: u32 = row
                .get(6)
                .parse()
                .map_err(|_| bad("min_days must be a whole number"))?;
            if min_days < 1 {
                return Err(bad("min_days must be at least 1"));
            }
            settings.push(RuleSetting {
                rule,
                code: Coding::new(system, code, row.opt(3).map(str::to_owned)),
                severity,
                threshold,
                min_days,
            });
        }
        Ok(Self {
            source: table.source(),
            settings,
        })
    }

    /// The setting of a rule, when the table enables it.
    pub fn get(&self, rule: FindingRule) -> Option<&RuleSetting> {
        self.settings.iter().find(|s| s.rule == rule)
    }

    pub fn settings(&self) -> &[RuleSetting] {
        &self.settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "# source: t\n# version: 1\n# licence: l\nrule,code_system,code,display,severity,threshold,min_days\n";

    #[test]
    fn the_bundled_rules_name_every_rule_with_the_documented_codes() {
        let rules = FindingRules::bundled().unwrap();
        let dup = rules.get(FindingRule::DuplicateTherapy).unwrap();
        assert_eq!(dup.code.code, "DUPTHPY");
        assert_eq!(
            dup.code.system,
            "http://terminology.hl7.org/CodeSystem/v3-ActCode"
        );
        assert_eq!(dup.threshold, 2);
        assert_eq!(
            rules.get(FindingRule::SameClass).unwrap().code.code,
            "DUPTHPCLS"
        );
        assert_eq!(rules.get(FindingRule::Polypharmacy).unwrap().threshold, 6);
    }

    #[test]
    fn bad_rows_are_refused_with_their_line() {
        for (row, message) in [
            ("dup,u:x,C,,low,2,1", "rule must be"),
            ("polypharmacy,u:x,C,,urgent,6,1", "severity"),
            ("polypharmacy,u:x,C,,low,1,1", "at least 2"),
            ("polypharmacy,u:x,C,,low,six,1", "whole number"),
            ("polypharmacy,u:x,C,,low,6,0", "min_days"),
            ("polypharmacy,not a uri,C,,low,6,1", "URI"),
            ("polypharmacy,u:x,,,low,6,1", "code is empty"),
        ] {
            let err = FindingRules::parse(&format!("{HEAD}{row}\n")).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("line 5") && text.contains(message), "{text}");
        }
        let twice = format!("{HEAD}polypharmacy,u:x,P,,low,6,1\npolypharmacy,u:x,P,,low,5,1\n");
        assert!(
            FindingRules::parse(&twice)
                .unwrap_err()
                .to_string()
                .contains("line 6")
        );
    }

    #[test]
    fn a_rule_left_out_is_not_checked() {
        let rules = FindingRules::parse(&format!("{HEAD}polypharmacy,u:x,P,,low,5,3\n")).unwrap();
        assert!(rules.get(FindingRule::DuplicateTherapy).is_none());
        let poly = rules.get(FindingRule::Polypharmacy).unwrap();
        assert_eq!((poly.threshold, poly.min_days), (5, 3));
    }
}
