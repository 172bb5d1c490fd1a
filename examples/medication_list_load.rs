//! `$medication-list` at scale: fills a scratch database with N medication records
//! (default 10 million) spread over P persons, gives one registered person 2,000 records
//! (clinic prescriptions, pharmacy dispensing and claims from several institutions over two
//! years), starts `kakari serve`, and asks for that person's list R times as their doctor,
//! reporting p50 / p99. The peer, in the same run on the same database: the bare indexed
//! read of the person's 2,000 rows (`SELECT … FROM medication_records WHERE person_pk = ?`).
//!
//! With `--reads N` it also posts N prescriptions as HL7 v2 (served as derived
//! MedicationRequests) and N as FHIR (posted MedicationRequests) to the running server and
//! reads each by id and by `patient=` search: canonical records cost the same as posted.
//!
//! ```sh
//! cargo build --release
//! cargo run --release --example medication_list_load -- --db sqlite --records 10000000
//! cargo run --release --example medication_list_load -- --db postgres --records 10000000
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
    /// Medication records in the database.
    #[arg(long, default_value_t = 10_000_000, value_parser = scratch::count)]
    records: i64,
    /// Persons they belong to.
    #[arg(long, default_value_t = 200_000, value_parser = scratch::count)]
    persons: i64,
    /// The measured person's records.
    #[arg(long, default_value_t = 2_000, value_parser = scratch::count)]
    person_records: i64,
    /// $medication-list requests.
    #[arg(long, default_value_t = 200, value_parser = scratch::count_usize)]
    requests: usize,
    /// Resources posted per format for the read comparison (0: none).
    #[arg(long, default_value_t = 0, value_parser = scratch::count_usize)]
    reads: usize,
    /// The kakari binary to start.
    #[arg(long, default_value_os_t = scratch::default_binary())]
    binary: PathBuf,
    /// Keep the scratch database afterwards.
    #[arg(long)]
    keep: bool,
}

const INSURER: &str = "06130000";
const FACILITY: &str = "1311234567";
/// The institution whose EMR posts the resources of the read comparison.
const EMR_FACILITY: &str = "1319000001";
const DOCTOR: &str = "dr-load";
/// YJ codes of the curated drug table, the person's drugs.
const DRUGS: &[&str] = &[
    "2325003F2020",
    "2171022F2025",
    "2171014G4029",
    "2149019F1069",
    "2189010F1039",
    "2189011F1025",
    "2183005G2028",
    "3962002F1039",
    "1124007F2026",
    "1129007F1026",
    "2233002F1174",
    "3959003F1186",
    "1132002B1060",
    "3122007F1024",
];
const YJ: &str = "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code";

struct Dialect {
    seq: fn(i64) -> String,
    blob: &'static str,
    concat_int: fn(&str) -> String,
}

const SQLITE: Dialect = Dialect {
    seq: |n| {
        format!(
            "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s) AS n"
        )
    },
    blob: "X'00'",
    concat_int: |e| format!("({e})"),
};

const POSTGRES: Dialect = Dialect {
    seq: |n| format!("generate_series(1::bigint, {n}) AS n(i)"),
    blob: "'\\x00'::bytea",
    concat_int: |e| format!("({e})::text"),
};

/// The member id of the measured person.
fn member() -> String {
    format!("{INSURER}:LD:{}:01", 0)
}

