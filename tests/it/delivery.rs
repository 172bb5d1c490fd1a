//! Subscriptions and their delivery (issue 13 item 3), on both databases, against a local
//! receiver (plain http on loopback, allowed by `delivery_allow_loopback` as
//! `KAKARI_DELIVERY_ALLOW_LOOPBACK=1` does): a receiver that is up (signed, ordered,
//! complete notifications), answering 500, slow, down (dead letter, `error`, redelivered)
//! and restarted; a gateway process killed between commit and delivery and restarted;
//! two instances on one PostgreSQL delivering without sending anything twice. Also who
//! may subscribe to what, and the endpoint rules (https, no private addresses).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use crate::insurer::{CLINIC, INSURER};
use crate::on_both_databases_async;
use crate::schemas::assert_valid_fhir;
use crate::support::{ADMIN_TOKEN, TestApp, TestDb, outcome_code};

/// One request the receiver saw.
#[derive(Debug, Clone)]
struct Seen {
    event_number: i64,
    idempotency_key: String,
    signature: String,
    body: Vec<u8>,
    /// What the receiver answered (0: it was still working when the sender gave up).
    answered: u16,
}

#[derive(Default)]
struct ReceiverState {
    /// Answer 500 to this many requests.
    fail_next: AtomicUsize,
    /// Answer this many requests only after `SLOW`.
    slow_next: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
}

const SLOW: Duration = Duration::from_millis(1500);

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<ReceiverState>,
) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let index = {
        let mut seen = state.seen.lock().unwrap();
        seen.push(Seen {
            event_number: header("Kakari-Event-Number").parse().unwrap_or(-1),
            idempotency_key: header("Idempotency-Key"),
            signature: header("Kakari-Signature"),
            body: body.to_vec(),
            answered: 0,
        });
        seen.len() - 1
    };
    let take = |counter: &AtomicUsize| {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    };
    let status = if take(&state.fail_next) {
        500
    } else {
        if take(&state.slow_next) {
            tokio::time::sleep(SLOW).await;
        }
        200
    };
    state.seen.lock().unwrap()[index].answered = status;
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

/// A webhook receiver on a fixed loopback port, restartable.
struct Receiver {
    addr: SocketAddr,
    state: web::Data<ReceiverState>,
    handle: Option<actix_web::dev::ServerHandle>,
}

impl Receiver {
    async fn start() -> Self {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut r = Receiver {
            addr,
            state: web::Data::new(ReceiverState::default()),
            handle: None,
        };
        r.up().await;
        r
    }

