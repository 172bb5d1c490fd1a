//! FHIR resources (JP Core) to canonical domain values.
//!
//! Patient → facility-local patient facts (local ids, member id, demographics); Coverage →
//! the member id that links the patient to a person; MedicationRequest / MedicationDispense
//! / MedicationStatement → medication records; Observation (and each component) → lab
//! results; Condition → conditions; AllergyIntolerance → allergies. Directory types
//! (Organization, Practitioner, PractitionerRole) yield no clinical records.

use serde_json::Value;
use time::Date;

use super::ResourceType;
use super::path::{child, index};
use super::value::{codings, decimal, items, reference_target, str_of};
use crate::domain::code_system::{KnownSystem, id_system};
use crate::domain::medication::DrugRoute;
use crate::domain::{
    Allergy, ClinicalRecord, Coding, Condition, Demographics, FhirDateTime, InstitutionCode,
    LabResult, LabValue, MedicationKind, MedicationRecord, MemberId, Quantity, ReferenceRange, Sex,
    SubjectRef,
};
use crate::error::{ErrorCode, Issue};

/// What a Patient resource says about identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatientFacts {
    /// Facility-local patient ids (institution, id).
    pub local_ids: Vec<(InstitutionCode, String)>,
    pub member: Option<MemberId>,
    pub demographics: Demographics,
}

/// Member id parts a Coverage gives without the insurer number (JP Core extensions), to
/// be completed from the payor Organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialMember {
    pub symbol: String,
    pub number: String,
    pub branch: Option<String>,
    /// The insurer number when the payor reference carries it as a logical identifier.
    pub insurer: Option<String>,
    /// `Organization/{id}` of the payor, to read the insurer number from.
    pub payor_id: Option<String>,
}

/// What a Coverage resource says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageFacts {
    pub beneficiary: Option<String>,
    pub member: Option<MemberId>,
    pub partial: Option<PartialMember>,
    pub active: bool,
}

impl CoverageFacts {
    /// The payor Organization whose insurer number completes a member id given in parts
    /// (JP Core extensions without the insurer number).
    pub fn payor_to_read(&self) -> Option<&str> {
        match (&self.member, &self.partial) {
            (None, Some(p)) if p.insurer.is_none() => p.payor_id.as_deref(),
            _ => None,
        }
    }

    /// The member id: as given, or completed from its parts with the insurer number the
    /// payor reference carries, else `payor_insurer` (read from the payor Organization).
    pub fn member_id(&self, payor_insurer: Option<&str>) -> Option<MemberId> {
        match (&self.member, &self.partial) {
            (Some(m), _) => Some(m.clone()),
            (None, Some(p)) => {
                let insurer = p.insurer.as_deref().or(payor_insurer)?;
                MemberId::from_parts(insurer, &p.symbol, &p.number, p.branch.as_deref()).ok()
            }
            (None, None) => None,
        }
    }
}

/// The insurer number an Organization resource carries (its identifier in an insurer
/// number system).
pub fn insurer_of_organization(org: &Value) -> Option<String> {
    items(org, "identifier")
        .iter()
        .find(|i| str_of(i, "system").is_some_and(id_system::is_insurer))
        .and_then(|i| str_of(i, "value"))
        .map(str::to_owned)
}

/// Everything kakari takes from one resource.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extracted {
    /// The patient the resource is about (`Patient/{id}` or a facility-local id).
    pub subject: Option<SubjectRef>,
    pub patient: Option<PatientFacts>,
    pub coverage: Option<CoverageFacts>,
    pub records: Vec<ClinicalRecord>,
    pub issues: Vec<Issue>,
}

/// Context the resource does not carry itself.
#[derive(Debug, Clone, Default)]
pub struct ExtractContext {
    /// The writing client's institution.
    pub facility: Option<InstitutionCode>,
}

const EXT: &str = "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/";

fn extension<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    items(v, "extension")
        .iter()
        .find(|e| str_of(e, "url").is_some_and(|u| u.strip_prefix(EXT) == Some(name)))
}

fn date_of(v: Option<&Value>) -> Option<Date> {
    v.and_then(Value::as_str)
        .and_then(|s| FhirDateTime::parse(s).ok())
        .and_then(|d| d.date())
}

