//! Bundle decode + validate + map to the domain, against a plain `serde_json` parse of the
//! same bytes (the reference), in the same run.
//!
//! `cargo bench --bench fhir_bundle`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kakari::auth::{Caller, Role};
use kakari::codec::fhir::bundle;
use kakari::domain::InstitutionCode;
use kakari::service::fhir::prepare;
use serde_json::Value;

#[path = "support/fhir_data.rs"]
mod load_data;

fn caller() -> Caller {
    Caller {
        client_id: 1,
        name: "bench".into(),
        role: Role::Emr,
        facility: InstitutionCode::parse(load_data::FACILITY).ok(),
        insurer: None,
        practitioner: None,
        member: None,
    }
}

/// Parse, check the envelope, validate every entry (R4 schema + JP Core), map to the domain
/// and compute its index entries: everything a write does before the database.
fn decode_validate_map(bytes: &[u8], caller: &Caller) -> usize {
    let value = kakari::codec::fhir::json::parse(bytes).expect("valid json");
    let request = bundle::parse(value).expect("valid bundle");
    let mut records = 0;
    for entry in request.entries {
        let entry = entry.expect("valid entry");
        let id = entry.id.clone().unwrap_or_else(prepare::new_id);
        let location = format!("Bundle.entry[{}].resource", entry.index);
        let prepared = prepare::prepare(caller, entry.rtype, entry.resource, id, &location)
            .expect("valid resource");
        records += prepared.extracted.records.len() + prepared.index.len();
    }
    records
}

fn bench(c: &mut Criterion) {
    let caller = caller();
    let bundle = load_data::transaction_bundle(0, 10);
    let bytes = serde_json::to_vec(&bundle).unwrap();
    let resources = bundle["entry"].as_array().unwrap().len() as u64;
    assert!(decode_validate_map(&bytes, &caller) > 0);

    let mut group = c.benchmark_group("bundle_bytes");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("serde_json_from_slice_value", |b| {
        b.iter(|| serde_json::from_slice::<Value>(std::hint::black_box(&bytes)).unwrap())
    });
    // The strict reader alone (repeated keys, decimal bounds): its cost over plain parsing.
    group.bench_function("kakari_json_parse", |b| {
        b.iter(|| kakari::codec::fhir::json::parse(std::hint::black_box(&bytes)).unwrap())
    });
    group.bench_function("kakari_decode_validate_map", |b| {
        b.iter(|| decode_validate_map(std::hint::black_box(&bytes), &caller))
    });
    group.finish();

    let mut group = c.benchmark_group("bundle_resources");
    group.throughput(Throughput::Elements(resources));
    group.bench_function("serde_json_from_slice_value", |b| {
        b.iter(|| serde_json::from_slice::<Value>(std::hint::black_box(&bytes)).unwrap())
    });
    group.bench_function("kakari_decode_validate_map", |b| {
        b.iter(|| decode_validate_map(std::hint::black_box(&bytes), &caller))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
