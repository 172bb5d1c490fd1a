//! Inquiries (照会) as FHIR Task (issue 13 item 2), on both databases: the insurer asks,
//! kakari routes the Task to the member's registered doctor (or refuses without one), the
//! doctor accepts, answers and completes it, the insurer follows it; only the two parties
//! see it; every version is kept; open Tasks follow the registration when it moves to
//! another doctor (re-routed, both told), wait on hold when it ends, and every step is
//! audited.

use serde_json::{Value, json};

use crate::insurer::{INSURER, World, register, world};
use crate::on_both_databases_async;
use crate::schemas::assert_valid_fhir;
use crate::support::{ADMIN_TOKEN, TestApp, TestDb, outcome_code};

pub const CLINIC_B: &str = "1312345678";
const MEMBER_SYSTEM: &str = "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID";

/// A second certified clinic with doctor dr-b; returns (doctor B, EMR B) tokens.
pub async fn clinic_b(app: &TestApp) -> (String, String) {
    for (path, body) in [
        (
            format!("/admin/organizations/{CLINIC_B}"),
            json!({"name": "みどり内科", "prefecture": "東京都", "city": "文京区", "certified": true,
                   "functions": ["broad-consultation", "information-hub", "care-coordination", "after-hours", "home-care"]}),
        ),
        (
            "/admin/practitioners/dr-b".to_owned(),
            json!({"name": "緑川 医師", "organization": CLINIC_B, "qualifications": []}),
        ),
    ] {
        let resp = app
            .http
            .put(app.url(&path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{path}");
    }
    (
        app.client("doctor", Some(CLINIC_B), None, Some("dr-b"))
            .await,
        app.emr(CLINIC_B).await,
    )
}

pub fn task(member: &str, code: &str) -> Value {
    json!({"resourceType": "Task", "status": "requested", "intent": "order",
           "code": {"coding": [{"system": "urn:kakari:inquiry-type", "code": code}]},
           "description": "複数の医療機関から同効薬が処方されています。ご確認ください。",
           "for": {"identifier": {"system": MEMBER_SYSTEM, "value": member}},
           "focus": {"identifier": {"system": "urn:kakari:finding", "value": "f-1"}}})
}

async fn send(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/fhir+json")
            .body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub async fn create_task(app: &TestApp, insurer: &str, member: &str) -> Value {
    let (status, t) = send(
        app,
        insurer,
        reqwest::Method::POST,
        "/fhir/Task",
        Some(&task(member, "duplicate-therapy")),
    )
    .await;
    assert_eq!(status, 201, "{t}");
    t
}

/// The doctor moves a Task to `status` (with an answer when completing).
async fn doctor_sets(app: &TestApp, doctor: &str, t: &Value, status: &str) -> (u16, Value) {
    let mut next = t.clone();
    next["status"] = json!(status);
    if status == "completed" {
        next["output"] = json!([{"type": {"text": "回答"}, "valueString": "処方を整理しました"}]);
    }
    let path = format!("/fhir/Task/{}", t["id"].as_str().unwrap());
    send(app, doctor, reqwest::Method::PUT, &path, Some(&next)).await
}

async fn notifications(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, page) = app.get_json(token, "/notifications?limit=1000").await;
    assert_eq!(status, 200, "{page}");
    page["notifications"].as_array().unwrap().clone()
}

fn topics(n: &[Value]) -> Vec<String> {
    n.iter()
        .map(|e| e["topic"].as_str().unwrap().to_owned())
        .collect()
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    let (status, page) = app
        .get_json(ADMIN_TOKEN, "/admin/audit?resource_type=Task&limit=1000")
        .await;
    assert_eq!(status, 200, "{page}");
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

on_both_databases_async!(
    an_inquiry_reaches_the_registered_doctor_and_is_answered,
    only_the_two_parties_see_an_inquiry,
    open_inquiries_follow_the_registration,
);

async fn an_inquiry_reaches_the_registered_doctor_and_is_answered(db: TestDb) {
    let w = world(db).await;
    let member = format!("{INSURER}:7:7001:01");
    // No registration: no doctor to route to.
    let (status, outcome) = send(
        &w.app,
        &w.insurer,
        reqwest::Method::POST,
        "/fhir/Task",
        Some(&task(&member, "polypharmacy")),
    )
    .await;
    assert_eq!(
        (status, outcome_code(&outcome).as_str()),
        (422, "inquiry.no_registered_doctor"),
        "{outcome}"
    );
    register(&w, &member, true).await;
    // Kakari sets the owner; a Task that names one is refused.
    let mut owned = task(&member, "polypharmacy");
    owned["owner"] = json!({"reference": "Practitioner/someone"});
    let (status, outcome) = send(
        &w.app,
        &w.insurer,
        reqwest::Method::POST,
        "/fhir/Task",
        Some(&owned),
    )
    .await;
    assert_eq!(
        (status, outcome["issue"][0]["expression"][0].as_str()),
        (422, Some("Task.owner")),
        "{outcome}"
    );
    // Another insurer's member is not this insurer's to ask about.
    let (status, _) = send(
        &w.app,
        &w.insurer,
        reqwest::Method::POST,
        "/fhir/Task",
        Some(&task("39131234:1:1:01", "other")),
    )
    .await;
    assert_eq!(status, 403);

    let t = create_task(&w.app, &w.insurer, &member).await;
    assert_valid_fhir(&t);
    assert_eq!(t["status"], "requested");
    assert_eq!(t["owner"]["identifier"]["value"], "dr-1");
    assert_eq!(t["requester"]["identifier"]["value"], INSURER);
    assert_eq!(t["for"]["identifier"]["value"], member);
    let id = t["id"].as_str().unwrap().to_owned();

    // The doctor finds it among their open inquiries.
    let (status, found) = w
        .app
        .get_json(&w.doctor, "/fhir/Task?status=requested,accepted")
        .await;
    assert_eq!((status, found["total"].as_i64()), (200, Some(1)), "{found}");
    assert!(topics(&notifications(&w.app, &w.doctor).await).contains(&"inquiry.routed".to_owned()));

    // Completing needs accepting first, and an answer.
    let (status, outcome) = doctor_sets(&w.app, &w.doctor, &t, "completed").await;
    assert_eq!(
        (status, outcome_code(&outcome).as_str()),
        (409, "inquiry.transition"),
        "{outcome}"
    );
    let (status, accepted) = doctor_sets(&w.app, &w.doctor, &t, "accepted").await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["meta"]["versionId"], "2");
    assert!(accepted["executionPeriod"]["start"].is_string());
    let mut no_answer = accepted.clone();
    no_answer["status"] = json!("completed");
    let (status, outcome) = send(
        &w.app,
        &w.doctor,
        reqwest::Method::PUT,
        &format!("/fhir/Task/{id}"),
        Some(&no_answer),
    )
    .await;
    assert_eq!(
        (status, outcome_code(&outcome).as_str()),
        (422, "inquiry.answer_required"),
        "{outcome}"
    );
    // The doctor may not rewrite the question.
    let mut rewrite = accepted.clone();
    rewrite["description"] = json!("別の質問");
    let (status, outcome) = send(
        &w.app,
        &w.doctor,
        reqwest::Method::PUT,
        &format!("/fhir/Task/{id}"),
        Some(&rewrite),
    )
    .await;
    assert_eq!(
        (status, outcome_code(&outcome).as_str()),
        (422, "inquiry.immutable_element"),
        "{outcome}"
    );
    // A stale version is refused.
    let resp = w
        .app
        .http
        .put(w.app.url(&format!("/fhir/Task/{id}")))
        .bearer_auth(&w.doctor)
        .header("Content-Type", "application/fhir+json")
        .header("If-Match", "W/\"1\"")
        .body(accepted.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 412);
    let (status, done) = doctor_sets(&w.app, &w.doctor, &accepted, "completed").await;
    assert_eq!(status, 200, "{done}");
    assert_valid_fhir(&done);
    assert!(done["executionPeriod"]["end"].is_string());

    // The insurer follows it: completed, with the answer, and every status on record.
    let (status, seen) = w
        .app
        .get_json(&w.insurer, &format!("/fhir/Task/{id}"))
        .await;
    assert_eq!((status, seen["status"].as_str()), (200, Some("completed")));
    assert_eq!(seen["output"][0]["valueString"], "処方を整理しました");
    let (status, history) = w
        .app
        .get_json(&w.insurer, &format!("/fhir/Task/{id}/_history"))
        .await;
    assert_eq!(status, 200, "{history}");
    let statuses: Vec<&str> = history["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["completed", "accepted", "requested"]);
    assert_valid_fhir(&history);
    let (status, v1) = w
        .app
        .get_json(&w.insurer, &format!("/fhir/Task/{id}/_history/1"))
        .await;
    assert_eq!((status, v1["status"].as_str()), (200, Some("requested")));
    let insurer_topics = topics(&notifications(&w.app, &w.insurer).await);
    assert!(
        insurer_topics.contains(&"inquiry.accepted".to_owned()),
        "{insurer_topics:?}"
    );
    assert!(
        insurer_topics.contains(&"inquiry.completed".to_owned()),
        "{insurer_topics:?}"
    );
    // A finished inquiry cannot be cancelled.
    let mut cancel = seen.clone();
    cancel["status"] = json!("cancelled");
    let (status, _) = send(
        &w.app,
        &w.insurer,
        reqwest::Method::PUT,
        &format!("/fhir/Task/{id}"),
        Some(&cancel),
    )
    .await;
    assert_eq!(status, 409);

    let actions = audit_actions(&w.app).await;
    for expected in ["inquiry.create", "inquiry.update", "read", "history"] {
        assert!(
            actions.contains(&expected.to_owned()),
            "{expected}: {actions:?}"
        );
    }
}

async fn only_the_two_parties_see_an_inquiry(db: TestDb) {
    let w = world(db).await;
    let (doctor_b, emr_b) = clinic_b(&w.app).await;
    let member = format!("{INSURER}:7:7002:01");
    register(&w, &member, true).await;
    let t = create_task(&w.app, &w.insurer, &member).await;
    let path = format!("/fhir/Task/{}", t["id"].as_str().unwrap());
    let other_insurer = w.app.client("insurer", None, Some("39131234"), None).await;
    // Not a party: the same 404 as a Task that does not exist.
    for token in [&doctor_b, &other_insurer] {
        let (status, outcome) = w.app.get_json(token, &path).await;
        assert_eq!(
            (status, outcome_code(&outcome).as_str()),
            (404, "fhir.not_found"),
            "{outcome}"
        );
        let (status, _) = w.app.get_json(token, &format!("{path}/_history")).await;
        assert_eq!(status, 404);
        let (status, found) = w.app.get_json(token, "/fhir/Task").await;
        assert_eq!((status, found["total"].as_i64()), (200, Some(0)));
        let (status, _) = doctor_sets(&w.app, token, &t, "accepted").await;
        assert_eq!(status, 404);
    }
    // Roles that are never a party: refused before the body.
    for token in [&w.emr, &emr_b] {
        let (status, _) = w.app.get_json(token, &path).await;
        assert_eq!(status, 403);
        let (status, _) = send(
            &w.app,
            token,
            reqwest::Method::POST,
            "/fhir/Task",
            Some(&task(&member, "other")),
        )
        .await;
        assert_eq!(status, 403);
    }
    // The doctor asks nothing.
    let (status, _) = send(
        &w.app,
        &w.doctor,
        reqwest::Method::POST,
        "/fhir/Task",
        Some(&task(&member, "other")),
    )
    .await;
    assert_eq!(status, 403);
    // The insurer may cancel but not accept.
    let (status, _) = doctor_sets(&w.app, &w.insurer, &t, "accepted").await;
    assert_eq!(status, 409);
    let (status, cancelled) = doctor_sets(&w.app, &w.insurer, &t, "cancelled").await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (200, Some("cancelled"))
    );
    assert!(
        topics(&notifications(&w.app, &w.doctor).await).contains(&"inquiry.cancelled".to_owned())
    );
    // Doctor B's institution reads no inquiry event.
    assert!(
        topics(&notifications(&w.app, &doctor_b).await)
            .iter()
            .all(|t| !t.starts_with("inquiry."))
    );
}

async fn open_inquiries_follow_the_registration(db: TestDb) {
    let w: World = world(db).await;
    let (doctor_b, emr_b) = clinic_b(&w.app).await;
    let member = format!("{INSURER}:7:7003:01");
    register(&w, &member, true).await;
    let open = create_task(&w.app, &w.insurer, &member).await;
    let done = create_task(&w.app, &w.insurer, &member).await;
    let (_, accepted) = doctor_sets(&w.app, &w.doctor, &done, "accepted").await;
    let (status, _) = doctor_sets(&w.app, &w.doctor, &accepted, "completed").await;
    assert_eq!(status, 200);
    let (_, open) = doctor_sets(&w.app, &w.doctor, &open, "accepted").await;
    let open_path = format!("/fhir/Task/{}", open["id"].as_str().unwrap());
    let done_path = format!("/fhir/Task/{}", done["id"].as_str().unwrap());

    // The member moves to clinic B (signed request recorded): the open inquiry follows.
    let (status, reg) = send(
        &w.app,
        &doctor_b,
        reqwest::Method::POST,
        "/registrations",
        Some(&json!({"member": member, "practitioner": "dr-b", "organization": CLINIC_B,
                     "start": "2026-06-01", "consent": {"insurer_programs": true},
                     "evidence": {"document": "DocumentReference/form-1", "attested_by": "reception-1"}})),
    )
    .await;
    assert_eq!(
        (status, reg["status"].as_str()),
        (201, Some("active")),
        "{reg}"
    );
    let (status, moved) = w.app.get_json(&doctor_b, &open_path).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["status"], "requested");
    assert_eq!(moved["owner"]["identifier"]["value"], "dr-b");
    assert_valid_fhir(&moved);
    // The previous doctor no longer sees it, and was told without being told where.
    let (status, _) = w.app.get_json(&w.doctor, &open_path).await;
    assert_eq!(status, 404);
    let told = notifications(&w.app, &w.doctor).await;
    let reassigned = told
        .iter()
        .find(|n| n["topic"] == "inquiry.reassigned")
        .expect("previous doctor told");
    assert!(reassigned["detail"].get("member").is_none(), "{reassigned}");
    assert!(topics(&notifications(&w.app, &doctor_b).await).contains(&"inquiry.routed".to_owned()));
    assert!(
        topics(&notifications(&w.app, &w.insurer).await).contains(&"inquiry.rerouted".to_owned())
    );
    // A finished inquiry stays with the doctor who answered it.
    let (status, kept) = w.app.get_json(&w.doctor, &done_path).await;
    assert_eq!((status, kept["status"].as_str()), (200, Some("completed")));

    // The registration ends without a successor: the open inquiry waits on hold.
    let (status, _) = send(
        &w.app,
        &emr_b,
        reqwest::Method::DELETE,
        &format!("/registrations/{}", reg["id"]),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, held) = w.app.get_json(&w.insurer, &open_path).await;
    assert_eq!(
        (status, held["status"].as_str()),
        (200, Some("on-hold")),
        "{held}"
    );
    assert!(held.get("owner").is_none());
    assert_valid_fhir(&held);
    let (status, _) = w.app.get_json(&doctor_b, &open_path).await;
    assert_eq!(status, 404);
    // Registering again routes it to the new doctor.
    register(&w, &member, true).await;
    let (status, back) = w.app.get_json(&w.doctor, &open_path).await;
    assert_eq!(
        (status, back["status"].as_str()),
        (200, Some("requested")),
        "{back}"
    );
    let (status, history) = w
        .app
        .get_json(&w.insurer, &format!("{open_path}/_history"))
        .await;
    assert_eq!(status, 200);
    let owners: Vec<Option<&str>> = history["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["owner"]["identifier"]["value"].as_str())
        .collect();
    assert_eq!(
        owners,
        [Some("dr-1"), None, Some("dr-b"), Some("dr-1"), Some("dr-1")]
    );
    let actions = audit_actions(&w.app).await;
    assert!(
        actions.contains(&"inquiry.reroute".to_owned())
            && actions.contains(&"inquiry.hold".to_owned()),
        "{actions:?}"
    );
}
