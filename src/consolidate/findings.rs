//! Findings over the entries of a list, each computed by a sweep over the active days of
//! the entries' supplies within the window (so a duplicate or a peak of many drugs is
//! found whenever it happened in the window, not only on `asOf`):
//!
//! - **duplicate therapy**: per `yj7`, the days on which entries from at least
//!   `threshold` prescribing institutions are active; the finding implicates every entry
//!   active on such a day.
//! - **same class**: per `class4`, the days on which entries of that class from at least
//!   `threshold` institutions are active, each entry having an active partner from another
//!   institution *with another `yj7`* (pairs of one ingredient are duplicate therapy, not
//!   this); implicates the entries that had such a partner.
//! - **polypharmacy**: the days on which at least `threshold` distinct drugs (distinct
//!   keys: one ingredient from two institutions is one drug) among the regular oral
//!   entries are active; implicates the entries active at the first peak (the first run of
//!   days with the most drugs at once).
//!
//! A finding is made when its condition held on at least `min_days` days. Entries with no
//! known institution take part in polypharmacy only.

use std::collections::BTreeMap;

use super::period::day;
use crate::domain::{Finding, FindingRule, FindingSubject, RuleSetting, Yj7};
use crate::mapping::FindingRules;

/// What the rules need of one entry.
#[derive(Debug, Clone)]
pub(super) struct EntryFacts {
    pub key: u32,
    pub yj7: Option<Yj7>,
    pub institution: Option<u32>,
    /// Active spans (Julian days, inclusive) of the entry's supplies.
    pub spans: Vec<(i32, i32)>,
    pub polypharmacy: bool,
}

/// Calls `visit(first, last, active)` for each run of days, within `window`, on which
/// the set of active entries (ascending, no repeats) stays the same and is not empty.
fn sweep(
    facts: &[EntryFacts],
    members: &[usize],
    window: (i32, i32),
    mut visit: impl FnMut(i32, i32, &[usize]),
) {
    let mut events: Vec<(i32, i32, usize)> = Vec::new();
    for &e in members {
        for &(start, end) in &facts[e].spans {
            let (start, end) = (start.max(window.0), end.min(window.1));
            if start <= end {
                events.push((start, 1, e));
                events.push((end + 1, -1, e));
            }
        }
    }
    events.sort_unstable();
    let mut counts: BTreeMap<usize, i32> = BTreeMap::new();
    let mut active: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let at = events[i].0;
        while i < events.len() && events[i].0 == at {
            let (_, delta, e) = events[i];
            let count = counts.entry(e).or_insert(0);
            *count += delta;
            if *count == 0 {
                counts.remove(&e);
            }
            i += 1;
        }
        if let Some(&(next, _, _)) = events.get(i)
            && !counts.is_empty()
        {
            active.clear();
            active.extend(counts.keys().copied());
            visit(at, next - 1, &active);
        }
    }
}

/// Distinct values among the active entries.
fn distinct<T: Ord + Copy>(active: &[usize], value: impl Fn(usize) -> Option<T>) -> usize {
    let mut values: Vec<T> = active.iter().filter_map(|&e| value(e)).collect();
    values.sort_unstable();
    values.dedup();
    values.len()
}

/// The days a condition held, and where.
#[derive(Default)]
struct Held {
    days: u32,
    first: Option<i32>,
    last: i32,
    observed: u32,
    entries: Vec<usize>,
}

impl Held {
    fn hold(&mut self, from: i32, to: i32, observed: usize, entries: &[usize]) {
        self.days += (to - from + 1) as u32;
        self.first.get_or_insert(from);
        self.last = to;
        self.observed = self.observed.max(observed as u32);
        self.entries.extend_from_slice(entries);
    }

    fn finding(mut self, setting: &RuleSetting, subject: FindingSubject) -> Option<Finding> {
        let first = self.first?;
        if self.days < setting.min_days {
            return None;
        }
        self.entries.sort_unstable();
        self.entries.dedup();
        Some(Finding {
            setting: setting.clone(),
            subject,
            entries: self.entries,
            observed: self.observed,
            days: self.days,
            start: day(first),
            end: day(self.last),
        })
    }
}

