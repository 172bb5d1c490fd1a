//! Inputs (every request body, message or file kakari took in), idempotency keys, and the
//! quarantine of rejected inputs.

use super::{StoreError, Tx};
use crate::args;

/// An input to record.
#[derive(Debug, Clone)]
pub struct NewInput<'a> {
    pub client_id: i64,
    pub format: &'a str,
    pub received_at: i64,
    pub request_id: Option<&'a str>,
    pub sha256: &'a [u8],
    pub size: i64,
    pub label: Option<&'a str>,
}

/// The state of an idempotency key when claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    /// First time: the caller proceeds and completes the key in the same transaction.
    New,
    /// Seen before: the stored response of the first request.
    Seen {
        status: Option<i64>,
        response: Option<Vec<u8>>,
        input_id: Option<i64>,
        /// The content digest the key was claimed with (`None`: not recorded).
        digest: Option<Vec<u8>>,
    },
}

/// A rejected input to keep.
#[derive(Debug, Clone)]
pub struct NewQuarantine<'a> {
    pub client_id: i64,
    pub format: &'a str,
    pub received_at: i64,
    pub request_id: Option<&'a str>,
    pub code: &'a str,
    pub location: &'a str,
    pub message: &'a str,
    pub label: Option<&'a str>,
    pub body: &'a [u8],
}

/// A quarantined input as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineRow {
    pub id: i64,
    pub client_id: i64,
    pub format: String,
    pub received_at: i64,
    pub code: String,
    pub location: String,
    pub message: String,
    pub label: Option<String>,
    pub size: i64,
}

impl Tx<'_> {
    pub fn insert_input(&mut self, input: &NewInput<'_>) -> Result<i64, StoreError> {
        self.conn().insert_returning(
            "INSERT INTO inputs (client_id, format, received_at, request_id, sha256, size, label)
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            args![
                input.client_id,
                input.format,
                input.received_at,
                input.request_id,
                input.sha256,
                input.size,
                input.label,
            ],
        )
    }

    /// Claims `(scope, key)` for content `digest` (when the key alone does not fix the
    /// content). Concurrent claims of one key serialise on its primary key: the second
    /// waits for the first to commit and then sees it as `Seen`, with the first's digest.
    pub fn claim_key(
        &mut self,
        scope: &str,
        key: &str,
        digest: Option<&[u8]>,
    ) -> Result<KeyClaim, StoreError> {
        let now = self.now();
        let inserted = self.conn().execute(
            "INSERT INTO idempotency_keys (scope, key, created_at, digest) VALUES (?, ?, ?, ?)
             ON CONFLICT (scope, key) DO NOTHING",
            args![scope, key, now, digest],
        )?;
        if inserted == 1 {
            return Ok(KeyClaim::New);
        }
        self.conn().query_one(
            "SELECT status, response, input_id, digest FROM idempotency_keys WHERE scope = ? AND key = ?",
            args![scope, key],
            |r| {
                Ok(KeyClaim::Seen {
                    status: r.opt_i64(0)?,
                    response: r.opt_bytes(1)?.map(<[u8]>::to_vec),
                    input_id: r.opt_i64(2)?,
                    digest: r.opt_bytes(3)?.map(<[u8]>::to_vec),
                })
            },
        )
    }

    /// Stores the response of the request that claimed `(scope, key)`.
    pub fn complete_key(
        &mut self,
        scope: &str,
        key: &str,
        input_id: Option<i64>,
        status: i64,
        response: &[u8],
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE idempotency_keys SET status = ?, response = ?, input_id = ? WHERE scope = ? AND key = ?",
            args![status, response, input_id, scope, key],
        )?;
        Ok(())
    }

    pub fn insert_quarantine(&mut self, q: &NewQuarantine<'_>) -> Result<i64, StoreError> {
        self.conn().insert_returning(
            "INSERT INTO quarantine (client_id, format, received_at, request_id, code, location, message, label, body)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            args![
                q.client_id,
                q.format,
                q.received_at,
                q.request_id,
                q.code,
                q.location,
                q.message,
                q.label,
                q.body,
            ],
        )
    }

    pub fn list_quarantine(&mut self, limit: i64) -> Result<Vec<QuarantineRow>, StoreError> {
        self.conn().query(
            "SELECT id, client_id, format, received_at, code, location, message, label, LENGTH(body)
             FROM quarantine ORDER BY id DESC LIMIT ?",
            args![limit],
            |r| {
                Ok(QuarantineRow {
                    id: r.i64(0)?,
                    client_id: r.i64(1)?,
                    format: r.string(2)?,
                    received_at: r.i64(3)?,
                    code: r.string(4)?,
                    location: r.string(5)?,
                    message: r.string(6)?,
                    label: r.opt_string(7)?,
                    size: r.i64(8)?,
                })
            },
        )
    }

    /// The body of a quarantined input, for re-processing.
    pub fn quarantine_body(&mut self, id: i64) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        self.conn().query_opt(
            "SELECT format, body FROM quarantine WHERE id = ?",
            args![id],
            |r| Ok((r.string(0)?, r.opt_bytes(1)?.unwrap_or_default().to_vec())),
        )
    }
}