fn datetime_of(v: Option<&Value>) -> Option<FhirDateTime> {
    v.and_then(Value::as_str)
        .and_then(|s| FhirDateTime::parse(s).ok())
}

fn quantity(v: &Value) -> Option<Quantity> {
    Some(Quantity {
        value: decimal(v.get("value")?)?,
        unit: str_of(v, "unit").map(str::to_owned),
        code: str_of(v, "code").map(str::to_owned),
        unit_system: str_of(v, "system").map(str::to_owned),
    })
}

/// The patient `resource.{element}` names: a literal `Patient/{id}`, or logically a member
/// id or a facility-local patient id.
pub fn subject_of(resource: &Value, element: &str) -> Option<SubjectRef> {
    let s = resource.get(element)?;
    if let Some((t, id)) = str_of(s, "reference").and_then(reference_target)
        && t == "Patient"
    {
        return Some(SubjectRef::FhirPatient(id.to_owned()));
    }
    // Logical references: the insurance member id (JP-CLINS), or a facility-local id.
    let ident = s.get("identifier")?;
    let system = str_of(ident, "system")?;
    let value = str_of(ident, "value")?;
    if id_system::is_member_id(system) {
        return MemberId::parse(value).ok().map(SubjectRef::Member);
    }
    let facility = id_system::local_patient_facility(system)?;
    Some(SubjectRef::Local {
        facility: InstitutionCode::parse(facility).ok()?,
        local_id: value.to_owned(),
    })
}

fn reference_text(v: Option<&Value>) -> Option<String> {
    let v = v?;
    str_of(v, "reference")
        .or_else(|| v.get("identifier").and_then(|i| str_of(i, "value")))
        .or_else(|| str_of(v, "display"))
        .map(str::to_owned)
}

/// Extracts the domain values of a validated resource.
pub fn extract(rtype: ResourceType, r: &Value, root: &str, ctx: &ExtractContext) -> Extracted {
    let mut out = Extracted {
        subject: rtype.subject_element().and_then(|e| subject_of(r, e)),
        ..Extracted::default()
    };
    match rtype {
        ResourceType::Patient => out.patient = Some(patient(r)),
        ResourceType::Coverage => out.coverage = Some(coverage(r, root, &mut out.issues)),
        ResourceType::MedicationRequest
        | ResourceType::MedicationDispense
        | ResourceType::MedicationStatement
        | ResourceType::MedicationAdministration => {
            if let Some(subject) = out.subject.clone() {
                out.records.push(ClinicalRecord::Medication(medication(
                    rtype, r, subject, ctx,
                )));
            }
        }
        ResourceType::Observation => {
            if let Some(subject) = out.subject.clone() {
                out.records.extend(
                    observation(r, subject, ctx)
                        .into_iter()
                        .map(ClinicalRecord::Lab),
                );
            }
        }
        ResourceType::Condition => {
            if let Some(subject) = out.subject.clone() {
                out.records
                    .push(ClinicalRecord::Condition(condition(r, subject, ctx)));
            }
        }
        ResourceType::AllergyIntolerance => {
            if let Some(subject) = out.subject.clone() {
                out.records
                    .push(ClinicalRecord::Allergy(allergy(r, subject, ctx)));
            }
        }
        // Stored and searchable; no canonical record of their own.
        ResourceType::Organization
        | ResourceType::Practitioner
        | ResourceType::PractitionerRole
        | ResourceType::Encounter
        | ResourceType::Specimen
        | ResourceType::Provenance
        | ResourceType::Bundle => {}
    }
    out
}

