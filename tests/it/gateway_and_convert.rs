//! The gateway and `kakari convert` decide alike. Every file of the test corpora (the
//! HL7 v2 fixtures and tolerance corpus, the SS-MIX2 trees as archives with hostile
//! entries beside them, the UKE and 特定健診 files, the FHIR tolerance corpus) is posted to
//! a running gateway and read offline by `kakari convert`, and both must give:
//!
//! * the same disposition per message, file or resource (accepted, duplicate, superseded,
//!   rejected with the same error code);
//! * the same person links: every record on the person of the same member id, or on none
//!   (an ambiguous family card), and the same persons;
//! * the same archive verdict (entries refused, archives refused as a whole).
//!
//! On both databases. Where the two differ by design (convert has no caller: it keeps a
//! claims file's receipts of every insurer, and those without a member id), only what the
//! gateway takes in is compared.

use std::io::Write;
use std::path::{Path, PathBuf};

use kakari::convert::{self, ConvertArgs, InputFormat, OutputFormat};
use kakari::intake::FileReport;
use serde_json::Value;

use crate::on_both_databases_async;
use crate::support::{TestApp, TestDb, ack_text, tar_gz, zip_bomb, zip_tree};

/// The institution of the fixtures' facility-local ids.
const CLINIC: &str = "1311234567";

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

/// Files of a folder (not below it) whose name ends with one of `endings`, sorted.
fn files(folder: &str, endings: &[&str]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(data(folder))
        .unwrap_or_else(|_| panic!("tests/data/{folder} exists"))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.is_file()
                && endings
                    .iter()
                    .any(|e| p.to_string_lossy().to_lowercase().ends_with(e))
        })
        .collect();
    out.sort();
    out
}

/// Where records ended up: (kind, location, member key of the person or none).
type Places = Vec<(String, String, Option<String>)>;

/// What `kakari convert` read.
struct Offline {
    rows: Vec<FileReport>,
    places: Places,
    persons: Vec<String>,
}

/// Reads an input with `kakari convert` (no output written); `Err` is the fatal message.
fn offline(from: InputFormat, input: &Path, facility: Option<&str>) -> Result<Offline, String> {
    let args = ConvertArgs {
        from,
        to: OutputFormat::Ndjson,
        input: input.to_path_buf(),
        output: None,
        report: None,
        facility: facility.map(str::to_owned),
        masters: None,
    };
    let (patients, rows) = convert::read(&args).map_err(|f| f.0)?;
    let places = patients
        .record_places()
        .into_iter()
        .map(|p| (p.kind.to_owned(), p.location, p.person))
        .collect();
    Ok(Offline {
        rows,
        places,
        persons: patients.person_keys(),
    })
}

/// Where the gateway's records ended up, and its persons.
async fn stored(app: &TestApp) -> (Places, Vec<String>) {
    let places = app.state.store.read(|tx| tx.record_places()).await.unwrap();
    let persons = app.state.store.read(|tx| tx.person_keys()).await.unwrap();
    (places, persons)
}

/// The same records on the same persons, and the same persons.
async fn assert_same_links(app: &TestApp, offline: &Offline, what: &str) {
    let (places, persons) = stored(app).await;
    assert_eq!(places, offline.places, "{what}: records on persons");
    assert_eq!(persons, offline.persons, "{what}: persons");
}

/// The code a fatal conversion error starts with (`uke.not_uke at …`).
fn fatal_code(message: &str) -> &str {
    message.split([' ', ':', ';']).next().unwrap_or(message)
}

// ---- HL7 v2 ----------------------------------------------------------------------------

