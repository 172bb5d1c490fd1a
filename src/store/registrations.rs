//! Registrations of a person's one family doctor (かかりつけ医) and the person's consent to
//! share lab values with the insurer.
//!
//! At most one registration per person is active (`status = 'active'`), enforced by a
//! partial unique index: activating one ends the previous one in the same transaction, and
//! two concurrent activations cannot both stay active. Pending registrations wait for the
//! person (`domain::registration`); they open nothing.

use super::sql::Param;
use super::{StoreError, Tx};
use crate::args;
use crate::domain::registration::{ActivationBasis, ConsentBasis, RegistrationStatus};

/// A stored registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationRow {
    pub id: i64,
    pub person_pk: i64,
    pub member_key: String,
    pub practitioner: String,
    pub organization: String,
    pub start_date: String,
    pub created_at: i64,
    pub created_by: i64,
    pub ended_at: Option<i64>,
    pub ended_by: Option<i64>,
    pub end_reason: Option<String>,
    pub status: RegistrationStatus,
    /// What made it active (`None` while pending, or for one that never was).
    pub basis: Option<ActivationBasis>,
    pub evidence_document: Option<String>,
    pub evidence_attested_by: Option<String>,
    /// When and by which client it was activated, refused or withdrawn.
    pub decided_at: Option<i64>,
    pub decided_by: Option<i64>,
    /// The consent asked for with it (applied when it becomes active).
    pub requested_consent: Option<bool>,
}

/// A registration to create.
#[derive(Debug, Clone)]
pub struct NewRegistration<'a> {
    pub person_pk: i64,
    pub member_key: &'a str,
    pub practitioner: &'a str,
    pub organization: &'a str,
    pub start_date: &'a str,
    pub created_by: i64,
    pub status: RegistrationStatus,
    pub basis: Option<ActivationBasis>,
    pub evidence_document: Option<&'a str>,
    pub evidence_attested_by: Option<&'a str>,
    pub requested_consent: Option<bool>,
}

/// Which registrations to list (all given filters hold).
#[derive(Debug, Clone, Default)]
pub struct RegistrationFilter {
    pub person_pk: Option<i64>,
    pub practitioner: Option<String>,
    pub organization: Option<String>,
    /// Members of this insurer (the member key starts with `insurer:`).
    pub insurer: Option<String>,
    /// Only these statuses (empty: all).
    pub statuses: Vec<RegistrationStatus>,
    /// For callers that are not a party: only registrations that took effect (active or
    /// ended), besides those of this institution or practitioner (their own proposals).
    pub effective_or_own: Option<(Option<String>, Option<String>)>,
    /// Ids below this one (pages go newest first).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// A consent decision as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRow {
    pub id: i64,
    pub person_pk: i64,
    pub insurer_programs: bool,
    pub recorded_at: i64,
    pub recorded_by: i64,
    pub registration_id: Option<i64>,
    pub basis: ConsentBasis,
    pub evidence_document: Option<String>,
}

/// A consent decision to record.
#[derive(Debug, Clone)]
pub struct NewConsent<'a> {
    pub person_pk: i64,
    pub insurer_programs: bool,
    pub recorded_by: i64,
    pub registration_id: Option<i64>,
    pub basis: ConsentBasis,
    pub evidence_document: Option<&'a str>,
}

const COLUMNS: &str = "id, person_pk, member_key, practitioner, organization, start_date, created_at, \
                       created_by, ended_at, ended_by, end_reason, status, basis, evidence_document, \
                       evidence_attested_by, decided_at, decided_by, requested_consent";

const CONSENT_COLUMNS: &str = "id, person_pk, insurer_programs, recorded_at, recorded_by, registration_id, basis, evidence_document";

fn decode<T>(
    value: Option<String>,
    parse: impl Fn(&str) -> Option<T>,
    what: &str,
) -> Result<Option<T>, StoreError> {
    value
        .map(|v| parse(&v).ok_or_else(|| StoreError::Decode(format!("unknown {what} stored"))))
        .transpose()
}

fn row(r: &super::sql::Row<'_>) -> Result<RegistrationRow, StoreError> {
    Ok(RegistrationRow {
        id: r.i64(0)?,
        person_pk: r.i64(1)?,
        member_key: r.string(2)?,
        practitioner: r.string(3)?,
        organization: r.string(4)?,
        start_date: r.string(5)?,
        created_at: r.i64(6)?,
        created_by: r.i64(7)?,
        ended_at: r.opt_i64(8)?,
        ended_by: r.opt_i64(9)?,
        end_reason: r.opt_string(10)?,
        status: decode(
            Some(r.string(11)?),
            RegistrationStatus::parse,
            "registration status",
        )?
        .unwrap_or(RegistrationStatus::Ended),
        basis: decode(
            r.opt_string(12)?,
            ActivationBasis::parse,
            "activation basis",
        )?,
        evidence_document: r.opt_string(13)?,
        evidence_attested_by: r.opt_string(14)?,
        decided_at: r.opt_i64(15)?,
        decided_by: r.opt_i64(16)?,
        requested_consent: r.opt_i64(17)?.map(|v| v != 0),
    })
}

