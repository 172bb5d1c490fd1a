//! Merging: records of one drug key become supplies (one prescription seen by whoever
//! saw it), and supplies become courses (one institution's continuing treatment), which
//! are the list's entries.
//!
//! The match rule (the person is given: the engine is called with one person's records):
//!
//! 1. **Drug**: records are compared only within one drug key (`yj7` when mapped, else
//!    the exact code).
//! 2. **Supplies**, records taken in the order prescription, administration, dispensing,
//!    claim, statement, each by date:
//!    - a *prescription* starts a supply, unless one from the same institution was issued
//!      the same day or carries the same order number (a re-send, a second RP);
//!    - an *administration* joins the prescription of its institution with the same order
//!      number, or whose span covers its day;
//!    - a *dispensing* fills the prescription from the institution it names, issued at
//!      most `dispense_within_days` before it (for a refill prescription, up to the end of
//!      its last fill), while the prescription has fills left; one that names no
//!      institution fills such a prescription only when all candidates come from one
//!      institution;
//!    - a pharmacy's *claim* (調剤) joins the supply holding that pharmacy's dispensing
//!      dated within `claim_within_days`, else a prescription as a dispensing would; a
//!      clinic's *claim* (医科, its own dispensing) joins that clinic's prescription issued
//!      within `claim_within_days` of the 算定日 (in the same month when the claim has no
//!      算定日). A claim that arrives months later therefore enriches the supply it claims
//!      and never adds a second one; a claim that names the prescribing institution
//!      completes a supply whose dispensing did not;
//!    - a record matching nothing above starts a supply of its own; a copy (same kind,
//!      same institution, same day) joins the supply of its original;
//!    - a *statement* starts a supply with no institution.
//! 3. **Courses**: supplies of one institution chain into one entry while each starts at
//!    most `course_gap_days` after the previous ended; supplies with no institution join
//!    the course of the same drug they overlap most, else form entries of their own.
//!    The same drug from two institutions therefore stays two entries.

use super::period::Days;
use super::settings::{self, ListSettings};
use crate::domain::{MedicationKind, SpanBasis};

/// One dated record of the person, as the merge sees it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rec<'a> {
    /// Index into the engine's input.
    pub index: usize,
    pub key: u32,
    pub identity: u32,
    pub kind: MedicationKind,
    pub days: Days,
    /// The day the act happened (order issued, handed over, claimed day); `None` for a
    /// claim known by month only.
    pub issued: Option<i32>,
    /// A claim without 算定日: its 診療年月 as `year * 12 + month`.
    pub month: Option<i32>,
    /// The prescribing institution (interned), when known.
    pub institution: Option<u32>,
    /// The pharmacy of a dispensing or of a 調剤 claim (interned).
    pub pharmacy: Option<u32>,
    /// The facility that sent the record (interned).
    pub facility: Option<u32>,
    pub order: Option<&'a str>,
    pub refills: u32,
}

/// Kinds in the order the merge takes them.
pub(super) fn rank(kind: MedicationKind) -> u8 {
    match kind {
        MedicationKind::Prescription => 0,
        MedicationKind::Administration => 1,
        MedicationKind::Dispense => 2,
        MedicationKind::Claim => 3,
        MedicationKind::Statement => 4,
    }
}

/// A supply being built.
#[derive(Debug, Clone)]
pub(super) struct SupplyBuild {
    pub start: i32,
    pub end: i32,
    pub basis: SpanBasis,
    /// True while only weak spans (a single day, a claim month) are known.
    weak: bool,
    pub institution: Option<u32>,
    anchor: MedicationKind,
    issued: Option<i32>,
    /// Last day a dispensing of the anchoring prescription may fall on.
    deadline: i32,
    /// Fills the anchoring prescription allows.
    fills: usize,
    order: Option<String>,
    /// (pharmacy, day) of each dispensing.
    dispensed: Vec<(Option<u32>, i32)>,
    /// (pharmacy, day) of each 調剤 claim.
    pharmacy_claims: Vec<(u32, i32)>,
    /// Days of each clinic (医科) claim.
    clinic_claims: Vec<Option<i32>>,
    /// (kind, facility, day) of every member, for recognising copies.
    seen: Vec<(MedicationKind, Option<u32>, Option<i32>)>,
    /// Positions of the members in the group's record slice.
    pub members: Vec<usize>,
}

