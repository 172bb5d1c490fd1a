//! SQLite: one writer thread with group commit, a pool of read-only connections.
//!
//! Units of work queue up on a channel. The writer takes every queued unit (up to
//! `max_group`), opens one transaction, runs each unit inside its own savepoint (a failing
//! unit rolls back alone), commits once, and only then hands each caller its result. One
//! fsync serves the whole group, which is what makes durable commits fast.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use super::migrate::{self, MigrationReport};
use super::read_control::ReadControl;
use super::sql::Conn;
use super::{StoreError, StoreOptions, Tx};

type Deliver = Box<dyn FnOnce(Option<StoreError>) + Send>;
type Job = Box<dyn FnOnce(&mut Tx<'_>) -> (bool, Deliver) + Send>;

pub struct SqliteBackend {
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: Arc<r2d2::Pool<ReadManager>>,
    pub migrations: MigrationReport,
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = OFF;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536;",
    )?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(())
}

/// Opens read-only connections for the pool.
pub struct ReadManager {
    path: PathBuf,
}

impl r2d2::ManageConnection for ReadManager {
    type Connection = Connection;
    type Error = rusqlite::Error;

    fn connect(&self) -> Result<Connection, rusqlite::Error> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute_batch("PRAGMA query_only = ON; PRAGMA cache_size = -32768;")?;
        conn.set_prepared_statement_cache_capacity(256);
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut Connection) -> Result<(), rusqlite::Error> {
        conn.execute_batch("SELECT 1")
    }

    fn has_broken(&self, _: &mut Connection) -> bool {
        false
    }
}

impl SqliteBackend {
    pub fn open(path: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        if path.is_empty() {
            return Err(StoreError::Config("sqlite:// needs a file path".into()));
        }
        let path = PathBuf::from(path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Config(format!("cannot create database directory: {e}"))
            })?;
        }
        let mut conn = Connection::open(&path)?;
        configure(&conn)?;
        let migrations = migrate::apply_sqlite(&mut conn)?;

        let readers = r2d2::Pool::builder()
            .max_size(options.pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(30))
            .build(ReadManager { path: path.clone() })?;

        let (sender, receiver) = mpsc::channel::<Job>();
        let max_group = options.max_group.max(1);
        let writer = std::thread::Builder::new()
            .name("kakari-sqlite-writer".into())
            .spawn(move || writer_loop(conn, receiver, max_group))
            .map_err(|e| StoreError::Config(format!("cannot start writer thread: {e}")))?;

        Ok(Self {
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
            readers: Arc::new(readers),
            migrations,
        })
    }

    pub fn readers(&self) -> Arc<r2d2::Pool<ReadManager>> {
        Arc::clone(&self.readers)
    }

    fn submit<T, E, F>(&self, work: F) -> Result<oneshot::Receiver<Result<T, E>>, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, receiver) = oneshot::channel();
        let job: Job = Box::new(move |tx| {
            let result = match work(tx) {
                Ok(value) => tx.finish().map(|()| value).map_err(E::from),
                Err(e) => Err(e),
            };
            let ok = result.is_ok();
            let deliver: Deliver = Box::new(move |commit_error| {
                let outcome = match (commit_error, result) {
                    (Some(e), Ok(_)) => Err(E::from(e)),
                    (_, result) => result,
                };
                let _ = reply.send(outcome);
            });
            (ok, deliver)
        });
        let sender = self
            .sender
            .lock()
            .map_err(|_| E::from(StoreError::Abandoned))?;
        match sender.as_ref() {
            Some(s) => s
                .send(job)
                .map_err(|_| E::from(StoreError::Unavailable("writer stopped".into())))?,
            None => {
                return Err(E::from(StoreError::Unavailable(
                    "store is shutting down".into(),
                )));
            }
        }
        Ok(receiver)
    }

    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let receiver = self.submit(work)?;
        receiver
            .await
            .unwrap_or_else(|_| Err(E::from(StoreError::Abandoned)))
    }

    pub fn write_blocking<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let receiver = self.submit(work)?;
        receiver
            .blocking_recv()
            .unwrap_or_else(|_| Err(E::from(StoreError::Abandoned)))
    }

    /// Closes the queue and waits until everything queued is committed.
    pub fn shutdown(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        if let Ok(mut writer) = self.writer.lock()
            && let Some(handle) = writer.take()
        {
            let _ = handle.join();
        }
    }
}

