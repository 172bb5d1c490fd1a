//! The authenticated caller of a request, and the authenticator that makes one from a
//! bearer token.
//!
//! Clients are cached for a few seconds to keep a database read off every request; a
//! revocation is visible at once on the instance that made it and within `CACHE_TTL` on
//! others.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::role::Role;
use super::token;
use crate::domain::datetime::now_millis;
use crate::domain::{InstitutionCode, InsurerNumber};
use crate::error::{ErrorCode, Problem};
use crate::store::Store;
use crate::store::clients::ClientRow;

/// Who is calling, with the bindings their role is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// 0 for the bootstrap admin token.
    pub client_id: i64,
    pub name: String,
    pub role: Role,
    pub facility: Option<InstitutionCode>,
    pub insurer: Option<InsurerNumber>,
    pub practitioner: Option<String>,
}

impl Caller {
    /// The scope idempotency keys of this caller live in: the institution when bound
    /// (two systems of one clinic share message ids), else the client.
    pub fn sender_scope(&self) -> String {
        match (&self.facility, &self.insurer) {
            (Some(f), _) => format!("facility:{f}"),
            (None, Some(i)) => format!("insurer:{i}"),
            _ => format!("client:{}", self.client_id),
        }
    }

    /// The bootstrap administrator (`KAKARI_ADMIN_TOKEN`).
    pub fn bootstrap_admin() -> Self {
        Self {
            client_id: 0,
            name: "bootstrap-admin".into(),
            role: Role::Admin,
            facility: None,
            insurer: None,
            practitioner: None,
        }
    }

    /// The caller a stored client acts as (`None` for an unknown role).
    pub fn from_row(row: &ClientRow) -> Option<Self> {
        Some(Self {
            client_id: row.id,
            name: row.name.clone(),
            role: Role::parse(&row.role)?,
            facility: row
                .facility
                .as_deref()
                .and_then(|f| InstitutionCode::parse(f).ok()),
            insurer: row
                .insurer
                .as_deref()
                .and_then(|i| InsurerNumber::parse(i).ok()),
            practitioner: row.practitioner.clone(),
        })
    }
}

const CACHE_TTL: Duration = Duration::from_secs(2);
const CACHE_MAX: usize = 10_000;

/// Turns bearer tokens into callers.
pub struct Authenticator {
    store: Store,
    admin_token: Option<String>,
    cache: Mutex<HashMap<i64, (ClientRow, Instant)>>,
}

fn invalid() -> Problem {
    Problem::new(
        ErrorCode::InvalidToken,
        "Authorization",
        ErrorCode::InvalidToken.title(),
    )
}

impl Authenticator {
    pub fn new(store: Store, admin_token: Option<String>) -> Self {
        Self {
            store,
            admin_token: admin_token.filter(|t| !t.is_empty()),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Authenticates the value of an `Authorization` header.
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Caller, Problem> {
        let header = header.ok_or_else(|| {
            Problem::new(
                ErrorCode::MissingToken,
                "Authorization",
                "send Authorization: Bearer <token>",
            )
        })?;
        let presented = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                Problem::new(
                    ErrorCode::MissingToken,
                    "Authorization",
                    "expected the Bearer scheme",
                )
            })?;
        if let Some(admin) = &self.admin_token
            && token::equal(presented, admin)
        {
            return Ok(Caller::bootstrap_admin());
        }
        let (id, secret) = token::parse(presented).ok_or_else(invalid)?;
        let row = self.client(id).await?.ok_or_else(invalid)?;
        if !token::matches(secret, &row.token_hash) {
            return Err(invalid());
        }
        if row.revoked_at.is_some() || row.expires_at.is_some_and(|e| e <= now_millis()) {
            return Err(invalid());
        }
        Caller::from_row(&row).ok_or_else(invalid)
    }

    async fn client(&self, id: i64) -> Result<Option<ClientRow>, Problem> {
        if let Ok(cache) = self.cache.lock()
            && let Some((row, at)) = cache.get(&id)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(Some(row.clone()));
        }
        let row = self
            .store
            .read(move |tx| tx.client_by_id(id))
            .await
            .map_err(Problem::from)?;
        if let (Some(row), Ok(mut cache)) = (&row, self.cache.lock()) {
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            cache.insert(id, (row.clone(), Instant::now()));
        }
        Ok(row)
    }

    /// Forgets a client (after revocation on this instance).
    pub fn forget(&self, id: i64) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(&id);
        }
    }
}
