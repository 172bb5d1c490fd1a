//! A read's time limit and its cancellation.
//!
//! Every `Store::read` runs under a [`ReadControl`]: a deadline (`db_read_timeout_secs`)
//! and a cancel signal. The async side holds a [`CancelOnDrop`]; when the request future
//! is dropped before the read returned (the client went away, actix dropped the handler),
//! the guard cancels the read in the database instead of letting it run on:
//!
//! * PostgreSQL: the read transaction sets `statement_timeout` (the server ends a statement
//!   at the deadline, SQLSTATE 57014); cancellation sends the connection's cancel request
//!   (`CancelToken`) and the connection is discarded rather than returned to the pool, so
//!   a late cancel can never reach another request's statement.
//! * SQLite: a progress handler checks the deadline and the cancel flag every few thousand
//!   virtual-machine steps and interrupts the statement (`SQLITE_INTERRUPT`).
//!
//! Both surface as `StoreError::Timeout` (`store.timeout`, 503).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The deadline and the cancel signal of one read.
pub struct ReadControl {
    deadline: Option<Instant>,
    timeout: Option<Duration>,
    cancelled: AtomicBool,
    /// The PostgreSQL connection's cancel token while the read runs on it.
    postgres: Mutex<Option<postgres::CancelToken>>,
}

impl ReadControl {
    /// A control whose deadline is `timeout` from now (`None`: no deadline).
    pub fn new(timeout: Option<Duration>) -> Arc<Self> {
        Arc::new(Self {
            deadline: timeout.map(|t| Instant::now() + t),
            timeout,
            cancelled: AtomicBool::new(false),
            postgres: Mutex::new(None),
        })
    }

    /// The time limit, as set.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Time left until the deadline (`None`: no deadline).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// True once the read should stop: cancelled, or past its deadline.
    pub fn should_stop(&self) -> bool {
        self.is_cancelled() || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Cancels the read: sets the flag (SQLite's progress handler sees it) and sends
    /// PostgreSQL's cancel request when a statement may be running.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        let token = self.postgres.lock().ok().and_then(|mut t| t.take());
        if let Some(token) = token {
            // The `postgres` client blocks on its own runtime: never on an async worker.
            let _ = std::thread::Builder::new()
                .name("kakari-pg-cancel".into())
                .spawn(move || {
                    if let Err(e) = token.cancel_query(postgres::NoTls) {
                        tracing::warn!(error = %e, "cannot cancel an abandoned read");
                    }
                });
        }
    }

    /// Registers the connection a PostgreSQL read runs on (`None` when already cancelled:
    /// the caller should not start).
    pub(crate) fn arm_postgres(&self, token: postgres::CancelToken) -> bool {
        if let Ok(mut slot) = self.postgres.lock() {
            *slot = Some(token);
        }
        !self.is_cancelled()
    }

    /// Unregisters the connection; true when the read was cancelled meanwhile (its
    /// connection must then not go back to the pool).
    pub(crate) fn disarm_postgres(&self) -> bool {
        if let Ok(mut slot) = self.postgres.lock() {
            slot.take();
        }
        self.is_cancelled()
    }

    /// A guard that cancels the read if dropped before [`CancelOnDrop::finish`].
    pub fn cancel_on_drop(self: &Arc<Self>) -> CancelOnDrop {
        CancelOnDrop {
            control: Some(Arc::clone(self)),
        }
    }
}

/// Cancels its read when dropped early (see the module documentation).
pub struct CancelOnDrop {
    control: Option<Arc<ReadControl>>,
}

impl CancelOnDrop {
    /// The read returned: nothing to cancel.
    pub fn finish(mut self) {
        self.control.take();
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(control) = self.control.take() {
            control.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_dropped_early_cancels_and_a_finished_one_does_not() {
        let control = ReadControl::new(None);
        control.cancel_on_drop().finish();
        assert!(!control.should_stop());
        drop(control.cancel_on_drop());
        assert!(control.is_cancelled() && control.should_stop());
    }

    #[test]
    fn the_deadline_stops_the_read() {
        let control = ReadControl::new(Some(Duration::ZERO));
        assert!(control.should_stop() && !control.is_cancelled());
        assert!(!ReadControl::new(Some(Duration::from_secs(60))).should_stop());
    }

    // SQLite here (raw SQL needs the crate's own `Tx::conn`); PostgreSQL's statement
    // timeout and cancel request are exercised end to end in `tests/it/hostile.rs`.

    /// Runs for minutes unless interrupted.
    const ENDLESS: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
         WHERE x < 4000000000) SELECT count(*) FROM c";

    fn sqlite_store(read_timeout: Duration) -> (tempfile::TempDir, crate::store::Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let options = crate::store::StoreOptions {
            read_timeout: Some(read_timeout),
            ..crate::store::StoreOptions::default()
        };
        let store = crate::store::Store::open(&url, &options).unwrap();
        (dir, store)
    }

    #[test]
    fn a_sqlite_read_stops_at_its_deadline() {
        let (_dir, store) = sqlite_store(Duration::from_millis(200));
        let result: Result<i64, crate::store::StoreError> =
            store.read_blocking(|tx| tx.conn().query_one(ENDLESS, &[], |r| r.i64(0)));
        assert!(
            matches!(result, Err(crate::store::StoreError::Timeout)),
            "{result:?}"
        );
        // The connection is usable again.
        let one: Result<i64, crate::store::StoreError> =
            store.read_blocking(|tx| tx.conn().query_one("SELECT 1", &[], |r| r.i64(0)));
        assert_eq!(one.unwrap(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sqlite_read_dropped_by_its_caller_is_interrupted() {
        let (_dir, store) = sqlite_store(Duration::from_secs(600));
        let (ended, ended_rx) = std::sync::mpsc::channel();
        let read = store.read(move |tx| {
            let result = tx.conn().query_one(ENDLESS, &[], |r| r.i64(0));
            let _ = ended.send(matches!(result, Err(crate::store::StoreError::Timeout)));
            result
        });
        // The caller gives up (as actix does when the client disconnects).
        assert!(
            tokio::time::timeout(Duration::from_millis(300), read)
                .await
                .is_err()
        );
        // A hang guard, not a timing assertion: uninterrupted, the query runs for minutes.
        let interrupted =
            tokio::task::spawn_blocking(move || ended_rx.recv_timeout(Duration::from_secs(60)))
                .await
                .unwrap();
        assert_eq!(interrupted, Ok(true));
    }
}
