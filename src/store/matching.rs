//! Push-type matching: members' needs posted by their insurer, and the hands institutions
//! raise on them.

use super::sql::Param;
use super::{StoreError, Tx};
use crate::args;

/// A stored need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeedRow {
    pub id: i64,
    pub person_pk: i64,
    pub member_key: String,
    pub insurer: String,
    pub created_by: i64,
    pub prefecture: String,
    pub city: Option<String>,
    pub conditions: Vec<String>,
    pub functions: Vec<String>,
    /// `open`, `accepted` or `withdrawn`.
    pub status: String,
    pub accepted_hand: Option<i64>,
    pub registration_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A need to store.
#[derive(Debug, Clone)]
pub struct NewNeed<'a> {
    pub person_pk: i64,
    pub member_key: &'a str,
    pub insurer: &'a str,
    pub created_by: i64,
    pub prefecture: &'a str,
    pub city: Option<&'a str>,
    pub conditions: &'a [String],
    pub functions: &'a [String],
}

/// A raised hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandRow {
    pub id: i64,
    pub need_id: i64,
    pub organization: String,
    pub practitioner: String,
    pub message: Option<String>,
    pub created_by: i64,
    pub created_at: i64,
}

fn split(list: &str) -> Vec<String> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn join(list: &[String]) -> String {
    format!(",{},", list.join(","))
}

const COLUMNS: &str =
    "id, person_pk, member_key, insurer, created_by, prefecture, city, conditions,
    functions, status, accepted_hand, registration_id, created_at, updated_at";

fn need(r: &super::sql::Row<'_>) -> Result<NeedRow, StoreError> {
    Ok(NeedRow {
        id: r.i64(0)?,
        person_pk: r.i64(1)?,
        member_key: r.string(2)?,
        insurer: r.string(3)?,
        created_by: r.i64(4)?,
        prefecture: r.string(5)?,
        city: r.opt_string(6)?,
        conditions: split(r.str(7)?),
        functions: split(r.str(8)?),
        status: r.string(9)?,
        accepted_hand: r.opt_i64(10)?,
        registration_id: r.opt_i64(11)?,
        created_at: r.i64(12)?,
        updated_at: r.i64(13)?,
    })
}

fn hand(r: &super::sql::Row<'_>) -> Result<HandRow, StoreError> {
    Ok(HandRow {
        id: r.i64(0)?,
        need_id: r.i64(1)?,
        organization: r.string(2)?,
        practitioner: r.string(3)?,
        message: r.opt_string(4)?,
        created_by: r.i64(5)?,
        created_at: r.i64(6)?,
    })
}

const HAND_COLUMNS: &str =
    "id, need_id, organization, practitioner, message, created_by, created_at";

impl Tx<'_> {
    pub fn insert_need(&mut self, n: &NewNeed<'_>) -> Result<i64, StoreError> {
        let now = self.now();
        let (conditions, functions) = (join(n.conditions), join(n.functions));
        self.conn().insert_returning(
            "INSERT INTO needs (person_pk, member_key, insurer, created_by, prefecture, city, conditions,
                functions, status, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?) RETURNING id",
            args![
                n.person_pk,
                n.member_key,
                n.insurer,
                n.created_by,
                n.prefecture,
                n.city,
                conditions.as_str(),
                functions.as_str(),
                now,
                now
            ],
        )
    }

    pub fn need(&mut self, id: i64) -> Result<Option<NeedRow>, StoreError> {
        self.conn().query_opt(
            &format!("SELECT {COLUMNS} FROM needs WHERE id = ?"),
            args![id],
            need,
        )
    }

    /// Serialises changes of one need (PostgreSQL).
    pub fn lock_need(&mut self, id: i64) -> Result<(), StoreError> {
        self.lock(&format!("need|{id}"))
    }

    /// An insurer's needs, newest first.
    pub fn needs_of_insurer(
        &mut self,
        insurer: &str,
        limit: i64,
    ) -> Result<Vec<NeedRow>, StoreError> {
        self.conn().query(
            &format!("SELECT {COLUMNS} FROM needs WHERE insurer = ? ORDER BY id DESC LIMIT ?"),
            args![insurer, limit],
            need,
        )
    }

    /// A person's needs, newest first.
    pub fn needs_of_person(&mut self, person_pk: i64) -> Result<Vec<NeedRow>, StoreError> {
        self.conn().query(
            &format!("SELECT {COLUMNS} FROM needs WHERE person_pk = ? ORDER BY id DESC"),
            args![person_pk],
            need,
        )
    }

    /// Open needs of a prefecture, newest first.
    pub fn open_needs_in(
        &mut self,
        prefecture: &str,
        limit: i64,
    ) -> Result<Vec<NeedRow>, StoreError> {
        self.conn().query(
            &format!(
                "SELECT {COLUMNS} FROM needs WHERE prefecture = ? AND status = 'open' ORDER BY id DESC LIMIT ?"
            ),
            args![prefecture, limit],
            need,
        )
    }

    /// Closes a need: `accepted` (with the hand and the registration it made) or
    /// `withdrawn`; false when it was not open.
    pub fn close_need(
        &mut self,
        id: i64,
        status: &str,
        hand: Option<i64>,
        registration: Option<i64>,
    ) -> Result<bool, StoreError> {
        let now = self.now();
        let changed = self.conn().execute(
            "UPDATE needs SET status = ?, accepted_hand = ?, registration_id = ?, updated_at = ?
             WHERE id = ? AND status = 'open'",
            args![status, hand, registration, now, id],
        )?;
        Ok(changed == 1)
    }

    /// Raises (or raises again, replacing practitioner and message) an institution's hand.
    pub fn raise_hand(
        &mut self,
        need_id: i64,
        organization: &str,
        practitioner: &str,
        message: Option<&str>,
        by: i64,
    ) -> Result<HandRow, StoreError> {
        let now = self.now();
        self.conn().execute(
            "INSERT INTO need_hands (need_id, organization, practitioner, message, created_by, created_at)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (need_id, organization) DO UPDATE SET practitioner = excluded.practitioner,
                message = excluded.message, created_by = excluded.created_by, created_at = excluded.created_at",
            args![need_id, organization, practitioner, message, by, now],
        )?;
        self.conn().query_one(
            &format!(
                "SELECT {HAND_COLUMNS} FROM need_hands WHERE need_id = ? AND organization = ?"
            ),
            args![need_id, organization],
            hand,
        )
    }

    /// The hands raised on a need, oldest first.
    pub fn hands(&mut self, need_id: i64) -> Result<Vec<HandRow>, StoreError> {
        self.conn().query(
            &format!("SELECT {HAND_COLUMNS} FROM need_hands WHERE need_id = ? ORDER BY id"),
            args![need_id],
            hand,
        )
    }

    /// The hand an institution raised on each of `needs` (for its own view).
    pub fn hands_of_organization(
        &mut self,
        organization: &str,
        needs: &[i64],
    ) -> Result<Vec<HandRow>, StoreError> {
        if needs.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; needs.len()].join(", ");
        let mut params: Vec<Param<'_>> = vec![organization.into()];
        params.extend(needs.iter().map(|n| Param::I64(*n)));
        self.conn().query(
            &format!(
                "SELECT {HAND_COLUMNS} FROM need_hands WHERE organization = ? AND need_id IN ({marks})"
            ),
            &params,
            hand,
        )
    }
}