fn weak(basis: SpanBasis) -> bool {
    matches!(basis, SpanBasis::SingleDay | SpanBasis::ClaimMonth)
}

impl SupplyBuild {
    fn new(rec: &Rec<'_>, at: usize, settings: &ListSettings) -> Self {
        let fills = 1 + rec.refills as usize;
        let issued = rec.issued.unwrap_or(rec.days.start);
        let within = settings::days(settings.dispense_within_days);
        let deadline = if rec.refills == 0 {
            issued + within
        } else {
            rec.days.end.max(issued) + within
        };
        let mut supply = Self {
            start: rec.days.start,
            end: rec.days.end,
            basis: rec.days.basis,
            weak: weak(rec.days.basis),
            institution: rec.institution,
            anchor: rec.kind,
            issued: rec.issued,
            deadline,
            fills,
            order: rec.order.map(str::to_owned),
            dispensed: Vec::new(),
            pharmacy_claims: Vec::new(),
            clinic_claims: Vec::new(),
            seen: Vec::new(),
            members: Vec::new(),
        };
        supply.add(rec, at);
        supply
    }

    fn add(&mut self, rec: &Rec<'_>, at: usize) {
        let strong = !weak(rec.days.basis);
        if self.members.is_empty() || (strong && self.weak) {
            self.start = rec.days.start;
            self.end = rec.days.end;
            self.basis = rec.days.basis;
            self.weak = !strong;
        } else if strong || self.weak {
            self.start = self.start.min(rec.days.start);
            self.end = self.end.max(rec.days.end);
        }
        if self.institution.is_none() {
            self.institution = rec.institution;
        }
        match rec.kind {
            MedicationKind::Dispense => self.dispensed.push((rec.pharmacy, day_of(rec))),
            MedicationKind::Claim => match rec.pharmacy {
                Some(p) => self.pharmacy_claims.push((p, day_of(rec))),
                None => self.clinic_claims.push(rec.issued),
            },
            _ => {}
        }
        self.seen.push((rec.kind, rec.facility, rec.issued));
        self.members.push(at);
    }

    fn is_prescription(&self) -> bool {
        self.anchor == MedicationKind::Prescription
    }

    /// A record of the same kind from the same facility on the same day is a copy.
    fn has_copy_of(&self, rec: &Rec<'_>) -> bool {
        rec.issued.is_some()
            && self
                .seen
                .iter()
                .any(|&(k, f, d)| k == rec.kind && f == rec.facility && d == rec.issued)
    }

    /// Whether a dispensing (or a claim acting as one) on `day` may fill this supply's
    /// prescription, with `used` fills already taken.
    fn fillable(&self, day: i32, used: usize) -> bool {
        self.is_prescription()
            && self.issued.is_some_and(|issued| issued <= day)
            && day <= self.deadline
            && used < self.fills
    }
}

fn day_of(rec: &Rec<'_>) -> i32 {
    rec.issued.unwrap_or(rec.days.start)
}

/// Does the supply's institution agree with what the record says (unknown agrees)?
fn agrees(supply: &SupplyBuild, rec: &Rec<'_>) -> bool {
    rec.institution.is_none()
        || supply.institution.is_none()
        || supply.institution == rec.institution
}

/// The candidate nearest in time to `day`; `None` when there is none or, for a record
/// that names no institution, when the candidates come from more than one.
fn nearest(
    supplies: &[SupplyBuild],
    candidates: impl Iterator<Item = usize>,
    day: i32,
    rec: &Rec<'_>,
    anchor_day: impl Fn(&SupplyBuild) -> i32,
) -> Option<usize> {
    let mut best: Option<(i32, usize)> = None;
    let mut institutions: Option<Option<u32>> = None;
    let mut ambiguous = false;
    for i in candidates {
        let s = &supplies[i];
        match institutions {
            None => institutions = Some(s.institution),
            Some(first) if first != s.institution => ambiguous = true,
            Some(_) => {}
        }
        let distance = (anchor_day(s) - day).abs();
        if best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, i));
        }
    }
    if ambiguous && rec.institution.is_none() {
        return None;
    }
    best.map(|(_, i)| i)
}

