//! Canonical clinical records: medication records, lab results, conditions, allergies.
//!
//! Each row carries its subject (a local patient, a person, or both), its provenance
//! (client, input, received time, location in the input) and, when it came from a FHIR
//! resource, that resource's pk so a new version replaces the records of the old one.

use super::{StoreError, Tx};
use crate::args;
use crate::domain::datetime::FhirDateTime;
use crate::domain::medication_list::{RecordSource, SourcedMedication};
use crate::domain::{
    Allergy, Coding, Condition, Decimal, DrugRoute, InstitutionCode, LabResult, LabValue,
    MedicationKind, MedicationRecord, Provenance, Quantity, SourceFormat, SubjectRef,
};

pub use crate::intake::Owner;

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn day(d: Option<time::Date>) -> Option<String> {
    d.map(|d| format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day()))
}

fn text<T: ToString>(v: &Option<T>) -> Option<String> {
    v.as_ref().map(ToString::to_string)
}

/// The tables of canonical records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordTable {
    Medication,
    Lab,
    Condition,
    Allergy,
}

impl RecordTable {
    fn name(self) -> &'static str {
        match self {
            Self::Medication => "medication_records",
            Self::Lab => "lab_results",
            Self::Condition => "conditions",
            Self::Allergy => "allergies",
        }
    }
}

const MEDICATION_COLUMNS: &str = "m.pk, m.kind, m.facility, m.prescribing_facility, m.prescriber, \
     m.drug_name, m.codings, m.dose_value, m.dose_unit, m.daily_dose_value, m.daily_dose_unit, \
     m.usage_code, m.usage_system, m.usage_text, m.route, m.supply_days, m.start_date, \
     m.recorded_at, m.order_number, m.rp_number, m.status, m.quantity_value, m.quantity_unit, \
     m.refills, m.as_needed_doses, m.input_id, m.client_id, m.received_at, m.location";

fn decode_error(what: &str) -> StoreError {
    StoreError::Decode(format!("stored {what} cannot be read"))
}

fn stored_quantity(
    value: Option<String>,
    unit: Option<String>,
    what: &str,
) -> Result<Option<Quantity>, StoreError> {
    value
        .map(|v| {
            Ok(Quantity {
                value: Decimal::parse(&v).map_err(|_| decode_error(what))?,
                unit: unit.clone(),
                code: None,
                unit_system: None,
            })
        })
        .transpose()
}

fn stored_date(value: Option<String>, what: &str) -> Result<Option<time::Date>, StoreError> {
    value
        .map(|v| {
            FhirDateTime::parse(&v)
                .ok()
                .and_then(|d| d.date())
                .ok_or_else(|| decode_error(what))
        })
        .transpose()
}

fn stored_facility(value: Option<String>) -> Result<Option<InstitutionCode>, StoreError> {
    value
        .map(|v| InstitutionCode::parse(&v).map_err(|_| decode_error("institution code")))
        .transpose()
}

