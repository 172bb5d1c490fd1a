//! The audit trail: one row per read or write of patient data, appended in the same
//! transaction as the data, hash-chained so that an edited or deleted row is detectable.
//!
//! `hash = SHA-256(prev_hash ‖ seq ‖ at ‖ fields…)`, fields separated by 0x1F. Appends are
//! serialised (SQLite: the single writer; PostgreSQL: a transaction-level advisory lock),
//! so the chain has no forks.

use sha2::{Digest, Sha256};

use super::sql::Dialect;
use super::{StoreError, Tx};
use crate::args;

/// What happened, by whom, to whose data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditEntry {
    pub request_id: Option<String>,
    pub client_id: Option<i64>,
    pub role: Option<String>,
    /// `create`, `update`, `read`, `search`, `delete`, `ingest`, `export`, ...
    pub action: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub person_pk: Option<i64>,
    pub patient_pk: Option<i64>,
    /// `success`, `denied`, `failed`.
    pub outcome: String,
    /// Structural detail (counts, formats); never patient values.
    pub detail: Option<String>,
}

/// Resource types whose rows record a person's registration or consent.
pub const RELATIONSHIP_RESOURCE_TYPES: &[&str] = &["EpisodeOfCare", "Consent"];
/// Actions (SQL `LIKE` patterns: a prefix and `%`) of rows that record a person's
/// registration, consent or own requests.
pub const RELATIONSHIP_ACTIONS: &[&str] = &["registration.%", "consent.%", "person.%"];

impl AuditEntry {
    /// Whether the row records whom a person is registered with, what they consented to,
    /// or what they asked themselves: operators see such rows without the person or detail.
    pub fn is_about_relationship(&self) -> bool {
        self.resource_type
            .as_deref()
            .is_some_and(|t| RELATIONSHIP_RESOURCE_TYPES.contains(&t))
            || RELATIONSHIP_ACTIONS
                .iter()
                .any(|p| self.action.starts_with(p.trim_end_matches('%')))
    }
}

/// A stored audit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: i64,
    pub at: i64,
    pub entry: AuditEntry,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// Filters for listing the trail.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub client_id: Option<i64>,
    pub person_pk: Option<i64>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub outcome: Option<String>,
    /// Epoch milliseconds, inclusive.
    pub since: Option<i64>,
    /// Epoch milliseconds, exclusive.
    pub until: Option<i64>,
    pub after_seq: Option<i64>,
    pub limit: i64,
    /// Leave out rows about registrations, consents and the person's own requests
    /// ([`AuditEntry::is_about_relationship`]).
    pub without_relationships: bool,
}

/// Where verification found the chain broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// The row's stored hash is not the hash of its content.
    Altered { seq: i64 },
    /// The row does not point at the previous row's hash (a row was removed or reordered).
    Unlinked { seq: i64 },
}

impl ChainBreak {
    /// The first sequence number at which the chain no longer holds.
    pub fn seq(&self) -> i64 {
        match self {
            Self::Altered { seq } | Self::Unlinked { seq } => *seq,
        }
    }
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Altered { seq } => write!(
                f,
                "row {seq} was altered: its stored hash is not the hash of its content"
            ),
            Self::Unlinked { seq } => write!(
                f,
                "row {seq} does not follow the previous row: a row before it was removed, \
                 inserted or reordered"
            ),
        }
    }
}

const GENESIS: [u8; 32] = [0u8; 32];

/// Advisory lock id that serialises audit appends on PostgreSQL.
const AUDIT_LOCK: i64 = 0x6b61_6b61_7269_0002;

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// The hash of a row given its predecessor's hash.
pub fn chain_hash(prev: &[u8], seq: i64, at: i64, e: &AuditEntry) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(prev);
    let fields = [
        seq.to_string(),
        at.to_string(),
        opt(&e.request_id),
        opt(&e.client_id),
        opt(&e.role),
        e.action.clone(),
        opt(&e.resource_type),
        opt(&e.resource_id),
        opt(&e.person_pk),
        opt(&e.patient_pk),
        e.outcome.clone(),
        opt(&e.detail),
    ];
    for f in &fields {
        h.update([0x1f]);
        h.update(f.as_bytes());
    }
    h.finalize().to_vec()
}

const COLUMNS: &str = "seq, at, request_id, client_id, role, action, resource_type, resource_id, \
                       person_pk, patient_pk, outcome, detail, prev_hash, hash";

fn row(r: &super::sql::Row<'_>) -> Result<AuditRow, StoreError> {
    Ok(AuditRow {
        seq: r.i64(0)?,
        at: r.i64(1)?,
        entry: AuditEntry {
            request_id: r.opt_string(2)?,
            client_id: r.opt_i64(3)?,
            role: r.opt_string(4)?,
            action: r.string(5)?,
            resource_type: r.opt_string(6)?,
            resource_id: r.opt_string(7)?,
            person_pk: r.opt_i64(8)?,
            patient_pk: r.opt_i64(9)?,
            outcome: r.string(10)?,
            detail: r.opt_string(11)?,
        },
        prev_hash: r.opt_bytes(12)?.unwrap_or_default().to_vec(),
        hash: r.opt_bytes(13)?.unwrap_or_default().to_vec(),
    })
}

