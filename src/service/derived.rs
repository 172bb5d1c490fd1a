//! Every canonical record is a FHIR resource to whoever may see it: records that arrive as
//! HL7 v2, SS-MIX2, UKE or 特定健診 are written as JP Core resources in the unit of work
//! that stores them, with the one renderer `kakari convert` uses (`codec::fhir::render`),
//! so `/fhir` reads and searches them with the same parameters, index and access rules as
//! posted resources, at the same cost.
//!
//! * **Ids are stable**: derived from the sender's own key of the input (MSH-3/4/10, the
//!   SS-MIX2 file name, the file's SHA-256) and the record's place in it, so a re-read, a
//!   re-import or another gateway on another database gives the same id.
//! * **Patients**: a clinic's patient first seen in an HL7 v2 feed is served as a Patient
//!   (PID: local id, every other PID-3 identifier, names split into family and given with
//!   their representation, kanji and kana); a posted Patient of the same clinic keeps its
//!   own. Records known only by member id (claims, checkups, FHIR resources naming a
//!   member id) are about the person's own Patient (member id, birth date, sex), which
//!   belongs to no institution.
//! * **Origin**: every resource carries `meta.source` (`urn:kakari:<format>:<input>`), and
//!   one Provenance per input names them all, the sending institution or insurer, the
//!   input (file name or control id) and when it was received.
//! * **Read-only**: derived resources change only with their input (a corrected message,
//!   an SS-MIX2 invalidation file withdraws them); `PUT` answers `fhir.derived_read_only`.
//! * **Access**: owned by the sending institution (an insurer's claims and checkups by
//!   none), so the sender sees its own and the person's registered doctor sees all of the
//!   person's, as for posted resources.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::codec::fhir::ResourceType;
use crate::codec::fhir::render::{self, PatientFacts};
use crate::codec::fhir::search_params;
use crate::domain::code_system::id_system;
use crate::domain::datetime::format_instant_millis;
use crate::domain::{ClinicalRecord, Demographics, MemberId, PatientIdentifier, SourceFormat};
use crate::error::{ErrorCode, Problem};
use crate::service::fhir::prepare::stamp;
use crate::store::Tx;
use crate::store::records::{Owner, RecordTable};
use crate::store::resources::ResourceWrite;

/// Who sent an input, for `Provenance.agent`.
#[derive(Debug, Clone, Copy)]
pub enum Agent<'a> {
    /// A medical institution or pharmacy (10-digit code).
    Institution(&'a str),
    /// A health insurer (8-digit number).
    Insurer(&'a str),
}

/// The input derived resources come from.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    pub format: SourceFormat,
    pub input_id: i64,
    /// The sender's scope and own key of the input (unique together).
    pub scope: &'a str,
    pub key: &'a str,
    /// The file name or control id, for people reading the Provenance.
    pub label: Option<&'a str>,
    pub received_at: i64,
    pub client_id: i64,
    /// The institution the resources belong to (`None` for an insurer's).
    pub owner_facility: Option<&'a str>,
    pub agent: Agent<'a>,
}

/// A stable FHIR id: `prefix-` and 30 hex digits of SHA-256 over `parts`.
pub fn stable_id(prefix: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0x1f]);
    }
    let hex: String = h
        .finalize()
        .iter()
        .take(15)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{prefix}-{hex}")
}

impl Origin<'_> {
    /// The input's own identity, the same on every gateway (`meta.source`, Provenance).
    fn input_ref(&self) -> String {
        stable_id("in", &[self.scope, self.key])
    }

    fn source(&self) -> String {
        format!("urn:kakari:{}:{}", self.format.as_str(), self.input_ref())
    }
}

/// The same resource without `meta` (what a new version would change).
fn without_meta(v: &Value) -> Value {
    let mut v = v.clone();
    if let Value::Object(o) = &mut v {
        o.remove("meta");
    }
    v
}

/// Where a derived resource is filed: who owns it, which input and client wrote it, its
/// `meta.source`, and the patient it counts as being about.
struct Placement<'a> {
    owner_facility: Option<&'a str>,
    client_id: i64,
    input_id: Option<i64>,
    source: &'a str,
    subject_ref: Option<&'a str>,
}

