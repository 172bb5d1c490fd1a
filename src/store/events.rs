//! Events a party must be told about (a registration proposed, replaced, refused, ended;
//! a consent changed; an inquiry routed or answered; new lab values …), one row per
//! recipient, written in the same transaction as the change. Parties read their own;
//! subscriptions deliver the same rows: inserting an event queues a delivery for every
//! subscription of its recipient to its topic, in the same transaction
//! (`subscriptions::queue_deliveries`), so an event committed is an event queued.

use super::{StoreError, Tx};
use crate::args;

/// Who an event is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Recipient<'a> {
    /// Every client of the institution (its EMR and its doctors).
    Organization(&'a str),
    /// An insurer's clients.
    Insurer(&'a str),
    /// The person (their `person` clients), by normalised member id.
    Member(&'a str),
    /// One doctor (their `doctor` clients), by practitioner id: what only they may see
    /// (inquiries routed to them).
    Practitioner(&'a str),
}

impl<'a> Recipient<'a> {
    pub fn parts(self) -> (&'static str, &'a str) {
        match self {
            Recipient::Organization(code) => ("organization", code),
            Recipient::Insurer(number) => ("insurer", number),
            Recipient::Member(key) => ("member", key),
            Recipient::Practitioner(id) => ("practitioner", id),
        }
    }
}

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub topic: &'a str,
    pub recipient: Recipient<'a>,
    pub person_pk: Option<i64>,
    pub registration_id: Option<i64>,
    /// JSON, for the recipient only.
    pub payload: &'a str,
    /// What the event is about, as a FHIR reference the recipient may read
    /// (`Task/12/_history/3`), if any.
    pub focus: Option<&'a str>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub id: i64,
    pub at: i64,
    pub topic: String,
    pub registration_id: Option<i64>,
    pub payload: String,
    pub focus: Option<String>,
}

fn event_row(r: &super::sql::Row<'_>) -> Result<EventRow, StoreError> {
    Ok(EventRow {
        id: r.i64(0)?,
        at: r.i64(1)?,
        topic: r.string(2)?,
        registration_id: r.opt_i64(3)?,
        payload: r.string(4)?,
        focus: r.opt_string(5)?,
    })
}

impl Tx<'_> {
    pub fn insert_event(&mut self, e: &NewEvent<'_>) -> Result<i64, StoreError> {
        let now = self.now();
        let (kind, recipient) = e.recipient.parts();
        let id = self.conn().insert_returning(
            "INSERT INTO events (at, topic, recipient_kind, recipient, person_pk, registration_id, payload, focus)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            args![
                now,
                e.topic,
                kind,
                recipient,
                e.person_pk,
                e.registration_id,
                e.payload,
                e.focus
            ],
        )?;
        if let Some(topic) = crate::domain::subscription::Topic::of_event(e.topic) {
            self.queue_deliveries(id, e.recipient, topic)?;
        }
        Ok(id)
    }

    /// One event by id.
    pub fn event(&mut self, id: i64) -> Result<Option<EventRow>, StoreError> {
        self.conn().query_opt(
            "SELECT id, at, topic, registration_id, payload, focus FROM events WHERE id = ?",
            args![id],
            event_row,
        )
    }

    /// The events of any of `recipients` after `after`, oldest first, at most `limit`.
    pub fn events_for(
        &mut self,
        recipients: &[Recipient<'_>],
        after: i64,
        limit: i64,
    ) -> Result<Vec<EventRow>, StoreError> {
        if recipients.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = String::from(
            "SELECT id, at, topic, registration_id, payload, focus FROM events WHERE id > ? AND (",
        );
        let mut params: Vec<super::sql::Param<'_>> = vec![after.into()];
        for (i, r) in recipients.iter().enumerate() {
            if i > 0 {
                sql.push_str(" OR ");
            }
            sql.push_str("(recipient_kind = ? AND recipient = ?)");
            let (kind, recipient) = r.parts();
            params.push(kind.into());
            params.push(recipient.into());
        }
        sql.push_str(") ORDER BY id LIMIT ?");
        params.push(limit.into());
        self.conn().query(&sql, &params, event_row)
    }
}
