//! The medication-list engine alone (`kakari::consolidate`), in records per second.
//!
//! The input is one person with 2,000 medication records over two years from several
//! sources, built here: a clinic's FHIR prescriptions of twelve chronic drugs every 28 days,
//! each dispensed by a pharmacy and claimed (調剤) by the insurer; a second clinic's HL7 v2
//! prescriptions of six drugs every 30 days with its own 医科 claims, two of them the same
//! ingredients as the first clinic's; as-needed and topical claims; patient statements.
//! Codes mix HOT9, YJ and receipt codes, as real feeds do.
//!
//! Measured: `consolidate` as the doctor's list calls it (default 100-day window) and over
//! the whole history (a 730-day window: every record merged, the heaviest case). The peer
//! measured in the same run is sorting the same records by their code and start day, the
//! floor of any grouping of records by drug.
//!
//! Run: `cargo bench --bench consolidate`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kakari::consolidate::{ListSettings, consolidate};
use kakari::domain::code_system::KnownSystem;
use kakari::domain::{
    Coding, Decimal, DrugRoute, FhirDateTime, InstitutionCode, MedicationKind, MedicationRecord,
    MemberId, Provenance, Quantity, RecordSource, SourceFormat, SourcedMedication, SubjectRef,
};
use kakari::mapping::{DrugMaster, FindingRules};
use time::{Date, Duration};

const RECORDS: usize = 2_000;
const CLINIC_A: &str = "1312345678";
const CLINIC_B: &str = "1319876543";
const PHARMACY: &str = "1342345678";

/// (HOT9 for the prescription, receipt code for the claims) of the first clinic's drugs.
const CLINIC_A_DRUGS: [(&str, &str); 12] = [
    ("103299401", "612170710"),
    ("103465301", "612180265"),
    ("108742001", "613960032"),
    ("103835401", "610453119"),
    ("108665201", "610454050"),
    ("106824501", "613120003"),
    ("103216101", "610421321"),
    ("103485101", "612190103"),
    ("104312901", "612320350"),
    ("100371003", "611120055"),
    ("103466001", "612180263"),
    ("103407301", "610407028"),
];
/// The second clinic's drugs (receipt codes); the first two repeat clinic A's ingredients.
const CLINIC_B_DRUGS: [&str; 6] = [
    "620005905",
    "621521304",
    "620009127",
    "621999101",
    "620003914",
    "621970701",
];

fn tab(n: u32) -> Quantity {
    Quantity {
        value: Decimal::parse(&n.to_string()).expect("a number"),
        unit: Some("錠".into()),
        code: Some("TAB".into()),
        unit_system: None,
    }
}

struct Person {
    member: MemberId,
    start: Date,
    records: Vec<SourcedMedication>,
}

impl Person {
    fn push(&mut self, kind: MedicationKind, coding: Coding, facility: &str, day: i64, days: u32) {
        let mut r = MedicationRecord::new(kind, SubjectRef::Member(self.member.clone()));
        r.codings.push(coding);
        r.facility = InstitutionCode::parse(facility).ok();
        let date = self.start + Duration::days(day);
        r.start = Some(date);
        r.recorded_at = Some(FhirDateTime::Date(date));
        r.supply_days = Some(days);
        r.route = Some(DrugRoute::Oral);
        r.daily_dose = Some(tab(1));
        r.dose = Some(tab(1));
        r.status = Some("completed".into());
        let n = self.records.len() as i64;
        self.records.push(SourcedMedication {
            record: r,
            source: RecordSource {
                record_pk: n + 1,
                resource: None,
                provenance: Provenance {
                    client_id: 1,
                    input_id: n + 1,
                    format: SourceFormat::Fhir,
                    received_at: 0,
                    location: String::new(),
                },
            },
        });
    }

    fn last(&mut self) -> &mut MedicationRecord {
        &mut self.records.last_mut().expect("a record").record
    }
}

fn person() -> Person {
    let hot9 = |c: &str| Coding::new(KnownSystem::Hot9.uri(), c, None);
    let receipt = |c: &str| Coding::new(KnownSystem::ReceiptDrug.uri(), c, None);
    let mut p = Person {
        member: MemberId::parse("06139463:12:1001:01").expect("member"),
        start: Date::from_calendar_date(2023, time::Month::January, 4).expect("date"),
        records: Vec::with_capacity(RECORDS),
    };
    let mut visit = 0i64;
    while p.records.len() < RECORDS {
        let a = visit * 28;
        for (i, (hot, rc)) in CLINIC_A_DRUGS.iter().enumerate() {
            if (visit as usize + i) % 5 == 4 {
                continue; // not every drug at every visit
            }
            p.push(MedicationKind::Prescription, hot9(hot), CLINIC_A, a, 28);
            p.push(MedicationKind::Dispense, hot9(hot), PHARMACY, a + 1, 28);
            p.push(MedicationKind::Claim, receipt(rc), PHARMACY, a + 1, 28);
            p.last().prescribing_facility = InstitutionCode::parse(CLINIC_A).ok();
        }
        let b = visit * 30 + 9;
        for rc in CLINIC_B_DRUGS {
            p.push(MedicationKind::Prescription, receipt(rc), CLINIC_B, b, 30);
            p.push(MedicationKind::Claim, receipt(rc), CLINIC_B, b, 30);
        }
        p.push(MedicationKind::Claim, receipt("620098801"), CLINIC_B, b, 10);
        p.last().route = Some(DrugRoute::AsNeeded);
        p.push(MedicationKind::Claim, receipt("620007812"), CLINIC_B, b, 1);
        p.last().route = Some(DrugRoute::Topical);
        p.push(
            MedicationKind::Statement,
            hot9("103299401"),
            CLINIC_A,
            a,
            28,
        );
        visit += 1;
    }
    p.records.truncate(RECORDS);
    p
}

/// The peer's sort key: a record's first code and its start.
fn key(r: &SourcedMedication) -> (Option<&str>, Option<Date>) {
    (
        r.record.codings.first().map(|c| c.code.as_str()),
        r.record.start,
    )
}

fn bench(c: &mut Criterion) {
    let p = person();
    let master = DrugMaster::curated().expect("curated master");
    let rules = FindingRules::bundled().expect("bundled rules");
    let last = p
        .records
        .iter()
        .filter_map(|r| r.record.start)
        .max()
        .expect("dated records");
    let window = ListSettings::default();
    let whole = ListSettings {
        look_back_days: 730,
        ..ListSettings::default()
    };
    // Not a timed assertion: a sanity check that the benchmark measures real work.
    let list = consolidate(&p.records, &master, rules, last, &whole);
    assert!(list.entries.len() >= 18 && !list.findings.is_empty());

    let mut group = c.benchmark_group("consolidate");
    group.throughput(Throughput::Elements(p.records.len() as u64));
    group.sample_size(50);
    group.bench_function("peer: sort records by code and start", |b| {
        b.iter(|| {
            let mut refs: Vec<&SourcedMedication> = p.records.iter().collect();
            refs.sort_unstable_by_key(|r| key(r));
            black_box(refs.len())
        });
    });
    group.bench_function("100-day window", |b| {
        b.iter(|| {
            let list = consolidate(black_box(&p.records), &master, rules, last, &window);
            black_box(list.entries.len())
        });
    });
    group.bench_function("whole history (730 days)", |b| {
        b.iter(|| {
            let list = consolidate(black_box(&p.records), &master, rules, last, &whole);
            black_box(list.entries.len())
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