/// Writes a derived resource, or a new version when its content changed; returns its pk.
/// A posted resource that holds the id is left alone (and its pk returned).
fn put(
    tx: &mut Tx<'_>,
    rtype: ResourceType,
    id: &str,
    mut value: Value,
    at: &Placement<'_>,
) -> Result<i64, Problem> {
    let Placement {
        owner_facility,
        client_id,
        input_id,
        source,
        subject_ref,
    } = *at;
    if let Some(meta) = value.get_mut("meta").and_then(Value::as_object_mut) {
        meta.insert("source".into(), json!(source));
    } else if let Value::Object(o) = &mut value {
        o.insert("meta".into(), json!({"source": source}));
    }
    let entries = search_params::index_entries(rtype, &value);
    let now = tx.now();
    let Some(current) = tx.resource(rtype.as_str(), id)? else {
        let body = stamp(&mut value, 1, now);
        let (pk, _) = tx.insert_resource(&ResourceWrite {
            rtype: rtype.as_str(),
            id,
            owner_facility,
            client_id,
            input_id,
            subject_ref,
            body: &body,
            derived: true,
            last_updated: now,
        })?;
        tx.insert_index(rtype.as_str(), pk, &entries)?;
        return Ok(pk);
    };
    if !current.derived {
        return Ok(current.pk);
    }
    let old: Value = serde_json::from_str(&current.body).unwrap_or(Value::Null);
    if without_meta(&old) == without_meta(&value) {
        return Ok(current.pk);
    }
    let old_entries = search_params::index_entries(rtype, &old);
    let last_updated = now.max(current.last_updated + 1);
    let body = stamp(&mut value, current.version + 1, last_updated);
    tx.update_resource(
        &current,
        &ResourceWrite {
            rtype: rtype.as_str(),
            id,
            owner_facility,
            client_id,
            input_id,
            subject_ref,
            body: &body,
            derived: true,
            last_updated,
        },
    )?;
    tx.delete_index(rtype.as_str(), current.pk, &old_entries)?;
    tx.insert_index(rtype.as_str(), current.pk, &entries)?;
    Ok(current.pk)
}

/// Keeps what an earlier version says that a new one leaves out (a lab message's PID may
/// carry only the id; the name from the ADT stays).
fn keep_known(mut value: Value, old: Option<&Value>) -> Value {
    let representation = |n: &Value| n["extension"][0]["valueCode"].as_str().map(str::to_owned);
    if let (Value::Object(new), Some(Value::Object(old))) = (&mut value, old) {
        for key in ["identifier", "name", "gender", "birthDate"] {
            if !new.contains_key(key)
                && let Some(v) = old.get(key)
            {
                new.insert(key.into(), v.clone());
            }
        }
        // A name in a form the new version lacks (the kana an RDE's PID leaves out) stays.
        if let (Some(Value::Array(names)), Some(Value::Array(old_names))) =
            (new.get_mut("name"), old.get("name"))
        {
            let present: Vec<Option<String>> = names.iter().map(representation).collect();
            for n in old_names {
                if !present.contains(&representation(n)) {
                    names.push(n.clone());
                }
            }
        }
    }
    value
}

/// The person's own Patient (no institution): the subject of records known only by member
/// id. Created on first use, with the member id, birth date and sex the person row knows.
pub fn person_patient(tx: &mut Tx<'_>, person_pk: i64) -> Result<String, Problem> {
    if let Some(row) = tx.person_patient(person_pk)?
        && let Some(id) = row.fhir_id
    {
        return Ok(id);
    }
    let person = tx
        .person(person_pk)?
        .ok_or_else(|| Problem::bare(ErrorCode::Internal))?;
    let member =
        MemberId::parse(&person.member_key).map_err(|_| Problem::bare(ErrorCode::Internal))?;
    let id = stable_id("pp", &[&person.member_key]);
    tx.insert_person_patient(person_pk, &id)?;
    let value = render::person_patient(
        &id,
        &member,
        person.birth_date.as_deref(),
        person.sex.as_deref(),
    );
    let subject = format!("Patient/{id}");
    let at = Placement {
        owner_facility: None,
        client_id: 0,
        input_id: None,
        source: "urn:kakari:registry:person",
        subject_ref: Some(&subject),
    };
    put(tx, ResourceType::Patient, &id, value, &at)?;
    Ok(id)
}

/// What an input says about a clinic's patient.
#[derive(Debug, Clone, Copy)]
pub struct PatientSide<'a> {
    pub demographics: &'a Demographics,
    pub identifiers: &'a [PatientIdentifier],
}

/// Writes the derived resources of one input: its patient, records, coverages, and the
/// Provenance that names them (on `finish`).
pub struct Writer<'o, 'a> {
    origin: &'o Origin<'a>,
    targets: Vec<String>,
    /// The patient the input is about, when it is one (for the Provenance's visibility).
    patients: Vec<String>,
}

impl<'o, 'a> Writer<'o, 'a> {
    pub fn new(origin: &'o Origin<'a>) -> Self {
        Self {
            origin,
            targets: Vec::new(),
            patients: Vec::new(),
        }
    }

