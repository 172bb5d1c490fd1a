//! The directory of institutions and practitioners: maintained by administrators (with the
//! certification of institutions as かかりつけ医-capable), searched by anyone without
//! patient data. The only figure derived from patient data, the number of persons
//! registered with an institution, is shown as `<10` below ten.

use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::access;
use crate::domain::InstitutionCode;
use crate::domain::directory::{self, FUNCTIONS};
use crate::error::{ErrorCode, Issue, Problem};
use crate::service::Ctx;
use crate::store::directory::{DirectoryQuery, OrganizationRow, PractitionerRow};

/// `PUT /admin/organizations/{code10}`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationRequest {
    pub name: String,
    /// Two-digit prefecture code (`13`) or name (`東京都`).
    pub prefecture: String,
    pub city: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub url: Option<String>,
    /// Certified as かかりつけ医-capable (needs every common function).
    pub certified: bool,
    /// Function codes (see `GET /directory/functions`).
    pub functions: Vec<String>,
}

/// `PUT /admin/practitioners/{id}`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PractitionerRequest {
    pub name: String,
    pub name_kana: Option<String>,
    /// The 10-digit code of the institution the practitioner works at.
    pub organization: String,
    /// `kakaritsuke-training`, `general-medicine-specialist`.
    #[serde(default)]
    pub qualifications: Vec<String>,
}

/// An institution as the directory shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct OrganizationView {
    pub code: String,
    pub name: String,
    pub prefecture: String,
    pub prefecture_name: String,
    pub city: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub url: Option<String>,
    pub certified: bool,
    pub certified_at: Option<i64>,
    pub functions: Vec<FunctionView>,
    /// Persons registered here now: a number, or `<10`.
    pub registered_persons: String,
    /// Members' satisfaction (means from 10 responses on; `service::surveys`).
    pub satisfaction: Option<crate::service::surveys::SatisfactionView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct FunctionView {
    pub code: String,
    pub label: String,
    pub common: bool,
}

/// A page of directory results.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct DirectoryPage {
    pub total: i64,
    pub organizations: Vec<OrganizationView>,
}

/// A practitioner as the directory shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct PractitionerView {
    pub id: String,
    pub name: String,
    pub name_kana: Option<String>,
    pub organization: Option<String>,
    pub qualifications: Vec<FunctionView>,
}

fn invalid(location: &str, message: &str) -> Issue {
    Issue::error(ErrorCode::InvalidBody, location, message)
}

/// Counts below ten are not shown (small numbers can identify people).
pub fn masked_count(n: i64) -> String {
    if n < 10 { "<10".into() } else { n.to_string() }
}

fn function_views(codes: &[String]) -> Vec<FunctionView> {
    codes
        .iter()
        .filter_map(|c| directory::function(c))
        .map(|f| FunctionView {
            code: f.code.into(),
            label: f.label.into(),
            common: f.common,
        })
        .collect()
}

pub fn view(row: OrganizationRow, registered: i64) -> OrganizationView {
    OrganizationView {
        prefecture_name: directory::prefecture_name(&row.prefecture)
            .unwrap_or("")
            .to_owned(),
        functions: function_views(&row.functions),
        code: row.code,
        name: row.name,
        prefecture: row.prefecture,
        city: row.city,
        address: row.address,
        phone: row.phone,
        url: row.url,
        certified: row.certified,
        certified_at: row.certified_at,
        registered_persons: masked_count(registered),
        satisfaction: None,
    }
}

/// `PUT /admin/organizations/{code}`: creates or replaces an institution and its
/// certification. Returns the view and whether it was new.
pub async fn put_organization(
    app: &AppState,
    ctx: &Ctx,
    code: &str,
    req: OrganizationRequest,
) -> Result<(OrganizationView, bool), Problem> {
    access::require_role(&ctx.caller, access::ADMINISTRATORS)?;
    let mut issues = Vec::new();
    let code = InstitutionCode::parse(code).map_err(|_| {
        Problem::new(
            ErrorCode::InvalidParameter,
            "code",
            "an institution code has 10 digits",
        )
    })?;
    let name = req.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        issues.push(invalid("body.name", "name must be 1 to 200 characters"));
    }
    let prefecture = directory::prefecture_code(&req.prefecture);
    if prefecture.is_none() {
        issues.push(invalid(
            "body.prefecture",
            "a prefecture code 01-47 or its name",
        ));
    }
    let mut functions = Vec::new();
    for (i, f) in req.functions.iter().enumerate() {
        if directory::function(f).is_none() {
            issues.push(invalid(
                &format!("body.functions[{i}]"),
                "not a function code (see GET /directory/functions)",
            ));
        } else if !functions.contains(f) {
            functions.push(f.clone());
        }
    }
    if req.certified {
        let missing = directory::missing_common(&functions);
        if !missing.is_empty() {
            issues.push(invalid(
                "body.functions",
                &format!(
                    "certification needs every common function; missing: {}",
                    missing.join(", ")
                ),
            ));
        }
    }
    if !issues.is_empty() {
        return Err(Problem::with_issues(ErrorCode::InvalidBody, issues));
    }
    let mut audit = ctx.audit("directory.organization");
    audit.resource_type = Some("Organization".into());
    audit.resource_id = Some(code.to_string());
    let actor = format!("client {}", ctx.caller.client_id);
    let (code_text, prefecture) = (code.to_string(), prefecture.unwrap_or_default());
    app.store
        .write(move |tx| {
            let previous = tx.organization(&code_text)?;
            let (certified_at, certified_by) = match (&previous, req.certified) {
                (_, false) => (None, None),
                (Some(p), true) if p.certified => (p.certified_at, p.certified_by.clone()),
                _ => (Some(tx.now()), Some(actor)),
            };
            let row = OrganizationRow {
                code: code_text.clone(),
                name,
                prefecture,
                city: req
                    .city
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty()),
                address: req.address,
                phone: req.phone,
                url: req.url,
                certified: req.certified,
                certified_at,
                certified_by,
                functions,
                updated_at: tx.now(),
            };
            let created = tx.put_organization(&row)?;
            audit.detail = Some(format!("certified={}", row.certified));
            tx.append_audit(&[audit])?;
            let registered = tx.registered_counts(std::slice::from_ref(&code_text))?;
            let count = registered.first().map_or(0, |(_, n)| *n);
            Ok::<_, Problem>((view(row, count), created))
        })
        .await
}

