//! 特定健診 export and intake throughput, in observations per second.
//!
//! * `export/cda_archive`: N people × 25 lab results → `ArchiveWriter` (item lookup, unit
//!   handling, CDA envelope, deflate ZIP in memory, index).
//! * `export/cda_documents`: the same documents written with `write_document`, no ZIP
//!   (shows the share of the deflate step).
//! * `export/plain_quick_xml` (peer): the same 25 × N observations as bare `<observation>`
//!   elements through `quick_xml::Writer` into a `Vec`, no envelope, no mapping, no ZIP.
//! * `parse/read_submission`: the archive above read back into `LabResult`s.
//! * `parse/quick_xml_events` (peer): the same archive decompressed and every document run
//!   through `quick_xml::Reader` events, building nothing.
//!
//! Run: `cargo bench --bench tokutei`.

use std::hint::black_box;
use std::io::{Cursor, Read};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kakari::codec::tokutei::{
    ArchiveHeader, ArchiveWriter, CheckupRecord, DocumentContext, ExportReport, ReadLimits,
    read_submission, write_document,
};
use kakari::domain::code_system::{Coding, KnownSystem};
use kakari::domain::{
    Decimal, Demographics, InstitutionCode, InsurerNumber, LabResult, LabValue, MemberId,
    ReferenceRange, Sex, SubjectRef,
};
use kakari::mapping::checkup_items::CheckupItems;
use quick_xml::Writer;
use quick_xml::events::Event;
use time::macros::date;

const PEOPLE: usize = 400;

/// (JLAC10 / item code, value, unit) for one person's 25 results.
const PANEL: [(&str, &str, &str); 25] = [
    ("9N001000000000001", "165.2", "cm"),
    ("9N006000000000001", "62.4", "kg"),
    ("9N011000000000001", "22.9", "kg/m2"),
    ("9N016160100000001", "81.0", "cm"),
    ("9A751000000000001", "128", "mm[Hg]"),
    ("9A761000000000001", "82", "mm[Hg]"),
    ("3F015000002327101", "1.50", "mmol/L"),
    ("3F070000002327101", "58", "mg/dL"),
    ("3F077000002327101", "132", "mg/dL"),
    ("3B035000002327201", "24", "U/L"),
    ("3B045000002327201", "31", "U/L"),
    ("3B090000002327101", "45", "U/L"),
    ("3D010000002227101", "98", "mg/dL"),
    ("3D046000001906202", "5.60", "%"),
    ("3C015000002327101", "0.74", "mg/dL"),
    ("8A065000002391901", "81.8", "ml/min/1.73m2"),
    ("2A040000001930102", "43.1", "%"),
    ("2A030000001930101", "14.2", "g/dL"),
    ("2A020000001930101", "462", "10*4/uL"),
    ("3C020000002327101", "5.1", "mg/dL"),
    ("3A010000002327101", "7.2", "g/dL"),
    ("3A015000002327101", "4.4", "g/dL"),
    ("3B070000002327101", "210", "U/L"),
    ("5C070000002306201", "0.1", "mg/dL"),
    ("3J010000002327101", "0.8", "mg/dL"),
];

struct Person {
    member: MemberId,
    demographics: Demographics,
    results: Vec<LabResult>,
}

fn people() -> Vec<Person> {
    (0..PEOPLE)
        .map(|i| {
            let member =
                MemberId::from_parts("06139463", "12", &format!("{}", 1000 + i), Some("01"))
                    .expect("member id");
            let results = PANEL
                .iter()
                .map(|(code, value, unit)| {
                    let mut result = LabResult::new(
                        SubjectRef::Member(member.clone()),
                        LabValue::Quantity {
                            value: Decimal::parse(value).expect("decimal"),
                            comparator: None,
                            unit: Some((*unit).to_owned()),
                            unit_code: None,
                            unit_system: None,
                        },
                    );
                    result
                        .codes
                        .push(Coding::new(KnownSystem::Jlac10.uri(), *code, None));
                    result.flag = Some("N".to_owned());
                    result.reference_range = Some(ReferenceRange {
                        low: Decimal::parse("1").ok(),
                        high: Decimal::parse("999").ok(),
                        text: None,
                    });
                    result
                })
                .collect();
            Person {
                member,
                demographics: Demographics {
                    birth_date: Some(date!(1970 - 01 - 02)),
                    sex: Some(Sex::Female),
                    name: None,
                    name_kana: Some("ケンシン ハナコ".to_owned()),
                    names: Vec::new(),
                },
                results,
            }
        })
        .collect()
}

