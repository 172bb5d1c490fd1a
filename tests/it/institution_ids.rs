//! Ids are per institution (issue 10 §3): two institutions may use the same resource id
//! without blocking each other, a reference never reserves an id, a reference must name a
//! patient the writer may see, and no answer tells an institution whether another one
//! holds an id. On both databases.

use serde_json::{Value, json};

use crate::insurer::{CLINIC, register, world};
use crate::on_both_databases_async;
use crate::support::{TestApp, TestDb, outcome_code};

const OTHER: &str = "1319876543";
const MEMBER: &str = "06139463:5:7001:01";

fn patient(id: &str, facility: &str, member: Option<&str>, birth: &str) -> Value {
    let mut identifier = vec![json!({
        "system": format!("urn:oid:1.2.392.100495.20.3.51.1{facility}"), "value": format!("local-{id}")})];
    if let Some(m) = member {
        identifier.push(json!({
            "system": "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID", "value": m}));
    }
    json!({"resourceType": "Patient", "id": id, "identifier": identifier,
           "gender": "female", "birthDate": birth})
}

fn observation(subject: &str, value: &str) -> Value {
    json!({"resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": "urn:oid:1.2.392.200119.4.504", "code": "3D046000001906202"}], "text": "HbA1c"},
        "subject": {"reference": subject},
        "effectiveDateTime": "2026-10-01T09:00:00+09:00",
        "valueQuantity": {"value": value.parse::<f64>().unwrap(), "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}})
}

async fn status_and_json(resp: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .map(|h| h.to_str().unwrap().to_owned());
    (status, location, resp.json().await.unwrap_or(Value::Null))
}

async fn put(app: &TestApp, token: &str, path: &str, body: &Value) -> (u16, Option<String>, Value) {
    status_and_json(app.put_fhir(token, path, body).await).await
}

async fn post(
    app: &TestApp,
    token: &str,
    path: &str,
    body: &Value,
) -> (u16, Option<String>, Value) {
    status_and_json(app.post_fhir(token, path, body).await).await
}

on_both_databases_async!(
    two_institutions_use_the_same_id_without_seeing_each_other,
    a_reference_never_reserves_an_id_and_must_name_a_visible_patient,
    answers_do_not_tell_whether_another_institution_holds_an_id,
    a_transaction_may_name_its_patient_before_writing_it,
    the_registered_doctor_reads_both_under_distinct_ids,
);

