//! The access matrix of `docs/access.md`, table-driven: every role × endpoint × state of
//! the person (registered / not / ended; consent / none / revoked; a transfer waiting for
//! the person; a proposal waiting for the person), on both databases, with the check that
//! a denied answer leaks nothing. The person themself and another person are callers too.
//! Also: concurrent registrations leave exactly one active, and the registry's FHIR views.

use serde_json::{Value, json};

use crate::insurer::lab_bundle;
use crate::on_both_databases_async;
use crate::support::{ADMIN_TOKEN, TestApp, TestDb};

const CLINIC_A: &str = "1311234567";
const CLINIC_B: &str = "1312345678";
const PHARMACY: &str = "1341234565";
const INSURER: &str = "06139463";
const FOREIGN_INSURER: &str = "39131234";

/// The callers of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    EmrA,
    EmrB,
    Pharmacy,
    /// The doctor the persons register with (at clinic A).
    DoctorA,
    /// A doctor at another certified clinic.
    DoctorB,
    Insurer,
    ForeignInsurer,
    Admin,
    Anonymous,
    /// The person themself (a `person` client bound to their member id).
    Person,
    /// Another person (bound to another member id).
    OtherPerson,
}

const EVERYONE: [Who; 11] = [
    Who::EmrA,
    Who::EmrB,
    Who::Pharmacy,
    Who::DoctorA,
    Who::DoctorB,
    Who::Insurer,
    Who::ForeignInsurer,
    Who::Admin,
    Who::Anonymous,
    Who::Person,
    Who::OtherPerson,
];

/// The state of a person (all are members of `INSURER` with a Patient and lab values at
/// clinic A).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    RegisteredConsent,
    RegisteredNoConsent,
    RegisteredRevoked,
    NotRegistered,
    Ended,
    /// Registered with A (consent); clinic B proposed a transfer, waiting for the person.
    PendingTransfer,
    /// Not registered; the insurer proposed clinic A, waiting for the person.
    ProposedByInsurer,
}

const STATES: [State; 7] = [
    State::RegisteredConsent,
    State::RegisteredNoConsent,
    State::RegisteredRevoked,
    State::NotRegistered,
    State::Ended,
    State::PendingTransfer,
    State::ProposedByInsurer,
];

impl State {
    /// Has an active registration (with doctor A).
    fn registered(self) -> bool {
        matches!(
            self,
            State::RegisteredConsent
                | State::RegisteredNoConsent
                | State::RegisteredRevoked
                | State::PendingTransfer
        )
    }
    /// Has the person any registration or proposal?
    fn has_history(self) -> bool {
        self != State::NotRegistered
    }
    /// Has a registration that took effect (active or ended): who the doctor is (or was)
    /// is visible to every provider.
    fn took_effect(self) -> bool {
        self.registered() || self == State::Ended
    }
    /// Has consent decisions on record (made with a registration that took effect).
    fn has_consent(self) -> bool {
        self.took_effect()
    }
    /// The consent in force permits the insurer's programs.
    fn consent_in_force(self) -> bool {
        matches!(
            self,
            State::RegisteredConsent | State::PendingTransfer | State::Ended
        )
    }
}

struct Person {
    state: State,
    /// The order number of the person's HL7 v2 prescription (marks its derived resource).
    order: String,
    /// The person's own client.
    token: String,
    member: String,
    patient: String,
    observation: String,
    /// A lab value only this person has (to detect leaks).
    value: String,
}

struct World {
    app: TestApp,
    tokens: Vec<(Who, String)>,
    persons: Vec<Person>,
}

impl World {
    fn token(&self, who: Who) -> Option<&str> {
        self.token_about(who, &self.persons[0])
    }

    /// The caller's token; `Person` is `about`'s own client, `OtherPerson` another's.
    fn token_about<'a>(&'a self, who: Who, about: &'a Person) -> Option<&'a str> {
        match who {
            Who::Person => Some(about.token.as_str()),
            Who::OtherPerson => self
                .persons
                .iter()
                .find(|p| p.member != about.member)
                .map(|p| p.token.as_str()),
            _ => self
                .tokens
                .iter()
                .find(|(w, _)| *w == who)
                .map(|(_, t)| t.as_str()),
        }
    }

    async fn request(
        &self,
        who: Who,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String) {
        self.request_about(who, &self.persons[0], method, path, body)
            .await
    }

