//! The sender's own id of an input (HL7 MSH-3/4 + MSH-10, the SS-MIX2 file name, the
//! FHIR `Bundle.identifier`) is never a reason to acknowledge content that was not
//! stored: a re-send of the same content is a duplicate, the same id with other content
//! is refused (`intake.key_reused`) and kept in quarantine. On both databases, over HTTP
//! and MLLP, and the same verdicts from `kakari convert`.

use std::io::Write;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::on_both_databases_async;
use crate::support::{TestApp, TestDb, outcome_code};

const CLINIC: &str = "1311234567";

/// An RDE^O11 with one drug; `control` is MSH-10, `sent` MSH-7, `days` the supply.
fn prescription(control: &str, sent: &str, days: u32) -> String {
    format!(
        "MSH|^~\\&|EMR|CLINIC|KAKARI|GW|{sent}||RDE^O11^RDE_O11|{control}|P|2.5||||||UNICODE UTF-8\r\
         PID|0001||P9001^^^^PI||試験^花子^^^^^L^I||19800101|F\r\
         ORC|NW|00000001||1|||||202404020755\r\
         RXE||620004523^ロキソニン錠６０ｍｇ^HOT9|1||TAB^錠^MR9P|||||{days}|TAB^錠^MR9P\r\
         TQ1|1||1013044400000000&内服・経口・１日３回朝昼夕食後&JAMISDP01|||{days}^d|20240402\r\
         RXR|PO^口^HL70162\r"
    )
}

fn ack_lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .split(['\r', '\n'])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn msa(lines: &[String]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter(|l| l.starts_with("MSA|"))
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (f[1].to_owned(), f.get(2).copied().unwrap_or("").to_owned())
        })
        .collect()
}

async fn post_hl7(app: &TestApp, token: &str, body: &str) -> (u16, Vec<String>) {
    let resp = app
        .http
        .post(app.url("/hl7v2"))
        .bearer_auth(token)
        .header("Content-Type", "x-application/hl7-v2+er7")
        .body(body.as_bytes().to_vec())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, ack_lines(&resp.bytes().await.unwrap()))
}

async fn medication_count(app: &TestApp) -> i64 {
    app.state.store.read(|tx| tx.record_counts()).await.unwrap()[0]
}

async fn quarantined_codes(app: &TestApp) -> Vec<String> {
    app.state
        .store
        .read(|tx| tx.list_quarantine(100))
        .await
        .unwrap()
        .into_iter()
        .map(|q| q.code)
        .collect()
}

on_both_databases_async!(
    a_reused_control_id_with_other_content_is_refused_and_kept,
    a_reused_control_id_over_mllp_is_refused_too,
    a_reused_storage_file_name_with_other_content_is_refused,
    a_reused_bundle_identifier_with_other_content_is_refused,
);

async fn a_reused_control_id_with_other_content_is_refused_and_kept(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.emr(CLINIC).await;
    let (status, ack) = post_hl7(&app, &token, &prescription("RX-1", "20240402080000", 7)).await;
    assert_eq!(status, 200);
    assert_eq!(msa(&ack), [("AA".to_owned(), "RX-1".to_owned())]);
    let stored = medication_count(&app).await;
    assert_eq!(stored, 1);

    // A retransmission: MSH-7 re-stamped, CRLF instead of CR. Same message: AA, nothing new.
    let resent = prescription("RX-1", "20240402081500", 7).replace('\r', "\r\n");
    let (_, ack) = post_hl7(&app, &token, &resent).await;
    assert_eq!(msa(&ack), [("AA".to_owned(), "RX-1".to_owned())]);
    assert_eq!(medication_count(&app).await, stored);

    // The same MSH-10 with other content (14 days instead of 7): never a silent AA.
    let (status, ack) = post_hl7(&app, &token, &prescription("RX-1", "20240402090000", 14)).await;
    assert_eq!(status, 200);
    assert_eq!(msa(&ack), [("AE".to_owned(), "RX-1".to_owned())], "{ack:?}");
    let err = ack
        .iter()
        .find(|l| l.starts_with("ERR|"))
        .expect("ERR segment");
    assert!(err.contains("205^"), "table 0357 duplicate key: {err}");
    assert!(err.contains("intake.key_reused"), "{err}");
    assert_eq!(medication_count(&app).await, stored, "nothing stored");
    assert_eq!(quarantined_codes(&app).await, ["intake.key_reused"]);

    // Sent again under a new MSH-10, it is stored.
    let (_, ack) = post_hl7(&app, &token, &prescription("RX-2", "20240402090000", 14)).await;
    assert_eq!(msa(&ack), [("AA".to_owned(), "RX-2".to_owned())]);
    assert_eq!(medication_count(&app).await, stored + 1);
}