impl Drop for SqliteBackend {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn writer_loop(conn: Connection, receiver: mpsc::Receiver<Job>, max_group: usize) {
    while let Ok(first) = receiver.recv() {
        let mut group = vec![first];
        while group.len() < max_group {
            match receiver.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        commit_group(&conn, group);
    }
}

fn commit_group(conn: &Connection, group: Vec<Job>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let error = StoreError::from(e);
        // Dropping the jobs drops their reply channels: each caller sees `Abandoned`.
        tracing::error!(error = %error, "sqlite writer cannot begin a transaction");
        drop(group);
        return;
    }
    let mut deliveries = Vec::with_capacity(group.len());
    for job in group {
        if let Err(e) = conn.execute_batch("SAVEPOINT unit") {
            tracing::error!(error = %StoreError::from(e), "sqlite savepoint failed");
            continue;
        }
        let mut tx = Tx::new(Conn::Sqlite(conn));
        let outcome = catch_unwind(AssertUnwindSafe(|| job(&mut tx)));
        let keep = match outcome {
            Ok((ok, deliver)) => {
                deliveries.push(deliver);
                ok
            }
            Err(_) => {
                tracing::error!("a unit of work panicked; rolled back");
                false
            }
        };
        let end = if keep {
            "RELEASE unit"
        } else {
            "ROLLBACK TO unit; RELEASE unit"
        };
        if let Err(e) = conn.execute_batch(end) {
            tracing::error!(error = %StoreError::from(e), "sqlite savepoint release failed");
        }
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => deliveries.into_iter().for_each(|d| d(None)),
        Err(e) => {
            let error = StoreError::from(e);
            tracing::error!(error = %error, "sqlite commit failed; the group is rolled back");
            let _ = conn.execute_batch("ROLLBACK");
            for deliver in deliveries {
                deliver(Some(StoreError::Unavailable("commit failed".into())));
            }
        }
    }
}

/// Runs `work` on a read-only connection inside a deferred transaction, under `control`:
/// a progress handler interrupts the running statement at the deadline or on cancel.
pub fn read<T, E, F>(
    readers: &r2d2::Pool<ReadManager>,
    control: &Arc<ReadControl>,
    work: F,
) -> Result<T, E>
where
    F: FnOnce(&mut Tx<'_>) -> Result<T, E>,
    E: From<StoreError>,
{
    let mut conn = readers.get().map_err(StoreError::from)?;
    if control.should_stop() {
        return Err(E::from(StoreError::Timeout));
    }
    let watched = Arc::clone(control);
    conn.progress_handler(PROGRESS_STEPS, Some(move || watched.should_stop()))
        .map_err(StoreError::from)?;
    if conn.execute_batch("BEGIN").is_err() {
        // A previous user panicked inside its transaction; end it and start afresh.
        let _ = conn.execute_batch("ROLLBACK");
        if let Err(e) = conn.execute_batch("BEGIN") {
            let _ = conn.progress_handler(0, None::<fn() -> bool>);
            return Err(E::from(StoreError::from(e)));
        }
    }
    let result = {
        let mut tx = Tx::new(Conn::Sqlite(&conn));
        work(&mut tx)
    };
    conn.progress_handler(0, None::<fn() -> bool>)
        .map_err(StoreError::from)?;
    conn.execute_batch("COMMIT").map_err(StoreError::from)?;
    result
}

/// Virtual-machine steps between two checks of a read's deadline (a few microseconds).
const PROGRESS_STEPS: std::ffi::c_int = 4096;
