//! The person decides (issue 10): a registration that replaces another institution's
//! waits for the person (or their signed request); a pending one opens nothing; the
//! previous doctor and the insurer are told; consent is the person's (or the registered
//! institution's on their documented behalf), never the insurer's; the person reads their
//! registration, consent and who accessed their data. On both databases.

use serde_json::{Value, json};

use crate::insurer::{CLINIC, INSURER, lab_bundle, world};
use crate::on_both_databases_async;
use crate::support::{ADMIN_TOKEN, TestApp, TestDb};

const CLINIC_B: &str = "1312345678";

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

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let resp = app
        .http
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn put(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let resp = app
        .http
        .put(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Clinic A (from `insurer::world`, doctor dr-1) and clinic B (doctor dr-b), a person with
/// lab values at A, registered with A, and the person's own client.
struct Scene {
    w: crate::insurer::World,
    doctor_b: String,
    emr_b: String,
    person: String,
    member: String,
    patient: String,
}

async fn scene(db: TestDb, registered: bool) -> Scene {
    let w = world(db).await;
    admin_put(
        &w.app,
        &format!("/admin/organizations/{CLINIC_B}"),
        json!({"name": "みどり内科", "prefecture": "東京都", "city": "文京区", "certified": true,
               "functions": ["broad-consultation", "information-hub", "care-coordination", "after-hours"]}),
    )
    .await;
    admin_put(
        &w.app,
        "/admin/practitioners/dr-b",
        json!({"name": "緑川 医師", "organization": CLINIC_B, "qualifications": []}),
    )
    .await;
    let doctor_b = w
        .app
        .client("doctor", Some(CLINIC_B), None, Some("dr-b"))
        .await;
    let emr_b = w.app.emr(CLINIC_B).await;
    let member = format!("{INSURER}:3:4400:01");
    let resp = w
        .app
        .post_fhir(
            &w.emr,
            "/fhir",
            &lab_bundle("pp-1", &member, &["6.70"], "2026-10-01"),
        )
        .await;
    assert_eq!(resp.status(), 200);
    if registered {
        let (status, reg) = post(
            &w.app,
            &w.doctor,
            "/registrations",
            json!({"member": member, "practitioner": "dr-1", "organization": CLINIC,
                   "start": "2026-04-01", "consent": {"insurer_programs": true}}),
        )
        .await;
        assert_eq!(
            (status, reg["status"].as_str()),
            (201, Some("active")),
            "{reg}"
        );
    }
    let (status, client) = post(
        &w.app,
        &w.insurer,
        "/insurer/person-clients",
        json!({"member": member, "name": "person app", "identity_evidence": "insurer-record"}),
    )
    .await;
    assert_eq!(status, 201, "{client}");
    Scene {
        doctor_b,
        emr_b,
        person: client["token"].as_str().unwrap().to_owned(),
        member,
        patient: "pp-1".into(),
        w,
    }
}

impl Scene {
    fn app(&self) -> &TestApp {
        &self.w.app
    }

    async fn propose_b(&self, evidence: bool) -> (u16, Value) {
        let mut body = json!({"member": self.member, "practitioner": "dr-b", "organization": CLINIC_B,
                              "start": "2026-06-01", "consent": {"insurer_programs": false}});
        if evidence {
            body["evidence"] =
                json!({"document": "DocumentReference/form-22", "attested_by": "reception-3"});
        }
        post(self.app(), &self.doctor_b, "/registrations", body).await
    }

    /// How many of the person's lab values `token` reads through FHIR.
    async fn visible_labs(&self, token: &str) -> i64 {
        let (status, found) = self
            .app()
            .get_json(
                token,
                &format!("/fhir/Observation?patient=Patient/{}", self.patient),
            )
            .await;
        assert_eq!(status, 200, "{found}");
        found["total"].as_i64().unwrap()
    }

    async fn notifications(&self, token: &str) -> Vec<Value> {
        let (status, page) = self.app().get_json(token, "/notifications").await;
        assert_eq!(status, 200, "{page}");
        page["notifications"].as_array().unwrap().clone()
    }

    async fn me(&self) -> Value {
        let (status, me) = self.app().get_json(&self.person, "/me").await;
        assert_eq!(status, 200, "{me}");
        me
    }

    async fn pulled(&self) -> usize {
        let resp = self
            .app()
            .get(
                &self.w.insurer,
                "/insurer/lab-results?format=csv&limit=1000",
            )
            .await;
        assert_eq!(resp.status(), 200);
        let body = resp.text().await.unwrap();
        body.lines().skip(1).filter(|l| !l.is_empty()).count()
    }
}

fn topics(notifications: &[Value]) -> Vec<&str> {
    notifications
        .iter()
        .map(|n| n["topic"].as_str().unwrap())
        .collect()
}

on_both_databases_async!(
    a_takeover_waits_for_the_person_and_opens_nothing_until_confirmed,
    the_person_refuses_and_nothing_changes,
    a_signed_request_lets_the_new_institution_take_over_at_once,
    an_insurer_proposal_always_waits_for_the_person,
    the_insurer_never_grants_consent,
    the_person_reads_who_accessed_their_data,
    person_clients_are_issued_for_one_member_only,
    an_overdue_proposal_lapses,
    concurrent_confirmations_leave_one_active,
);

async fn a_takeover_waits_for_the_person_and_opens_nothing_until_confirmed(db: TestDb) {
    let s = scene(db, true).await;
    assert_eq!(s.visible_labs(&s.w.doctor).await, 1);
    let (status, pending) = s.propose_b(false).await;
    assert_eq!(status, 201, "{pending}");
    assert_eq!(pending["status"], "pending");
    assert!(pending["expires_at"].as_i64().unwrap() > pending["created_at"].as_i64().unwrap());
    // A pending registration opens nothing; the registered doctor keeps access.
    assert_eq!(s.visible_labs(&s.doctor_b).await, 0);
    assert_eq!(s.visible_labs(&s.w.doctor).await, 1);
    // The registered institution, the insurer and the person are told.
    let told_a = s.notifications(&s.w.emr).await;
    assert!(
        topics(&told_a).contains(&"registration.transfer-requested"),
        "{told_a:?}"
    );
    assert!(
        !serde_json::to_string(&told_a).unwrap().contains(CLINIC_B),
        "the current institution is not told where the person may go: {told_a:?}"
    );
    assert!(topics(&s.notifications(&s.w.insurer).await).contains(&"registration.requested"));
    let me = s.me().await;
    assert_eq!(me["pending"][0]["id"], pending["id"]);
    assert_eq!(me["pending"][0]["organization"], CLINIC_B);
    assert_eq!(me["current"]["organization"], CLINIC);

    // The person confirms: B is the registered doctor, A loses access and is told.
    let (status, confirmed) = post(
        s.app(),
        &s.person,
        &format!("/me/registrations/{}/confirm", pending["id"]),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(confirmed["status"], "active");
    assert_eq!(confirmed["basis"], "person");
    assert_eq!(s.visible_labs(&s.doctor_b).await, 1);
    assert_eq!(s.visible_labs(&s.w.doctor).await, 0);
    let told_a = s.notifications(&s.w.emr).await;
    let ended = told_a
        .iter()
        .find(|n| n["topic"] == "registration.ended")
        .expect("the previous institution is told");
    assert_eq!(ended["detail"]["reason"], "replaced");
    assert!(!ended.to_string().contains(CLINIC_B), "{ended}");
    let told_b = s.notifications(&s.emr_b).await;
    assert!(
        topics(&told_b).contains(&"registration.activated"),
        "{told_b:?}"
    );
    assert!(topics(&s.notifications(&s.person).await).contains(&"registration.activated"));
    // Deciding twice is refused.
    let (status, again) = post(
        s.app(),
        &s.person,
        &format!("/me/registrations/{}/confirm", pending["id"]),
        json!({}),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(again["code"], "registration.not_pending", "{again}");
    // The proposal's consent (false) is what the person confirmed.
    assert_eq!(s.me().await["consent"]["insurer_programs"], false);
    assert_eq!(s.me().await["consent"]["basis"], "person");
}

async fn the_person_refuses_and_nothing_changes(db: TestDb) {
    let s = scene(db, true).await;
    let (_, pending) = s.propose_b(false).await;
    // Only the person decides: not another person, not the proposer.
    let (status, _) = post(
        s.app(),
        &s.doctor_b,
        &format!("/me/registrations/{}/confirm", pending["id"]),
        json!({}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, refused) = post(
        s.app(),
        &s.person,
        &format!("/me/registrations/{}/refuse", pending["id"]),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{refused}");
    assert_eq!(refused["status"], "refused");
    assert_eq!(s.me().await["current"]["organization"], CLINIC);
    assert_eq!(s.visible_labs(&s.doctor_b).await, 0);
    let told_b = s.notifications(&s.doctor_b).await;
    let refusal = told_b
        .iter()
        .find(|n| n["topic"] == "registration.refused")
        .expect("the proposer is told");
    assert_eq!(refusal["detail"]["reason"], "refused");
    // B may propose again; its earlier proposal is then withdrawn, not duplicated.
    s.propose_b(false).await;
    s.propose_b(false).await;
    assert_eq!(s.me().await["pending"].as_array().unwrap().len(), 1);
}

async fn a_signed_request_lets_the_new_institution_take_over_at_once(db: TestDb) {
    let s = scene(db, true).await;
    let (status, active) = s.propose_b(true).await;
    assert_eq!(status, 201, "{active}");
    assert_eq!(active["status"], "active");
    assert_eq!(active["basis"], "evidence");
    assert_eq!(s.visible_labs(&s.doctor_b).await, 1);
    assert_eq!(s.visible_labs(&s.w.doctor).await, 0);
    let ended = s.notifications(&s.w.doctor).await;
    assert!(topics(&ended).contains(&"registration.ended"), "{ended:?}");
}

async fn an_insurer_proposal_always_waits_for_the_person(db: TestDb) {
    let s = scene(db, false).await;
    let (status, proposal) = post(
        s.app(),
        &s.w.insurer,
        "/registrations",
        json!({"member": s.member, "practitioner": "dr-1", "organization": CLINIC,
               "start": "2026-05-01", "consent": {"insurer_programs": true}}),
    )
    .await;
    assert_eq!(status, 201, "{proposal}");
    assert_eq!(proposal["status"], "pending");
    // Not even the proposed doctor reads anything yet, and the insurer pulls nothing.
    assert_eq!(s.visible_labs(&s.w.doctor).await, 0);
    assert_eq!(s.pulled().await, 0);
    // An insurer cannot attach evidence of the person's request.
    let (status, _) = post(
        s.app(),
        &s.w.insurer,
        "/registrations",
        json!({"member": s.member, "practitioner": "dr-1", "organization": CLINIC,
               "start": "2026-05-01", "consent": {"insurer_programs": true},
               "evidence": {"document": "x", "attested_by": "y"}}),
    )
    .await;
    assert_eq!(status, 422);
    // The person confirms, and decides the consent themself (no).
    let (status, confirmed) = post(
        s.app(),
        &s.person,
        &format!("/me/registrations/{}/confirm", proposal["id"]),
        json!({"insurer_programs": false}),
    )
    .await;
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(s.visible_labs(&s.w.doctor).await, 1);
    assert_eq!(s.me().await["consent"]["insurer_programs"], false);
    assert_eq!(s.pulled().await, 0);
}

async fn the_insurer_never_grants_consent(db: TestDb) {
    let s = scene(db, true).await;
    assert_eq!(s.pulled().await, 1);
    // The registered doctor records the person's withdrawal, with the signed document.
    let (status, missing) = post(
        s.app(),
        &s.w.doctor,
        "/consents",
        json!({"member": s.member, "insurer_programs": false}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(missing["code"], "consent.evidence_required", "{missing}");
    let (status, withdrawn) = post(
        s.app(),
        &s.w.doctor,
        "/consents",
        json!({"member": s.member, "insurer_programs": false,
               "evidence": {"document": "DocumentReference/withdrawal", "attested_by": "dr-1"}}),
    )
    .await;
    assert_eq!(status, 200, "{withdrawn}");
    assert_eq!(withdrawn["basis"], "institution");
    assert_eq!(s.pulled().await, 0);
    // The insurer may not turn it back on: refused, nothing recorded, nothing pulled.
    let (status, refused) = post(
        s.app(),
        &s.w.insurer,
        "/consents",
        json!({"member": s.member, "insurer_programs": true}),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(refused["code"], "consent.insurer_grant", "{refused}");
    assert_eq!(s.me().await["consent"]["insurer_programs"], false);
    assert_eq!(s.pulled().await, 0);
    // The person gives it.
    let (status, given) = put(
        s.app(),
        &s.person,
        "/me/consent",
        json!({"insurer_programs": true}),
    )
    .await;
    assert_eq!(status, 200, "{given}");
    assert_eq!(given["basis"], "person");
    assert_eq!(s.pulled().await, 1);
    // The insurer records a withdrawal it received.
    let (status, received) = post(
        s.app(),
        &s.w.insurer,
        "/consents",
        json!({"member": s.member, "insurer_programs": false}),
    )
    .await;
    assert_eq!(status, 200, "{received}");
    assert_eq!(received["basis"], "insurer_withdrawal");
    assert_eq!(s.pulled().await, 0);
    // Administrators see that consent was recorded, not what was decided.
    let (_, audit) = s
        .app()
        .get_json(ADMIN_TOKEN, "/admin/audit?action=consent.change&limit=100")
        .await;
    let text = audit.to_string();
    assert!(text.contains("consent.change"), "{audit}");
    assert!(!text.contains("insurer_programs"), "{audit}");
    let consents = &s.me().await["consent_history"];
    assert_eq!(consents.as_array().unwrap().len(), 4, "{consents}");
}

async fn the_person_reads_who_accessed_their_data(db: TestDb) {
    let s = scene(db, true).await;
    s.visible_labs(&s.w.doctor).await;
    // Another person's data and access stay out of it.
    let other = format!("{INSURER}:3:4401:01");
    let resp = s
        .app()
        .post_fhir(
            &s.w.emr,
            "/fhir",
            &lab_bundle("pp-2", &other, &["5.10"], "2026-10-02"),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let (status, page) = s.app().get_json(&s.person, "/me/access?limit=1000").await;
    assert_eq!(status, 200, "{page}");
    let entries = page["entries"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["role"] == "doctor"
            && e["organization"] == CLINIC
            && e["action"] == "search"),
        "the doctor's search is named: {page}"
    );
    assert!(
        entries.iter().any(|e| e["action"] == "registration.create"),
        "{page}"
    );
    assert!(!page.to_string().contains("pp-2"), "{page}");
    // Paging resumes after the last entry.
    let last = page["next_after"].as_i64().unwrap();
    let (_, rest) = s
        .app()
        .get_json(&s.person, &format!("/me/access?after={last}"))
        .await;
    assert!(rest["entries"].as_array().unwrap().is_empty(), "{rest}");
    let (status, _) = s.app().get_json(&s.person, "/me/access?limit=0").await;
    assert_eq!(status, 400);
}

async fn person_clients_are_issued_for_one_member_only(db: TestDb) {
    let s = scene(db, false).await;
    let (status, _) = post(
        s.app(),
        &s.w.insurer,
        "/insurer/person-clients",
        json!({"member": "39131234:1:2:01", "name": "x", "identity_evidence": "insurer-record"}),
    )
    .await;
    assert_eq!(status, 403, "an insurer issues for its own members only");
    let (status, body) = post(
        s.app(),
        &s.w.insurer,
        "/insurer/person-clients",
        json!({"member": format!("{INSURER}:3:4400"), "name": "x", "identity_evidence": "insurer-record"}),
    )
    .await;
    assert_eq!(
        status, 422,
        "a family card without 枝番 is not a person: {body}"
    );
    let (status, _) = post(
        s.app(),
        &s.w.doctor,
        "/insurer/person-clients",
        json!({"member": s.member, "name": "x", "identity_evidence": "insurer-record"}),
    )
    .await;
    assert_eq!(status, 403);
    // An administrator issues one through the clients endpoint too.
    let (status, created) = post(
        s.app(),
        ADMIN_TOKEN,
        "/admin/clients",
        json!({"name": "counter", "role": "person", "member": s.member, "identity_evidence": "in-person"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, me) = s
        .app()
        .get_json(created["token"].as_str().unwrap(), "/me")
        .await;
    assert_eq!(
        (status, me["member"].as_str()),
        (200, Some(s.member.as_str()))
    );
    let (_, clients) = s.app().get_json(ADMIN_TOKEN, "/admin/clients").await;
    let listed = clients
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == created["id"])
        .unwrap()
        .clone();
    assert_eq!(listed["identity_evidence"], "in-person");
    assert_eq!(listed["issued_by"], 0);
    // A person reads no clinical data through FHIR and writes nothing.
    let (status, _) = s
        .app()
        .get_json(&s.person, "/fhir/Observation?patient=Patient/pp-1")
        .await;
    assert_eq!(status, 403);
}

async fn an_overdue_proposal_lapses(db: TestDb) {
    let s = scene(db, true).await;
    let (_, pending) = s.propose_b(false).await;
    let id = pending["id"].as_i64().unwrap();
    // Thirty-one days later (the default policy waits thirty).
    let month = 31 * 24 * 3600 * 1000_i64;
    let sql = format!("UPDATE registrations SET created_at = created_at - {month} WHERE id = {id}");
    std::thread::scope(|scope| {
        scope.spawn(|| crate::store_contract::tamper(s.app().db(), &sql));
    });
    let (status, late) = post(
        s.app(),
        &s.person,
        &format!("/me/registrations/{id}/confirm"),
        json!({}),
    )
    .await;
    assert_eq!(status, 409, "{late}");
    let me = s.me().await;
    assert!(me["pending"].as_array().unwrap().is_empty(), "{me}");
    assert_eq!(me["current"]["organization"], CLINIC);
    let lapsed = me["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(
        (lapsed["status"].as_str(), lapsed["end_reason"].as_str()),
        (Some("superseded"), Some("lapsed"))
    );
}

async fn concurrent_confirmations_leave_one_active(db: TestDb) {
    let s = scene(db, true).await;
    let (_, from_b) = s.propose_b(false).await;
    let (_, from_insurer) = post(
        s.app(),
        &s.w.insurer,
        "/registrations",
        json!({"member": s.member, "practitioner": "dr-1", "organization": CLINIC,
               "start": "2026-07-01", "consent": {"insurer_programs": true}}),
    )
    .await;
    let mut tasks = Vec::new();
    for id in [from_b["id"].clone(), from_insurer["id"].clone()] {
        let http = s.app().http.clone();
        let url = s.app().url(&format!("/me/registrations/{id}/confirm"));
        let token = s.person.clone();
        tasks.push(actix_web::rt::spawn(async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort_unstable();
    // The first confirmation supersedes the other proposal; the second finds it decided.
    assert_eq!(statuses, [200, 409]);
    let me = s.me().await;
    let active: Vec<&Value> = me["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "active")
        .collect();
    assert_eq!(active.len(), 1, "{me}");
}