fn patient(r: &Value) -> PatientFacts {
    let mut facts = PatientFacts::default();
    for ident in items(r, "identifier") {
        let system = str_of(ident, "system").unwrap_or("");
        let Some(value) = str_of(ident, "value") else {
            continue;
        };
        if let Some(code) = id_system::local_patient_facility(system)
            && let Ok(code) = InstitutionCode::parse(code)
        {
            facts.local_ids.push((code, value.to_owned()));
        } else if id_system::is_member_id(system) {
            facts.member = MemberId::parse(value).ok();
        }
    }
    for name in items(r, "name") {
        let representation = extension_value_code(
            name,
            "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation",
        );
        let text = str_of(name, "text").map(str::to_owned).or_else(|| {
            let family = str_of(name, "family").unwrap_or("");
            let given: Vec<&str> = items(name, "given")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let joined = format!("{family} {}", given.join(" ")).trim().to_owned();
            (!joined.is_empty()).then_some(joined)
        });
        match representation {
            Some("SYL") => {
                facts.demographics.name_kana = facts.demographics.name_kana.take().or(text)
            }
            _ => facts.demographics.name = facts.demographics.name.take().or(text),
        }
    }
    facts.demographics.birth_date = date_of(r.get("birthDate"));
    facts.demographics.sex = str_of(r, "gender").and_then(Sex::from_fhir);
    facts
}

fn extension_value_code<'a>(v: &'a Value, url: &str) -> Option<&'a str> {
    items(v, "extension")
        .iter()
        .find(|e| str_of(e, "url") == Some(url))
        .and_then(|e| str_of(e, "valueCode"))
}

/// `"00012345","１２－３４","５６７８","00"` or `"１２－３４","５６７８","００"`: quoted
/// comma-separated parts (JP_Coverage_id / insuranceCsvIdentifier).
fn csv_parts(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|p| p.trim().trim_matches('"').to_owned())
        .collect()
}

fn coverage(r: &Value, root: &str, issues: &mut Vec<Issue>) -> CoverageFacts {
    let beneficiary = r
        .get("beneficiary")
        .and_then(|b| str_of(b, "reference"))
        .and_then(reference_target)
        .filter(|(t, _)| *t == "Patient")
        .map(|(_, id)| id.to_owned());
    let active = !matches!(str_of(r, "status"), Some("cancelled" | "entered-in-error"));
    let mut member = None;
    let mut csv: Option<Vec<String>> = None;
    for (i, ident) in items(r, "identifier").iter().enumerate() {
        let system = str_of(ident, "system").unwrap_or("");
        let Some(value) = str_of(ident, "value") else {
            continue;
        };
        if id_system::is_member_id(system) {
            member = MemberId::parse(value).ok();
        } else if value.contains(',') && csv.is_none() {
            let parts = csv_parts(value);
            if parts.len() == 4 {
                match MemberId::from_parts(&parts[0], &parts[1], &parts[2], Some(&parts[3])) {
                    Ok(m) => member = member.or(Some(m)),
                    Err(_) => issues.push(Issue::warning(
                        ErrorCode::InvalidMemberId,
                        child(&index(&child(root, "identifier"), i), "value"),
                        "identifier looks like a member id in CSV form but does not parse",
                    )),
                }
            } else if parts.len() == 3 {
                csv = Some(parts);
            }
        }
    }
    let payor = items(r, "payor").first();
    let payor_id = payor
        .and_then(|p| str_of(p, "reference"))
        .and_then(reference_target)
        .filter(|(t, _)| *t == "Organization")
        .map(|(_, id)| id.to_owned());
    let insurer = payor
        .and_then(|p| p.get("identifier"))
        .filter(|i| str_of(i, "system").is_some_and(id_system::is_insurer))
        .and_then(|i| str_of(i, "value"))
        .map(str::to_owned);
    let ext_string = |name: &str| {
        extension(r, name)
            .and_then(|e| str_of(e, "valueString"))
            .map(str::to_owned)
    };
    let partial = match (
        ext_string("JP_Coverage_InsuredPersonSymbol"),
        ext_string("JP_Coverage_InsuredPersonNumber"),
    ) {
        (Some(symbol), Some(number)) => Some(PartialMember {
            symbol,
            number,
            branch: ext_string("JP_Coverage_InsuredPersonSubNumber")
                .or_else(|| str_of(r, "dependent").map(str::to_owned)),
            insurer: insurer.clone(),
            payor_id: payor_id.clone(),
        }),
        _ => csv.map(|parts| PartialMember {
            symbol: parts[0].clone(),
            number: parts[1].clone(),
            branch: Some(parts[2].clone()).filter(|b| !b.is_empty()),
            insurer: insurer.clone(),
            payor_id: payor_id.clone(),
        }),
    };
    // A partial member with the insurer number at hand is complete.
    if member.is_none()
        && let Some(p) = &partial
        && let Some(ins) = &p.insurer
    {
        member = MemberId::from_parts(ins, &p.symbol, &p.number, p.branch.as_deref()).ok();
    }
    CoverageFacts {
        beneficiary,
        member,
        partial,
        active,
    }
}

