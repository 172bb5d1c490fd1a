//! Subscriptions and their outbox (`deliveries`).
//!
//! * Queueing: `queue_deliveries` runs inside the transaction that inserts an event; each
//!   subscription of the event's recipient to its topic gets the next number of its event
//!   counter (the row update serialises concurrent writers on PostgreSQL, so numbers follow
//!   commit order) and a `pending` delivery.
//! * Claiming: a worker leases one subscription at a time (`claim_subscription`): on
//!   PostgreSQL with `FOR UPDATE SKIP LOCKED`, so several gateway instances never claim the
//!   same one; on SQLite the single writer makes the conditional update atomic. The lease
//!   ends when the worker releases it or when its time is up (a crashed instance).
//! * Delivering: the holder of the lease sends the subscription's due deliveries in event
//!   number order and records each outcome; a failure stops the subscription's turn
//!   (ordering), and after the last allowed attempt the delivery is `dead` and the
//!   subscription `error` until it is redelivered.

use super::events::Recipient;
use super::sql::Dialect;
use super::{StoreError, Tx};
use crate::args;
use crate::domain::subscription::{Content, SubscriptionStatus, Topic};

/// A stored subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRow {
    pub id: i64,
    pub client_id: i64,
    pub recipient_kind: String,
    pub recipient: String,
    pub topic: Topic,
    pub endpoint: String,
    pub content: Content,
    /// `Name: value` headers the subscriber asked to be sent.
    pub headers: Vec<String>,
    pub secret: String,
    pub status: SubscriptionStatus,
    pub reason: Option<String>,
    pub end_at: Option<String>,
    pub events_since_start: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A subscription to create.
#[derive(Debug, Clone)]
pub struct NewSubscription<'a> {
    pub client_id: i64,
    /// Whose events it delivers (`events.recipient_kind`, `events.recipient`).
    pub recipient_kind: &'a str,
    pub recipient: &'a str,
    pub topic: Topic,
    pub endpoint: &'a str,
    pub content: Content,
    pub headers: &'a [String],
    pub secret: &'a str,
    pub reason: Option<&'a str>,
    pub end_at: Option<&'a str>,
}

/// One queued delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: i64,
    pub subscription_id: i64,
    pub event_id: i64,
    pub event_number: i64,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
}

/// Counts of a subscription's deliveries by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub pending: i64,
    pub delivered: i64,
    pub dead: i64,
}

/// The subscription's client is still live (not revoked, not expired): a revoked client
/// receives nothing more; its queued notifications wait (they are delivered if the client
/// is ever restored, never silently dropped). One `?`: now.
const LIVE_CLIENT: &str = "NOT EXISTS (SELECT 1 FROM clients c WHERE c.id = s.client_id
    AND (c.revoked_at IS NOT NULL OR (c.expires_at IS NOT NULL AND c.expires_at <= ?)))";

const COLUMNS: &str = "id, client_id, recipient_kind, recipient, topic, endpoint, content, headers,
    secret, status, reason, end_at, events_since_start, last_error, created_at, updated_at";

fn subscription(r: &super::sql::Row<'_>) -> Result<SubscriptionRow, StoreError> {
    let bad = |what: &str| StoreError::Decode(format!("unknown subscription {what}"));
    Ok(SubscriptionRow {
        id: r.i64(0)?,
        client_id: r.i64(1)?,
        recipient_kind: r.string(2)?,
        recipient: r.string(3)?,
        topic: Topic::parse(r.str(4)?).ok_or_else(|| bad("topic"))?,
        endpoint: r.string(5)?,
        content: Content::parse(r.str(6)?).ok_or_else(|| bad("content"))?,
        headers: serde_json::from_str(r.str(7)?).map_err(|_| bad("headers"))?,
        secret: r.string(8)?,
        status: SubscriptionStatus::parse(r.str(9)?).ok_or_else(|| bad("status"))?,
        reason: r.opt_string(10)?,
        end_at: r.opt_string(11)?,
        events_since_start: r.i64(12)?,
        last_error: r.opt_string(13)?,
        created_at: r.i64(14)?,
        updated_at: r.i64(15)?,
    })
}

const DELIVERY_COLUMNS: &str = "id, subscription_id, event_id, event_number, status, attempts,
    next_attempt_at, last_error, delivered_at";

fn delivery(r: &super::sql::Row<'_>) -> Result<DeliveryRow, StoreError> {
    Ok(DeliveryRow {
        id: r.i64(0)?,
        subscription_id: r.i64(1)?,
        event_id: r.i64(2)?,
        event_number: r.i64(3)?,
        status: r.string(4)?,
        attempts: r.i64(5)?,
        next_attempt_at: r.i64(6)?,
        last_error: r.opt_string(7)?,
        delivered_at: r.opt_i64(8)?,
    })
}