/// A medication record as stored, with its source (columns of `MEDICATION_COLUMNS`, then
/// the source resource's type and id, then the input's format).
fn sourced_medication(r: &super::sql::Row<'_>) -> Result<SourcedMedication, StoreError> {
    let pk = r.i64(0)?;
    let kind = MedicationKind::parse(&r.string(1)?).ok_or_else(|| decode_error("kind"))?;
    let mut m = MedicationRecord::new(kind, SubjectRef::FhirPatient(String::new()));
    m.facility = stored_facility(r.opt_string(2)?)?;
    m.prescribing_facility = stored_facility(r.opt_string(3)?)?;
    m.prescriber = r.opt_string(4)?;
    m.drug_name = r.opt_string(5)?;
    m.codings = serde_json::from_str(&r.string(6)?).map_err(|_| decode_error("codings"))?;
    m.dose = stored_quantity(r.opt_string(7)?, r.opt_string(8)?, "dose")?;
    m.daily_dose = stored_quantity(r.opt_string(9)?, r.opt_string(10)?, "daily dose")?;
    m.usage = match (r.opt_string(11)?, r.opt_string(12)?) {
        (Some(code), system) => Some(Coding::new(
            system
                .as_deref()
                .unwrap_or(crate::domain::code_system::KnownSystem::JamiUsage.uri()),
            &code,
            None,
        )),
        _ => None,
    };
    m.usage_text = r.opt_string(13)?;
    m.route = r
        .opt_string(14)?
        .map(|v| DrugRoute::parse(&v).ok_or_else(|| decode_error("route")))
        .transpose()?;
    m.supply_days = r.opt_i64(15)?.and_then(|d| u32::try_from(d).ok());
    m.start = stored_date(r.opt_string(16)?, "start date")?;
    m.recorded_at = r
        .opt_string(17)?
        .map(|v| FhirDateTime::parse(&v).map_err(|_| decode_error("recorded time")))
        .transpose()?;
    m.order_number = r.opt_string(18)?;
    m.rp_number = r.opt_string(19)?;
    m.status = r.opt_string(20)?;
    m.quantity = stored_quantity(r.opt_string(21)?, r.opt_string(22)?, "quantity")?;
    m.refills = r.opt_i64(23)?.and_then(|d| u32::try_from(d).ok());
    m.as_needed_doses = r.opt_i64(24)?.and_then(|d| u32::try_from(d).ok());
    let format = SourceFormat::parse(&r.string(31)?).ok_or_else(|| decode_error("format"))?;
    let resource = match (r.opt_string(29)?, r.opt_string(30)?) {
        (Some(t), Some(id)) => Some(format!("{t}/{id}")),
        _ => None,
    };
    Ok(SourcedMedication {
        record: m,
        source: RecordSource {
            record_pk: pk,
            resource,
            provenance: Provenance {
                client_id: r.i64(26)?,
                input_id: r.i64(25)?,
                format,
                received_at: r.i64(27)?,
                location: r.string(28)?,
            },
        },
    })
}

/// Tables holding records derived from FHIR resources.
const DERIVED: &[&str] = &[
    "medication_records",
    "lab_results",
    "conditions",
    "allergies",
];

/// The insurer of the person a `lab_results` row belongs to (directly, or through its
/// patient's link), for `lab_results.feed_insurer`.
const FEED_INSURER: &str =
    "(SELECT p.insurer FROM persons p WHERE p.pk = COALESCE(lab_results.person_pk,
    (SELECT pt.person_pk FROM patients pt WHERE pt.pk = lab_results.patient_pk)))";

