//! Every SQL statement kakari runs, behind one interface over two databases.
//!
//! * SQLite (the embedded default): one writer thread owns the write connection and commits
//!   *groups* of transactions (each caller's work in its own savepoint, one fsync for the
//!   group); readers use a pool of read-only connections. WAL, `synchronous=FULL`: a commit
//!   is on disk before anyone is told it happened.
//! * PostgreSQL: a pool of connections; each unit of work is one transaction.
//!
//! Callers hand the store a closure over `Tx` (a connection inside a transaction) and get
//! its result back only after the commit. Store modules (`clients`, `resources`, …) add the
//! statements as methods on `Tx`; nothing outside `store` writes SQL.

pub mod aliases;
pub mod audit;
pub mod clients;
pub mod directory;
pub mod events;
pub mod finding_watch;
pub mod inputs;
pub mod inquiries;
pub mod lab_feed;
pub mod matching;
pub mod messages;
mod migrate;
pub mod persons;
mod postgres_backend;
pub mod program;
pub mod read_control;
pub mod records;
pub mod registrations;
pub mod resources;
pub mod search;
pub mod sql;
mod sqlite_backend;
pub mod subscriptions;
pub mod surveys;

use std::sync::Arc;
use std::time::Duration;

use crate::domain::datetime::now_millis;
use read_control::ReadControl;
use sql::{Conn, Dialect};

pub use migrate::MigrationReport;

/// A failure of the database layer. Messages never contain row values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(String),
    #[error("postgres {code}: {message}")]
    Postgres { code: String, message: String },
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("unexpected data: {0}")]
    Decode(String),
    #[error("migration: {0}")]
    Migration(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("unique constraint violated: {0}")]
    Unique(String),
    #[error("the unit of work panicked or was abandoned")]
    Abandoned,
    #[error("the read ran past its time limit or was cancelled")]
    Timeout,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, msg)
                if f.code == rusqlite::ErrorCode::ConstraintViolation
                    && (f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY) =>
            {
                StoreError::Unique(msg.clone().unwrap_or_default())
            }
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::OperationInterrupted =>
            {
                StoreError::Timeout
            }
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::DatabaseBusy
                        | rusqlite::ErrorCode::DatabaseLocked
                        | rusqlite::ErrorCode::CannotOpen
                        | rusqlite::ErrorCode::DiskFull
                        | rusqlite::ErrorCode::SystemIoFailure
                ) =>
            {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Sqlite(e.to_string()),
        }
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        // Only the SQLSTATE and the primary message: DETAIL lines can quote row values.
        match e.as_db_error() {
            Some(db) if db.code() == &postgres::error::SqlState::UNIQUE_VIOLATION => {
                StoreError::Unique(db.constraint().unwrap_or_default().to_owned())
            }
            // statement_timeout, or the cancel request of an abandoned read.
            Some(db) if db.code() == &postgres::error::SqlState::QUERY_CANCELED => {
                StoreError::Timeout
            }
            // Class 53 (insufficient resources: disk full, out of memory, too many
            // connections), 08 (connection exception), 57P (operator intervention: admin or
            // crash shutdown, cannot connect now): the database cannot store right now.
            Some(db)
                if ["53", "08", "57P"]
                    .iter()
                    .any(|class| db.code().code().starts_with(class)) =>
            {
                StoreError::Unavailable(format!("postgres {}", db.code().code()))
            }
            Some(db) => StoreError::Postgres {
                code: db.code().code().to_owned(),
                message: db.message().to_owned(),
            },
            None if e.is_closed() => StoreError::Unavailable("connection closed".into()),
            None => StoreError::Unavailable(format!("{e}")),
        }
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        StoreError::Unavailable(format!("connection pool: {e}"))
    }
}

impl StoreError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Unique(_))
    }
}

