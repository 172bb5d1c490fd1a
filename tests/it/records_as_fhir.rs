//! Every canonical record is a FHIR resource to whoever may see it (issue 8, item 1):
//! records that arrive as HL7 v2, SS-MIX2, UKE or 特定健診 come back through `/fhir` to the
//! institution that sent them and to the person's registered doctor, and to nobody else;
//! with stable ids, `meta.source` and a Provenance; read-only. On both databases.

use std::io::Write;

use serde_json::{Value, json};

use crate::insurer::{CLINIC, INSURER, world};
use crate::on_both_databases_async;
use crate::schemas::assert_valid_fhir;
use crate::support::{TestApp, TestDb};

const CLINIC_B: &str = "1312345678";
const LOCAL_SYSTEM: &str = "urn:oid:1.2.392.100495.20.3.51.11311234567";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// An RDE^O11 for the ADT fixture's patient (P000123), in UTF-8.
fn prescription(control: &str) -> String {
    format!(
        "MSH|^~\\&|EMR|CLINIC|KAKARI|GW|20260402080000||RDE^O11^RDE_O11|{control}|P|2.5||||||UNICODE UTF-8\r\
         PID|0001||P000123^^^^PI||宮奥^京愛^^^^^L^I||19700405|F\r\
         ORC|NW|00000077||1|||||202604020755\r\
         RXE||103835401^ソラナックス０．４ｍｇ錠^HOT9|1||TAB^錠^MR9P|||||14|TAB^錠^MR9P||||||||2^TAB&錠&MR9P\r\
         TQ1|1||1012040400000000&内服・経口・１日２回朝夕食後&JAMISDP01|||7^d|20260402\r\
         RXR|PO^口^HL70162\r"
    )
}

async fn post_hl7(app: &TestApp, token: &str, body: Vec<u8>) -> String {
    let resp = app
        .http
        .post(app.url("/hl7v2"))
        .bearer_auth(token)
        .header("Content-Type", "x-application/hl7-v2+er7")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().await.unwrap();
    let text = if bytes.contains(&0x1b) {
        encoding_rs::ISO_2022_JP.decode(&bytes).0.into_owned()
    } else {
        String::from_utf8_lossy(&bytes).into_owned()
    };
    assert!(text.contains("MSA|AA"), "{text}");
    text
}