impl Tx<'_> {
    /// Removes every record derived from a resource (before its new version's records go in).
    pub fn delete_records_of_resource(&mut self, resource_pk: i64) -> Result<(), StoreError> {
        for table in DERIVED {
            let sql = format!("DELETE FROM {table} WHERE source_resource_pk = ?");
            self.conn().execute(&sql, args![resource_pk])?;
        }
        Ok(())
    }

    pub fn insert_medication(
        &mut self,
        m: &MedicationRecord,
        owner: Owner,
        prov: &Provenance,
        source_resource_pk: Option<i64>,
    ) -> Result<i64, StoreError> {
        self.touch(owner);
        let facility = m.facility.as_ref().map(|f| f.as_str().to_owned());
        let prescribing = m
            .prescribing_facility
            .as_ref()
            .map(|f| f.as_str().to_owned());
        let codings = json(&m.codings);
        let dose_value = m.dose.as_ref().map(|q| q.value.as_str().to_owned());
        let dose_unit = m
            .dose
            .as_ref()
            .and_then(|q| q.unit.clone().or(q.code.clone()));
        let daily_value = m.daily_dose.as_ref().map(|q| q.value.as_str().to_owned());
        let daily_unit = m
            .daily_dose
            .as_ref()
            .and_then(|q| q.unit.clone().or(q.code.clone()));
        let usage_code = m.usage.as_ref().map(|c| c.code.clone());
        let usage_system = m.usage.as_ref().map(|c| c.system.clone());
        let route = m.route.map(|r| r.as_str());
        let start = day(m.start);
        let end = day(m.end());
        let recorded = text(&m.recorded_at);
        let quantity_value = m.quantity.as_ref().map(|q| q.value.as_str().to_owned());
        let quantity_unit = m
            .quantity
            .as_ref()
            .and_then(|q| q.unit.clone().or(q.code.clone()));
        self.conn().insert_returning(
            "INSERT INTO medication_records (kind, patient_pk, person_pk, facility, prescribing_facility,
                prescriber, drug_name, codings, dose_value, dose_unit, daily_dose_value, daily_dose_unit,
                usage_code, usage_text, route, supply_days, start_date, end_date, recorded_at,
                order_number, rp_number, status, source_resource_pk, input_id, client_id, received_at, location,
                quantity_value, quantity_unit, refills, as_needed_doses, usage_system)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             RETURNING pk",
            args![
                m.kind.as_str(),
                owner.patient_pk,
                owner.person_pk,
                facility.as_deref(),
                prescribing.as_deref(),
                m.prescriber.as_deref(),
                m.drug_name.as_deref(),
                codings.as_str(),
                dose_value.as_deref(),
                dose_unit.as_deref(),
                daily_value.as_deref(),
                daily_unit.as_deref(),
                usage_code.as_deref(),
                m.usage_text.as_deref(),
                route,
                m.supply_days,
                start.as_deref(),
                end.as_deref(),
                recorded.as_deref(),
                m.order_number.as_deref(),
                m.rp_number.as_deref(),
                m.status.as_deref(),
                source_resource_pk,
                prov.input_id,
                prov.client_id,
                prov.received_at,
                prov.location.as_str(),
                quantity_value.as_deref(),
                quantity_unit.as_deref(),
                m.refills,
                m.as_needed_doses,
                usage_system.as_deref(),
            ],
        )
    }

    /// Points a canonical record at the FHIR resource it is served as (records that
    /// arrived in another format: the resource kakari wrote from them).
    pub fn set_record_resource(
        &mut self,
        table: RecordTable,
        record_pk: i64,
        resource_pk: i64,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE {} SET source_resource_pk = ? WHERE pk = ?",
            table.name()
        );
        self.conn().execute(&sql, args![resource_pk, record_pk])?;
        Ok(())
    }

    /// The medication records of a person (through every patient linked to them, and
    /// those filed under the person directly) that may touch the days from `from` on:
    /// started by `until`, and not known to have ended before `from`. Oldest first, with
    /// where each came from.
    pub fn medication_of_person(
        &mut self,
        person_pk: i64,
        from: time::Date,
        until: time::Date,
    ) -> Result<Vec<SourcedMedication>, StoreError> {
        let (from, until) = (day(Some(from)), day(Some(until)));
        let select = format!(
            "SELECT {MEDICATION_COLUMNS}, r.type, r.id, i.format
             FROM medication_records m
             JOIN inputs i ON i.id = m.input_id
             LEFT JOIN resources r ON r.pk = m.source_resource_pk"
        );
        let window = "(m.start_date IS NULL OR m.start_date <= ?)
             AND (m.end_date IS NULL OR m.end_date >= ?)";
        let sql = format!(
            "{select} WHERE m.person_pk = ? AND {window}
             UNION ALL
             {select} WHERE m.person_pk IS NULL
               AND m.patient_pk IN (SELECT pk FROM patients WHERE person_pk = ?) AND {window}
             ORDER BY 1"
        );
        self.conn().query(
            &sql,
            args![
                person_pk,
                until.as_deref(),
                from.as_deref(),
                person_pk,
                until.as_deref(),
                from.as_deref()
            ],
            sourced_medication,
        )
    }

    pub fn insert_lab(
        &mut self,
        l: &LabResult,
        owner: Owner,
        prov: &Provenance,
        source_resource_pk: Option<i64>,
    ) -> Result<i64, StoreError> {
        self.touch(owner);
        let facility = l.facility.as_ref().map(|f| f.as_str().to_owned());
        let local = l.local_code().cloned();
        let codes = json(&l.codes);
        let (num, txt, vcode, vsystem, comparator, unit, unit_code) = match &l.value {
            LabValue::Quantity {
                value,
                comparator,
                unit,
                unit_code,
                ..
            } => (
                Some(value.as_str().to_owned()),
                None,
                None,
                None,
                comparator.clone(),
                unit.clone(),
                unit_code.clone(),
            ),
            LabValue::Coded(c) => (
                None,
                c.display.clone(),
                Some(c.code.clone()),
                Some(c.system.clone()),
                None,
                None,
                None,
            ),
            LabValue::Text(t) => (None, Some(t.clone()), None, None, None, None, None),
            LabValue::Absent { reason } => (None, reason.clone(), None, None, None, None, None),
        };
        let range = l.reference_range.as_ref();
        let ref_low = range
            .and_then(|r| r.low.as_ref())
            .map(|d| d.as_str().to_owned());
        let ref_high = range
            .and_then(|r| r.high.as_ref())
            .map(|d| d.as_str().to_owned());
        let ref_text = range.and_then(|r| r.text.clone());
        let effective = text(&l.effective);
        let effective_lo = l.effective.as_ref().map(|e: &FhirDateTime| e.range().lo);
        let specimen = l.specimen.as_ref().map(|c| c.code.clone());
        let pk = self.conn().insert_returning(
            "INSERT INTO lab_results (patient_pk, person_pk, facility, jlac10, checkup_item, local_code,
                local_system, name, codes, value_kind, value_num, value_text, value_code, value_system,
                comparator, unit, unit_code, ref_low, ref_high, ref_text, flag, status, effective,
                effective_lo, performer, specimen, category, source_resource_pk, input_id, client_id,
                received_at, location)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             RETURNING pk",
            args![
                owner.patient_pk,
                owner.person_pk,
                facility.as_deref(),
                l.jlac10(),
                l.checkup_item(),
                local.as_ref().map(|c| c.code.as_str()),
                local.as_ref().map(|c| c.system.as_str()),
                l.name.as_deref(),
                codes.as_str(),
                l.value.kind(),
                num.as_deref(),
                txt.as_deref(),
                vcode.as_deref(),
                vsystem.as_deref(),
                comparator.as_deref(),
                unit.as_deref(),
                unit_code.as_deref(),
                ref_low.as_deref(),
                ref_high.as_deref(),
                ref_text.as_deref(),
                l.flag.as_deref(),
                l.status.as_deref(),
                effective.as_deref(),
                effective_lo,
                l.performer.as_deref(),
                specimen.as_deref(),
                l.category.as_deref(),
                source_resource_pk,
                prov.input_id,
                prov.client_id,
                prov.received_at,
                prov.location.as_str(),
            ],
        )?;
        self.pending_labs.push(pk);
        Ok(pk)
    }

    /// Points the feed rows of a patient at the insurer of the person it is (now) linked to.
    pub(crate) fn refresh_feed_insurer(&mut self, patient_pk: i64) -> Result<(), StoreError> {
        self.conn().execute(
            &format!(
                "UPDATE lab_results SET feed_insurer = {FEED_INSURER}
                 WHERE patient_pk = ? AND person_pk IS NULL AND feed_seq IS NOT NULL"
            ),
            args![patient_pk],
        )?;
        Ok(())
    }

    /// Numbers lab results into the feed in commit order. The counter row is updated (and,
    /// on PostgreSQL, row-locked until commit) at the very end of each unit of work, so a
    /// unit that commits later always gets higher numbers: a reader that has seen number
    /// `n` will never later see a new row below `n`.
    pub(crate) fn assign_feed(&mut self, pks: &[i64]) -> Result<(), StoreError> {
        if pks.is_empty() {
            return Ok(());
        }
        let n = pks.len() as i64;
        self.conn().execute(
            "UPDATE feed_counters SET value = value + ? WHERE name = 'lab_results'",
            args![n],
        )?;
        let last = self.conn().query_one(
            "SELECT value FROM feed_counters WHERE name = 'lab_results'",
            &[],
            |r| r.i64(0),
        )?;
        let first = last - n + 1;
        for (i, pk) in pks.iter().enumerate() {
            self.conn().execute(
                &format!("UPDATE lab_results SET feed_seq = ?, feed_insurer = {FEED_INSURER} WHERE pk = ?"),
                args![first + i as i64, *pk],
            )?;
        }
        Ok(())
    }

    pub fn insert_condition(
        &mut self,
        c: &Condition,
        owner: Owner,
        prov: &Provenance,
        source_resource_pk: Option<i64>,
    ) -> Result<i64, StoreError> {
        self.touch(owner);
        let facility = c.facility.as_ref().map(|f| f.as_str().to_owned());
        let codes = json(&c.codes);
        let onset = text(&c.onset);
        let recorded = text(&c.recorded);
        self.conn().insert_returning(
            "INSERT INTO conditions (patient_pk, person_pk, facility, codes, name, onset, recorded,
                clinical_status, suspected, source_resource_pk, input_id, client_id, received_at, location)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING pk",
            args![
                owner.patient_pk,
                owner.person_pk,
                facility.as_deref(),
                codes.as_str(),
                c.name.as_deref(),
                onset.as_deref(),
                recorded.as_deref(),
                c.clinical_status.as_deref(),
                c.suspected,
                source_resource_pk,
                prov.input_id,
                prov.client_id,
                prov.received_at,
                prov.location.as_str(),
            ],
        )
    }

    pub fn insert_allergy(
        &mut self,
        a: &Allergy,
        owner: Owner,
        prov: &Provenance,
        source_resource_pk: Option<i64>,
    ) -> Result<i64, StoreError> {
        let facility = a.facility.as_ref().map(|f| f.as_str().to_owned());
        let codes = json(&a.codes);
        let recorded = text(&a.recorded);
        self.conn().insert_returning(
            "INSERT INTO allergies (patient_pk, person_pk, facility, codes, name, category, criticality,
                clinical_status, recorded, source_resource_pk, input_id, client_id, received_at, location)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING pk",
            args![
                owner.patient_pk,
                owner.person_pk,
                facility.as_deref(),
                codes.as_str(),
                a.name.as_deref(),
                a.category.as_deref(),
                a.criticality.as_deref(),
                a.clinical_status.as_deref(),
                recorded.as_deref(),
                source_resource_pk,
                prov.input_id,
                prov.client_id,
                prov.received_at,
                prov.location.as_str(),
            ],
        )
    }

    /// Where every record ended up, for reports and tests: its kind (`medication`, `lab`,
    /// `condition`, `allergy`), its location in its input, and the member key of its person
    /// (its own, else its patient's), sorted.
    pub fn record_places(&mut self) -> Result<Vec<(String, String, Option<String>)>, StoreError> {
        let mut sql = Vec::new();
        for (kind, table) in [
            ("medication", RecordTable::Medication),
            ("lab", RecordTable::Lab),
            ("condition", RecordTable::Condition),
            ("allergy", RecordTable::Allergy),
        ] {
            sql.push(format!(
                "SELECT '{kind}', r.location, COALESCE(own.member_key, via.member_key)
                 FROM {} r
                 LEFT JOIN persons own ON own.pk = r.person_pk
                 LEFT JOIN patients p ON p.pk = r.patient_pk
                 LEFT JOIN persons via ON via.pk = p.person_pk",
                table.name()
            ));
        }
        let mut places = self.conn().query(&sql.join(" UNION ALL "), &[], |r| {
            Ok((r.string(0)?, r.string(1)?, r.opt_string(2)?))
        })?;
        places.sort();
        Ok(places)
    }

    /// Record counts by table, for reports and tests: (medication, lab, condition, allergy).
    pub fn record_counts(&mut self) -> Result<[i64; 4], StoreError> {
        self.conn().query_one(
            "SELECT (SELECT COUNT(*) FROM medication_records), (SELECT COUNT(*) FROM lab_results),
                    (SELECT COUNT(*) FROM conditions), (SELECT COUNT(*) FROM allergies)",
            &[],
            |r| Ok([r.i64(0)?, r.i64(1)?, r.i64(2)?, r.i64(3)?]),
        )
    }
}