fn export(people: &[Person], items: &CheckupItems) -> Vec<u8> {
    let header = ArchiveHeader {
        sender: InstitutionCode::parse("1311234567").expect("institution"),
        receiver: InsurerNumber::parse("06139463").expect("insurer"),
        created: date!(2024 - 05 - 27),
        split: 0,
    };
    let mut writer = ArchiveWriter::new(header, items).expect("writer");
    for person in people {
        writer
            .add(&CheckupRecord {
                member: &person.member,
                demographics: &person.demographics,
                exam_date: date!(2024 - 04 - 04),
                performer: None,
                results: &person.results,
            })
            .expect("add");
    }
    writer.finish().expect("finish").bytes
}

fn documents(people: &[Person], items: &CheckupItems) -> usize {
    let context = DocumentContext {
        sender: InstitutionCode::parse("1311234567").expect("institution"),
        created: date!(2024 - 05 - 27),
    };
    let mut report = ExportReport::default();
    let mut bytes = 0;
    for person in people {
        let record = CheckupRecord {
            member: &person.member,
            demographics: &person.demographics,
            exam_date: date!(2024 - 04 - 04),
            performer: None,
            results: &person.results,
        };
        bytes += write_document(&record, &context, items, &mut report).map_or(0, |d| d.len());
    }
    bytes
}

fn plain_quick_xml(people: &[Person]) -> Vec<u8> {
    let mut writer = Writer::new(Vec::with_capacity(people.len() * PANEL.len() * 200));
    for person in people {
        for result in &person.results {
            let code = result.codes.first().map_or("", |c| c.code.as_str());
            let (value, unit) = match &result.value {
                LabValue::Quantity { value, unit, .. } => {
                    (value.as_str(), unit.as_deref().unwrap_or(""))
                }
                _ => ("", ""),
            };
            writer
                .create_element("observation")
                .with_attributes([("classCode", "OBS"), ("moodCode", "EVN")])
                .write_inner_content(|w| {
                    w.create_element("code")
                        .with_attributes([("code", code), ("codeSystem", "1.2.392.200119.6.1005")])
                        .write_empty()?;
                    w.create_element("value")
                        .with_attributes([("xsi:type", "PQ"), ("value", value), ("unit", unit)])
                        .write_empty()?;
                    Ok(())
                })
                .expect("write");
        }
    }
    writer.into_inner()
}

fn quick_xml_events(archive: &[u8]) -> usize {
    let mut zip = zip::ZipArchive::new(Cursor::new(archive)).expect("zip");
    let mut observations = 0;
    let mut text = String::new();
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).expect("entry");
        if !file.name().expect("name").contains("/DATA/") {
            continue;
        }
        text.clear();
        file.read_to_string(&mut text).expect("utf-8");
        let mut reader = quick_xml::Reader::from_str(&text);
        loop {
            match reader.read_event().expect("xml") {
                Event::Start(e) if e.local_name().as_ref() == "observation" => observations += 1,
                Event::Eof => break,
                _ => {}
            }
        }
    }
    observations
}

fn bench(c: &mut Criterion) {
    let items = CheckupItems::bundled().expect("item table");
    let people = people();
    let observations = (PEOPLE * PANEL.len()) as u64;

    let mut group = c.benchmark_group("export");
    group.throughput(Throughput::Elements(observations));
    group.sample_size(10);
    group.bench_function("cda_archive", |b| {
        b.iter(|| black_box(export(&people, items)))
    });
    group.bench_function("cda_documents", |b| {
        b.iter(|| black_box(documents(&people, items)))
    });
    group.bench_function("plain_quick_xml", |b| {
        b.iter(|| black_box(plain_quick_xml(&people)))
    });
    group.finish();

    let archive = export(&people, items);
    let limits = ReadLimits::default();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(observations));
    group.sample_size(10);
    group.bench_function("read_submission", |b| {
        b.iter(|| black_box(read_submission(&archive, items, &limits)))
    });
    group.bench_function("quick_xml_events", |b| {
        b.iter(|| black_box(quick_xml_events(&archive)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
