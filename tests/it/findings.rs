//! Program findings for insurers (issue 13 item 1), on both databases: a member's records
//! from two clinics make every finding (duplicate therapy from the medication list,
//! untreated high risk, interrupted treatment, frequent tests), each explaining its rule,
//! threshold and records; only registered, consenting members of the insurer are
//! evaluated; pages follow a cursor; JSON and FHIR agree; a finding is told once.

use serde_json::{Value, json};

use crate::inquiries::{CLINIC_B, clinic_b};
use crate::insurer::{CLINIC, INSURER, register, world};
use crate::on_both_databases_async;
use crate::schemas::assert_valid_fhir;
use crate::support::{ADMIN_TOKEN, TestApp, TestDb};

const MEMBER_SYSTEM: &str = "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID";

fn patient(facility: &str, id: &str, member: &str) -> Value {
    json!({"resource": {"resourceType": "Patient", "id": id,
        "identifier": [{"system": format!("urn:oid:1.2.392.100495.20.3.51.1{facility}"), "value": id},
                       {"system": MEMBER_SYSTEM, "value": member}],
        "gender": "male", "birthDate": "1958-04-02"},
        "request": {"method": "PUT", "url": format!("Patient/{id}")}})
}

fn hba1c(patient: &str, value: &str, day: &str) -> Value {
    let obs: Value = serde_json::from_str(&format!(r#"{{"resourceType": "Observation", "status": "final",
        "category": [{{"coding": [{{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}}]}}],
        "code": {{"coding": [{{"system": "urn:oid:1.2.392.200119.4.504", "code": "3D046000001906202"}}], "text": "HbA1c"}},
        "subject": {{"reference": "Patient/{patient}"}},
        "effectiveDateTime": "{day}T09:00:00+09:00",
        "valueQuantity": {{"value": {value}, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}}}}"#)).unwrap();
    json!({"resource": obs, "request": {"method": "POST", "url": "Observation"}})
}

fn prescription(patient: &str, rp: u32, hot9: &str, name: &str, start: &str, days: u32) -> Value {
    json!({"resource": {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
        "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.81", "value": rp.to_string()},
                       {"system": "urn:oid:1.2.392.100495.20.3.82", "value": "1"}],
        "medicationCodeableConcept": {"coding": [{"system": "urn:oid:1.2.392.200119.4.403.1", "code": hot9, "display": name}], "text": name},
        "subject": {"reference": format!("Patient/{patient}")},
        "authoredOn": format!("{start}T09:00:00+09:00"),
        "dosageInstruction": [{"extension": [{"url": "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_MedicationDosage_PeriodOfUse",
                                              "valuePeriod": {"start": start}}],
                               "text": "内服・経口・１日１回朝食後",
                               "route": {"coding": [{"system": "http://jpfhir.jp/fhir/core/CodeSystem/route-codes", "code": "PO", "display": "口"}]},
                               "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "錠", "system": "urn:oid:1.2.392.100495.20.2.101", "code": "TAB"}}]}],
        "dispenseRequest": {"expectedSupplyDuration": {"value": days, "unit": "日", "system": "http://unitsofmeasure.org", "code": "d"}}},
        "request": {"method": "POST", "url": "MedicationRequest"}})
}

async fn post(app: &TestApp, token: &str, entries: Vec<Value>) {
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
    let resp = app.post_fhir(token, "/fhir", &bundle).await;
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
}

async fn page(app: &TestApp, token: &str, query: &str) -> (u16, Value, String) {
    let resp = app
        .get(token, &format!("/insurer/findings?asOf=2026-12-01&{query}"))
        .await;
    let status = resp.status().as_u16();
    let cursor = resp
        .headers()
        .get("kakari-next-cursor")
        .map(|h| h.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, resp.json().await.unwrap_or(Value::Null), cursor)
}

on_both_databases_async!(
    an_insurer_sees_its_consenting_members_findings_explained,
    the_finding_watch_tells_new_findings_without_a_pull,
);

