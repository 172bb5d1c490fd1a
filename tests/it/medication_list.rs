//! The medication-list scenarios, as data (`tests/data/medication-list/<scenario>/`): every
//! input is decoded by the codecs the way the gateway decodes it (FHIR Bundles validated
//! and extracted for the posting client, HL7 v2 messages and SS-MIX2 storage files mapped
//! for the sending clinic, UKE files read with the drug master), linked to the scenario's
//! person through the insurance the inputs carry, consolidated, and compared with the
//! scenario's `expectations.json`. Pure: no store, no server. The format of both files is
//! in `tests/data/medication-list/README.md`; the gateway runs the same files end to end.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kakari::auth::Role;
use kakari::auth::caller::Caller;
use kakari::codec::archive::{self, Limits};
use kakari::codec::fhir::bundle;
use kakari::codec::{hl7v2, uke};
use kakari::consolidate::{ListSettings, consolidate};
use kakari::domain::{
    DrugKey, FhirDateTime, InstitutionCode, InsurerNumber, MedicationList, MedicationRecord,
    MemberId, Provenance, RecordSource, SourceFormat, SourcedMedication, SubjectRef,
};
use kakari::intake::Incoming;
use kakari::intake::storage_file::{TreeItem, tree_item};
use kakari::mapping::{DrugMaster, FindingRules};
use kakari::service::fhir::prepare::{new_id, prepare};
use serde::Deserialize;
use serde_json::{Value, json};
use time::Date;

pub(crate) fn scenarios_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/medication-list"
    ))
}