    async fn request_about(
        &self,
        who: Who,
        about: &Person,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String) {
        let mut req = self.app.http.request(method, self.app.url(path));
        if let Some(t) = self.token_about(who, about) {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/fhir+json")
                .body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    async fn get(&self, who: Who, path: &str) -> (u16, String) {
        self.request(who, reqwest::Method::GET, path, None).await
    }

    async fn get_about(&self, who: Who, about: &Person, path: &str) -> (u16, String) {
        self.request_about(who, about, reqwest::Method::GET, path, None)
            .await
    }
}

/// The evidence an institution records for a decision the person signed.
fn evidence() -> Value {
    json!({"document": "DocumentReference/signed-form-1", "attested_by": "clerk-7"})
}

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

async fn certified_clinic(app: &TestApp, code: &str, name: &str, doctor: &str) {
    let org = json!({"name": name, "prefecture": "東京都", "city": "文京区", "certified": true,
        "functions": ["broad-consultation", "information-hub", "care-coordination", "after-hours", "home-care"]});
    admin_put(app, &format!("/admin/organizations/{code}"), org).await;
    let dr = json!({"name": format!("{name} 医師"), "organization": code, "qualifications": ["kakaritsuke-training"]});
    admin_put(app, &format!("/admin/practitioners/{doctor}"), dr).await;
}

async fn post_json(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
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

async fn world(db: TestDb) -> World {
    let app = TestApp::spawn(db).await;
    certified_clinic(&app, CLINIC_A, "さくら内科", "dr-a").await;
    certified_clinic(&app, CLINIC_B, "みどり内科", "dr-b").await;
    let tokens = vec![
        (Who::EmrA, app.emr(CLINIC_A).await),
        (Who::EmrB, app.emr(CLINIC_B).await),
        (
            Who::Pharmacy,
            app.client("pharmacy", Some(PHARMACY), None, None).await,
        ),
        (
            Who::DoctorA,
            app.client("doctor", Some(CLINIC_A), None, Some("dr-a"))
                .await,
        ),
        (
            Who::DoctorB,
            app.client("doctor", Some(CLINIC_B), None, Some("dr-b"))
                .await,
        ),
        (
            Who::Insurer,
            app.client("insurer", None, Some(INSURER), None).await,
        ),
        (
            Who::ForeignInsurer,
            app.client("insurer", None, Some(FOREIGN_INSURER), None)
                .await,
        ),
        (Who::Admin, ADMIN_TOKEN.to_owned()),
    ];
    let token = |who: Who| tokens.iter().find(|(w, _)| *w == who).unwrap().1.clone();
    let mut persons = Vec::new();
    for (i, state) in STATES.iter().enumerate() {
        let member = format!("{INSURER}:5:{}:01", 7100 + i);
        let patient = format!("matrix-{i}");
        let value = format!("{}.{}{}", 5 + i, i, i + 1);
        let resp = app
            .post_fhir(
                &token(Who::EmrA),
                "/fhir",
                &lab_bundle(&patient, &member, &[&value], "2026-10-01"),
            )
            .await;
        assert_eq!(resp.status(), 200);
        let (_, found) = app
            .get_json(
                &token(Who::EmrA),
                &format!("/fhir/Observation?patient=Patient/{patient}"),
            )
            .await;
        let observation = found["entry"][0]["resource"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        // The same clinic's prescription over HL7 v2 (PID-3 is the clinic's patient id):
        // served as a derived MedicationRequest about the same Patient.
        let order = format!("ORD{i}77");
        let rde = format!(
            "MSH|^~\\&|EMR|CLINIC|KAKARI|GW|20261001080000||RDE^O11^RDE_O11|MX-{i}|P|2.5||||||UNICODE UTF-8\r\
             PID|0001||{patient}^^^^PI||試験^太郎||19600101|M\r\
             ORC|NW|{order}||1|||||202610010755\r\
             RXE||103835401^ソラナックス０．４ｍｇ錠^HOT9|1||TAB^錠^MR9P|||||14|TAB^錠^MR9P\r\
             TQ1|1||1012040400000000&内服・経口・１日２回朝夕食後&JAMISDP01|||7^d|20261001\r\
             RXR|PO^口^HL70162\r"
        );
        let resp = app
            .http
            .post(app.url("/hl7v2"))
            .bearer_auth(token(Who::EmrA))
            .header("Content-Type", "x-application/hl7-v2+er7")
            .body(rde)
            .send()
            .await
            .unwrap();
        assert!(resp.text().await.unwrap().contains("MSA|AA"));
        match state {
            State::NotRegistered => {}
            State::ProposedByInsurer => {
                let (status, reg) = post_json(
                    &app,
                    &token(Who::Insurer),
                    "/registrations",
                    json!({"member": member, "practitioner": "dr-a", "organization": CLINIC_A,
                           "start": "2026-04-01", "consent": {"insurer_programs": true}}),
                )
                .await;
                assert_eq!(
                    (status, reg["status"].as_str()),
                    (201, Some("pending")),
                    "{reg}"
                );
            }
            _ => {
                let consent = *state != State::RegisteredNoConsent;
                let (status, reg) = post_json(
                    &app,
                    &token(Who::DoctorA),
                    "/registrations",
                    json!({"member": member, "practitioner": "dr-a", "organization": CLINIC_A,
                           "start": "2026-04-01", "consent": {"insurer_programs": consent}}),
                )
                .await;
                assert_eq!(
                    (status, reg["status"].as_str()),
                    (201, Some("active")),
                    "{reg}"
                );
                if *state == State::RegisteredRevoked {
                    let (status, _) = post_json(
                        &app,
                        &token(Who::DoctorA),
                        "/consents",
                        json!({"member": member, "insurer_programs": false, "evidence": evidence()}),
                    )
                    .await;
                    assert_eq!(status, 200);
                }
                if *state == State::Ended {
                    let resp = app
                        .http
                        .delete(app.url(&format!("/registrations/{}", reg["id"])))
                        .bearer_auth(token(Who::DoctorA))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status(), 200);
                }
                if *state == State::PendingTransfer {
                    let (status, moved) = post_json(
                        &app,
                        &token(Who::DoctorB),
                        "/registrations",
                        json!({"member": member, "practitioner": "dr-b", "organization": CLINIC_B,
                               "start": "2026-06-01", "consent": {"insurer_programs": true}}),
                    )
                    .await;
                    assert_eq!(
                        (status, moved["status"].as_str()),
                        (201, Some("pending")),
                        "{moved}"
                    );
                }
            }
        }
        let (status, person_client) = post_json(
            &app,
            &token(Who::Insurer),
            "/insurer/person-clients",
            json!({"member": member, "name": "matrix person", "identity_evidence": "insurer-record"}),
        )
        .await;
        assert_eq!(status, 201, "{person_client}");
        persons.push(Person {
            state: *state,
            order,
            token: person_client["token"].as_str().unwrap().to_owned(),
            member,
            patient,
            observation,
            value,
        });
    }
    World {
        app,
        tokens,
        persons,
    }
}

/// What a caller gets for a person: the status, and whether the person's data (or for
/// registry reads, entries) come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// This status; the body must not contain the person's data.
    Denied(u16),
    /// 200 with the person's data.
    Data,
    /// 200, but nothing about this person.
    Empty,
}

use Expect::{Data, Denied, Empty};

/// Reading a person's clinical FHIR data (read by id, search by patient). A pending
/// registration opens nothing: the proposing doctor sees nothing until the person confirms.
fn clinical_read(who: Who, state: State, by_id: bool) -> Expect {
    let hidden = if by_id { Denied(404) } else { Empty };
    match who {
        Who::EmrA => Data,
        Who::EmrB | Who::Pharmacy | Who::DoctorB => hidden,
        Who::DoctorA if state.registered() => Data,
        Who::DoctorA => hidden,
        Who::Insurer | Who::ForeignInsurer | Who::Admin | Who::Person | Who::OtherPerson => {
            Denied(403)
        }
        Who::Anonymous => Denied(401),
    }
}

/// Who the person's registered doctor is (`/registrations?member=`, `EpisodeOfCare`): to
/// every provider once a registration took effect; proposals only to their parties (the
/// person, the insurer, the proposing institution).
fn registration_read(who: Who, state: State) -> Expect {
    match who {
        Who::Person | Who::Insurer | Who::EmrA | Who::DoctorA if state.has_history() => Data,
        Who::EmrB | Who::Pharmacy | Who::DoctorB if state.took_effect() => Data,
        Who::Person | Who::Insurer | Who::EmrA | Who::DoctorA => Empty,
        Who::EmrB | Who::Pharmacy | Who::DoctorB => Empty,
        Who::ForeignInsurer | Who::Admin | Who::OtherPerson => Denied(403),
        Who::Anonymous => Denied(401),
    }
}

/// The person's consent as FHIR `Consent`: the person, the insurer, and the registered
/// institution.
fn consent_read(who: Who, state: State) -> Expect {
    match who {
        Who::EmrA | Who::DoctorA if state.registered() => Data,
        Who::EmrA | Who::DoctorA | Who::EmrB | Who::DoctorB => Empty,
        Who::Insurer | Who::Person if state.has_consent() => Data,
        Who::Insurer | Who::Person => Empty,
        Who::Pharmacy | Who::ForeignInsurer | Who::Admin | Who::OtherPerson => Denied(403),
        Who::Anonymous => Denied(401),
    }
}

/// Recording the person's consent decision (`POST /consents`, with the institution's
/// evidence): the person, the registered institution, the insurer only a withdrawal.
fn consent_write(who: Who, state: State, insurer_programs: bool) -> u16 {
    match who {
        Who::Anonymous => 401,
        Who::Pharmacy | Who::Admin => 403,
        _ if !state.registered() => 404,
        Who::EmrA | Who::DoctorA | Who::Person => 200,
        Who::Insurer if insurer_programs => 403,
        Who::Insurer => 200,
        Who::EmrB | Who::DoctorB | Who::ForeignInsurer | Who::OtherPerson => 403,
    }
}

/// Writing a lab value about the person (`POST /fhir/Observation`).
fn clinical_write(who: Who) -> u16 {
    match who {
        Who::EmrA => 201,
        Who::Anonymous => 401,
        // Writers of other institutions: the patient is not one they may name, answered
        // exactly as for a patient that does not exist (institution_ids.rs).
        Who::EmrB | Who::Pharmacy => 422,
        _ => 403,
    }
}

/// The insurer's lab pull: whose values it returns.
fn pulled(who: Who, state: State) -> Expect {
    match who {
        Who::Insurer if state.registered() && state.consent_in_force() => Data,
        // Every insurer may pull; it gets its own consenting members only.
        Who::Insurer | Who::ForeignInsurer => Empty,
        Who::Anonymous => Denied(401),
        _ => Denied(403),
    }
}

/// The consolidated medication list: the registered doctor and the registered
/// institution's EMR, while registered; everyone else the same 403.
fn medication_list(who: Who, state: State) -> Expect {
    match who {
        Who::DoctorA | Who::EmrA if state.registered() => Data,
        Who::Anonymous => Denied(401),
        _ => Denied(403),
    }
}

/// The person's own view (`GET /me`): only the person's client, and only their own.
fn own_view(who: Who) -> Expect {
    match who {
        Who::Person => Data,
        Who::OtherPerson => Empty,
        Who::Anonymous => Denied(401),
        _ => Denied(403),
    }
}

/// The body without a Bundle's `link` array (the echo of the request's own query).
fn without_links(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(mut bundle)) => {
            bundle.remove("link");
            Value::Object(bundle).to_string()
        }
        _ => body.to_owned(),
    }
}