impl Tx<'_> {
    pub fn insert_subscription(&mut self, s: &NewSubscription<'_>) -> Result<i64, StoreError> {
        let now = self.now();
        let (kind, recipient) = (s.recipient_kind, s.recipient);
        let headers = serde_json::to_string(s.headers)
            .map_err(|_| StoreError::Decode("headers do not serialise".into()))?;
        self.conn().insert_returning(
            "INSERT INTO subscriptions (client_id, recipient_kind, recipient, topic, endpoint, content,
                headers, secret, status, reason, end_at, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?) RETURNING id",
            args![
                s.client_id,
                kind,
                recipient,
                s.topic.canonical(),
                s.endpoint,
                s.content.as_str(),
                headers.as_str(),
                s.secret,
                s.reason,
                s.end_at,
                now,
                now
            ],
        )
    }

    pub fn subscription(&mut self, id: i64) -> Result<Option<SubscriptionRow>, StoreError> {
        self.conn().query_opt(
            &format!("SELECT {COLUMNS} FROM subscriptions WHERE id = ?"),
            args![id],
            subscription,
        )
    }

    /// The subscriptions a client made, newest first.
    pub fn subscriptions_of_client(
        &mut self,
        client_id: i64,
    ) -> Result<Vec<SubscriptionRow>, StoreError> {
        self.conn().query(
            &format!("SELECT {COLUMNS} FROM subscriptions WHERE client_id = ? ORDER BY id DESC"),
            args![client_id],
            subscription,
        )
    }

    /// Sets a subscription's status (and the error that caused it, if any).
    pub fn set_subscription_status(
        &mut self,
        id: i64,
        status: SubscriptionStatus,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let now = self.now();
        let changed = self.conn().execute(
            "UPDATE subscriptions SET status = ?, last_error = COALESCE(?, last_error), updated_at = ?
             WHERE id = ?",
            args![status.as_str(), error, now, id],
        )?;
        Ok(changed == 1)
    }

    /// Queues `event` for every live subscription of `recipient` to `topic`.
    pub(crate) fn queue_deliveries(
        &mut self,
        event: i64,
        recipient: Recipient<'_>,
        topic: Topic,
    ) -> Result<(), StoreError> {
        let (kind, recipient) = recipient.parts();
        let ids = self.conn().query(
            "SELECT id FROM subscriptions
             WHERE recipient_kind = ? AND recipient = ? AND topic = ? AND status <> 'off'
             ORDER BY id",
            args![kind, recipient, topic.canonical()],
            |r| r.i64(0),
        )?;
        let now = self.now();
        for id in ids {
            self.conn().execute(
                "UPDATE subscriptions SET events_since_start = events_since_start + 1 WHERE id = ?",
                args![id],
            )?;
            let number = self.conn().query_one(
                "SELECT events_since_start FROM subscriptions WHERE id = ?",
                args![id],
                |r| r.i64(0),
            )?;
            self.conn().execute(
                "INSERT INTO deliveries (subscription_id, event_id, event_number, status, next_attempt_at, created_at)
                 VALUES (?, ?, ?, 'pending', ?, ?)",
                args![id, event, number, now, now],
            )?;
        }
        Ok(())
    }

    /// Is there an active subscription with a delivery due now and no live lease (a cheap
    /// read before a worker tries to claim)?
    pub fn deliveries_due(&mut self) -> Result<bool, StoreError> {
        let now = self.now();
        Ok(self
            .conn()
            .query_opt(
                &format!(
                    "SELECT 1 FROM subscriptions s
                     WHERE s.status = 'active' AND s.lease_until < ? AND {LIVE_CLIENT}
                       AND EXISTS (SELECT 1 FROM deliveries d WHERE d.subscription_id = s.id
                                   AND d.status = 'pending' AND d.next_attempt_at <= ?)
                     LIMIT 1"
                ),
                args![now, now, now],
                |_| Ok(()),
            )?
            .is_some())
    }

    /// Leases one active subscription with a delivery due, for `lease_millis`, to `owner`;
    /// returns it, or `None` when there is none (or all are leased by others).
    pub fn claim_subscription(
        &mut self,
        owner: &str,
        lease_millis: i64,
    ) -> Result<Option<SubscriptionRow>, StoreError> {
        let now = self.now();
        let candidate = format!(
            "SELECT s.id FROM subscriptions s
             WHERE s.status = 'active' AND s.lease_until < ? AND {LIVE_CLIENT}
               AND EXISTS (SELECT 1 FROM deliveries d WHERE d.subscription_id = s.id
                           AND d.status = 'pending' AND d.next_attempt_at <= ?)
             ORDER BY s.lease_until, s.id LIMIT 1"
        );
        let locked = match self.dialect() {
            Dialect::Postgres => format!("{candidate} FOR UPDATE OF s SKIP LOCKED"),
            Dialect::Sqlite => candidate,
        };
        let Some(id) = self
            .conn()
            .query_opt(&locked, args![now, now, now], |r| r.i64(0))?
        else {
            return Ok(None);
        };
        let changed = self.conn().execute(
            "UPDATE subscriptions SET lease_owner = ?, lease_until = ?
             WHERE id = ? AND lease_until < ? AND status = 'active'",
            args![owner, now + lease_millis, id, now],
        )?;
        if changed != 1 {
            return Ok(None);
        }
        self.subscription(id)
    }

    /// Extends `owner`'s lease of a subscription by `lease_millis` from now; false when the
    /// lease was lost (expired and taken, or the subscription is no longer active).
    pub fn renew_lease(
        &mut self,
        id: i64,
        owner: &str,
        lease_millis: i64,
    ) -> Result<bool, StoreError> {
        let now = self.now();
        let changed = self.conn().execute(
            "UPDATE subscriptions SET lease_until = ?
             WHERE id = ? AND lease_owner = ? AND lease_until >= ? AND status = 'active'",
            args![now + lease_millis, id, owner, now],
        )?;
        Ok(changed == 1)
    }

    /// Gives a lease back.
    pub fn release_subscription(&mut self, id: i64, owner: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE subscriptions SET lease_owner = NULL, lease_until = 0
             WHERE id = ? AND lease_owner = ?",
            args![id, owner],
        )?;
        Ok(())
    }

    /// The subscription's oldest pending deliveries, in event-number order, at most `limit`.
    pub fn pending_deliveries(
        &mut self,
        subscription_id: i64,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        self.conn().query(
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM deliveries
                 WHERE subscription_id = ? AND status = 'pending'
                 ORDER BY event_number LIMIT ?"
            ),
            args![subscription_id, limit],
            delivery,
        )
    }

    /// Records a successful delivery.
    pub fn delivery_succeeded(&mut self, id: i64) -> Result<(), StoreError> {
        let now = self.now();
        self.conn().execute(
            "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = ?,
                last_error = NULL WHERE id = ? AND status = 'pending'",
            args![now, id],
        )?;
        Ok(())
    }

    /// Records a failed attempt: the next one at `next_attempt_at`, or (`dead`) none:
    /// dead-lettered, and the subscription in `error`.
    pub fn delivery_failed(
        &mut self,
        d: &DeliveryRow,
        error: &str,
        next_attempt_at: i64,
        dead: bool,
    ) -> Result<(), StoreError> {
        let status = if dead { "dead" } else { "pending" };
        self.conn().execute(
            "UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?,
                last_error = ? WHERE id = ? AND status = 'pending'",
            args![status, next_attempt_at, error, d.id],
        )?;
        if dead {
            self.set_subscription_status(
                d.subscription_id,
                SubscriptionStatus::Error,
                Some(error),
            )?;
        }
        Ok(())
    }

    /// Puts a subscription's dead deliveries (or only event `number`) back in the queue
    /// with fresh attempts and reactivates the subscription; returns how many.
    pub fn redeliver(
        &mut self,
        subscription_id: i64,
        number: Option<i64>,
    ) -> Result<i64, StoreError> {
        let now = self.now();
        let changed = match number {
            Some(n) => self.conn().execute(
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?
                 WHERE subscription_id = ? AND status IN ('dead', 'delivered') AND event_number = ?",
                args![now, subscription_id, n],
            )?,
            None => self.conn().execute(
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?
                 WHERE subscription_id = ? AND status = 'dead'",
                args![now, subscription_id],
            )?,
        };
        self.conn().execute(
            "UPDATE subscriptions SET status = 'active', updated_at = ? WHERE id = ? AND status = 'error'",
            args![now, subscription_id],
        )?;
        Ok(changed as i64)
    }

    /// Counts of a subscription's deliveries by state.
    pub fn delivery_counts(&mut self, subscription_id: i64) -> Result<DeliveryCounts, StoreError> {
        let rows = self.conn().query(
            "SELECT status, COUNT(*) FROM deliveries WHERE subscription_id = ? GROUP BY status",
            args![subscription_id],
            |r| Ok((r.string(0)?, r.i64(1)?)),
        )?;
        let mut c = DeliveryCounts::default();
        for (status, n) in rows {
            match status.as_str() {
                "pending" => c.pending = n,
                "delivered" => c.delivered = n,
                "dead" => c.dead = n,
                _ => {}
            }
        }
        Ok(c)
    }

    /// A subscription's deliveries in a state (`dead`, …), oldest first.
    pub fn deliveries_in(
        &mut self,
        subscription_id: i64,
        status: &str,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        self.conn().query(
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE subscription_id = ? AND status = ?
                 ORDER BY event_number LIMIT ?"
            ),
            args![subscription_id, status, limit],
            delivery,
        )
    }

    /// Every dead delivery (for the operator's command), oldest first.
    pub fn dead_deliveries(&mut self, limit: i64) -> Result<Vec<DeliveryRow>, StoreError> {
        self.conn().query(
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE status = 'dead'
                 ORDER BY subscription_id, event_number LIMIT ?"
            ),
            args![limit],
            delivery,
        )
    }
}