/// The masters the scenarios are read with: the curated tables plus `mappings/` as the
/// operator's directory, which holds the example local drug table.
pub(crate) fn masters_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/mappings"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Manifest {
    #[allow(dead_code)]
    pub description: String,
    pub member: String,
    pub as_of: String,
    #[serde(default)]
    pub settings: Option<ListSettings>,
    pub inputs: Vec<InputSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct InputSpec {
    pub file: String,
    pub format: String,
    pub post: String,
    pub client: ClientSpec,
    pub received_at: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientSpec {
    pub role: String,
    pub facility: Option<String>,
    pub insurer: Option<String>,
}

/// What one input gives: medication records (with location and FHIR resource) and the
/// links from the subjects they name to members.
#[derive(Default)]
struct Decoded {
    records: Vec<(MedicationRecord, String, Option<String>)>,
    links: Vec<(SubjectRef, MemberId)>,
}

fn facility_of(client: &ClientSpec) -> InstitutionCode {
    InstitutionCode::parse(
        client
            .facility
            .as_deref()
            .expect("the client names its facility"),
    )
    .expect("a 10-digit facility")
}

fn decode_fhir(bytes: &[u8], client: &ClientSpec, client_id: i64, at: &str) -> Decoded {
    let role = match client.role.as_str() {
        "emr" => Role::Emr,
        "pharmacy" => Role::Pharmacy,
        other => panic!("{at}: a FHIR input is posted by an emr or pharmacy client, not {other}"),
    };
    let caller = Caller {
        client_id,
        name: "scenario".into(),
        role,
        facility: Some(facility_of(client)),
        insurer: None,
        practitioner: None,
        member: None,
    };
    let value: Value = serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{at}: {e}"));
    let request = bundle::parse(value).unwrap_or_else(|p| panic!("{at}: {p:?}"));
    let entries: Vec<(bundle::Entry, String)> = request
        .entries
        .into_iter()
        .map(|e| {
            let e = e.unwrap_or_else(|p| panic!("{at}: {p:?}"));
            let id = e.id.clone().unwrap_or_else(new_id);
            (e, id)
        })
        .collect();
    let targets: HashMap<String, String> = entries
        .iter()
        .filter_map(|(e, id)| {
            e.full_url
                .clone()
                .map(|u| (u, format!("{}/{id}", e.rtype.as_str())))
        })
        .collect();
    let mut out = Decoded::default();
    for (entry, id) in entries {
        let mut resource = entry.resource;
        bundle::rewrite_references(&mut resource, &targets, None);
        let location = format!("Bundle.entry[{}].resource", entry.index);
        let prepared = prepare(&caller, entry.rtype, resource, id.clone(), &location)
            .unwrap_or_else(|p| panic!("{at} {location}: {p:?}"));
        let extracted = prepared.extracted;
        if let Some(member) = extracted.patient.and_then(|p| p.member) {
            out.links
                .push((SubjectRef::FhirPatient(id.clone()), member));
        }
        if let Some(coverage) = extracted.coverage
            && let (Some(beneficiary), Some(member)) = (coverage.beneficiary, coverage.member)
            && let Some(patient) = beneficiary.strip_prefix("Patient/")
        {
            out.links
                .push((SubjectRef::FhirPatient(patient.to_owned()), member));
        }
        for record in extracted.records {
            if let kakari::domain::ClinicalRecord::Medication(m) = record {
                let resource = format!("{}/{id}", entry.rtype.as_str());
                out.records.push((m, location.clone(), Some(resource)));
            }
        }
    }
    out
}

/// Records and links of one decoded HL7 v2 message (from a body or a storage file).
fn take_message(incoming: &Incoming, at: &str, out: &mut Decoded) {
    let mapped = incoming
        .mapped
        .as_ref()
        .unwrap_or_else(|| panic!("{at}: unreadable: {:?}", incoming.issues));
    assert!(
        !mapped.has_errors() && !incoming.issues.iter().any(|i| i.is_error()),
        "{at}: {:?} {:?}",
        mapped.issues,
        incoming.issues
    );
    let subject = incoming.subject().expect("the message names its patient");
    for link in &mapped.coverages {
        out.links.push((subject.clone(), link.member.clone()));
    }
    for record in &mapped.records {
        if let kakari::domain::ClinicalRecord::Medication(m) = &record.record {
            let mut m = m.clone();
            m.subject = subject.clone();
            out.records.push((m, record.location.clone(), None));
        }
    }
}

fn decode_hl7v2(bytes: &[u8], client: &ClientSpec, at: &str) -> Decoded {
    let (received, envelope) = hl7v2::receive(bytes, &facility_of(client));
    assert!(!envelope.iter().any(|i| i.is_error()), "{at}: {envelope:?}");
    assert!(!received.is_empty(), "{at}: no message");
    let mut out = Decoded::default();
    for message in &received {
        take_message(&Incoming::from_received(message), at, &mut out);
    }
    out
}

fn decode_ssmix2(dir: &Path, client: &ClientSpec, at: &str) -> Decoded {
    let facility = facility_of(client);
    let mut out = Decoded::default();
    archive::walk_dir(
        dir,
        &Limits::default(),
        &archive::everything,
        &mut |entry| {
            match tree_item(entry, &facility) {
                TreeItem::File { path, incoming } => {
                    take_message(&incoming, &format!("{at}/{path}"), &mut out);
                }
                TreeItem::Reported(report) => panic!("{at}: not read: {report:?}"),
            }
            true
        },
    )
    .unwrap_or_else(|p| panic!("{at}: {p:?}"));
    out
}

fn decode_uke(bytes: &[u8], client: &ClientSpec, master: &DrugMaster, at: &str) -> Decoded {
    assert_eq!(
        client.role, "insurer",
        "{at}: claims are posted by an insurer"
    );
    InsurerNumber::parse(client.insurer.as_deref().unwrap_or(""))
        .unwrap_or_else(|_| panic!("{at}: the insurer client names its insurer number"));
    let file = uke::parse(bytes).unwrap_or_else(|p| panic!("{at}: {p:?}"));
    assert!(
        !file.issues.iter().any(|i| i.is_error()),
        "{at}: {:?}",
        file.issues
    );
    let claims = uke::to_domain(&file, Some(master));
    let mut out = Decoded::default();
    for receipt in claims.receipts {
        if let Some(member) = &receipt.member {
            out.links
                .push((SubjectRef::Member(member.clone()), member.clone()));
        }
        if let Some(link) = &receipt.coverage {
            out.links.push((link.subject.clone(), link.member.clone()));
        }
        for m in receipt.medications {
            out.records
                .push((m, format!("RE line {}", receipt.line), None));
        }
    }
    out
}

fn date(text: &str) -> Date {
    FhirDateTime::parse(text)
        .ok()
        .and_then(|d| d.date())
        .unwrap_or_else(|| panic!("not a date: {text}"))
}

/// A scenario decoded: the person's sourced records and, per record, its input's name.
struct Loaded {
    manifest: Manifest,
    inputs: Vec<SourcedMedication>,
    input_names: Vec<String>,
}

fn load(dir: &Path, master: &DrugMaster) -> Loaded {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(dir.join("scenario.json"))
            .unwrap_or_else(|_| panic!("{name}: no scenario.json")),
    )
    .unwrap_or_else(|e| panic!("{name}/scenario.json: {e}"));
    let person = MemberId::parse(&manifest.member).expect("the scenario's member id");
    // Links hold across inputs (an ADT^A08 links the patient its RDE^O11 names), as the
    // store keeps them: decode every input first, then resolve every record.
    let mut decoded_inputs = Vec::new();
    let mut links: HashMap<SubjectRef, MemberId> = HashMap::new();
    for (i, spec) in manifest.inputs.iter().enumerate() {
        let at = format!("{name}/{}", spec.file);
        let path = dir.join(&spec.file);
        let client_id = i as i64 + 1;
        let (format, decoded) = match spec.format.as_str() {
            "fhir" => (
                SourceFormat::Fhir,
                decode_fhir(&std::fs::read(&path).unwrap(), &spec.client, client_id, &at),
            ),
            "hl7v2" => (
                SourceFormat::Hl7v2,
                decode_hl7v2(&std::fs::read(&path).unwrap(), &spec.client, &at),
            ),
            "ssmix2" => (
                SourceFormat::Ssmix2,
                decode_ssmix2(&path, &spec.client, &at),
            ),
            "uke" => (
                SourceFormat::Uke,
                decode_uke(&std::fs::read(&path).unwrap(), &spec.client, master, &at),
            ),
            other => panic!("{at}: unknown format {other}"),
        };
        links.extend(decoded.links);
        decoded_inputs.push((spec, at, client_id, format, decoded.records));
    }
    let mut inputs = Vec::new();
    let mut input_names = Vec::new();
    for (spec, at, client_id, format, records) in decoded_inputs {
        let received_at = FhirDateTime::parse(&spec.received_at)
            .unwrap_or_else(|_| panic!("{at}: receivedAt"))
            .range()
            .lo;
        for (record, location, resource) in records {
            let linked = match &record.subject {
                SubjectRef::Member(m) => Some(m),
                other => links.get(other),
            };
            assert_eq!(
                linked,
                Some(&person),
                "{at} {location}: the record is not linked to the scenario's person"
            );
            inputs.push(SourcedMedication {
                record,
                source: RecordSource {
                    record_pk: inputs.len() as i64 + 1,
                    resource,
                    provenance: Provenance {
                        client_id,
                        input_id: client_id,
                        format,
                        received_at,
                        location,
                    },
                },
            });
            input_names.push(spec.file.clone());
        }
    }
    Loaded {
        manifest,
        inputs,
        input_names,
    }
}