fn assert_no_leak(body: &str, p: &Person, context: &str) {
    assert_nothing_but_member(body, p, context);
    assert!(
        !body.contains(p.member.as_str()),
        "{context}: a denied or empty answer reveals the member id: {body}"
    );
}

/// For requests that named the member: only the member id may come back.
fn assert_nothing_but_member(body: &str, p: &Person, context: &str) {
    for secret in [&p.patient, &p.value, &p.observation] {
        assert!(
            !body.contains(secret.as_str()),
            "{context}: a denied or empty answer reveals {secret}: {body}"
        );
    }
}

fn check(expect: Expect, status: u16, body: &str, p: &Person, data_marker: &str, context: &str) {
    match expect {
        Denied(code) => {
            assert_eq!(status, code, "{context}: {body}");
            assert_no_leak(body, p, context);
        }
        Data => {
            assert_eq!(status, 200, "{context}: {body}");
            assert!(
                body.contains(data_marker),
                "{context}: expected {data_marker} in {body}"
            );
        }
        Empty => {
            assert_eq!(status, 200, "{context}: {body}");
            assert!(
                !body.contains(data_marker),
                "{context}: expected nothing about the person: {body}"
            );
            if context.contains("member") {
                assert_nothing_but_member(body, p, context);
            } else {
                assert_no_leak(body, p, context);
            }
        }
    }
}

