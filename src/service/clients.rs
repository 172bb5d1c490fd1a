//! API clients: creation (with a token shown once), listing, revocation.

use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::{Role, access, token};
use crate::domain::{InstitutionCode, InsurerNumber, MemberId};
use crate::error::{ErrorCode, Problem};
use crate::service::Ctx;
use crate::store::Store;
use crate::store::clients::{ClientLimits, ClientRow, NewClient};

/// What an administrator asks for.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientRequest {
    pub name: String,
    /// `emr`, `pharmacy`, `insurer`, `doctor`, `admin` or `person`.
    pub role: String,
    /// 10-digit institution code (required for emr and pharmacy; the doctor's institution).
    pub facility: Option<String>,
    /// Insurer number (required for insurer).
    pub insurer: Option<String>,
    /// Practitioner id, e.g. the 医籍登録番号 (required for doctor).
    pub practitioner: Option<String>,
    /// The member id a `person` client stands for, with 枝番 (required for person).
    pub member: Option<String>,
    /// How the issuer knows it is the person (`in-person`, `insurer-record`,
    /// `mynumber-card` …; person clients only; default `administrator`).
    #[schema(max_length = 100)]
    pub identity_evidence: Option<String>,
    /// Optional expiry, epoch milliseconds.
    pub expires_at: Option<i64>,
    /// SHA-256 fingerprint of the client's TLS certificate (64 hex digits, colons
    /// allowed): the client then authenticates with that certificate (mTLS).
    pub certificate_sha256: Option<String>,
    /// Largest request body this client may send, in bytes (default: the server's limits).
    #[schema(minimum = 1)]
    pub max_request_bytes: Option<i64>,
    /// Requests per second (token bucket refill; 0 = unlimited; default: the server's).
    #[schema(minimum = 0)]
    pub rate_limit_per_second: Option<i64>,
    /// Requests the client may send at once (bucket size; default: the server's).
    #[schema(minimum = 1)]
    pub rate_burst: Option<i64>,
}

/// A created client and its token (shown only once).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedClient {
    pub id: i64,
    pub token: String,
}

/// A client as listed (never with its token).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClientView {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub facility: Option<String>,
    pub insurer: Option<String>,
    pub practitioner: Option<String>,
    pub member: Option<String>,
    /// Who issued a person client (client id; 0 the bootstrap administrator).
    pub issued_by: Option<i64>,
    pub identity_evidence: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked: bool,
    pub certificate_sha256: Option<String>,
    pub max_request_bytes: Option<i64>,
    pub rate_limit_per_second: Option<i64>,
    pub rate_burst: Option<i64>,
}

impl From<ClientRow> for ClientView {
    fn from(r: ClientRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            role: r.role,
            facility: r.facility,
            insurer: r.insurer,
            practitioner: r.practitioner,
            member: r.member,
            issued_by: r.issued_by,
            identity_evidence: r.identity_evidence,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked: r.revoked_at.is_some(),
            certificate_sha256: r.certificate_sha256,
            max_request_bytes: r.limits.max_request_bytes,
            rate_limit_per_second: r.limits.rate_limit_per_second,
            rate_burst: r.limits.rate_burst,
        }
    }
}

fn invalid(field: &str, message: &str) -> Problem {
    Problem::new(ErrorCode::InvalidBody, field, message)
}

