//! `kakari demo`, the README's first command: the binary loads its sample data and prints
//! working tokens; the data it loads is what the printed requests rely on.

use std::process::Command;

use serde_json::Value;

use crate::support::{TestApp, TestDb};

fn token_of(output: &str, var: &str) -> String {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("export {var}=")))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{var} not printed:\n{output}"))
        .to_owned()
}

#[test]
fn the_demo_binary_loads_and_prints_its_clients() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kakari"))
        .args(["demo", "--no-serve", "--dir"])
        .arg(dir.path())
        .env_remove("KAKARI_DATABASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for var in [
        "EMR_TOKEN",
        "EMR2_TOKEN",
        "PHARMACY_TOKEN",
        "INSURER_TOKEN",
        "DOCTOR_TOKEN",
        "ADMIN_TOKEN",
    ] {
        assert!(token_of(&stdout, var).starts_with("kk_"), "{var}");
    }
    assert!(dir.path().join("kakari.db").exists());
}

#[actix_web::test]
async fn the_demo_data_answers_the_printed_requests() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let clients = kakari::demo::load(&app.state).await.unwrap();
    let token = |role: &str| {
        clients
            .iter()
            .find(|(_, r, _)| r == role)
            .map(|(_, _, c)| c.token.clone())
            .unwrap()
    };
    // The registered doctor sees the demo person's lab values from both clinics' feeds.
    let (status, obs) = app
        .get_json(&token("doctor"), "/fhir/Observation?patient=demo-yamada")
        .await;
    assert_eq!(status, 200, "{obs}");
    assert!(obs["total"].as_i64().unwrap() > 0, "{obs}");
    let (status, episodes) = app
        .get_json(
            &token("doctor"),
            &format!("/fhir/EpisodeOfCare?member={}", kakari::demo::MEMBER),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(episodes["entry"][0]["resource"]["status"], "active");
    // The insurer pulls them (registered and consenting).
    let resp = app
        .get(
            &token("insurer"),
            "/insurer/lab-results?format=csv&limit=100",
        )
        .await;
    assert_eq!(resp.status(), 200);
    let csv = resp.text().await.unwrap();
    assert!(csv.lines().count() > 1, "{csv}");
    // The public directory lists both certified clinics.
    let resp = app
        .http
        .get(app.url("/directory/organizations?function=home-care"))
        .send()
        .await
        .unwrap();
    let page: Value = resp.json().await.unwrap();
    assert_eq!(page["total"], 1, "{page}");
    let resp = app.http.get(app.url("/directory")).send().await.unwrap();
    let html = resp.text().await.unwrap();
    assert!(html.contains("さくら内科クリニック") && html.contains("みどり整形外科"));
}