/// Reading an inquiry about the person: its two parties only (the insurer that asked, the
/// registered doctor it was routed to); other doctors and insurers as if it did not exist;
/// roles that are never a party refused before anything is looked up.
fn inquiry_read(who: Who) -> Expect {
    match who {
        Who::Insurer | Who::DoctorA => Data,
        Who::DoctorB | Who::ForeignInsurer => Denied(404),
        Who::Anonymous => Denied(401),
        _ => Denied(403),
    }
}

on_both_databases_async!(
    the_access_matrix_holds_for_every_role_endpoint_and_state,
    inquiries_follow_the_registration_state,
    concurrent_registrations_leave_exactly_one_active,
    the_registry_is_served_as_fhir,
);

async fn the_access_matrix_holds_for_every_role_endpoint_and_state(db: TestDb) {
    let w = world(db).await;
    let mut checked = 0;
    for p in &w.persons {
        for who in EVERYONE {
            let ctx = |endpoint: &str| format!("{who:?} × {endpoint} × {:?}", p.state);
            // Clinical data through FHIR.
            let (status, body) = w
                .get_about(who, p, &format!("/fhir/Observation/{}", p.observation))
                .await;
            check(
                clinical_read(who, p.state, true),
                status,
                &body,
                p,
                &p.value,
                &ctx("read Observation"),
            );
            let (status, body) = w
                .get_about(
                    who,
                    p,
                    &format!("/fhir/Observation?patient=Patient/{}", p.patient),
                )
                .await;
            // The searchset's self link echoes the caller's own query (which named the
            // patient); everything else in the answer must reveal nothing.
            let body = without_links(&body);
            check(
                clinical_read(who, p.state, false),
                status,
                &body,
                p,
                &p.value,
                &ctx("search Observation"),
            );
            let (status, body) = w
                .get_about(who, p, &format!("/fhir/Patient/{}", p.patient))
                .await;
            let expect = clinical_read(who, p.state, true);
            check(expect, status, &body, p, &p.patient, &ctx("read Patient"));
            if expect == Data {
                // The registered doctor is on the Patient exactly while registered.
                assert_eq!(
                    body.contains("generalPractitioner"),
                    p.state.registered(),
                    "{}: {body}",
                    ctx("Patient.generalPractitioner")
                );
            }
            // Who the doctor is.
            let (status, body) = w
                .get_about(who, p, &format!("/registrations?member={}", p.member))
                .await;
            let expect = registration_read(who, p.state);
            // The member id is echoed back to those allowed to ask; "dr-a" marks data.
            check(
                expect,
                status,
                &body,
                p,
                "dr-a",
                &ctx("GET /registrations?member"),
            );
            if expect == Data {
                assert_eq!(
                    body.contains("\"current\":null"),
                    !p.state.registered(),
                    "{}: {body}",
                    ctx("current registration")
                );
            }
            let (status, body) = w
                .get_about(who, p, &format!("/fhir/EpisodeOfCare?member={}", p.member))
                .await;
            check(
                expect,
                status,
                &body,
                p,
                "dr-a",
                &ctx("search EpisodeOfCare"),
            );
            let (status, body) = w
                .get_about(who, p, &format!("/fhir/Consent?member={}", p.member))
                .await;
            let expect = consent_read(who, p.state);
            check(
                expect,
                status,
                &body,
                p,
                "\"resourceType\":\"Consent\"",
                &ctx("search Consent"),
            );
            if expect == Data {
                let permit = p.state.consent_in_force();
                let bundle: Value = serde_json::from_str(&body).unwrap();
                let active = bundle["entry"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|e| e["resource"]["status"] == "active")
                    .unwrap();
                assert_eq!(
                    active["resource"]["provision"]["type"],
                    if permit { "permit" } else { "deny" },
                    "{}",
                    ctx("consent in force")
                );
            }
            // A record that arrived as HL7 v2, served as FHIR under the same rules.
            let (status, body) = w
                .get_about(
                    who,
                    p,
                    &format!("/fhir/MedicationRequest?patient=Patient/{}", p.patient),
                )
                .await;
            let body = without_links(&body);
            check(
                clinical_read(who, p.state, false),
                status,
                &body,
                p,
                &p.order,
                &ctx("search HL7 v2 MedicationRequest"),
            );
            // The consolidated medication list.
            let (status, body) = w
                .get_about(
                    who,
                    p,
                    &format!(
                        "/fhir/Patient/$medication-list?member={}&asOf=2026-10-20",
                        p.member
                    ),
                )
                .await;
            check(
                medication_list(who, p.state),
                status,
                &body,
                p,
                "103835401",
                &ctx("$medication-list member"),
            );
            // The person's own view.
            let (status, body) = w.get_about(who, p, "/me").await;
            check(
                own_view(who),
                status,
                &body,
                p,
                &p.member,
                &ctx("GET /me member"),
            );
            if own_view(who) == Data {
                let me: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(
                    me["current"].is_null(),
                    !p.state.registered(),
                    "{}",
                    ctx("GET /me current")
                );
                let pending = me["pending"].as_array().unwrap().len();
                let waiting = matches!(p.state, State::PendingTransfer | State::ProposedByInsurer);
                assert_eq!(pending, usize::from(waiting), "{}", ctx("GET /me pending"));
            }
            checked += 10;
        }
    }
    // The insurer's pull: exactly the consenting, registered member.
    for who in EVERYONE {
        let (status, body) = w
            .get(who, "/insurer/lab-results?format=csv&limit=1000")
            .await;
        for p in &w.persons {
            check(
                pulled(who, p.state),
                status,
                &body,
                p,
                &p.value,
                &format!("{who:?} × pull × {:?}", p.state),
            );
            checked += 1;
        }
    }
    // Writes: consent decisions (re-recording the decision in force changes nothing) and
    // clinical data.
    for p in &w.persons {
        let current = p.state.registered() && p.state.consent_in_force();
        for who in EVERYONE {
            let ctx = format!("{who:?} × POST /consents × {:?}", p.state);
            let (status, body) = w
                .request_about(
                    who,
                    p,
                    reqwest::Method::POST,
                    "/consents",
                    Some(json!({"member": p.member, "insurer_programs": current,
                                "evidence": evidence()})),
                )
                .await;
            assert_eq!(
                status,
                consent_write(who, p.state, current),
                "{ctx}: {body}"
            );
            if status != 200 {
                assert_no_leak(&body, p, &ctx);
            }
            let obs = json!({"resourceType": "Observation", "status": "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
                "code": {"coding": [{"system": "urn:oid:1.2.392.200119.4.504", "code": "3D046000001906202"}]},
                "subject": {"reference": format!("Patient/{}", p.patient)},
                "effectiveDateTime": "2026-11-02T09:00:00+09:00",
                "valueQuantity": {"value": 6.1, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}});
            let (status, body) = w
                .request_about(
                    who,
                    p,
                    reqwest::Method::POST,
                    "/fhir/Observation",
                    Some(obs),
                )
                .await;
            let ctx = format!("{who:?} × POST Observation × {:?}", p.state);
            assert_eq!(status, clinical_write(who), "{ctx}: {body}");
            if status != 201 {
                assert_no_leak(&body, p, &ctx);
            }
            checked += 2;
        }
    }
    // Endpoints without a person: who may call them at all.
    let providers_insurers_persons: &[Who] = &[
        Who::EmrA,
        Who::EmrB,
        Who::Pharmacy,
        Who::DoctorA,
        Who::DoctorB,
        Who::Insurer,
        Who::ForeignInsurer,
        Who::Person,
        Who::OtherPerson,
    ];
    let role_only: [(&str, reqwest::Method, &str, &[Who]); 18] = [
        (
            "notifications",
            reqwest::Method::GET,
            "/notifications",
            providers_insurers_persons,
        ),
        (
            "person clients",
            reqwest::Method::POST,
            "/insurer/person-clients",
            &[Who::Admin, Who::Insurer, Who::ForeignInsurer],
        ),
        (
            "access log",
            reqwest::Method::GET,
            "/me/access",
            &[Who::Person, Who::OtherPerson],
        ),
        (
            "own consent",
            reqwest::Method::PUT,
            "/me/consent",
            &[Who::Person, Who::OtherPerson],
        ),
        (
            "admin clients",
            reqwest::Method::GET,
            "/admin/clients",
            &[Who::Admin],
        ),
        (
            "admin audit",
            reqwest::Method::GET,
            "/admin/audit?outcome=denied",
            &[Who::Admin],
        ),
        (
            "admin organization",
            reqwest::Method::PUT,
            "/admin/organizations/1319999999",
            &[Who::Admin],
        ),
        (
            "claims",
            reqwest::Method::POST,
            "/insurer/claims",
            &[Who::Insurer, Who::ForeignInsurer],
        ),
        (
            "hl7v2",
            reqwest::Method::POST,
            "/hl7v2",
            &[Who::EmrA, Who::EmrB, Who::Pharmacy],
        ),
        (
            "ssmix2",
            reqwest::Method::POST,
            "/ssmix2",
            &[Who::EmrA, Who::EmrB, Who::Pharmacy],
        ),
        (
            "inquiry create",
            reqwest::Method::POST,
            "/fhir/Task",
            &[Who::Insurer, Who::ForeignInsurer],
        ),
        (
            "inquiry search",
            reqwest::Method::GET,
            "/fhir/Task",
            &[
                Who::DoctorA,
                Who::DoctorB,
                Who::Insurer,
                Who::ForeignInsurer,
            ],
        ),
        (
            "subscription create",
            reqwest::Method::POST,
            "/fhir/Subscription",
            &[
                Who::EmrA,
                Who::EmrB,
                Who::Pharmacy,
                Who::DoctorA,
                Who::DoctorB,
                Who::Insurer,
                Who::ForeignInsurer,
                Who::Person,
                Who::OtherPerson,
            ],
        ),
        (
            "need post",
            reqwest::Method::POST,
            "/insurer/needs",
            &[Who::Insurer, Who::ForeignInsurer],
        ),
        (
            "region needs",
            reqwest::Method::GET,
            "/needs",
            &[Who::EmrA, Who::EmrB, Who::DoctorA, Who::DoctorB],
        ),
        (
            "own needs",
            reqwest::Method::GET,
            "/me/needs",
            &[Who::Person, Who::OtherPerson],
        ),
        (
            "survey answer",
            reqwest::Method::POST,
            "/fhir/QuestionnaireResponse",
            &[
                Who::Insurer,
                Who::ForeignInsurer,
                Who::Person,
                Who::OtherPerson,
            ],
        ),
        (
            "healthcare services",
            reqwest::Method::GET,
            "/fhir/HealthcareService",
            &[
                Who::EmrA,
                Who::EmrB,
                Who::Pharmacy,
                Who::DoctorA,
                Who::DoctorB,
                Who::Insurer,
                Who::ForeignInsurer,
                Who::Admin,
                Who::Person,
                Who::OtherPerson,
            ],
        ),
    ];
    for (name, method, path, allowed) in role_only {
        for who in EVERYONE {
            let body = (method != reqwest::Method::GET).then(|| json!({"not": "valid"}));
            let (status, text) = w.request(who, method.clone(), path, body).await;
            let context = format!("{who:?} × {name}");
            if who == Who::Anonymous {
                assert_eq!(status, 401, "{context}: {text}");
            } else if allowed.contains(&who) {
                // Past the access check: the answer is about the request itself.
                assert!(
                    ![401, 403, 500].contains(&status),
                    "{context}: {status} {text}"
                );
            } else {
                assert_eq!(status, 403, "{context}: {text}");
            }
            checked += 1;
        }
    }
    // The public directory needs no token at all.
    let (status, body) = w
        .get(
            Who::Anonymous,
            "/directory/organizations?function=home-care",
        )
        .await;
    assert_eq!(status, 200);
    assert!(body.contains(CLINIC_A) && body.contains(CLINIC_B), "{body}");
    assert!(checked > 400, "{checked} checks");
}