/// The supply a record joins, if any.
fn place(supplies: &[SupplyBuild], rec: &Rec<'_>, settings: &ListSettings) -> Option<usize> {
    let tolerance = settings::days(settings.claim_within_days);
    let all = || 0..supplies.len();
    let found = match rec.kind {
        MedicationKind::Prescription => all().find(|&i| {
            let s = &supplies[i];
            s.is_prescription()
                && s.institution == rec.institution
                && (s.issued == rec.issued
                    || (rec.order.is_some() && s.order.as_deref() == rec.order))
        }),
        MedicationKind::Administration => {
            let day = day_of(rec);
            all().find(|&i| {
                let s = &supplies[i];
                s.is_prescription()
                    && s.institution == rec.institution
                    && ((rec.order.is_some() && s.order.as_deref() == rec.order)
                        || (s.start <= day && day <= s.end))
            })
        }
        MedicationKind::Dispense => {
            let day = day_of(rec);
            let candidates = all().filter(|&i| {
                let s = &supplies[i];
                agrees(s, rec) && s.fillable(day, s.dispensed.len())
            });
            nearest(supplies, candidates, day, rec, |s| {
                s.issued.unwrap_or(s.start)
            })
        }
        MedicationKind::Claim => match (rec.pharmacy, rec.issued) {
            (Some(pharmacy), Some(day)) => {
                let claimed = |s: &SupplyBuild| {
                    s.pharmacy_claims
                        .iter()
                        .filter(|(p, _)| *p == pharmacy)
                        .count()
                };
                let by_dispensing = all().filter(|&i| {
                    let s = &supplies[i];
                    agrees(s, rec)
                        && claimed(s)
                            < s.dispensed
                                .iter()
                                .filter(|(p, d)| {
                                    *p == Some(pharmacy) && (d - day).abs() <= tolerance
                                })
                                .count()
                });
                let dispensed_day = |s: &SupplyBuild| {
                    s.dispensed
                        .iter()
                        .filter(|(p, _)| *p == Some(pharmacy))
                        .map(|(_, d)| *d)
                        .min_by_key(|d| (d - day).abs())
                        .unwrap_or(s.start)
                };
                nearest(supplies, by_dispensing, day, rec, dispensed_day).or_else(|| {
                    let by_prescription = all().filter(|&i| {
                        let s = &supplies[i];
                        agrees(s, rec)
                            && s.dispensed.is_empty()
                            && s.fillable(day, s.pharmacy_claims.len())
                    });
                    nearest(supplies, by_prescription, day, rec, |s| {
                        s.issued.unwrap_or(s.start)
                    })
                })
            }
            (Some(_), None) => None,
            (None, day) => {
                let candidates = all().filter(|&i| {
                    let s = &supplies[i];
                    let when = match (s.issued, day) {
                        (Some(issued), Some(day)) => (issued - day).abs() <= tolerance,
                        (Some(issued), None) => rec.month == Some(month_of(issued)),
                        _ => false,
                    };
                    s.is_prescription()
                        && rec.institution.is_some()
                        && s.institution == rec.institution
                        && when
                        && s.clinic_claims.len() < s.fills
                });
                let day = day.unwrap_or(rec.days.start);
                nearest(supplies, candidates, day, rec, |s| {
                    s.issued.unwrap_or(s.start)
                })
            }
        },
        MedicationKind::Statement => None,
    };
    found.or_else(|| all().find(|&i| supplies[i].has_copy_of(rec)))
}

/// `year * 12 + month` of a Julian day.
pub(super) fn month_of(julian: i32) -> i32 {
    let date = super::period::day(julian);
    date.year() * 12 + i32::from(u8::from(date.month()))
}