async fn search(app: &TestApp, token: &str, path: &str) -> Value {
    let (status, body) = app.get_json(token, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

fn resources(bundle: &Value) -> Vec<Value> {
    bundle["entry"]
        .as_array()
        .map(|e| e.iter().map(|x| x["resource"].clone()).collect())
        .unwrap_or_default()
}

on_both_databases_async!(
    hl7_records_come_back_to_the_sender_and_the_registered_doctor_only,
    an_invalidation_file_withdraws_its_resources,
    claims_and_checkups_are_served_under_the_persons_own_patient,
);

async fn hl7_records_come_back_to_the_sender_and_the_registered_doctor_only(db: TestDb) {
    let w = world(db).await;
    let app = &w.app;
    post_hl7(app, &w.emr, fixture("hl7v2/adt00_iso2022jp.hl7")).await;
    post_hl7(app, &w.emr, prescription("RX-77").into_bytes()).await;

    // The clinic finds its patient by PID-3, with the name split and the kana kept.
    let found = search(
        app,
        &w.emr,
        &format!("/fhir/Patient?identifier={LOCAL_SYSTEM}|P000123"),
    )
    .await;
    assert_eq!(found["total"], 1, "{found}");
    let patient = &resources(&found)[0];
    let pid = patient["id"].as_str().unwrap().to_owned();
    let names = patient["name"].as_array().unwrap();
    let kanji = names
        .iter()
        .find(|n| n["extension"][0]["valueCode"] == "IDE")
        .expect("kanji name");
    assert_eq!(
        (kanji["family"].as_str(), kanji["given"][0].as_str()),
        (Some("宮奥"), Some("京愛"))
    );
    let kana = names
        .iter()
        .find(|n| n["extension"][0]["valueCode"] == "SYL")
        .expect("kana name kept as the phonetic one");
    assert_eq!(kana["family"], "ミヤオク");
    assert_eq!(patient["birthDate"], "1970-04-05");
    assert!(
        patient["identifier"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["system"] == "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID"),
        "the member id IN1 linked: {patient}"
    );
    assert!(
        patient["meta"]["source"]
            .as_str()
            .unwrap()
            .starts_with("urn:kakari:hl7v2:")
    );

    // Its prescription, lab values (OBX in the ADT), allergy and coverage.
    let orders = search(
        app,
        &w.emr,
        &format!("/fhir/MedicationRequest?patient=Patient/{pid}"),
    )
    .await;
    assert_eq!(orders["total"], 1, "{orders}");
    let order = &resources(&orders)[0];
    assert_eq!(
        order["medicationCodeableConcept"]["coding"][0]["code"],
        "103835401"
    );
    for (path, n) in [
        (format!("/fhir/Observation?patient=Patient/{pid}"), 2),
        (format!("/fhir/AllergyIntolerance?patient=Patient/{pid}"), 1),
        (format!("/fhir/Coverage?patient=Patient/{pid}"), 1),
    ] {
        let found = search(app, &w.emr, &path).await;
        assert_eq!(found["total"], n, "{path}: {found}");
        for r in resources(&found) {
            assert_valid_fhir(&r);
        }
    }
    assert_valid_fhir(patient);
    assert_valid_fhir(order);

    // A Provenance per message names the clinic and the message.
    let order_id = order["id"].as_str().unwrap();
    let prov = search(
        app,
        &w.emr,
        &format!("/fhir/Provenance?target=MedicationRequest/{order_id}"),
    )
    .await;
    assert_eq!(prov["total"], 1, "{prov}");
    let provenance = &resources(&prov)[0];
    assert_eq!(provenance["agent"][0]["who"]["identifier"]["value"], CLINIC);
    assert_eq!(provenance["entity"][0]["what"]["display"], "hl7v2 RX-77");
    assert_valid_fhir(provenance);

    // Another clinic sees nothing; the doctor sees it once registered.
    let other = app.emr(CLINIC_B).await;
    let hidden = search(app, &other, "/fhir/MedicationRequest").await;
    assert_eq!(hidden["total"], 0, "{hidden}");
    let (status, _) = app
        .get_json(&other, &format!("/fhir/MedicationRequest/{order_id}"))
        .await;
    assert_eq!(status, 404);
    let doctor_before = search(app, &w.doctor, "/fhir/MedicationRequest").await;
    assert_eq!(doctor_before["total"], 0);
    let member = patient["identifier"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["system"] == "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    crate::insurer::register(&w, &member, true).await;
    let doctor_after = search(app, &w.doctor, "/fhir/MedicationRequest").await;
    assert_eq!(doctor_after["total"], 1, "{doctor_after}");

    // Read-only: corrections come as messages.
    let resp = app
        .put_fhir(
            &w.emr,
            &format!("/fhir/MedicationRequest/{order_id}"),
            order,
        )
        .await;
    let status = resp.status().as_u16();
    let outcome: Value = resp.json().await.unwrap();
    assert_eq!(status, 409, "{outcome}");
    assert_eq!(
        crate::support::outcome_code(&outcome),
        "fhir.derived_read_only"
    );

    // Stable ids: the same messages on another gateway give the same ids.
    let other_gateway = TestApp::spawn(TestDb::sqlite()).await;
    let emr = other_gateway.emr(CLINIC).await;
    post_hl7(&other_gateway, &emr, fixture("hl7v2/adt00_iso2022jp.hl7")).await;
    post_hl7(&other_gateway, &emr, prescription("RX-77").into_bytes()).await;
    let again = search(&other_gateway, &emr, "/fhir/MedicationRequest").await;
    assert_eq!(resources(&again)[0]["id"], order["id"]);
    let again = search(&other_gateway, &emr, "/fhir/Patient").await;
    assert_eq!(resources(&again)[0]["id"], patient["id"]);
}

fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in files {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
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
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn an_invalidation_file_withdraws_its_resources(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let emr = app.emr(CLINIC).await;
    let stem = "P00/012/P000123/20260402/OMP-01/P000123_20260402_OMP-01_000000000000077_20260402080000000_01";
    let message = prescription("S-77");
    let report = post_archive(
        &app,
        &emr,
        zip_of(&[(&format!("{stem}_1"), message.as_bytes())]),
    )
    .await;
    assert_eq!(report["files"][0]["status"], "accepted", "{report}");
    let found = search(&app, &emr, "/fhir/MedicationRequest").await;
    assert_eq!(found["total"], 1, "{found}");
    assert!(
        resources(&found)[0]["meta"]["source"]
            .as_str()
            .unwrap()
            .starts_with("urn:kakari:ssmix2:")
    );
    let report = post_archive(
        &app,
        &emr,
        zip_of(&[(&format!("{stem}_0"), message.as_bytes())]),
    )
    .await;
    assert_eq!(report["files"][0]["status"], "superseded", "{report}");
    let found = search(&app, &emr, "/fhir/MedicationRequest").await;
    assert_eq!(found["total"], 0, "withdrawn with its file: {found}");
    let found = search(&app, &emr, "/fhir/Provenance").await;
    assert_eq!(found["total"], 0, "{found}");
}

async fn claims_and_checkups_are_served_under_the_persons_own_patient(db: TestDb) {
    let w = world(db).await;
    let app = &w.app;
    let resp = app
        .http
        .post(app.url("/insurer/claims"))
        .bearer_auth(&w.insurer)
        .header("Content-Type", "application/octet-stream")
        .body(fixture("uke/medical_seireki.uke"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    // Receipt 2 of the file: 06139463:12:345, born 1965-08-10; no 枝番 on the claim.
    let member = format!("{INSURER}:12:345");
    let person = app.client("emr", Some(CLINIC_B), None, None).await;
    // Nobody but the registered doctor reads claims through FHIR (the insurer's data
    // belongs to no institution).
    let hidden = search(app, &person, "/fhir/MedicationStatement").await;
    assert_eq!(hidden["total"], 0);
    assert_eq!(
        search(app, &w.emr, "/fhir/MedicationStatement").await["total"],
        0
    );
    let body = json!({"member": member, "practitioner": "dr-1", "organization": CLINIC,
                      "start": "2026-04-01", "consent": {"insurer_programs": true}});
    let resp = app
        .http
        .post(app.url("/registrations"))
        .bearer_auth(&w.doctor)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let reg: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "{reg}");
    let statements = search(app, &w.doctor, "/fhir/MedicationStatement").await;
    assert_eq!(statements["total"], 2, "{statements}");
    for s in resources(&statements) {
        assert_valid_fhir(&s);
        assert!(
            s["meta"]["source"]
                .as_str()
                .unwrap()
                .starts_with("urn:kakari:uke:")
        );
        let subject = s["subject"]["reference"].as_str().unwrap();
        let (status, person_patient) = app.get_json(&w.doctor, &format!("/fhir/{subject}")).await;
        assert_eq!(status, 200, "{person_patient}");
        assert_valid_fhir(&person_patient);
    }
    let prov = search(app, &w.doctor, "/fhir/Provenance").await;
    assert_eq!(
        resources(&prov)[0]["agent"][0]["who"]["identifier"]["value"],
        INSURER
    );
}
