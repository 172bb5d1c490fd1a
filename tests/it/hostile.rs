//! A hostile caller, on both databases: what used to be stored, answered with a 500, left
//! running or logged is refused with a code (issue 10, §2–§4; `docs/robustness.md`).
//!
//! * JSON that changes meaning on the way in: a repeated key, numbers no decimal holds,
//!   control characters (NUL made PostgreSQL fail with a 500);
//! * search shapes that exhaust the database (200 repetitions took 28 s on PostgreSQL,
//!   1,000 values were a 500 on SQLite), NUL in a search value;
//! * a request target that is too long, an empty `/hl7v2` body;
//! * a body trickled in a byte at a time;
//! * query values in log lines;
//! * on PostgreSQL, a read blocked past the time limit (503) and a read whose client left
//!   (cancelled in the server instead of running on).

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{TestApp, TestDb, captured_logs, error_code};

const CLINIC: &str = "1311234567";

fn patient(id: &str) -> Value {
    json!({"resourceType": "Patient", "id": id,
        "identifier": [{"system": format!("urn:oid:1.2.392.100495.20.3.51.1{CLINIC}"), "value": id}],
        "gender": "female", "birthDate": "1970-01-01"})
}

fn observation(patient: &str, code: &str) -> Value {
    json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "urn:oid:1.2.392.200119.4.504", "code": code}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "effectiveDateTime": "2026-10-01T09:00:00+09:00",
        "valueQuantity": {"value": 6.5, "unit": "%"}})
}

/// The status and the error code of a response (FHIR OperationOutcome or problem JSON).
async fn status_code(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (status, error_code(&body))
}

