//! The consolidated medication list as FHIR (`$medication-list`): a `collection` Bundle of
//! JP Core MedicationStatements (one per entry, `derivedFrom` every source resource: the
//! clinic's MedicationRequest, the pharmacy's MedicationDispense, the claim's
//! MedicationStatement), DetectedIssues for the findings (`implicated` naming the
//! entries), and one Provenance for the list.
//!
//! kakari's own facts about an entry are extensions (`urn:kakari:extension:…`): the drug
//! key it was merged on, whether no master maps it, whether only claims know it, and each
//! source (kind, format, sender, institution, date, received at).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::render::{fhir_text, number};
use crate::domain::code_system::id_system;
use crate::domain::datetime::format_instant_millis;
use crate::domain::medication_list::{
    DrugKey, Finding, FindingRule, FindingSubject, ListEntry, MedicationList, SourcedMedication,
};
use crate::domain::{FhirDateTime, MedicationKind};

const EXT: &str = "urn:kakari:extension:medication-list:";
const STATEMENT_PROFILE: &str =
    "http://jpfhir.jp/fhir/core/StructureDefinition/JP_MedicationStatement";

/// What the list is about and who it names.
pub struct ListFacts<'a> {
    pub list: &'a MedicationList,
    pub inputs: &'a [SourcedMedication],
    /// The Patient the list is about.
    pub patient_id: &'a str,
    /// Institution code → name (directory).
    pub institutions: &'a BTreeMap<String, String>,
    /// Sending client id → name.
    pub senders: &'a BTreeMap<i64, String>,
    pub generated_at: i64,
}

fn day(d: time::Date) -> String {
    FhirDateTime::Date(d).to_string()
}

fn organization(code: &str, institutions: &BTreeMap<String, String>) -> Value {
    let mut r = json!({"identifier": {"system": id_system::INSTITUTION, "value": code}});
    if let Some(name) = institutions.get(code) {
        r["display"] = json!(fhir_text(name));
    }
    r
}

/// The drug key an entry was merged on, as text (`yj7:2149039`, `code:…|…`, `name:…`).
pub fn key_text(key: &DrugKey) -> String {
    match key {
        DrugKey::Yj7(k) => format!("yj7:{k}"),
        DrugKey::Code { system, code } => format!("code:{system}|{code}"),
        DrugKey::Name(n) => format!("name:{n}"),
    }
}

fn kind_label(kind: MedicationKind) -> &'static str {
    kind.as_str()
}

fn source_extension(facts: &ListFacts<'_>, index: usize) -> Option<Value> {
    let input = facts.inputs.get(index)?;
    let r = &input.record;
    let p = &input.source.provenance;
    let mut parts = vec![
        json!({"url": "kind", "valueCode": kind_label(r.kind)}),
        json!({"url": "format", "valueCode": p.format.as_str()}),
        json!({"url": "received", "valueInstant": format_instant_millis(p.received_at)}),
    ];
    if let Some(name) = facts.senders.get(&p.client_id) {
        parts.push(json!({"url": "sender", "valueString": fhir_text(name)}));
    }
    if let Some(f) = &r.facility {
        parts.push(json!({"url": "institution", "valueReference": organization(f.as_str(), facts.institutions)}));
    }
    if let Some(date) = r.start.or_else(|| r.recorded_at.and_then(|t| t.date())) {
        parts.push(json!({"url": "date", "valueDate": day(date)}));
    }
    if let Some(resource) = &input.source.resource {
        parts.push(json!({"url": "resource", "valueReference": {"reference": resource}}));
    }
    Some(json!({"url": format!("{EXT}source"), "extension": parts}))
}