fn route(dosage: &Value, injection: bool) -> Option<DrugRoute> {
    if injection {
        return Some(DrugRoute::Injection);
    }
    if dosage.get("asNeededBoolean") == Some(&Value::Bool(true))
        || dosage.get("asNeededCodeableConcept").is_some()
    {
        return Some(DrugRoute::AsNeeded);
    }
    let route_code = dosage
        .get("route")
        .map(|r| items(r, "coding"))
        .unwrap_or_default()
        .iter()
        .find_map(|c| str_of(c, "code"));
    match route_code {
        Some("PO" | "OR" | "SL") => Some(DrugRoute::Oral),
        Some("TP" | "TOP" | "EXT" | "AP" | "OP" | "NS" | "IH" | "PR" | "VG") => {
            Some(DrugRoute::Topical)
        }
        Some("IV" | "IM" | "SC" | "ID" | "IA" | "IC") => Some(DrugRoute::Injection),
        Some(_) => Some(DrugRoute::Other),
        None => None,
    }
}

fn usage(dosage: &Value) -> Option<Coding> {
    let timing_code = dosage.get("timing")?.get("code")?;
    codings(timing_code)
        .into_iter()
        .find(|c| c.known_system() == Some(KnownSystem::JamiUsage))
        .or_else(|| codings(timing_code).into_iter().next())
}

fn per_day(dose_and_rate: &Value) -> Option<Quantity> {
    let ratio = dose_and_rate.get("rateRatio")?;
    let denominator = ratio.get("denominator")?;
    let is_one_day = str_of(denominator, "code") == Some("d")
        && denominator
            .get("value")
            .and_then(decimal)
            .is_some_and(|d| d.to_f64() == 1.0);
    if is_one_day {
        quantity(ratio.get("numerator")?)
    } else {
        None
    }
}

fn identifier_in(r: &Value, systems: &[&str]) -> Option<String> {
    items(r, "identifier")
        .iter()
        .find(|i| str_of(i, "system").is_some_and(|s| systems.contains(&s)))
        .and_then(|i| str_of(i, "value"))
        .map(str::to_owned)
}