/// An inquiry about a person in each state: routed to the registered doctor when there is
/// one (also while a transfer waits for the person), refused without leaking anything
/// otherwise; read by its two parties only.
async fn inquiries_follow_the_registration_state(db: TestDb) {
    let w = world(db).await;
    for p in &w.persons {
        let task = json!({"resourceType": "Task", "status": "requested", "intent": "order",
            "code": {"coding": [{"system": "urn:kakari:inquiry-type", "code": "untreated-high-risk"}]},
            "description": "受診勧奨値です。ご確認ください。",
            "for": {"identifier": {"system": "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID", "value": p.member}}});
        let (status, body) = w
            .request_about(
                Who::Insurer,
                p,
                reqwest::Method::POST,
                "/fhir/Task",
                Some(task),
            )
            .await;
        let context = format!("{:?} × inquiry create", p.state);
        if !p.state.registered() {
            assert_eq!(status, 422, "{context}: {body}");
            assert!(
                body.contains("inquiry.no_registered_doctor"),
                "{context}: {body}"
            );
            assert_no_leak(&body, p, &context);
            continue;
        }
        assert_eq!(status, 201, "{context}: {body}");
        let created: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(created["owner"]["identifier"]["value"], "dr-a", "{context}");
        let path = format!("/fhir/Task/{}", created["id"].as_str().unwrap());
        for who in EVERYONE {
            let (status, body) = w.get_about(who, p, &path).await;
            let context = format!("{who:?} × {:?} × inquiry read", p.state);
            check(inquiry_read(who), status, &body, p, &p.member, &context);
        }
    }
}

