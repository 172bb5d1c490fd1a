//! FHIR resources as received: the current version in `resources`, earlier ones in
//! `resource_history`.

use super::{StoreError, Tx};
use crate::args;

/// A stored resource (current version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRow {
    pub pk: i64,
    pub rtype: String,
    pub id: String,
    pub version: i64,
    pub last_updated: i64,
    pub owner_facility: Option<String>,
    pub client_id: i64,
    pub subject_ref: Option<String>,
    pub body: String,
    /// Written by kakari from a record that arrived in another format (HL7 v2, SS-MIX2,
    /// UKE, 特定健診): read-only through `/fhir`, withdrawn with its input.
    pub derived: bool,
}

/// A resource to write (create or new version).
#[derive(Debug, Clone)]
pub struct ResourceWrite<'a> {
    pub rtype: &'a str,
    pub id: &'a str,
    pub owner_facility: Option<&'a str>,
    pub client_id: i64,
    pub input_id: Option<i64>,
    pub subject_ref: Option<&'a str>,
    pub body: &'a str,
    /// Written from a canonical record (see [`ResourceRow::derived`]).
    pub derived: bool,
    /// The version's timestamp (epoch milliseconds), as stamped into `meta.lastUpdated`.
    pub last_updated: i64,
}

pub(crate) const COLUMNS: &str =
    "pk, type, id, version, last_updated, owner_facility, client_id, subject_ref, body, derived";

pub(crate) fn row(r: &super::sql::Row<'_>) -> Result<ResourceRow, StoreError> {
    Ok(ResourceRow {
        pk: r.i64(0)?,
        rtype: r.string(1)?,
        id: r.string(2)?,
        version: r.i64(3)?,
        last_updated: r.i64(4)?,
        owner_facility: r.opt_string(5)?,
        client_id: r.i64(6)?,
        subject_ref: r.opt_string(7)?,
        body: r.string(8)?,
        derived: r.bool(9)?,
    })
}

impl Tx<'_> {
    pub fn resource(&mut self, rtype: &str, id: &str) -> Result<Option<ResourceRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM resources WHERE type = ? AND id = ?");
        self.conn().query_opt(&sql, args![rtype, id], row)
    }

    pub fn resources_by_pk(&mut self, pks: &[i64]) -> Result<Vec<ResourceRow>, StoreError> {
        let mut out = Vec::with_capacity(pks.len());
        for chunk in pks.chunks(200) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!("SELECT {COLUMNS} FROM resources WHERE pk IN ({marks}) ORDER BY pk");
            let params: Vec<_> = chunk.iter().map(|&p| super::sql::Param::I64(p)).collect();
            out.extend(self.conn().query(&sql, &params, row)?);
        }
        Ok(out)
    }

    /// Inserts version 1 of a new resource; returns its pk.
    pub fn insert_resource(&mut self, w: &ResourceWrite<'_>) -> Result<(i64, i64), StoreError> {
        let now = w.last_updated;
        let pk = self.conn().insert_returning(
            "INSERT INTO resources (type, id, version, last_updated, owner_facility, client_id, input_id, subject_ref, body, derived)
             VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?) RETURNING pk",
            args![
                w.rtype,
                w.id,
                now,
                w.owner_facility,
                w.client_id,
                w.input_id,
                w.subject_ref,
                w.body,
                w.derived
            ],
        )?;
        Ok((pk, now))
    }

    /// Writes a new version of an existing resource, keeping the old one in history.
    /// Returns the new version number and its timestamp.
    pub fn update_resource(
        &mut self,
        current: &ResourceRow,
        w: &ResourceWrite<'_>,
    ) -> Result<(i64, i64), StoreError> {
        let now = w.last_updated;
        self.conn().execute(
            "INSERT INTO resource_history (resource_pk, version, last_updated, client_id, body)
             VALUES (?, ?, ?, ?, ?)",
            args![
                current.pk,
                current.version,
                current.last_updated,
                current.client_id,
                current.body.as_str()
            ],
        )?;
        let version = current.version + 1;
        self.conn().execute(
            "UPDATE resources SET version = ?, last_updated = ?, owner_facility = ?, client_id = ?,
                 input_id = ?, subject_ref = ?, body = ?, derived = ?
             WHERE pk = ?",
            args![
                version,
                now,
                w.owner_facility,
                w.client_id,
                w.input_id,
                w.subject_ref,
                w.body,
                w.derived,
                current.pk
            ],
        )?;
        Ok((version, now))
    }

    /// The resources derived from an input (to withdraw with it).
    pub fn derived_resources_of_input(
        &mut self,
        input_id: i64,
    ) -> Result<Vec<ResourceRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM resources WHERE input_id = ? AND derived = 1 ORDER BY pk"
        );
        self.conn().query(&sql, args![input_id], row)
    }

    /// Sets the patient a stored resource counts as being about (for who may see it).
    pub fn set_resource_subject(&mut self, pk: i64, subject_ref: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE resources SET subject_ref = ? WHERE pk = ?",
            args![subject_ref, pk],
        )?;
        Ok(())
    }

    /// Removes a resource and its history (the caller removes its index entries).
    pub fn delete_resource(&mut self, pk: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "DELETE FROM resource_history WHERE resource_pk = ?",
            args![pk],
        )?;
        self.conn()
            .execute("DELETE FROM resources WHERE pk = ?", args![pk])?;
        Ok(())
    }

    /// A historical version's body, if kept.
    pub fn resource_version(
        &mut self,
        pk: i64,
        version: i64,
    ) -> Result<Option<(i64, String)>, StoreError> {
        self.conn().query_opt(
            "SELECT last_updated, body FROM resource_history WHERE resource_pk = ? AND version = ?",
            args![pk, version],
            |r| Ok((r.i64(0)?, r.string(1)?)),
        )
    }
}
