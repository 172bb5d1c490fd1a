//! Program findings for insurers (重症化予防 and 適正服薬 programs): pure rules over one
//! person's lab values, diagnoses and consolidated medication list. No IO, no clock.
//!
//! * **untreated-high-risk**: a value at or over its 受診勧奨判定値 (the caller evaluated
//!   it against `mappings/thresholds.csv`) with no related treatment within `days` after
//!   it: no list entry of a related drug class active in `[day, day + days]`, no related
//!   diagnosis recorded by `day + days` (`mappings/related-treatment.csv`). Judged only
//!   for values of the last `window_days` whose `days` have passed. One finding per
//!   measure, implicating every such value.
//! * **interrupted-treatment**: a regular drug (counted by polypharmacy: oral, not 頓服)
//!   taken for at least `count` days whose supply ended more than `days` before `asOf`
//!   (and within `window_days`), not continued within `days` after by an entry of the same
//!   drug or of the same therapeutic class.
//! * **frequent-tests**: more than `count` results of one analyte (JLAC10 analyte code)
//!   within any `window_days` days, from at least `institutions` institutions, among the
//!   results of the last `days`.
//!
//! Each finding carries a stable key (rule, subject, first day), the records it rests on
//! and a Japanese explanation naming the rule, the threshold and what was seen.

use time::Date;

use crate::domain::{ListEntry, MedicationList, SourcedMedication};
use crate::mapping::program_rules::{ProgramRule, ProgramRules, ProgramSetting, TreatmentKind};

/// A value at or over its 受診勧奨判定値.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverThreshold {
    /// The thresholds table's measure (`hba1c`).
    pub measure: String,
    /// Its name (`HbA1c(NGSP値)`).
    pub name: String,
    /// `>=`, `>`, `<=`, `<`.
    pub comparator: &'static str,
    pub threshold: String,
    pub unit: String,
    /// The value as received, with its unit.
    pub value: String,
}

/// One lab value as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabFact {
    pub day: Date,
    /// JLAC10 analyte code (its first 5 characters), when the result carries JLAC10.
    pub analyte: Option<String>,
    pub name: Option<String>,
    pub institution: Option<String>,
    pub over: Option<OverThreshold>,
}

/// One diagnosis as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagnosisFact {
    /// Onset, else recorded day; `None` when neither is known.
    pub day: Option<Date>,
    /// ICD-10 codes of the diagnosis.
    pub icd10: Vec<String>,
}

/// A program finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramFinding {
    pub rule: ProgramRule,
    /// Stable for the person: `rule:subject:first day`.
    pub key: String,
    pub explanation: String,
    /// Indices into the lab facts.
    pub labs: Vec<usize>,
    /// Indices into the list's entries.
    pub entries: Vec<usize>,
    pub start: Date,
    pub end: Date,
    /// The threshold in words (`>= 6.5 %`, `3回を超える/30日`).
    pub threshold: String,
}