async fn send_frame(stream: &mut tokio::net::TcpStream, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x0b];
    frame.extend_from_slice(payload);
    frame.extend_from_slice(&[0x1c, 0x0d]);
    stream.write_all(&frame).await.unwrap();
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        stream.read_exact(&mut byte).await.unwrap();
        reply.push(byte[0]);
        if reply.ends_with(&[0x1c, 0x0d]) {
            return reply[1..reply.len() - 2].to_vec();
        }
    }
}

async fn a_reused_control_id_over_mllp_is_refused_too(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let address = app.start_mllp(CLINIC).await;
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let first = prescription("MLLP-1", "20240402080000", 7);
    let ack = ack_lines(&send_frame(&mut stream, first.as_bytes()).await);
    assert_eq!(msa(&ack), [("AA".to_owned(), "MLLP-1".to_owned())]);
    let ack = ack_lines(&send_frame(&mut stream, first.as_bytes()).await);
    assert_eq!(msa(&ack), [("AA".to_owned(), "MLLP-1".to_owned())]);
    let changed = prescription("MLLP-1", "20240402080000", 28);
    let ack = ack_lines(&send_frame(&mut stream, changed.as_bytes()).await);
    assert_eq!(msa(&ack), [("AE".to_owned(), "MLLP-1".to_owned())]);
    assert_eq!(medication_count(&app).await, 1);
}

const STORAGE_NAME: &str = "P00/900/P009001/20240402/OMP-01/P009001_20240402_OMP-01_000000000000001_20240402080000000_01_1";

fn zip_of(name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(name, zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(bytes).unwrap();
    zip.finish().unwrap().into_inner()
}

async fn post_archive(app: &TestApp, token: &str, body: Vec<u8>) -> Value {
    let resp = app
        .http
        .post(app.url("/ssmix2"))
        .bearer_auth(token)
        .header("Content-Type", "application/zip")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.unwrap()
}

fn storage_message(days: u32) -> String {
    prescription("S-1", "20240402080000", days).replace("P9001^^^^PI", "P009001^^^^PI")
}

async fn a_reused_storage_file_name_with_other_content_is_refused(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.emr(CLINIC).await;
    let report = post_archive(
        &app,
        &token,
        zip_of(STORAGE_NAME, storage_message(7).as_bytes()),
    )
    .await;
    assert_eq!(report["files"][0]["status"], "accepted", "{report}");
    let report = post_archive(
        &app,
        &token,
        zip_of(STORAGE_NAME, storage_message(7).as_bytes()),
    )
    .await;
    assert_eq!(report["files"][0]["status"], "duplicate", "{report}");
    let report = post_archive(
        &app,
        &token,
        zip_of(STORAGE_NAME, storage_message(21).as_bytes()),
    )
    .await;
    let file = &report["files"][0];
    assert_eq!(file["status"], "rejected", "{report}");
    assert_eq!(file["code"], "intake.key_reused", "{report}");
    assert_eq!(file["location"], "file name", "{report}");
    assert_eq!(medication_count(&app).await, 1);
    assert_eq!(quarantined_codes(&app).await, ["intake.key_reused"]);
}

fn bundle(identifier: &str, family: &str, timestamp: &str) -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "batch",
        "identifier": {"system": "urn:ietf:rfc:3986", "value": identifier},
        "timestamp": timestamp,
        "entry": [{
            "request": {"method": "POST", "url": "Patient"},
            "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": format!("urn:oid:1.2.392.100495.20.3.51.1{CLINIC}"), "value": "B1"}],
                "name": [{"family": family, "given": ["花子"]}]
            }
        }]
    })
}

async fn a_reused_bundle_identifier_with_other_content_is_refused(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.emr(CLINIC).await;
    let first = app
        .post_fhir(
            &token,
            "/fhir",
            &bundle("urn:uuid:0b7e4c1e-1", "試験", "2024-04-02T08:00:00+09:00"),
        )
        .await;
    assert_eq!(first.status().as_u16(), 200);
    let first: Value = first.json().await.unwrap();
    // Re-sent with a new timestamp: the first answer again, nothing new.
    let again = app
        .post_fhir(
            &token,
            "/fhir",
            &bundle("urn:uuid:0b7e4c1e-1", "試験", "2024-04-02T08:05:00+09:00"),
        )
        .await;
    assert_eq!(again.status().as_u16(), 200);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    // Other content under the same identifier: 409, not the first answer.
    let changed = app
        .post_fhir(
            &token,
            "/fhir",
            &bundle("urn:uuid:0b7e4c1e-1", "別人", "2024-04-02T08:00:00+09:00"),
        )
        .await;
    assert_eq!(changed.status().as_u16(), 409);
    let outcome: Value = changed.json().await.unwrap();
    assert_eq!(outcome_code(&outcome), "intake.key_reused", "{outcome}");
    let (_, search) = app.get_json(&token, "/fhir/Patient?family=別人").await;
    assert_eq!(search["total"], 0, "{search}");
}