/// Statements that fill the database. Persons 1..=P are other people, each with records
/// `i` where `1 + (i * 7919) % P` names them; person P+1 is the measured one.
fn fill(d: &Dialect, args: &Args) -> Vec<String> {
    let (n, p, m) = (args.records, args.persons, args.person_records);
    let now = 1_733_000_000_000_i64;
    let target = p + 1;
    let coding = |yj: &str| format!("[{{\"system\":\"{YJ}\",\"code\":\"{yj}\"}}]");
    // The person's records: drug `i % 14`, from institution `i % 3`, start `i` days into two
    // years, 28 days supply; one in three a dispensing, one in five a claim.
    let mut drug_case = String::from("CASE");
    for (k, yj) in DRUGS.iter().enumerate() {
        drug_case.push_str(&format!(
            " WHEN i % {} = {k} THEN '{}'",
            DRUGS.len(),
            coding(yj)
        ));
    }
    drug_case.push_str(" END");
    let start = |e: &str| match d.blob {
        "X'00'" => format!("date('2024-01-01', '+' || ({e}) || ' days')"),
        _ => format!("to_char(date '2024-01-01' + ({e})::int, 'YYYY-MM-DD')"),
    };
    vec![
        format!(
            "INSERT INTO persons (pk, member_key, family_key, insurer, birth_date, sex, created_at)
             SELECT i, '{INSURER}:LD:' || {} || ':01', '{INSURER}:LD:' || {}, '{INSURER}',
                    '1960-01-01', 'female', {now}
             FROM {}",
            (d.concat_int)("i"),
            (d.concat_int)("i"),
            (d.seq)(p)
        ),
        format!(
            "INSERT INTO persons (pk, member_key, family_key, insurer, birth_date, sex, created_at)
             VALUES ({target}, '{}', '{INSURER}:LD:0', '{INSURER}', '1950-01-01', 'male', {now})",
            member()
        ),
        format!(
            "INSERT INTO registrations (person_pk, member_key, practitioner, organization, start_date,
                created_at, created_by, status, basis)
             VALUES ({target}, '{}', '{DOCTOR}', '{FACILITY}', '2024-01-01', {now}, 1, 'active', 'first')",
            member()
        ),
        format!(
            "INSERT INTO inputs (id, client_id, format, received_at, sha256, size)
             SELECT i, 1, 'hl7v2', {now}, {}, 0 FROM {}",
            d.blob,
            (d.seq)(n / 1000 + 2)
        ),
        format!(
            "INSERT INTO medication_records (kind, person_pk, facility, drug_name, codings, route,
                supply_days, start_date, end_date, recorded_at, status, input_id, client_id,
                received_at, location)
             SELECT 'prescription', 1 + (i * 7919) % {p}, '{FACILITY}', 'load', '{}', 'oral', 28,
                '2024-04-01', '2024-04-28', '2024-04-01', 'active', 1 + i / 1000, 1, {now}, 'load'
             FROM {}",
            coding(DRUGS[0]),
            (d.seq)(n)
        ),
        format!(
            "INSERT INTO medication_records (kind, person_pk, facility, prescribing_facility,
                drug_name, codings, route, supply_days, start_date, end_date, recorded_at, status,
                input_id, client_id, received_at, location)
             SELECT CASE WHEN i % 5 = 0 THEN 'claim' WHEN i % 3 = 0 THEN 'dispense' ELSE 'prescription' END,
                {target}, '131123456' || (i % 3), '131123456' || (i % 3), 'load drug',
                {drug_case}, 'oral', 28, {}, {}, {}, 'active', {}, 1, {now}, 'person ' || {}
             FROM {}",
            start(&format!("(i * 730) / {m}")),
            start(&format!("(i * 730) / {m} + 27")),
            start(&format!("(i * 730) / {m}")),
            n / 1000 + 1,
            (d.concat_int)("i"),
            (d.seq)(m)
        ),
    ]
}

