//! The medication-list scenarios (`tests/data/medication-list/`) end to end through the
//! gateway, on both databases: every input is posted as its sender would (FHIR, HL7 v2,
//! SS-MIX2 archive, UKE), the person is registered with a doctor, and the doctor's
//! `$medication-list` must be what the scenario expects. Also: who may call it, the audit
//! row, the R4 schema, and the doctor's page.

use std::path::Path;

use serde_json::{Value, json};

use crate::medication_list::{Manifest, check, masters_dir, scenario_dirs};
use crate::on_both_databases_async;
use crate::schemas::assert_valid_fhir;
use crate::support::{ADMIN_TOKEN, TestApp, TestDb, zip_tree};

/// The institution and doctor the scenarios' persons register with.
const HOME_CLINIC: &str = "1319999990";
const DOCTOR: &str = "dr-home";

const EXT: &str = "urn:kakari:extension:medication-list:";

async fn admin_put(app: &TestApp, path: &str, body: Value) {
    let resp = app
        .http
        .put(app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
}

/// A client named after the input it posts (the list names senders, so sources can be
/// traced back to their input file).
async fn client_for(
    app: &TestApp,
    name: &str,
    spec: &crate::medication_list::ClientSpec,
) -> String {
    let body = json!({"name": name, "role": spec.role, "facility": spec.facility, "insurer": spec.insurer});
    let resp = app
        .http
        .post(app.url("/admin/clients"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    created["token"].as_str().unwrap().to_owned()
}

fn zip_dir(dir: &Path) -> Vec<u8> {
    zip_tree(dir, "")
}

async fn post_input(
    app: &TestApp,
    token: &str,
    dir: &Path,
    spec: &crate::medication_list::InputSpec,
) {
    let path = dir.join(&spec.file);
    let (content_type, body) = match spec.format.as_str() {
        "fhir" => ("application/fhir+json", std::fs::read(&path).unwrap()),
        "hl7v2" => ("x-application/hl7-v2+er7", std::fs::read(&path).unwrap()),
        "ssmix2" => ("application/zip", zip_dir(&path)),
        "uke" => ("application/octet-stream", std::fs::read(&path).unwrap()),
        other => panic!("unknown format {other}"),
    };
    let resp = app
        .http
        .post(app.url(&spec.post))
        .bearer_auth(token)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert!(
        (200..300).contains(&status) && !text.contains("|AE|") && !text.contains("|AR|"),
        "{}: {status} {text}",
        spec.file
    );
    if spec.format == "ssmix2" {
        let report: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(report["summary"]["rejected"], 0, "{}: {report}", spec.file);
    }
}

fn ext<'a>(resource: &'a Value, name: &str) -> Option<&'a Value> {
    resource["extension"]
        .as_array()?
        .iter()
        .find(|e| e["url"] == format!("{EXT}{name}"))
}

/// The `$medication-list` Bundle in the expectations' terms.
fn describe(bundle: &Value) -> Value {
    let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
    let statements: Vec<&Value> = entries
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "MedicationStatement")
        .collect();
    let urls: Vec<&str> = statements
        .iter()
        .map(|e| e["fullUrl"].as_str().unwrap())
        .collect();
    let described: Vec<Value> = statements
        .iter()
        .map(|e| {
            let s = &e["resource"];
            let key = ext(s, "drug-key").unwrap()["valueString"].as_str().unwrap();
            let drug = if let Some(k) = key.strip_prefix("yj7:") {
                json!({"yj7": k})
            } else if let Some(c) = key.strip_prefix("code:") {
                let (system, code) = c.split_once('|').unwrap();
                json!({"system": system, "code": code})
            } else {
                json!({"name": key.trim_start_matches("name:")})
            };
            let sources: Vec<Value> = s["extension"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|x| x["url"] == format!("{EXT}source"))
                .map(|x| {
                    let part = |n: &str| {
                        x["extension"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|p| p["url"] == n)
                            .cloned()
                            .unwrap_or(Value::Null)
                    };
                    json!({"kind": part("kind")["valueCode"], "input": part("sender")["valueString"]})
                })
                .collect();
            json!({
                "drug": drug,
                "unmapped": ext(s, "unmapped").unwrap()["valueBoolean"],
                "institution": s["informationSource"]["identifier"]["value"],
                "route": ext(s, "route").map_or(Value::Null, |r| r["valueCode"].clone()),
                "start": s["effectivePeriod"]["start"],
                "end": s["effectivePeriod"]["end"],
                "activeOnAsOf": s["status"] == "active",
                "onlyClaims": ext(s, "claims-only").unwrap()["valueBoolean"],
                "countsForPolypharmacy": ext(s, "counts-for-polypharmacy").unwrap()["valueBoolean"],
                "sources": sources,
            })
        })
        .collect();
    let findings: Vec<Value> = entries
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "DetectedIssue")
        .map(|d| {
            let int = |n: &str| ext(d, n).unwrap()["valueInteger"].clone();
            let subject = ext(d, "ingredient-route")
                .or_else(|| ext(d, "therapeutic-class"))
                .map_or(Value::Null, |s| s["valueString"].clone());
            let held = &ext(d, "held").unwrap()["valuePeriod"];
            let implicated: Vec<usize> = d["implicated"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| urls.iter().position(|u| *u == r["reference"]).unwrap())
                .collect();
            json!({
                "rule": ext(d, "rule").unwrap()["valueCode"],
                "code": d["code"]["coding"][0]["code"],
                "severity": d["severity"],
                "threshold": int("threshold"),
                "subject": subject,
                "observed": int("observed"),
                "start": held["start"],
                "end": held["end"],
                "days": int("days"),
                "entries": implicated,
            })
        })
        .collect();
    let undated = bundle["meta"]["tag"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["system"] == "urn:kakari:medication-list:undated")
        .and_then(|t| t["code"].as_str())
        .and_then(|c| c.parse::<u64>().ok())
        .unwrap();
    json!({"entries": described, "findings": findings, "undated": undated})
}

