//! The finding watch's marks (migration 0015): persons whose records changed since their
//! findings were last evaluated. Units of work mark when they end (`Tx::finish`); the
//! watch leases marks, evaluates, and clears them.

use super::sql::{Dialect, Param};
use super::{StoreError, Tx};
use crate::args;

/// A leased mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub person_pk: i64,
    pub marked_at: i64,
}

const UPSERT: &str = "ON CONFLICT (person_pk) DO UPDATE SET marked_at = excluded.marked_at";

impl Tx<'_> {
    /// Marks persons, and the persons of patients, whose records this unit of work stored.
    pub(super) fn mark_for_findings(
        &mut self,
        persons: &[i64],
        patients: &[i64],
    ) -> Result<(), StoreError> {
        let now = self.now();
        for chunk in persons.chunks(200) {
            let rows = vec!["(?, ?)"; chunk.len()].join(", ");
            let params: Vec<Param<'_>> = chunk
                .iter()
                .flat_map(|&p| [Param::I64(p), Param::I64(now)])
                .collect();
            self.conn().execute(
                &format!("INSERT INTO finding_watch (person_pk, marked_at) VALUES {rows} {UPSERT}"),
                &params,
            )?;
        }
        for chunk in patients.chunks(200) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let mut params: Vec<Param<'_>> = vec![Param::I64(now)];
            params.extend(chunk.iter().map(|&p| Param::I64(p)));
            self.conn().execute(
                &format!(
                    "INSERT INTO finding_watch (person_pk, marked_at)
                     SELECT DISTINCT person_pk, CAST(? AS BIGINT) FROM patients
                     WHERE pk IN ({marks}) AND person_pk IS NOT NULL {UPSERT}"
                ),
                &params,
            )?;
        }
        Ok(())
    }

    /// Leases up to `limit` marks made before `settled_before` (so a burst of records for
    /// one person is evaluated once) and not leased by someone else, until `lease_until`.
    pub fn lease_finding_marks(
        &mut self,
        settled_before: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<Mark>, StoreError> {
        let now = self.now();
        let skip_locked = match self.dialect() {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        self.conn().query(
            &format!(
                "UPDATE finding_watch SET lease_until = ?
                 WHERE person_pk IN (
                     SELECT person_pk FROM finding_watch
                     WHERE marked_at < ? AND (lease_until IS NULL OR lease_until < ?)
                     ORDER BY marked_at LIMIT ?{skip_locked})
                 RETURNING person_pk, marked_at"
            ),
            args![lease_until, settled_before, now, limit],
            |r| {
                Ok(Mark {
                    person_pk: r.i64(0)?,
                    marked_at: r.i64(1)?,
                })
            },
        )
    }

    /// Clears an evaluated mark, unless the person was marked again since it was leased
    /// (then only the lease ends, and the next round evaluates again).
    pub fn clear_finding_mark(&mut self, mark: Mark) -> Result<(), StoreError> {
        let gone = self.conn().execute(
            "DELETE FROM finding_watch WHERE person_pk = ? AND marked_at = ?",
            args![mark.person_pk, mark.marked_at],
        )?;
        if gone == 0 {
            self.conn().execute(
                "UPDATE finding_watch SET lease_until = NULL WHERE person_pk = ?",
                args![mark.person_pk],
            )?;
        }
        Ok(())
    }
}