async fn an_insurer_sees_its_consenting_members_findings_explained(db: TestDb) {
    let w = world(db).await;
    let (_, emr_b) = clinic_b(&w.app).await;
    let member = format!("{INSURER}:8:1001:01");
    let quiet = format!("{INSURER}:8:1002:01");
    let unconsenting = format!("{INSURER}:8:1003:01");
    register(&w, &member, true).await;
    register(&w, &quiet, true).await;
    register(&w, &unconsenting, false).await;
    // Clinic A: a high HbA1c in May never treated; a statin for 90 days from March, not
    // renewed; amlodipine from November; two ordinary HbA1c tests in October.
    post(
        &w.app,
        &w.emr,
        vec![
            patient(CLINIC, "fa-1", &member),
            hba1c("fa-1", "7.4", "2026-05-01"),
            prescription("fa-1", 1, "103465301", "メバロチン錠１０", "2026-03-01", 90),
            prescription(
                "fa-1",
                2,
                "103299401",
                "ノルバスク錠５ｍｇ",
                "2026-11-01",
                60,
            ),
            hba1c("fa-1", "5.5", "2026-10-01"),
            hba1c("fa-1", "5.6", "2026-10-08"),
        ],
    )
    .await;
    // Clinic B: the same ingredient at the same time, and two more HbA1c tests.
    post(
        &w.app,
        &emr_b,
        vec![
            patient(CLINIC_B, "fb-1", &member),
            prescription(
                "fb-1",
                1,
                "103300702",
                "アムロジン錠５ｍｇ",
                "2026-11-10",
                60,
            ),
            hba1c("fb-1", "5.5", "2026-10-15"),
            hba1c("fb-1", "5.4", "2026-10-22"),
        ],
    )
    .await;
    // The member without consent has a high value too; it must not show.
    post(
        &w.app,
        &w.emr,
        vec![
            patient(CLINIC, "fa-3", &unconsenting),
            hba1c("fa-3", "9.9", "2026-05-01"),
        ],
    )
    .await;

    let (status, first, cursor) = page(&w.app, &w.insurer, "").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        first["members"], 2,
        "registered and consenting members only: {first}"
    );
    assert!(!cursor.is_empty());
    let findings = first["findings"].as_array().unwrap();
    assert!(findings.iter().all(|f| f["member"] == member), "{first}");
    let rule = |name: &str| {
        findings
            .iter()
            .find(|f| f["rule"] == name)
            .unwrap_or_else(|| panic!("no {name}: {first}"))
            .clone()
    };
    let dup = rule("duplicate-therapy");
    assert_eq!(dup["records"].as_array().unwrap().len(), 2);
    assert!(
        dup["explanation"].as_str().unwrap().contains("2171022"),
        "{dup}"
    );
    let untreated = rule("untreated-high-risk");
    assert!(
        untreated["explanation"].as_str().unwrap().contains("6.5"),
        "{untreated}"
    );
    assert!(
        untreated["explanation"].as_str().unwrap().contains("90日"),
        "{untreated}"
    );
    assert_eq!(untreated["records"][0]["date"], "2026-05-01");
    assert_eq!(untreated["records"][0]["value"], "7.4 %");
    assert!(
        untreated["records"][0]["references"][0]
            .as_str()
            .unwrap()
            .starts_with("Observation/")
    );
    let interrupted = rule("interrupted-treatment");
    assert!(
        interrupted["explanation"]
            .as_str()
            .unwrap()
            .contains("メバロチン"),
        "{interrupted}"
    );
    assert_eq!(interrupted["records"][0]["kind"], "medication");
    let frequent = rule("frequent-tests");
    assert_eq!(
        frequent["records"].as_array().unwrap().len(),
        4,
        "{frequent}"
    );
    assert!(
        frequent["explanation"].as_str().unwrap().contains("2施設"),
        "{frequent}"
    );
    assert!(
        findings
            .iter()
            .all(|f| !f["explanation"].as_str().unwrap().contains("9.9"))
    );

    // Page by page: one member at a time, the cursor walks on until complete.
    let (_, one, c1) = page(&w.app, &w.insurer, "limit=1").await;
    assert_eq!(
        (one["members"].as_i64(), one["complete"].as_bool()),
        (Some(1), Some(false))
    );
    let (_, two, c2) = page(&w.app, &w.insurer, &format!("limit=1&since={c1}")).await;
    assert_eq!(two["members"], 1);
    let (_, three, _) = page(&w.app, &w.insurer, &format!("limit=1&since={c2}")).await;
    assert_eq!(
        (three["members"].as_i64(), three["complete"].as_bool()),
        (Some(0), Some(true))
    );
    let total =
        one["findings"].as_array().unwrap().len() + two["findings"].as_array().unwrap().len();
    assert_eq!(total, findings.len());

    // FHIR: the same findings as DetectedIssues.
    let (status, bundle, _) = page(&w.app, &w.insurer, "format=fhir").await;
    assert_eq!(status, 200);
    assert_valid_fhir(&bundle);
    let issues = bundle["entry"].as_array().unwrap();
    assert_eq!(issues.len(), findings.len());
    assert!(
        issues
            .iter()
            .all(|e| e["resource"]["patient"]["identifier"]["value"] == member)
    );
    assert!(issues.iter().any(|e| e["resource"]["severity"] == "high"));

    // Told once per finding, to the insurer and the registered doctor.
    let count = |n: &Value| {
        n["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["topic"] == "finding.detected")
            .count()
    };
    let (_, insurer_told) = w
        .app
        .get_json(&w.insurer, "/notifications?limit=1000")
        .await;
    assert_eq!(count(&insurer_told), findings.len());
    let (_, doctor_told) = w.app.get_json(&w.doctor, "/notifications?limit=1000").await;
    assert_eq!(count(&doctor_told), findings.len());
    // Only insurers.
    let (status, _, _) = page(&w.app, &w.doctor, "").await;
    assert_eq!(status, 403);
    let (status, _, _) = page(&w.app, &w.insurer, "since=not-a-cursor").await;
    assert_eq!(status, 400);
    // Every evaluated member is audited.
    let (_, audit) = w
        .app
        .get_json(ADMIN_TOKEN, "/admin/audit?action=findings&limit=1000")
        .await;
    assert!(audit["entries"].as_array().unwrap().len() >= 2, "{audit}");
}

