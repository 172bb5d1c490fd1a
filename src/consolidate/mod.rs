//! The medication-list engine: pure functions over domain values.
//!
//! [`consolidate`] takes one person's medication records (each with its source), the
//! drug master, the finding rules, an `asOf` day and the settings, and returns the
//! person's [`MedicationList`]: entries that each cite their sources, and findings that
//! each name the entries they implicate. No IO, no clock: the same inputs give the same
//! list, entries and findings in a fixed order.
//!
//! ```text
//! records ─ identity ─┐  (drug key per record: yj7, else its own code; memoised)
//!         ─ period  ──┤  (active span per record; undated ones set aside)
//!                     └─ window filter ─ merge (supplies, then courses = entries)
//!                                        └─ findings (sweeps over the window)
//! ```
//!
//! One concept per file: [`settings`] (window and tolerances), [`period`] (active spans),
//! `identity` (keys), `merge` (the match rule), `findings` (the rules). The rules are
//! documented in `docs/medication-list.md`.

mod findings;
mod identity;
mod merge;
pub mod period;
pub mod program;
pub mod settings;

use std::collections::HashMap;

use time::Date;

use self::findings::EntryFacts;
use self::identity::Identities;
use self::merge::{Course, Rec, SupplyBuild};
use self::period::day;
pub use self::period::{active_span, is_void};
pub use self::settings::ListSettings;
use crate::domain::{
    DrugRoute, FhirDateTime, InstitutionCode, ListEntry, MedicationKind, MedicationList,
    MedicationRecord, SourcedMedication, Supply, Yj7Route,
};
use crate::mapping::{DrugMaster, FindingRules};

/// Institutions named by the records, numbered.
#[derive(Default)]
struct Institutions<'a> {
    numbers: HashMap<&'a str, u32>,
    codes: Vec<&'a InstitutionCode>,
}

impl<'a> Institutions<'a> {
    fn number(&mut self, code: Option<&'a InstitutionCode>) -> Option<u32> {
        let code = code?;
        let next = u32::try_from(self.codes.len()).unwrap_or(u32::MAX);
        Some(*self.numbers.entry(code.as_str()).or_insert_with(|| {
            self.codes.push(code);
            next
        }))
    }
}

/// The institution that prescribed what a record shows.
fn prescriber(record: &MedicationRecord) -> Option<&InstitutionCode> {
    match record.kind {
        MedicationKind::Prescription | MedicationKind::Administration => record.facility.as_ref(),
        MedicationKind::Dispense => record.prescribing_facility.as_ref(),
        // A 調剤 claim names the prescriber (SH); a 医科 claim is the clinic's own.
        MedicationKind::Claim => record
            .prescribing_facility
            .as_ref()
            .or(record.facility.as_ref().filter(|f| !f.is_pharmacy())),
        MedicationKind::Statement => None,
    }
}

/// The pharmacy of a dispensing or of a 調剤 claim.
fn pharmacy(record: &MedicationRecord) -> Option<&InstitutionCode> {
    let facility = record.facility.as_ref()?;
    let dispensed = match record.kind {
        MedicationKind::Dispense => true,
        MedicationKind::Claim => facility.is_pharmacy() || record.prescribing_facility.is_some(),
        _ => false,
    };
    dispensed.then_some(facility)
}

/// The day the act happened: the order's issue, the hand-over, the claimed day.
fn issued(record: &MedicationRecord) -> Option<i32> {
    let recorded = record.recorded_at.and_then(|r| r.date());
    let date = match record.kind {
        MedicationKind::Prescription | MedicationKind::Dispense => recorded.or(record.start),
        _ => record.start.or(recorded),
    };
    date.map(Date::to_julian_day)
}