async fn concurrent_registrations_leave_exactly_one_active(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let clinics: Vec<(String, String)> = (0..6)
        .map(|i| (format!("13{:08}", 20000000 + i), format!("dr-c{i}")))
        .collect();
    let mut emrs = Vec::new();
    for (code, doctor) in &clinics {
        certified_clinic(&app, code, &format!("クリニック{doctor}"), doctor).await;
        emrs.push(app.emr(code).await);
    }
    let insurer = app.client("insurer", None, Some(INSURER), None).await;
    for round in 0..3 {
        let member = format!("{INSURER}:9:{}:01", 8800 + round);
        // Every clinic registers the person at once, each with the person's signed request:
        // each takes effect in turn, ending the one before.
        let mut tasks = Vec::new();
        for ((code, doctor), emr) in clinics.clone().into_iter().zip(emrs.clone()) {
            let http = app.http.clone();
            let url = app.url("/registrations");
            let member = member.clone();
            tasks.push(actix_web::rt::spawn(async move {
                let resp = http
                    .post(url)
                    .bearer_auth(emr)
                    .json(
                        &json!({"member": member, "practitioner": doctor, "organization": code,
                                  "start": "2026-05-01", "consent": {"insurer_programs": true},
                                  "evidence": evidence()}),
                    )
                    .send()
                    .await
                    .unwrap();
                resp.status().as_u16()
            }));
        }
        for t in tasks {
            assert_eq!(
                t.await.unwrap(),
                201,
                "every registration is accepted in turn"
            );
        }
        let (status, body) = app
            .get_json(&insurer, &format!("/registrations?member={member}"))
            .await;
        assert_eq!(status, 200);
        let history = body["history"].as_array().unwrap();
        assert_eq!(history.len(), clinics.len(), "history is kept: {body}");
        let active: Vec<&Value> = history.iter().filter(|r| r["status"] == "active").collect();
        assert_eq!(active.len(), 1, "exactly one active: {body}");
        assert_eq!(body["current"]["id"], active[0]["id"]);
        // The one that stayed active is the newest (the last to commit).
        let newest = history
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .max()
            .unwrap();
        assert_eq!(active[0]["id"].as_i64().unwrap(), newest);
    }
}

