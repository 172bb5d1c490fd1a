//! `kakari convert`: the built binary on the corpus (../shared/corpus, skipped with a note
//! when absent) and on the project's fixtures (tests/data). Values, schema validity of
//! every resource written, exit codes and the report.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::schemas::assert_valid_fhir;

const BIN: &str = env!("CARGO_BIN_EXE_kakari");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus");
const CLINIC: &str = "1310000001";

fn corpus(path: &str) -> Option<PathBuf> {
    let p = Path::new(CORPUS).join(path);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("corpus absent ({}): test skipped", p.display());
        None
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("convert")
        .args(args)
        .env_remove("KAKARI_MASTERS_DIR")
        .output()
        .expect("the binary runs")
}

/// The command ended with `code`; its stderr (the report table) explains when not.
fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn report(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("report written")).expect("report is JSON")
}

fn row<'a>(report: &'a Value, path_end: &str) -> &'a Value {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with(path_end))
        .unwrap_or_else(|| panic!("no row for {path_end}: {report}"))
}

/// Every resource of a Bundle, each checked against the official R4 schema.
fn valid_resources(bundle: &Value) -> Vec<Value> {
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "collection");
    let resources: Vec<Value> = bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["resource"].clone())
        .collect();
    for r in &resources {
        assert_valid_fhir(r);
    }
    resources
}

fn of_type<'a>(resources: &'a [Value], rtype: &str) -> Vec<&'a Value> {
    resources
        .iter()
        .filter(|r| r["resourceType"] == rtype)
        .collect()
}

#[test]
fn the_ssmix2_corpus_tree_converts_to_fhir_with_its_faults_reported() {
    let Some(tree) = corpus("ssmix2-nho/sampleData") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("report.json");
    let dir = out.path().join("fhir");
    let o = run(&[
        "--from",
        "ssmix2",
        "--to",
        "fhir",
        "--facility",
        CLINIC,
        tree.to_str().unwrap(),
        "-o",
        dir.to_str().unwrap(),
        "--report",
        json.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(1),
        "some files are rejected: {stderr}"
    );
    assert!(stderr.contains("ssmix2.patient_mismatch"), "{stderr}");
    let r = report(&json);
    assert_eq!(r["summary"]["files"], 22, "{r}");
    assert_eq!(r["summary"]["rejected"], 1, "{r}");
    let wrong = row(
        &r,
        "ADT-31/9999013_20110630_OMP-11_123456789012345_20110701113813225_01_1",
    );
    assert_eq!(wrong["status"], "rejected");
    assert_eq!(wrong["code"], "ssmix2.patient_mismatch");
    let garbled = row(
        &r,
        "0000001_20000401_OMP-11_123456789012345_20110701113813225_01_1",
    );
    // Its stray segments are ignored with located warnings and its two administrations
    // read (HL7's rule for the recipient; it was rejected before issue 9).
    assert_eq!(garbled["status"], "accepted", "{garbled}");
    assert_eq!(garbled["records"], 2, "{garbled}");
    assert!(
        garbled["warnings"]
            .to_string()
            .contains("hl7.segment_order at TQ1"),
        "{garbled}"
    );
    let invalidated = row(
        &r,
        "0000001_20000401_OMP-11_123456789012346_20110701113813226_01_0",
    );
    assert_eq!(invalidated["status"], "superseded");
    // The good copy of the misplaced file's name is converted, not a duplicate.
    let good = row(
        &r,
        "20110630/OMP-11/9999013_20110630_OMP-11_123456789012345_20110701113813225_01_1",
    );
    assert_eq!(good["status"], "accepted", "{good}");
    let omp01 = row(
        &r,
        "9999013_20110701_OMP-01_000000011000185_20110701224603984_01_1",
    );
    assert_eq!(omp01["status"], "accepted");
    assert_eq!(omp01["records"], 3);
    let omg = row(&r, "OMG-01_000201101200100_20111220224447339_-_1");
    assert_eq!(omg["mapped"], false);

    // Two patients (9999013, and 0000001 of the garbled file's folder), one Bundle each.
    assert_eq!(r["output"]["patients"], 2, "{r}");
    let (bundle, own_id) = ["patient-1", "patient-2"]
        .into_iter()
        .map(|name| {
            let bundle: Value =
                serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).unwrap())
                    .unwrap();
            (bundle, name)
        })
        .find(|(bundle, _)| bundle.to_string().contains("\"9999013\""))
        .expect("the Bundle of patient 9999013");
    let resources = valid_resources(&bundle);
    let patient = of_type(&resources, "Patient")[0];
    assert_eq!(patient["identifier"][0]["value"], "9999013");
    assert_eq!(
        patient["identifier"][0]["system"],
        format!("urn:oid:1.2.392.100495.20.3.51.1{CLINIC}")
    );
    assert_eq!(patient["birthDate"], "1948-04-05");
    let requests = of_type(&resources, "MedicationRequest");
    assert!(requests.len() >= 3, "OMP-01's three drugs at least");
    assert!(
        requests
            .iter()
            .all(|m| m["subject"]["reference"] == format!("Patient/{own_id}").as_str())
    );
    assert!(!of_type(&resources, "MedicationAdministration").is_empty());
    assert!(!of_type(&resources, "Condition").is_empty());
    assert!(!of_type(&resources, "AllergyIntolerance").is_empty());
    let protein = of_type(&resources, "Observation")
        .into_iter()
        .find(|o| o["code"]["coding"][0]["code"] == "3A010000002327101")
        .expect("総蛋白 from OML-11");
    assert!(protein["valueQuantity"]["value"].is_number(), "{protein}");
    // Nothing from the rejected or invalidated files: their dates are 2000-04-01.
    assert!(!bundle.to_string().contains("2000-04-01"));
}

