//! The audit trail end to end: `GET /admin/audit` (filters, cursor pages, the JSON page
//! against its schema, FHIR `AuditEvent`s against the R4 schema), denied requests leaving
//! `denied` rows, and `kakari audit verify` on an intact and a tampered chain, on both
//! databases.

use std::process::Command;

use serde_json::Value;

use crate::insurer::{CLINIC, INSURER, lab_bundle};
use crate::on_both_databases_async;
use crate::schemas::assert_valid_fhir;
use crate::store_contract::tamper;
use crate::support::{ADMIN_TOKEN, TestApp, TestDb};

const MEMBER: &str = "06139463:5:4242:01";

/// A gateway with one person's lab values written, read and searched, and two refusals.
async fn busy_app(db: TestDb) -> (TestApp, String) {
    let app = TestApp::spawn(db).await;
    let emr = app.emr(CLINIC).await;
    let resp = app
        .post_fhir(
            &emr,
            "/fhir",
            &lab_bundle("audit-p1", MEMBER, &["6.7"], "2026-10-01"),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let (status, found) = app
        .get_json(&emr, "/fhir/Observation?patient=Patient/audit-p1")
        .await;
    assert_eq!(status, 200);
    let observation = found["entry"][0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = app
        .get_json(&emr, &format!("/fhir/Observation/{observation}"))
        .await;
    assert_eq!(status, 200);
    // Refused: no token at all, and an insurer reading clinical FHIR data.
    let resp = app
        .http
        .get(app.url(&format!("/fhir/Observation/{observation}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let insurer = app.client("insurer", None, Some(INSURER), None).await;
    let (status, _) = app
        .get_json(&insurer, &format!("/fhir/Observation/{observation}"))
        .await;
    assert_eq!(status, 403);
    (app, observation)
}

async fn audit_page(app: &TestApp, query: &str) -> (u16, Value, Option<String>) {
    let resp = app.get(ADMIN_TOKEN, &format!("/admin/audit{query}")).await;
    let status = resp.status().as_u16();
    let cursor = resp
        .headers()
        .get("kakari-next-cursor")
        .map(|h| h.to_str().unwrap().to_owned());
    (status, resp.json().await.unwrap_or(Value::Null), cursor)
}

fn assert_valid_page(page: &Value) {
    let path = format!(
        "{}/schemas/api/audit-page.schema.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the page schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(page)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?} in {page}");
}

on_both_databases_async!(
    the_audit_trail_is_listed_filtered_and_paged,
    administrators_do_not_read_registrations_or_consents_in_the_trail,
    kakari_audit_verify_detects_an_edited_row,
);

async fn the_audit_trail_is_listed_filtered_and_paged(db: TestDb) {
    let (app, observation) = busy_app(db).await;

    let (status, all, cursor) = audit_page(&app, "?limit=1000").await;
    assert_eq!(status, 200, "{all}");
    assert_valid_page(&all);
    let entries = all["entries"].as_array().unwrap();
    assert!(entries.len() >= 6, "{all}");
    assert_eq!(all["complete"], true);
    assert_eq!(cursor.as_deref(), all["next_cursor"].as_str());
    let seqs: Vec<i64> = entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "oldest first: {seqs:?}"
    );

    // Denied requests left rows naming the route and the code, not the path's values.
    let (_, denied, _) = audit_page(&app, "?outcome=denied").await;
    let denied = denied["entries"].as_array().unwrap().clone();
    assert_eq!(denied.len(), 2, "{denied:?}");
    assert!(
        denied[0]["detail"]
            .as_str()
            .unwrap()
            .contains("auth.missing_token")
    );
    assert!(denied[0]["client"].is_null());
    assert!(
        denied[1]["detail"]
            .as_str()
            .unwrap()
            .contains("auth.forbidden")
    );
    assert_eq!(denied[1]["role"], "insurer");
    assert_eq!(denied[1]["resource_type"], "Observation");
    let text = Value::Array(denied).to_string();
    assert!(
        !text.contains(&observation) && !text.contains("audit-p1"),
        "{text}"
    );

    // By person: the reference read from the trail, never a member id (an operator
    // cannot look a person up), then action, client, type.
    let (status, reads, _) = audit_page(&app, "?action=read&resource_type=Observation").await;
    assert_eq!(status, 200);
    let person = reads["entries"][0]["person"].as_str().unwrap().to_owned();
    assert!(person.starts_with("person-"), "{reads}");
    let (status, by_person, _) = audit_page(&app, &format!("?person={person}")).await;
    assert_eq!(status, 200);
    let rows = by_person["entries"].as_array().unwrap();
    assert!(rows.len() >= 2, "{by_person}");
    assert!(rows.iter().all(|r| r["person"] == person.as_str()));
    assert!(
        !all.to_string().contains(MEMBER),
        "member ids are not handed out"
    );
    let (status, by_member, _) = audit_page(&app, &format!("?person={MEMBER}")).await;
    assert_eq!(status, 400, "{by_member}");
    assert_eq!(by_member["issues"][0]["location"], "person");
    let (_, nobody, _) = audit_page(&app, "?person=person-999999999").await;
    assert_eq!(nobody["entries"].as_array().unwrap().len(), 0);
    let (_, reads, _) = audit_page(&app, "?action=read&resource_type=Observation").await;
    let reads = reads["entries"].as_array().unwrap();
    assert!(!reads.is_empty());
    assert!(
        reads
            .iter()
            .all(|r| r["action"] == "read" && r["resource_type"] == "Observation")
    );
    let client = reads[0]["client"].as_i64().unwrap();
    let (_, by_client, _) = audit_page(&app, &format!("?client={client}")).await;
    assert!(
        by_client["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["client"] == client)
    );

    // Time window: everything is after 2020 and nothing before it.
    let (_, recent, _) = audit_page(&app, "?since=2020-01-01T00:00:00Z&limit=1000").await;
    assert_eq!(recent["entries"].as_array().unwrap().len(), entries.len());
    let (_, old, _) = audit_page(&app, "?until=2020-01-01T00:00:00%2B09:00").await;
    assert_eq!(old["entries"].as_array().unwrap().len(), 0);

    // Pages of two, resumed by cursor, give every row exactly once.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page, _) = audit_page(&app, &format!("?limit=2&cursor={cursor}")).await;
        assert_eq!(status, 200, "{page}");
        for e in page["entries"].as_array().unwrap() {
            seen.push(e["seq"].as_i64().unwrap());
        }
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
        if page["complete"] == true {
            break;
        }
        assert!(seen.len() <= seqs.len(), "paging does not end");
    }
    assert_eq!(seen, seqs);
    // A later write shows up after the last cursor.
    let emr = app.emr(CLINIC).await;
    let _ = app
        .get_json(&emr, "/fhir/Observation?patient=Patient/audit-p1")
        .await;
    let (_, later, _) = audit_page(&app, &format!("?cursor={cursor}")).await;
    assert!(!later["entries"].as_array().unwrap().is_empty());

    // FHIR: a Bundle of AuditEvent, valid against the official R4 schema.
    let resp = app
        .get(ADMIN_TOKEN, "/admin/audit?format=fhir&limit=1000")
        .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/fhir+json")
    );
    let bundle: Value = resp.json().await.unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_valid_fhir(&bundle);
    let events = bundle["entry"].as_array().unwrap();
    assert!(events.len() > entries.len());
    for e in events {
        assert_valid_fhir(&e["resource"]);
    }
    assert!(
        events
            .iter()
            .any(|e| e["resource"]["outcome"] == "4" && e["resource"]["action"] == "R")
    );
    let next = bundle["link"][1]["url"].as_str().unwrap();
    assert!(
        next.contains("format=fhir") && next.contains("cursor="),
        "{next}"
    );

    // Bad input: clear 400s with the parameter named.
    for (query, location) in [
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?cursor=bm90LWEtY3Vyc29y", "cursor"),
        ("?since=yesterday", "since"),
        ("?until=2026-13-01T00:00:00Z", "until"),
        ("?outcome=maybe", "outcome"),
        ("?person=12345", "person"),
        ("?person=person-", "person"),
        ("?person=person-1x", "person"),
        ("?format=xml", "format"),
        ("?client=abc", "query"),
        ("?colour=red", "query"),
    ] {
        let (status, problem, _) = audit_page(&app, query).await;
        assert_eq!(status, 400, "{query}: {problem}");
        assert_eq!(
            problem["issues"][0]["location"], location,
            "{query}: {problem}"
        );
    }
    // Administrators only.
    let (status, problem) = app.get_json(&emr, "/admin/audit").await;
    assert_eq!(status, 403);
    assert_eq!(problem["code"], "auth.forbidden");
}

/// docs/access.md: administrators never read registrations or consent decisions. The
/// trail lists that something happened (action, client, outcome) without the person or
/// the detail, and a person's listing leaves such rows out.
async fn administrators_do_not_read_registrations_or_consents_in_the_trail(db: TestDb) {
    let w = crate::insurer::world(db).await;
    crate::insurer::register(&w, MEMBER, true).await;
    let resp = w
        .app
        .post_fhir(
            &w.emr,
            "/fhir",
            &lab_bundle("audit-p2", MEMBER, &["6.1"], "2026-10-02"),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let (status, _) = w
        .app
        .get_json(&w.doctor, &format!("/registrations?member={MEMBER}"))
        .await;
    assert_eq!(status, 200);

    let (status, all, _) = audit_page(&w.app, "?limit=1000").await;
    assert_eq!(status, 200, "{all}");
    let entries = all["entries"].as_array().unwrap();
    let about: Vec<&Value> = entries
        .iter()
        .filter(|e| {
            let action = e["action"].as_str().unwrap();
            action.starts_with("registration.")
                || action.starts_with("consent.")
                || matches!(
                    e["resource_type"].as_str(),
                    Some("EpisodeOfCare" | "Consent")
                )
        })
        .collect();
    assert!(
        about.iter().any(|e| e["action"] == "registration.create"),
        "{all}"
    );
    for e in &about {
        assert!(e["person"].is_null(), "{e}");
        assert!(e["detail"].is_null(), "{e}");
    }
    // The same in the FHIR rendering: no entity names the person on those rows.
    let resp = w
        .app
        .get(
            ADMIN_TOKEN,
            "/admin/audit?format=fhir&action=registration.create",
        )
        .await;
    let bundle: Value = resp.json().await.unwrap();
    let text = bundle.to_string();
    assert!(!text.contains("person-"), "{text}");
    assert!(!text.contains("status="), "{text}");

    // The person's reference, taken from a data row, lists data access only.
    let person = entries
        .iter()
        .find_map(|e| e["person"].as_str())
        .expect("a data row names its person")
        .to_owned();
    let (_, by_person, _) = audit_page(&w.app, &format!("?person={person}&limit=1000")).await;
    let rows = by_person["entries"].as_array().unwrap();
    assert!(!rows.is_empty());
    for r in rows {
        let action = r["action"].as_str().unwrap();
        assert!(
            !action.starts_with("registration.") && !action.starts_with("consent."),
            "{r}"
        );
        assert_ne!(r["resource_type"], "EpisodeOfCare", "{r}");
    }
}

fn verify(url: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kakari"))
        .args(["audit", "verify"])
        .env_clear()
        .env("KAKARI_DATABASE_URL", url)
        .env("KAKARI_LOG_LEVEL", "error")
        .output()
        .expect("run kakari");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

async fn kakari_audit_verify_detects_an_edited_row(db: TestDb) {
    let url = db.url().to_owned();
    let (app, _) = busy_app(db).await;
    let (_, all, _) = audit_page(&app, "?limit=1000").await;
    let rows = all["entries"].as_array().unwrap().len();
    let (code, text) = verify(&url);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&format!("{rows} rows verified")), "{text}");

    // An administrator with database access rewrites history.
    // (The PostgreSQL client runs its own runtime: off the test's async thread.)
    std::thread::scope(|s| {
        s.spawn(|| {
            tamper(
                app.db(),
                "UPDATE audit_events SET detail = 'rewritten' WHERE seq = 3",
            )
        });
    });
    let (code, text) = verify(&url);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("seq 3"), "{text}");
    assert!(text.contains("altered"), "{text}");

    // A database that cannot be opened is exit status 2, not "intact".
    let missing = tempfile::tempdir().unwrap();
    let (code, text) = verify(&format!(
        "sqlite://{}",
        missing.path().join("none.db").display()
    ));
    assert_eq!(code, 2, "{text}");
    let (code, text) = verify("postgres://postgres@127.0.0.1:1/none");
    assert_eq!(code, 2, "{text}");
}