fn day(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

fn plus(d: Date, days: u32) -> Date {
    d.checked_add(time::Duration::days(i64::from(days)))
        .unwrap_or(Date::MAX)
}

fn minus(d: Date, days: u32) -> Date {
    d.checked_sub(time::Duration::days(i64::from(days)))
        .unwrap_or(Date::MIN)
}

fn entry_class(entry: &ListEntry) -> Option<String> {
    entry.identity.key.yj7().map(|k| k.as_str().to_owned())
}

fn drug_name(entry: &ListEntry, inputs: &[SourcedMedication]) -> String {
    inputs
        .get(entry.primary)
        .and_then(|i| i.record.drug_name.clone())
        .or_else(|| entry_class(entry))
        .unwrap_or_else(|| "（名称不明の薬剤）".to_owned())
}

/// The untreated-high-risk rule.
pub fn untreated_high_risk(
    setting: &ProgramSetting,
    rules: &ProgramRules,
    labs: &[LabFact],
    diagnoses: &[DiagnosisFact],
    list: &MedicationList,
    as_of: Date,
) -> Vec<ProgramFinding> {
    let first = minus(as_of, setting.window_days);
    let judged_until = minus(as_of, setting.days);
    let mut by_measure: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, lab) in labs.iter().enumerate() {
        let Some(over) = &lab.over else { continue };
        if lab.day < first || lab.day > judged_until {
            continue;
        }
        let until = plus(lab.day, setting.days);
        let drugs: Vec<&str> = rules.related(&over.measure, TreatmentKind::Yj).collect();
        let treated_by_drug = list.entries.iter().any(|e| {
            entry_class(e).is_some_and(|k| drugs.iter().any(|p| k.starts_with(p)))
                && e.start <= until
                && e.end >= lab.day
        });
        let codes: Vec<&str> = rules.related(&over.measure, TreatmentKind::Icd10).collect();
        let diagnosed = diagnoses.iter().any(|d| {
            d.day.is_none_or(|dd| dd <= until)
                && d.icd10
                    .iter()
                    .any(|c| codes.iter().any(|p| c.starts_with(p)))
        });
        if treated_by_drug || diagnosed {
            continue;
        }
        match by_measure.iter_mut().find(|(m, _)| *m == over.measure) {
            Some((_, v)) => v.push(i),
            None => by_measure.push((over.measure.clone(), vec![i])),
        }
    }
    by_measure
        .into_iter()
        .filter_map(|(measure, idx)| {
            let first_lab = idx.iter().map(|i| labs[*i].day).min()?;
            let last = *idx.iter().max_by_key(|i| labs[**i].day)?;
            let over = labs[last].over.as_ref()?;
            let threshold = format!("{} {} {}", over.comparator, over.threshold, over.unit)
                .trim()
                .to_owned();
            let drugs: Vec<&str> = rules.related(&measure, TreatmentKind::Yj).collect();
            let codes: Vec<&str> = rules.related(&measure, TreatmentKind::Icd10).collect();
            let others = if idx.len() > 1 {
                format!("、ほか{}件", idx.len() - 1)
            } else {
                String::new()
            };
            let explanation = format!(
                "{} {}（{}{}）が受診勧奨判定値（{}）に該当しますが、その後{}日以内に関連する治療（薬効分類 {} の処方、病名 {}）の記録がありません",
                over.name,
                over.value,
                day(labs[last].day),
                others,
                threshold,
                setting.days,
                drugs.join("・"),
                codes.join("・")
            );
            Some(ProgramFinding {
                rule: ProgramRule::UntreatedHighRisk,
                key: format!("untreated-high-risk:{measure}:{}", day(first_lab)),
                explanation,
                labs: idx,
                entries: Vec::new(),
                start: first_lab,
                end: labs[last].day,
                threshold,
            })
        })
        .collect()
}

/// The interrupted-treatment rule.
pub fn interrupted_treatment(
    setting: &ProgramSetting,
    list: &MedicationList,
    inputs: &[SourcedMedication],
    as_of: Date,
) -> Vec<ProgramFinding> {
    let oldest_end = minus(as_of, setting.window_days);
    let mut out = Vec::new();
    for (i, e) in list.entries.iter().enumerate() {
        let taken = (e.end - e.start).whole_days() + 1;
        if !e.counts_for_polypharmacy
            || taken < i64::from(setting.count)
            || e.end >= minus(as_of, setting.days)
            || e.end < oldest_end
        {
            continue;
        }
        let class = entry_class(e);
        let continued = list.entries.iter().enumerate().any(|(j, other)| {
            let same_drug = other.identity.key == e.identity.key;
            let same_class = match (&class, entry_class(other)) {
                (Some(a), Some(b)) => a[..4] == b[..4],
                _ => false,
            };
            j != i
                && (same_drug || same_class)
                && other.end > e.end
                && other.start <= plus(e.end, setting.days)
        });
        if continued {
            continue;
        }
        let name = drug_name(e, inputs);
        out.push(ProgramFinding {
            rule: ProgramRule::InterruptedTreatment,
            key: format!(
                "interrupted-treatment:{}:{}",
                class.unwrap_or_else(|| format!("entry{i}")),
                day(e.end)
            ),
            explanation: format!(
                "{}（{}〜{}、{}日間）の供給が終わった後、{}日以内に同じ薬・同じ薬効分類の処方がありません（基準: {}日以上続いた内服薬の{}日を超える中断）",
                name,
                day(e.start),
                day(e.end),
                taken,
                setting.days,
                setting.count,
                setting.days
            ),
            labs: Vec::new(),
            entries: vec![i],
            start: e.start,
            end: e.end,
            threshold: format!("{}日以上の継続、{}日を超える中断", setting.count, setting.days),
        });
    }
    out
}