async fn two_institutions_use_the_same_id_without_seeing_each_other(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let a = app.emr(CLINIC).await;
    let b = app.emr(OTHER).await;
    let (status, _, _) = put(
        &app,
        &a,
        "/fhir/Patient/1",
        &patient("1", CLINIC, None, "1950-01-01"),
    )
    .await;
    assert_eq!(status, 201);
    // The second institution is not blocked, and is answered in its own id.
    let (status, location, body) = put(
        &app,
        &b,
        "/fhir/Patient/1",
        &patient("1", OTHER, None, "1970-07-07"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["id"], "1");
    assert!(location.unwrap().ends_with("/fhir/Patient/1/_history/1"));
    // Each reads its own Patient/1.
    let (status, mine) = app.get_json(&a, "/fhir/Patient/1").await;
    assert_eq!(
        (status, mine["birthDate"].as_str()),
        (200, Some("1950-01-01"))
    );
    let (status, mine) = app.get_json(&b, "/fhir/Patient/1").await;
    assert_eq!(
        (status, mine["birthDate"].as_str()),
        (200, Some("1970-07-07"))
    );
    assert_eq!(mine["id"], "1");
    // Updates go to each one's own resource.
    let (status, _, body) = put(
        &app,
        &b,
        "/fhir/Patient/1",
        &patient("1", OTHER, None, "1970-07-08"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["meta"]["versionId"], "2");
    let (_, theirs) = app.get_json(&a, "/fhir/Patient/1").await;
    assert_eq!(theirs["meta"]["versionId"], "1");

    // References in B's writes and searches mean B's patient.
    let (status, _, obs) = post(
        &app,
        &b,
        "/fhir/Observation",
        &observation("Patient/1", "7.1"),
    )
    .await;
    assert_eq!(status, 201, "{obs}");
    assert_eq!(obs["subject"]["reference"], "Patient/1");
    let (status, _, _) = post(
        &app,
        &a,
        "/fhir/Observation",
        &observation("Patient/1", "5.5"),
    )
    .await;
    assert_eq!(status, 201);
    for (token, value) in [(&b, 7.1), (&a, 5.5)] {
        for query in ["patient=1", "subject=Patient/1", "patient=Patient/1"] {
            let (status, found) = app
                .get_json(token, &format!("/fhir/Observation?{query}"))
                .await;
            assert_eq!(status, 200, "{found}");
            assert_eq!(found["total"], 1, "{query}: {found}");
            let resource = &found["entry"][0]["resource"];
            assert_eq!(resource["valueQuantity"]["value"], value);
            assert_eq!(resource["subject"]["reference"], "Patient/1");
        }
        let (_, by_id) = app.get_json(token, "/fhir/Patient?_id=1").await;
        assert_eq!(by_id["total"], 1, "{by_id}");
        assert!(
            by_id["entry"][0]["fullUrl"]
                .as_str()
                .unwrap()
                .ends_with("/Patient/1")
        );
    }
}

async fn a_reference_never_reserves_an_id_and_must_name_a_visible_patient(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let a = app.emr(CLINIC).await;
    let b = app.emr(OTHER).await;
    // A patient that does not exist and one of another institution get the same answer.
    let (status, _, nowhere) = post(
        &app,
        &a,
        "/fhir/Observation",
        &observation("Patient/nobody-yet", "6.0"),
    )
    .await;
    assert_eq!(status, 422, "{nowhere}");
    assert_eq!(outcome_code(&nowhere), "fhir.reference");
    assert_eq!(nowhere["issue"][0]["expression"][0], "Observation.subject");
    let (status, _, _) = put(
        &app,
        &b,
        "/fhir/Patient/b-7",
        &patient("b-7", OTHER, None, "1980-01-01"),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _, elsewhere) = post(
        &app,
        &a,
        "/fhir/Observation",
        &observation("Patient/b-7", "6.0"),
    )
    .await;
    assert_eq!(status, 422, "{elsewhere}");
    assert_eq!(
        elsewhere["issue"], nowhere["issue"],
        "the same answer, location and text"
    );
    // Nothing was reserved: the id is free for the institution that sends that Patient.
    let (status, _, body) = put(
        &app,
        &b,
        "/fhir/Patient/nobody-yet",
        &patient("nobody-yet", OTHER, None, "1990-01-01"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, _, _) = post(
        &app,
        &b,
        "/fhir/Observation",
        &observation("Patient/nobody-yet", "6.2"),
    )
    .await;
    assert_eq!(status, 201);
    // Coverage.beneficiary follows the same rule.
    let coverage = json!({"resourceType": "Coverage", "status": "active",
        "beneficiary": {"reference": "Patient/b-7"},
        "payor": [{"display": "保険者"}]});
    let (status, _, body) = post(&app, &a, "/fhir/Coverage", &coverage).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(outcome_code(&body), "fhir.reference");
}

async fn answers_do_not_tell_whether_another_institution_holds_an_id(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let a = app.emr(CLINIC).await;
    let b = app.emr(OTHER).await;
    let (status, _, _) = put(
        &app,
        &a,
        "/fhir/Patient/taken",
        &patient("taken", CLINIC, None, "1950-01-01"),
    )
    .await;
    assert_eq!(status, 201);

    // PUT with If-Match: 412 for an id held elsewhere exactly as for a free one.
    let mut answers = Vec::new();
    for id in ["taken", "free-id"] {
        let resp = app
            .http
            .put(app.url(&format!("/fhir/Patient/{id}")))
            .bearer_auth(&b)
            .header("Content-Type", "application/fhir+json")
            .header("If-Match", "W/\"1\"")
            .body(patient(id, OTHER, None, "1970-01-01").to_string())
            .send()
            .await
            .unwrap();
        let (status, _, body) = status_and_json(resp).await;
        answers.push((status, body["issue"].clone()));
    }
    assert_eq!(answers[0].0, 412);
    assert_eq!(answers[0], answers[1]);

    // PUT: 201 for both, with the id as sent and version 1.
    let mut created = Vec::new();
    for id in ["taken", "free-id"] {
        let (status, location, body) = put(
            &app,
            &b,
            &format!("/fhir/Patient/{id}"),
            &patient(id, OTHER, None, "1970-01-01"),
        )
        .await;
        created.push((
            status,
            location
                .unwrap()
                .ends_with(&format!("/Patient/{id}/_history/1")),
            body["id"] == id,
            body["meta"]["versionId"].clone(),
        ));
    }
    assert_eq!(created[0], (201, true, true, json!("1")));
    assert_eq!(created[0], created[1]);

    // Reads of an id held elsewhere are 404 like any unknown id, for an institution
    // without its own; with its own, its own.
    let (status, _) = app.get_json(&b, "/fhir/Patient/taken-nowhere").await;
    assert_eq!(status, 404);
    let (_, own) = app.get_json(&b, "/fhir/Patient/taken").await;
    assert_eq!(own["birthDate"], "1970-01-01");
    let c = app.emr("1310000001").await;
    let (status, _) = app.get_json(&c, "/fhir/Patient/taken").await;
    assert_eq!(status, 404);
}

async fn a_transaction_may_name_its_patient_before_writing_it(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let a = app.emr(CLINIC).await;
    let b = app.emr(OTHER).await;
    let (status, _, _) = put(
        &app,
        &a,
        "/fhir/Patient/p9",
        &patient("p9", CLINIC, None, "1950-01-01"),
    )
    .await;
    assert_eq!(status, 201);
    // B's transaction names Patient/p9 (its own, held by A as a served id) before the
    // entry that writes it.
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:8f0c1b7e-1111-4c3b-9f00-000000000001",
         "resource": observation("Patient/p9", "8.0"),
         "request": {"method": "POST", "url": "Observation"}},
        {"resource": patient("p9", OTHER, None, "1966-06-06"),
         "request": {"method": "PUT", "url": "Patient/p9"}}]});
    let (status, _, reply) = post(&app, &b, "/fhir", &bundle).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["entry"][0]["response"]["status"], "201 Created");
    assert!(
        reply["entry"][1]["response"]["location"]
            .as_str()
            .unwrap()
            .starts_with("Patient/p9/_history/"),
        "{reply}"
    );
    let (_, found) = app.get_json(&b, "/fhir/Observation?patient=p9").await;
    assert_eq!(found["total"], 1, "{found}");
    let (_, found) = app.get_json(&a, "/fhir/Observation?patient=p9").await;
    assert_eq!(found["total"], 0, "{found}");
}