impl Tx<'_> {
    /// Appends entries to the chain as part of this unit of work. They are written when the
    /// unit ends, just before its commit (see `Tx::finish`), so that on PostgreSQL the
    /// chain's lock is held only from there to the commit, not for the whole unit.
    pub fn append_audit(&mut self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        self.pending_audit.extend_from_slice(entries);
        Ok(())
    }

    /// Writes entries to the end of the chain now; returns the sequence number of the last.
    pub(crate) fn write_audit(
        &mut self,
        entries: &[AuditEntry],
    ) -> Result<Option<i64>, StoreError> {
        if entries.is_empty() {
            return Ok(None);
        }
        if self.dialect() == Dialect::Postgres {
            self.conn()
                .query("SELECT pg_advisory_xact_lock(?)", args![AUDIT_LOCK], |_| {
                    Ok(())
                })?;
        }
        let last = self.conn().query_opt(
            "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1",
            &[],
            |r| Ok((r.i64(0)?, r.opt_bytes(1)?.unwrap_or_default().to_vec())),
        )?;
        let (mut seq, mut prev) = last.unwrap_or((0, GENESIS.to_vec()));
        let at = self.now();
        for e in entries {
            seq += 1;
            let hash = chain_hash(&prev, seq, at, e);
            self.conn().execute(
                "INSERT INTO audit_events (seq, at, request_id, client_id, role, action, resource_type,
                    resource_id, person_pk, patient_pk, outcome, detail, prev_hash, hash)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                args![
                    seq,
                    at,
                    e.request_id.as_deref(),
                    e.client_id,
                    e.role.as_deref(),
                    e.action.as_str(),
                    e.resource_type.as_deref(),
                    e.resource_id.as_deref(),
                    e.person_pk,
                    e.patient_pk,
                    e.outcome.as_str(),
                    e.detail.as_deref(),
                    &prev,
                    &hash,
                ],
            )?;
            prev = hash;
        }
        Ok(Some(seq))
    }

    pub fn list_audit(&mut self, f: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM audit_events WHERE 1 = 1");
        let mut params: Vec<super::sql::Param<'_>> = Vec::new();
        if let Some(c) = f.client_id {
            sql.push_str(" AND client_id = ?");
            params.push(c.into());
        }
        if let Some(p) = f.person_pk {
            sql.push_str(" AND person_pk = ?");
            params.push(p.into());
        }
        if let Some(a) = f.action.as_deref() {
            sql.push_str(" AND action = ?");
            params.push(a.into());
        }
        if let Some(t) = f.resource_type.as_deref() {
            sql.push_str(" AND resource_type = ?");
            params.push(t.into());
        }
        if let Some(o) = f.outcome.as_deref() {
            sql.push_str(" AND outcome = ?");
            params.push(o.into());
        }
        if let Some(s) = f.since {
            sql.push_str(" AND at >= ?");
            params.push(s.into());
        }
        if let Some(u) = f.until {
            sql.push_str(" AND at < ?");
            params.push(u.into());
        }
        if f.without_relationships {
            sql.push_str(" AND COALESCE(resource_type, '') NOT IN (");
            for (i, t) in RELATIONSHIP_RESOURCE_TYPES.iter().enumerate() {
                sql.push_str(if i == 0 { "?" } else { ", ?" });
                params.push((*t).into());
            }
            sql.push(')');
            for pattern in RELATIONSHIP_ACTIONS {
                sql.push_str(" AND action NOT LIKE ?");
                params.push((*pattern).into());
            }
        }
        if let Some(a) = f.after_seq {
            sql.push_str(" AND seq > ?");
            params.push(a.into());
        }
        sql.push_str(" ORDER BY seq LIMIT ?");
        params.push(f.limit.clamp(1, 10_000).into());
        self.conn().query(&sql, &params, row)
    }

    /// Walks the whole chain in order; returns the first break, or the number of rows.
    pub fn verify_audit(&mut self) -> Result<Result<i64, ChainBreak>, StoreError> {
        let mut prev = GENESIS.to_vec();
        let mut after = 0i64;
        let mut count = 0i64;
        loop {
            let sql =
                format!("SELECT {COLUMNS} FROM audit_events WHERE seq > ? ORDER BY seq LIMIT 5000");
            let rows = self.conn().query(&sql, args![after], row)?;
            if rows.is_empty() {
                return Ok(Ok(count));
            }
            for r in rows {
                if r.prev_hash != prev || r.seq != after + 1 {
                    return Ok(Err(ChainBreak::Unlinked { seq: r.seq }));
                }
                if chain_hash(&r.prev_hash, r.seq, r.at, &r.entry) != r.hash {
                    return Ok(Err(ChainBreak::Altered { seq: r.seq }));
                }
                prev = r.hash;
                after = r.seq;
                count += 1;
            }
        }
    }
}
