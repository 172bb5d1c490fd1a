//! People (by member id), facility-local patients, and the insurance links between them.
//!
//! A person row exists per normalised member id. Which person a member id denotes is the
//! domain's rule (`domain::person_link`: a family card without 枝番 is resolved by birth
//! date and sex, an ambiguous one reported, never guessed), run here against the
//! `persons` table; `Tx` is the intake's `Identities` (`intake::identity`) over these
//! tables.

use time::Date;
use time::macros::format_description;

use super::{StoreError, Tx};
use crate::args;
use crate::domain::person_link::{self, KnownPerson, LinkFacts, PersonDecision, PersonLookup};
use crate::domain::{Demographics, InstitutionCode, MemberId, Sex};
use crate::intake::{Identities, PatientLinked};

pub use crate::intake::PersonLink;

/// A stored local patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientRow {
    pub pk: i64,
    pub facility: Option<String>,
    pub local_id: Option<String>,
    pub fhir_id: Option<String>,
    pub person_pk: Option<i64>,
}

/// An insurance link to record (FHIR Coverage, HL7 IN1, UKE HO).
#[derive(Debug, Clone)]
pub struct NewCoverage<'a> {
    pub patient_pk: Option<i64>,
    pub person_pk: Option<i64>,
    pub member_key: &'a str,
    /// False when the coverage is cancelled or entered in error.
    pub active: bool,
    /// The FHIR Coverage it came from, so a new version replaces it.
    pub source_resource_pk: Option<i64>,
    pub input_id: i64,
    pub client_id: i64,
    pub received_at: i64,
}

/// A stored person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRow {
    pub pk: i64,
    pub member_key: String,
    pub insurer: String,
    pub birth_date: Option<String>,
    pub sex: Option<String>,
}

fn date_text(d: Option<Date>) -> Option<String> {
    d.map(|d| format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day()))
}

fn sex_text(s: Option<Sex>) -> Option<&'static str> {
    s.map(Sex::as_fhir)
}

/// The facts of stored (or given) birth date and sex texts.
fn facts_of(birth_date: Option<&str>, sex: Option<&str>) -> Result<LinkFacts, StoreError> {
    let birth_date = birth_date
        .map(|t| {
            Date::parse(t, format_description!("[year]-[month]-[day]"))
                .map_err(|_| StoreError::Decode("a stored birth date is not a date".into()))
        })
        .transpose()?;
    let sex = sex
        .map(|t| {
            Sex::from_fhir(t).ok_or_else(|| StoreError::Decode("a stored sex is not a code".into()))
        })
        .transpose()?;
    Ok(LinkFacts { birth_date, sex })
}

const PATIENT_COLUMNS: &str = "pk, facility, local_id, fhir_id, person_pk";

fn patient_row(r: &super::sql::Row<'_>) -> Result<PatientRow, StoreError> {
    Ok(PatientRow {
        pk: r.i64(0)?,
        facility: r.opt_string(1)?,
        local_id: r.opt_string(2)?,
        fhir_id: r.opt_string(3)?,
        person_pk: r.opt_i64(4)?,
    })
}

/// Tables whose rows point at a local patient (moved when two patient rows merge).
const PATIENT_REFERRERS: &[&str] = &[
    "coverages",
    "medication_records",
    "lab_results",
    "conditions",
    "allergies",
];

