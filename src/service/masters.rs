//! The code masters in use: reloading the operator's masters (`KAKARI_MASTERS_DIR`)
//! without a restart, and the report of drug codes seen that no master maps. Admin only.

use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::access;
use crate::error::{ErrorCode, Issue, Problem};
use crate::service::Ctx;

/// One master file read.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct MasterFileView {
    /// The file name (within the masters directory).
    pub file: String,
    /// `receipt-drug master` (支払基金 医薬品マスター) or `HOT master` (MEDIS).
    pub kind: String,
    /// Usable rows.
    pub rows: usize,
}

/// A skipped row or file, located by file and line.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct MasterIssueView {
    pub code: String,
    pub location: String,
    pub message: String,
}

/// `POST /admin/masters/reload`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct ReloadReport {
    /// Whether operator masters were read (else the curated tables only).
    pub masters_dir_configured: bool,
    /// Drug products the master now knows.
    pub entries: usize,
    pub files: Vec<MasterFileView>,
    pub issues: Vec<MasterIssueView>,
}

/// Unmapped lookups of one code system.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct UnmappedView {
    /// `hot9`, `receipt`, `yj`, `local`, …
    pub system: String,
    /// Lookups that found nothing since the last (re)load.
    pub lookups: u64,
    /// The distinct codes, sorted (at most 1000).
    pub codes: Vec<String>,
    pub truncated: bool,
}

/// `POST /admin/masters/reload`: builds the master anew (curated tables plus the masters
/// directory) and swaps it in; on error the master in use stays.
pub async fn reload(app: &AppState, ctx: &Ctx) -> Result<ReloadReport, Problem> {
    access::require_role(&ctx.caller, access::ADMINISTRATORS)?;
    let dir = app.config.masters_dir.clone();
    let drugs = app.drugs.clone();
    let report = tokio::task::spawn_blocking(move || drugs.reload(dir.as_deref()))
        .await
        .map_err(|_| Problem::bare(ErrorCode::Internal))?
        .map_err(|p| Problem {
            code: ErrorCode::MastersUnreadable,
            issues: p
                .issues
                .into_iter()
                .map(|i| Issue::error(ErrorCode::MastersUnreadable, i.location, i.message))
                .collect(),
        })?;
    let mut audit = ctx.audit("masters.reload");
    audit.detail = Some(format!(
        "{} entries from {} file(s), {} issue(s)",
        report.entries,
        report.files.len(),
        report.issues.len()
    ));
    app.store
        .write(move |tx| tx.append_audit(&[audit]).map(|_| ()))
        .await?;
    Ok(ReloadReport {
        masters_dir_configured: app.config.masters_dir.is_some(),
        entries: report.entries,
        files: report
            .files
            .iter()
            .map(|(path, kind, rows)| MasterFileView {
                file: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                kind: (*kind).to_owned(),
                rows: *rows,
            })
            .collect(),
        issues: report
            .issues
            .iter()
            .map(|i| MasterIssueView {
                code: i.code.as_str().to_owned(),
                location: i.location.clone(),
                message: i.message.clone(),
            })
            .collect(),
    })
}

/// `GET /admin/masters/unmapped`: drug codes looked up since the last (re)load that no
/// master maps, per code system (codes only; no patient data).
pub fn unmapped(app: &AppState, ctx: &Ctx) -> Result<Vec<UnmappedView>, Problem> {
    access::require_role(&ctx.caller, access::ADMINISTRATORS)?;
    Ok(app
        .drugs
        .current()
        .unmapped()
        .systems
        .into_iter()
        .map(|s| UnmappedView {
            system: s.system.to_owned(),
            lookups: s.lookups,
            codes: s.codes,
            truncated: s.truncated,
        })
        .collect())
}