/// Supplies of one drug key; `recs` are that key's records in merge order.
pub(super) fn supplies(recs: &[Rec<'_>], settings: &ListSettings) -> Vec<SupplyBuild> {
    let mut out: Vec<SupplyBuild> = Vec::new();
    for (at, rec) in recs.iter().enumerate() {
        match place(&out, rec, settings) {
            Some(i) => out[i].add(rec, at),
            None => out.push(SupplyBuild::new(rec, at, settings)),
        }
    }
    out
}

/// Courses of one drug key: each a list of supply positions, sorted by start.
pub(super) fn courses(supplies: &[SupplyBuild], settings: &ListSettings) -> Vec<Course> {
    let gap = settings::days(settings.course_gap_days);
    let mut order: Vec<usize> = (0..supplies.len()).collect();
    order.sort_by_key(|&i| (supplies[i].institution.is_none(), supplies[i].start, i));
    let mut courses: Vec<Course> = Vec::new();
    for i in order {
        let s = &supplies[i];
        let target = match s.institution {
            Some(inst) => courses
                .iter()
                .rposition(|c| c.institution == Some(inst) && s.start <= c.end + gap + 1),
            None => {
                // The course of any institution this supply overlaps most (days in
                // common, then days in common counting the course gap, then earliest).
                let overlap = |c: &Course| {
                    let from = s.start.max(c.start);
                    (
                        s.end.min(c.end) - from + 1,
                        s.end.min(c.end + gap) - from + 1,
                    )
                };
                let best = courses
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.institution.is_some())
                    .map(|(k, c)| (overlap(c), k))
                    .filter(|((_, near), _)| *near > 0)
                    .max_by_key(|&(o, k)| (o, std::cmp::Reverse(k)));
                best.map(|(_, k)| k).or_else(|| {
                    courses
                        .iter()
                        .rposition(|c| c.institution.is_none() && s.start <= c.end + gap + 1)
                })
            }
        };
        match target {
            Some(k) => {
                let c = &mut courses[k];
                c.start = c.start.min(s.start);
                c.end = c.end.max(s.end);
                c.supplies.push(i);
            }
            None => courses.push(Course {
                institution: s.institution,
                start: s.start,
                end: s.end,
                supplies: vec![i],
            }),
        }
    }
    for c in &mut courses {
        c.supplies.sort_by_key(|&i| (supplies[i].start, i));
    }
    courses
}