impl Tx<'_> {
    pub fn patient(&mut self, pk: i64) -> Result<Option<PatientRow>, StoreError> {
        let sql = format!("SELECT {PATIENT_COLUMNS} FROM patients WHERE pk = ?");
        self.conn().query_opt(&sql, args![pk], patient_row)
    }

    pub fn patient_by_fhir_id(&mut self, fhir_id: &str) -> Result<Option<PatientRow>, StoreError> {
        let sql = format!("SELECT {PATIENT_COLUMNS} FROM patients WHERE fhir_id = ?");
        self.conn().query_opt(&sql, args![fhir_id], patient_row)
    }

    pub fn patient_by_local_id(
        &mut self,
        facility: &str,
        local_id: &str,
    ) -> Result<Option<PatientRow>, StoreError> {
        let sql =
            format!("SELECT {PATIENT_COLUMNS} FROM patients WHERE facility = ? AND local_id = ?");
        self.conn()
            .query_opt(&sql, args![facility, local_id], patient_row)
    }

    /// The patient row a `Patient/{id}` reference denotes, created as a placeholder (owned
    /// by `facility`) when the Patient resource has not arrived yet.
    pub fn ensure_fhir_patient(
        &mut self,
        fhir_id: &str,
        facility: Option<&str>,
    ) -> Result<PatientRow, StoreError> {
        if let Some(p) = self.patient_by_fhir_id(fhir_id)? {
            return Ok(p);
        }
        let now = self.now();
        let inserted = self.conn().insert_returning_opt(
            "INSERT INTO patients (facility, fhir_id, created_at) VALUES (?, ?, ?)
             ON CONFLICT DO NOTHING RETURNING pk",
            args![facility, fhir_id, now],
        )?;
        let Some(pk) = inserted else {
            // A concurrent transaction created it first (PostgreSQL).
            return self
                .patient_by_fhir_id(fhir_id)?
                .ok_or_else(|| StoreError::Decode("patient row vanished".into()));
        };
        Ok(PatientRow {
            pk,
            facility: facility.map(str::to_owned),
            local_id: None,
            fhir_id: Some(fhir_id.to_owned()),
            person_pk: None,
        })
    }

    /// Records what a Patient resource says: its facility-local id and demographics. When
    /// another row already holds that local id (an HL7 feed of the same clinic), the two rows
    /// merge into it.
    pub fn upsert_fhir_patient(
        &mut self,
        fhir_id: &str,
        facility: Option<&str>,
        local_id: Option<&str>,
        demographics: &Demographics,
    ) -> Result<PatientRow, StoreError> {
        let mine = self.ensure_fhir_patient(fhir_id, facility)?;
        let birth = date_text(demographics.birth_date);
        let sex = sex_text(demographics.sex);
        let mut target = mine.clone();
        if let (Some(f), Some(l)) = (facility, local_id) {
            match self.patient_by_local_id(f, l)? {
                Some(other) if other.pk != mine.pk => {
                    if other.fhir_id.is_none() {
                        self.merge_patients(mine.pk, other.pk)?;
                        self.conn().execute(
                            "UPDATE patients SET fhir_id = ? WHERE pk = ?",
                            args![fhir_id, other.pk],
                        )?;
                        target = PatientRow {
                            fhir_id: Some(fhir_id.to_owned()),
                            ..other
                        };
                    }
                    // Another Patient resource already claims this local id: keep both rows
                    // (the clinic has two records for one patient; both stay reachable).
                }
                Some(_) => {}
                None => {
                    self.conn().execute(
                        "UPDATE patients SET facility = ?, local_id = ? WHERE pk = ?",
                        args![f, l, mine.pk],
                    )?;
                    target.facility = Some(f.to_owned());
                    target.local_id = Some(l.to_owned());
                }
            }
        }
        self.conn().execute(
            "UPDATE patients SET birth_date = COALESCE(?, birth_date), sex = COALESCE(?, sex) WHERE pk = ?",
            args![birth.as_deref(), sex, target.pk],
        )?;
        Ok(target)
    }

    /// The row for a facility-local patient id (HL7 PID-3), created when new.
    pub fn upsert_local_patient(
        &mut self,
        facility: &str,
        local_id: &str,
        demographics: &Demographics,
    ) -> Result<PatientRow, StoreError> {
        let birth = date_text(demographics.birth_date);
        let sex = sex_text(demographics.sex);
        if let Some(p) = self.patient_by_local_id(facility, local_id)? {
            self.conn().execute(
                "UPDATE patients SET birth_date = COALESCE(?, birth_date), sex = COALESCE(?, sex) WHERE pk = ?",
                args![birth.as_deref(), sex, p.pk],
            )?;
            return Ok(p);
        }
        let now = self.now();
        let inserted = self.conn().insert_returning_opt(
            "INSERT INTO patients (facility, local_id, birth_date, sex, created_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT DO NOTHING RETURNING pk",
            args![facility, local_id, birth.as_deref(), sex, now],
        )?;
        let Some(pk) = inserted else {
            return self
                .patient_by_local_id(facility, local_id)?
                .ok_or_else(|| StoreError::Decode("patient row vanished".into()));
        };
        Ok(PatientRow {
            pk,
            facility: Some(facility.to_owned()),
            local_id: Some(local_id.to_owned()),
            fhir_id: None,
            person_pk: None,
        })
    }

    /// Gives a patient row the FHIR Patient id kakari serves it under (a patient first
    /// known from an HL7 v2 feed has none until then).
    pub fn set_patient_fhir_id(&mut self, pk: i64, fhir_id: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE patients SET fhir_id = ? WHERE pk = ? AND fhir_id IS NULL",
            args![fhir_id, pk],
        )?;
        Ok(())
    }

    /// The row standing for a person as a whole (no institution, no local id): the
    /// Patient that records known only by member id (claims, checkups) are about.
    pub fn person_patient(&mut self, person_pk: i64) -> Result<Option<PatientRow>, StoreError> {
        let sql = format!(
            "SELECT {PATIENT_COLUMNS} FROM patients
             WHERE person_pk = ? AND facility IS NULL AND local_id IS NULL AND fhir_id IS NOT NULL
             ORDER BY pk LIMIT 1"
        );
        self.conn().query_opt(&sql, args![person_pk], patient_row)
    }

    /// Creates the person's own patient row under `fhir_id` (see [`Tx::person_patient`]).
    pub fn insert_person_patient(
        &mut self,
        person_pk: i64,
        fhir_id: &str,
    ) -> Result<PatientRow, StoreError> {
        let now = self.now();
        let pk = self.conn().insert_returning(
            "INSERT INTO patients (fhir_id, person_pk, created_at) VALUES (?, ?, ?) RETURNING pk",
            args![fhir_id, person_pk, now],
        )?;
        Ok(PatientRow {
            pk,
            facility: None,
            local_id: None,
            fhir_id: Some(fhir_id.to_owned()),
            person_pk: Some(person_pk),
        })
    }

    fn merge_patients(&mut self, from: i64, into: i64) -> Result<(), StoreError> {
        for table in PATIENT_REFERRERS {
            let sql = format!("UPDATE {table} SET patient_pk = ? WHERE patient_pk = ?");
            self.conn().execute(&sql, args![into, from])?;
        }
        self.conn().execute(
            "UPDATE patients SET person_pk = COALESCE(person_pk, (SELECT person_pk FROM patients WHERE pk = ?)) WHERE pk = ?",
            args![from, into],
        )?;
        self.conn()
            .execute("DELETE FROM patients WHERE pk = ?", args![from])?;
        self.refresh_feed_insurer(into)
    }

    pub fn link_patient(&mut self, patient_pk: i64, person_pk: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE patients SET person_pk = ? WHERE pk = ?",
            args![person_pk, patient_pk],
        )?;
        // The patient's records are the person's now: their findings may have changed.
        self.touched_persons.push(person_pk);
        self.refresh_feed_insurer(patient_pk)
    }

    /// Demographics a patient row knows (for resolving family cards).
    pub fn patient_demographics(
        &mut self,
        pk: i64,
    ) -> Result<(Option<String>, Option<String>), StoreError> {
        Ok(self
            .conn()
            .query_opt(
                "SELECT birth_date, sex FROM patients WHERE pk = ?",
                args![pk],
                |r| Ok((r.opt_string(0)?, r.opt_string(1)?)),
            )?
            .unwrap_or((None, None)))
    }

    pub fn person(&mut self, pk: i64) -> Result<Option<PersonRow>, StoreError> {
        self.conn().query_opt(
            "SELECT pk, member_key, insurer, birth_date, sex FROM persons WHERE pk = ?",
            args![pk],
            person_row,
        )
    }

    pub fn person_by_member(&mut self, member: &MemberId) -> Result<Option<PersonRow>, StoreError> {
        self.conn().query_opt(
            "SELECT pk, member_key, insurer, birth_date, sex FROM persons WHERE member_key = ?",
            args![member.key().as_str()],
            person_row,
        )
    }

    /// Finds or creates the person a member id denotes (`domain::person_link`), filling
    /// in the birth date and sex it lacks.
    pub fn resolve_person(
        &mut self,
        member: &MemberId,
        birth_date: Option<String>,
        sex: Option<String>,
    ) -> Result<PersonLink, StoreError> {
        let given = facts_of(birth_date.as_deref(), sex.as_deref())?;
        self.person_for(member, given)
    }

    fn person_for(
        &mut self,
        member: &MemberId,
        given: LinkFacts,
    ) -> Result<PersonLink, StoreError> {
        let birth_date = date_text(given.birth_date);
        let sex = sex_text(given.sex).map(str::to_owned);
        let pk = match person_link::decide(member, given, &mut PersonsTable(self))? {
            PersonDecision::Existing(pk) => pk,
            // A person first seen without 枝番 becomes this one.
            PersonDecision::Upgrade(pk) => {
                self.conn().execute(
                    "UPDATE persons SET member_key = ? WHERE pk = ?",
                    args![member.key().as_str(), pk],
                )?;
                pk
            }
            PersonDecision::Create => {
                return self
                    .insert_person(member, &birth_date, &sex)
                    .map(PersonLink::Linked);
            }
            PersonDecision::Ambiguous { candidates } => {
                return Ok(PersonLink::Ambiguous { candidates });
            }
        };
        self.fill_person(pk, &birth_date, &sex)?;
        Ok(PersonLink::Linked(pk))
    }

    fn insert_person(
        &mut self,
        member: &MemberId,
        birth_date: &Option<String>,
        sex: &Option<String>,
    ) -> Result<i64, StoreError> {
        let now = self.now();
        let inserted = self.conn().insert_returning_opt(
            "INSERT INTO persons (member_key, family_key, insurer, birth_date, sex, created_at)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING pk",
            args![
                member.key().as_str(),
                member.family_key().as_str(),
                member.insurer().as_str(),
                birth_date.as_deref(),
                sex.as_deref(),
                now
            ],
        )?;
        match inserted {
            Some(pk) => Ok(pk),
            // A concurrent transaction created it first (PostgreSQL).
            None => self
                .person_by_member(member)?
                .map(|p| p.pk)
                .ok_or_else(|| StoreError::Decode("person row vanished".into())),
        }
    }

    fn fill_person(
        &mut self,
        pk: i64,
        birth_date: &Option<String>,
        sex: &Option<String>,
    ) -> Result<(), StoreError> {
        if birth_date.is_none() && sex.is_none() {
            return Ok(());
        }
        self.conn().execute(
            "UPDATE persons SET birth_date = COALESCE(birth_date, ?), sex = COALESCE(sex, ?) WHERE pk = ?",
            args![birth_date.as_deref(), sex.as_deref(), pk],
        )?;
        Ok(())
    }

    /// Records an insurance link from a source resource or message.
    pub fn insert_coverage(&mut self, c: &NewCoverage<'_>) -> Result<i64, StoreError> {
        self.conn().insert_returning(
            "INSERT INTO coverages (patient_pk, person_pk, member_key, active, source_resource_pk, input_id, client_id, received_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING pk",
            args![
                c.patient_pk,
                c.person_pk,
                c.member_key,
                c.active,
                c.source_resource_pk,
                c.input_id,
                c.client_id,
                c.received_at
            ],
        )
    }

    pub fn delete_coverages_of_resource(&mut self, resource_pk: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "DELETE FROM coverages WHERE source_resource_pk = ?",
            args![resource_pk],
        )?;
        Ok(())
    }

    /// The member key of every person, sorted (for reports and tests).
    pub fn person_keys(&mut self) -> Result<Vec<String>, StoreError> {
        let mut keys = self
            .conn()
            .query("SELECT member_key FROM persons", &[], |r| r.string(0))?;
        keys.sort();
        Ok(keys)
    }

    /// Counts for the operator: persons, patients, and patients not yet linked to a person.
    pub fn identity_counts(&mut self) -> Result<(i64, i64, i64), StoreError> {
        self.conn().query_one(
            "SELECT (SELECT COUNT(*) FROM persons), (SELECT COUNT(*) FROM patients),
                    (SELECT COUNT(*) FROM patients WHERE person_pk IS NULL)",
            &[],
            |r| Ok((r.i64(0)?, r.i64(1)?, r.i64(2)?)),
        )
    }
}

