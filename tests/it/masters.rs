//! The operator's code masters: unmapped drug codes are reported, and a reload reads the
//! masters directory without a restart (admin only).

use serde_json::Value;

use crate::support::{ADMIN_TOKEN, TestApp, TestDb};

const UNKNOWN_CODE: &str = "699999901";

fn claims_with_unknown_drug() -> Vec<u8> {
    let path = format!(
        "{}/tests/data/uke/medical_seireki.uke",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(path).unwrap();
    // Shift_JIS keeps ASCII digits as they are: swap one receipt drug code for a code no
    // curated table knows.
    let text = bytes.iter().map(|b| *b as char).collect::<String>();
    assert!(text.contains("621974701"));
    text.replace("621974701", UNKNOWN_CODE)
        .chars()
        .map(|c| c as u8)
        .collect()
}

async fn unmapped_receipt_codes(app: &TestApp) -> Vec<String> {
    let (status, report) = app.get_json(ADMIN_TOKEN, "/admin/masters/unmapped").await;
    assert_eq!(status, 200, "{report}");
    report
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["system"] == "receipt")
        .map(|s| {
            s["codes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[actix_web::test]
async fn unmapped_codes_are_reported_and_a_reload_maps_them() {
    let masters = tempfile::tempdir().unwrap();
    let dir = masters.path().to_owned();
    let app = TestApp::spawn_with(TestDb::sqlite(), |c| c.masters_dir = Some(dir)).await;
    let insurer = app.client("insurer", None, Some("06139463"), None).await;
    let resp = app
        .http
        .post(app.url("/insurer/claims"))
        .bearer_auth(&insurer)
        .header("Content-Type", "application/octet-stream")
        .body(claims_with_unknown_drug())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    assert_eq!(unmapped_receipt_codes(&app).await, [UNKNOWN_CODE]);

    // Only administrators see or reload the masters.
    let resp = app
        .http
        .post(app.url("/admin/masters/reload"))
        .bearer_auth(&insurer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let (status, _) = app.get_json(&insurer, "/admin/masters/unmapped").await;
    assert_eq!(status, 403);

    // The operator drops the 支払基金 y master (Shift_JIS) into the directory and reloads.
    let y = "\"0\",\"Y\",\"699999901\",\"6\",\"試験錠１ｍｇ\",\"1\",\"x\",\"33\",\"1\",\"錠\",\"1\",\"1.00\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"1\",\"1.00\",\"0\",\"0\",\"1\",\"\",\"20240401\",\"99999999\",\"9999999F1010\",\"1\",\"0\",\"試験錠\"\r\n";
    let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(y);
    std::fs::write(masters.path().join("y_TEST.csv"), &sjis).unwrap();
    let resp = app
        .http
        .post(app.url("/admin/masters/reload"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(report["masters_dir_configured"], true);
    assert_eq!(report["files"][0]["file"], "y_TEST.csv", "{report}");
    assert_eq!(report["files"][0]["rows"], 1);
    assert!(report["entries"].as_u64().unwrap() > 1);
    // The tally starts afresh with the new master, and the code is now known.
    assert!(unmapped_receipt_codes(&app).await.is_empty());
    let master = app.state.drugs.current();
    let coding = kakari::domain::Coding::new(
        kakari::domain::code_system::KnownSystem::ReceiptDrug.uri(),
        UNKNOWN_CODE,
        None,
    );
    assert_eq!(master.display_name(&coding), Some("試験錠１ｍｇ"));

    // A broken masters directory keeps the master in use.
    drop(masters);
    let resp = app
        .http
        .post(app.url("/admin/masters/reload"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    assert_eq!(
        app.state.drugs.current().display_name(&coding),
        Some("試験錠１ｍｇ")
    );
}
