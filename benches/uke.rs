//! UKE claims parsing throughput (MB/s of Shift_JIS input).
//!
//! The input is a synthetic 医科 file of realistic receipts (RE, HO, SN, SY, SI, IY with
//! the 31 day columns, CO), generated here and encoded to Shift_JIS. The peer measured in
//! the same run is the floor any parser pays: an `encoding_rs` Shift_JIS decode of the
//! same bytes and a split into lines.
//!
//! Run: `cargo bench --bench uke`.

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kakari::codec::uke;
use kakari::mapping::DrugMaster;

const RECEIPTS: usize = 20_000;
const DRUGS: [&str; 6] = [
    "612170710",
    "620098801",
    "621974701",
    "612180263",
    "620003914",
    "620008965",
];

fn days(day: usize, count: usize) -> String {
    (1..=31)
        .map(|d| {
            if d == day {
                count.to_string()
            } else {
                String::new()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn synthetic_file() -> Vec<u8> {
    let mut text =
        String::from("IR,1,13,1,1234567,,ベンチマーク内科クリニック,202405,00,0300000000\r\n");
    let mut points = 0u64;
    for n in 1..=RECEIPTS {
        let day = n % 28 + 1;
        let _ = write!(
            text,
            "RE,{n},1112,202404,試験　患者{n},{},19{:02}0{}1{},,,,,,,,K-{n:06},,,,,,,,,,,,,,,,,,,,,,,ｼｹﾝ ｶﾝｼﾞﾔ,\r\n",
            n % 2 + 1,
            40 + n % 50,
            n % 9 + 1,
            n % 9
        );
        let _ = write!(text, "HO,06139463,１２,{:06},2,1200,,,,,,,,,\r\n", n);
        text.push_str("SN,1,01,,,,01,,\r\n");
        text.push_str("SY,4011001,20240401,1,,,01,\r\n");
        text.push_str("SY,2500013,20240401,1,,,,\r\n");
        text.push_str("SY,8841234,20240410,1,8002,,,\r\n");
        let _ = write!(text, "SI,12,1,112007410,,288,1,,,,,,,{}\r\n", days(day, 1));
        for (i, code) in DRUGS.iter().enumerate() {
            let ident = match i {
                1 => "22",
                5 => "23",
                _ => "21",
            };
            let _ = write!(
                text,
                "IY,{ident},1,{code},{},{},14,,,,,,,{}\r\n",
                i % 3 + 1,
                10 + i,
                days(day, 14)
            );
        }
        text.push_str("CO,21,1,810000001,ベンチマーク用のコメント\r\n");
        points += 1200;
    }
    let _ = write!(text, "GO,{RECEIPTS},{points},99\r\n");
    encoding_rs::SHIFT_JIS.encode(&text).0.into_owned()
}

fn bench(c: &mut Criterion) {
    let bytes = synthetic_file();
    let master = DrugMaster::curated().expect("curated master");
    let mut group = c.benchmark_group("uke");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.sample_size(20);
    group.bench_function("peer: encoding_rs decode + line split", |b| {
        b.iter(|| {
            let (text, _, _) = encoding_rs::SHIFT_JIS.decode(black_box(&bytes));
            black_box(text.lines().count())
        });
    });
    group.bench_function("parse", |b| {
        b.iter(|| black_box(uke::parse(black_box(&bytes)).map(|f| f.receipts.len())));
    });
    group.bench_function("parse + domain", |b| {
        b.iter(|| {
            let file = uke::parse(black_box(&bytes)).expect("parses");
            black_box(uke::to_domain(&file, Some(&master)).medications().count())
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