/// The `persons` table as the person-linking rule's lookup.
struct PersonsTable<'t, 'c>(&'t mut Tx<'c>);

impl PersonsTable<'_, '_> {
    fn known(&mut self, column: &str, key: &str) -> Result<Vec<KnownPerson<i64>>, StoreError> {
        let sql = format!(
            "SELECT pk, member_key, insurer, birth_date, sex FROM persons WHERE {column} = ?"
        );
        let rows = self.0.conn().query(&sql, args![key], person_row)?;
        rows.into_iter()
            .map(|p| {
                Ok(KnownPerson {
                    id: p.pk,
                    facts: facts_of(p.birth_date.as_deref(), p.sex.as_deref())?,
                    member_key: p.member_key,
                })
            })
            .collect()
    }
}

impl PersonLookup for PersonsTable<'_, '_> {
    type Id = i64;
    type Error = StoreError;

    fn by_member_key(&mut self, key: &str) -> Result<Option<KnownPerson<i64>>, StoreError> {
        Ok(self.known("member_key", key)?.into_iter().next())
    }

    fn by_family_key(&mut self, family_key: &str) -> Result<Vec<KnownPerson<i64>>, StoreError> {
        self.known("family_key", family_key)
    }
}

fn linked(row: PatientRow) -> PatientLinked {
    PatientLinked {
        pk: row.pk,
        person_pk: row.person_pk,
    }
}

