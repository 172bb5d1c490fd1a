//! Intake load: imports N realistic HL7 v2 messages (OMP-01 RDE^O11 with four drugs and
//! OML-11 OUL^R22 with twelve results, ISO-2022-JP as SS-MIX2 stores them) into a `kakari
//! serve` it starts as a child process, over HTTP (one SS-MIX2 archive, `POST /ssmix2`) or
//! over MLLP (C concurrent connections, one ACK per message), with durable commits. Reports
//! messages/s, records/s, ACK latency (MLLP) and the server's peak RSS, next to the peer
//! measured in the same run: decoding and mapping the same messages in this process
//! without storing them.
//!
//! ```sh
//! cargo build --release
//! cargo run --release --example intake_load -- --via http --messages 100000
//! cargo run --release --example intake_load -- --via mllp --messages 100000 --connections 8
//! cargo run --release --example intake_load -- --via mllp --db postgres
//! ```

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

#[path = "../benches/support/hl7_data.rs"]
mod hl7_data;
#[path = "support/scratch.rs"]
mod scratch;

const FACILITY: &str = "1311234567";

/// The options; the header of this file says what is measured.
#[derive(clap::Parser)]
struct Args {
    /// `http` or `mllp`.
    #[arg(long, default_value = "http")]
    via: String,
    /// `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    db: String,
    /// The PostgreSQL server a scratch schema is made in.
    #[arg(long, default_value = scratch::DEFAULT_PG_URL)]
    pg_url: String,
    /// Messages to send.
    #[arg(long, default_value_t = 100_000, value_parser = scratch::count_usize)]
    messages: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 8, value_parser = scratch::count_usize)]
    connections: usize,
    /// The kakari binary to start.
    #[arg(long, default_value_os_t = scratch::default_binary())]
    binary: PathBuf,
}

/// Message `i`: alternately a prescription and a lab report, for one of 10,000 patients.
fn message(i: usize) -> (String, Vec<u8>) {
    let patient = format!("{:010}", 1_000_000 + i % 10_000);
    let control = 30_000_000_000 + i as u64;
    let (kind, text) = if i.is_multiple_of(2) {
        ("OMP-01", hl7_data::rde_o11_for(&patient, control))
    } else {
        ("OML-11", hl7_data::oul_r22_for(&patient, control))
    };
    let date = if kind == "OMP-01" {
        "20240401"
    } else {
        "20240405"
    };
    let path = format!(
        "{}/{}/{patient}/{date}/{kind}/{patient}_{date}_{kind}_{:015}_{}000_01_1",
        &patient[0..3],
        &patient[3..6],
        control % 1_000_000_000_000_000,
        if kind == "OMP-01" {
            "20240401101010"
        } else {
            "20240405160000"
        },
    );
    (path, hl7_data::iso2022jp(&text))
}

fn start_server(args: &Args) -> (scratch::ScratchDb, scratch::Server) {
    let db = scratch::ScratchDb::create(&args.db, &args.pg_url, "intake_load");
    scratch::migrate(&args.binary, &db);
    let (id, _) = scratch::add_client(
        &args.binary,
        &db,
        &["--role", "emr", "--name", "load", "--facility", FACILITY],
    );
    let server = scratch::serve(&args.binary, &db, Some(id));
    (db, server)
}

/// The peer: decode + parse + map the same messages here, storing nothing.
fn peer(n: usize) -> f64 {
    let facility = kakari::domain::InstitutionCode::parse(FACILITY).unwrap();
    let start = Instant::now();
    let mut records = 0usize;
    for i in 0..n {
        let (_, bytes) = message(i);
        let (received, _) = kakari::codec::hl7v2::receive(&bytes, &facility);
        records += received.len();
    }
    assert_eq!(records, n);
    n as f64 / start.elapsed().as_secs_f64()
}