/// Every finding the rules make over `facts` within `window`.
pub(super) fn findings(
    facts: &[EntryFacts],
    window: (i32, i32),
    rules: &FindingRules,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut by_yj7: BTreeMap<Yj7, Vec<usize>> = BTreeMap::new();
    for (e, f) in facts.iter().enumerate() {
        if let (Some(k), Some(_)) = (f.yj7, f.institution) {
            by_yj7.entry(k).or_default().push(e);
        }
    }
    let institution = |e: usize| facts[e].institution;
    if let Some(setting) = rules.get(FindingRule::DuplicateTherapy) {
        let threshold = setting.threshold as usize;
        for (yj7, members) in &by_yj7 {
            if distinct(members, institution) < threshold {
                continue;
            }
            let mut held = Held::default();
            sweep(facts, members, window, |from, to, active| {
                let n = distinct(active, institution);
                if n >= threshold {
                    held.hold(from, to, n, active);
                }
            });
            out.extend(held.finding(setting, FindingSubject::Ingredient(*yj7)));
        }
    }
    if let Some(setting) = rules.get(FindingRule::SameClass) {
        let threshold = setting.threshold as usize;
        let mut by_class: BTreeMap<_, Vec<usize>> = BTreeMap::new();
        for (yj7, members) in &by_yj7 {
            by_class
                .entry(yj7.class4())
                .or_default()
                .extend_from_slice(members);
        }
        for (class4, mut members) in by_class {
            members.sort_unstable();
            let yj7 = |e: usize| facts[e].yj7;
            if distinct(&members, yj7) < 2 || distinct(&members, institution) < threshold {
                continue;
            }
            let mut held = Held::default();
            let mut partnered: Vec<usize> = Vec::new();
            sweep(facts, &members, window, |from, to, active| {
                partnered.clear();
                partnered.extend(active.iter().copied().filter(|&e| {
                    active.iter().any(|&f| {
                        facts[f].institution != facts[e].institution && facts[f].yj7 != facts[e].yj7
                    })
                }));
                let n = distinct(&partnered, institution);
                if n >= threshold {
                    held.hold(from, to, n, &partnered);
                }
            });
            out.extend(held.finding(setting, FindingSubject::Class(class4)));
        }
    }
    if let Some(setting) = rules.get(FindingRule::Polypharmacy) {
        let threshold = setting.threshold as usize;
        let members: Vec<usize> = (0..facts.len())
            .filter(|&e| facts[e].polypharmacy)
            .collect();
        let key = |e: usize| Some(facts[e].key);
        if distinct(&members, key) >= threshold {
            let mut held = Held::default();
            let mut peak: (usize, Vec<usize>) = (0, Vec::new());
            sweep(facts, &members, window, |from, to, active| {
                let n = distinct(active, key);
                if n >= threshold {
                    held.hold(from, to, n, &[]);
                    if n > peak.0 {
                        peak = (n, active.to_vec());
                    }
                }
            });
            held.entries = peak.1;
            out.extend(held.finding(setting, FindingSubject::List));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: i32 = 2_460_402; // 2024-04-01
    const WINDOW: (i32, i32) = (D, D + 99);

    fn fact(code: &str, institution: u32, spans: &[(i32, i32)]) -> EntryFacts {
        EntryFacts {
            key: code.parse().unwrap_or(0),
            yj7: Yj7::of_code(code),
            institution: Some(institution),
            spans: spans.to_vec(),
            polypharmacy: true,
        }
    }

    fn rules() -> &'static FindingRules {
        FindingRules::bundled().unwrap()
    }

    fn summary(found: &[Finding]) -> Vec<(FindingRule, Vec<usize>, u32, u32)> {
        found
            .iter()
            .map(|f| (f.setting.rule, f.entries.clone(), f.observed, f.days))
            .collect()
    }

    #[test]
    fn one_ingredient_from_two_institutions_at_once_is_one_duplicate() {
        let facts = [
            fact("2171022", 1, &[(D, D + 27), (D + 28, D + 55)]),
            fact("2171022", 2, &[(D + 50, D + 77)]),
            fact("2171022", 1, &[(D + 90, D + 99)]),
        ];
        let found = findings(&facts, WINDOW, rules());
        assert_eq!(
            summary(&found),
            [(FindingRule::DuplicateTherapy, vec![0, 1], 2, 6)]
        );
        assert_eq!(
            found[0].subject,
            FindingSubject::Ingredient(Yj7::of_code("2171022").unwrap())
        );
        // Apart in time: nothing.
        let apart = [
            fact("2171022", 1, &[(D, D + 27)]),
            fact("2171022", 2, &[(D + 28, D + 55)]),
        ];
        assert!(findings(&apart, WINDOW, rules()).is_empty());
    }

    #[test]
    fn two_ingredients_of_one_class_from_two_institutions_are_a_class_duplicate() {
        let facts = [
            fact("2189010", 1, &[(D, D + 27)]),
            fact("2189011", 2, &[(D + 20, D + 47)]),
            fact("2189010", 2, &[(D + 20, D + 47)]),
        ];
        let found = findings(&facts, WINDOW, rules());
        // 2189010 from 1 and 2 is duplicate therapy; 2189010@1 with 2189011@2 is the class
        // pair; 2189010@2 has no partner of another institution and ingredient.
        assert_eq!(
            summary(&found),
            [
                (FindingRule::DuplicateTherapy, vec![0, 2], 2, 8),
                (FindingRule::SameClass, vec![0, 1], 2, 8),
            ]
        );
    }

    #[test]
    fn polypharmacy_is_the_peak_of_distinct_oral_drugs_anywhere_in_the_window() {
        let codes = [
            "1111111", "2222222", "3333333", "4444444", "5555555", "6666666",
        ];
        let mut facts: Vec<EntryFacts> = codes
            .iter()
            .enumerate()
            .map(|(i, c)| fact(c, 1, &[(D + i as i32, D + 40)]))
            .collect();
        // The same ingredient again from another institution is not a seventh drug.
        facts.push(fact("1111111", 2, &[(D + 30, D + 35)]));
        let found = findings(&facts, WINDOW, rules());
        let poly: Vec<_> = summary(&found)
            .into_iter()
            .filter(|f| f.0 == FindingRule::Polypharmacy)
            .collect();
        assert_eq!(
            poly,
            [(FindingRule::Polypharmacy, vec![0, 1, 2, 3, 4, 5], 6, 36)]
        );
        // Five at once, even if six over time: nothing.
        facts[5].spans = vec![(D + 41, D + 60)];
        assert!(
            findings(&facts, WINDOW, rules())
                .iter()
                .all(|f| f.setting.rule != FindingRule::Polypharmacy)
        );
    }

    #[test]
    fn only_days_inside_the_window_count() {
        let facts = [
            fact("2171022", 1, &[(D - 60, D + 2)]),
            fact("2171022", 2, &[(D - 60, D + 2)]),
        ];
        let found = findings(&facts, WINDOW, rules());
        assert_eq!(found[0].days, 3);
        assert_eq!(found[0].start, day(D));
    }
}