impl Identities for Tx<'_> {
    type Error = StoreError;

    fn person_of_member(
        &mut self,
        member: &MemberId,
        facts: LinkFacts,
    ) -> Result<PersonLink, StoreError> {
        self.person_for(member, facts)
    }

    fn local_patient(
        &mut self,
        facility: &InstitutionCode,
        local_id: &str,
        demographics: &Demographics,
    ) -> Result<PatientLinked, StoreError> {
        self.upsert_local_patient(facility.as_str(), local_id, demographics)
            .map(linked)
    }

    fn fhir_patient(
        &mut self,
        fhir_id: &str,
        facility: Option<&str>,
    ) -> Result<PatientLinked, StoreError> {
        self.ensure_fhir_patient(fhir_id, facility).map(linked)
    }

    fn record_fhir_patient(
        &mut self,
        fhir_id: &str,
        facility: Option<&str>,
        local_id: Option<&str>,
        demographics: &Demographics,
    ) -> Result<PatientLinked, StoreError> {
        self.upsert_fhir_patient(fhir_id, facility, local_id, demographics)
            .map(linked)
    }

    fn patient_facts(&mut self, patient_pk: i64) -> Result<LinkFacts, StoreError> {
        let (birth_date, sex) = self.patient_demographics(patient_pk)?;
        facts_of(birth_date.as_deref(), sex.as_deref())
    }

    fn link_patient_to_person(
        &mut self,
        patient_pk: i64,
        person_pk: i64,
    ) -> Result<(), StoreError> {
        self.link_patient(patient_pk, person_pk)
    }
}

pub(super) fn person_row(r: &super::sql::Row<'_>) -> Result<PersonRow, StoreError> {
    Ok(PersonRow {
        pk: r.i64(0)?,
        member_key: r.string(1)?,
        insurer: r.string(2)?,
        birth_date: r.opt_string(3)?,
        sex: r.opt_string(4)?,
    })
}

/// Text form of a birth date, as stored.
pub fn birth_date_text(d: Option<Date>) -> Option<String> {
    date_text(d)
}

/// Text form of a sex, as stored.
pub fn sex_code(s: Option<Sex>) -> Option<String> {
    sex_text(s).map(str::to_owned)
}
