//! Insurer pull at scale: fills a scratch database with N lab results (default 10 million)
//! for P persons spread over K insurers (90 % registered, 80 % consenting), starts
//! `kakari serve` on it, and follows one insurer's cursor page by page
//! (`GET /insurer/lab-results?limit=1000`) in each format, reporting page latency
//! percentiles. The peer, measured in the same run on the same database: the bare indexed
//! read of the same number of rows in feed order (`SELECT … ORDER BY feed_seq LIMIT n`)
//! without permission filter, rendering or HTTP.
//!
//! ```sh
//! cargo build --release
//! cargo run --release --example pull_load -- --db sqlite --results 10000000 --pages 200
//! cargo run --release --example pull_load -- --db postgres --results 10000000 --pages 200
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

#[path = "support/scratch.rs"]
mod scratch;

/// The options; the header of this file says what is measured.
#[derive(clap::Parser)]
struct Args {
    /// `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    db: String,
    /// The PostgreSQL server a scratch schema is made in.
    #[arg(long, default_value = scratch::DEFAULT_PG_URL)]
    pg_url: String,
    /// Lab results in the database.
    #[arg(long, default_value_t = 10_000_000, value_parser = scratch::count)]
    results: i64,
    /// Persons they belong to.
    #[arg(long, default_value_t = 500_000, value_parser = scratch::count)]
    persons: i64,
    /// Insurers.
    #[arg(long, default_value_t = 20, value_parser = scratch::count)]
    insurers: i64,
    /// Pages pulled.
    #[arg(long, default_value_t = 200, value_parser = scratch::count_usize)]
    pages: usize,
    /// Rows per page.
    #[arg(long, default_value_t = 1000, value_parser = scratch::count_usize)]
    limit: usize,
    /// The kakari binary to start.
    #[arg(long, default_value_os_t = scratch::default_binary())]
    binary: PathBuf,
    /// Keep the scratch database afterwards.
    #[arg(long)]
    keep: bool,
}

/// The insurer whose pull is measured (insurer 0 of K).
const INSURER: &str = "06130000";
const FACILITY: &str = "1311234567";

/// The generator, in SQL both databases run: `seq` is a row source of `i` in 1..=n, `pad8`
/// zero-pads an integer expression to eight digits.
struct Dialect {
    seq: fn(i64) -> String,
    pad8: fn(&str) -> String,
}

const SQLITE: Dialect = Dialect {
    seq: |n| {
        format!(
            "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s) AS n"
        )
    },
    pad8: |e| format!("substr('00000000' || ({e}), -8, 8)"),
};

const POSTGRES: Dialect = Dialect {
    seq: |n| format!("generate_series(1::bigint, {n}) AS n(i)"),
    pad8: |e| format!("lpad(({e})::text, 8, '0')"),
};