/// The frequent-tests rule.
pub fn frequent_tests(
    setting: &ProgramSetting,
    labs: &[LabFact],
    as_of: Date,
) -> Vec<ProgramFinding> {
    let first = minus(as_of, setting.days);
    let mut analytes: Vec<&str> = labs
        .iter()
        .filter(|l| l.day >= first && l.day <= as_of)
        .filter_map(|l| l.analyte.as_deref())
        .collect();
    analytes.sort_unstable();
    analytes.dedup();
    let mut out = Vec::new();
    for analyte in analytes {
        let mut idx: Vec<usize> = labs
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                l.analyte.as_deref() == Some(analyte) && l.day >= first && l.day <= as_of
            })
            .map(|(i, _)| i)
            .collect();
        idx.sort_by_key(|i| labs[*i].day);
        // The widest run within any window of `window_days` days.
        let mut best: Option<(usize, usize)> = None;
        let mut lo = 0;
        for hi in 0..idx.len() {
            while (labs[idx[hi]].day - labs[idx[lo]].day).whole_days()
                >= i64::from(setting.window_days)
            {
                lo += 1;
            }
            if best.is_none_or(|(a, b)| hi - lo > b - a) {
                best = Some((lo, hi));
            }
        }
        let Some((a, b)) = best else { continue };
        let run = &idx[a..=b];
        let mut institutions: Vec<&str> = run
            .iter()
            .filter_map(|i| labs[*i].institution.as_deref())
            .collect();
        institutions.sort_unstable();
        institutions.dedup();
        if run.len() as u32 <= setting.count || (institutions.len() as u32) < setting.institutions {
            continue;
        }
        let (start, end) = (labs[run[0]].day, labs[run[run.len() - 1]].day);
        let name = labs[run[0]]
            .name
            .clone()
            .unwrap_or_else(|| format!("JLAC10 {analyte}"));
        out.push(ProgramFinding {
            rule: ProgramRule::FrequentTests,
            key: format!("frequent-tests:{analyte}:{}", day(start)),
            explanation: format!(
                "{}の検査が{}〜{}に{}回、{}施設で行われています（基準: {}日以内に{}回を超え、{}施設以上）",
                name,
                day(start),
                day(end),
                run.len(),
                institutions.len(),
                setting.window_days,
                setting.count,
                setting.institutions
            ),
            labs: run.to_vec(),
            entries: Vec::new(),
            start,
            end,
            threshold: format!(
                "{}日以内に{}回を超え、{}施設以上",
                setting.window_days, setting.count, setting.institutions
            ),
        });
    }
    out
}

/// Every program rule the tables enable.
pub fn evaluate(
    rules: &ProgramRules,
    labs: &[LabFact],
    diagnoses: &[DiagnosisFact],
    list: &MedicationList,
    inputs: &[SourcedMedication],
    as_of: Date,
) -> Vec<ProgramFinding> {
    let mut out = Vec::new();
    if let Some(s) = rules.get(ProgramRule::UntreatedHighRisk) {
        out.extend(untreated_high_risk(s, rules, labs, diagnoses, list, as_of));
    }
    if let Some(s) = rules.get(ProgramRule::InterruptedTreatment) {
        out.extend(interrupted_treatment(s, list, inputs, as_of));
    }
    if let Some(s) = rules.get(ProgramRule::FrequentTests) {
        out.extend(frequent_tests(s, labs, as_of));
    }
    out
}