/// One course of a drug from one institution (or from none known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Course {
    pub institution: Option<u32>,
    pub start: i32,
    pub end: i32,
    pub supplies: Vec<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const APR1: i32 = 2_460_402; // 2024-04-01

    fn rec(kind: MedicationKind, day: i32, days: i32) -> Rec<'static> {
        Rec {
            index: 0,
            key: 0,
            identity: 0,
            kind,
            days: Days {
                start: day,
                end: day + days - 1,
                basis: SpanBasis::SupplyDays,
            },
            issued: Some(day),
            month: None,
            institution: Some(1),
            pharmacy: None,
            facility: Some(1),
            order: None,
            refills: 0,
        }
    }

    fn dispensing(day: i32, pharmacy: u32, prescriber: Option<u32>) -> Rec<'static> {
        Rec {
            institution: prescriber,
            pharmacy: Some(pharmacy),
            facility: Some(pharmacy),
            ..rec(MedicationKind::Dispense, day, 28)
        }
    }

    fn claim_of_pharmacy(day: i32, pharmacy: u32, prescriber: Option<u32>) -> Rec<'static> {
        Rec {
            kind: MedicationKind::Claim,
            ..dispensing(day, pharmacy, prescriber)
        }
    }

    fn members(s: &[SupplyBuild]) -> Vec<Vec<usize>> {
        s.iter().map(|s| s.members.clone()).collect()
    }

    #[test]
    fn order_dispensing_and_claim_of_one_prescription_are_one_supply() {
        let settings = ListSettings::default();
        let recs = [
            rec(MedicationKind::Prescription, APR1, 28),
            dispensing(APR1 + 1, 9, None),
            claim_of_pharmacy(APR1 + 1, 9, Some(1)),
        ];
        let s = supplies(&recs, &settings);
        assert_eq!(members(&s), [vec![0, 1, 2]]);
        assert_eq!((s[0].start, s[0].end), (APR1, APR1 + 28));
    }

    #[test]
    fn a_dispensing_too_late_or_from_another_prescriber_starts_its_own_supply() {
        let settings = ListSettings::default();
        let recs = [
            rec(MedicationKind::Prescription, APR1, 28),
            dispensing(APR1 + 5, 9, Some(1)),
            dispensing(APR1 + 1, 9, Some(2)),
        ];
        assert_eq!(
            members(&supplies(&recs, &settings)),
            [vec![0], vec![1], vec![2]]
        );
    }

    #[test]
    fn a_dispensing_naming_no_prescriber_fills_only_an_unambiguous_prescription() {
        let settings = ListSettings::default();
        let two = [
            rec(MedicationKind::Prescription, APR1, 28),
            Rec {
                institution: Some(2),
                facility: Some(2),
                ..rec(MedicationKind::Prescription, APR1, 28)
            },
            dispensing(APR1 + 1, 9, None),
        ];
        assert_eq!(members(&supplies(&two, &settings)).len(), 3);
        let one = [
            rec(MedicationKind::Prescription, APR1, 28),
            dispensing(APR1 + 1, 9, None),
        ];
        assert_eq!(members(&supplies(&one, &settings)), [vec![0, 1]]);
    }

    #[test]
    fn a_clinic_claim_joins_its_own_prescription_by_day_or_month() {
        let settings = ListSettings::default();
        let claim = Rec {
            pharmacy: None,
            ..rec(MedicationKind::Claim, APR1, 28)
        };
        let by_month = Rec {
            issued: None,
            month: Some(month_of(APR1)),
            days: Days {
                start: APR1,
                end: APR1 + 27,
                basis: SpanBasis::ClaimMonth,
            },
            ..claim
        };
        let recs = [rec(MedicationKind::Prescription, APR1 + 3, 28), by_month];
        let s = supplies(&recs, &settings);
        assert_eq!(members(&s), [vec![0, 1]]);
        assert_eq!(
            s[0].start,
            APR1 + 3,
            "a claim month does not move a known start"
        );
        let recs = [rec(MedicationKind::Prescription, APR1, 28), claim, claim];
        assert_eq!(
            members(&supplies(&recs, &settings)),
            [vec![0, 1, 2]],
            "a copy of the claim joins its original"
        );
    }

    #[test]
    fn a_refill_prescription_takes_one_dispensing_per_fill() {
        let settings = ListSettings::default();
        let recs = [
            Rec {
                refills: 2,
                days: Days {
                    start: APR1,
                    end: APR1 + 83,
                    basis: SpanBasis::SupplyDays,
                },
                ..rec(MedicationKind::Prescription, APR1, 28)
            },
            dispensing(APR1, 9, Some(1)),
            dispensing(APR1 + 28, 9, Some(1)),
            dispensing(APR1 + 56, 9, Some(1)),
            dispensing(APR1 + 84, 9, Some(1)),
        ];
        assert_eq!(
            members(&supplies(&recs, &settings)),
            [vec![0, 1, 2, 3], vec![4]]
        );
    }

    #[test]
    fn courses_chain_one_institution_and_keep_institutions_apart() {
        let settings = ListSettings::default();
        let recs = [
            rec(MedicationKind::Prescription, APR1, 28),
            rec(MedicationKind::Prescription, APR1 + 30, 28),
            rec(MedicationKind::Prescription, APR1 + 120, 28),
            Rec {
                institution: Some(2),
                ..rec(MedicationKind::Prescription, APR1 + 10, 28)
            },
            Rec {
                institution: None,
                kind: MedicationKind::Statement,
                ..rec(MedicationKind::Statement, APR1 + 40, 10)
            },
        ];
        let s = supplies(&recs, &settings);
        let c = courses(&s, &settings);
        let shape: Vec<(Option<u32>, Vec<usize>)> = c
            .iter()
            .map(|c| {
                (
                    c.institution,
                    c.supplies.iter().map(|&i| s[i].members[0]).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                (Some(1), vec![0, 1, 4]),
                (Some(2), vec![3]),
                (Some(1), vec![2]),
            ]
        );
    }
}