fn statement(facts: &ListFacts<'_>, n: usize, entry: &ListEntry) -> Value {
    let primary = facts.inputs.get(entry.primary).map(|i| &i.record);
    let mut s = Map::new();
    s.insert("resourceType".into(), json!("MedicationStatement"));
    s.insert("id".into(), json!(format!("entry-{n}")));
    s.insert("meta".into(), json!({"profile": [STATEMENT_PROFILE]}));
    let mut extension = vec![
        json!({"url": format!("{EXT}drug-key"), "valueString": fhir_text(&key_text(&entry.identity.key))}),
        json!({"url": format!("{EXT}unmapped"), "valueBoolean": entry.is_unmapped()}),
        json!({"url": format!("{EXT}claims-only"), "valueBoolean": entry.only_claims}),
        json!({"url": format!("{EXT}counts-for-polypharmacy"), "valueBoolean": entry.counts_for_polypharmacy}),
    ];
    if let Some(route) = entry.route {
        extension.push(json!({"url": format!("{EXT}route"), "valueCode": route.as_str()}));
    }
    extension.extend(entry.sources().filter_map(|i| source_extension(facts, i)));
    s.insert("extension".into(), Value::Array(extension));
    s.insert(
        "status".into(),
        json!(if entry.active_on_as_of {
            "active"
        } else {
            "completed"
        }),
    );
    let mut concept = Map::new();
    if let Some(r) = primary {
        let codings: Vec<Value> = r
            .codings
            .iter()
            .map(|c| {
                let mut v = json!({"system": c.system, "code": c.code});
                if let Some(d) = &c.display {
                    v["display"] = json!(fhir_text(d));
                }
                v
            })
            .collect();
        if !codings.is_empty() {
            concept.insert("coding".into(), Value::Array(codings));
        }
        if let Some(name) = &r.drug_name {
            concept.insert("text".into(), json!(fhir_text(name)));
        }
    }
    if concept.is_empty() {
        concept.insert(
            "text".into(),
            json!(fhir_text(&key_text(&entry.identity.key))),
        );
    }
    s.insert("medicationCodeableConcept".into(), Value::Object(concept));
    s.insert(
        "subject".into(),
        json!({"reference": format!("Patient/{}", facts.patient_id)}),
    );
    s.insert(
        "effectivePeriod".into(),
        json!({"start": day(entry.start), "end": day(entry.end)}),
    );
    s.insert(
        "dateAsserted".into(),
        json!(format_instant_millis(facts.generated_at)),
    );
    if let Some(code) = &entry.institution {
        s.insert(
            "informationSource".into(),
            organization(code.as_str(), facts.institutions),
        );
    }
    let derived: Vec<Value> = entry
        .sources()
        .filter_map(|i| facts.inputs.get(i)?.source.resource.clone())
        .map(|r| json!({"reference": r}))
        .collect();
    if !derived.is_empty() {
        s.insert("derivedFrom".into(), Value::Array(derived));
    }
    if let Some(r) = primary {
        let mut dosage = Map::new();
        if let Some(t) = &r.usage_text {
            dosage.insert("text".into(), json!(fhir_text(t)));
        }
        if let Some(q) = &r.dose {
            let mut dose = json!({"value": number(&q.value)});
            if let Some(u) = &q.unit {
                dose["unit"] = json!(fhir_text(u));
            }
            dosage.insert("doseAndRate".into(), json!([{"doseQuantity": dose}]));
        }
        if r.route == Some(crate::domain::DrugRoute::AsNeeded) {
            dosage.insert("asNeededBoolean".into(), json!(true));
        }
        if !dosage.is_empty() {
            s.insert("dosage".into(), json!([Value::Object(dosage)]));
        }
    }
    Value::Object(s)
}

/// A finding explained in Japanese for the doctor (rule, threshold, what was seen).
pub fn explanation(f: &Finding) -> String {
    let held = format!("{}〜{}のうち{}日", day(f.start), day(f.end), f.days);
    match (f.setting.rule, f.subject) {
        (FindingRule::DuplicateTherapy, FindingSubject::Ingredient(k)) => format!(
            "同一成分・同一投与経路（{k}）の薬剤が{}施設から同時に処方されています（基準: {}施設以上、{held}）",
            f.observed, f.setting.threshold
        ),
        (FindingRule::SameClass, FindingSubject::Class(c)) => format!(
            "同一薬効分類（{c}）の異なる成分が{}施設から同時に処方されています（基準: {}施設以上、{held}）",
            f.observed, f.setting.threshold
        ),
        (FindingRule::Polypharmacy, _) => format!(
            "内服薬が同時に{}種類あります（基準: {}種類以上、{held}）",
            f.observed, f.setting.threshold
        ),
        (rule, _) => format!("{}（{held}）", rule.as_str()),
    }
}