fn consent_row(r: &super::sql::Row<'_>) -> Result<ConsentRow, StoreError> {
    Ok(ConsentRow {
        id: r.i64(0)?,
        person_pk: r.i64(1)?,
        insurer_programs: r.bool(2)?,
        recorded_at: r.i64(3)?,
        recorded_by: r.i64(4)?,
        registration_id: r.opt_i64(5)?,
        basis: decode(Some(r.string(6)?), ConsentBasis::parse, "consent basis")?
            .unwrap_or(ConsentBasis::Registration),
        evidence_document: r.opt_string(7)?,
    })
}

/// `SELECT <what> FROM registrations WHERE <filter>` and its parameters.
fn filter_sql<'a>(
    f: &'a RegistrationFilter,
    insurer_prefix: Option<&'a str>,
    what: &str,
) -> (String, Vec<Param<'a>>) {
    let mut sql = format!("SELECT {what} FROM registrations WHERE 1 = 1");
    let mut params = Vec::new();
    if let Some(pk) = f.person_pk {
        sql.push_str(" AND person_pk = ?");
        params.push(Param::I64(pk));
    }
    if let Some(p) = &f.practitioner {
        sql.push_str(" AND practitioner = ?");
        params.push(Param::Text(p));
    }
    if let Some(o) = &f.organization {
        sql.push_str(" AND organization = ?");
        params.push(Param::Text(o));
    }
    if let Some(prefix) = insurer_prefix {
        // Member keys are `insurer:記号:番号:枝番` (the insurer number is digits).
        sql.push_str(" AND member_key LIKE ?");
        params.push(Param::Text(prefix));
    }
    if !f.statuses.is_empty() {
        sql.push_str(" AND status IN (");
        for (i, status) in f.statuses.iter().enumerate() {
            sql.push_str(if i == 0 { "?" } else { ", ?" });
            params.push(Param::Text(status.as_str()));
        }
        sql.push(')');
    }
    if let Some((organization, practitioner)) = &f.effective_or_own {
        sql.push_str(
            " AND (status IN ('active', 'ended') OR organization = ? OR practitioner = ?)",
        );
        params.push(organization.as_deref().into());
        params.push(practitioner.as_deref().into());
    }
    (sql, params)
}