    async fn up(&mut self) {
        let state = self.state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .default_service(web::to(receive))
        })
        .workers(2)
        .bind(self.addr)
        .expect("receiver binds its port again")
        .run();
        self.handle = Some(server.handle());
        actix_web::rt::spawn(server);
    }

    async fn down(&mut self) {
        if let Some(h) = self.handle.take() {
            h.stop(false).await;
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Event numbers answered 2xx, in the order they were received.
    fn delivered(&self) -> Vec<i64> {
        self.seen()
            .iter()
            .filter(|s| s.answered == 200)
            .map(|s| s.event_number)
            .collect()
    }

    /// Waits until every number in `1..=n` was answered 2xx.
    async fn wait_for(&self, n: i64, within: Duration) {
        let start = Instant::now();
        loop {
            let got: BTreeSet<i64> = self.delivered().into_iter().collect();
            if (1..=n).all(|i| got.contains(&i)) {
                return;
            }
            assert!(
                start.elapsed() < within,
                "only {got:?} of 1..={n} delivered; seen {:?}",
                self.seen()
                    .iter()
                    .map(|s| (s.event_number, s.answered))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn fast_delivery(c: &mut kakari::config::Config) {
    c.delivery_allow_loopback = true;
    c.delivery_poll_millis = 50;
    c.delivery_backoff_millis = 50;
    c.delivery_backoff_cap_millis = 200;
    c.delivery_timeout_millis = 500;
    c.delivery_max_attempts = 4;
}

/// A gateway with a certified clinic and doctor and an insurer, the receiver, and the
/// insurer subscribed to registration events at the receiver.
struct Scene {
    app: TestApp,
    doctor: String,
    insurer: String,
    receiver: Receiver,
    subscription: String,
    secret: String,
}

async fn admin_setup(http: &reqwest::Client, base: &str) -> (String, String) {
    for (path, body) in [
        (
            format!("/admin/organizations/{CLINIC}"),
            json!({"name": "さくら内科", "prefecture": "東京都", "city": "文京区", "certified": true,
                   "functions": ["broad-consultation", "information-hub", "care-coordination", "after-hours"]}),
        ),
        (
            "/admin/practitioners/dr-1".to_owned(),
            json!({"name": "桜井 直子", "organization": CLINIC, "qualifications": []}),
        ),
    ] {
        let resp = http
            .put(format!("{base}{path}"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{path}");
    }
    let mut tokens = Vec::new();
    for body in [
        json!({"name": "doctor", "role": "doctor", "facility": CLINIC, "practitioner": "dr-1"}),
        json!({"name": "insurer", "role": "insurer", "insurer": INSURER}),
    ] {
        let resp = http
            .post(format!("{base}/admin/clients"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let v: Value = resp.json().await.unwrap();
        tokens.push(v["token"].as_str().unwrap().to_owned());
    }
    (tokens.remove(0), tokens.remove(0))
}

fn subscription_body(endpoint: &str, topic: &str, content: &str) -> Value {
    json!({"resourceType": "Subscription", "status": "requested", "reason": "test",
           "criteria": topic,
           "channel": {"type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json",
                       "_payload": {"extension": [{"url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content",
                                                   "valueCode": content}]},
                       "header": ["X-Receiver-Token: r-123"]}})
}

const REGISTRATION_TOPIC: &str = "urn:kakari:subscription-topic:registration";

/// Subscribes; returns (id, secret).
async fn subscribe(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    endpoint: &str,
) -> (String, String) {
    let resp = http
        .post(format!("{base}/fhir/Subscription"))
        .bearer_auth(token)
        .header("Content-Type", "application/fhir+json")
        .body(subscription_body(endpoint, REGISTRATION_TOPIC, "full-resource").to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["status"], "active");
    let secret = v["channel"]["extension"][0]["valueString"]
        .as_str()
        .unwrap()
        .to_owned();
    (v["id"].as_str().unwrap().to_owned(), secret)
}

/// Registers member `n` with dr-1: one `registration.activated` event for the insurer.
async fn register(http: &reqwest::Client, base: &str, doctor: &str, n: u32) {
    let body = json!({"member": format!("{INSURER}:9:{n}:01"), "practitioner": "dr-1", "organization": CLINIC,
                      "start": "2026-04-01", "consent": {"insurer_programs": true}});
    let resp = http
        .post(format!("{base}/registrations"))
        .bearer_auth(doctor)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
}

async fn scene(db: TestDb) -> Scene {
    let app = TestApp::spawn_with(db, fast_delivery).await;
    let (doctor, insurer) = admin_setup(&app.http, &app.base).await;
    let receiver = Receiver::start().await;
    let (subscription, secret) = subscribe(&app.http, &app.base, &insurer, &receiver.url()).await;
    Scene {
        app,
        doctor,
        insurer,
        receiver,
        subscription,
        secret,
    }
}

impl Scene {
    /// Waits until nothing is pending (the worker recorded every answer).
    async fn wait_until_settled(&self) {
        let start = Instant::now();
        while self.status().await.2 > 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "still pending");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn register(&self, n: u32) {
        register(&self.app.http, &self.app.base, &self.doctor, n).await;
    }

    /// The `$status` Parameters: (status, events since start, pending, dead).
    async fn status(&self) -> (String, i64, i64, i64) {
        let (code, bundle) = self
            .app
            .get_json(
                &self.insurer,
                &format!("/fhir/Subscription/{}/$status", self.subscription),
            )
            .await;
        assert_eq!(code, 200, "{bundle}");
        let p = &bundle["entry"][0]["resource"];
        let param = |name: &str| {
            p["parameter"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["name"] == name)
                .cloned()
                .unwrap_or(Value::Null)
        };
        let ext = |suffix: &str| {
            p["extension"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["url"].as_str().unwrap().ends_with(suffix))
                .map(|e| e["valueInteger"].as_i64().unwrap())
                .unwrap()
        };
        (
            param("status")["valueCode"].as_str().unwrap().to_owned(),
            param("events-since-subscription-start")["valueString"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
            ext("deliveries-pending"),
            ext("deliveries-dead"),
        )
    }
}

on_both_databases_async!(
    notifications_are_signed_ordered_and_complete,
    a_failing_or_slow_receiver_gets_retries_in_order,
    a_receiver_down_dead_letters_then_redelivery_loses_nothing,
    who_may_subscribe_and_where_to,
);

async fn notifications_are_signed_ordered_and_complete(db: TestDb) {
    let s = scene(db).await;
    for n in 1..=3 {
        s.register(n).await;
    }
    s.receiver.wait_for(3, Duration::from_secs(20)).await;
    assert_eq!(s.receiver.delivered(), [1, 2, 3]);
    for seen in s.receiver.seen() {
        // Signed over timestamp and body with the secret shown at creation.
        assert!(
            kakari::delivery::signature::verify(&s.secret, &seen.signature, &seen.body).is_some(),
            "signature"
        );
        assert!(
            kakari::delivery::signature::verify("another secret", &seen.signature, &seen.body)
                .is_none()
        );
        assert_eq!(
            seen.idempotency_key,
            format!("kakari-{}-{}", s.subscription, seen.event_number)
        );
        let bundle: Value = serde_json::from_slice(&seen.body).unwrap();
        assert_valid_fhir(&bundle);
        assert_eq!(bundle["type"], "history");
        let status = &bundle["entry"][0]["resource"];
        assert_eq!(status["resourceType"], "Parameters");
        let event = status["parameter"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "notification-event")
            .unwrap();
        assert_eq!(
            event["part"][0]["valueString"],
            seen.event_number.to_string()
        );
        assert_eq!(
            bundle["entry"][1]["resource"]["resourceType"],
            "EpisodeOfCare"
        );
    }
    s.wait_until_settled().await;
    let (status, events, pending, dead) = s.status().await;
    assert_eq!(
        (status.as_str(), events, pending, dead),
        ("active", 3, 0, 0)
    );
    // The subscriber's own headers were sent along.
    let (code, sub) = s
        .app
        .get_json(
            &s.insurer,
            &format!("/fhir/Subscription/{}", s.subscription),
        )
        .await;
    assert_eq!(code, 200);
    assert_valid_fhir(&sub);
    assert!(
        sub["channel"].get("extension").is_none(),
        "the secret is shown once"
    );
    // A revoked client receives nothing more; its notification waits in the queue.
    let client_id = s.insurer.split('_').nth(1).unwrap();
    let resp = s
        .app
        .http
        .delete(s.app.url(&format!("/admin/clients/{client_id}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    s.register(4).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(s.receiver.delivered(), [1, 2, 3]);
    let (code, bundle) = s
        .app
        .get_json(
            ADMIN_TOKEN,
            &format!("/fhir/Subscription/{}/$status", s.subscription),
        )
        .await;
    assert_eq!(code, 200);
    assert!(
        bundle
            .to_string()
            .contains("deliveries-pending\",\"valueInteger\":1"),
        "one pending: {bundle}"
    );
}

async fn a_failing_or_slow_receiver_gets_retries_in_order(db: TestDb) {
    let s = scene(db).await;
    s.receiver.state.fail_next.store(2, Ordering::SeqCst);
    s.receiver.state.slow_next.store(1, Ordering::SeqCst);
    for n in 1..=3 {
        s.register(n).await;
    }
    s.receiver.wait_for(3, Duration::from_secs(30)).await;
    let attempts: Vec<i64> = s.receiver.seen().iter().map(|x| x.event_number).collect();
    // 500, 500, then a timeout (slow), then delivered: event 1 four times before event 2.
    assert!(attempts.len() >= 6, "{attempts:?}");
    assert!(
        attempts.windows(2).all(|w| w[0] <= w[1]),
        "out of order: {attempts:?}"
    );
    assert_eq!(&attempts[..3], [1, 1, 1]);
    // Every attempt of one event carries the same idempotency key.
    let keys: BTreeMap<i64, BTreeSet<String>> =
        s.receiver.seen().iter().fold(BTreeMap::new(), |mut m, x| {
            m.entry(x.event_number)
                .or_default()
                .insert(x.idempotency_key.clone());
            m
        });
    assert!(keys.values().all(|k| k.len() == 1), "{keys:?}");
    s.wait_until_settled().await;
    let (status, _, pending, dead) = s.status().await;
    assert_eq!((status.as_str(), pending, dead), ("active", 0, 0));
}

async fn a_receiver_down_dead_letters_then_redelivery_loses_nothing(db: TestDb) {
    let mut s = scene(db).await;
    s.receiver.down().await;
    s.register(1).await;
    s.register(2).await;
    // Four attempts of event 1 fail; it is dead-lettered and the subscription is `error`;
    // event 2 waits behind it, never dropped.
    let start = Instant::now();
    loop {
        let (status, events, pending, dead) = s.status().await;
        if status == "error" {
            assert_eq!((events, pending, dead), (2, 1, 1));
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never dead-lettered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, sub) = s
        .app
        .get_json(
            &s.insurer,
            &format!("/fhir/Subscription/{}", s.subscription),
        )
        .await;
    assert_eq!((code, sub["status"].as_str()), (200, Some("error")));
    assert!(sub["error"].as_str().unwrap().contains("connect"), "{sub}");
    // Events go on being queued while it is in error.
    s.register(3).await;
    s.receiver.up().await;
    // Someone else's subscription is not theirs to redeliver.
    let other = s.app.client("insurer", None, Some(INSURER), None).await;
    let resp = s
        .app
        .http
        .post(
            s.app
                .url(&format!("/fhir/Subscription/{}/$redeliver", s.subscription)),
        )
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let resp = s
        .app
        .http
        .post(
            s.app
                .url(&format!("/fhir/Subscription/{}/$redeliver", s.subscription)),
        )
        .bearer_auth(&s.insurer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    s.receiver.wait_for(3, Duration::from_secs(20)).await;
    assert_eq!(s.receiver.delivered(), [1, 2, 3], "in order, none lost");
    // The worker records the last answer just after the receiver gave it.
    s.wait_until_settled().await;
    let (status, events, pending, dead) = s.status().await;
    assert_eq!(
        (status.as_str(), events, pending, dead),
        ("active", 3, 0, 0)
    );
    // The operator redelivers one event that was already delivered (the receiver lost it).
    let resp = s
        .app
        .http
        .post(s.app.url(&format!(
            "/fhir/Subscription/{}/$redeliver?event=2",
            s.subscription
        )))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let start = Instant::now();
    while s.receiver.delivered().len() < 4 {
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(s.receiver.delivered(), [1, 2, 3, 2]);
}

async fn who_may_subscribe_and_where_to(db: TestDb) {
    let s = scene(db).await;
    let post = |token: String, body: Value| {
        let app = &s.app;
        async move {
            let resp = app
                .http
                .post(app.url("/fhir/Subscription"))
                .bearer_auth(token)
                .header("Content-Type", "application/fhir+json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            (status, outcome_code(&v))
        }
    };
    let inquiry = "urn:kakari:subscription-topic:inquiry";
    let lab = "urn:kakari:subscription-topic:lab-result";
    let url = s.receiver.url();
    // An institution subscribes to its registration events, not to inquiries.
    let emr = s.app.emr(CLINIC).await;
    assert_eq!(
        post(emr.clone(), subscription_body(&url, inquiry, "id-only")).await,
        (403, "subscription.topic_forbidden".into())
    );
    assert_eq!(
        post(emr, subscription_body(&url, REGISTRATION_TOPIC, "id-only"))
            .await
            .0,
        201
    );
    assert_eq!(
        post(s.doctor.clone(), subscription_body(&url, lab, "id-only")).await,
        (403, "subscription.topic_forbidden".into())
    );
    assert_eq!(
        post(
            s.insurer.clone(),
            subscription_body(&url, lab, "full-resource")
        )
        .await,
        (422, "subscription.content".into())
    );
    assert_eq!(
        post(s.insurer.clone(), subscription_body(&url, lab, "id-only"))
            .await
            .0,
        201
    );
    assert_eq!(
        post(
            ADMIN_TOKEN.to_owned(),
            subscription_body(&url, REGISTRATION_TOPIC, "id-only")
        )
        .await
        .0,
        403
    );
    assert_eq!(
        post(
            s.insurer.clone(),
            subscription_body(&url, "http://example.org/Topic/x", "id-only")
        )
        .await,
        (422, "subscription.topic_unknown".into())
    );
    // Endpoints: private, link-local and (here allowed) loopback.
    for endpoint in [
        "http://10.0.0.5/hook",
        "https://169.254.169.254/latest",
        "https://[fd00::1]/h",
        "ftp://127.0.0.1/x",
    ] {
        assert_eq!(
            post(
                s.insurer.clone(),
                subscription_body(endpoint, inquiry, "id-only")
            )
            .await
            .0,
            422,
            "{endpoint}"
        );
    }
}

/// Without `delivery_allow_loopback`, loopback and plain http are refused.
#[actix_web::test]
async fn loopback_and_plain_http_are_refused_by_default() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let insurer = app.client("insurer", None, Some(INSURER), None).await;
    for endpoint in [
        "http://127.0.0.1:9/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "http://example.org/hook",
    ] {
        let resp = app
            .post_fhir(
                &insurer,
                "/fhir/Subscription",
                &subscription_body(endpoint, REGISTRATION_TOPIC, "id-only"),
            )
            .await;
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap();
        assert_eq!(
            (status, outcome_code(&v).as_str()),
            (422, "subscription.endpoint_refused"),
            "{endpoint}: {v}"
        );
    }
}

/// Two gateway instances on one PostgreSQL deliver every event exactly once (the receiver
/// is up and quick, so nothing needs a retry): leases keep them off each other's
/// subscriptions.
#[actix_web::test]
async fn two_instances_on_one_postgres_never_send_the_same_event_twice() {
    let Some(db) = TestDb::postgres() else { return };
    let url = db.url().to_owned();
    let s = scene(db).await;
    // Two more subscribers, so the instances have several subscriptions to share.
    let mut subscriptions = vec![s.subscription.clone()];
    for _ in 0..2 {
        let token = s.app.client("insurer", None, Some(INSURER), None).await;
        subscriptions.push(
            subscribe(&s.app.http, &s.app.base, &token, &s.receiver.url())
                .await
                .0,
        );
    }
    let second = kakari::app::AppState::open(kakari::config::Config {
        database_url: url,
        admin_token: Some(ADMIN_TOKEN.into()),
        ..{
            let mut c = kakari::config::Config::default();
            fast_delivery(&mut c);
            c
        }
    })
    .unwrap();
    let worker = kakari::delivery::worker::spawn(second.clone()).unwrap();
    for n in 1..=12 {
        s.register(n).await;
    }
    let start = Instant::now();
    while s.receiver.delivered().len() < 36 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{} of 36",
            s.receiver.delivered().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = s.receiver.seen();
    let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
    for x in &seen {
        *per_key.entry(x.idempotency_key.clone()).or_default() += 1;
    }
    assert_eq!(per_key.len(), 36);
    assert!(per_key.values().all(|n| *n == 1), "sent twice: {per_key:?}");
    // Per subscription, in order.
    for id in &subscriptions {
        let numbers: Vec<i64> = seen
            .iter()
            .filter(|x| x.idempotency_key.starts_with(&format!("kakari-{id}-")))
            .map(|x| x.event_number)
            .collect();
        assert_eq!(numbers, (1..=12).collect::<Vec<_>>());
    }
    worker.abort();
    second.store.shutdown();
}

/// A `kakari serve` child process on the test's database.
struct Gateway {
    child: std::process::Child,
    base: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn kakari(db_url: &str) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_kakari"));
    c.env("KAKARI_DATABASE_URL", db_url)
        .env("KAKARI_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("KAKARI_LOG_LEVEL", "error")
        .env_remove("KAKARI_CONFIG")
        .stdin(std::process::Stdio::null());
    c
}

impl Gateway {
    async fn start(db_url: &str, port: u16, max_attempts: u32) -> Self {
        let child = kakari(db_url)
            .arg("serve")
            .env("KAKARI_LISTEN", format!("127.0.0.1:{port}"))
            .env("KAKARI_WORKERS", "2")
            // As an operator writes it: the flag as 1.
            .env("KAKARI_DELIVERY_ALLOW_LOOPBACK", "1")
            .env("KAKARI_DELIVERY_POLL_MILLIS", "50")
            .env("KAKARI_DELIVERY_BACKOFF_MILLIS", "50")
            .env("KAKARI_DELIVERY_BACKOFF_CAP_MILLIS", "200")
            .env("KAKARI_DELIVERY_TIMEOUT_MILLIS", "500")
            .env("KAKARI_DELIVERY_MAX_ATTEMPTS", max_attempts.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("kakari serve starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let start = Instant::now();
        while http.get(format!("{base}/healthz")).send().await.is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "kakari serve did not come up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Gateway { child, base }
    }

    /// SIGKILL: no shutdown, nothing flushed beyond what was committed.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn insurer_status(http: &reqwest::Client, base: &str, insurer: &str, id: &str) -> Value {
    let resp = http
        .get(format!("{base}/fhir/Subscription/{id}/$status"))
        .bearer_auth(insurer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

on_both_databases_async!(a_gateway_killed_between_commit_and_delivery_delivers_after_restart);

async fn a_gateway_killed_between_commit_and_delivery_delivers_after_restart(db: TestDb) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let port = free_port();
    let mut receiver = Receiver::start().await;
    receiver.down().await;
    // Phase 1: events committed, the process killed before any could be delivered.
    let gateway = Gateway::start(db.url(), port, 1000).await;
    let (doctor, insurer) = admin_setup(&http, &gateway.base).await;
    let (id, _) = subscribe(&http, &gateway.base, &insurer, &receiver.url()).await;
    register(&http, &gateway.base, &doctor, 1).await;
    register(&http, &gateway.base, &doctor, 2).await;
    gateway.kill();
    receiver.up().await;
    let gateway = Gateway::start(db.url(), port, 2).await;
    receiver.wait_for(2, Duration::from_secs(30)).await;
    assert_eq!(
        receiver.delivered(),
        [1, 2],
        "resumed from the database, in order"
    );

    // Phase 2: the receiver goes down, the event is dead-lettered (2 attempts), the process
    // is killed; the operator redelivers with the command; a new process delivers it.
    receiver.down().await;
    register(&http, &gateway.base, &doctor, 3).await;
    let start = Instant::now();
    loop {
        let status = insurer_status(&http, &gateway.base, &insurer, &id).await;
        if status.to_string().contains("\"valueCode\":\"error\"") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never dead-lettered: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gateway.kill();
    let dead = kakari(db.url())
        .args(["delivery", "dead"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&dead.stdout).into_owned();
    assert!(dead.status.success(), "{listing}");
    assert!(listing.contains(&format!("{id}\t3\t2\t")), "{listing}");
    assert!(listing.contains("1 dead-lettered"), "{listing}");
    let redeliver = kakari(db.url())
        .args(["delivery", "redeliver", "--subscription", &id])
        .output()
        .unwrap();
    assert!(redeliver.status.success());
    assert!(String::from_utf8_lossy(&redeliver.stdout).contains("1 notification(s) queued again"));
    receiver.up().await;
    let _gateway = Gateway::start(db.url(), port, 2).await;
    receiver.wait_for(3, Duration::from_secs(30)).await;
    assert_eq!(receiver.delivered(), [1, 2, 3]);
}

on_both_databases_async!(new_lab_values_are_notified_for_registered_consenting_members);

async fn new_lab_values_are_notified_for_registered_consenting_members(db: TestDb) {
    let app = TestApp::spawn_with(db, fast_delivery).await;
    let (doctor, insurer) = admin_setup(&app.http, &app.base).await;
    let emr = app.emr(CLINIC).await;
    let receiver = Receiver::start().await;
    let resp = app
        .post_fhir(
            &insurer,
            "/fhir/Subscription",
            &subscription_body(
                &receiver.url(),
                "urn:kakari:subscription-topic:lab-result",
                "id-only",
            ),
        )
        .await;
    assert_eq!(resp.status(), 201);
    // Member 1 registered with consent, member 2 registered without, member 3 not at all.
    for (n, consent) in [(1, true), (2, false)] {
        let body = json!({"member": format!("{INSURER}:9:{n}:01"), "practitioner": "dr-1", "organization": CLINIC,
                          "start": "2026-04-01", "consent": {"insurer_programs": consent}});
        let resp = app
            .http
            .post(app.url("/registrations"))
            .bearer_auth(&doctor)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    for n in 1..=3 {
        let bundle = crate::insurer::lab_bundle(
            &format!("lab-{n}"),
            &format!("{INSURER}:9:{n}:01"),
            &["6.9", "7.1"],
            "2026-10-01",
        );
        let resp = app.post_fhir(&emr, "/fhir", &bundle).await;
        assert_eq!(resp.status(), 200);
    }
    receiver.wait_for(1, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.delivered(),
        [1],
        "only the consenting member's values are told"
    );
    let bundle: Value = serde_json::from_slice(&receiver.seen()[0].body).unwrap();
    assert_valid_fhir(&bundle);
    let event = bundle["entry"][0]["resource"]["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "notification-event")
        .unwrap()
        .clone();
    assert_eq!(event["extension"][0]["valueString"], "lab-result.new");
    // The same event in the insurer's notifications, with what to pull.
    let (status, page) = app.get_json(&insurer, "/notifications").await;
    assert_eq!(status, 200);
    let lab: Vec<&Value> = page["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["topic"] == "lab-result.new")
        .collect();
    assert_eq!(lab.len(), 1);
    assert_eq!(lab[0]["detail"]["member"], format!("{INSURER}:9:1:01"));
    assert_eq!(lab[0]["detail"]["results"], 2);
}
