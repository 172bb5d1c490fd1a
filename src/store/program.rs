//! What the program findings read (an insurer's registered, consenting members, page by
//! page; a person's lab values and diagnoses) and which findings were seen before.

use super::lab_feed::{ITEM_COLUMNS, item};
use super::persons::{PersonRow, person_row};
use super::{StoreError, Tx};
use crate::args;
use crate::domain::{Coding, LabResult};

/// A lab value with what a finding cites about it.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonLab {
    pub pk: i64,
    pub result: LabResult,
    /// The FHIR resource it is served as (`Observation/abc`), when there is one.
    pub resource: Option<String>,
}

/// A diagnosis as the findings read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonDiagnosis {
    pub codes: Vec<Coding>,
    pub onset: Option<String>,
    pub recorded: Option<String>,
}

/// The insurer's members with an active registration whose consent in force permits its
/// programs (the lab pull's rule).
const CONSENTING: &str = "p.insurer = ?
    AND EXISTS (SELECT 1 FROM registrations r WHERE r.person_pk = p.pk AND r.status = 'active')
    AND (SELECT c.insurer_programs FROM consents c WHERE c.person_pk = p.pk ORDER BY c.id DESC LIMIT 1) = 1";

impl Tx<'_> {
    /// The person, when they are registered and their consent in force permits their
    /// insurer's programs.
    pub fn consenting_member(&mut self, person_pk: i64) -> Result<Option<PersonRow>, StoreError> {
        self.conn().query_opt(
            &format!(
                "SELECT p.pk, p.member_key, p.insurer, p.birth_date, p.sex FROM persons p
                 WHERE p.pk = ? AND {}",
                CONSENTING.replacen("p.insurer = ?", "p.insurer IS NOT NULL", 1)
            ),
            args![person_pk],
            person_row,
        )
    }

    /// The next `limit` consenting, registered members of `insurer` after `after_pk`.
    pub fn consenting_members(
        &mut self,
        insurer: &str,
        after_pk: i64,
        limit: i64,
    ) -> Result<Vec<PersonRow>, StoreError> {
        self.conn().query(
            &format!(
                "SELECT p.pk, p.member_key, p.insurer, p.birth_date, p.sex FROM persons p
                 WHERE p.pk > ? AND {CONSENTING} ORDER BY p.pk LIMIT ?"
            ),
            args![after_pk, insurer, limit],
            person_row,
        )
    }

    /// A person's lab values taken from `from_millis` on (directly filed, or through
    /// their patients), oldest first.
    pub fn labs_of_person(
        &mut self,
        person_pk: i64,
        from_millis: i64,
    ) -> Result<Vec<PersonLab>, StoreError> {
        let columns = ITEM_COLUMNS.replacen("l.feed_seq", "COALESCE(l.feed_seq, 0)", 1);
        let sql = format!(
            "SELECT {columns}, r.type, r.id FROM lab_results l
             JOIN persons p ON p.pk = ?
             LEFT JOIN resources r ON r.pk = l.source_resource_pk
             WHERE (l.person_pk = ? OR (l.person_pk IS NULL
                    AND l.patient_pk IN (SELECT pk FROM patients WHERE person_pk = ?)))
               AND l.effective_lo >= ?
             ORDER BY l.effective_lo, l.pk"
        );
        self.conn().query(
            &sql,
            args![person_pk, person_pk, person_pk, from_millis],
            |r| {
                let it = item(r)?;
                let resource = match (r.opt_str(26)?, r.opt_str(27)?) {
                    (Some(t), Some(id)) => Some(format!("{t}/{id}")),
                    _ => None,
                };
                Ok(PersonLab {
                    pk: it.pk,
                    result: it.result,
                    resource,
                })
            },
        )
    }

    /// A person's diagnoses (directly filed, or through their patients).
    pub fn diagnoses_of_person(
        &mut self,
        person_pk: i64,
    ) -> Result<Vec<PersonDiagnosis>, StoreError> {
        self.conn().query(
            "SELECT codes, onset, recorded FROM conditions
             WHERE person_pk = ? OR (person_pk IS NULL
                   AND patient_pk IN (SELECT pk FROM patients WHERE person_pk = ?))
             ORDER BY pk",
            args![person_pk, person_pk],
            |r| {
                Ok(PersonDiagnosis {
                    codes: serde_json::from_str(r.str(0)?).unwrap_or_default(),
                    onset: r.opt_string(1)?,
                    recorded: r.opt_string(2)?,
                })
            },
        )
    }

    /// Records that a finding was seen; true the first time.
    pub fn finding_first_seen(&mut self, person_pk: i64, key: &str) -> Result<bool, StoreError> {
        let now = self.now();
        let changed = self.conn().execute(
            "INSERT INTO findings_seen (person_pk, key, first_seen) VALUES (?, ?, ?)
             ON CONFLICT (person_pk, key) DO NOTHING",
            args![person_pk, key, now],
        )?;
        Ok(changed == 1)
    }
}