/// Checks a request, normalises its bindings and draws the secret: the client to store and
/// the secret to show once. `issuer` is the client issuing it (person clients record it).
fn validate(req: &ClientRequest, issuer: Option<i64>) -> Result<(NewClient, String), Problem> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid("name", "name must be 1 to 200 characters"));
    }
    let role = Role::parse(&req.role).ok_or_else(|| {
        invalid(
            "role",
            "role must be one of emr, pharmacy, insurer, doctor, admin, person",
        )
    })?;
    let facility = req
        .facility
        .as_deref()
        .map(InstitutionCode::parse)
        .transpose()
        .map_err(|_| invalid("facility", "facility must be a 10-digit institution code"))?;
    let insurer = req
        .insurer
        .as_deref()
        .map(InsurerNumber::parse)
        .transpose()
        .map_err(|_| {
            invalid(
                "insurer",
                "insurer must be an insurer number of up to 8 digits",
            )
        })?;
    let practitioner = req
        .practitioner
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty());
    match role {
        Role::Emr | Role::Pharmacy if facility.is_none() => {
            return Err(invalid(
                "facility",
                "emr and pharmacy clients need a facility",
            ));
        }
        Role::Insurer if insurer.is_none() => {
            return Err(invalid("insurer", "insurer clients need an insurer number"));
        }
        Role::Doctor if practitioner.is_none() => {
            return Err(invalid(
                "practitioner",
                "doctor clients need a practitioner id",
            ));
        }
        _ => {}
    }
    let member = match (role, req.member.as_deref()) {
        (Role::Person, Some(m)) => {
            let member = MemberId::parse(m)
                .ok()
                .filter(|m| m.branch().is_some())
                .ok_or_else(|| {
                    invalid(
                        "member",
                        "member must be an insurance member id with 枝番 (保険者番号:記号:番号:枝番)",
                    )
                })?;
            Some(member.key())
        }
        (Role::Person, None) => {
            return Err(invalid("member", "person clients need a member id"));
        }
        (_, Some(_)) => {
            return Err(invalid(
                "member",
                "only person clients are bound to a member id",
            ));
        }
        (_, None) => None,
    };
    let identity_evidence = match (role, req.identity_evidence.as_deref().map(str::trim)) {
        (Role::Person, Some(e)) if !e.is_empty() && e.chars().count() <= 100 => Some(e.to_owned()),
        (Role::Person, Some(_)) => {
            return Err(invalid(
                "identity_evidence",
                "identity_evidence must be 1 to 100 characters",
            ));
        }
        (Role::Person, None) => Some("administrator".to_owned()),
        (_, Some(_)) => {
            return Err(invalid(
                "identity_evidence",
                "identity_evidence is recorded for person clients only",
            ));
        }
        (_, None) => None,
    };
    let certificate_sha256 = req
        .certificate_sha256
        .as_deref()
        .map(|c| {
            crate::tls::normalise_fingerprint(c).ok_or_else(|| {
                invalid(
                    "certificate_sha256",
                    "certificate_sha256 must be a SHA-256 fingerprint: 64 hex digits",
                )
            })
        })
        .transpose()?;
    if req.max_request_bytes.is_some_and(|n| n < 1) {
        return Err(invalid(
            "max_request_bytes",
            "max_request_bytes must be at least 1",
        ));
    }
    if req.rate_limit_per_second.is_some_and(|n| n < 0) {
        return Err(invalid(
            "rate_limit_per_second",
            "rate_limit_per_second must be 0 (unlimited) or more",
        ));
    }
    if req.rate_burst.is_some_and(|n| n < 1) {
        return Err(invalid("rate_burst", "rate_burst must be at least 1"));
    }
    let secret = token::new_secret().map_err(|_| Problem::bare(ErrorCode::Internal))?;
    let client = NewClient {
        name: name.to_owned(),
        role: role.as_str().to_owned(),
        facility: facility.map(|f| f.as_str().to_owned()),
        insurer: insurer.map(|i| i.as_str().to_owned()),
        practitioner: practitioner.map(str::to_owned),
        token_hash: secret.digest,
        expires_at: req.expires_at,
        certificate_sha256,
        limits: ClientLimits {
            max_request_bytes: req.max_request_bytes,
            rate_limit_per_second: req.rate_limit_per_second,
            rate_burst: req.rate_burst,
        },
        issued_by: member.as_ref().map(|_| issuer.unwrap_or(0)),
        member,
        identity_evidence,
    };
    Ok((client, secret.secret))
}

/// Creates a client directly in the store (CLI, demo). Returns the id and token.
pub async fn create_in(
    store: &Store,
    req: &ClientRequest,
    actor: Option<&Ctx>,
) -> Result<CreatedClient, Problem> {
    let (client, secret) = validate(req, actor.map(|a| a.caller.client_id))?;
    let mut audit = actor.map(|a| a.audit("client.create"));
    let id = store
        .write(move |tx| {
            if let Some(fp) = client.certificate_sha256.as_deref()
                && tx.client_by_certificate(fp)?.is_some()
            {
                return Err(invalid(
                    "certificate_sha256",
                    "this certificate is already registered to another active client",
                ));
            }
            let id = tx.insert_client(&client)?;
            if let Some(entry) = audit.as_mut() {
                entry.detail = Some(format!("client {id} role {}", client.role));
                tx.append_audit(std::slice::from_ref(entry))?;
            }
            Ok::<_, Problem>(id)
        })
        .await?;
    Ok(CreatedClient {
        id,
        token: token::format(id, &secret),
    })
}

/// `POST /admin/clients`.
pub async fn create(
    app: &AppState,
    ctx: &Ctx,
    req: ClientRequest,
) -> Result<CreatedClient, Problem> {
    access::require_role(&ctx.caller, access::ADMINISTRATORS)?;
    create_in(&app.store, &req, Some(ctx)).await
}

/// `GET /admin/clients`.
pub async fn list(app: &AppState, ctx: &Ctx) -> Result<Vec<ClientView>, Problem> {
    access::require_role(&ctx.caller, access::ADMINISTRATORS)?;
    let rows = app.store.read(|tx| tx.list_clients()).await?;
    Ok(rows.into_iter().map(ClientView::from).collect())
}

/// `DELETE /admin/clients/{id}`: revokes a client's token.
pub async fn revoke(app: &AppState, ctx: &Ctx, id: i64) -> Result<(), Problem> {
    access::require_role(&ctx.caller, access::ADMINISTRATORS)?;
    let mut audit = ctx.audit("client.revoke");
    audit.detail = Some(format!("client {id}"));
    let revoked = app
        .store
        .write(move |tx| {
            let revoked = tx.revoke_client(id)?;
            if revoked {
                tx.append_audit(&[audit])?;
            }
            Ok::<_, Problem>(revoked)
        })
        .await?;
    app.auth.forget(id);
    if revoked {
        Ok(())
    } else {
        Err(Problem::new(
            ErrorCode::ResourceNotFound,
            "id",
            "no active client with this id",
        ))
    }
}