async fn send_raw(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, String) {
    let request = match method {
        "PUT" => app.http.put(app.url(path)),
        _ => app.http.post(app.url(path)),
    };
    let resp = request
        .bearer_auth(token)
        .header("Content-Type", "application/fhir+json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    status_code(resp).await
}

crate::on_both_databases_async!(
    files_with_control_characters_are_refused,
    json_that_changes_meaning_is_refused,
    search_shapes_are_bounded_and_values_clean,
    request_targets_and_empty_bodies_get_codes,
);

/// UKE claims and 特定健診 XML with a raw NUL (a 500 from PostgreSQL before; the XML was
/// stored, though a NUL is not XML).
async fn files_with_control_characters_are_refused(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let data = |name: &str| {
        std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    };
    let replace_once = |bytes: Vec<u8>, from: &[u8], to: &[u8]| {
        let at = bytes.windows(from.len()).position(|w| w == from).unwrap();
        [&bytes[..at], to, &bytes[at + from.len()..]].concat()
    };
    let claims = replace_once(data("uke/medical_seireki.uke"), b"K-001", b"K-\x00001");
    let insurer = app.client("insurer", None, Some("00138057"), None).await;
    let resp = app
        .http
        .post(app.url("/insurer/claims"))
        .bearer_auth(&insurer)
        .body(claims)
        .send()
        .await
        .unwrap();
    assert_eq!(status_code(resp).await, (422, "uke.encoding".to_owned()));
    let checkup = replace_once(data("tokutei/basic.xml"), b"</name>", b"\x00</name>");
    let insurer = app.client("insurer", None, Some("06139463"), None).await;
    let resp = app
        .http
        .post(app.url("/insurer/checkups"))
        .bearer_auth(&insurer)
        .body(checkup)
        .send()
        .await
        .unwrap();
    assert_eq!(status_code(resp).await, (400, "tokutei.not_xml".to_owned()));
}

async fn json_that_changes_meaning_is_refused(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.emr(CLINIC).await;
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "repeated key",
            r#"{"resourceType": "Patient", "gender": "male", "gender": "female"}"#.into(),
            400,
            "request.duplicate_key",
        ),
        (
            "repeated resourceType",
            r#"{"resourceType": "Patient", "resourceType": "Observation"}"#.into(),
            400,
            "request.duplicate_key",
        ),
        (
            "huge exponent",
            r#"{"resourceType": "Patient", "multipleBirthInteger": 1e999999}"#.into(),
            422,
            "request.number_out_of_range",
        ),
        (
            "200,000 digits",
            format!(
                r#"{{"resourceType": "Patient", "multipleBirthInteger": {}}}"#,
                "9".repeat(200_000)
            ),
            422,
            "request.number_out_of_range",
        ),
    ];
    for (what, body, status, code) in &cases {
        for (method, path) in [("PUT", "/fhir/Patient/h1"), ("POST", "/fhir/Patient")] {
            let got = send_raw(&app, &token, method, path, body.as_bytes()).await;
            assert_eq!(
                got,
                (*status, (*code).to_owned()),
                "{what}: {method} {path}"
            );
        }
    }
    // Control characters: refused where the schema's patterns look, and where they do not
    // (the XHTML narrative, API bodies), located by element (NUL made PostgreSQL fail).
    let id = format!(
        r#""identifier": [{{"system": "urn:oid:1.2.392.100495.20.3.51.1{CLINIC}", "value": "h1"}}]"#
    );
    let located: Vec<(&str, String, &str)> = vec![
        (
            "/fhir/Patient/h1",
            format!(
                r#"{{"resourceType": "Patient", "id": "h1", {id}, "name": [{{"text": "a\u0000b"}}]}}"#
            ),
            "Patient.name[0].text",
        ),
        (
            "/fhir/Patient/h1",
            format!(
                r#"{{"resourceType": "Patient", "id": "h1", {id}, "name": [{{"family": "\u001b[31m"}}]}}"#
            ),
            "Patient.name[0].family",
        ),
        (
            "/fhir/Patient/h1",
            format!(
                r#"{{"resourceType": "Patient", "id": "h1", {id}, "text": {{"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">a\u0000</div>"}}}}"#
            ),
            "Patient.text.div",
        ),
    ];
    for (path, body, location) in &located {
        let resp = app
            .http
            .put(app.url(path))
            .bearer_auth(&token)
            .header("Content-Type", "application/fhir+json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 422, "{location}");
        let outcome: Value = resp.json().await.unwrap();
        assert_eq!(error_code(&outcome), "fhir.schema", "{location}");
        let at: Vec<&str> = outcome["issue"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["expression"][0].as_str())
            .collect();
        assert!(at.contains(location), "{location}: {outcome}");
    }
    // In the API's own bodies too.
    let resp = app
        .http
        .post(app.url("/admin/clients"))
        .bearer_auth(crate::support::ADMIN_TOKEN)
        .header("Content-Type", "application/json")
        .body(r#"{"name": "a\u0000b", "role": "emr", "facility": "1311234567"}"#)
        .send()
        .await
        .unwrap();
    let (status, code) = status_code(resp).await;
    assert_eq!((status, code.as_str()), (422, "request.invalid_body"));
    // Nothing of the above was stored.
    let (status, found) = app.get_json(&token, "/fhir/Patient").await;
    assert_eq!((status, found["total"].as_i64()), (200, Some(0)), "{found}");
    // Tabs and line breaks are text, and decimals keep their literal.
    let mut ok = patient("h2");
    ok["name"] = json!([{"text": "山田\t花子\r\n"}]);
    let resp = app.put_fhir(&token, "/fhir/Patient/h2", &ok).await;
    assert_eq!(resp.status(), 201);
}

async fn search_shapes_are_bounded_and_values_clean(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.emr(CLINIC).await;
    assert_eq!(
        app.put_fhir(&token, "/fhir/Patient/s1", &patient("s1"))
            .await
            .status(),
        201
    );
    for i in [0, 37, 99] {
        let resp = app
            .post_fhir(
                &token,
                "/fhir/Observation",
                &observation("s1", &format!("3D04600000190{i:04}")),
            )
            .await;
        assert_eq!(resp.status(), 201);
    }
    let search = |query: String| {
        let path = format!("/fhir/Observation?{query}");
        let app = &app;
        let token = &token;
        async move { status_code(app.get(token, &path).await).await }
    };
    // 100 OR'ed values: one index lookup, the right three resources.
    let values: Vec<String> = (0..100).map(|i| format!("3D04600000190{i:04}")).collect();
    let (status, body) = app
        .get_json(
            &token,
            &format!("/fhir/Observation?code={}", values.join(",")),
        )
        .await;
    assert_eq!((status, body["total"].as_i64()), (200, Some(3)), "{body}");
    // The same values, some with a system, some as ids.
    let (status, body) = app
        .get_json(
            &token,
            "/fhir/Observation?code=urn:oid:1.2.392.200119.4.504|3D046000001900037,3D046000001900099,http://other|3D046000001900000",
        )
        .await;
    assert_eq!((status, body["total"].as_i64()), (200, Some(2)), "{body}");
    // 20 repetitions (AND) are accepted; none matches all.
    let twenty: Vec<String> = (0..20)
        .map(|i| format!("code=3D04600000190{i:04}"))
        .collect();
    let (status, body) = app
        .get_json(&token, &format!("/fhir/Observation?{}", twenty.join("&")))
        .await;
    assert_eq!((status, body["total"].as_i64()), (200, Some(0)), "{body}");

    let too_complex = "fhir.search_too_complex".to_owned();
    let repeated = |n: usize| {
        (0..n)
            .map(|i| format!("code=x{i}"))
            .collect::<Vec<_>>()
            .join("&")
    };
    let ored = |n: usize| {
        format!(
            "code={}",
            (0..n)
                .map(|i| format!("x{i}"))
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    assert_eq!(search(repeated(21)).await, (400, too_complex.clone()));
    assert_eq!(search(repeated(200)).await, (400, too_complex.clone()));
    assert_eq!(search(ored(101)).await, (400, too_complex.clone()));
    assert_eq!(search(ored(1000)).await, (400, too_complex.clone()));
    let many: Vec<String> = (0..51)
        .map(|i| format!("{}=x", ["code", "status", "category"][i % 3]))
        .collect();
    assert_eq!(search(many.join("&")).await, (400, too_complex));
    // NUL and other control characters in values: a 400 with a code, on both databases.
    for query in [
        "code=a%00b",
        "code=a%1Bb",
        "patient=Patient/a%00b",
        "date=2026%00",
    ] {
        let (status, code) = search(query.to_owned()).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(code, "request.invalid_parameter", "{query}");
    }
    let (status, code) = status_code(app.get(&token, "/fhir/Patient?name=a%00b").await).await;
    assert_eq!((status, code.as_str()), (400, "request.invalid_parameter"));
}

async fn request_targets_and_empty_bodies_get_codes(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.emr(CLINIC).await;
    // Longer than `max_uri_bytes` (16 KiB), shorter than the HTTP layer's own limit.
    let long = format!("/fhir/Patient?name={}", "a".repeat(20 * 1024));
    let (status, code) = status_code(app.get(&token, &long).await).await;
    assert_eq!((status, code.as_str()), (414, "request.uri_too_long"));
    // Control characters elsewhere than FHIR searches.
    let (status, code) = status_code(
        app.get(&token, "/registrations?member=06139463%3A1%00%3A2%3A01")
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "request.invalid_parameter"));
    // An empty HL7 v2 body holds no message to acknowledge.
    for body in [&b""[..], b"\r\n  \n"] {
        let resp = app
            .http
            .post(app.url("/hl7v2"))
            .bearer_auth(&token)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            status_code(resp).await,
            (400, "request.empty_body".to_owned())
        );
    }
    // A raw NUL in an HL7 v2 message: an error located by byte offset, answered with the
    // message's own MSH-10 and kept in quarantine, on both databases (on PostgreSQL it was
    // an AR `internal.error` from the database); in the header, an AR.
    for (message, expected) in [
        (
            &b"MSH|^~\\&|EMR|CLINIC|KAKARI|GW|20240402080000||ADT^A08^ADT_A01|NUL-1|P|2.5\rPID|0001||P7001^^^^PI||TE\x00ST^JIRO||19700101|M\r"[..],
            "MSA|AE|NUL-1",
        ),
        (
            b"MSH|^~\\&|EMR|CLINIC|KAKARI|GW|20240402080000||ADT^A08^ADT_A01|NUL-2\x00|P|2.5\rPID|0001||P7001^^^^PI\r",
            "MSA|AR|",
        ),
    ] {
        let resp = app
            .http
            .post(app.url("/hl7v2"))
            .bearer_auth(&token)
            .body(message.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let ack = resp.text().await.unwrap();
        assert!(ack.contains(expected), "{ack}");
        assert!(ack.contains("hl7.invalid_value"), "{ack}");
    }
}

/// Writes a request head declaring `declared` body bytes, then trickles the body one byte
/// per `every`; returns the response head the server sent (if any) within `limit`.
async fn trickle(
    app: &TestApp,
    token: &str,
    declared: usize,
    every: Duration,
    limit: Duration,
) -> String {
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /fhir/Patient HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/fhir+json\r\nContent-Length: {declared}\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let feeder = tokio::spawn(async move {
        for _ in 1..declared {
            tokio::time::sleep(every).await;
            if writer.write_all(b" ").await.is_err() {
                break;
            }
        }
    });
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(limit, reader.read(&mut answer)).await;
    feeder.abort();
    match read {
        Ok(Ok(n)) => String::from_utf8_lossy(&answer[..n]).into_owned(),
        _ => String::new(),
    }
}

#[actix_web::test]
async fn a_trickled_body_is_cut_off() {
    let app = TestApp::spawn_with(TestDb::sqlite(), |c| c.body_timeout_secs = 2).await;
    let token = app.emr(CLINIC).await;
    // A declared 32 MiB body at a byte every half second: refused at the 2 s limit. The
    // 30 s read limit is a hang guard, not a timing assertion.
    let answer = trickle(
        &app,
        &token,
        32 * 1024 * 1024,
        Duration::from_millis(500),
        Duration::from_secs(30),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("request.body_timeout"), "{answer:?}");
}

#[actix_web::test]
async fn query_values_never_reach_the_logs() {
    const SENTINEL: &str = "ZZQUERYSENTINEL";
    let logs = captured_logs();
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let token = app.emr(CLINIC).await;
    let paths = [
        format!("/fhir/Patient?identifier={SENTINEL}&birthdate={SENTINEL}"),
        format!("/fhir/Patient?name={SENTINEL}&favourite={SENTINEL}"),
        format!("/fhir/Observation?code={SENTINEL}&_count={SENTINEL}"),
        format!("/fhir/Patient/$medication-list?member={SENTINEL}"),
        format!("/registrations?member={SENTINEL}"),
        format!("/insurer/lab-results?since={SENTINEL}"),
        format!("/nowhere?member={SENTINEL}"),
    ];
    for path in &paths {
        let resp = app.get(&token, path).await;
        assert!(resp.status().as_u16() < 500, "{path}");
        // Also unauthenticated (refused before anything else).
        let resp = app.http.get(app.url(path)).send().await.unwrap();
        assert!(resp.status().as_u16() < 500, "{path}");
    }
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        logged.contains("request refused"),
        "the refusals were not logged at all"
    );
    let leaks: Vec<&str> = logged.lines().filter(|l| l.contains(SENTINEL)).collect();
    assert!(
        leaks.is_empty(),
        "log lines carry a query value: {leaks:#?}"
    );
}

/// Holds an exclusive lock on the resources table of a PostgreSQL test schema until the
/// returned sender is dropped (reads of resources wait for it).
fn lock_resources(db: &TestDb) -> std::sync::mpsc::Sender<()> {
    let TestDb::Postgres { schema, .. } = db else {
        unreachable!("PostgreSQL only")
    };
    let schema = schema.clone();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (locked, is_locked) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut client =
            postgres::Client::connect(&crate::support::postgres_base_url(), postgres::NoTls)
                .unwrap();
        let mut tx = client.transaction().unwrap();
        tx.batch_execute(&format!(
            "LOCK TABLE {schema}.resources IN ACCESS EXCLUSIVE MODE"
        ))
        .unwrap();
        locked.send(()).unwrap();
        let _ = released.recv();
        tx.rollback().unwrap();
    });
    is_locked.recv().unwrap();
    release
}

