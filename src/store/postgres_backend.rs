//! PostgreSQL: a pool of connections, one transaction per unit of work.
//!
//! Units of work run on blocking threads (the `postgres` client is synchronous), so the
//! same closures serve both databases. Isolation is READ COMMITTED; the few places that
//! need serialisation (conditional creates, the audit chain) take advisory locks.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use super::migrate::{self, MigrationReport};
use super::read_control::ReadControl;
use super::sql::{Conn, PgConn};
use super::{StoreError, StoreOptions, Tx};

/// Opens `postgres::Client`s for the pool.
pub struct PgManager {
    config: postgres::Config,
}

impl r2d2::ManageConnection for PgManager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConn, postgres::Error> {
        Ok(PgConn::new(self.config.connect(postgres::NoTls)?))
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), postgres::Error> {
        match conn.parts() {
            Ok((client, _)) => client.simple_query("").map(|_| ()),
            Err(_) => Ok(()),
        }
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.is_closed() || conn.is_discarded()
    }
}

#[derive(Clone)]
pub struct PgBackend {
    pool: Arc<r2d2::Pool<PgManager>>,
    pub migrations: MigrationReport,
}

impl PgBackend {
    /// Opens the pool and migrates. The `postgres` client runs its own runtime, so this
    /// runs on a thread of its own and may be called from anywhere (also async code).
    pub fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let (url, options) = (url.to_owned(), options.clone());
        std::thread::spawn(move || Self::open_here(&url, &options))
            .join()
            .unwrap_or_else(|_| Err(StoreError::Abandoned))
    }

    fn open_here(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let mut config = postgres::Config::from_str(url)
            .map_err(|_| StoreError::Config("the PostgreSQL URL cannot be parsed".into()))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("kakari");
        let pool = r2d2::Pool::builder()
            .max_size(options.pool_size.max(2))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(30))
            .build(PgManager { config })?;
        let migrations = {
            let mut conn = pool.get()?;
            migrate::apply_postgres(&mut conn)?
        };
        Ok(Self {
            pool: Arc::new(pool),
            migrations,
        })
    }

    /// Runs `work` in a transaction and commits it.
    pub fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E>,
        E: From<StoreError>,
    {
        let mut conn = self.pool.get().map_err(StoreError::from)?;
        let (client, statements) = conn.parts()?;
        let transaction = client.transaction().map_err(StoreError::from)?;
        let mut tx = Tx::new(Conn::Pg {
            tx: transaction,
            statements,
        });
        let result = match work(&mut tx) {
            Ok(value) => tx.finish().map(|()| value).map_err(E::from),
            Err(e) => Err(e),
        };
        let Conn::Pg {
            tx: transaction, ..
        } = tx.conn
        else {
            unreachable!("a PostgreSQL unit of work holds a PostgreSQL connection")
        };
        match result {
            Ok(value) => {
                transaction.commit().map_err(StoreError::from)?;
                Ok(value)
            }
            Err(e) => {
                let _ = transaction.rollback();
                Err(e)
            }
        }
    }

    /// Runs `work` in a read-only transaction under `control`: every statement ends at the
    /// deadline (`statement_timeout`), and a cancelled read is stopped in the server and its
    /// connection discarded.
    pub fn read<T, E, F>(&self, control: &ReadControl, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E>,
        E: From<StoreError>,
    {
        let mut conn = self.pool.get().map_err(StoreError::from)?;
        let result = Self::read_on(&mut conn, control, work);
        if control.disarm_postgres() {
            conn.discard();
        }
        result
    }

    fn read_on<T, E, F>(conn: &mut PgConn, control: &ReadControl, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E>,
        E: From<StoreError>,
    {
        let (client, statements) = conn.parts()?;
        if !control.arm_postgres(client.cancel_token()) {
            return Err(E::from(StoreError::Timeout));
        }
        let transaction = client
            .build_transaction()
            .read_only(true)
            .start()
            .map_err(StoreError::from)?;
        let mut tx = Tx::new(Conn::Pg {
            tx: transaction,
            statements,
        });
        let limited = match control.remaining() {
            None => Ok(()),
            Some(left) if left.is_zero() => Err(StoreError::Timeout),
            Some(left) => {
                let millis = left.as_millis().clamp(1, i32::MAX as u128);
                tx.conn()
                    .batch(&format!("SET LOCAL statement_timeout = {millis}"))
            }
        };
        let result = match limited {
            Ok(()) => work(&mut tx),
            Err(e) => Err(E::from(e)),
        };
        let Conn::Pg {
            tx: transaction, ..
        } = tx.conn
        else {
            unreachable!("a PostgreSQL unit of work holds a PostgreSQL connection")
        };
        let _ = transaction.rollback();
        result
    }
}
