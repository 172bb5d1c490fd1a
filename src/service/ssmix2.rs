//! `POST /ssmix2`: an SS-MIX2 standardized storage tree in a zip, tar or tar.gz archive.
//!
//! The upload is spooled to a temporary file (never held in memory) and read entry by
//! entry; files are decoded, checked against the storage rules, and stored in chunks (one
//! unit of work per chunk, a savepoint per file), and the per-file report is streamed out
//! as each chunk commits. Memory is bounded by the chunk size, whatever the archive size.
//! The archive is walked by `codec::archive` (limits and refusals are described there);
//! each file is read by `intake::storage_file` and decided on by `intake::decide`, as
//! `kakari convert` does, and reported in the vocabulary of `intake::report`.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;
use std::sync::Arc;

use actix_web::web::Bytes;
use tokio::sync::mpsc;

use crate::app::AppState;
use crate::codec::archive::{self, ArchiveKind, sniff, walk_archive};
use crate::domain::InstitutionCode;
use crate::domain::datetime::now_millis;
use crate::error::{ErrorCode, Problem};
use crate::intake::report::{report_of, stop_problem};
use crate::intake::storage_file::{TreeItem, tree_item};
use crate::intake::{FileReport, ImportSummary, Incoming};
use crate::service::Ctx;
use crate::service::messages;
use crate::telemetry;

/// Files per unit of work.
const CHUNK: usize = 256;

/// Stores the files of a chunk in one unit of work and returns their reports.
fn flush(
    app: &AppState,
    ctx: &Ctx,
    chunk: &mut Vec<(String, Incoming)>,
) -> Result<Vec<FileReport>, Problem> {
    if chunk.is_empty() {
        return Ok(Vec::new());
    }
    let taken = std::mem::take(chunk);
    let incoming: Vec<Incoming> = taken.iter().map(|(_, i)| i.clone()).collect();
    let ctx2 = ctx.clone();
    let received_at = now_millis();
    let outcomes = app
        .store
        .write_blocking(move |tx| messages::store_all(tx, &ctx2, &incoming, received_at))?;
    Ok(taken
        .into_iter()
        .zip(outcomes)
        .map(|((path, incoming), outcome)| report_of(path, &incoming, outcome))
        .collect())
}

/// Imports an archive already spooled to `path`; the streamed report goes to `sender`.
/// Returns an error before anything is sent when the archive cannot be read at all.
pub fn check_archive(path: &Path) -> Result<ArchiveKind, Problem> {
    let mut file = File::open(path).map_err(|_| Problem::bare(ErrorCode::Internal))?;
    let mut head = [0u8; 512];
    let n = file
        .read(&mut head)
        .map_err(|_| Problem::bare(ErrorCode::Internal))?;
    sniff(&head[..n]).ok_or_else(|| {
        Problem::new(
            ErrorCode::UnsupportedMediaType,
            "body",
            "an SS-MIX2 upload is a zip, tar or tar.gz archive",
        )
    })
}

/// Runs an import on the current (blocking) thread, sending report fragments.
pub fn run(
    app: Arc<AppState>,
    ctx: Ctx,
    path: &Path,
    kind: ArchiveKind,
    facility: InstitutionCode,
    sender: mpsc::Sender<Result<Bytes, Problem>>,
) {
    let send = |text: String| sender.blocking_send(Ok(Bytes::from(text))).is_ok();
    if !send("{\"format\":\"ssmix2\",\"files\":[".into()) {
        return;
    }
    let mut summary = ImportSummary::default();
    let mut first = true;
    let mut emit = |reports: Vec<FileReport>, summary: &mut ImportSummary| -> bool {
        let mut text = String::new();
        for r in &reports {
            summary.add(r);
            if !first {
                text.push(',');
            }
            first = false;
            text.push_str(&serde_json::to_string(r).unwrap_or_default());
        }
        text.is_empty() || send(text)
    };
    let file = match File::open(path).and_then(|mut f| f.rewind().map(|()| f)) {
        Ok(f) => f,
        Err(_) => {
            let _ = sender.blocking_send(Err(Problem::bare(ErrorCode::Internal)));
            return;
        }
    };
    let mut chunk: Vec<(String, Incoming)> = Vec::with_capacity(CHUNK);
    let mut failure: Option<Problem> = None;
    let limits = archive::Limits::default();
    let walked = walk_archive(file, kind, &limits, &archive::everything, &mut |entry| {
        let direct = match tree_item(entry, &facility) {
            TreeItem::File { path, incoming } => {
                chunk.push((path, *incoming));
                None
            }
            TreeItem::Reported(report) => Some(*report),
        };
        if let Some(report) = direct
            && !emit(vec![report], &mut summary)
        {
            return false;
        }
        if chunk.len() >= CHUNK {
            match flush(&app, &ctx, &mut chunk) {
                Ok(reports) => emit(reports, &mut summary),
                Err(p) => {
                    failure = Some(p);
                    false
                }
            }
        } else {
            true
        }
    });
    if failure.is_none() {
        match flush(&app, &ctx, &mut chunk) {
            Ok(reports) => {
                emit(reports, &mut summary);
            }
            Err(p) => failure = Some(p),
        }
    }
    let archive_problem = walked.err().map(stop_problem).or(failure);
    let mut tail = format!(
        "],\"summary\":{}",
        serde_json::to_string(&summary).unwrap_or_default()
    );
    if let Some(p) = &archive_problem {
        // The archive broke (or the database failed) part-way: everything reported above
        // as accepted was committed; the rest was not.
        tail.push_str(&format!(
            ",\"stopped\":{{\"code\":\"{}\",\"message\":{}}}",
            p.code.as_str(),
            serde_json::to_string(
                &p.issues
                    .first()
                    .map(|i| i.message.clone())
                    .unwrap_or_default()
            )
            .unwrap_or_default()
        ));
    }
    tail.push('}');
    telemetry::count_ingested("ssmix2", "file", summary.accepted);
    let _ = send(tail);
}