/// Consolidates one person's medication records into their list as of `as_of`.
///
/// `inputs` are the person's records (the caller links records to the person); entries
/// and findings refer to them by index. What was active on any day of the look-back
/// window ending on `as_of` is listed; records dated after `as_of` are left out.
pub fn consolidate(
    inputs: &[SourcedMedication],
    master: &DrugMaster,
    rules: &FindingRules,
    as_of: Date,
    settings: &ListSettings,
) -> MedicationList {
    let end = as_of.to_julian_day();
    let start = end - settings::days(settings.look_back_days.max(1)) + 1;
    let mut identities = Identities::new(master);
    let mut institutions = Institutions::default();
    let mut undated = Vec::new();
    let mut recs: Vec<Rec<'_>> = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.iter().enumerate() {
        let record = &input.record;
        let Some(days) = period::days(record, settings, end) else {
            if !is_void(record.status.as_deref()) {
                undated.push(index);
            }
            continue;
        };
        if days.end < start || days.start > end {
            continue;
        }
        let identity = identities.of(record);
        let month = match (record.start, record.recorded_at) {
            (None, Some(FhirDateTime::YearMonth(y, m))) => Some(y * 12 + i32::from(u8::from(m))),
            _ => None,
        };
        recs.push(Rec {
            index,
            key: identities.key_of(identity),
            identity,
            kind: record.kind,
            days,
            issued: issued(record),
            month,
            institution: institutions.number(prescriber(record)),
            pharmacy: institutions.number(pharmacy(record)),
            facility: institutions.number(record.facility.as_ref()),
            order: record.order_number.as_deref().filter(|o| !o.is_empty()),
            refills: record.refills.unwrap_or(0),
        });
    }
    recs.sort_unstable_by_key(|r| (r.key, merge::rank(r.kind), r.issued, r.days.start, r.index));

    let mut entries: Vec<(ListEntry, EntryFacts)> = Vec::new();
    let mut from = 0;
    while from < recs.len() {
        let key = recs[from].key;
        let to = from + recs[from..].iter().take_while(|r| r.key == key).count();
        let group = &recs[from..to];
        let supplies = merge::supplies(group, settings);
        for course in merge::courses(&supplies, settings) {
            entries.push(entry(
                &course,
                &supplies,
                group,
                inputs,
                &identities,
                &institutions,
                end,
            ));
        }
        from = to;
    }
    entries.sort_by(|(a, _), (b, _)| {
        (a.start, &a.identity.key, &a.institution, a.primary).cmp(&(
            b.start,
            &b.identity.key,
            &b.institution,
            b.primary,
        ))
    });
    let facts: Vec<EntryFacts> = entries.iter().map(|(_, f)| f.clone()).collect();
    let findings = findings::findings(&facts, (start, end), rules);
    MedicationList {
        as_of,
        window_start: day(start),
        entries: entries.into_iter().map(|(e, _)| e).collect(),
        findings,
        undated,
    }
}

/// Kinds in the order they describe a drug best.
fn describes(kind: MedicationKind) -> u8 {
    match kind {
        MedicationKind::Prescription => 0,
        MedicationKind::Dispense => 1,
        MedicationKind::Claim => 2,
        MedicationKind::Administration => 3,
        MedicationKind::Statement => 4,
    }
}