/// Fills the database; returns seconds taken.
fn populate(args: &Args, db: &scratch::ScratchDb) -> f64 {
    let start = Instant::now();
    match args.db.as_str() {
        "sqlite" => {
            let conn = rusqlite::Connection::open(db.sqlite_path().expect("sqlite path"))
                .expect("open SQLite");
            conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; BEGIN")
                .expect("begin");
            for sql in fill(&SQLITE, args) {
                conn.execute_batch(&sql).expect("fill");
            }
            conn.execute_batch("COMMIT; ANALYZE").expect("commit");
        }
        _ => {
            let mut client = db.postgres();
            for sql in fill(&POSTGRES, args) {
                client.batch_execute(&sql).expect("fill");
            }
            for (table, column) in [
                ("persons", "pk"),
                ("registrations", "id"),
                ("inputs", "id"),
                ("medication_records", "pk"),
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

/// The peer: the bare indexed read of the person's rows, `times` times.
fn peer(args: &Args, db: &scratch::ScratchDb, times: usize) -> Vec<Duration> {
    const SQL: &str = "SELECT pk, kind, codings, start_date, end_date, supply_days, facility
        FROM medication_records WHERE person_pk = $1";
    let target = args.persons + 1;
    let mut latencies = Vec::with_capacity(times);
    match args.db.as_str() {
        "sqlite" => {
            let conn = rusqlite::Connection::open(db.sqlite_path().expect("sqlite path"))
                .expect("open SQLite");
            let mut stmt = conn.prepare(&SQL.replace('$', "?")).expect("prepare");
            for _ in 0..times {
                let start = Instant::now();
                let mut rows = stmt.query(rusqlite::params![target]).expect("query");
                let mut n = 0;
                while let Some(row) = rows.next().expect("row") {
                    let _: String = row.get(2).expect("codings");
                    n += 1;
                }
                latencies.push(start.elapsed());
                assert_eq!(n as i64, args.person_records);
            }
        }
        _ => {
            let mut client = db.postgres();
            let stmt = client.prepare(SQL).expect("prepare");
            for _ in 0..times {
                let start = Instant::now();
                let rows = client.query(&stmt, &[&target]).expect("query");
                latencies.push(start.elapsed());
                assert_eq!(rows.len() as i64, args.person_records);
            }
        }
    }
    latencies
}

fn summary(label: &str, mut latencies: Vec<Duration>) -> (f64, f64) {
    latencies.sort();
    let (p50, p99) = (
        scratch::percentile_ms(&latencies, 50.0),
        scratch::percentile_ms(&latencies, 99.0),
    );
    println!(
        "{label:<44} n {:>5}  p50 {p50:>8.2} ms  p99 {p99:>8.2} ms",
        latencies.len()
    );
    (p50, p99)
}

async fn lists(server: &scratch::Server, token: &str, times: usize) -> (Vec<Duration>, usize) {
    let http = reqwest::Client::new();
    let url = format!(
        "http://{}/fhir/Patient/$medication-list?member={}&asOf=2025-06-30",
        server.http,
        member()
    );
    let mut latencies = Vec::with_capacity(times);
    let mut entries = 0;
    for _ in 0..times {
        let start = Instant::now();
        let resp = http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .expect("list");
        assert!(resp.status().is_success(), "{}", resp.status());
        let body: serde_json::Value = resp.json().await.expect("json");
        latencies.push(start.elapsed());
        entries = body["entry"].as_array().map_or(0, Vec::len);
    }
    (latencies, entries)
}

/// Posts `n` prescriptions as HL7 v2 and `n` as FHIR, then reads each kind by id and by
/// patient search; returns (derived read, posted read, derived search, posted search).
async fn reads(server: &scratch::Server, emr: &str, n: usize) -> [Vec<Duration>; 4] {
    let http = reqwest::Client::new();
    let base = format!("http://{}", server.http);
    for i in 0..n {
        let msg = format!(
            "MSH|^~\\&|EMR|CLINIC|KAKARI|GW|20250601080000||RDE^O11^RDE_O11|R{i}|P|2.5||||||UNICODE UTF-8\r\
             PID|0001||H{i}^^^^PI||試験^太郎||19600101|M\r\
             ORC|NW|O{i}||1|||||202506010755\r\
             RXE||103835401^ソラナックス０．４ｍｇ錠^HOT9|1||TAB^錠^MR9P|||||14|TAB^錠^MR9P\r\
             TQ1|1||1012040400000000&内服・経口・１日２回朝夕食後&JAMISDP01|||7^d|20250601\r\
             RXR|PO^口^HL70162\r"
        );
        let resp = http
            .post(format!("{base}/hl7v2"))
            .bearer_auth(emr)
            .header("Content-Type", "x-application/hl7-v2+er7")
            .body(msg)
            .send()
            .await
            .expect("hl7");
        assert!(resp.text().await.expect("ack").contains("MSA|AA"));
        let bundle = serde_json::json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": {"resourceType": "Patient", "id": format!("F{i}"),
                "identifier": [{"system": format!("urn:oid:1.2.392.100495.20.3.51.1{EMR_FACILITY}"), "value": format!("F{i}")}]},
             "request": {"method": "PUT", "url": format!("Patient/F{i}")}},
            {"resource": {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.81", "value": "1"},
                               {"system": "urn:oid:1.2.392.100495.20.3.82", "value": "1"}],
                "medicationCodeableConcept": {"coding": [{"system": "urn:oid:1.2.392.200119.4.403.1", "code": "103835401"}]},
                "subject": {"reference": format!("Patient/F{i}")}, "authoredOn": "2025-06-01"},
             "request": {"method": "POST", "url": "MedicationRequest"}}]});
        let resp = http
            .post(format!("{base}/fhir"))
            .bearer_auth(emr)
            .header("Content-Type", "application/fhir+json")
            .body(bundle.to_string())
            .send()
            .await
            .expect("fhir");
        assert!(
            resp.status().is_success(),
            "{}",
            resp.text().await.unwrap_or_default()
        );
    }
    let ids = |body: serde_json::Value| -> Vec<(String, String)> {
        body["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["resource"]["id"].as_str().unwrap().to_owned(),
                    e["resource"]["subject"]["reference"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
            })
            .collect()
    };
    let all: serde_json::Value = http
        .get(format!("{base}/fhir/MedicationRequest?_count=1000"))
        .bearer_auth(emr)
        .send()
        .await
        .expect("search")
        .json()
        .await
        .expect("json");
    let (derived, posted): (Vec<_>, Vec<_>) = ids(all)
        .into_iter()
        .partition(|(_, subject)| !subject.starts_with("Patient/F"));
    let mut out: [Vec<Duration>; 4] = Default::default();
    for (slot, list, search) in [
        (0, &derived, false),
        (1, &posted, false),
        (2, &derived, true),
        (3, &posted, true),
    ] {
        for (id, subject) in list {
            let url = if search {
                format!("{base}/fhir/MedicationRequest?patient={subject}")
            } else {
                format!("{base}/fhir/MedicationRequest/{id}")
            };
            let start = Instant::now();
            let resp = http.get(url).bearer_auth(emr).send().await.expect("read");
            assert!(resp.status().is_success());
            let _ = resp.bytes().await;
            out[slot].push(start.elapsed());
        }
    }
    out
}

