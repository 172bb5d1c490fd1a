//! API clients: who may call kakari, in which role, bound to what.

use super::{StoreError, Tx};
use crate::args;

/// A stored client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRow {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub facility: Option<String>,
    pub insurer: Option<String>,
    pub practitioner: Option<String>,
    pub token_hash: Vec<u8>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Lower-case hex SHA-256 of the client's certificate (DER), for mTLS.
    pub certificate_sha256: Option<String>,
    pub limits: ClientLimits,
    /// Person clients: the normalised member id they stand for.
    pub member: Option<String>,
    /// The client that issued a person client (an insurer client, or 0 for the bootstrap
    /// administrator), and the identity evidence it relied on.
    pub issued_by: Option<i64>,
    pub identity_evidence: Option<String>,
}

/// Per-client overrides of the server's request limits (`None`: the server default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientLimits {
    pub max_request_bytes: Option<i64>,
    pub rate_limit_per_second: Option<i64>,
    pub rate_burst: Option<i64>,
}

/// A client to create.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub name: String,
    pub role: String,
    pub facility: Option<String>,
    pub insurer: Option<String>,
    pub practitioner: Option<String>,
    pub token_hash: Vec<u8>,
    pub expires_at: Option<i64>,
    pub certificate_sha256: Option<String>,
    pub limits: ClientLimits,
    pub member: Option<String>,
    pub issued_by: Option<i64>,
    pub identity_evidence: Option<String>,
}

const COLUMNS: &str = "id, name, role, facility, insurer, practitioner, token_hash, created_at, expires_at, revoked_at, \
                       certificate_sha256, max_request_bytes, rate_limit_per_second, rate_burst, member, \
                       issued_by, identity_evidence";

fn row(r: &super::sql::Row<'_>) -> Result<ClientRow, StoreError> {
    Ok(ClientRow {
        id: r.i64(0)?,
        name: r.string(1)?,
        role: r.string(2)?,
        facility: r.opt_string(3)?,
        insurer: r.opt_string(4)?,
        practitioner: r.opt_string(5)?,
        token_hash: r.opt_bytes(6)?.unwrap_or_default().to_vec(),
        created_at: r.i64(7)?,
        expires_at: r.opt_i64(8)?,
        revoked_at: r.opt_i64(9)?,
        certificate_sha256: r.opt_string(10)?,
        limits: ClientLimits {
            max_request_bytes: r.opt_i64(11)?,
            rate_limit_per_second: r.opt_i64(12)?,
            rate_burst: r.opt_i64(13)?,
        },
        member: r.opt_string(14)?,
        issued_by: r.opt_i64(15)?,
        identity_evidence: r.opt_string(16)?,
    })
}

impl Tx<'_> {
    pub fn insert_client(&mut self, client: &NewClient) -> Result<i64, StoreError> {
        let now = self.now();
        self.conn().insert_returning(
            "INSERT INTO clients (name, role, facility, insurer, practitioner, token_hash, created_at,
                expires_at, certificate_sha256, max_request_bytes, rate_limit_per_second, rate_burst,
                member, issued_by, identity_evidence)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            args![
                &client.name,
                &client.role,
                client.facility.as_deref(),
                client.insurer.as_deref(),
                client.practitioner.as_deref(),
                &client.token_hash,
                now,
                client.expires_at,
                client.certificate_sha256.as_deref(),
                client.limits.max_request_bytes,
                client.limits.rate_limit_per_second,
                client.limits.rate_burst,
                client.member.as_deref(),
                client.issued_by,
                client.identity_evidence.as_deref(),
            ],
        )
    }

    pub fn client_by_id(&mut self, id: i64) -> Result<Option<ClientRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM clients WHERE id = ?");
        self.conn().query_opt(&sql, args![id], row)
    }

    /// The active (not revoked) client registered with this certificate fingerprint.
    pub fn client_by_certificate(
        &mut self,
        sha256_hex: &str,
    ) -> Result<Option<ClientRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM clients WHERE certificate_sha256 = ? AND revoked_at IS NULL"
        );
        self.conn().query_opt(&sql, args![sha256_hex], row)
    }

    pub fn list_clients(&mut self) -> Result<Vec<ClientRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM clients ORDER BY id");
        self.conn().query(&sql, &[], row)
    }

    /// Revokes a client; false when there is no such active client.
    pub fn revoke_client(&mut self, id: i64) -> Result<bool, StoreError> {
        let now = self.now();
        let changed = self.conn().execute(
            "UPDATE clients SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            args![now, id],
        )?;
        Ok(changed == 1)
    }
}