/// Per acknowledgement: MSA-1 and the code (ERR-5) of its first error.
fn acks(text: &str) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for segment in text.split(['\r', '\n']) {
        let fields: Vec<&str> = segment.split('|').collect();
        match fields[0] {
            "MSA" => out.push((fields.get(1).unwrap_or(&"").to_string(), None)),
            "ERR" => {
                let severity = fields.get(4).copied().unwrap_or("");
                let code = fields
                    .get(5)
                    .and_then(|f| f.split('^').next())
                    .unwrap_or("");
                if let Some(last) = out.last_mut()
                    && last.1.is_none()
                    && !matches!(severity, "W" | "I")
                {
                    last.1 = Some(code.to_owned());
                }
            }
            _ => {}
        }
    }
    out
}

async fn message_rows(app: &TestApp) -> i64 {
    let counts = app
        .state
        .store
        .read(|tx| tx.message_counts())
        .await
        .unwrap();
    counts.iter().map(|(_, n)| n).sum()
}

/// The file a report row is about (`file#2` is the second message of `file`).
fn row_file(row: &FileReport) -> &str {
    row.path.split('#').next().unwrap_or(&row.path)
}

/// Copies files into a fresh folder (flat, in order), so a conversion reads exactly them.
fn folder_of(files: &[PathBuf]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (i, f) in files.iter().enumerate() {
        let name = format!("{i:03}_{}", f.file_name().unwrap().to_string_lossy());
        std::fs::copy(f, dir.path().join(name)).unwrap();
    }
    dir
}

/// HL7 v2 files posted one by one (`POST /hl7v2`) and converted as one folder.
async fn hl7_corpus_agrees(db: TestDb, corpus: &[PathBuf], what: &str) {
    let folder = folder_of(corpus);
    let off = offline(InputFormat::Hl7v2, folder.path(), Some(CLINIC)).expect("converts");
    assert!(
        off.rows
            .iter()
            .all(|r| !r.path.contains("(batch envelope)")),
        "{what}: every segment belongs to a message"
    );
    let app = TestApp::spawn(db).await;
    let token = app.emr(CLINIC).await;
    let mut order: Vec<&str> = Vec::new();
    for row in &off.rows {
        if order.last() != Some(&row_file(row)) {
            order.push(row_file(row));
        }
    }
    assert_eq!(
        order.len(),
        corpus.len(),
        "{what}: a row per message of every file"
    );
    for file in order {
        let rows: Vec<&FileReport> = off.rows.iter().filter(|r| row_file(r) == file).collect();
        let name = Path::new(file).file_name().unwrap();
        let body = std::fs::read(folder.path().join(name)).unwrap();
        let before = message_rows(&app).await;
        let (status, ack) = app
            .post_bytes(&token, "/hl7v2", "x-application/hl7-v2+er7", body)
            .await;
        assert_eq!(status, 200, "{what}: {file}");
        let text = ack_text(&ack);
        let got = acks(&text);
        assert_eq!(
            got.len(),
            rows.len(),
            "{what}: {file}: one ACK per message: {text} {rows:?}"
        );
        for (row, (msa, code)) in rows.iter().zip(&got) {
            match row.status.as_str() {
                "accepted" | "duplicate" | "superseded" => {
                    assert_eq!(msa, "AA", "{what}: {}: {row:?} vs {text}", row.path);
                }
                _ => {
                    assert!(msa == "AE" || msa == "AR", "{what}: {}: {text}", row.path);
                    assert_eq!(code, &row.code, "{what}: {}: {text}", row.path);
                }
            }
        }
        let kept = rows
            .iter()
            .filter(|r| r.status == "accepted" || r.status == "superseded")
            .count() as i64;
        assert_eq!(
            message_rows(&app).await - before,
            kept,
            "{what}: {file}: messages kept (a duplicate keeps nothing)"
        );
    }
    assert_same_links(&app, &off, what).await;
}

async fn hl7_fixtures_agree(db: TestDb) {
    let mut corpus = files("hl7v2", &[".hl7"]);
    // Each again: a duplicate of its first sending.
    corpus.extend(files("hl7v2", &[".hl7"]).into_iter().take(3));
    hl7_corpus_agrees(db, &corpus, "hl7v2 fixtures").await;
}

