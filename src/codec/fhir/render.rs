//! Domain values to FHIR (JP Core) resources, for data kakari serves that did not arrive as
//! FHIR (lab values pulled by insurers, records decoded from HL7 v2, UKE, 特定健診, and
//! `kakari convert`). Decimals are written as the literal they were stored with.
//!
//! | domain value | resource (JP Core profile) |
//! |---|---|
//! | person by member id | Patient (`person_patient`) |
//! | local patient with demographics | Patient (`patient`) |
//! | member id | Coverage (`member_coverage`) |
//! | institution code | Organization (`organization`) |
//! | `MedicationRecord` prescription | MedicationRequest |
//! | `MedicationRecord` dispense | MedicationDispense |
//! | `MedicationRecord` claim, statement | MedicationStatement (claims tagged `claim`) |
//! | `MedicationRecord` administration | MedicationAdministration |
//! | `LabResult` | Observation (`lab_observation`) |
//! | `Condition` | Condition |
//! | `Allergy` | AllergyIntolerance |
//!
//! The medication, condition and allergy renderers write the elements `to_domain` reads,
//! so a rendered record reads back to the same values. A status the source gave that the
//! target resource does not allow is left to the resource's default.

use serde_json::{Map, Number, Value, json};

use super::jpcore::{ORDER_IN_RP_SYSTEMS, REQUEST_ID_SYSTEMS, RP_NUMBER_SYSTEMS};
use crate::domain::code_system::{Coding, id_system};
use crate::domain::person::{PatientIdentifier, PersonName};
use crate::domain::{
    Allergy, Condition, Decimal, Demographics, DrugRoute, FhirDateTime, InstitutionCode, LabResult,
    LabValue, MedicationKind, MedicationRecord, MemberId, Quantity,
};

const PROFILE: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/";
const EXT: &str = "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/";
const UCUM: &str = "http://unitsofmeasure.org";
/// The tag system kakari marks the source kind of a medication record with.
pub const MEDICATION_KIND_TAG: &str = "urn:kakari:medication-kind";

pub(crate) fn number(d: &Decimal) -> Value {
    // With serde_json's arbitrary precision a Number keeps the literal.
    serde_json::from_str::<Number>(d.as_str()).map_or(Value::Null, Value::Number)
}