async fn the_registered_doctor_reads_both_under_distinct_ids(db: TestDb) {
    let w = world(db).await;
    let b = w.app.emr(OTHER).await;
    for (token, facility, value) in [(&w.emr, CLINIC, "5.9"), (&b, OTHER, "6.9")] {
        let (status, _, body) = put(
            &w.app,
            token,
            "/fhir/Patient/1",
            &patient("1", facility, Some(MEMBER), "1955-05-05"),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let (status, _, _) = post(
            &w.app,
            token,
            "/fhir/Observation",
            &observation("Patient/1", value),
        )
        .await;
        assert_eq!(status, 201);
    }
    register(&w, MEMBER, false).await;
    let (status, found) = w.app.get_json(&w.doctor, "/fhir/Observation").await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["total"], 2, "{found}");
    let subjects: Vec<String> = found["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["resource"]["subject"]["reference"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_ne!(
        subjects[0], subjects[1],
        "two patients, two ids: {subjects:?}"
    );
    // Each reference leads the doctor to the right institution's Patient.
    for entry in found["entry"].as_array().unwrap() {
        let subject = entry["resource"]["subject"]["reference"].as_str().unwrap();
        let (status, patient) = w.app.get_json(&w.doctor, &format!("/fhir/{subject}")).await;
        assert_eq!(status, 200, "{subject}");
        let expected = if entry["resource"]["valueQuantity"]["value"] == 5.9 {
            CLINIC
        } else {
            OTHER
        };
        assert!(patient.to_string().contains(expected), "{patient}");
    }
}