async fn hl7_tolerance_corpus_agrees(db: TestDb) {
    let corpus = files("hl7v2/tolerance", &[".hl7"]);
    assert!(corpus.len() >= 20, "{corpus:?}");
    hl7_corpus_agrees(db, &corpus, "hl7v2 tolerance corpus").await;
}

/// Family cards without 枝番 (`tests/data/hl7v2/family_cards/README.md`): linked alike,
/// and as the person-linking rule says.
async fn family_cards_agree(db: TestDb) {
    let corpus = files("hl7v2/family_cards", &[".hl7"]);
    assert_eq!(corpus.len(), 7);
    let folder = folder_of(&corpus);
    let off = offline(InputFormat::Hl7v2, folder.path(), Some(CLINIC)).expect("converts");
    let card = "06139463:12:345";
    assert_eq!(
        off.persons,
        [
            format!("{card}:01"),
            format!("{card}:02"),
            format!("{card}:03")
        ]
    );
    let on = |suffix: Option<&str>| {
        off.places
            .iter()
            .filter(|(_, _, p)| p.as_deref() == suffix.map(|s| format!("{card}:{s}")).as_deref())
            .count()
    };
    assert_eq!(
        [on(None), on(Some("01")), on(Some("02")), on(Some("03"))],
        [2, 1, 2, 2],
        "{:?}",
        off.places
    );
    let ambiguous: Vec<&str> = off
        .rows
        .iter()
        .filter(|r| r.warnings.iter().any(|w| w == "fhir.member_id at IN1[1]"))
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(ambiguous.len(), 2, "{:?}", off.rows);
    hl7_corpus_agrees(db, &corpus, "family cards").await;
}

// ---- SS-MIX2 archives --------------------------------------------------------------------

/// The archives: the test trees, the corpus tree when present, hostile entries, a bomb,
/// and archives refused as a whole.
fn ssmix2_archives() -> Vec<(&'static str, Vec<u8>)> {
    let tree = data("medication-list/07-ssmix2-and-uke-same-person/clinic-b-ssmix2");
    let mut out = vec![("scenario tree (zip)", zip_tree(&tree, "clinic-b"))];
    let corpus =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/ssmix2-nho/sampleData");
    if corpus.exists() {
        out.push(("corpus tree (zip)", zip_tree(&corpus, "sampleData")));
    }
    let good = std::fs::read(data("hl7v2/omp01_utf8_lf.hl7")).unwrap();
    let name = "P00/078/P000789/20240402/OMP-01/P000789_20240402_OMP-01_000000020240402_20240402080000000_01_1";
    let invalidated = name.replace("_01_1", "_01_0");
    out.push((
        "hostile entries and an invalidation (tar.gz)",
        tar_gz(&[
            (name, &good, tar::EntryType::Regular),
            (name, &good, tar::EntryType::Regular),
            ("../../etc/evil", b"x", tar::EntryType::Regular),
            ("P00/078/P000789/link", b"", tar::EntryType::Symlink),
            (&invalidated, &good, tar::EntryType::Regular),
            (".DS_Store", b"x", tar::EntryType::Regular),
        ]),
    ));
    out.push(("zip bomb", zip_bomb()));
    let whole = zip_tree(&tree, "clinic-b");
    out.push(("truncated zip", whole[..whole.len() / 2].to_vec()));
    out
}