impl Tx<'_> {
    /// Serialises registration changes of one person (PostgreSQL) before reading them.
    pub fn lock_person(&mut self, person_pk: i64) -> Result<(), StoreError> {
        self.lock(&format!("person-registration|{person_pk}"))
    }

    /// Ends the person's active registration, if any; returns it.
    pub fn end_active_registration(
        &mut self,
        person_pk: i64,
        by: i64,
        reason: &str,
    ) -> Result<Option<RegistrationRow>, StoreError> {
        let Some(active) = self.active_registration(person_pk)? else {
            return Ok(None);
        };
        self.end_registration(active.id, by, reason)?;
        self.registration(active.id)
    }

    /// Inserts a registration (an active one only after the previous one was ended).
    pub fn insert_registration(&mut self, r: &NewRegistration<'_>) -> Result<i64, StoreError> {
        let now = self.now();
        let decided_at = (r.status == RegistrationStatus::Active).then_some(now);
        let decided_by = decided_at.map(|_| r.created_by);
        self.conn().insert_returning(
            "INSERT INTO registrations (person_pk, member_key, practitioner, organization, start_date,
                created_at, created_by, status, basis, evidence_document, evidence_attested_by,
                decided_at, decided_by, requested_consent)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            args![
                r.person_pk,
                r.member_key,
                r.practitioner,
                r.organization,
                r.start_date,
                now,
                r.created_by,
                r.status.as_str(),
                r.basis.map(ActivationBasis::as_str),
                r.evidence_document,
                r.evidence_attested_by,
                decided_at,
                decided_by,
                r.requested_consent
            ],
        )
    }

    /// Ends an active registration; false when it was not active.
    pub fn end_registration(&mut self, id: i64, by: i64, reason: &str) -> Result<bool, StoreError> {
        let now = self.now();
        let changed = self.conn().execute(
            "UPDATE registrations SET status = 'ended', ended_at = ?, ended_by = ?, end_reason = ?
             WHERE id = ? AND status = 'active'",
            args![now, by, reason, id],
        )?;
        Ok(changed == 1)
    }

    /// Activates a pending registration (the caller ended the previous active one first);
    /// false when it was not pending.
    pub fn activate_registration(
        &mut self,
        id: i64,
        basis: ActivationBasis,
        by: i64,
    ) -> Result<bool, StoreError> {
        let now = self.now();
        let changed = self.conn().execute(
            "UPDATE registrations SET status = 'active', basis = ?, decided_at = ?, decided_by = ?
             WHERE id = ? AND status = 'pending'",
            args![basis.as_str(), now, by, id],
        )?;
        Ok(changed == 1)
    }

    /// Closes a pending registration as refused, withdrawn or superseded; false when it
    /// was not pending.
    pub fn close_pending_registration(
        &mut self,
        id: i64,
        status: RegistrationStatus,
        by: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let now = self.now();
        let changed = self.conn().execute(
            "UPDATE registrations SET status = ?, decided_at = ?, decided_by = ?, ended_at = ?,
                ended_by = ?, end_reason = ?
             WHERE id = ? AND status = 'pending'",
            args![status.as_str(), now, by, now, by, reason, id],
        )?;
        Ok(changed == 1)
    }

    /// The person's pending registrations, oldest first.
    pub fn pending_registrations(
        &mut self,
        person_pk: i64,
    ) -> Result<Vec<RegistrationRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM registrations WHERE person_pk = ? AND status = 'pending' ORDER BY id"
        );
        self.conn().query(&sql, args![person_pk], row)
    }

    /// Lets the person's pending registrations made before `cutoff` lapse (superseded,
    /// reason `lapsed`); returns them.
    pub fn lapse_pending_registrations(
        &mut self,
        person_pk: i64,
        cutoff: i64,
    ) -> Result<Vec<RegistrationRow>, StoreError> {
        let lapsed: Vec<RegistrationRow> = self
            .pending_registrations(person_pk)?
            .into_iter()
            .filter(|r| r.created_at < cutoff)
            .collect();
        for r in &lapsed {
            self.close_pending_registration(r.id, RegistrationStatus::Superseded, 0, "lapsed")?;
        }
        Ok(lapsed)
    }

    pub fn registration(&mut self, id: i64) -> Result<Option<RegistrationRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM registrations WHERE id = ?");
        self.conn().query_opt(&sql, args![id], row)
    }

    pub fn active_registration(
        &mut self,
        person_pk: i64,
    ) -> Result<Option<RegistrationRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM registrations WHERE person_pk = ? AND status = 'active'"
        );
        self.conn().query_opt(&sql, args![person_pk], row)
    }

    /// Every registration of a person, newest first.
    pub fn registration_history(
        &mut self,
        person_pk: i64,
    ) -> Result<Vec<RegistrationRow>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM registrations WHERE person_pk = ? ORDER BY id DESC");
        self.conn().query(&sql, args![person_pk], row)
    }

    /// Registrations matching a filter, newest first (at most `limit`, ids below
    /// `before_id`).
    pub fn list_registrations(
        &mut self,
        f: &RegistrationFilter,
    ) -> Result<Vec<RegistrationRow>, StoreError> {
        let prefix = f.insurer.as_ref().map(|i| format!("{i}:%"));
        let (mut sql, mut params) = filter_sql(f, prefix.as_deref(), COLUMNS);
        if let Some(before) = f.before_id {
            sql.push_str(" AND id < ?");
            params.push(Param::I64(before));
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        params.push(Param::I64(f.limit));
        self.conn().query(&sql, &params, row)
    }

    /// How many registrations match a filter (paging ignored).
    pub fn count_registrations(&mut self, f: &RegistrationFilter) -> Result<i64, StoreError> {
        let prefix = f.insurer.as_ref().map(|i| format!("{i}:%"));
        let (sql, params) = filter_sql(f, prefix.as_deref(), "COUNT(*)");
        self.conn().query_one(&sql, &params, |r| r.i64(0))
    }

    /// One consent decision.
    pub fn consent(&mut self, id: i64) -> Result<Option<ConsentRow>, StoreError> {
        self.conn().query_opt(
            &format!("SELECT {CONSENT_COLUMNS} FROM consents WHERE id = ?"),
            args![id],
            consent_row,
        )
    }

    /// Persons a practitioner is the active registered doctor of.
    pub fn persons_registered_with(&mut self, practitioner: &str) -> Result<Vec<i64>, StoreError> {
        self.conn().query(
            "SELECT person_pk FROM registrations WHERE practitioner = ? AND status = 'active'",
            args![practitioner],
            |r| r.i64(0),
        )
    }

    pub fn record_consent(&mut self, c: &NewConsent<'_>) -> Result<i64, StoreError> {
        let now = self.now();
        self.conn().insert_returning(
            "INSERT INTO consents (person_pk, insurer_programs, recorded_at, recorded_by, registration_id,
                basis, evidence_document)
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            args![
                c.person_pk,
                c.insurer_programs,
                now,
                c.recorded_by,
                c.registration_id,
                c.basis.as_str(),
                c.evidence_document
            ],
        )
    }

    /// The consent in force (the newest recorded), if any.
    pub fn current_consent(&mut self, person_pk: i64) -> Result<Option<ConsentRow>, StoreError> {
        self.conn().query_opt(
            &format!(
                "SELECT {CONSENT_COLUMNS} FROM consents WHERE person_pk = ? ORDER BY id DESC LIMIT 1"
            ),
            args![person_pk],
            consent_row,
        )
    }

    pub fn consent_history(&mut self, person_pk: i64) -> Result<Vec<ConsentRow>, StoreError> {
        self.conn().query(
            &format!("SELECT {CONSENT_COLUMNS} FROM consents WHERE person_pk = ? ORDER BY id DESC"),
            args![person_pk],
            consent_row,
        )
    }
}