/// How far back the medication list must reach for the program rules to see what they
/// look at (treatment after an old value, a course that ended long ago).
pub fn look_back_days(rules: &ProgramRules) -> u32 {
    ProgramRule::ALL
        .iter()
        .filter_map(|r| rules.get(*r))
        .map(|s| s.window_days.saturating_add(s.days).saturating_add(s.count))
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    fn rules() -> &'static ProgramRules {
        ProgramRules::bundled().unwrap()
    }

    fn lab(d: Date, analyte: &str, institution: &str, over: Option<&str>) -> LabFact {
        LabFact {
            day: d,
            analyte: Some(analyte.to_owned()),
            name: Some("HbA1c".into()),
            institution: Some(institution.to_owned()),
            over: over.map(|v| OverThreshold {
                measure: "hba1c".into(),
                name: "HbA1c(NGSP値)".into(),
                comparator: ">=",
                threshold: "6.5".into(),
                unit: "%".into(),
                value: format!("{v} %"),
            }),
        }
    }

    fn empty_list(as_of: Date) -> MedicationList {
        MedicationList {
            as_of,
            window_start: minus(as_of, 400),
            entries: Vec::new(),
            findings: Vec::new(),
            undated: Vec::new(),
        }
    }

    #[test]
    fn a_high_value_without_treatment_is_a_finding_once_its_days_passed() {
        let s = rules().get(ProgramRule::UntreatedHighRisk).unwrap();
        let as_of = date!(2026 - 12 - 01);
        let labs = vec![
            lab(date!(2026 - 06 - 01), "3D046", "1311234567", Some("7.2")),
            lab(date!(2026 - 07 - 01), "3D046", "1311234567", Some("7.4")),
            // Too recent to call untreated.
            lab(date!(2026 - 11 - 20), "3D046", "1311234567", Some("8.0")),
            lab(date!(2026 - 08 - 01), "3D046", "1311234567", None),
        ];
        let found = untreated_high_risk(s, rules(), &labs, &[], &empty_list(as_of), as_of);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].labs, vec![0, 1]);
        assert_eq!(found[0].key, "untreated-high-risk:hba1c:2026-06-01");
        assert!(
            found[0].explanation.contains("90日以内"),
            "{}",
            found[0].explanation
        );
        assert!(found[0].explanation.contains("6.5"));
        // A diabetes diagnosis before the follow-up ends counts as treatment.
        let diagnosed = [DiagnosisFact {
            day: Some(date!(2026 - 08 - 15)),
            icd10: vec!["E119".into()],
        }];
        assert!(
            untreated_high_risk(s, rules(), &labs, &diagnosed, &empty_list(as_of), as_of)
                .is_empty()
        );
    }

    #[test]
    fn the_same_test_from_several_institutions_too_often_is_frequent() {
        let s = rules().get(ProgramRule::FrequentTests).unwrap();
        let as_of = date!(2026 - 12 - 01);
        let labs: Vec<LabFact> = [
            (date!(2026 - 10 - 01), "1311234567"),
            (date!(2026 - 10 - 08), "1312345678"),
            (date!(2026 - 10 - 15), "1311234567"),
            (date!(2026 - 10 - 22), "1312345678"),
        ]
        .into_iter()
        .map(|(d, i)| lab(d, "3D046", i, None))
        .collect();
        let found = frequent_tests(s, &labs, as_of);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].labs.len(), 4);
        assert!(
            found[0].explanation.contains("4回、2施設"),
            "{}",
            found[0].explanation
        );
        // Three in 30 days is not more than three; four from one institution is not
        // across institutions.
        assert!(frequent_tests(s, &labs[..3], as_of).is_empty());
        let one: Vec<LabFact> = labs
            .iter()
            .map(|l| LabFact {
                institution: Some("1311234567".into()),
                ..l.clone()
            })
            .collect();
        assert!(frequent_tests(s, &one, as_of).is_empty());
        // Spread over more than the window: not frequent.
        let spread: Vec<LabFact> = (0..5)
            .map(|k| {
                lab(
                    minus(as_of, 40 * k),
                    "3D046",
                    if k % 2 == 0 {
                        "1311234567"
                    } else {
                        "1312345678"
                    },
                    None,
                )
            })
            .collect();
        assert!(frequent_tests(s, &spread, as_of).is_empty());
    }
}
