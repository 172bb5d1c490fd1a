//! The thin layer both databases share: parameters, rows, and a connection inside a
//! transaction. Store modules write each statement once, with `?` placeholders; the
//! PostgreSQL side rewrites them to `$n` (and caches the prepared statement).
//!
//! Column conventions that keep one statement valid on both: integers are `BIGINT`
//! (`INTEGER` in SQLite), text is `TEXT`, bytes are `BYTEA` / `BLOB`, timestamps are epoch
//! milliseconds in an integer column, booleans are integers 0/1.

use std::collections::HashMap;

use postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::StoreError;

/// A statement parameter.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    Null,
    I64(i64),
    F64(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::I64(v)
    }
}
impl From<i32> for Param<'_> {
    fn from(v: i32) -> Self {
        Param::I64(i64::from(v))
    }
}
impl From<u32> for Param<'_> {
    fn from(v: u32) -> Self {
        Param::I64(i64::from(v))
    }
}
impl From<bool> for Param<'_> {
    fn from(v: bool) -> Self {
        Param::I64(i64::from(v))
    }
}
impl From<f64> for Param<'_> {
    fn from(v: f64) -> Self {
        Param::F64(v)
    }
}
impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}
impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(v)
    }
}
impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(v: &'a [u8]) -> Self {
        Param::Blob(v)
    }
}
impl<'a> From<&'a Vec<u8>> for Param<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Param::Blob(v)
    }
}
impl<'a, T> From<Option<T>> for Param<'a>
where
    T: Into<Param<'a>>,
{
    fn from(v: Option<T>) -> Self {
        v.map_or(Param::Null, Into::into)
    }
}

/// Builds a parameter slice: `args![a, b, c]`.
#[macro_export]
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        &[$($crate::store::sql::Param::from($value)),*][..]
    };
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match *self {
            Param::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Param::I64(v) => ToSqlOutput::Borrowed(ValueRef::Integer(v)),
            Param::F64(v) => ToSqlOutput::Borrowed(ValueRef::Real(v)),
            Param::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Param::Blob(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
        })
    }
}

impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Param::Null => Ok(IsNull::Yes),
            Param::I64(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
                Type::BOOL => (v != 0).to_sql(ty, out),
                Type::FLOAT8 => (v as f64).to_sql(ty, out),
                _ => Err(format!("integer parameter for a {ty} column").into()),
            },
            Param::F64(v) => v.to_sql(ty, out),
            Param::Text(v) => v.to_sql(ty, out),
            Param::Blob(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A result row from either database.
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Pg(&'a postgres::Row),
}

fn column_error(idx: usize, e: impl std::fmt::Display) -> StoreError {
    StoreError::Decode(format!("column {idx}: {e}"))
}

impl Row<'_> {
    pub fn opt_i64(&self, idx: usize) -> Result<Option<i64>, StoreError> {
        match self {
            Row::Sqlite(r) => r.get(idx).map_err(|e| column_error(idx, e)),
            Row::Pg(r) => {
                let ty = r
                    .columns()
                    .get(idx)
                    .map(|c| c.type_().clone())
                    .ok_or_else(|| column_error(idx, "no such column"))?;
                match ty {
                    Type::INT4 => Ok(r
                        .try_get::<_, Option<i32>>(idx)
                        .map_err(|e| column_error(idx, e))?
                        .map(i64::from)),
                    Type::INT2 => Ok(r
                        .try_get::<_, Option<i16>>(idx)
                        .map_err(|e| column_error(idx, e))?
                        .map(i64::from)),
                    Type::BOOL => Ok(r
                        .try_get::<_, Option<bool>>(idx)
                        .map_err(|e| column_error(idx, e))?
                        .map(i64::from)),
                    _ => r.try_get(idx).map_err(|e| column_error(idx, e)),
                }
            }
        }
    }

    pub fn i64(&self, idx: usize) -> Result<i64, StoreError> {
        self.opt_i64(idx)?
            .ok_or_else(|| column_error(idx, "unexpected NULL"))
    }

    pub fn opt_str(&self, idx: usize) -> Result<Option<&str>, StoreError> {
        match self {
            Row::Sqlite(r) => match r.get_ref(idx).map_err(|e| column_error(idx, e))? {
                rusqlite::types::ValueRef::Null => Ok(None),
                rusqlite::types::ValueRef::Text(t) => std::str::from_utf8(t)
                    .map(Some)
                    .map_err(|e| column_error(idx, e)),
                other => Err(column_error(
                    idx,
                    format!("expected text, got {:?}", other.data_type()),
                )),
            },
            Row::Pg(r) => r.try_get(idx).map_err(|e| column_error(idx, e)),
        }
    }

    pub fn str(&self, idx: usize) -> Result<&str, StoreError> {
        self.opt_str(idx)?
            .ok_or_else(|| column_error(idx, "unexpected NULL"))
    }

    pub fn opt_string(&self, idx: usize) -> Result<Option<String>, StoreError> {
        Ok(self.opt_str(idx)?.map(str::to_owned))
    }

    pub fn string(&self, idx: usize) -> Result<String, StoreError> {
        Ok(self.str(idx)?.to_owned())
    }

    pub fn opt_bytes(&self, idx: usize) -> Result<Option<&[u8]>, StoreError> {
        match self {
            Row::Sqlite(r) => match r.get_ref(idx).map_err(|e| column_error(idx, e))? {
                rusqlite::types::ValueRef::Null => Ok(None),
                rusqlite::types::ValueRef::Blob(b) | rusqlite::types::ValueRef::Text(b) => {
                    Ok(Some(b))
                }
                other => Err(column_error(
                    idx,
                    format!("expected bytes, got {:?}", other.data_type()),
                )),
            },
            Row::Pg(r) => r.try_get(idx).map_err(|e| column_error(idx, e)),
        }
    }

    pub fn bool(&self, idx: usize) -> Result<bool, StoreError> {
        Ok(self.i64(idx)? != 0)
    }
}