fn detected_issue(facts: &ListFacts<'_>, n: usize, f: &Finding, urls: &[String]) -> Value {
    let code = &f.setting.code;
    let mut coding = json!({"system": code.system, "code": code.code});
    if let Some(d) = &code.display {
        coding["display"] = json!(d);
    }
    let mut extension = vec![
        json!({"url": format!("{EXT}rule"), "valueCode": f.setting.rule.as_str()}),
        json!({"url": format!("{EXT}threshold"), "valueInteger": f.setting.threshold}),
        json!({"url": format!("{EXT}observed"), "valueInteger": f.observed}),
        json!({"url": format!("{EXT}days"), "valueInteger": f.days}),
        json!({"url": format!("{EXT}held"), "valuePeriod": {"start": day(f.start), "end": day(f.end)}}),
    ];
    match f.subject {
        FindingSubject::Ingredient(k) => extension
            .push(json!({"url": format!("{EXT}ingredient-route"), "valueString": k.as_str()})),
        FindingSubject::Class(c) => extension
            .push(json!({"url": format!("{EXT}therapeutic-class"), "valueString": c.as_str()})),
        FindingSubject::List => {}
    }
    json!({
        "resourceType": "DetectedIssue",
        "id": format!("finding-{n}"),
        "extension": extension,
        "status": "final",
        "code": {"coding": [coding]},
        "severity": f.setting.severity.as_str(),
        "patient": {"reference": format!("Patient/{}", facts.patient_id)},
        "identifiedDateTime": day(facts.list.as_of),
        "implicated": f.entries.iter().filter_map(|e| urls.get(*e)).map(|u| json!({"reference": u})).collect::<Vec<_>>(),
        "detail": explanation(f)
    })
}

/// The list as a `collection` Bundle; `fresh_url` gives each entry's `fullUrl`
/// (`urn:uuid:…`), so DetectedIssue and Provenance can point at them.
pub fn bundle(facts: &ListFacts<'_>, mut fresh_url: impl FnMut() -> String) -> Value {
    let statement_urls: Vec<String> = facts.list.entries.iter().map(|_| fresh_url()).collect();
    let mut entries = Vec::new();
    for (n, (entry, url)) in facts.list.entries.iter().zip(&statement_urls).enumerate() {
        entries.push(json!({"fullUrl": url, "resource": statement(facts, n + 1, entry)}));
    }
    let mut targets: Vec<String> = statement_urls.clone();
    for (n, f) in facts.list.findings.iter().enumerate() {
        let url = fresh_url();
        entries.push(
            json!({"fullUrl": url, "resource": detected_issue(facts, n + 1, f, &statement_urls)}),
        );
        targets.push(url);
    }
    if !targets.is_empty() {
        let sources: Vec<Value> = facts
            .inputs
            .iter()
            .filter_map(|i| i.source.resource.as_ref())
            .map(|r| json!({"role": "derivation", "what": {"reference": r}}))
            .collect();
        let mut provenance = json!({
            "resourceType": "Provenance",
            "id": "list",
            "target": targets.iter().map(|t| json!({"reference": t})).collect::<Vec<_>>(),
            "recorded": format_instant_millis(facts.generated_at),
            "agent": [{
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "assembler"}]},
                "who": {"display": "kakari medication list"}
            }]
        });
        if !sources.is_empty() {
            provenance["entity"] = Value::Array(sources);
        }
        entries.push(json!({"fullUrl": fresh_url(), "resource": provenance}));
    }
    json!({
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": format_instant_millis(facts.generated_at),
        "meta": {"tag": [
            {"system": "urn:kakari:medication-list:as-of", "code": day(facts.list.as_of)},
            {"system": "urn:kakari:medication-list:window-start", "code": day(facts.list.window_start)},
            {"system": "urn:kakari:medication-list:undated", "code": facts.list.undated.len().to_string(),
             "display": "records without any date, kept out of the list"}
        ]},
        "entry": entries
    })
}