fn main() {
    let args = <Args as clap::Parser>::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut db = scratch::ScratchDb::create(&args.db, &args.pg_url, "medlist_load");
    db.keep = args.keep;
    scratch::migrate(&args.binary, &db);
    eprintln!(
        "filling {} with {} medication records over {} persons, {} for the measured person …",
        args.db, args.records, args.persons, args.person_records
    );
    let seconds = populate(&args, &db);
    eprintln!("filled in {seconds:.0} s");
    let (_, doctor) = scratch::add_client(
        &args.binary,
        &db,
        &[
            "--role",
            "doctor",
            "--name",
            "load doctor",
            "--facility",
            FACILITY,
            "--practitioner",
            DOCTOR,
        ],
    );
    let (_, emr) = scratch::add_client(
        &args.binary,
        &db,
        &[
            "--role",
            "emr",
            "--name",
            "load emr",
            "--facility",
            EMR_FACILITY,
        ],
    );
    let server = scratch::serve(&args.binary, &db, None);
    println!(
        "$medication-list on {} with {} records, the person has {}:",
        args.db,
        args.records + args.person_records,
        args.person_records
    );
    let (_, peer_p99) = summary(
        "peer: indexed read of the person's rows",
        peer(&args, &db, args.requests),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (latencies, entries) = runtime.block_on(lists(&server, &doctor, args.requests));
    let (_, p99) = summary("GET /fhir/Patient/$medication-list", latencies);
    println!(
        "{:<44} {entries} Bundle entries; p99 / peer p99 = {:.1}",
        "",
        p99 / peer_p99
    );
    if args.reads > 0 {
        let [derived, posted, derived_search, posted_search] =
            runtime.block_on(reads(&server, &emr, args.reads));
        let (_, a) = summary("read MedicationRequest from HL7 v2 (derived)", derived);
        let (_, b) = summary("read MedicationRequest posted as FHIR", posted);
        println!("{:<44} derived / posted p99 = {:.2}", "", a / b);
        let (_, a) = summary("search ?patient= HL7 v2 (derived)", derived_search);
        let (_, b) = summary("search ?patient= posted as FHIR", posted_search);
        println!("{:<44} derived / posted p99 = {:.2}", "", a / b);
    }
    println!(
        "server peak RSS {:.0} MiB",
        scratch::peak_rss_mib(server.child.id())
    );
}