fn medication(
    rtype: ResourceType,
    r: &Value,
    subject: SubjectRef,
    ctx: &ExtractContext,
) -> MedicationRecord {
    let kind = match rtype {
        ResourceType::MedicationDispense => MedicationKind::Dispense,
        ResourceType::MedicationStatement => MedicationKind::Statement,
        ResourceType::MedicationAdministration => MedicationKind::Administration,
        _ => MedicationKind::Prescription,
    };
    let mut m = MedicationRecord::new(kind, subject);
    let injection = r.get("medicationReference").is_some();
    if let Some(concept) = r.get("medicationCodeableConcept") {
        m.codings = codings(concept);
        m.drug_name = str_of(concept, "text")
            .map(str::to_owned)
            .or_else(|| m.codings.iter().find_map(|c| c.display.clone()));
    }
    let dosages = match rtype {
        ResourceType::MedicationStatement => items(r, "dosage"),
        // An administration has one `dosage` object (dose and route), not a list.
        ResourceType::MedicationAdministration => r
            .get("dosage")
            .map(std::slice::from_ref)
            .unwrap_or_default(),
        _ => items(r, "dosageInstruction"),
    };
    if let Some(dosage) = dosages.first() {
        m.usage_text = str_of(dosage, "text").map(str::to_owned);
        m.usage = usage(dosage);
        m.route = route(dosage, injection);
        if let Some(dr) = items(dosage, "doseAndRate").first() {
            m.dose = dr.get("doseQuantity").and_then(quantity);
            m.daily_dose = per_day(dr);
        }
        if m.supply_days.is_none() {
            m.supply_days = extension(dosage, "JP_MedicationDosage_UsageDuration")
                .and_then(|e| e.get("valueDuration"))
                .and_then(|d| d.get("value"))
                .and_then(Value::as_u64)
                .and_then(|d| u32::try_from(d).ok());
        }
        m.start = extension(dosage, "JP_MedicationDosage_PeriodOfUse")
            .and_then(|e| e.get("valuePeriod"))
            .and_then(|p| date_of(p.get("start")))
            .or_else(|| {
                dosage
                    .get("timing")
                    .and_then(|t| t.get("repeat"))
                    .and_then(|rep| rep.get("boundsPeriod"))
                    .and_then(|p| date_of(p.get("start")))
            });
    }
    match rtype {
        ResourceType::MedicationRequest => {
            m.recorded_at = datetime_of(r.get("authoredOn"));
            m.prescriber = reference_text(r.get("requester"));
            if let Some(days) = r
                .get("dispenseRequest")
                .and_then(|d| d.get("expectedSupplyDuration"))
                .and_then(|d| d.get("value"))
                .and_then(Value::as_u64)
                .and_then(|d| u32::try_from(d).ok())
            {
                m.supply_days = Some(days);
            }
            let request = r.get("dispenseRequest");
            m.quantity = request.and_then(|d| d.get("quantity")).and_then(quantity);
            m.refills = request
                .and_then(|d| d.get("numberOfRepeatsAllowed"))
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok());
            m.facility = ctx.facility.clone();
        }
        ResourceType::MedicationAdministration => {
            m.recorded_at = datetime_of(r.get("effectiveDateTime"))
                .or_else(|| datetime_of(r.get("effectivePeriod").and_then(|p| p.get("start"))));
            m.start = m.recorded_at.and_then(|d| d.date());
            if let Some(dosage) = r.get("dosage") {
                m.dose = dosage.get("dose").and_then(quantity);
            }
            m.facility = ctx.facility.clone();
        }
        ResourceType::MedicationDispense => {
            m.recorded_at = datetime_of(r.get("whenHandedOver"));
            m.start = m.start.or_else(|| m.recorded_at.and_then(|d| d.date()));
            if let Some(days) = r
                .get("daysSupply")
                .and_then(|d| d.get("value"))
                .and_then(Value::as_u64)
                .and_then(|d| u32::try_from(d).ok())
            {
                m.supply_days = Some(days);
            }
            m.prescriber = items(r, "performer")
                .first()
                .and_then(|p| reference_text(p.get("actor")));
            m.quantity = r.get("quantity").and_then(quantity);
            m.facility = ctx.facility.clone();
        }
        _ => {
            m.recorded_at = datetime_of(r.get("dateAsserted"));
            let effective = r.get("effectivePeriod");
            m.start = date_of(effective.and_then(|p| p.get("start")))
                .or_else(|| date_of(r.get("effectiveDateTime")));
            if let (Some(start), Some(end)) =
                (m.start, date_of(effective.and_then(|p| p.get("end"))))
                && let Ok(days) = u32::try_from((end - start).whole_days() + 1)
            {
                m.supply_days = m.supply_days.or(Some(days));
            }
            m.facility = ctx.facility.clone();
        }
    }
    m.start = m.start.or_else(|| m.recorded_at.and_then(|d| d.date()));
    m.order_number = identifier_in(r, super::jpcore::REQUEST_ID_SYSTEMS);
    m.rp_number = identifier_in(r, super::jpcore::RP_NUMBER_SYSTEMS);
    m.rp_sequence =
        identifier_in(r, super::jpcore::ORDER_IN_RP_SYSTEMS).and_then(|n| n.trim().parse().ok());
    m.status = str_of(r, "status").map(str::to_owned);
    m
}