/// Posts a scenario's inputs, registers the person with the home doctor; returns the
/// doctor's token and the manifest.
async fn load_scenario(app: &TestApp, dir: &Path) -> (String, Manifest) {
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(dir.join("scenario.json")).unwrap()).unwrap();
    admin_put(
        app,
        &format!("/admin/organizations/{HOME_CLINIC}"),
        json!({"name": "ホームクリニック", "prefecture": "東京都", "city": "文京区", "certified": true,
               "functions": ["broad-consultation", "information-hub", "care-coordination", "after-hours"]}),
    )
    .await;
    admin_put(
        app,
        &format!("/admin/practitioners/{DOCTOR}"),
        json!({"name": "家庭 医師", "organization": HOME_CLINIC, "qualifications": []}),
    )
    .await;
    for spec in &manifest.inputs {
        let token = client_for(app, &spec.file, &spec.client).await;
        post_input(app, &token, dir, spec).await;
    }
    let doctor = app
        .client("doctor", Some(HOME_CLINIC), None, Some(DOCTOR))
        .await;
    let resp = app
        .http
        .post(app.url("/registrations"))
        .bearer_auth(&doctor)
        .json(
            &json!({"member": manifest.member, "practitioner": DOCTOR, "organization": HOME_CLINIC,
                      "start": "2024-01-01", "consent": {"insurer_programs": false}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    (doctor, manifest)
}

async fn spawn(db: TestDb) -> TestApp {
    let masters = masters_dir();
    TestApp::spawn_with(db, move |c| c.masters_dir = Some(masters)).await
}

on_both_databases_async!(
    every_scenario_gives_the_expected_list_through_the_gateway,
    only_the_registered_doctor_and_institution_get_the_list,
);

async fn every_scenario_gives_the_expected_list_through_the_gateway(db: TestDb) {
    let dirs = scenario_dirs();
    assert!(dirs.len() >= 7);
    let mut failures = Vec::new();
    // One gateway per scenario, each on a database of its own of the same kind.
    let postgres = matches!(db, TestDb::Postgres { .. });
    let mut first = Some(db);
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let expected: Value =
            serde_json::from_slice(&std::fs::read(dir.join("expectations.json")).unwrap()).unwrap();
        let db = first.take().unwrap_or_else(|| {
            if postgres {
                TestDb::postgres().expect("PostgreSQL")
            } else {
                TestDb::sqlite()
            }
        });
        let manifest: Manifest =
            serde_json::from_slice(&std::fs::read(dir.join("scenario.json")).unwrap()).unwrap();
        let settings = manifest.settings.unwrap_or_default();
        let masters = masters_dir();
        let app = TestApp::spawn_with(db, move |c| {
            c.masters_dir = Some(masters);
            c.medication_list = settings;
        })
        .await;
        let (doctor, manifest) = load_scenario(&app, dir).await;
        let (status, bundle) = app
            .get_json(
                &doctor,
                &format!(
                    "/fhir/Patient/$medication-list?member={}&asOf={}",
                    manifest.member, manifest.as_of
                ),
            )
            .await;
        assert_eq!(status, 200, "{name}: {bundle}");
        for e in bundle["entry"].as_array().unwrap() {
            assert_valid_fhir(&e["resource"]);
        }
        assert_valid_fhir(&bundle);
        let actual = describe(&bundle);
        if let Err(why) = check(&actual, &expected) {
            failures.push(format!("{name}: {why}\nactual: {actual:#}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

async fn only_the_registered_doctor_and_institution_get_the_list(db: TestDb) {
    let app = spawn(db).await;
    let dir = crate::medication_list::scenarios_dir().join("02-second-clinic-duplicate");
    let (doctor, manifest) = load_scenario(&app, &dir).await;
    let path = format!(
        "/fhir/Patient/$medication-list?member={}&asOf={}",
        manifest.member, manifest.as_of
    );
    let (status, _) = app.get_json(&doctor, &path).await;
    assert_eq!(status, 200);
    // The EMR of the registered institution too.
    let home_emr = app.emr(HOME_CLINIC).await;
    assert_eq!(app.get_json(&home_emr, &path).await.0, 200);
    // A clinic that sent records, another doctor, the insurer, an admin: the same 403
    // as for a person who does not exist.
    let sender = app.emr("1312345678").await;
    let other_doctor = app
        .client("doctor", Some("1312345678"), None, Some("dr-x"))
        .await;
    let insurer = app.client("insurer", None, Some("06139463"), None).await;
    let nobody = format!(
        "/fhir/Patient/$medication-list?member=06139463:99:9999:01&asOf={}",
        manifest.as_of
    );
    for token in [&sender, &other_doctor, &insurer, &ADMIN_TOKEN.to_owned()] {
        let (status, body) = app.get_json(token, &path).await;
        assert_eq!(status, 403, "{body}");
        assert!(!body.to_string().contains(&manifest.member), "{body}");
    }
    let (status_nobody, body_nobody) = app.get_json(&doctor, &nobody).await;
    let (status_other, body_other) = app.get_json(&other_doctor, &path).await;
    assert_eq!((status_nobody, status_other), (403, 403));
    assert_eq!(
        body_nobody["issue"], body_other["issue"],
        "no existence oracle"
    );
    // Unknown parameters and bad dates are 400.
    let (status, _) = app.get_json(&doctor, &format!("{path}&colour=red")).await;
    assert_eq!(status, 400);
    let (status, _) = app
        .get_json(
            &doctor,
            &format!(
                "/fhir/Patient/$medication-list?member={}&asOf=2024-13-01",
                manifest.member
            ),
        )
        .await;
    assert_eq!(status, 400);
    // By Patient id: the doctor names the person's own Patient.
    let (_, bundle) = app.get_json(&doctor, &path).await;
    let patient = bundle["entry"][0]["resource"]["subject"]["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, by_id) = app
        .get_json(
            &doctor,
            &format!("/fhir/{patient}/$medication-list?asOf={}", manifest.as_of),
        )
        .await;
    assert_eq!(status, 200, "{by_id}");
    assert_eq!(
        by_id["entry"].as_array().unwrap().len(),
        bundle["entry"].as_array().unwrap().len()
    );
    // Every call is audited for the person.
    let (_, audit) = app
        .get_json(ADMIN_TOKEN, "/admin/audit?action=medication-list&limit=100")
        .await;
    assert!(audit["entries"].as_array().unwrap().len() >= 3, "{audit}");
    // The CapabilityStatement names the operation.
    let (_, cs) = app.get_json(&doctor, "/fhir/metadata").await;
    let text = cs.to_string();
    assert!(text.contains("\"medication-list\""), "{text}");
    assert_eq!(cs["contained"][0]["resourceType"], "OperationDefinition");
}

/// The doctor's page in headless Chromium at a tablet's size: findings first, each drug
/// with its period and sources, the marks on unmapped drugs and claims-only entries.
#[actix_web::test]
async fn the_doctors_page_shows_findings_first_in_a_browser() {
    let Some((driver, browser)) = crate::directory_page::browser_tools() else {
        return;
    };
    let app = spawn(TestDb::sqlite()).await;
    let dir = crate::medication_list::scenarios_dir().join("02-second-clinic-duplicate");
    let (doctor, manifest) = load_scenario(&app, &dir).await;
    let d = crate::directory_page::Driver::start_sized(&driver, &browser, (820, 1180)).await;
    d.extra_headers(json!({"Authorization": format!("Bearer {doctor}")}))
        .await;
    d.goto(&app.url(&format!(
        "/doctor/medication-list?member={}&asOf={}",
        manifest.member, manifest.as_of
    )))
    .await;
    assert_eq!(d.script("return document.documentElement.lang").await, "ja");
    assert!(d.text("h1").await.contains("服薬一覧"));
    // The findings come before the drugs, and the duplicate is named.
    let order = d
        .script("return document.querySelector('section.findings').compareDocumentPosition(document.querySelector('ol.entries'))")
        .await;
    assert_eq!(order, json!(4), "findings precede the entries");
    let finding = d.text(".finding").await;
    assert!(finding.contains("重複投薬"), "{finding}");
    let entries = d.find_all(".entry").await;
    assert_eq!(entries.len(), 2);
    let first = d.text(".entry").await;
    assert!(first.contains("処方") && first.contains("期間"), "{first}");
    let fits = d
        .script("return document.documentElement.scrollWidth <= window.innerWidth")
        .await;
    assert_eq!(fits, true, "the page scrolls sideways on a tablet");
    let _ = d.call("DELETE", "", Value::Null).await;

    // Scenario 06: unmapped drugs are marked; 07: entries known only from claims.
    for (scenario, mark) in [
        ("06-unmapped-drug-kept", "マスタ未対応"),
        ("07-ssmix2-and-uke-same-person", "レセプトのみ"),
    ] {
        let app = spawn(TestDb::sqlite()).await;
        let (doctor, manifest) = load_scenario(
            &app,
            &crate::medication_list::scenarios_dir().join(scenario),
        )
        .await;
        let resp = app
            .get(
                &doctor,
                &format!(
                    "/doctor/medication-list?member={}&asOf={}",
                    manifest.member, manifest.as_of
                ),
            )
            .await;
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
        let html = resp.text().await.unwrap();
        assert!(html.contains(mark), "{scenario}: {html}");
    }
}
