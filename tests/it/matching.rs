//! Push-type matching (issue 13 item 4), on both databases: the insurer posts a member's
//! need; certified institutions of the region (only they) see it without identity and
//! raise hands; the insurer and the member see the hands; the member accepts one and the
//! registration takes effect as the person's confirmation; no identity reaches an
//! institution before that.

use serde_json::{Value, json};

use crate::inquiries::{CLINIC_B, clinic_b};
use crate::insurer::{INSURER, world};
use crate::on_both_databases_async;
use crate::support::{ADMIN_TOKEN, TestApp, TestDb};

const OSAKA: &str = "2711234567";
const UNCERTIFIED: &str = "1319999999";

async fn call(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value, String) {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

async fn organization(app: &TestApp, code: &str, prefecture: &str, certified: bool) -> String {
    let resp = app
        .http
        .put(app.url(&format!("/admin/organizations/{code}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": format!("医院{code}"), "prefecture": prefecture, "city": "市", "certified": certified,
                      "functions": if certified { json!(["broad-consultation", "information-hub", "care-coordination", "after-hours"]) } else { json!([]) }}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    app.emr(code).await
}

on_both_databases_async!(a_member_accepts_a_raised_hand_and_is_registered);

async fn a_member_accepts_a_raised_hand_and_is_registered(db: TestDb) {
    let w = world(db).await;
    let (doctor_b, emr_b) = clinic_b(&w.app).await;
    let emr_osaka = organization(&w.app, OSAKA, "大阪府", true).await;
    let emr_uncertified = organization(&w.app, UNCERTIFIED, "東京都", false).await;
    let pharmacy = w
        .app
        .client("pharmacy", Some("1341234565"), None, None)
        .await;
    let member = format!("{INSURER}:5:8812:01");
    let (status, person, _) = call(
        &w.app,
        &w.insurer,
        reqwest::Method::POST,
        "/insurer/person-clients",
        Some(
            json!({"member": member, "name": "person app", "identity_evidence": "insurer-record"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{person}");
    let person = person["token"].as_str().unwrap().to_owned();

    // Unknown vocabulary is refused; the insurer posts only for its own members.
    let (status, _, _) = call(
        &w.app,
        &w.insurer,
        reqwest::Method::POST,
        "/insurer/needs",
        Some(json!({"member": member, "prefecture": "東京都", "conditions": ["gout"]})),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _, _) = call(&w.app, &w.insurer, reqwest::Method::POST, "/insurer/needs",
        Some(json!({"member": "39131234:1:1:01", "prefecture": "東京都", "conditions": ["diabetes"]}))).await;
    assert_eq!(status, 403);
    let (status, need, _) = call(&w.app, &w.insurer, reqwest::Method::POST, "/insurer/needs",
        Some(json!({"member": member, "prefecture": "東京都", "conditions": ["diabetes", "kidney"], "functions": ["home-care"]}))).await;
    assert_eq!(status, 201, "{need}");
    let id = need["id"].as_i64().unwrap();

    // Certified institutions of the region see it, without identity; others do not.
    let secrets = [member.as_str(), "8812", INSURER];
    let (status, listed, text) = call(&w.app, &emr_b, reqwest::Method::GET, "/needs", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["conditions"], json!(["diabetes", "kidney"]));
    for s in secrets {
        assert!(
            !text.contains(s),
            "identity in an institution's view: {text}"
        );
    }
    let (status, listed, _) = call(&w.app, &emr_osaka, reqwest::Method::GET, "/needs", None).await;
    assert_eq!((status, listed.as_array().map(Vec::len)), (200, Some(0)));
    let (status, _, _) = call(
        &w.app,
        &emr_uncertified,
        reqwest::Method::GET,
        "/needs",
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = call(&w.app, &pharmacy, reqwest::Method::GET, "/needs", None).await;
    assert_eq!(status, 403);
    // Outside the region, raising a hand is like raising it on nothing.
    let resp = w
        .app
        .http
        .put(w.app.url("/admin/practitioners/dr-osaka"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "大阪 医師", "organization": OSAKA, "qualifications": []}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let (status, _, _) = call(
        &w.app,
        &emr_osaka,
        reqwest::Method::POST,
        &format!("/needs/{id}/hands"),
        Some(json!({"practitioner": "dr-osaka"})),
    )
    .await;
    assert_eq!(status, 404);

    // Two institutions raise their hands; a doctor only for themself.
    let (status, _, _) = call(
        &w.app,
        &doctor_b,
        reqwest::Method::POST,
        &format!("/needs/{id}/hands"),
        Some(json!({"practitioner": "dr-1"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, hand_b, text) = call(
        &w.app,
        &doctor_b,
        reqwest::Method::POST,
        &format!("/needs/{id}/hands"),
        Some(json!({"practitioner": "dr-b", "message": "在宅医療に対応しています"})),
    )
    .await;
    assert_eq!(status, 201, "{hand_b}");
    for s in secrets {
        assert!(!text.contains(s), "identity in the hand's answer: {text}");
    }
    let (status, _, _) = call(
        &w.app,
        &w.emr,
        reqwest::Method::POST,
        &format!("/needs/{id}/hands"),
        Some(json!({"practitioner": "dr-1"})),
    )
    .await;
    assert_eq!(status, 201);
    for token in [&emr_b, &doctor_b, &w.emr, &w.doctor] {
        let (_, _, text) = call(
            &w.app,
            token,
            reqwest::Method::GET,
            "/notifications?limit=1000",
            None,
        )
        .await;
        assert!(text.contains("need.posted"), "{text}");
        for s in secrets {
            assert!(
                !text.contains(s),
                "identity in an institution's notifications: {text}"
            );
        }
    }

    // The insurer and the member see the hands.
    let (status, mine, _) = call(
        &w.app,
        &w.insurer,
        reqwest::Method::GET,
        "/insurer/needs",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(mine[0]["hands"].as_array().unwrap().len(), 2);
    let (status, mine, _) = call(&w.app, &person, reqwest::Method::GET, "/me/needs", None).await;
    assert_eq!(status, 200);
    let hands = mine[0]["hands"].as_array().unwrap();
    let b = hands
        .iter()
        .find(|h| h["organization"] == CLINIC_B)
        .unwrap();
    assert_eq!(b["message"], "在宅医療に対応しています");
    assert!(
        b["functions"]
            .as_array()
            .unwrap()
            .contains(&json!("home-care"))
    );
    let (_, _, text) = call(
        &w.app,
        &person,
        reqwest::Method::GET,
        "/notifications",
        None,
    )
    .await;
    assert!(text.contains("need.hand-raised"));

    // Someone else cannot accept it; the member does, and is registered with B.
    let (status, other, _) = call(&w.app, &w.insurer, reqwest::Method::POST, "/insurer/person-clients",
        Some(json!({"member": format!("{INSURER}:5:8813:01"), "name": "other", "identity_evidence": "insurer-record"}))).await;
    assert_eq!(status, 201);
    let other = other["token"].as_str().unwrap().to_owned();
    let accept = json!({"hand": b["id"], "insurer_programs": true});
    let (status, _, _) = call(
        &w.app,
        &other,
        reqwest::Method::POST,
        &format!("/me/needs/{id}/accept"),
        Some(accept.clone()),
    )
    .await;
    assert_eq!(status, 404);
    let (status, registration, _) = call(
        &w.app,
        &person,
        reqwest::Method::POST,
        &format!("/me/needs/{id}/accept"),
        Some(accept.clone()),
    )
    .await;
    assert_eq!(status, 200, "{registration}");
    assert_eq!(registration["status"], "active");
    assert_eq!(registration["basis"], "person");
    assert_eq!(registration["organization"], CLINIC_B);
    assert_eq!(registration["practitioner"], "dr-b");
    let (status, _, _) = call(
        &w.app,
        &person,
        reqwest::Method::POST,
        &format!("/me/needs/{id}/accept"),
        Some(accept),
    )
    .await;
    assert_eq!(status, 409);

    // Now B knows the member, as its registered person; A was only told the need closed.
    let (_, _, text) = call(
        &w.app,
        &emr_b,
        reqwest::Method::GET,
        "/notifications?limit=1000",
        None,
    )
    .await;
    assert!(
        text.contains("registration.activated") && text.contains(&member),
        "{text}"
    );
    let (_, _, text) = call(
        &w.app,
        &w.emr,
        reqwest::Method::GET,
        "/notifications?limit=1000",
        None,
    )
    .await;
    assert!(text.contains("need.closed"), "{text}");
    for s in secrets {
        assert!(
            !text.contains(s),
            "identity reached the institution not chosen: {text}"
        );
    }
    let (status, me, _) = call(&w.app, &person, reqwest::Method::GET, "/me", None).await;
    assert_eq!(status, 200);
    assert_eq!(me["current"]["organization"], CLINIC_B, "{me}");
    let (_, needs, _) = call(
        &w.app,
        &w.insurer,
        reqwest::Method::GET,
        "/insurer/needs",
        None,
    )
    .await;
    assert_eq!(needs[0]["status"], "accepted");
    assert_eq!(needs[0]["registration"], registration["id"]);
}