/// Statements that fill the database. Person `i` belongs to insurer `i % K`; with
/// `j = i / K`, it is registered unless `j % 10 = 0` and consents unless `j % 5 = 1`.
/// Lab result `i` belongs to person `1 + (i * 7919) % P` (spread evenly over persons and
/// feed order) and is a fasting triglyceride value with a checkup item.
fn fill(d: &Dialect, args: &Args, codes_json: &str) -> Vec<String> {
    let (n, p, k) = (args.results, args.persons, args.insurers);
    let insurer = (d.pad8)(&format!("6130000 + i % {k}"));
    let now = 1_733_000_000_000_i64;
    vec![
        format!(
            "INSERT INTO persons (pk, member_key, family_key, insurer, birth_date, sex, created_at)
             SELECT i, {insurer} || ':LD:' || i || ':01', {insurer} || ':LD:' || i, {insurer},
                    '1960-01-01', 'female', {now}
             FROM {}",
            (d.seq)(p)
        ),
        format!(
            "INSERT INTO registrations (person_pk, member_key, practitioner, organization, start_date, created_at, created_by)
             SELECT i, {insurer} || ':LD:' || i || ':01', 'dr-load', '{FACILITY}', '2024-04-01', {now}, 1
             FROM {} WHERE (i / {k}) % 10 <> 0",
            (d.seq)(p)
        ),
        format!(
            "INSERT INTO consents (person_pk, insurer_programs, recorded_at, recorded_by)
             SELECT i, CASE WHEN (i / {k}) % 5 = 1 THEN 0 ELSE 1 END, {now}, 1
             FROM {}",
            (d.seq)(p)
        ),
        format!(
            "INSERT INTO lab_results (pk, person_pk, facility, jlac10, checkup_item, name, codes,
                value_kind, value_num, unit, unit_code, ref_low, ref_high, flag, status, effective,
                effective_lo, category, input_id, client_id, received_at, location, feed_seq,
                feed_insurer)
             SELECT i, 1 + (i * 7919) % {p}, '{FACILITY}', '3F015000002327101', '3F015000002327101',
                '中性脂肪', '{codes_json}', 'quantity', '' || (40 + i % 200), 'mg/dL', 'mg/dL',
                '30', '149', CASE WHEN 40 + i % 200 > 149 THEN 'H' ELSE NULL END, 'final',
                '2024-04-05T09:00:00+09:00', 1712275200000, 'laboratory', 1, 1, {now},
                'load', i, {}
             FROM {}",
            (d.pad8)(&format!("6130000 + (1 + (i * 7919) % {p}) % {k}")),
            (d.seq)(n)
        ),
        format!("UPDATE feed_counters SET value = {n} WHERE name = 'lab_results'"),
    ]
}

fn codes_json() -> String {
    let coding = kakari::domain::code_system::Coding {
        system: "http://medis.or.jp/CodeSystem/master-JLAC10-17digits".into(),
        code: "3F015000002327101".into(),
        display: Some("中性脂肪".into()),
    };
    serde_json::to_string(&vec![coding]).expect("codes JSON")
}

/// Fills the database; returns seconds taken.
fn populate(args: &Args, db: &scratch::ScratchDb) -> f64 {
    let start = Instant::now();
    let codes = codes_json();
    match args.db.as_str() {
        "sqlite" => {
            let conn = rusqlite::Connection::open(db.sqlite_path().expect("sqlite path"))
                .expect("open SQLite");
            conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; BEGIN")
                .expect("begin");
            for sql in fill(&SQLITE, args, &codes) {
                conn.execute_batch(&sql).expect("fill");
            }
            conn.execute_batch("COMMIT; ANALYZE").expect("commit");
        }
        _ => {
            let mut client = db.postgres();
            for sql in fill(&POSTGRES, args, &codes) {
                client.batch_execute(&sql).expect("fill");
            }
            for (table, column) in [
                ("persons", "pk"),
                ("registrations", "id"),
                ("consents", "id"),
                ("lab_results", "pk"),
            ] {
                client
                    .batch_execute(&format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), (SELECT max({column}) FROM {table}))"
                    ))
                    .expect("sequence");
            }
            client.batch_execute("VACUUM ANALYZE").expect("analyze");
        }
    }
    start.elapsed().as_secs_f64()
}

/// The peer: the bare read of `limit` rows in feed order, page by page from the start.
fn peer(args: &Args, db: &scratch::ScratchDb) -> Vec<Duration> {
    const SQL: &str =
        "SELECT feed_seq, person_pk, codes, value_num, unit, ref_low, ref_high, effective
        FROM lab_results WHERE feed_seq > $1 ORDER BY feed_seq LIMIT $2";
    let mut latencies = Vec::with_capacity(args.pages);
    let mut after = 0_i64;
    match args.db.as_str() {
        "sqlite" => {
            let conn = rusqlite::Connection::open(db.sqlite_path().expect("sqlite path"))
                .expect("open SQLite");
            let mut stmt = conn.prepare(&SQL.replace('$', "?")).expect("prepare");
            for _ in 0..args.pages {
                let start = Instant::now();
                let mut last = after;
                let mut rows = stmt
                    .query(rusqlite::params![after, args.limit as i64])
                    .expect("query");
                while let Some(row) = rows.next().expect("row") {
                    last = row.get(0).expect("seq");
                    let _: String = row.get(2).expect("codes");
                }
                latencies.push(start.elapsed());
                after = last;
            }
        }
        _ => {
            let mut client = db.postgres();
            let stmt = client.prepare(SQL).expect("prepare");
            for _ in 0..args.pages {
                let start = Instant::now();
                let rows = client
                    .query(&stmt, &[&after, &(args.limit as i64)])
                    .expect("query");
                latencies.push(start.elapsed());
                after = rows.last().map_or(after, |r| r.get(0));
            }
        }
    }
    latencies
}

