//! Institutions' own resource ids: which served id an institution's id stands for, when
//! another institution held that id first (migration 0014). Most institutions have none.

use super::{StoreError, Tx};
use crate::args;

impl Tx<'_> {
    /// Whether the institution has any id stored under another served id.
    pub fn scope_has_aliases(&mut self, scope: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .query_opt(
                "SELECT 1 FROM resource_aliases WHERE scope = ? LIMIT 1",
                args![scope],
                |_| Ok(()),
            )?
            .is_some())
    }

    /// The served id of the institution's own id `alias`, if it has one of its own.
    pub fn served_id_of_alias(
        &mut self,
        scope: &str,
        rtype: &str,
        alias: &str,
    ) -> Result<Option<String>, StoreError> {
        self.conn().query_opt(
            "SELECT served_id FROM resource_aliases WHERE scope = ? AND rtype = ? AND alias = ?",
            args![scope, rtype, alias],
            |r| r.string(0),
        )
    }

    /// The institution's own id for a served id, if the served id stands for one.
    pub fn alias_of_served_id(
        &mut self,
        scope: &str,
        rtype: &str,
        served_id: &str,
    ) -> Result<Option<String>, StoreError> {
        self.conn().query_opt(
            "SELECT alias FROM resource_aliases WHERE scope = ? AND rtype = ? AND served_id = ?",
            args![scope, rtype, served_id],
            |r| r.string(0),
        )
    }

    /// Records that the institution's `alias` is stored as `served_id`.
    pub fn insert_alias(
        &mut self,
        scope: &str,
        rtype: &str,
        alias: &str,
        served_id: &str,
    ) -> Result<(), StoreError> {
        let now = self.now();
        self.conn().execute(
            "INSERT INTO resource_aliases (scope, rtype, alias, served_id, created_at)
             VALUES (?, ?, ?, ?, ?)",
            args![scope, rtype, alias, served_id, now],
        )?;
        Ok(())
    }
}