impl From<StoreError> for crate::error::Problem {
    fn from(e: StoreError) -> Self {
        use crate::error::{ErrorCode, Problem};
        match e {
            StoreError::Unavailable(_) => Problem::bare(ErrorCode::StoreUnavailable),
            StoreError::Unique(_) => Problem::bare(ErrorCode::StoreConflict),
            StoreError::Timeout => Problem::bare(ErrorCode::StoreTimeout),
            StoreError::Postgres { ref code, .. } if code == "40001" || code == "40P01" => {
                Problem::bare(ErrorCode::StoreConflict)
            }
            other => {
                tracing::error!(error = %other, "store failure");
                Problem::bare(ErrorCode::Internal)
            }
        }
    }
}

/// A connection inside an open transaction, handed to units of work.
pub struct Tx<'c> {
    conn: Conn<'c>,
    now: i64,
    /// Lab results inserted by this unit of work, numbered into the feed when it ends.
    pending_labs: Vec<i64>,
    /// Audit entries of this unit of work, chained when it ends.
    pending_audit: Vec<audit::AuditEntry>,
    /// Persons and patients whose records this unit of work stored, marked for the
    /// finding watch when it ends.
    touched_persons: Vec<i64>,
    touched_patients: Vec<i64>,
}

impl<'c> Tx<'c> {
    fn new(conn: Conn<'c>) -> Self {
        Self {
            conn,
            now: now_millis(),
            pending_labs: Vec::new(),
            pending_audit: Vec::new(),
            touched_persons: Vec::new(),
            touched_patients: Vec::new(),
        }
    }

    /// Ends a successful unit of work, just before its commit: numbers the lab results it
    /// inserted into the feed (see `records::assign_feed`), so feed order is commit order,
    /// and chains its audit entries. Both take the serialising locks last, so concurrent
    /// units on PostgreSQL wait for each other only for the commit itself.
    fn finish(&mut self) -> Result<(), StoreError> {
        let pending = std::mem::take(&mut self.pending_labs);
        self.assign_feed(&pending)?;
        if !pending.is_empty() {
            self.tell_lab_results(&pending)?;
        }
        let mut persons = std::mem::take(&mut self.touched_persons);
        let mut patients = std::mem::take(&mut self.touched_patients);
        if !persons.is_empty() || !patients.is_empty() {
            persons.sort_unstable();
            persons.dedup();
            patients.sort_unstable();
            patients.dedup();
            self.mark_for_findings(&persons, &patients)?;
        }
        let audit = std::mem::take(&mut self.pending_audit);
        self.write_audit(&audit).map(|_| ())
    }

    pub fn dialect(&self) -> Dialect {
        self.conn.dialect()
    }

    /// Notes whose records this unit of work stores (for the finding watch).
    pub(crate) fn touch(&mut self, owner: records::Owner) {
        match (owner.person_pk, owner.patient_pk) {
            (Some(person), _) => self.touched_persons.push(person),
            (None, Some(patient)) => self.touched_patients.push(patient),
            (None, None) => {}
        }
    }

    /// The transaction's clock (epoch milliseconds), fixed when it began.
    pub fn now(&self) -> i64 {
        self.now
    }

    pub(crate) fn conn(&mut self) -> &mut Conn<'c> {
        &mut self.conn
    }

    /// Serialises units of work that use the same key until this transaction ends
    /// (PostgreSQL advisory lock; SQLite has a single writer already).
    pub fn lock(&mut self, key: &str) -> Result<(), StoreError> {
        if self.dialect() == Dialect::Postgres {
            self.conn.query(
                "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))",
                crate::args![key],
                |_| Ok(()),
            )?;
        }
        Ok(())
    }

    /// Opens a savepoint; `rollback_to` undoes what followed it, `release` keeps it.
    pub fn savepoint(&mut self, name: &'static str) -> Result<(), StoreError> {
        self.conn.batch(&format!("SAVEPOINT {name}"))
    }

    pub fn release(&mut self, name: &'static str) -> Result<(), StoreError> {
        self.conn.batch(&format!("RELEASE SAVEPOINT {name}"))
    }

    pub fn rollback_to(&mut self, name: &'static str) -> Result<(), StoreError> {
        self.conn.batch(&format!("ROLLBACK TO SAVEPOINT {name}"))
    }
}

enum Backend {
    Sqlite(sqlite_backend::SqliteBackend),
    Postgres(postgres_backend::PgBackend),
}