/// Follows the insurer's cursor for `pages` pages in `format`; returns the page latencies
/// and the number of results seen (each exactly once).
async fn pull(
    args: &Args,
    server: &scratch::Server,
    token: &str,
    format: &str,
) -> (Vec<Duration>, usize) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let mut cursor = String::new();
    let mut latencies = Vec::with_capacity(args.pages);
    let mut seen = 0usize;
    for _ in 0..args.pages {
        let start = Instant::now();
        let response = http
            .get(format!(
                "http://{}/insurer/lab-results?format={format}&limit={}&since={cursor}",
                server.http, args.limit
            ))
            .bearer_auth(token)
            .send()
            .await
            .expect("pull");
        assert!(response.status().is_success(), "{}", response.status());
        let next = response
            .headers()
            .get("Kakari-Next-Cursor")
            .and_then(|v| v.to_str().ok())
            .expect("next cursor")
            .to_owned();
        let results: usize = response
            .headers()
            .get("Kakari-Results")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .expect("result count");
        let body = response.bytes().await.expect("body");
        latencies.push(start.elapsed());
        assert!(!body.is_empty());
        seen += results;
        if results == 0 {
            break;
        }
        cursor = next;
    }
    (latencies, seen)
}

fn summary(label: &str, mut latencies: Vec<Duration>) -> (f64, f64) {
    latencies.sort();
    let (p50, p99) = (
        scratch::percentile_ms(&latencies, 50.0),
        scratch::percentile_ms(&latencies, 99.0),
    );
    println!(
        "{label:<34} pages {:>4}  p50 {p50:>8.2} ms  p99 {p99:>8.2} ms  max {:>8.2} ms",
        latencies.len(),
        scratch::percentile_ms(&latencies, 100.0)
    );
    (p50, p99)
}

fn main() {
    let args = <Args as clap::Parser>::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut db = scratch::ScratchDb::create(&args.db, &args.pg_url, "pull_load");
    db.keep = args.keep;
    scratch::migrate(&args.binary, &db);
    eprintln!(
        "filling {} with {} lab results, {} persons, {} insurers …",
        args.db, args.results, args.persons, args.insurers
    );
    let seconds = populate(&args, &db);
    eprintln!("filled in {seconds:.0} s");
    let (_, token) = scratch::add_client(
        &args.binary,
        &db,
        &[
            "--role",
            "insurer",
            "--name",
            "pull load",
            "--insurer",
            INSURER,
        ],
    );
    let server = scratch::serve(&args.binary, &db, None);
    println!(
        "pull of insurer {INSURER} on {} with {} lab results, limit {}:",
        args.db, args.results, args.limit
    );
    let (_, peer_p99) = summary("peer: bare feed-order read", peer(&args, &db));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for format in ["csv", "fhir", "tokutei"] {
        let (latencies, seen) = runtime.block_on(pull(&args, &server, &token, format));
        let (_, p99) = summary(&format!("GET /insurer/lab-results {format}"), latencies);
        println!(
            "{:<34} {seen} results; p99 / peer p99 = {:.1}",
            "",
            p99 / peer_p99
        );
    }
    println!(
        "server peak RSS {:.0} MiB",
        scratch::peak_rss_mib(server.child.id())
    );
}