/// Text as a FHIR `string` allows it: the C0 controls FHIR forbids (below U+0020 except
/// tab, CR and LF) become a space; everything else, the ideographic space U+3000 of
/// Japanese names included, is kept as received (see docs/fhir.md, "Strings").
pub fn fhir_text(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c < ' ' && !matches!(c, '\t' | '\r' | '\n') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

fn coding(system: &str, code: &str, display: Option<&str>) -> Value {
    let mut c = json!({"system": system, "code": code});
    if let Some(d) = display {
        c["display"] = json!(fhir_text(d));
    }
    c
}

/// The skeleton of a resource: type, id and its JP Core profile.
fn resource(rtype: &str, id: &str, profile: &str) -> Map<String, Value> {
    let mut r = Map::new();
    r.insert("resourceType".into(), json!(rtype));
    r.insert("id".into(), json!(id));
    r.insert(
        "meta".into(),
        json!({"profile": [format!("{PROFILE}{profile}")]}),
    );
    r
}

fn reference(target: &str) -> Value {
    json!({"reference": target})
}

fn concept(codings: &[Coding], text: Option<&str>) -> Value {
    let mut c = Map::new();
    if !codings.is_empty() {
        let list: Vec<Value> = codings
            .iter()
            .map(|c| coding(&c.system, &c.code, c.display.as_deref()))
            .collect();
        c.insert("coding".into(), Value::Array(list));
    }
    if let Some(t) = text.filter(|t| !t.is_empty()) {
        c.insert("text".into(), json!(fhir_text(t)));
    }
    Value::Object(c)
}

/// A bundle entry for a resource, its `fullUrl` built from type and id.
pub fn bundle_entry(resource: Value) -> Value {
    let rtype = resource["resourceType"].as_str().unwrap_or("").to_owned();
    let id = resource["id"].as_str().unwrap_or("").to_owned();
    json!({"fullUrl": format!("urn:kakari:{rtype}/{id}"), "resource": resource})
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
        code["text"] = json!(fhir_text(name));
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
            o.insert("valueString".into(), json!(fhir_text(t)));
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

/// What is known of a patient: ids at institutions, the member id, demographics.
#[derive(Debug, Clone, Copy)]
pub struct PatientFacts<'a> {
    pub local_ids: &'a [(InstitutionCode, String)],
    pub member: Option<&'a MemberId>,
    pub demographics: &'a Demographics,
    /// Further identifiers the source gave (HL7 PID-3 repetitions other than the local
    /// id), kept under the institution that sent them.
    pub other_identifiers: &'a [PatientIdentifier],
}

const NAME_REPRESENTATION: &str =
    "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";

/// One structured name: family and given as the source split them, its representation
/// (漢字 `IDE`, カナ `SYL`, Latin `ABC`) and use.
fn human_name(n: &PersonName) -> Option<Value> {
    let text = n.text()?;
    let mut v = Map::new();
    if let Some(r) = n.representation {
        v.insert(
            "extension".into(),
            json!([{"url": NAME_REPRESENTATION, "valueCode": r.iso21090()}]),
        );
    }
    // HL7 table 0200: L legal → official; D display → usual; others are kept as usual.
    let use_ = match n.name_type.as_deref() {
        Some("L") | None => "official",
        Some("M") => "maiden",
        Some("N") => "nickname",
        _ => "usual",
    };
    v.insert("use".into(), json!(use_));
    v.insert("text".into(), json!(fhir_text(&text)));
    if let Some(f) = n.family.as_deref().filter(|f| !f.trim().is_empty()) {
        v.insert("family".into(), json!(fhir_text(f.trim())));
    }
    if let Some(g) = n.given.as_deref().filter(|g| !g.trim().is_empty()) {
        v.insert("given".into(), json!([fhir_text(g.trim())]));
    }
    Some(Value::Object(v))
}

/// The system of an identifier a facility's HL7 feed gives besides its patient id.
fn other_identifier_system(facility: Option<&InstitutionCode>, id: &PatientIdentifier) -> String {
    let scope = facility.map_or("unknown", InstitutionCode::as_str);
    let kind = id
        .assigning_authority
        .as_deref()
        .or(id.type_code.as_deref())
        .unwrap_or("id");
    let kind: String = kind
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("urn:kakari:patient-identifier:{scope}:{kind}")
}

fn date_text(d: time::Date) -> String {
    FhirDateTime::Date(d).to_string()
}

/// A patient as a JP_Patient: local ids (`urn:oid:1.2.392.100495.20.3.51.1` + institution),
/// the member id, names (漢字 `IDE`, カナ `SYL`), sex and birth date.
pub fn patient(id: &str, facts: &PatientFacts<'_>) -> Value {
    let mut p = resource("Patient", id, "JP_Patient");
    let mut identifiers: Vec<Value> = facts
        .local_ids
        .iter()
        .map(|(facility, local)| {
            json!({"system": id_system::local_patient_system(facility.as_str()), "value": local})
        })
        .collect();
    let facility = facts.local_ids.first().map(|(f, _)| f);
    for other in facts.other_identifiers {
        if facts.local_ids.iter().any(|(_, l)| *l == other.value) {
            continue;
        }
        let mut ident = json!({
            "system": other_identifier_system(facility, other),
            "value": fhir_text(&other.value)
        });
        if let Some(t) = &other.type_code {
            ident["type"] = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": t}]});
        }
        identifiers.push(ident);
    }
    if let Some(m) = facts.member {
        identifiers.push(json!({"system": id_system::MEMBER_ID, "value": m.key()}));
    }
    if !identifiers.is_empty() {
        p.insert("identifier".into(), Value::Array(identifiers));
    }
    let d = facts.demographics;
    let structured: Vec<Value> = d.names.iter().filter_map(human_name).collect();
    if !structured.is_empty() {
        p.insert("name".into(), Value::Array(structured));
    }
    let names: Vec<Value> = [(&d.name, "IDE"), (&d.name_kana, "SYL")]
        .into_iter()
        .filter_map(|(name, representation)| {
            name.as_deref().filter(|n| !n.is_empty()).map(|n| {
                json!({
                    "extension": [{
                        "url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation",
                        "valueCode": representation
                    }],
                    "use": "official",
                    "text": fhir_text(n)
                })
            })
        })
        .collect();
    if !names.is_empty() && !p.contains_key("name") {
        p.insert("name".into(), Value::Array(names));
    }
    if let Some(sex) = d.sex {
        p.insert("gender".into(), json!(sex.as_fhir()));
    }
    if let Some(b) = d.birth_date {
        p.insert("birthDate".into(), json!(date_text(b)));
    }
    Value::Object(p)
}

/// A medical institution as a JP_Organization, identified by its 10-digit code.
pub fn organization(id: &str, code: &InstitutionCode, name: Option<&str>) -> Value {
    let mut o = resource("Organization", id, "JP_Organization");
    o.insert(
        "identifier".into(),
        json!([{"system": id_system::INSTITUTION, "value": code.as_str()}]),
    );
    if let Some(n) = name.filter(|n| !n.is_empty()) {
        o.insert("name".into(), json!(fhir_text(n)));
    }
    Value::Object(o)
}

fn quantity(q: &Quantity) -> Value {
    let mut v = Map::new();
    v.insert("value".into(), number(&q.value));
    if let Some(u) = &q.unit {
        v.insert("unit".into(), json!(u));
    }
    if let Some(c) = &q.code {
        if let Some(s) = &q.unit_system {
            v.insert("system".into(), json!(s));
        }
        v.insert("code".into(), json!(c));
    }
    Value::Object(v)
}

fn days(n: u32) -> Value {
    json!({"value": n, "unit": "日", "system": UCUM, "code": "d"})
}

fn pick<'a>(status: Option<&'a str>, allowed: &[&str], default: &'a str) -> &'a str {
    status.filter(|s| allowed.contains(s)).unwrap_or(default)
}

/// The HL7 table 0162 code (and Japanese display) that stands for a route class.
fn route_0162(route: DrugRoute) -> Option<(&'static str, &'static str)> {
    Some(match route {
        DrugRoute::Oral => ("PO", "口"),
        DrugRoute::Topical => ("TP", "外用"),
        DrugRoute::Rectal => ("PR", "直腸"),
        DrugRoute::Vaginal => ("VG", "膣"),
        DrugRoute::Inhalation => ("IH", "吸入"),
        DrugRoute::Ophthalmic => ("OP", "眼"),
        DrugRoute::Otic => ("OT", "耳"),
        DrugRoute::Nasal => ("NS", "鼻"),
        DrugRoute::Transdermal => ("TD", "経皮"),
        DrugRoute::Injection | DrugRoute::AsNeeded | DrugRoute::Other => return None,
    })
}

/// The dosage (JP_MedicationDosage) of a record; `None` when the record says nothing of it.
fn dosage(m: &MedicationRecord) -> Option<Value> {
    let mut d = Map::new();
    let mut extension = Vec::new();
    if let Some(start) = m.start {
        extension.push(json!({
            "url": format!("{EXT}JP_MedicationDosage_PeriodOfUse"),
            "valuePeriod": {"start": date_text(start)}
        }));
    }
    if let Some(n) = m.supply_days {
        extension.push(json!({
            "url": format!("{EXT}JP_MedicationDosage_UsageDuration"),
            "valueDuration": days(n)
        }));
    }
    if !extension.is_empty() {
        d.insert("extension".into(), Value::Array(extension));
    }
    if let Some(t) = m.usage_text.as_deref().filter(|t| !t.is_empty()) {
        d.insert("text".into(), json!(fhir_text(t)));
    }
    if let Some(u) = &m.usage {
        d.insert(
            "timing".into(),
            json!({"code": concept(std::slice::from_ref(u), None)}),
        );
    }
    if m.route == Some(DrugRoute::AsNeeded) {
        d.insert("asNeededBoolean".into(), json!(true));
    }
    // The route as the source coded it; else the HL7 table 0162 code of its class.
    let route = match (&m.route_coding, m.route.and_then(route_0162)) {
        (Some(c), _) => Some(json!({"coding": [coding(&c.system, &c.code, c.display.as_deref())]})),
        (None, Some((code, display))) => Some(
            json!({"coding": [coding("http://terminology.hl7.org/CodeSystem/v2-0162", code, Some(display))]}),
        ),
        (None, None) if m.route == Some(DrugRoute::Injection) => Some(json!({"text": "注射"})),
        (None, None) => None,
    };
    if let Some(route) = route {
        d.insert("route".into(), route);
    }
    let mut dose_and_rate = Map::new();
    if let Some(q) = &m.dose {
        dose_and_rate.insert("doseQuantity".into(), quantity(q));
    }
    if let Some(q) = &m.daily_dose {
        dose_and_rate.insert(
            "rateRatio".into(),
            json!({"numerator": quantity(q), "denominator": {"value": 1, "unit": "日", "system": UCUM, "code": "d"}}),
        );
    }
    if !dose_and_rate.is_empty() {
        d.insert("doseAndRate".into(), json!([Value::Object(dose_and_rate)]));
    }
    (!d.is_empty()).then_some(Value::Object(d))
}

fn medication_identifiers(m: &MedicationRecord) -> Option<Value> {
    let mut ids = Vec::new();
    if let Some(o) = &m.order_number {
        ids.push(json!({"system": REQUEST_ID_SYSTEMS[0], "value": o}));
    }
    if let Some(rp) = &m.rp_number {
        ids.push(json!({"system": RP_NUMBER_SYSTEMS[1], "value": rp}));
    }
    if let Some(n) = m.rp_sequence {
        ids.push(json!({"system": ORDER_IN_RP_SYSTEMS[1], "value": n.to_string()}));
    }
    (!ids.is_empty()).then_some(Value::Array(ids))
}

/// Who acted: the practitioner as the source named them, else the organization.
fn actor(m: &MedicationRecord, organization: Option<&str>) -> Option<Value> {
    match (&m.prescriber, organization) {
        (Some(p), _) if !p.is_empty() => Some(json!({"display": fhir_text(p)})),
        (_, Some(o)) => Some(reference(o)),
        _ => None,
    }
}

/// A medication record as the resource its kind calls for (see the module table).
/// `organization` is a reference (`Organization/…`) to the institution that prescribed,
/// dispensed or claimed it.
pub fn medication(
    id: &str,
    patient_id: &str,
    m: &MedicationRecord,
    organization: Option<&str>,
) -> Value {
    // The resource type, its JP Core profile, and the status vocabulary of that type with
    // the status to use when the source gave none (or one outside the vocabulary).
    let (rtype, profile, statuses, default_status): (_, _, &[&str], _) = match m.kind {
        MedicationKind::Prescription => (
            "MedicationRequest",
            "JP_MedicationRequest",
            &[
                "active",
                "on-hold",
                "cancelled",
                "completed",
                "entered-in-error",
                "stopped",
                "draft",
                "unknown",
            ],
            "active",
        ),
        MedicationKind::Dispense => (
            "MedicationDispense",
            "JP_MedicationDispense",
            &[
                "preparation",
                "in-progress",
                "cancelled",
                "on-hold",
                "completed",
                "entered-in-error",
                "stopped",
                "declined",
                "unknown",
            ],
            "completed",
        ),
        MedicationKind::Claim | MedicationKind::Statement => (
            "MedicationStatement",
            "JP_MedicationStatement",
            &[
                "active",
                "completed",
                "entered-in-error",
                "intended",
                "stopped",
                "on-hold",
                "unknown",
                "not-taken",
            ],
            if m.kind == MedicationKind::Claim {
                "completed"
            } else {
                "active"
            },
        ),
        MedicationKind::Administration => (
            "MedicationAdministration",
            "JP_MedicationAdministration",
            &[
                "in-progress",
                "not-done",
                "on-hold",
                "completed",
                "entered-in-error",
                "stopped",
                "unknown",
            ],
            "completed",
        ),
    };
    let mut r = resource(rtype, id, profile);
    if m.kind == MedicationKind::Claim
        && let Some(Value::Object(meta)) = r.get_mut("meta")
    {
        meta.insert(
            "tag".into(),
            json!([coding(
                MEDICATION_KIND_TAG,
                "claim",
                Some("insurer claim (レセプト)")
            )]),
        );
    }
    if let Some(ids) = medication_identifiers(m) {
        r.insert("identifier".into(), ids);
    }
    r.insert(
        "status".into(),
        json!(pick(m.status.as_deref(), statuses, default_status)),
    );
    r.insert(
        "medicationCodeableConcept".into(),
        concept(&m.codings, m.drug_name.as_deref()),
    );
    r.insert(
        "subject".into(),
        reference(&format!("Patient/{patient_id}")),
    );
    let recorded = m.recorded_at.map(|t| t.to_string());
    let dosage = dosage(m);
    match m.kind {
        MedicationKind::Prescription => {
            r.insert("intent".into(), json!("order"));
            if let Some(t) = recorded {
                r.insert("authoredOn".into(), json!(t));
            }
            if let Some(a) = actor(m, organization) {
                r.insert("requester".into(), a);
            }
            if let Some(d) = dosage {
                r.insert("dosageInstruction".into(), json!([d]));
            }
            if let Some(n) = m.supply_days {
                r.insert(
                    "dispenseRequest".into(),
                    json!({"expectedSupplyDuration": days(n)}),
                );
            }
        }
        MedicationKind::Dispense => {
            if let Some(a) = actor(m, organization) {
                r.insert("performer".into(), json!([{"actor": a}]));
            }
            if let Some(n) = m.supply_days {
                r.insert("daysSupply".into(), days(n));
            }
            if let Some(t) = recorded {
                r.insert("whenHandedOver".into(), json!(t));
            }
            if let Some(d) = dosage {
                r.insert("dosageInstruction".into(), json!([d]));
            }
        }
        MedicationKind::Claim | MedicationKind::Statement => {
            if let Some(start) = m.start {
                let mut period = Map::new();
                period.insert("start".into(), json!(date_text(start)));
                if let Some(end) = m.end() {
                    period.insert("end".into(), json!(date_text(end)));
                }
                r.insert("effectivePeriod".into(), Value::Object(period));
            }
            if let Some(t) = recorded {
                r.insert("dateAsserted".into(), json!(t));
            }
            if let Some(o) = organization {
                r.insert("informationSource".into(), reference(o));
            }
            if let Some(d) = dosage {
                r.insert("dosage".into(), json!([d]));
            }
        }
        MedicationKind::Administration => {
            if let Some(t) = recorded.or_else(|| m.start.map(date_text)) {
                r.insert("effectiveDateTime".into(), json!(t));
            }
            if let Some(a) = actor(m, organization) {
                r.insert("performer".into(), json!([{"actor": a}]));
            }
            let mut d = Map::new();
            if let Some(t) = m.usage_text.as_deref().filter(|t| !t.is_empty()) {
                d.insert("text".into(), json!(fhir_text(t)));
            }
            if let Some(Some(route)) = dosage.as_ref().map(|v| v.get("route")) {
                d.insert("route".into(), route.clone());
            }
            if let Some(q) = &m.dose {
                d.insert("dose".into(), quantity(q));
            }
            if !d.is_empty() {
                r.insert("dosage".into(), Value::Object(d));
            }
        }
    }
    Value::Object(r)
}

/// A diagnosis as a JP_Condition. A suspected diagnosis (疑い) is `provisional`; a record
/// withdrawn at the source (`entered-in-error`) says so in verificationStatus.
pub fn condition(id: &str, patient_id: &str, c: &Condition) -> Value {
    const CLINICAL: &[&str] = &[
        "active",
        "recurrence",
        "relapse",
        "inactive",
        "remission",
        "resolved",
    ];
    let mut r = resource("Condition", id, "JP_Condition");
    let status = c.clinical_status.as_deref();
    if let Some(s) = status.filter(|s| CLINICAL.contains(s)) {
        r.insert(
            "clinicalStatus".into(),
            json!({"coding": [coding("http://terminology.hl7.org/CodeSystem/condition-clinical", s, None)]}),
        );
    }
    let verification = if status == Some("entered-in-error") {
        "entered-in-error"
    } else if c.suspected {
        "provisional"
    } else {
        "confirmed"
    };
    r.insert(
        "verificationStatus".into(),
        json!({"coding": [coding("http://terminology.hl7.org/CodeSystem/condition-ver-status", verification, None)]}),
    );
    r.insert("code".into(), concept(&c.codes, c.name.as_deref()));
    r.insert(
        "subject".into(),
        reference(&format!("Patient/{patient_id}")),
    );
    if let Some(o) = c.onset {
        r.insert("onsetDateTime".into(), json!(o.to_string()));
    }
    if let Some(t) = c.recorded {
        r.insert("recordedDate".into(), json!(t.to_string()));
    }
    Value::Object(r)
}

/// An allergy as a JP_AllergyIntolerance.
pub fn allergy(id: &str, patient_id: &str, a: &Allergy) -> Value {
    let mut r = resource("AllergyIntolerance", id, "JP_AllergyIntolerance");
    if let Some(s) = a
        .clinical_status
        .as_deref()
        .filter(|s| ["active", "inactive", "resolved"].contains(s))
    {
        r.insert(
            "clinicalStatus".into(),
            json!({"coding": [coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", s, None)]}),
        );
    }
    if let Some(c) = a
        .category
        .as_deref()
        .filter(|c| ["food", "medication", "environment", "biologic"].contains(c))
    {
        r.insert("category".into(), json!([c]));
    }
    if let Some(c) = a
        .criticality
        .as_deref()
        .filter(|c| ["low", "high", "unable-to-assess"].contains(c))
    {
        r.insert("criticality".into(), json!(c));
    }
    r.insert("code".into(), concept(&a.codes, a.name.as_deref()));
    r.insert(
        "patient".into(),
        reference(&format!("Patient/{patient_id}")),
    );
    if let Some(t) = a.recorded {
        r.insert("recordedDate".into(), json!(t.to_string()));
    }
    Value::Object(r)
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

    #[test]
    fn text_keeps_the_ideographic_space_and_drops_forbidden_controls() {
        assert_eq!(fhir_text("山田　太郎"), "山田　太郎");
        assert_eq!(fhir_text("a\tb\r\n"), "a\tb\r\n");
        assert_eq!(fhir_text("a\u{0001}b\u{001F}"), "a b ");
        let mut r = LabResult::new(
            SubjectRef::FhirPatient("p1".into()),
            LabValue::Text("陰性　（－）".into()),
        );
        r.name = Some("尿蛋白　定性".into());
        let o = lab_observation("lab-2", "p1", &r);
        assert_eq!(o["code"]["text"], "尿蛋白　定性");
        assert_eq!(o["valueString"], "陰性　（－）");
        assert!(super::super::schema::validate(&o, "Observation").is_empty());
    }
}