    fn put(
        &mut self,
        tx: &mut Tx<'_>,
        rtype: ResourceType,
        id: &str,
        value: Value,
        patient_id: &str,
    ) -> Result<i64, Problem> {
        let subject = format!("Patient/{patient_id}");
        let source = self.origin.source();
        let at = Placement {
            owner_facility: self.origin.owner_facility,
            client_id: self.origin.client_id,
            input_id: Some(self.origin.input_id),
            source: &source,
            subject_ref: Some(&subject),
        };
        let pk = put(tx, rtype, id, value, &at)?;
        self.targets.push(format!("{}/{id}", rtype.as_str()));
        if !self.patients.iter().any(|p| p == patient_id) {
            self.patients.push(patient_id.to_owned());
        }
        Ok(pk)
    }

    /// The FHIR Patient id records of `owner` are about: the clinic's patient (served from
    /// this input's PID when it has none yet, refreshed when the input says more), or the
    /// person's own Patient. `None` when the records have no subject yet (unlinked family
    /// card).
    pub fn patient_of(
        &mut self,
        tx: &mut Tx<'_>,
        owner: Owner,
        side: Option<PatientSide<'_>>,
    ) -> Result<Option<String>, Problem> {
        if let Some(pk) = owner.patient_pk {
            return self.clinic_patient(tx, pk, side).map(Some);
        }
        match owner.person_pk {
            Some(person) => person_patient(tx, person).map(Some),
            None => Ok(None),
        }
    }

    fn clinic_patient(
        &mut self,
        tx: &mut Tx<'_>,
        patient_pk: i64,
        side: Option<PatientSide<'_>>,
    ) -> Result<String, Problem> {
        let row = tx
            .patient(patient_pk)?
            .ok_or_else(|| Problem::bare(ErrorCode::Internal))?;
        let (Some(facility), Some(local_id)) = (row.facility.clone(), row.local_id.clone()) else {
            // A posted Patient without a local id: it is served as posted.
            return row
                .fhir_id
                .ok_or_else(|| Problem::bare(ErrorCode::Internal));
        };
        let id = match &row.fhir_id {
            Some(id) => id.clone(),
            None => {
                let id = stable_id("pt", &[&facility, &local_id]);
                tx.set_patient_fhir_id(patient_pk, &id)?;
                id
            }
        };
        let current = tx.resource("Patient", &id)?;
        if current.as_ref().is_some_and(|c| !c.derived) {
            return Ok(id);
        }
        let member = match row.person_pk {
            Some(person) => tx
                .person(person)?
                .and_then(|p| MemberId::parse(&p.member_key).ok()),
            None => None,
        };
        let institution = crate::domain::InstitutionCode::parse(&facility)
            .map_err(|_| Problem::bare(ErrorCode::Internal))?;
        let local_ids = [(institution, local_id)];
        let empty = Demographics::default();
        let facts = PatientFacts {
            local_ids: &local_ids,
            member: member.as_ref(),
            demographics: side.map_or(&empty, |s| s.demographics),
            other_identifiers: side.map_or(&[][..], |s| s.identifiers),
        };
        let old = current
            .as_ref()
            .and_then(|c| serde_json::from_str::<Value>(&c.body).ok());
        let value = keep_known(render::patient(&id, &facts), old.as_ref());
        self.put(tx, ResourceType::Patient, &id, value, &id)?;
        Ok(id)
    }

    /// Writes one stored canonical record as its resource and points the record at it.
    /// `location` must be unique within the input (`RXE[2]`, `line 41 IY[3]`).
    pub fn record(
        &mut self,
        tx: &mut Tx<'_>,
        record_pk: i64,
        record: &ClinicalRecord,
        location: &str,
        patient_id: &str,
    ) -> Result<(), Problem> {
        let (rtype, prefix, table) = match record {
            ClinicalRecord::Medication(m) => {
                let rtype = match m.kind {
                    crate::domain::MedicationKind::Prescription => ResourceType::MedicationRequest,
                    crate::domain::MedicationKind::Dispense => ResourceType::MedicationDispense,
                    crate::domain::MedicationKind::Administration => {
                        ResourceType::MedicationAdministration
                    }
                    crate::domain::MedicationKind::Claim
                    | crate::domain::MedicationKind::Statement => ResourceType::MedicationStatement,
                };
                (rtype, "md", RecordTable::Medication)
            }
            ClinicalRecord::Lab(_) => (ResourceType::Observation, "ob", RecordTable::Lab),
            ClinicalRecord::Condition(_) => (ResourceType::Condition, "cd", RecordTable::Condition),
            ClinicalRecord::Allergy(_) => {
                (ResourceType::AllergyIntolerance, "al", RecordTable::Allergy)
            }
        };
        let id = stable_id(prefix, &[self.origin.scope, self.origin.key, location]);
        let value = match record {
            ClinicalRecord::Medication(m) => render::medication(&id, patient_id, m, None),
            ClinicalRecord::Lab(l) => render::lab_observation(&id, patient_id, l),
            ClinicalRecord::Condition(c) => render::condition(&id, patient_id, c),
            ClinicalRecord::Allergy(a) => render::allergy(&id, patient_id, a),
        };
        let pk = self.put(tx, rtype, &id, value, patient_id)?;
        tx.set_record_resource(table, record_pk, pk)?;
        Ok(())
    }

