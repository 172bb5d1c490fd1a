//! Satisfaction surveys (issue 13 item 5), on both databases: members answer kakari's
//! questionnaire about an institution they are or were registered with, through their
//! insurer or their own client; the directory (API and page) shows the means from ten
//! responses on and nothing below.

use serde_json::{Value, json};

use crate::inquiries::{CLINIC_B, clinic_b};
use crate::insurer::{CLINIC, INSURER, register, world};
use crate::on_both_databases_async;
use crate::schemas::assert_valid_fhir;
use crate::support::{TestApp, TestDb, outcome_code};

const MEMBER_SYSTEM: &str = "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID";
const INSTITUTION_SYSTEM: &str =
    "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no";

fn response(organization: &str, member: Option<&str>, score: i64) -> Value {
    let items: Vec<Value> = [
        "overall",
        "explanation",
        "consultation",
        "access",
        "coordination",
    ]
    .iter()
    .map(|l| json!({"linkId": l, "answer": [{"valueInteger": score}]}))
    .collect();
    let mut r = json!({"resourceType": "QuestionnaireResponse",
                       "questionnaire": "urn:kakari:questionnaire:satisfaction|1", "status": "completed",
                       "subject": {"identifier": {"system": INSTITUTION_SYSTEM, "value": organization}},
                       "item": items});
    if let Some(m) = member {
        r["source"] = json!({"identifier": {"system": MEMBER_SYSTEM, "value": m}});
    }
    r
}

async fn submit(app: &TestApp, token: &str, body: &Value) -> (u16, Value) {
    let resp = app
        .post_fhir(token, "/fhir/QuestionnaireResponse", body)
        .await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn directory_entry(app: &TestApp, code: &str) -> Value {
    let (status, page) = app
        .get_json("", "/directory/organizations?prefecture=13&limit=100")
        .await;
    assert_eq!(status, 200, "{page}");
    page["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["code"] == code)
        .cloned()
        .unwrap()
}

async fn page_text(app: &TestApp) -> String {
    app.http
        .get(app.url("/directory?prefecture=13"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

on_both_databases_async!(satisfaction_appears_from_ten_responses);

async fn satisfaction_appears_from_ten_responses(db: TestDb) {
    let w = world(db).await;
    let _ = clinic_b(&w.app).await;
    let (status, q) = w
        .app
        .get_json("", "/fhir/Questionnaire/kakari-satisfaction")
        .await;
    assert_eq!(status, 200);
    assert_valid_fhir(&q);
    let members: Vec<String> = (1..=11).map(|n| format!("{INSURER}:6:{n}:01")).collect();
    for m in &members {
        register(&w, m, false).await;
    }
    // Nine answers (scores 5 and 4): nothing shown yet.
    for (i, m) in members.iter().take(9).enumerate() {
        let body = response(CLINIC, Some(m), if i % 2 == 0 { 5 } else { 4 });
        assert_valid_fhir(&body);
        let (status, stored) = submit(&w.app, &w.insurer, &body).await;
        assert_eq!(status, 201, "{stored}");
        assert_valid_fhir(&stored);
    }
    // Answering again replaces the earlier answer: still nine.
    let (status, _) = submit(&w.app, &w.insurer, &response(CLINIC, Some(&members[0]), 5)).await;
    assert_eq!(status, 201);
    let entry = directory_entry(&w.app, CLINIC).await;
    assert_eq!(
        entry["satisfaction"],
        json!({"responses": "<10", "items": []}),
        "{entry}"
    );
    assert!(
        page_text(&w.app)
            .await
            .contains("回答が10件未満のため非表示")
    );

    // The tenth, from the person's own client (no source needed: it is theirs).
    let (status, person) = {
        let resp = w.app.http.post(w.app.url("/insurer/person-clients")).bearer_auth(&w.insurer)
            .json(&json!({"member": members[9], "name": "app", "identity_evidence": "insurer-record"}))
            .send().await.unwrap();
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 201);
    let person = person["token"].as_str().unwrap().to_owned();
    let (status, outcome) = submit(&w.app, &person, &response(CLINIC, Some(&members[0]), 1)).await;
    assert_eq!(status, 403, "a person answers for themself: {outcome}");
    let (status, _) = submit(&w.app, &person, &response(CLINIC, None, 3)).await;
    assert_eq!(status, 201);
    // Scores 5,4,5,4,5,4,5,4,5 and 3: mean 4.4.
    let entry = directory_entry(&w.app, CLINIC).await;
    assert_eq!(entry["satisfaction"]["responses"], "10", "{entry}");
    let overall = entry["satisfaction"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"] == "overall")
        .unwrap()
        .clone();
    assert_eq!(overall["mean"], "4.4");
    assert_eq!(entry["satisfaction"]["items"].as_array().unwrap().len(), 5);
    assert!(page_text(&w.app).await.contains("4.4 / 5（回答 10 件）"));

    // Only an institution the member is or was registered with; only one's own members.
    let (status, outcome) = submit(
        &w.app,
        &w.insurer,
        &response(CLINIC_B, Some(&members[10]), 1),
    )
    .await;
    assert_eq!(
        (status, outcome_code(&outcome).as_str()),
        (422, "survey.not_registered")
    );
    let (status, _) = submit(
        &w.app,
        &w.insurer,
        &response(CLINIC, Some("39131234:1:1:01"), 1),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = submit(&w.app, &w.doctor, &response(CLINIC, Some(&members[10]), 5)).await;
    assert_eq!(status, 403);
    let mut six = response(CLINIC, Some(&members[10]), 5);
    six["item"][0]["answer"][0]["valueInteger"] = json!(6);
    let (status, outcome) = submit(&w.app, &w.insurer, &six).await;
    assert_eq!(
        (status, outcome["issue"][0]["expression"][0].as_str()),
        (422, Some("QuestionnaireResponse.item[0].answer"))
    );
    let b = directory_entry(&w.app, CLINIC_B).await;
    assert_eq!(b["satisfaction"]["responses"], "<10");
}