/// Which SQL dialect a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Rewrites `?` placeholders to `$1, $2, …` (outside quoted strings).
pub fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    let mut in_quote = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                in_quote = !in_quote;
                out.push(c);
            }
            '?' if !in_quote => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

/// A PostgreSQL connection with its prepared statements.
pub struct PgConn {
    client: Option<postgres::Client>,
    statements: HashMap<String, postgres::Statement>,
    /// Not to be returned to the pool (a cancel request may still be on its way to it).
    discarded: bool,
}

const PG_STATEMENT_CACHE: usize = 512;

impl PgConn {
    pub fn new(client: postgres::Client) -> Self {
        Self {
            client: Some(client),
            statements: HashMap::new(),
            discarded: false,
        }
    }

    /// Marks the connection for closing instead of reuse.
    pub fn discard(&mut self) {
        self.discarded = true;
    }

    pub fn is_discarded(&self) -> bool {
        self.discarded
    }

    /// The client and the statement cache, borrowed together.
    pub fn parts(
        &mut self,
    ) -> Result<
        (
            &mut postgres::Client,
            &mut HashMap<String, postgres::Statement>,
        ),
        StoreError,
    > {
        match self.client.as_mut() {
            Some(c) => Ok((c, &mut self.statements)),
            None => Err(StoreError::Unavailable("connection closed".into())),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.client.as_ref().is_none_or(postgres::Client::is_closed)
    }
}

impl Drop for PgConn {
    /// The `postgres` client blocks on its own runtime when closed, which is not allowed on
    /// an async worker thread (where a pool may be dropped at shutdown): close it elsewhere.
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let _ = std::thread::Builder::new()
                .name("kakari-pg-close".into())
                .spawn(move || drop(client));
        }
    }
}

/// A connection inside an open transaction.
pub enum Conn<'c> {
    Sqlite(&'c rusqlite::Connection),
    Pg {
        tx: postgres::Transaction<'c>,
        statements: &'c mut HashMap<String, postgres::Statement>,
    },
}

fn pg_params<'p>(params: &'p [Param<'p>]) -> Vec<&'p (dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl Conn<'_> {
    pub fn dialect(&self) -> Dialect {
        match self {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Pg { .. } => Dialect::Postgres,
        }
    }

    fn pg_statement(
        tx: &mut postgres::Transaction<'_>,
        statements: &mut HashMap<String, postgres::Statement>,
        sql: &str,
    ) -> Result<postgres::Statement, StoreError> {
        if let Some(stmt) = statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = tx.prepare(&numbered_placeholders(sql))?;
        if statements.len() >= PG_STATEMENT_CACHE {
            statements.clear();
        }
        statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }

    /// Runs a statement; returns the number of rows changed.
    pub fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        match self {
            Conn::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                Ok(stmt.execute(rusqlite::params_from_iter(params.iter()))? as u64)
            }
            Conn::Pg { tx, statements } => {
                let stmt = Self::pg_statement(tx, statements, sql)?;
                Ok(tx.execute(&stmt, &pg_params(params))?)
            }
        }
    }

    /// Runs a query and maps every row.
    pub fn query<T>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        mut map: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        match self {
            Conn::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    out.push(map(&Row::Sqlite(row))?);
                }
                Ok(out)
            }
            Conn::Pg { tx, statements } => {
                let stmt = Self::pg_statement(tx, statements, sql)?;
                let rows = tx.query(&stmt, &pg_params(params))?;
                rows.iter().map(|r| map(&Row::Pg(r))).collect()
            }
        }
    }

    /// Runs a query expected to return at most one row.
    pub fn query_opt<T>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        map: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.query(sql, params, map)?.into_iter().next())
    }

    /// Runs a query expected to return exactly one row.
    pub fn query_one<T>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        map: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.query_opt(sql, params, map)?
            .ok_or_else(|| StoreError::Decode("query returned no row".into()))
    }

    /// Runs an `INSERT … RETURNING <integer key>` and returns the key.
    ///
    /// On SQLite the `RETURNING` clause is dropped and the rowid read back instead: a
    /// RETURNING statement keeps a statement journal open, which costs dearly inside the
    /// writer's large group transactions.
    pub fn insert_returning(&mut self, sql: &str, params: &[Param<'_>]) -> Result<i64, StoreError> {
        self.insert_returning_opt(sql, params)?
            .ok_or_else(|| StoreError::Decode("insert returned no row".into()))
    }

    /// Like `insert_returning` for `ON CONFLICT DO NOTHING` inserts: `None` when nothing
    /// was inserted.
    pub fn insert_returning_opt(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Option<i64>, StoreError> {
        match self {
            Conn::Sqlite(c) => {
                let body = sql.rfind(" RETURNING ").map_or(sql, |at| &sql[..at]);
                let mut stmt = c.prepare_cached(body)?;
                let changed = stmt.execute(rusqlite::params_from_iter(params.iter()))?;
                Ok((changed > 0).then(|| c.last_insert_rowid()))
            }
            Conn::Pg { .. } => self.query_opt(sql, params, |r| r.i64(0)),
        }
    }

    /// Runs several statements separated by `;` (migrations). No parameters.
    pub fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Pg { tx, .. } => Ok(tx.batch_execute(sql)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            numbered_placeholders("SELECT a FROM t WHERE b = ? AND c = '?' AND d IN (?, ?)"),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND d IN ($2, $3)"
        );
    }
}