async fn ssmix2_archives_agree(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    for (i, (what, archive)) in ssmix2_archives().into_iter().enumerate() {
        let app = TestApp::spawn(fresh(&db)).await;
        let token = app.emr(CLINIC).await;
        let name = format!("archive-{i}");
        let path = dir.path().join(&name);
        std::fs::write(&path, &archive).unwrap();
        let off = offline(InputFormat::Ssmix2, &path, Some(CLINIC));
        let (status, answer) = app
            .post_bytes(&token, "/ssmix2", "application/zip", archive)
            .await;
        let text = String::from_utf8_lossy(&answer).into_owned();
        let report: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match off {
            Ok(off) => {
                assert_eq!(status, 200, "{what}: {text}");
                let rows: Vec<FileReport> =
                    serde_json::from_value(report["files"].clone()).expect("report rows");
                // A walk stopped part-way: the gateway says so after the rows, convert adds
                // a rejected row for the archive; the files read before stay in both.
                let mut offline_rows = off.rows.clone();
                let stop = report["stopped"]["code"].as_str();
                if stop.is_some() || offline_rows.last().is_some_and(|r| r.path == name) {
                    let last = offline_rows.pop().expect("the archive's own row");
                    assert_eq!(last.path, name, "{what}");
                    assert_eq!(last.code.as_deref(), stop, "{what}: {text}");
                }
                // The gateway streams entries it does not read at once and files as their
                // chunk commits: the same rows, in another order.
                assert_eq!(
                    sorted(&rows),
                    sorted(&offline_rows),
                    "{what}: the same report rows"
                );
                assert_same_links(&app, &off, what).await;
            }
            Err(fatal) => {
                assert!(
                    status >= 400,
                    "{what}: refused offline ({fatal}), {status} {text}"
                );
                assert_eq!(
                    fatal_code(&fatal),
                    problem_code(&report),
                    "{what}: {fatal} vs {text}"
                );
            }
        }
    }
}

/// Report rows in a fixed order (as JSON text).
fn sorted(rows: &[FileReport]) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    out.sort();
    out
}

// ---- UKE claims ------------------------------------------------------------------------

fn uke_files() -> Vec<PathBuf> {
    let mut out = files("uke", &[".uke"]);
    out.extend(files("uke/tolerance", &[".uke"]));
    for scenario in std::fs::read_dir(data("medication-list")).unwrap() {
        let path = scenario.unwrap().path();
        if path.is_dir() {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            out.extend(files(&format!("medication-list/{name}"), &[".uke"]));
        }
    }
    assert!(out.len() >= 10, "{out:?}");
    out
}

