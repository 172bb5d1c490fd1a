//! The authenticated caller of a request, and the authenticator that makes one from a
//! bearer token, a client certificate (mTLS), or both.
//!
//! Rules: a certificate presented on the connection must belong to an active client
//! (`auth.certificate_unknown`); with no bearer token, that client is the caller. A bearer
//! token presented with a certificate must belong to the certificate's client
//! (`auth.certificate_mismatch`). A client registered with a certificate is accepted only
//! over a connection that presents it (`auth.certificate_required`): its token alone is
//! not enough.
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
use crate::domain::{InstitutionCode, InsurerNumber, MemberId};
use crate::error::{ErrorCode, Problem};
use crate::store::Store;
use crate::store::clients::{ClientLimits, ClientRow};
use crate::tls::PeerCertificate;

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
    /// The member id a `person` client stands for.
    pub member: Option<MemberId>,
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
            member: None,
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
            member: row.member.as_deref().and_then(|m| MemberId::parse(m).ok()),
        })
    }
}

const CACHE_TTL: Duration = Duration::from_secs(2);
const CACHE_MAX: usize = 10_000;

/// Turns bearer tokens and client certificates into callers.
pub struct Authenticator {
    store: Store,
    admin_token: Option<String>,
    cache: Mutex<HashMap<i64, (ClientRow, Instant)>>,
    /// Certificate fingerprint → client id (`None`: no active client has it).
    certificates: Mutex<HashMap<String, (Option<i64>, Instant)>>,
}

/// An authenticated caller and the limits that apply to its requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub caller: Caller,
    pub limits: ClientLimits,
}

fn certificate_problem(code: ErrorCode, message: &str) -> Problem {
    Problem::new(code, "certificate", message)
}

fn usable(row: &ClientRow) -> bool {
    row.revoked_at.is_none() && row.expires_at.is_none_or(|e| e > now_millis())
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
            certificates: Mutex::new(HashMap::new()),
        }
    }

    /// Authenticates a request from its `Authorization` header and the certificate its
    /// connection presented.
    pub async fn authenticate_request(
        &self,
        header: Option<&str>,
        certificate: Option<&PeerCertificate>,
    ) -> Result<Authenticated, Problem> {
        let by_certificate = match certificate {
            None => None,
            Some(cert) => Some(
                self.client_by_certificate(&cert.sha256_hex)
                    .await?
                    .ok_or_else(|| {
                        certificate_problem(
                            ErrorCode::CertificateUnknown,
                            "the client certificate is not registered to an active client",
                        )
                    })?,
            ),
        };
        let row = match (header, by_certificate) {
            (None, Some(row)) => row,
            (header, by_certificate) => {
                let found = self.by_token(header).await?;
                let Some(row) = found else {
                    // The bootstrap administrator has no certificate of its own.
                    if by_certificate.is_some() {
                        return Err(certificate_problem(
                            ErrorCode::CertificateMismatch,
                            "the bearer token does not belong to the certificate's client",
                        ));
                    }
                    return Ok(Authenticated {
                        caller: Caller::bootstrap_admin(),
                        limits: ClientLimits::default(),
                    });
                };
                match by_certificate {
                    Some(cert_row) if cert_row.id != row.id => {
                        return Err(certificate_problem(
                            ErrorCode::CertificateMismatch,
                            "the bearer token does not belong to the certificate's client",
                        ));
                    }
                    None if row.certificate_sha256.is_some() => {
                        return Err(certificate_problem(
                            ErrorCode::CertificateRequired,
                            "this client authenticates with its certificate; present it",
                        ));
                    }
                    _ => row,
                }
            }
        };
        let caller = Caller::from_row(&row).ok_or_else(invalid)?;
        Ok(Authenticated {
            caller,
            limits: row.limits,
        })
    }

    /// The client of a bearer token (`None`: the bootstrap administrator).
    async fn by_token(&self, header: Option<&str>) -> Result<Option<ClientRow>, Problem> {
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
            return Ok(None);
        }
        let (id, secret) = token::parse(presented).ok_or_else(invalid)?;
        let row = self.client(id).await?.ok_or_else(invalid)?;
        if !token::matches(secret, &row.token_hash) || !usable(&row) {
            return Err(invalid());
        }
        Ok(Some(row))
    }

    /// The active, unexpired client registered with a certificate fingerprint.
    async fn client_by_certificate(&self, sha256_hex: &str) -> Result<Option<ClientRow>, Problem> {
        let cached = self.certificates.lock().ok().and_then(|c| {
            c.get(sha256_hex)
                .filter(|(_, at)| at.elapsed() < CACHE_TTL)
                .map(|(id, _)| *id)
        });
        let id = match cached {
            Some(id) => id,
            None => {
                let fp = sha256_hex.to_owned();
                let row = self
                    .store
                    .read(move |tx| tx.client_by_certificate(&fp))
                    .await
                    .map_err(Problem::from)?;
                let id = row.as_ref().map(|r| r.id);
                if let Ok(mut cache) = self.certificates.lock() {
                    if cache.len() >= CACHE_MAX {
                        cache.clear();
                    }
                    cache.insert(sha256_hex.to_owned(), (id, Instant::now()));
                }
                id
            }
        };
        let Some(id) = id else { return Ok(None) };
        Ok(self
            .client(id)
            .await?
            .filter(|row| usable(row) && row.certificate_sha256.as_deref() == Some(sha256_hex)))
    }

    /// Authenticates the value of an `Authorization` header (no client certificate).
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Caller, Problem> {
        self.authenticate_request(header, None)
            .await
            .map(|a| a.caller)
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
        if let Ok(mut certificates) = self.certificates.lock() {
            certificates.retain(|_, (cached, _)| *cached != Some(id));
        }
    }
}