/// The list in the expectations' terms (independent of how the records arrived).
fn describe(list: &MedicationList, loaded: &Loaded) -> Value {
    let entries: Vec<Value> = list
        .entries
        .iter()
        .map(|e| {
            let drug = match &e.identity.key {
                DrugKey::Yj7(k) => json!({"yj7": k.as_str()}),
                DrugKey::Code { system, code } => json!({"system": system, "code": code}),
                DrugKey::Name(n) => json!({"name": n}),
            };
            let mut sources: Vec<Value> = e
                .sources()
                .map(|i| {
                    json!({
                        "kind": loaded.inputs[i].record.kind.as_str(),
                        "input": loaded.input_names[i],
                    })
                })
                .collect();
            sources.sort_by_key(Value::to_string);
            json!({
                "drug": drug,
                "unmapped": e.is_unmapped(),
                "institution": e.institution.as_ref().map(InstitutionCode::as_str),
                "route": e.route.map(|r| r.as_str()),
                "start": e.start.to_string(),
                "end": e.end.to_string(),
                "activeOnAsOf": e.active_on_as_of,
                "onlyClaims": e.only_claims,
                "countsForPolypharmacy": e.counts_for_polypharmacy,
                "sources": sources,
            })
        })
        .collect();
    let findings: Vec<Value> = list
        .findings
        .iter()
        .map(|f| {
            let subject = match f.subject {
                kakari::domain::FindingSubject::Ingredient(k) => Some(k.to_string()),
                kakari::domain::FindingSubject::Class(c) => Some(c.to_string()),
                kakari::domain::FindingSubject::List => None,
            };
            json!({
                "rule": f.setting.rule.as_str(),
                "code": f.setting.code.code,
                "severity": f.setting.severity.as_str(),
                "threshold": f.setting.threshold,
                "subject": subject,
                "observed": f.observed,
                "start": f.start.to_string(),
                "end": f.end.to_string(),
                "days": f.days,
                "entries": f.entries,
            })
        })
        .collect();
    json!({"entries": entries, "findings": findings, "undated": list.undated.len()})
}

