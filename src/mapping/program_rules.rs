//! The program findings' rules as data: `mappings/program-findings.csv` (per rule: the
//! `DetectedIssue` code, the severity and its numbers) and
//! `mappings/related-treatment.csv` (which drug classes and diagnoses count as treatment
//! of a measure, for the untreated-high-risk rule). The rules are in
//! `consolidate::program`; what each number means is in the table's `# source:` line and
//! `docs/collaboration.md`.

use std::sync::LazyLock;

use super::curated::{CuratedRow, CuratedTable, TableError, TableSource};
use crate::domain::{Coding, FindingSeverity};

const RULES_TABLE: &str = "program-findings.csv";
const RULES_COLUMNS: [&str; 9] = [
    "rule",
    "code_system",
    "code",
    "display",
    "severity",
    "days",
    "count",
    "window_days",
    "institutions",
];
const RELATED_TABLE: &str = "related-treatment.csv";
const RELATED_COLUMNS: [&str; 3] = ["measure", "kind", "prefix"];

/// A program rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProgramRule {
    UntreatedHighRisk,
    InterruptedTreatment,
    FrequentTests,
}

impl ProgramRule {
    pub const ALL: [Self; 3] = [
        Self::UntreatedHighRisk,
        Self::InterruptedTreatment,
        Self::FrequentTests,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UntreatedHighRisk => "untreated-high-risk",
            Self::InterruptedTreatment => "interrupted-treatment",
            Self::FrequentTests => "frequent-tests",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// One rule's settings. Which numbers a rule reads: untreated-high-risk `days`,
/// `window_days`; interrupted-treatment `days`, `count` (days taken to count as regular),
/// `window_days`; frequent-tests `days` (look-back), `count`, `window_days`,
/// `institutions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSetting {
    pub rule: ProgramRule,
    pub code: Coding,
    pub severity: FindingSeverity,
    pub days: u32,
    pub count: u32,
    pub window_days: u32,
    pub institutions: u32,
}

/// What counts as treatment of a measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreatmentKind {
    /// A drug whose YJ code starts with the prefix (薬効分類).
    Yj,
    /// A diagnosis whose ICD-10 code starts with the prefix.
    Icd10,
}

/// The loaded tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramRules {
    pub source: TableSource,
    pub related_source: TableSource,
    settings: Vec<ProgramSetting>,
    /// (measure, kind, prefix).
    related: Vec<(String, TreatmentKind, String)>,
}

static BUNDLED: LazyLock<Result<ProgramRules, TableError>> = LazyLock::new(|| {
    ProgramRules::parse(
        include_str!("../../mappings/program-findings.csv"),
        include_str!("../../mappings/related-treatment.csv"),
    )
});

fn number(row: &CuratedRow, index: usize, name: &str) -> Result<u32, TableError> {
    match row.opt(index) {
        None => Ok(0),
        Some(v) => v.parse().map_err(|_| {
            TableError::row(
                RULES_TABLE,
                row.line,
                format!("{name} must be a whole number"),
            )
        }),
    }
}