async fn the_registry_is_served_as_fhir(db: TestDb) {
    let w = world(db).await;
    let registered = &w.persons[0];
    let doctor = w.token(Who::DoctorA).unwrap();
    // The doctor's panel: every registration with them, newest first, paged.
    let (status, panel) = w
        .app
        .get_json(doctor, "/fhir/EpisodeOfCare?status=active&_count=2")
        .await;
    assert_eq!(status, 200, "{panel}");
    // Registered with consent, without, revoked, and the one whose transfer is pending.
    assert_eq!(panel["total"], 4, "{panel}");
    assert_eq!(panel["entry"].as_array().unwrap().len(), 2);
    let next = panel["link"][1]["url"].as_str().unwrap();
    let next_path = next.strip_prefix(&w.app.base).unwrap();
    let (_, rest) = w.app.get_json(doctor, next_path).await;
    assert_eq!(rest["entry"].as_array().unwrap().len(), 2, "{rest}");
    let episode = &panel["entry"][0]["resource"];
    assert_eq!(episode["status"], "active");
    assert_eq!(episode["careManager"]["identifier"]["value"], "dr-a");
    assert_eq!(
        episode["managingOrganization"]["identifier"]["value"],
        CLINIC_A
    );
    // Read by id: the parties only; others get the same 404 as for no registration.
    let id = episode["id"].as_str().unwrap();
    let (status, _) = w
        .app
        .get_json(doctor, &format!("/fhir/EpisodeOfCare/{id}"))
        .await;
    assert_eq!(status, 200);
    let (status, hidden) = w
        .app
        .get_json(
            w.token(Who::DoctorB).unwrap(),
            &format!("/fhir/EpisodeOfCare/{id}"),
        )
        .await;
    let (status_missing, missing) = w
        .app
        .get_json(w.token(Who::DoctorB).unwrap(), "/fhir/EpisodeOfCare/999999")
        .await;
    assert_eq!((status, status_missing), (404, 404));
    assert_eq!(
        hidden["issue"][0]["details"],
        missing["issue"][0]["details"]
    );
    // A pharmacy without naming a person gets nothing to enumerate.
    let (status, _) = w
        .app
        .get_json(w.token(Who::Pharmacy).unwrap(), "/fhir/EpisodeOfCare")
        .await;
    assert_eq!(status, 400);
    // By patient: only a Patient the caller may read names a person.
    let (_, by_patient) = w
        .app
        .get_json(
            w.token(Who::EmrA).unwrap(),
            &format!("/fhir/EpisodeOfCare?patient=Patient/{}", registered.patient),
        )
        .await;
    assert_eq!(by_patient["total"], 1, "{by_patient}");
    let (_, foreign) = w
        .app
        .get_json(
            w.token(Who::EmrB).unwrap(),
            &format!("/fhir/EpisodeOfCare?patient=Patient/{}", registered.patient),
        )
        .await;
    assert_eq!(foreign["total"], 0, "{foreign}");
    // Consent history: the decision in force is active, earlier ones inactive.
    let revoked = &w.persons[2];
    let (_, consents) = w
        .app
        .get_json(doctor, &format!("/fhir/Consent?member={}", revoked.member))
        .await;
    let statuses: Vec<(&str, &str)> = consents["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["resource"]["status"].as_str().unwrap(),
                e["resource"]["provision"]["type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(statuses, [("active", "deny"), ("inactive", "permit")]);
    // Registry types are read-only.
    let resp = w
        .app
        .post_fhir(
            w.token(Who::EmrA).unwrap(),
            "/fhir/EpisodeOfCare",
            &json!({"resourceType": "EpisodeOfCare"}),
        )
        .await;
    assert_eq!(resp.status(), 405);
    // The directory as HealthcareService, by function.
    let (status, services) = w
        .app
        .get_json(
            w.token(Who::Insurer).unwrap(),
            "/fhir/HealthcareService?characteristic=home-care&prefecture=13",
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(services["total"], 2, "{services}");
    let a = services["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["id"] == CLINIC_A)
        .unwrap();
    assert_eq!(a["resource"]["extension"][0]["valueString"], "<10");
    assert_eq!(a["resource"]["contained"][0]["address"]["state"], "東京都");
    let (status, _) = w
        .app
        .get_json(
            w.token(Who::Insurer).unwrap(),
            "/fhir/HealthcareService?characteristic=no-such",
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = w
        .app
        .get_json(
            w.token(Who::Insurer).unwrap(),
            "/fhir/HealthcareService?colour=red",
        )
        .await;
    assert_eq!(status, 400);
    // Everything served validates against the FHIR R4 schema.
    for resource in [episode, &consents["entry"][0]["resource"], &a["resource"]] {
        crate::schemas::assert_valid_fhir(resource);
    }
}