/// The route of an entry: 頓服 when any source says so (an as-needed tablet is also
/// "oral"); else the best-describing source's; else the route its `yj7` encodes.
fn route_of(
    members: &[&Rec<'_>],
    inputs: &[SourcedMedication],
    key: &crate::domain::DrugKey,
) -> Option<DrugRoute> {
    let route = |r: &Rec<'_>| inputs[r.index].record.route;
    if members
        .iter()
        .any(|r| route(r) == Some(DrugRoute::AsNeeded))
    {
        return Some(DrugRoute::AsNeeded);
    }
    members
        .iter()
        .filter(|r| route(r).is_some())
        .min_by_key(|r| (describes(r.kind), std::cmp::Reverse(r.issued)))
        .and_then(|r| route(r))
        .or_else(|| {
            key.yj7().map(|k| match k.route() {
                Yj7Route::Internal => DrugRoute::Oral,
                Yj7Route::Injection => DrugRoute::Injection,
                Yj7Route::External => DrugRoute::Topical,
            })
        })
}

fn entry(
    course: &Course,
    supplies: &[SupplyBuild],
    group: &[Rec<'_>],
    inputs: &[SourcedMedication],
    identities: &Identities<'_>,
    institutions: &Institutions<'_>,
    as_of: i32,
) -> (ListEntry, EntryFacts) {
    let members: Vec<&Rec<'_>> = course
        .supplies
        .iter()
        .flat_map(|&s| supplies[s].members.iter().map(|&m| &group[m]))
        .collect();
    let primary = members
        .iter()
        .min_by_key(|r| (describes(r.kind), std::cmp::Reverse(r.issued), r.index))
        .copied()
        .unwrap_or(&group[0]);
    let identity = identities.identity(primary.identity).clone();
    let route = route_of(&members, inputs, &identity.key);
    let spans: Vec<(i32, i32)> = course
        .supplies
        .iter()
        .map(|&s| (supplies[s].start, supplies[s].end))
        .collect();
    let supplies_out: Vec<Supply> = course
        .supplies
        .iter()
        .map(|&s| {
            let b = &supplies[s];
            let mut sources: Vec<&Rec<'_>> = b.members.iter().map(|&m| &group[m]).collect();
            sources.sort_by_key(|r| (merge::rank(r.kind), r.issued, r.index));
            Supply {
                span: period::Days {
                    start: b.start,
                    end: b.end,
                    basis: b.basis,
                }
                .to_span(),
                sources: sources.iter().map(|r| r.index).collect(),
            }
        })
        .collect();
    let polypharmacy = route == Some(DrugRoute::Oral);
    let facts = EntryFacts {
        key: primary.key,
        yj7: identity.key.yj7(),
        institution: course.institution,
        spans: spans.clone(),
        polypharmacy,
    };
    let entry = ListEntry {
        institution: course
            .institution
            .map(|i| institutions.codes[i as usize].clone()),
        route,
        start: day(course.start),
        end: day(course.end),
        active_on_as_of: spans.iter().any(|&(s, e)| s <= as_of && as_of <= e),
        supplies: supplies_out,
        primary: primary.index,
        counts_for_polypharmacy: polypharmacy,
        only_claims: members.iter().all(|r| r.kind == MedicationKind::Claim),
        identity,
    };
    (entry, facts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::code_system::KnownSystem;
    use crate::domain::{Coding, Provenance, RecordSource, SourceFormat, SubjectRef};
    use time::macros::date;

    const CLINIC: &str = "1312345678";

    fn input(kind: MedicationKind, code: &str, start: Date, days: u32) -> SourcedMedication {
        let mut record = MedicationRecord::new(kind, SubjectRef::FhirPatient("p".into()));
        record
            .codings
            .push(Coding::new(KnownSystem::ReceiptDrug.uri(), code, None));
        record.start = Some(start);
        record.supply_days = Some(days);
        record.route = Some(DrugRoute::Oral);
        record.facility = InstitutionCode::parse(CLINIC).ok();
        SourcedMedication {
            record,
            source: RecordSource {
                record_pk: 1,
                resource: None,
                provenance: Provenance {
                    client_id: 1,
                    input_id: 1,
                    format: SourceFormat::Fhir,
                    received_at: 0,
                    location: String::new(),
                },
            },
        }
    }

    fn rx(code: &str, start: Date, days: u32) -> SourcedMedication {
        input(MedicationKind::Prescription, code, start, days)
    }

    fn claim(code: &str, start: Date, days: u32) -> SourcedMedication {
        input(MedicationKind::Claim, code, start, days)
    }

    fn list_with(inputs: &[SourcedMedication], settings: &ListSettings) -> MedicationList {
        let master = DrugMaster::curated().unwrap();
        let rules = FindingRules::bundled().unwrap();
        consolidate(inputs, &master, rules, date!(2024 - 06 - 30), settings)
    }

    fn list(inputs: &[SourcedMedication]) -> MedicationList {
        list_with(inputs, &ListSettings::default())
    }

    #[test]
    fn undated_void_late_and_old_records_are_kept_out_and_undated_ones_reported() {
        let mut undated = rx("612170710", date!(2024 - 06 - 01), 28);
        undated.record.start = None;
        let mut void = rx("610454085", date!(2024 - 06 - 01), 28);
        void.record.status = Some("entered-in-error".into());
        let inputs = [
            undated,
            void,
            rx("621974701", date!(2024 - 07 - 01), 28),
            rx("612320350", date!(2024 - 03 - 01), 14),
            rx("612180263", date!(2024 - 06 - 20), 28),
        ];
        let l = list(&inputs);
        assert_eq!(l.undated, [0]);
        assert_eq!(l.window_start, date!(2024 - 03 - 23));
        let primaries: Vec<usize> = l.entries.iter().map(|e| e.primary).collect();
        assert_eq!(primaries, [4]);
        assert!(l.entries[0].active_on_as_of);
    }

    #[test]
    fn an_as_needed_source_makes_the_entry_as_needed_and_the_prescription_describes_it() {
        let mut claim = claim("620098801", date!(2024 - 06 - 10), 10);
        claim.record.route = Some(DrugRoute::AsNeeded);
        let order = rx("620098801", date!(2024 - 06 - 10), 10);
        let l = list(&[claim, order]);
        assert_eq!(l.entries.len(), 1);
        let e = &l.entries[0];
        assert_eq!(e.route, Some(DrugRoute::AsNeeded));
        assert!(!e.counts_for_polypharmacy && !e.only_claims);
        assert_eq!(e.primary, 1);
        assert_eq!(e.supplies[0].sources, [1, 0]);
    }

    #[test]
    fn extreme_settings_neither_panic_nor_wrap() {
        let inputs = [
            rx("612170710", date!(2024 - 06 - 10), 28),
            claim("612170710", date!(2024 - 06 - 10), 28),
        ];
        let huge = ListSettings {
            look_back_days: u32::MAX,
            course_gap_days: u32::MAX,
            dispense_within_days: u32::MAX,
            claim_within_days: u32::MAX,
            as_needed_days: u32::MAX,
            topical_days: u32::MAX,
        };
        let l = list_with(&inputs, &huge);
        assert_eq!(l.entries.len(), 1);
        let zero = ListSettings {
            look_back_days: 0,
            course_gap_days: 0,
            dispense_within_days: 0,
            claim_within_days: 0,
            as_needed_days: 0,
            topical_days: 0,
        };
        let l = list_with(&inputs, &zero);
        assert_eq!(l.window_start, date!(2024 - 06 - 30));
        assert_eq!(l.entries.len(), 1);
        assert_eq!(
            l.entries[0].sources().count(),
            2,
            "same day, no tolerance needed"
        );
    }

    #[test]
    fn entries_come_in_order_of_start_whatever_the_input_order() {
        let a = rx("612170710", date!(2024 - 06 - 10), 28);
        let b = rx("621974701", date!(2024 - 05 - 10), 28);
        let forward = list(&[a.clone(), b.clone()]);
        let backward = list(&[b, a]);
        let keys = |l: &MedicationList| -> Vec<String> {
            l.entries
                .iter()
                .map(|e| e.identity.key.yj7().unwrap().to_string())
                .collect()
        };
        assert_eq!(keys(&forward), ["3962002", "2171022"]);
        assert_eq!(keys(&forward), keys(&backward));
    }
}