fn via_http(args: &Args, db: &scratch::ScratchDb, server: &scratch::Server) -> (f64, String) {
    let (_, token) = scratch::add_client(
        &args.binary,
        db,
        &[
            "--role",
            "emr",
            "--name",
            "load http",
            "--facility",
            FACILITY,
        ],
    );
    let archive = tempfile::NamedTempFile::new().unwrap();
    let started = Instant::now();
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(archive.path()).unwrap());
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for i in 0..args.messages {
            let (path, bytes) = message(i);
            zip.start_file(path, options).unwrap();
            zip.write_all(&bytes).unwrap();
        }
        zip.finish().unwrap();
    }
    let size = std::fs::metadata(archive.path()).unwrap().len();
    eprintln!(
        "archive: {} messages, {:.1} MiB, built in {:.1} s",
        args.messages,
        size as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );
    let report = tempfile::NamedTempFile::new().unwrap();
    let start = Instant::now();
    let status = Command::new("curl")
        .args(["-s", "-f", "-X", "POST", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .args(["-H", "Content-Type: application/zip", "--data-binary"])
        .arg(format!("@{}", archive.path().display()))
        .arg("-o")
        .arg(report.path())
        .arg(format!("http://{}/ssmix2", server.http))
        .status()
        .expect("curl");
    let seconds = start.elapsed().as_secs_f64();
    assert!(status.success(), "upload failed");
    let mut text = String::new();
    std::fs::File::open(report.path())
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).expect("report JSON");
    let summary = v["summary"].clone();
    assert_eq!(
        summary["accepted"].as_u64(),
        Some(args.messages as u64),
        "every message accepted: {summary}"
    );
    (args.messages as f64 / seconds, format!("{summary}"))
}

fn via_mllp(args: &Args, server: &scratch::Server) -> (f64, String) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let per = args.messages / args.connections;
        let start = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..args.connections {
            let address = server.mllp.clone();
            tasks.push(tokio::spawn(async move {
                let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let mut latencies = Vec::with_capacity(per);
                let mut buf = vec![0u8; 64 * 1024];
                for k in 0..per {
                    let (_, bytes) = message(c * per + k);
                    let mut frame = Vec::with_capacity(bytes.len() + 3);
                    frame.push(0x0b);
                    frame.extend_from_slice(&bytes);
                    frame.extend_from_slice(&[0x1c, 0x0d]);
                    let sent = Instant::now();
                    stream.write_all(&frame).await.unwrap();
                    let mut ack = Vec::new();
                    loop {
                        let n = stream.read(&mut buf).await.unwrap();
                        assert!(n > 0, "connection closed");
                        ack.extend_from_slice(&buf[..n]);
                        if ack.ends_with(&[0x1c, 0x0d]) {
                            break;
                        }
                    }
                    latencies.push(sent.elapsed());
                    let text = String::from_utf8_lossy(&ack);
                    assert!(text.contains("MSA|AA"), "not AA: {text}");
                }
                latencies
            }));
        }
        let mut latencies = Vec::new();
        for t in tasks {
            latencies.extend(t.await.unwrap());
        }
        let seconds = start.elapsed().as_secs_f64();
        latencies.sort();
        let pct =
            |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
        (
            latencies.len() as f64 / seconds,
            format!(
                "ACK latency p50 {:.1} ms, p99 {:.1} ms over {} connections",
                pct(0.50).as_secs_f64() * 1000.0,
                pct(0.99).as_secs_f64() * 1000.0,
                args.connections
            ),
        )
    })
}

fn main() {
    let args = <Args as clap::Parser>::parse();
    let peer_rate = peer(args.messages.min(20_000));
    let (db, server) = start_server(&args);
    let (rate, detail) = match args.via.as_str() {
        "http" => via_http(&args, &db, &server),
        "mllp" => via_mllp(&args, &server),
        other => panic!("--via http|mllp, not {other}"),
    };
    let rss = scratch::peak_rss_mib(server.child.id());
    println!(
        "intake via {} on {}: {} messages, {rate:.0} msgs/s stored durably; {detail}",
        args.via, args.db, args.messages
    );
    println!("server peak RSS {rss:.0} MiB");
    println!(
        "peer (same run): decode + map without storing {peer_rate:.0} msgs/s; stored/peer = {:.2}",
        rate / peer_rate
    );
}
