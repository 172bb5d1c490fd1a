//! HL7 v2 parse and map throughput on realistic synthetic SS-MIX2 messages.
//!
//! * `parse/*`: kakari's `Message::parse_str` against the `hl7-parser` crate and a raw
//!   baseline that only splits on segment and field separators, all on the same UTF-8
//!   text (MB/s; msgs/s = 1 / time per message);
//! * `iso2022jp/*`: the cost of decoding ISO-2022-JP before parsing, and the whole read;
//! * `map/*`: decode + parse + map to domain records (msgs/s).
//!
//! Run: `cargo bench --bench hl7v2`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kakari::codec::hl7v2::{self, Message, charset};
use kakari::domain::InstitutionCode;

#[path = "support/hl7_data.rs"]
mod hl7_data;
use hl7_data::{iso2022jp, oul_r22_for, rde_o11_for};

fn rde_o11() -> String {
    rde_o11_for("0001234567", 20240401000001)
}

fn oul_r22() -> String {
    oul_r22_for("0001000052", 20240405131032)
}

/// The baseline: split on segment and field separators, touching every field.
fn raw_split(text: &str) -> usize {
    let mut fields = 0;
    for segment in text.split('\r') {
        for field in segment.split('|') {
            fields += black_box(field).len() & 1;
        }
    }
    fields
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

fn parse(c: &mut Criterion) {
    for (name, text) in [("rde_o11", rde_o11()), ("oul_r22", oul_r22())] {
        let mut group = c.benchmark_group(format!("parse/{name}"));
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function("kakari", |b| {
            b.iter(|| Message::parse_str(black_box(&text)).map(|m| m.segment_count()))
        });
        group.bench_function("hl7-parser", |b| {
            b.iter(|| hl7_parser::Message::parse(black_box(&text)).map(|m| m.segments().count()))
        });
        group.bench_function("raw-split", |b| b.iter(|| raw_split(black_box(&text))));
        group.finish();
    }
}

fn iso2022(c: &mut Criterion) {
    for (name, text) in [("rde_o11", rde_o11()), ("oul_r22", oul_r22())] {
        let bytes = iso2022jp(&text);
        let mut group = c.benchmark_group(format!("iso2022jp/{name}"));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function("decode", |b| {
            b.iter(|| charset::decode(black_box(&bytes)).text.len())
        });
        group.bench_function("decode+parse", |b| {
            b.iter(|| Message::parse(black_box(&bytes)).map(|m| m.segment_count()))
        });
        group.finish();
    }
}

fn map(c: &mut Criterion) {
    let facility = InstitutionCode::parse("1311234567").unwrap();
    for (name, text) in [("rde_o11", rde_o11()), ("oul_r22", oul_r22())] {
        let iso = iso2022jp(&text);
        let mut group = c.benchmark_group(format!("map/{name}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("utf8", |b| {
            b.iter(|| {
                let message = Message::parse(black_box(text.as_bytes())).unwrap();
                hl7v2::map_message(&message, &facility).records.len()
            })
        });
        group.bench_function("iso2022jp", |b| {
            b.iter(|| {
                let message = Message::parse(black_box(&iso)).unwrap();
                hl7v2::map_message(&message, &facility).records.len()
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = parse, iso2022, map
}
criterion_main!(benches);