fn finding_events(n: &Value) -> Vec<Value> {
    n["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["topic"] == "finding.detected")
        .cloned()
        .collect()
}

/// Issue 13 item 3: a medication finding reaches the insurer's and the doctor's
/// notifications (and so their subscriptions) when the records that make it arrive, with
/// no pull; once per finding; only for registered, consenting members.
async fn the_finding_watch_tells_new_findings_without_a_pull(db: TestDb) {
    let w = world(db).await;
    let (_, emr_b) = clinic_b(&w.app).await;
    let member = format!("{INSURER}:8:2001:01");
    let unconsenting = format!("{INSURER}:8:2003:01");
    register(&w, &member, true).await;
    register(&w, &unconsenting, false).await;
    // Amlodipine from two clinics, both active today (the watch evaluates as of today).
    let today = time::OffsetDateTime::now_utc().date();
    let started = |days: i64| {
        let d = today - time::Duration::days(days);
        format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
    };
    for (who, m) in [("w", &member), ("u", &unconsenting)] {
        post(
            &w.app,
            &w.emr,
            vec![
                patient(CLINIC, &format!("{who}a-1"), m),
                prescription(
                    &format!("{who}a-1"),
                    1,
                    "103299401",
                    "ノルバスク錠５ｍｇ",
                    &started(10),
                    60,
                ),
            ],
        )
        .await;
        post(
            &w.app,
            &emr_b,
            vec![
                patient(CLINIC_B, &format!("{who}b-1"), m),
                prescription(
                    &format!("{who}b-1"),
                    1,
                    "103300702",
                    "アムロジン錠５ｍｇ",
                    &started(5),
                    60,
                ),
            ],
        )
        .await;
    }
    let (_, before) = w
        .app
        .get_json(&w.insurer, "/notifications?limit=1000")
        .await;
    assert!(finding_events(&before).is_empty(), "{before}");

    // One round of the watch, as `kakari serve` runs it every few seconds (marks made
    // before now only: the settle time is waited out first).
    actix_web::rt::time::sleep(std::time::Duration::from_millis(
        w.app.state.config.finding_watch_settle_millis + 50,
    ))
    .await;
    let looked_at = kakari::service::program_findings::watch_round(&w.app.state, 100)
        .await
        .unwrap();
    assert_eq!(looked_at, 2, "both persons were marked by their records");
    let (_, insurer_told) = w
        .app
        .get_json(&w.insurer, "/notifications?limit=1000")
        .await;
    let events = finding_events(&insurer_told);
    assert!(
        events
            .iter()
            .any(|e| e.to_string().contains("duplicate-therapy")),
        "{insurer_told}"
    );
    assert!(
        events
            .iter()
            .all(|e| e["detail"]["member"] == member.as_str()),
        "no finding of a member who does not consent: {insurer_told}"
    );
    let (_, doctor_told) = w.app.get_json(&w.doctor, "/notifications?limit=1000").await;
    assert_eq!(finding_events(&doctor_told).len(), events.len());

    // The marks are cleared: another round looks at nobody and tells nothing again; a
    // pull finds the same findings without telling them a second time.
    let again = kakari::service::program_findings::watch_round(&w.app.state, 100)
        .await
        .unwrap();
    assert_eq!(again, 0);
    let status = w.app.get(&w.insurer, "/insurer/findings").await.status();
    assert_eq!(status, 200);
    let (_, after_pull) = w
        .app
        .get_json(&w.insurer, "/notifications?limit=1000")
        .await;
    assert_eq!(finding_events(&after_pull).len(), events.len());
}
