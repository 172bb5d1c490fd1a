//! Domain values to FHIR (JP Core) resources, for data kakari serves that did not arrive as
//! FHIR (lab values pulled by insurers, records decoded from HL7 v2, UKE, 特定健診).
//! Decimals are written as the literal they were stored with.

use serde_json::{Map, Number, Value, json};

use crate::domain::code_system::id_system;
use crate::domain::{Decimal, LabResult, LabValue, MemberId};

fn number(d: &Decimal) -> Value {
    // With serde_json's arbitrary precision a Number keeps the literal.
    serde_json::from_str::<Number>(d.as_str()).map_or(Value::Null, Value::Number)
}

fn coding(system: &str, code: &str, display: Option<&str>) -> Value {
    let mut c = json!({"system": system, "code": code});
    if let Some(d) = display {
        c["display"] = json!(d);
    }
    c
}

/// A person as a FHIR Patient: the member id identifier, birth date and sex.
pub fn person_patient(
    id: &str,
    member: &MemberId,
    birth_date: Option<&str>,
    sex: Option<&str>,
) -> Value {
    let mut p = json!({
        "resourceType": "Patient",
        "id": id,
        "meta": {"profile": ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient"]},
        "identifier": [{"system": id_system::MEMBER_ID, "value": member.key()}]
    });
    if let Some(b) = birth_date {
        p["birthDate"] = json!(b);
    }
    if let Some(s) = sex {
        p["gender"] = json!(s);
    }
    p
}

/// The person's insurance as a FHIR Coverage.
pub fn member_coverage(id: &str, patient_id: &str, member: &MemberId) -> Value {
    const EXT: &str = "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/";
    let mut extension = vec![
        json!({"url": format!("{EXT}JP_Coverage_InsuredPersonSymbol"), "valueString": member.symbol()}),
        json!({"url": format!("{EXT}JP_Coverage_InsuredPersonNumber"), "valueString": member.number()}),
    ];
    if let Some(b) = member.branch() {
        extension.push(
            json!({"url": format!("{EXT}JP_Coverage_InsuredPersonSubNumber"), "valueString": b}),
        );
    }
    json!({
        "resourceType": "Coverage",
        "id": id,
        "meta": {"profile": ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Coverage"]},
        "extension": extension,
        "identifier": [{"system": id_system::MEMBER_ID, "value": member.key()}],
        "status": "active",
        "beneficiary": {"reference": format!("Patient/{patient_id}")},
        "payor": [{"identifier": {"system": id_system::INSURER, "value": member.insurer().as_str()}}]
    })
}

/// A lab result as a JP_Observation_LabResult.
pub fn lab_observation(id: &str, patient_id: &str, result: &LabResult) -> Value {
    let mut o = Map::new();
    o.insert("resourceType".into(), json!("Observation"));
    o.insert("id".into(), json!(id));
    o.insert(
        "meta".into(),
        json!({"profile": ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_LabResult"]}),
    );
    o.insert(
        "status".into(),
        json!(result.status.as_deref().unwrap_or("final")),
    );
    o.insert(
        "category".into(),
        json!([{"coding": [coding(
            "http://jpfhir.jp/fhir/core/CodeSystem/JP_SimpleObservationCategory_CS",
            result.category.as_deref().unwrap_or("laboratory"),
            None
        )]}]),
    );
    let codings: Vec<Value> = result
        .codes
        .iter()
        .map(|c| coding(&c.system, &c.code, c.display.as_deref()))
        .collect();
    let mut code = json!({"coding": codings});
    if let Some(name) = &result.name {
        code["text"] = json!(name);
    }
    o.insert("code".into(), code);
    o.insert(
        "subject".into(),
        json!({"reference": format!("Patient/{patient_id}")}),
    );
    if let Some(e) = &result.effective {
        o.insert("effectiveDateTime".into(), json!(e.to_string()));
    }
    match &result.value {
        LabValue::Quantity {
            value,
            comparator,
            unit,
            unit_code,
            unit_system,
        } => {
            let mut q = Map::new();
            q.insert("value".into(), number(value));
            if let Some(c) = comparator {
                q.insert("comparator".into(), json!(c));
            }
            if let Some(u) = unit {
                q.insert("unit".into(), json!(u));
            }
            if let Some(c) = unit_code {
                q.insert("code".into(), json!(c));
                q.insert(
                    "system".into(),
                    json!(
                        unit_system
                            .as_deref()
                            .unwrap_or("http://unitsofmeasure.org")
                    ),
                );
            }
            o.insert("valueQuantity".into(), Value::Object(q));
        }
        LabValue::Coded(c) => {
            o.insert(
                "valueCodeableConcept".into(),
                json!({"coding": [coding(&c.system, &c.code, c.display.as_deref())]}),
            );
        }
        LabValue::Text(t) => {
            o.insert("valueString".into(), json!(t));
        }
        LabValue::Absent { reason } => {
            o.insert(
                "dataAbsentReason".into(),
                json!({"coding": [coding(
                    "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                    reason.as_deref().unwrap_or("unknown"),
                    None
                )]}),
            );
        }
    }
    if let Some(f) = &result.flag {
        o.insert(
            "interpretation".into(),
            json!([{"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", f, None)]}]),
        );
    }
    if let Some(r) = &result.reference_range {
        let mut range = Map::new();
        if let Some(low) = &r.low {
            range.insert("low".into(), json!({"value": number(low)}));
        }
        if let Some(high) = &r.high {
            range.insert("high".into(), json!({"value": number(high)}));
        }
        if let Some(text) = &r.text {
            range.insert("text".into(), json!(text));
        }
        if !range.is_empty() {
            o.insert("referenceRange".into(), json!([Value::Object(range)]));
        }
    }
    if let Some(f) = &result.facility {
        o.insert(
            "performer".into(),
            json!([{"identifier": {"system": id_system::INSTITUTION, "value": f.as_str()}}]),
        );
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Coding, SubjectRef};

    #[test]
    fn observations_keep_the_decimal_literal_and_validate() {
        let member = MemberId::parse("06139463:12:345:01").unwrap();
        let mut r = LabResult::new(
            SubjectRef::Member(member),
            LabValue::Quantity {
                value: Decimal::parse("7.20").unwrap(),
                comparator: None,
                unit: Some("%".into()),
                unit_code: Some("%".into()),
                unit_system: None,
            },
        );
        r.codes.push(Coding::new(
            "urn:oid:1.2.392.200119.4.504",
            "3D046000001906202",
            None,
        ));
        r.name = Some("HbA1c".into());
        r.effective = crate::domain::FhirDateTime::parse("2026-10-01").ok();
        let o = lab_observation("lab-1", "p1", &r);
        assert!(o.to_string().contains("\"value\":7.20"));
        let issues = super::super::schema::validate(&o, "Observation");
        assert!(issues.is_empty(), "{issues:?}");
    }
}