/// Statements waiting in the server for a lock on a table of the test's schema.
fn waiting_statements(db: &TestDb) -> i64 {
    let TestDb::Postgres { schema, .. } = db else {
        unreachable!("PostgreSQL only")
    };
    let schema = schema.clone();
    std::thread::spawn(move || {
        let mut client =
            postgres::Client::connect(&crate::support::postgres_base_url(), postgres::NoTls)
                .unwrap();
        client
            .query_one(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND NOT l.granted",
                &[&schema],
            )
            .unwrap()
            .get::<_, i64>(0)
    })
    .join()
    .unwrap()
}

#[actix_web::test]
async fn postgres_reads_stop_at_the_limit_and_when_the_client_leaves() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    let app = TestApp::spawn_with(db, |c| c.db_read_timeout_secs = 2).await;
    let token = app.emr(CLINIC).await;
    let release = lock_resources(app.db());
    // Blocked past the limit: the database ends the statement, the caller gets a 503.
    let (status, code) = status_code(app.get(&token, "/fhir/Observation?code=x").await).await;
    assert_eq!((status, code.as_str()), (503, "store.timeout"));
    drop(release);

    // A client that leaves while its search waits: the search is cancelled in the server
    // at once, not left running until the limit (here 60 s).
    let app =
        TestApp::spawn_with(TestDb::postgres().unwrap(), |c| c.db_read_timeout_secs = 60).await;
    let token = app.emr(CLINIC).await;
    let release = lock_resources(app.db());
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let request = format!(
        "GET /fhir/Observation?code=y HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // Waits (a hang guard, not a timing assertion) until the search is waiting in the server.
    let mut waited = 0;
    while waiting_statements(app.db()) == 0 {
        waited += 1;
        assert!(waited < 300, "the search never reached the database");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(stream);
    let mut waited = 0;
    while waiting_statements(app.db()) > 0 {
        waited += 1;
        assert!(waited < 300, "the abandoned search is still running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(release);
    // The gateway still serves reads.
    let (status, _) = app.get_json(&token, "/fhir/Observation?code=z").await;
    assert_eq!(status, 200);
}