fn lab_value(v: &Value) -> Option<LabValue> {
    if let Some(q) = v.get("valueQuantity") {
        return Some(LabValue::Quantity {
            value: decimal(q.get("value")?)?,
            comparator: str_of(q, "comparator").map(str::to_owned),
            unit: str_of(q, "unit").map(str::to_owned),
            unit_code: str_of(q, "code").map(str::to_owned),
            unit_system: str_of(q, "system").map(str::to_owned),
        });
    }
    if let Some(c) = v.get("valueCodeableConcept") {
        return codings(c)
            .into_iter()
            .next()
            .map(LabValue::Coded)
            .or_else(|| str_of(c, "text").map(|t| LabValue::Text(t.to_owned())));
    }
    if let Some(s) = str_of(v, "valueString") {
        return Some(LabValue::Text(s.to_owned()));
    }
    if let Some(i) = v.get("valueInteger").and_then(decimal) {
        return Some(LabValue::Quantity {
            value: i,
            comparator: None,
            unit: None,
            unit_code: None,
            unit_system: None,
        });
    }
    if let Some(b) = v.get("valueBoolean").and_then(Value::as_bool) {
        return Some(LabValue::Text(b.to_string()));
    }
    v.get("dataAbsentReason").map(|d| LabValue::Absent {
        reason: codings(d).into_iter().next().map(|c| c.code),
    })
}

fn reference_range(v: &Value) -> Option<ReferenceRange> {
    let rr = items(v, "referenceRange").first()?;
    Some(ReferenceRange {
        low: rr.get("low").and_then(|l| l.get("value")).and_then(decimal),
        high: rr
            .get("high")
            .and_then(|h| h.get("value"))
            .and_then(decimal),
        text: str_of(rr, "text").map(str::to_owned),
    })
}

fn observation(r: &Value, subject: SubjectRef, ctx: &ExtractContext) -> Vec<LabResult> {
    let effective = datetime_of(r.get("effectiveDateTime"))
        .or_else(|| datetime_of(r.get("effectiveInstant")))
        .or_else(|| datetime_of(r.get("effectivePeriod").and_then(|p| p.get("start"))));
    let category = items(r, "category")
        .iter()
        .flat_map(|c| items(c, "coding"))
        .find_map(|c| str_of(c, "code"))
        .map(str::to_owned);
    let flag = |v: &Value| {
        items(v, "interpretation")
            .iter()
            .flat_map(|i| items(i, "coding"))
            .find_map(|c| str_of(c, "code"))
            .map(str::to_owned)
    };
    let make = |v: &Value, value: LabValue| {
        let mut l = LabResult::new(subject.clone(), value);
        if let Some(code) = v.get("code") {
            l.codes = codings(code);
            l.name = str_of(code, "text")
                .map(str::to_owned)
                .or_else(|| l.codes.iter().find_map(|c| c.display.clone()));
        }
        l.reference_range = reference_range(v);
        l.flag = flag(v);
        l.status = str_of(r, "status").map(str::to_owned);
        l.effective = effective;
        l.performer = items(r, "performer")
            .first()
            .and_then(|p| reference_text(Some(p)));
        l.facility = ctx.facility.clone();
        l.category = category.clone();
        l
    };
    let mut out = Vec::new();
    if let Some(value) = lab_value(r) {
        out.push(make(r, value));
    }
    for component in items(r, "component") {
        if let Some(value) = lab_value(component) {
            out.push(make(component, value));
        }
    }
    out
}

fn condition(r: &Value, subject: SubjectRef, ctx: &ExtractContext) -> Condition {
    let verification = r
        .get("verificationStatus")
        .map(|v| items(v, "coding"))
        .unwrap_or_default()
        .iter()
        .find_map(|c| str_of(c, "code"));
    Condition {
        subject,
        codes: r.get("code").map(codings).unwrap_or_default(),
        name: r
            .get("code")
            .and_then(|c| str_of(c, "text"))
            .map(str::to_owned),
        onset: datetime_of(r.get("onsetDateTime"))
            .or_else(|| datetime_of(r.get("onsetPeriod").and_then(|p| p.get("start")))),
        recorded: datetime_of(r.get("recordedDate")),
        clinical_status: r
            .get("clinicalStatus")
            .and_then(|c| codings(c).into_iter().next())
            .map(|c| c.code),
        suspected: matches!(
            verification,
            Some("provisional" | "unconfirmed" | "differential")
        ),
        facility: ctx.facility.clone(),
    }
}