fn hl7_batch(dir: &Path) -> PathBuf {
    let mut bytes = std::fs::read(format!("{DATA}/hl7v2/adt00_iso2022jp.hl7")).unwrap();
    bytes.extend(std::fs::read(format!("{DATA}/hl7v2/oml11_iso2022jp.hl7")).unwrap());
    let path = dir.join("batch.hl7");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn an_hl7_batch_converts_to_csv_tokutei_and_fhir() {
    let out = tempfile::tempdir().unwrap();
    let batch = hl7_batch(out.path());
    let csv_path = out.path().join("labs.csv");
    let o = run(&[
        "--from",
        "hl7v2",
        "--to",
        "csv",
        "--facility",
        CLINIC,
        batch.to_str().unwrap(),
        "-o",
        csv_path.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("result_id,member_id,date,item_code")
    );
    let hba1c = csv
        .lines()
        .find(|l| l.contains(",3D046000001906202,"))
        .expect("HbA1c row");
    assert!(
        hba1c.contains("06139463:12-34:5678:03,2024-04-05,"),
        "{hba1c}"
    );
    assert!(
        hba1c.contains(",6.80,%,4.6,6.2,,H,"),
        "decimal literal kept: {hba1c}"
    );

    // The same batch as a tokutei archive for the member's insurer.
    let zips = out.path().join("tokutei");
    let json = out.path().join("r.json");
    let o = run(&[
        "--from",
        "hl7v2",
        "--to",
        "tokutei",
        "--facility",
        CLINIC,
        batch.to_str().unwrap(),
        "-o",
        zips.to_str().unwrap(),
        "--report",
        json.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    let r = report(&json);
    let files = r["output"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{r}");
    assert!(
        files[0]
            .as_str()
            .unwrap()
            .contains(&format!("{CLINIC}_06139463_"))
    );
    assert!(r["output"]["lab_results"].as_u64().unwrap() >= 3, "{r}");
    let bytes = std::fs::read(files[0].as_str().unwrap()).unwrap();
    let read = kakari::codec::tokutei::read_submission(
        &bytes,
        kakari::mapping::checkup_items::CheckupItems::bundled().unwrap(),
        &kakari::codec::tokutei::ReadLimits::default(),
    );
    let doc = &read.documents[0].document;
    assert_eq!(doc.member.key(), "06139463:12-34:5678:03");
    assert!(
        doc.results
            .iter()
            .any(|x| x.checkup_item() == Some("3D046000001906202"))
    );

    // And as one FHIR Bundle on stdout.
    let o = run(&[
        "--from",
        "hl7v2",
        "--to",
        "fhir",
        "--facility",
        CLINIC,
        batch.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let bundle: Value = serde_json::from_slice(&o.stdout).expect("a Bundle on stdout");
    let resources = valid_resources(&bundle);
    let coverage = of_type(&resources, "Coverage")[0];
    assert_eq!(coverage["identifier"][0]["value"], "06139463:12-34:5678:03");
    assert_eq!(
        of_type(&resources, "Patient").len(),
        1,
        "ADT and lab linked into one patient"
    );
}

#[test]
fn the_uke_corpus_file_converts_drug_lines_to_claim_statements() {
    let Some(uke) = corpus("uke-receiptisan/RECEIPTC_GAIRAI_SAMPLE.UKE") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let nd = out.path().join("uke.ndjson");
    let json = out.path().join("r.json");
    let o = run(&[
        "--from",
        "uke",
        "--to",
        "ndjson",
        uke.to_str().unwrap(),
        "-o",
        nd.to_str().unwrap(),
        "--report",
        json.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    let r = report(&json);
    assert_eq!(r["files"][0]["status"], "accepted");
    let warnings = r["files"][0]["warnings"].to_string();
    // GO 総件数 counts 医療保険 and each 公費 per receipt (記録条件仕様): the sample's
    // totals agree with its receipts (issue 9 corrected the rule).
    assert!(!warnings.contains("uke.total_mismatch"), "{warnings}");
    assert!(warnings.contains("uke.field_too_long"), "{warnings}");
    let resources: Vec<Value> = std::fs::read_to_string(&nd)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one resource per line"))
        .collect();
    for res in &resources {
        assert_valid_fhir(res);
    }
    let claims = of_type(&resources, "MedicationStatement");
    assert!(!claims.is_empty());
    for c in &claims {
        assert_eq!(c["meta"]["tag"][0]["code"], "claim", "{c}");
        assert_eq!(c["status"], "completed");
        assert!(
            c["medicationCodeableConcept"]["coding"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["system"] == "urn:oid:1.2.392.100495.20.2.71"
                    || k["system"].as_str().unwrap().contains("receipt")),
            "9-digit receipt code kept: {c}"
        );
    }
    let org = of_type(&resources, "Organization");
    assert_eq!(org.len(), 1, "the claiming institution, once");
    assert!(of_type(&resources, "Patient").iter().any(|p| {
        p["identifier"]
            .to_string()
            .contains("JP_Insurance_memberID")
    }));
    // Claims carry no lab results: a usage error.
    let o = run(&["--from", "uke", "--to", "csv", uke.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no lab results"));
}

#[test]
fn a_tokutei_document_and_archive_convert_to_fhir_and_csv() {
    let out = tempfile::tempdir().unwrap();
    let xml = format!("{DATA}/tokutei/basic.xml");
    let o = run(&["--from", "tokutei", "--to", "csv", &xml]);
    assert_exit(&o, 0);
    let csv = String::from_utf8(o.stdout).unwrap();
    let hba1c = csv
        .lines()
        .find(|l| l.contains("3D046000001906202"))
        .expect("HbA1c");
    assert!(
        hba1c.contains("06139463:12-34:5678:01,2024-04-04,"),
        "{hba1c}"
    );
    assert!(hba1c.contains(",5.60,%,"), "{hba1c}");

    // A ZIP in the MHLW layout with one good and one broken document.
    let zip_path = out.path().join("checkups.zip");
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, file) in [
        ("ROOT/DATA/h1.xml", "basic.xml"),
        ("ROOT/DATA/h2.xml", "broken.xml"),
    ] {
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(
            &mut zip,
            &std::fs::read(format!("{DATA}/tokutei/{file}")).unwrap(),
        )
        .unwrap();
    }
    std::fs::write(&zip_path, zip.finish().unwrap().into_inner()).unwrap();
    let dir = out.path().join("fhir");
    let json = out.path().join("r.json");
    let o = run(&[
        "--from",
        "tokutei",
        "--to",
        "fhir",
        zip_path.to_str().unwrap(),
        "-o",
        dir.to_str().unwrap(),
        "--report",
        json.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "the broken document is rejected");
    let r = report(&json);
    assert_eq!(row(&r, "ROOT/DATA/h1.xml")["status"], "accepted");
    let broken = row(&r, "ROOT/DATA/h2.xml");
    assert_eq!(broken["status"], "rejected", "{r}");
    assert!(
        broken["code"].as_str().unwrap().starts_with("tokutei."),
        "{broken}"
    );
    let bundle: Value =
        serde_json::from_slice(&std::fs::read(dir.join("patient-1.json")).unwrap()).unwrap();
    let resources = valid_resources(&bundle);
    let hba1c = of_type(&resources, "Observation")
        .into_iter()
        .find(|o| o.to_string().contains("3D046000001906202"))
        .expect("HbA1c observation");
    assert!(hba1c.to_string().contains("\"value\":5.60"), "{hba1c}");
    assert_eq!(of_type(&resources, "Coverage").len(), 1);
}

/// FHIR R4 in: NDJSON lines (ids kept, references between lines) and a batch Bundle,
/// each resource checked as the gateway checks it and reported on its own row.
#[test]
fn fhir_ndjson_and_a_batch_convert_with_bad_resources_reported() {
    let out = tempfile::tempdir().unwrap();
    let input = out.path().join("fhir-in");
    std::fs::create_dir(&input).unwrap();
    let patient = serde_json::json!({
        "resourceType": "Patient", "id": "p1",
        "identifier": [
            {"system": format!("urn:oid:1.2.392.100495.20.3.51.1{CLINIC}"), "value": "N-1"},
            {"system": "http://jpfhir.jp/fhir/core/IdSystem/JP_Insurance_memberID", "value": "06139463:12:345:01"}
        ],
        "gender": "female", "birthDate": "1980-02-03"
    });
    // Written as text: the decimal literal 6.10 must reach the output as written.
    let observation = |subject: &str, status: &str| -> Value {
        serde_json::from_str(&format!(
            r#"{{"resourceType": "Observation", "status": "{status}",
                "code": {{"coding": [{{"system": "urn:oid:1.2.392.200119.4.504", "code": "3D046000001906202"}}]}},
                "subject": {{"reference": "{subject}"}},
                "effectiveDateTime": "2026-04-10T10:00:00+09:00",
                "valueQuantity": {{"value": 6.10, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}}}}"#
        ))
        .unwrap()
    };
    let lines = [
        patient.to_string(),
        observation("Patient/p1", "final").to_string(),
        observation("Patient/nobody", "final").to_string(),
        "{\"resourceType\": ".to_owned(),
    ];
    std::fs::write(input.join("a.ndjson"), lines.join("\n")).unwrap();
    let batch = serde_json::json!({
        "resourceType": "Bundle", "type": "batch",
        "entry": [
            {"resource": observation("Patient/p1", "final"), "request": {"method": "POST", "url": "Observation"}},
            {"resource": observation("Patient/p1", "bogus"), "request": {"method": "POST", "url": "Observation"}}
        ]
    });
    std::fs::write(input.join("b.json"), batch.to_string()).unwrap();
    let json = out.path().join("r.json");
    let csv_path = out.path().join("labs.csv");
    let o = run(&[
        "--from",
        "fhir",
        "--to",
        "csv",
        "--facility",
        CLINIC,
        input.to_str().unwrap(),
        "-o",
        csv_path.to_str().unwrap(),
        "--report",
        json.to_str().unwrap(),
    ]);
    assert_exit(&o, 1);
    let r = report(&json);
    assert_eq!(row(&r, "a.ndjson#1")["status"], "accepted", "{r}");
    assert_eq!(row(&r, "a.ndjson#2")["records"], 1, "{r}");
    let unknown = row(&r, "a.ndjson#3");
    assert_eq!(unknown["code"], "fhir.reference", "{unknown}");
    assert_eq!(unknown["location"], "Observation.subject", "{unknown}");
    assert_eq!(
        row(&r, "a.ndjson#4")["code"],
        "request.malformed_json",
        "{r}"
    );
    assert_eq!(row(&r, "b.json#entry[0]")["status"], "accepted", "{r}");
    let bad = row(&r, "b.json#entry[1]");
    assert_eq!(bad["status"], "rejected", "{bad}");
    assert!(
        bad["location"]
            .as_str()
            .unwrap()
            .starts_with("Bundle.entry[1].resource.status"),
        "{bad}"
    );
    // Both good results are the member's, decimal literal kept.
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let hba1c: Vec<&str> = csv
        .lines()
        .filter(|l| l.contains("3D046000001906202"))
        .collect();
    assert_eq!(hba1c.len(), 2, "{csv}");
    assert!(
        hba1c
            .iter()
            .all(|l| l.contains("06139463:12:345:01,2026-04-10,") && l.contains(",6.10,%")),
        "{csv}"
    );
    // The sending institution is required: its patients' ids are its own.
    let o = run(&["--from", "fhir", "--to", "ndjson", input.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--facility"));
}

#[test]
fn usage_errors_and_unreadable_input_exit_2() {
    let o = run(&["--from", "ssmix2", "--to", "fhir", "/nonexistent/tree"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&[
        "--from",
        "hl7v2",
        "--to",
        "fhir",
        &format!("{DATA}/hl7v2/batch_utf8.hl7"),
    ]);
    assert_eq!(o.status.code(), Some(2), "--facility is required");
    assert!(String::from_utf8_lossy(&o.stderr).contains("--facility"));
    let o = run(&["--from", "xml", "--to", "fhir", "x"]);
    assert_eq!(o.status.code(), Some(2), "clap refuses unknown formats");
    let o = run(&[
        "--from",
        "uke",
        "--to",
        "fhir",
        &format!("{DATA}/tokutei/basic.xml"),
    ]);
    assert_eq!(o.status.code(), Some(2), "not a UKE file");
    // An hl7 batch without lab results cannot become CSV.
    let o = run(&[
        "--from",
        "hl7v2",
        "--to",
        "csv",
        "--facility",
        CLINIC,
        &format!("{DATA}/hl7v2/adt61_iso2022jp.hl7"),
    ]);
    assert_eq!(o.status.code(), Some(2));
}