/// Tuning knobs for opening a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Read connections (SQLite) or pool size (PostgreSQL).
    pub pool_size: u32,
    /// Most units of work the SQLite writer commits together.
    pub max_group: usize,
    /// How long one read may run before the database stops it (`None`: no limit).
    pub read_timeout: Option<Duration>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            pool_size: 8,
            max_group: 512,
            read_timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// The database, cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Arc<Backend>,
    read_timeout: Option<Duration>,
}

impl Store {
    /// Opens `sqlite://<path>` or `postgres://…` and applies pending migrations.
    pub fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let backend = if let Some(path) = url.strip_prefix("sqlite://") {
            Backend::Sqlite(sqlite_backend::SqliteBackend::open(path, options)?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(postgres_backend::PgBackend::open(url, options)?)
        } else {
            return Err(StoreError::Config(
                "database URL must start with sqlite:// or postgres://".into(),
            ));
        };
        Ok(Self {
            backend: Arc::new(backend),
            read_timeout: options.read_timeout,
        })
    }

    pub fn dialect(&self) -> Dialect {
        match &*self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// What the last `open` applied.
    pub fn migrations(&self) -> &MigrationReport {
        match &*self.backend {
            Backend::Sqlite(b) => &b.migrations,
            Backend::Postgres(b) => &b.migrations,
        }
    }

    /// Runs `work` in a write transaction; returns after the commit is durable.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        match &*self.backend {
            Backend::Sqlite(b) => b.write(work).await,
            Backend::Postgres(b) => {
                let pool = b.clone();
                spawn_blocking(move || pool.write(work)).await
            }
        }
    }

    /// Runs `work` in a read-only transaction (a consistent snapshot), stopped by the
    /// database at the read time limit (`StoreError::Timeout`). Dropping the returned
    /// future before it finished (the client went away) cancels the read in the database.
    pub async fn read<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let control = ReadControl::new(self.read_timeout);
        let guard = control.cancel_on_drop();
        let result = match &*self.backend {
            Backend::Sqlite(b) => {
                let readers = b.readers();
                spawn_blocking(move || sqlite_backend::read(&readers, &control, work)).await
            }
            Backend::Postgres(b) => {
                let pool = b.clone();
                spawn_blocking(move || pool.read(&control, work)).await
            }
        };
        guard.finish();
        result
    }

    /// `write` for callers without an async runtime (CLI commands, tests).
    pub fn write_blocking<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        match &*self.backend {
            Backend::Sqlite(b) => b.write_blocking(work),
            Backend::Postgres(b) => b.write(work),
        }
    }

    /// `read` for callers without an async runtime.
    pub fn read_blocking<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let control = ReadControl::new(self.read_timeout);
        match &*self.backend {
            Backend::Sqlite(b) => sqlite_backend::read(&b.readers(), &control, work),
            Backend::Postgres(b) => b.read(&control, work),
        }
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.read(|tx: &mut Tx<'_>| {
            tx.conn()
                .query_one("SELECT 1", &[], |r| r.i64(0))
                .map(|_| ())
        })
        .await
    }

    /// True when the database stores: commits an update of this instance's probe row
    /// (a database that answers reads but cannot write, e.g. with its disk full, fails).
    pub async fn probe_write(&self, instance: &str) -> Result<(), StoreError> {
        let instance = instance.to_owned();
        self.write(move |tx: &mut Tx<'_>| {
            let now = tx.now();
            tx.conn()
                .execute(
                    "INSERT INTO readiness_probe (instance, probed_at) VALUES (?, ?)
                     ON CONFLICT (instance) DO UPDATE SET probed_at = excluded.probed_at",
                    crate::args![instance.as_str(), now],
                )
                .map(|_| ())
        })
        .await
    }

    /// Stops accepting work and waits for queued writes to commit (SQLite).
    pub fn shutdown(&self) {
        if let Backend::Sqlite(b) = &*self.backend {
            b.shutdown();
        }
    }
}

async fn spawn_blocking<T, E, F>(f: F) -> Result<T, E>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(_) => Err(E::from(StoreError::Abandoned)),
    }
}