async fn post_as_insurer(app: &TestApp, path: &str, insurer: &str, body: Vec<u8>) -> (u16, Value) {
    let token = app.client("insurer", None, Some(insurer), None).await;
    let (status, bytes) = app
        .post_bytes(&token, path, "application/octet-stream", body)
        .await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The code of a refusal body (problem JSON).
fn problem_code(body: &Value) -> String {
    body["code"].as_str().unwrap_or("").to_owned()
}

/// A gateway of its own per input (on a fresh database of the same kind), as a conversion
/// of the input alone knows no other input's persons.
fn fresh(db: &TestDb) -> TestDb {
    match db {
        TestDb::Sqlite { .. } => TestDb::sqlite(),
        TestDb::Postgres { .. } => TestDb::postgres().expect("PostgreSQL reachable"),
    }
}

async fn uke_files_agree(db: TestDb) {
    for path in uke_files() {
        let what = path.display().to_string();
        let bytes = std::fs::read(&path).unwrap();
        let app = TestApp::spawn(fresh(&db)).await;
        let off = offline(InputFormat::Uke, &path, None);
        let Ok(parsed) = kakari::codec::uke::parse(&bytes) else {
            let fatal = off.err().expect("refused offline too");
            let (status, body) = post_as_insurer(&app, "/insurer/claims", "06139463", bytes).await;
            assert!(status >= 400, "{what}");
            assert_eq!(fatal_code(&fatal), problem_code(&body), "{what}");
            continue;
        };
        let off = off.unwrap_or_else(|f| panic!("{what}: {f}"));
        assert_eq!(off.rows.len(), 1);
        assert_eq!(off.rows[0].status, "accepted", "{what}");
        let claims = kakari::codec::uke::to_domain(&parsed, None);
        let mut insurers: Vec<String> = claims
            .receipts
            .iter()
            .filter_map(|r| r.member.as_ref().map(|m| m.insurer().as_str().to_owned()))
            .collect();
        insurers.sort();
        insurers.dedup();
        // The lines of the receipts the gateway takes in (an insurer's own members).
        let member_lines: Vec<String> = claims
            .receipts
            .iter()
            .filter(|r| r.member.is_some())
            .map(|r| format!("line {}", r.line))
            .collect();
        let mut accepted = 0;
        for insurer in &insurers {
            let (status, report) =
                post_as_insurer(&app, "/insurer/claims", insurer, bytes.clone()).await;
            assert_eq!(status, 200, "{what}: {report}");
            accepted += report["accepted"].as_u64().unwrap();
        }
        assert_eq!(
            accepted as usize,
            member_lines.len(),
            "{what}: every member's receipt"
        );
        let compared = Offline {
            rows: Vec::new(),
            places: off
                .places
                .iter()
                .filter(|(_, location, _)| member_lines.contains(location))
                .cloned()
                .collect(),
            persons: off.persons.clone(),
        };
        assert_same_links(&app, &compared, &what).await;
    }
}

// ---- 特定健診 ------------------------------------------------------------------------------

/// The tokutei inputs: each document, and a ZIP with good, broken and hostile entries.
fn tokutei_inputs(dir: &Path) -> Vec<PathBuf> {
    let mut out = files("tokutei", &[".xml"]);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, file) in [
        ("ROOT/DATA/h1.xml", "basic.xml"),
        ("ROOT/DATA/h2.xml", "broken.xml"),
        ("ROOT/DATA/h3.xml", "no_member.xml"),
        ("../evil.xml", "basic.xml"),
    ] {
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&std::fs::read(data(&format!("tokutei/{file}"))).unwrap())
            .unwrap();
    }
    let path = dir.join("checkups.zip");
    std::fs::write(&path, zip.finish().unwrap().into_inner()).unwrap();
    out.push(path);
    out
}

async fn tokutei_inputs_agree(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let items = kakari::mapping::checkup_items::CheckupItems::bundled().unwrap();
    for path in tokutei_inputs(dir.path()) {
        let what = path.display().to_string();
        let bytes = std::fs::read(&path).unwrap();
        let app = TestApp::spawn(fresh(&db)).await;
        let off = offline(InputFormat::Tokutei, &path, None);
        let read = kakari::codec::tokutei::read_submission(
            &bytes,
            items,
            &kakari::codec::tokutei::ReadLimits::default(),
        );
        if read.is_refused() {
            let fatal = off.err().expect("refused offline too");
            let (status, body) =
                post_as_insurer(&app, "/insurer/checkups", "06139463", bytes).await;
            assert!(status >= 400, "{what}");
            assert_eq!(fatal_code(&fatal), problem_code(&body), "{what}: {body}");
            continue;
        }
        let off = off.unwrap_or_else(|f| panic!("{what}: {f}"));
        let mut insurers: Vec<String> = read
            .documents
            .iter()
            .map(|d| d.document.member.insurer().as_str().to_owned())
            .collect();
        insurers.sort();
        insurers.dedup();
        let mut accepted = 0;
        let mut errors: Vec<(String, String)> = Vec::new();
        for insurer in &insurers {
            let (status, report) =
                post_as_insurer(&app, "/insurer/checkups", insurer, bytes.clone()).await;
            assert_eq!(status, 200, "{what}: {report}");
            accepted += report["accepted"].as_u64().unwrap();
            for issue in report["issues"].as_array().unwrap() {
                if issue["severity"] == "error" {
                    let location = issue["location"].as_str().unwrap();
                    let entry = location.split(' ').next().unwrap_or(location);
                    errors.push((issue["code"].as_str().unwrap().to_owned(), entry.to_owned()));
                }
            }
        }
        let offline_accepted = off.rows.iter().filter(|r| r.status == "accepted").count();
        assert_eq!(
            accepted as usize, offline_accepted,
            "{what}: {:?}",
            off.rows
        );
        for row in off.rows.iter().filter(|r| r.status == "rejected") {
            let code = row.code.clone().unwrap_or_default();
            assert!(
                errors
                    .iter()
                    .any(|(c, entry)| *c == code && row.path.ends_with(entry.as_str())),
                "{what}: {row:?} refused by the gateway too: {errors:?}"
            );
        }
        assert_same_links(&app, &off, &what).await;
    }
}