/// Compares the described list with the expectations; `Err` says what differs. Entries
/// match whatever their order (an expected drug given by code alone matches any system);
/// findings name entries by their position in the expectations.
pub(crate) fn check(actual: &Value, expected: &Value) -> Result<(), String> {
    let listed = |v: &Value, key: &str| v[key].as_array().cloned().unwrap_or_default();
    let (actual_entries, expected_entries) =
        (listed(actual, "entries"), listed(expected, "entries"));
    if actual_entries.len() != expected_entries.len() {
        return Err(format!(
            "{} entries, expected {}",
            actual_entries.len(),
            expected_entries.len()
        ));
    }
    let normalise = |e: &Value| {
        let mut e = e.clone();
        if let Some(sources) = e["sources"].as_array_mut() {
            sources.sort_by_key(Value::to_string);
        }
        e
    };
    // Actual position → expected position.
    let mut position: HashMap<usize, usize> = HashMap::new();
    for (want_at, want) in expected_entries.iter().enumerate() {
        let want = normalise(want);
        let found = actual_entries.iter().enumerate().find(|(at, got)| {
            let mut got = normalise(got);
            if want["drug"].get("system").is_none()
                && let Some(drug) = got["drug"].as_object_mut()
            {
                drug.remove("system");
            }
            !position.contains_key(at) && got == want
        });
        match found {
            Some((at, _)) => {
                position.insert(at, want_at);
            }
            None => {
                return Err(format!(
                    "no entry matches expected entry {want_at}: {want:#}"
                ));
            }
        }
    }
    let mut actual_findings: Vec<Value> = listed(actual, "findings")
        .into_iter()
        .map(|mut f| {
            let mut entries: Vec<usize> = f["entries"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
                .map(|i| position[&(i as usize)])
                .collect();
            entries.sort_unstable();
            f["entries"] = json!(entries);
            f
        })
        .collect();
    let mut expected_findings = listed(expected, "findings");
    for f in &mut expected_findings {
        if let Some(entries) = f["entries"].as_array_mut() {
            entries.sort_by_key(|v| v.as_u64());
        }
    }
    actual_findings.sort_by_key(Value::to_string);
    expected_findings.sort_by_key(Value::to_string);
    if actual_findings != expected_findings {
        return Err(format!("findings differ: expected {expected_findings:#?}"));
    }
    if actual["undated"] != expected["undated"] {
        return Err(format!(
            "undated {} expected {}",
            actual["undated"], expected["undated"]
        ));
    }
    Ok(())
}

pub(crate) fn scenario_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(scenarios_dir())
        .expect("tests/data/medication-list exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Runs one scenario; returns the described list and the expectations.
fn run(dir: &Path, master: &DrugMaster) -> (Value, Value) {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let expected: Value = serde_json::from_slice(
        &std::fs::read(dir.join("expectations.json"))
            .unwrap_or_else(|_| panic!("{name}: a scenario without expectations.json")),
    )
    .unwrap_or_else(|e| panic!("{name}/expectations.json: {e}"));
    let loaded = load(dir, master);
    let settings = loaded.manifest.settings.unwrap_or_default();
    let rules = FindingRules::bundled().expect("bundled rules");
    let list = consolidate(
        &loaded.inputs,
        master,
        rules,
        date(&loaded.manifest.as_of),
        &settings,
    );
    (describe(&list, &loaded), expected)
}

#[test]
fn every_scenario_gives_the_expected_list() {
    let (master, report) = DrugMaster::load(&masters_dir()).expect("masters load");
    assert!(report.issues.is_empty(), "{:?}", report.issues);
    let dirs = scenario_dirs();
    assert!(dirs.len() >= 7, "the scenarios are missing");
    let mut failures = Vec::new();
    for dir in &dirs {
        let (actual, expected) = run(dir, &master);
        if let Err(why) = check(&actual, &expected) {
            failures.push(format!(
                "{}: {why}\nactual: {actual:#}",
                dir.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_check_refuses_a_list_that_differs_from_its_expectations() {
    let (master, _) = DrugMaster::load(&masters_dir()).expect("masters load");
    let dir = scenarios_dir().join("01-prescription-dispensing-claim");
    let (actual, expected) = run(&dir, &master);
    assert_eq!(check(&actual, &expected), Ok(()));
    let mut fewer_sources = expected.clone();
    fewer_sources["entries"][0]["sources"]
        .as_array_mut()
        .unwrap()
        .pop();
    assert!(check(&actual, &fewer_sources).is_err());
    let mut finding = expected.clone();
    finding["findings"] = json!([{"rule": "duplicate-therapy"}]);
    assert!(check(&actual, &finding).is_err());
    let mut other_drug = expected;
    other_drug["entries"][0]["drug"] = json!({"code": "2171022"});
    assert!(check(&actual, &other_drug).is_err());
}

#[test]
fn without_the_local_table_the_clinic_code_stays_unmapped() {
    // The same HL7 v2 inputs read with the curated master only: the local code the
    // example table maps is kept under its own code, marked unmapped, not dropped.
    let master = DrugMaster::curated().expect("curated master");
    let (actual, _) = run(&scenarios_dir().join("06-unmapped-drug-kept"), &master);
    let unmapped: Vec<&Value> = actual["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["unmapped"] == json!(true))
        .collect();
    let codes: Vec<&str> = unmapped
        .iter()
        .filter_map(|e| e["drug"]["code"].as_str())
        .collect();
    assert_eq!(codes.len(), 3, "{actual:#}");
    assert!(codes.contains(&"9900456") && codes.contains(&"9900123"));
}