    /// Writes the insurance an input links a patient to as a Coverage.
    pub fn coverage(
        &mut self,
        tx: &mut Tx<'_>,
        patient_id: &str,
        member: &MemberId,
    ) -> Result<(), Problem> {
        let id = stable_id("cv", &[patient_id, &member.key()]);
        let value = render::member_coverage(&id, patient_id, member);
        self.put(tx, ResourceType::Coverage, &id, value, patient_id)?;
        Ok(())
    }

    /// Writes the input's Provenance naming everything derived from it.
    pub fn finish(self, tx: &mut Tx<'_>) -> Result<(), Problem> {
        if self.targets.is_empty() {
            return Ok(());
        }
        let origin = self.origin;
        let input = origin.input_ref();
        let id = stable_id("pv", &[origin.scope, origin.key]);
        let who = match origin.agent {
            Agent::Institution(code) => {
                json!({"identifier": {"system": id_system::INSTITUTION, "value": code}})
            }
            Agent::Insurer(number) => {
                json!({"identifier": {"system": id_system::INSURER, "value": number}})
            }
        };
        let mut what = Map::new();
        what.insert(
            "identifier".into(),
            json!({"system": "urn:kakari:input", "value": input}),
        );
        let display = match origin.label {
            Some(label) => format!("{} {label}", origin.format.as_str()),
            None => origin.format.as_str().to_owned(),
        };
        what.insert("display".into(), json!(render::fhir_text(&display)));
        let value = json!({
            "resourceType": "Provenance",
            "id": id,
            "target": self.targets.iter().map(|t| json!({"reference": t})).collect::<Vec<_>>(),
            "recorded": format_instant_millis(origin.received_at),
            "agent": [{
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "author"}]},
                "who": who
            }],
            "entity": [{"role": "source", "what": Value::Object(what)}]
        });
        // Seen by whoever may see what it is about: the patient when it is one.
        let subject = match self.patients.as_slice() {
            [one] => Some(format!("Patient/{one}")),
            _ => None,
        };
        let source = origin.source();
        let at = Placement {
            owner_facility: origin.owner_facility,
            client_id: origin.client_id,
            input_id: Some(origin.input_id),
            source: &source,
            subject_ref: subject.as_deref(),
        };
        put(tx, ResourceType::Provenance, &id, value, &at)?;
        Ok(())
    }
}

/// Withdraws everything derived from an input (an SS-MIX2 invalidation file): the
/// resources, their history and their index entries. Returns how many.
pub fn withdraw(tx: &mut Tx<'_>, input_id: i64) -> Result<usize, Problem> {
    let rows = tx.derived_resources_of_input(input_id)?;
    for row in &rows {
        let Some(rtype) = ResourceType::parse(&row.rtype) else {
            continue;
        };
        let value: Value = serde_json::from_str(&row.body).unwrap_or(Value::Null);
        tx.delete_index(
            rtype.as_str(),
            row.pk,
            &search_params::index_entries(rtype, &value),
        )?;
        tx.delete_resource(row.pk)?;
    }
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_valid_and_distinct() {
        let a = stable_id(
            "md",
            &["facility:1311234567", "hl7|EMR|CLINIC|RX1", "RXE[1]"],
        );
        assert_eq!(
            a,
            stable_id(
                "md",
                &["facility:1311234567", "hl7|EMR|CLINIC|RX1", "RXE[1]"]
            )
        );
        assert_ne!(
            a,
            stable_id(
                "md",
                &["facility:1311234567", "hl7|EMR|CLINIC|RX1", "RXE[2]"]
            )
        );
        // Parts are separated: moving a character between parts changes the id.
        assert_ne!(stable_id("x", &["ab", "c"]), stable_id("x", &["a", "bc"]));
        assert!(crate::codec::fhir::resource_type::is_valid_id(&a));
        assert_eq!(a.len(), 33);
    }
}