// ---- FHIR ------------------------------------------------------------------------------

/// The FHIR tolerance corpus, then a collection sent again (a duplicate) and its
/// identifier reused for other content.
fn fhir_inputs(dir: &Path) -> Vec<PathBuf> {
    let mut corpus = files("fhir/tolerance", &[".json"]);
    let collection = corpus
        .iter()
        .find(|p| p.to_string_lossy().contains("collection"))
        .cloned()
        .expect("a collection in the corpus");
    corpus.push(collection.clone());
    let mut changed: Value = serde_json::from_slice(&std::fs::read(&collection).unwrap()).unwrap();
    changed["timestamp"] = Value::String("2026-05-01T09:00:00+09:00".into());
    let path = dir.join("changed_collection.json");
    std::fs::write(&path, changed.to_string()).unwrap();
    corpus.push(path);
    corpus
}

async fn fhir_corpus_agrees(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let inputs = fhir_inputs(dir.path());
    let folder = folder_of(&inputs);
    let off = offline(InputFormat::Fhir, folder.path(), Some(CLINIC)).expect("converts");
    assert_eq!(off.rows.len(), inputs.len(), "{:?}", off.rows);
    assert!(
        off.rows.iter().any(|r| r.status == "duplicate"),
        "{:?}",
        off.rows
    );
    let app = TestApp::spawn(db).await;
    let token = app.emr(CLINIC).await;
    for row in &off.rows {
        let name = Path::new(&row.path).file_name().unwrap();
        let body = std::fs::read(folder.path().join(name)).unwrap();
        let resource: Value = serde_json::from_slice(&body).unwrap();
        let rtype = resource["resourceType"].as_str().unwrap();
        let request = match (rtype, resource["id"].as_str()) {
            ("Bundle", _) => app.http.post(app.url("/fhir")),
            (t, Some(id)) => app.http.put(app.url(&format!("/fhir/{t}/{id}"))),
            (t, None) => app.http.post(app.url(&format!("/fhir/{t}"))),
        };
        let resp = request
            .bearer_auth(&token)
            .header("Content-Type", "application/fhir+json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let outcome: Value = resp.json().await.unwrap_or(Value::Null);
        match row.status.as_str() {
            "accepted" => assert!(
                status == 200 || status == 201,
                "{}: {status} {outcome}",
                row.path
            ),
            // A document or collection sent again: the first answer, 200 instead of 201.
            "duplicate" => assert_eq!(status, 200, "{}: {outcome}", row.path),
            _ => {
                assert!(status >= 400, "{}: {status} {outcome}", row.path);
                let error = outcome["issue"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|i| i["severity"] == "error")
                    .expect("an error issue");
                assert_eq!(
                    error["details"]["coding"][0]["code"].as_str(),
                    row.code.as_deref(),
                    "{}: {outcome}",
                    row.path
                );
                assert_eq!(
                    error["expression"][0].as_str(),
                    row.location.as_deref(),
                    "{}: {outcome}",
                    row.path
                );
            }
        }
    }
    assert_same_links(&app, &off, "fhir tolerance corpus").await;
}

on_both_databases_async!(
    hl7_fixtures_agree,
    hl7_tolerance_corpus_agrees,
    family_cards_agree,
    ssmix2_archives_agree,
    uke_files_agree,
    tokutei_inputs_agree,
    fhir_corpus_agrees,
);