/// `PUT /admin/practitioners/{id}`.
pub async fn put_practitioner(
    app: &AppState,
    ctx: &Ctx,
    id: &str,
    req: PractitionerRequest,
) -> Result<(PractitionerView, bool), Problem> {
    access::require_role(&ctx.caller, access::ADMINISTRATORS)?;
    let id = id.trim().to_owned();
    if id.is_empty()
        || id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err(Problem::new(
            ErrorCode::InvalidParameter,
            "id",
            "a practitioner id is 1-64 letters, digits, '-' or '.'",
        ));
    }
    let mut issues = Vec::new();
    if req.name.trim().is_empty() {
        issues.push(invalid("body.name", "name is required"));
    }
    let organization = InstitutionCode::parse(&req.organization).ok();
    if organization.is_none() {
        issues.push(invalid("body.organization", "a 10-digit institution code"));
    }
    for (i, q) in req.qualifications.iter().enumerate() {
        if directory::qualification(q).is_none() {
            issues.push(invalid(
                &format!("body.qualifications[{i}]"),
                "not a qualification code",
            ));
        }
    }
    if !issues.is_empty() {
        return Err(Problem::with_issues(ErrorCode::InvalidBody, issues));
    }
    let organization = organization.map(|o| o.to_string());
    let mut audit = ctx.audit("directory.practitioner");
    audit.resource_type = Some("Practitioner".into());
    audit.resource_id = Some(id.clone());
    app.store
        .write(move |tx| {
            if let Some(o) = &organization
                && tx.organization(o)?.is_none()
            {
                return Err(Problem::new(
                    ErrorCode::InvalidBody,
                    "body.organization",
                    "no such institution in the directory",
                ));
            }
            let row = PractitionerRow {
                id: id.clone(),
                name: req.name.trim().to_owned(),
                name_kana: req.name_kana,
                organization,
                qualifications: req.qualifications,
                updated_at: tx.now(),
            };
            let created = tx.put_practitioner(&row)?;
            tx.append_audit(&[audit])?;
            Ok((practitioner_view(row), created))
        })
        .await
}

fn practitioner_view(row: PractitionerRow) -> PractitionerView {
    PractitionerView {
        qualifications: row
            .qualifications
            .iter()
            .filter_map(|q| {
                directory::qualification(q).map(|l| FunctionView {
                    code: q.clone(),
                    label: l.into(),
                    common: false,
                })
            })
            .collect(),
        id: row.id,
        name: row.name,
        name_kana: row.name_kana,
        organization: row.organization,
    }
}

/// The search a person or insurer runs.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct DirectorySearch {
    /// A function code: only institutions certified for it.
    pub function: Option<String>,
    /// Prefecture code or name.
    pub prefecture: Option<String>,
    pub city: Option<String>,
    /// Words in the name or address.
    pub q: Option<String>,
    /// Page size (1-100, default 20).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// `GET /directory/organizations`: certified institutions, no authentication, no patient data.
pub async fn search(app: &AppState, search: DirectorySearch) -> Result<DirectoryPage, Problem> {
    if let Some(f) = &search.function
        && directory::function(f).is_none()
    {
        return Err(Problem::new(
            ErrorCode::InvalidParameter,
            "function",
            "not a function code (see /directory/functions)",
        ));
    }
    let prefecture = match &search.prefecture {
        Some(p) if !p.trim().is_empty() => {
            Some(directory::prefecture_code(p).ok_or_else(|| {
                Problem::new(
                    ErrorCode::InvalidParameter,
                    "prefecture",
                    "a prefecture code 01-47 or its name",
                )
            })?)
        }
        _ => None,
    };
    let query = DirectoryQuery {
        function: search.function.filter(|f| !f.is_empty()),
        prefecture,
        city: search
            .city
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty()),
        text: search
            .q
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty()),
        certified_only: true,
        limit: search.limit.unwrap_or(20).clamp(1, 100),
        offset: search.offset.unwrap_or(0).max(0),
    };
    app.store
        .read(move |tx| {
            let (rows, total) = tx.search_organizations(&query)?;
            let codes: Vec<String> = rows.iter().map(|r| r.code.clone()).collect();
            let counts = tx.registered_counts(&codes)?;
            let satisfaction = crate::service::surveys::satisfaction_of(tx, &codes)?;
            let organizations = rows
                .into_iter()
                .zip(counts)
                .zip(satisfaction)
                .map(|((row, (_, n)), s)| OrganizationView {
                    satisfaction: Some(s),
                    ..view(row, n)
                })
                .collect();
            Ok::<_, Problem>(DirectoryPage {
                total,
                organizations,
            })
        })
        .await
}

/// The function vocabulary.
pub fn functions() -> Vec<FunctionView> {
    FUNCTIONS
        .iter()
        .map(|f| FunctionView {
            code: f.code.into(),
            label: f.label.into(),
            common: f.common,
        })
        .collect()
}