fn allergy(r: &Value, subject: SubjectRef, ctx: &ExtractContext) -> Allergy {
    Allergy {
        subject,
        codes: r.get("code").map(codings).unwrap_or_default(),
        name: r
            .get("code")
            .and_then(|c| str_of(c, "text"))
            .map(str::to_owned),
        category: items(r, "category")
            .first()
            .and_then(Value::as_str)
            .map(str::to_owned),
        criticality: str_of(r, "criticality").map(str::to_owned),
        clinical_status: r
            .get("clinicalStatus")
            .and_then(|c| codings(c).into_iter().next())
            .map(|c| c.code),
        recorded: datetime_of(r.get("recordedDate")),
        facility: ctx.facility.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> ExtractContext {
        ExtractContext {
            facility: InstitutionCode::parse("1311234567").ok(),
        }
    }

    #[test]
    fn a_prescription_keeps_codes_dose_usage_days_and_start() {
        let mr = json!({
            "resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.81", "value": "1"},
                           {"system": "http://jpfhir.jp/fhir/core/IdSystem/resourceInstance-identifier", "value": "1234567890.1.1"}],
            "medicationCodeableConcept": {"coding": [{"code": "103835401", "system": "urn:oid:1.2.392.200119.4.403.1", "display": "ムコダイン錠２５０ｍｇ"}]},
            "subject": {"reference": "Patient/p1"},
            "authoredOn": "2020-04-01T12:28:17+09:00",
            "dosageInstruction": [{
                "extension": [{"url": "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_MedicationDosage_PeriodOfUse", "valuePeriod": {"start": "2020-04-02"}}],
                "text": "内服・経口・１日３回朝昼夕食後",
                "timing": {"code": {"coding": [{"code": "1013044400000000", "system": "urn:oid:1.2.392.200250.2.2.20"}]}},
                "route": {"coding": [{"code": "PO", "system": "http://jpfhir.jp/fhir/core/CodeSystem/route-codes"}]},
                "doseAndRate": [{"doseQuantity": {"value": 1, "code": "TAB", "unit": "錠"},
                                 "rateRatio": {"numerator": {"value": 3.0, "code": "TAB", "unit": "錠"},
                                               "denominator": {"value": 1, "code": "d", "unit": "日"}}}]}],
            "dispenseRequest": {"expectedSupplyDuration": {"value": 3, "code": "d"}}
        });
        let out = extract(
            ResourceType::MedicationRequest,
            &mr,
            "MedicationRequest",
            &ctx(),
        );
        let ClinicalRecord::Medication(m) = &out.records[0] else {
            panic!("medication")
        };
        assert_eq!(m.kind, MedicationKind::Prescription);
        assert_eq!(m.subject, SubjectRef::FhirPatient("p1".into()));
        assert_eq!(
            m.codings[0].system,
            "http://medis.or.jp/CodeSystem/master-HOT9"
        );
        assert_eq!(m.drug_name.as_deref(), Some("ムコダイン錠２５０ｍｇ"));
        assert_eq!(m.dose.as_ref().unwrap().value.as_str(), "1");
        assert_eq!(m.daily_dose.as_ref().unwrap().value.as_str(), "3.0");
        assert_eq!(m.usage.as_ref().unwrap().code, "1013044400000000");
        assert_eq!(m.route, Some(DrugRoute::Oral));
        assert_eq!(m.supply_days, Some(3));
        assert_eq!(m.start, Some(time::macros::date!(2020 - 04 - 02)));
        assert_eq!(m.rp_number.as_deref(), Some("1"));
        assert_eq!(m.order_number.as_deref(), Some("1234567890.1.1"));
        assert_eq!(m.facility.as_ref().unwrap().as_str(), "1311234567");
    }

    #[test]
    fn observations_and_components_become_lab_results_with_exact_values() {
        // Parsed from text: the literal 3.50 must survive (json! would build an f64).
        let o: Value = serde_json::from_str(r#"{"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "urn:oid:1.2.392.200119.4.504", "code": "3C020000002327101"}], "text": "尿酸"},
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2021-10-19T17:39:00+09:00",
            "valueQuantity": {"value": 3.50, "unit": "mg/dL"},
            "referenceRange": [{"low": {"value": 3.7}, "high": {"value": 7.8}}],
            "interpretation": [{"coding": [{"code": "L"}]}],
            "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                           "valueQuantity": {"value": 120, "unit": "mmHg"}}]}"#).unwrap();
        let out = extract(ResourceType::Observation, &o, "Observation", &ctx());
        assert_eq!(out.records.len(), 2);
        let ClinicalRecord::Lab(l) = &out.records[0] else {
            panic!("lab")
        };
        assert_eq!(l.jlac10(), Some("3C020000002327101"));
        assert_eq!(l.value.as_number().unwrap().as_str(), "3.50");
        assert_eq!(
            l.reference_range
                .as_ref()
                .unwrap()
                .low
                .as_ref()
                .unwrap()
                .as_str(),
            "3.7"
        );
        assert_eq!(l.flag.as_deref(), Some("L"));
        assert_eq!(l.name.as_deref(), Some("尿酸"));
    }

    #[test]
    fn patients_yield_local_ids_member_and_demographics() {
        let p = json!({"resourceType": "Patient",
            "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.51.11311234567", "value": "00000010"},
                           {"system": "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID", "value": "06139463:１２:３４５:01"}],
            "name": [{"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "SYL"}], "text": "ヤマダ タロウ"},
                     {"text": "山田 太郎"}],
            "gender": "male", "birthDate": "1970-01-01"});
        let facts = extract(ResourceType::Patient, &p, "Patient", &ctx())
            .patient
            .unwrap();
        assert_eq!(facts.local_ids[0].1, "00000010");
        assert_eq!(facts.member.unwrap().key(), "06139463:12:345:01");
        assert_eq!(
            facts.demographics.name_kana.as_deref(),
            Some("ヤマダ タロウ")
        );
        assert_eq!(facts.demographics.name.as_deref(), Some("山田 太郎"));
        assert_eq!(facts.demographics.sex, Some(Sex::Male));
    }

    #[test]
    fn coverage_members_come_from_identifier_extensions_or_csv() {
        let with_ext = json!({"resourceType": "Coverage", "status": "active",
            "extension": [
                {"url": "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_Coverage_InsuredPersonSymbol", "valueString": "１２－３４"},
                {"url": "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_Coverage_InsuredPersonNumber", "valueString": "５６７８"},
                {"url": "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_Coverage_InsuredPersonSubNumber", "valueString": "００"}],
            "payor": [{"reference": "Organization/payer"}],
            "beneficiary": {"reference": "Patient/p1"}});
        let c = extract(ResourceType::Coverage, &with_ext, "Coverage", &ctx())
            .coverage
            .unwrap();
        assert_eq!(c.beneficiary.as_deref(), Some("p1"));
        assert!(c.member.is_none());
        let partial = c.partial.unwrap();
        assert_eq!(partial.payor_id.as_deref(), Some("payer"));
        assert_eq!(partial.branch.as_deref(), Some("００"));

        let with_id = json!({"resourceType": "Coverage", "status": "active",
            "identifier": [{"system": "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID", "value": "06139463:12:345:01"}],
            "payor": [{"reference": "Organization/payer"}], "beneficiary": {"reference": "Patient/p1"}});
        let c = extract(ResourceType::Coverage, &with_id, "Coverage", &ctx())
            .coverage
            .unwrap();
        assert_eq!(c.member.unwrap().key(), "06139463:12:345:01");

        let csv = json!({"resourceType": "Coverage", "status": "active",
            "identifier": [{"value": "\"06139463\",\"１２\",\"３４５\",\"01\""}],
            "payor": [{"reference": "Organization/payer"}], "beneficiary": {"reference": "Patient/p1"}});
        let c = extract(ResourceType::Coverage, &csv, "Coverage", &ctx())
            .coverage
            .unwrap();
        assert_eq!(c.member.unwrap().key(), "06139463:12:345:01");
    }

    #[test]
    fn a_member_id_subject_names_the_person() {
        let o = json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "urn:oid:1.2.392.200119.4.504", "code": "3D046000001906202"}]},
            "subject": {"identifier": {"system": "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID",
                                       "value": "06139463:１２:３４５:01"}},
            "valueString": "x"});
        let out = extract(ResourceType::Observation, &o, "Observation", &ctx());
        let Some(SubjectRef::Member(m)) = &out.subject else {
            panic!("member subject: {:?}", out.subject)
        };
        assert_eq!(m.key(), "06139463:12:345:01");
        assert_eq!(out.records[0].subject(), &SubjectRef::Member(m.clone()));
    }
}