impl ProgramRules {
    /// The tables shipped in `mappings/`, parsed once.
    pub fn bundled() -> Result<&'static ProgramRules, TableError> {
        BUNDLED.as_ref().map_err(Clone::clone)
    }

    /// Parses and checks both tables.
    pub fn parse(rules: &str, related: &str) -> Result<Self, TableError> {
        let table = CuratedTable::parse(RULES_TABLE, rules)?;
        let mut settings: Vec<ProgramSetting> = Vec::new();
        for row in &table.select(&RULES_COLUMNS, &[])? {
            let bad = |message: &str| TableError::row(RULES_TABLE, row.line, message);
            let rule = ProgramRule::parse(row.get(0)).ok_or_else(|| {
                bad("rule must be untreated-high-risk, interrupted-treatment or frequent-tests")
            })?;
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
            let setting = ProgramSetting {
                rule,
                code: Coding::new(system, code, row.opt(3).map(str::to_owned)),
                severity,
                days: number(row, 5, "days")?,
                count: number(row, 6, "count")?,
                window_days: number(row, 7, "window_days")?,
                institutions: number(row, 8, "institutions")?,
            };
            let missing = match rule {
                ProgramRule::UntreatedHighRisk => setting.days == 0 || setting.window_days == 0,
                ProgramRule::InterruptedTreatment => {
                    setting.days == 0 || setting.count == 0 || setting.window_days == 0
                }
                ProgramRule::FrequentTests => {
                    setting.days == 0
                        || setting.count == 0
                        || setting.window_days == 0
                        || setting.institutions == 0
                }
            };
            if missing {
                return Err(bad(
                    "a number this rule reads is missing or 0 (see the # source: line)",
                ));
            }
            settings.push(setting);
        }
        let related_table = CuratedTable::parse(RELATED_TABLE, related)?;
        let mut related_rows = Vec::new();
        for row in &related_table.select(&RELATED_COLUMNS, &[])? {
            let bad = |message: &str| TableError::row(RELATED_TABLE, row.line, message);
            let measure = row.opt(0).ok_or_else(|| bad("measure is empty"))?;
            let kind = match row.get(1) {
                "yj" => TreatmentKind::Yj,
                "icd10" => TreatmentKind::Icd10,
                _ => return Err(bad("kind must be yj or icd10")),
            };
            let prefix = row.opt(2).ok_or_else(|| bad("prefix is empty"))?;
            let shape_ok = match kind {
                TreatmentKind::Yj => {
                    prefix.len() <= 7 && prefix.bytes().all(|b| b.is_ascii_digit())
                }
                TreatmentKind::Icd10 => {
                    prefix.len() <= 5
                        && prefix
                            .bytes()
                            .next()
                            .is_some_and(|b| b.is_ascii_uppercase())
                        && prefix
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'.')
                }
            };
            if !shape_ok {
                return Err(bad("prefix is not the start of a code of its kind"));
            }
            related_rows.push((measure.to_owned(), kind, prefix.to_owned()));
        }
        Ok(Self {
            source: table.source(),
            related_source: related_table.source(),
            settings,
            related: related_rows,
        })
    }

    /// A rule's setting, when the table enables it.
    pub fn get(&self, rule: ProgramRule) -> Option<&ProgramSetting> {
        self.settings.iter().find(|s| s.rule == rule)
    }

    /// The prefixes of `kind` that count as treatment of `measure`.
    pub fn related<'a>(
        &'a self,
        measure: &'a str,
        kind: TreatmentKind,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.related
            .iter()
            .filter(move |(m, k, _)| m == measure && *k == kind)
            .map(|(_, _, p)| p.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "# source: t\n# version: 1\n# licence: l\n";

    #[test]
    fn the_bundled_tables_enable_every_rule() {
        let rules = ProgramRules::bundled().unwrap();
        for rule in ProgramRule::ALL {
            assert!(rules.get(rule).is_some(), "{}", rule.as_str());
        }
        assert_eq!(rules.get(ProgramRule::UntreatedHighRisk).unwrap().days, 90);
        let yj: Vec<&str> = rules.related("hba1c", TreatmentKind::Yj).collect();
        assert!(yj.contains(&"396"));
        assert!(
            rules
                .related("sbp", TreatmentKind::Icd10)
                .any(|p| p == "I10")
        );
    }

    #[test]
    fn bad_rows_are_refused_with_their_line() {
        let rules = format!("{HEAD}{}\n", RULES_COLUMNS.join(","));
        let related = format!("{HEAD}measure,kind,prefix\n");
        for (row, message) in [
            ("nonsense,u:x,C,,low,1,1,1,1", "rule must be"),
            ("frequent-tests,u:x,C,,low,365,,30,2", "missing"),
            ("frequent-tests,u:x,C,,urgent,365,3,30,2", "severity"),
            ("frequent-tests,u:x,C,,low,365,three,30,2", "count must be"),
        ] {
            let err = ProgramRules::parse(&format!("{rules}{row}\n"), &related).unwrap_err();
            assert!(err.to_string().contains(message), "{row}: {err}");
            assert!(err.to_string().contains("line 5"), "{err}");
        }
        let err = ProgramRules::parse(&rules, &format!("{related}hba1c,atc,A10\n")).unwrap_err();
        assert!(err.to_string().contains("kind must be"), "{err}");
        let err = ProgramRules::parse(&rules, &format!("{related}hba1c,yj,39X\n")).unwrap_err();
        assert!(err.to_string().contains("prefix"), "{err}");
    }
}
