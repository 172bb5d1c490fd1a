//! Every JP Core example of a supported type (../shared/corpus/jp-core-examples; since
//! issue 9 also Encounter and Specimen) is accepted and reads back equal in substance
//! (everything but the server's meta.versionId and meta.lastUpdated), on both databases.

use std::path::PathBuf;

use serde_json::Value;

use crate::on_both_databases_async;
use crate::support::{TestApp, TestDb};

fn examples() -> Option<Vec<(String, Value)>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/jp-core-examples");
    let Ok(read) = std::fs::read_dir(&dir) else {
        eprintln!(
            "corpus absent ({}): JP Core example round trip skipped",
            dir.display()
        );
        return None;
    };
    let mut out: Vec<(String, Value)> = read
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| {
            let v: Value = serde_json::from_slice(&std::fs::read(&p).ok()?).ok()?;
            let rtype = v["resourceType"].as_str()?;
            kakari::codec::fhir::ResourceType::parse(rtype)?;
            Some((p.file_name()?.to_string_lossy().into_owned(), v))
        })
        .collect();
    // Directory first, then patients and coverage, then clinical records.
    let rank = |v: &Value| match v["resourceType"].as_str().unwrap_or("") {
        "Organization" | "Practitioner" | "PractitionerRole" => 0,
        "Patient" => 1,
        "Coverage" => 2,
        _ => 3,
    };
    out.sort_by_key(|(name, v)| (rank(v), name.clone()));
    Some(out)
}

fn without_server_meta(mut v: Value) -> Value {
    if let Some(meta) = v.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("versionId");
        meta.remove("lastUpdated");
        // An example without meta gets one from the server: nothing else in it.
        if meta.is_empty()
            && let Some(o) = v.as_object_mut()
        {
            o.remove("meta");
        }
    }
    v
}

on_both_databases_async!(every_supported_example_round_trips);

async fn every_supported_example_round_trips(db: TestDb) {
    let Some(examples) = examples() else { return };
    assert!(
        examples.len() >= 20,
        "expected the JP Core examples, found {}",
        examples.len()
    );
    let app = TestApp::spawn(db).await;
    let token = app.emr("1311234567").await;
    for (name, example) in &examples {
        let rtype = example["resourceType"].as_str().unwrap();
        let id = example["id"].as_str().unwrap();
        let resp = app
            .put_fhir(&token, &format!("/fhir/{rtype}/{id}"), example)
            .await;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        assert_eq!(status, 201, "{name} was not accepted: {body}");
    }
    for (name, example) in &examples {
        let rtype = example["resourceType"].as_str().unwrap();
        let id = example["id"].as_str().unwrap();
        let (status, read) = app.get_json(&token, &format!("/fhir/{rtype}/{id}")).await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(read["meta"]["versionId"], "1", "{name}");
        assert_eq!(
            without_server_meta(read),
            without_server_meta(example.clone()),
            "{name} did not read back equal"
        );
    }
    // The canonical model got the clinical content.
    let counts = app.state.store.read(|tx| tx.record_counts()).await.unwrap();
    assert!(
        counts[0] >= 4,
        "medication records from the MedicationRequest/Dispense examples: {counts:?}"
    );
    assert!(
        counts[1] >= 1,
        "lab results from the Observation examples: {counts:?}"
    );
    assert!(
        counts[2] >= 1 && counts[3] >= 1,
        "condition and allergy: {counts:?}"
    );
}
