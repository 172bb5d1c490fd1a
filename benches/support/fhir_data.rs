//! Synthetic, realistic transaction Bundles for the benchmark and the load generator:
//! per patient a Patient, a Coverage, four MedicationRequests and four lab Observations.

#![allow(dead_code)]

use serde_json::{Value, json};

pub const FACILITY: &str = "1311234567";

const DRUGS: &[(&str, &str)] = &[
    ("108665201", "ダーゼン錠５ｍｇ"),
    ("103835401", "ムコダイン錠２５０ｍｇ"),
    ("110626901", "パンスポリンＴ錠１００ｍｇ"),
    ("100607002", "アレビアチン１０倍散"),
];

const LABS: &[(&str, &str, &str, &str)] = &[
    ("3D046000001906202", "HbA1c", "6.80", "%"),
    ("3F077000002327101", "LDLコレステロール", "142", "mg/dL"),
    ("3B035000002327201", "AST", "24", "U/L"),
    ("3F015000002327101", "中性脂肪", "180", "mg/dL"),
];

fn entry(full_url: String, resource: Value) -> Value {
    let rtype = resource["resourceType"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    json!({"fullUrl": full_url, "resource": resource, "request": {"method": "POST", "url": rtype}})
}

/// A transaction with `patients` × 10 resources; `seed` keeps identifiers unique.
pub fn transaction_bundle(seed: u64, patients: usize) -> Value {
    let mut entries = Vec::with_capacity(patients * 10);
    for p in 0..patients {
        let n = seed * 1000 + p as u64;
        let pref = format!("urn:uuid:00000000-0000-4000-8000-{n:012}");
        entries.push(entry(
            pref.clone(),
            json!({
                "resourceType": "Patient",
                "identifier": [
                    {"system": format!("urn:oid:1.2.392.100495.20.3.51.1{FACILITY}"), "value": format!("L{n:08}")},
                    {"system": "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID", "value": format!("06139463:{}:{n}:01", n % 97)}
                ],
                "name": [{"text": "試験 太郎", "family": "試験", "given": ["太郎"]},
                         {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "SYL"}],
                          "text": "シケン タロウ", "family": "シケン", "given": ["タロウ"]}],
                "gender": if n.is_multiple_of(2) { "male" } else { "female" },
                "birthDate": format!("{}-0{}-1{}", 1940 + n % 60, 1 + n % 9, n % 10)
            }),
        ));
        entries.push(entry(
            format!("urn:uuid:00000000-0000-4000-9000-{n:012}"),
            json!({
                "resourceType": "Coverage", "status": "active",
                "identifier": [{"system": "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID", "value": format!("06139463:{}:{n}:01", n % 97)}],
                "beneficiary": {"reference": pref},
                "payor": [{"identifier": {"system": "urn:oid:1.2.392.100495.20.3.61", "value": "06139463"}}]
            }),
        ));
        for (i, (code, name)) in DRUGS.iter().enumerate() {
            entries.push(entry(
                format!("urn:uuid:00000000-0000-4000-a00{i}-{n:012}"),
                json!({
                    "resourceType": "MedicationRequest", "status": "active", "intent": "order",
                    "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.81", "value": (i + 1).to_string()},
                                   {"system": "urn:oid:1.2.392.100495.20.3.82", "value": "1"}],
                    "medicationCodeableConcept": {"coding": [{"system": "urn:oid:1.2.392.200119.4.403.1", "code": code, "display": name}]},
                    "subject": {"reference": pref},
                    "authoredOn": "2026-10-01T10:30:00+09:00",
                    "dosageInstruction": [{
                        "text": "内服・経口・１日３回朝昼夕食後",
                        "timing": {"code": {"coding": [{"system": "urn:oid:1.2.392.200250.2.2.20", "code": "1013044400000000"}]}},
                        "route": {"coding": [{"system": "http://jpfhir.jp/fhir/core/CodeSystem/route-codes", "code": "PO"}]},
                        "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "錠", "system": "urn:oid:1.2.392.100495.20.2.101", "code": "TAB"}}]
                    }],
                    "dispenseRequest": {"quantity": {"value": 84, "unit": "錠", "system": "urn:oid:1.2.392.100495.20.2.101", "code": "TAB"},
                                        "expectedSupplyDuration": {"value": 28, "unit": "日", "system": "http://unitsofmeasure.org", "code": "d"}}
                }),
            ));
        }
        for (i, (code, name, value, unit)) in LABS.iter().enumerate() {
            let mut obs = json!({
                "resourceType": "Observation", "status": "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
                "code": {"coding": [{"system": "urn:oid:1.2.392.200119.4.504", "code": code}], "text": name},
                "subject": {"reference": pref},
                "effectiveDateTime": "2026-10-01T09:15:00+09:00",
                "valueQuantity": {"unit": unit}
            });
            obs["valueQuantity"]["value"] = serde_json::from_str(value).unwrap_or(Value::Null);
            entries.push(entry(
                format!("urn:uuid:00000000-0000-4000-b00{i}-{n:012}"),
                obs,
            ));
        }
    }
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}
