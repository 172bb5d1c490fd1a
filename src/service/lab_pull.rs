//! `GET /insurer/lab-results`: an insurer pulls the lab values of its own members who have
//! an active registration and consent, in commit order, from an opaque cursor.
//!
//! A page is at most `MAX_PAGE` results, read in one query (so memory is bounded by the
//! page, never by the feed); the export is audited (one row per person) before any value
//! leaves; then FHIR and CSV are encoded in chunks onto the response stream. The `tokutei`
//! ZIP is built for the page (its index must list every document).

use std::collections::{BTreeMap, BTreeSet};

use actix_web::web::Bytes;
use serde_json::json;
use tokio::sync::mpsc;

use crate::app::AppState;
use crate::auth::access;
use crate::codec::fhir::render;
use crate::codec::{lab_csv, tokutei};
use crate::domain::{InstitutionCode, InsurerNumber, MemberId, Sex};
use crate::error::{ErrorCode, Problem};
use crate::service::Ctx;
use crate::store::lab_feed::{LabFeedItem, MAX_PAGE};

/// The formats an insurer can pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullFormat {
    Fhir,
    Csv,
    Tokutei,
}

impl PullFormat {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "fhir" => Self::Fhir,
            "csv" => Self::Csv,
            "tokutei" => Self::Tokutei,
            _ => return None,
        })
    }
}

/// A pull request.
#[derive(Debug, Clone)]
pub struct PullRequest {
    pub since: Option<String>,
    pub format: PullFormat,
    pub limit: i64,
}

/// The response body: streamed batches, or one buffer.
pub enum ExportBody {
    Stream(mpsc::Receiver<Result<Bytes, Problem>>),
    Whole(Vec<u8>),
}

/// What an export returns: body, type, the cursor of the next page, and counts.
pub struct LabExport {
    pub content_type: &'static str,
    pub file_name: Option<String>,
    pub next_cursor: String,
    pub results: usize,
    /// `tokutei`: what was left out and why (counts only).
    pub report: Option<serde_json::Value>,
    pub body: ExportBody,
}

/// Results encoded per chunk of the response stream.
const CHUNK: usize = 500;
pub const DEFAULT_LIMIT: i64 = 1000;

/// The opaque cursor of a feed position.
pub fn encode_cursor(seq: i64) -> String {
    super::cursor::encode("kakari-lab-v1", seq)
}

pub fn decode_cursor(cursor: &str) -> Result<i64, Problem> {
    super::cursor::decode("kakari-lab-v1", cursor, "since")
}

fn insurer_of(ctx: &Ctx) -> Result<InsurerNumber, Problem> {
    access::require_role(&ctx.caller, access::INSURERS)?;
    ctx.caller.insurer.clone().ok_or_else(|| {
        Problem::new(
            ErrorCode::Forbidden,
            "",
            "the client is not bound to an insurer",
        )
    })
}

fn person_id(pk: i64) -> String {
    format!("person-{pk}")
}

/// `GET /insurer/lab-results`.
pub async fn pull(app: &AppState, ctx: &Ctx, request: PullRequest) -> Result<LabExport, Problem> {
    let insurer = insurer_of(ctx)?;
    let after = match &request.since {
        Some(c) if !c.is_empty() => decode_cursor(c)?,
        _ => 0,
    };
    if !(1..=MAX_PAGE).contains(&request.limit) {
        return Err(Problem::new(
            ErrorCode::InvalidParameter,
            "limit",
            "limit must be 1 to 10000",
        ));
    }
    let key = insurer.as_str().to_owned();
    let (k, limit) = (key.clone(), request.limit);
    // One read of the page (at most MAX_PAGE results, so memory is bounded by the limit,
    // never by the feed): the audit names exactly the persons whose results are released.
    let page = app
        .store
        .read(move |tx| tx.lab_feed_next(&k, after, limit))
        .await?;
    let upto = page.last().map_or(after, |item| item.seq);
    let persons: BTreeSet<i64> = page.iter().map(|item| item.person.pk).collect();
    let format = match request.format {
        PullFormat::Fhir => "fhir",
        PullFormat::Csv => "csv",
        PullFormat::Tokutei => "tokutei",
    };
    // Audit before release: if this write fails, nothing is sent.
    let audit: Vec<_> = persons
        .iter()
        .map(|p| {
            let mut e = ctx.audit("export");
            e.resource_type = Some("Observation".into());
            e.person_pk = Some(*p);
            e.detail = Some(format!("lab-results format={format}"));
            e
        })
        .collect();
    if !audit.is_empty() {
        app.store
            .write(move |tx| tx.append_audit(&audit).map(|_| ()))
            .await?;
    }
    let next_cursor = encode_cursor(upto);
    let results = page.len();
    match request.format {
        PullFormat::Csv | PullFormat::Fhir => {
            let (sender, receiver) = mpsc::channel(4);
            let items = app.checkup_items;
            let fhir = request.format == PullFormat::Fhir;
            let next_link = format!(
                "/insurer/lab-results?since={next_cursor}&format=fhir&limit={}",
                request.limit
            );
            tokio::task::spawn_blocking(move || {
                let encoder = if fhir {
                    Encoder::Fhir {
                        next_link,
                        first: true,
                        seen: BTreeSet::new(),
                    }
                } else {
                    Encoder::Csv
                };
                stream(&page, encoder, items, sender)
            });
            Ok(LabExport {
                content_type: if fhir {
                    "application/fhir+json; charset=utf-8"
                } else {
                    "text/csv; charset=utf-8"
                },
                file_name: None,
                next_cursor,
                results,
                report: None,
                body: ExportBody::Stream(receiver),
            })
        }
        PullFormat::Tokutei => {
            let items = app.checkup_items;
            let sender = InstitutionCode::parse(&app.config.institution_code).map_err(|_| {
                Problem::new(
                    ErrorCode::Internal,
                    "institution_code",
                    "the gateway's institution code is invalid",
                )
            })?;
            let archive = tokio::task::spawn_blocking(move || {
                tokutei_archive(&page, &insurer, sender, items)
            })
            .await
            .map_err(|_| Problem::bare(ErrorCode::Internal))??;
            let report = serde_json::to_value(&archive.report).ok();
            Ok(LabExport {
                content_type: "application/zip",
                file_name: Some(archive.file_name),
                next_cursor,
                results,
                report,
                body: ExportBody::Whole(archive.bytes),
            })
        }
    }
}

enum Encoder {
    Csv,
    Fhir {
        next_link: String,
        first: bool,
        seen: BTreeSet<i64>,
    },
}

impl Encoder {
    fn start(&self) -> Vec<u8> {
        match self {
            Encoder::Csv => lab_csv::header(),
            Encoder::Fhir { next_link, .. } => format!(
                "{{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"link\":[{{\"relation\":\"next\",\"url\":{}}}],\"entry\":[",
                json!(next_link)
            )
            .into_bytes(),
        }
    }

    fn item(
        &mut self,
        item: &LabFeedItem,
        items: &crate::mapping::checkup_items::CheckupItems,
        out: &mut Vec<u8>,
    ) {
        let Ok(member) = MemberId::parse(&item.person.member_key) else {
            return;
        };
        match self {
            Encoder::Csv => out.extend(lab_csv::result_row(item.seq, &member, &item.result, items)),
            Encoder::Fhir { first, seen, .. } => {
                let patient = person_id(item.person.pk);
                let mut entries = Vec::new();
                if seen.insert(item.person.pk) {
                    entries.push(render::person_patient(
                        &patient,
                        &member,
                        item.person.birth_date.as_deref(),
                        item.person.sex.as_deref(),
                    ));
                    entries.push(render::member_coverage(
                        &format!("coverage-{}", item.person.pk),
                        &patient,
                        &member,
                    ));
                }
                entries.push(render::lab_observation(
                    &format!("lab-{}", item.pk),
                    &patient,
                    &item.result,
                ));
                for resource in entries {
                    if !*first {
                        out.push(b',');
                    }
                    *first = false;
                    out.extend(render::bundle_entry(resource).to_string().into_bytes());
                }
            }
        }
    }

    fn end(&self) -> Vec<u8> {
        match self {
            Encoder::Csv => Vec::new(),
            Encoder::Fhir { .. } => b"]}".to_vec(),
        }
    }
}

/// Encodes the page in chunks of `CHUNK` results onto the response stream.
fn stream(
    page: &[LabFeedItem],
    mut encoder: Encoder,
    items: &'static crate::mapping::checkup_items::CheckupItems,
    sender: mpsc::Sender<Result<Bytes, Problem>>,
) {
    if sender
        .blocking_send(Ok(Bytes::from(encoder.start())))
        .is_err()
    {
        return;
    }
    for chunk in page.chunks(CHUNK) {
        let mut out = Vec::new();
        for item in chunk {
            encoder.item(item, items, &mut out);
        }
        if sender.blocking_send(Ok(Bytes::from(out))).is_err() {
            return;
        }
    }
    let _ = sender.blocking_send(Ok(Bytes::from(encoder.end())));
}

fn tokutei_archive(
    page: &[LabFeedItem],
    insurer: &InsurerNumber,
    sender: InstitutionCode,
    items: &'static crate::mapping::checkup_items::CheckupItems,
) -> Result<tokutei::ExportedArchive, Problem> {
    let today = time::OffsetDateTime::now_utc()
        .to_offset(crate::domain::datetime::JST)
        .date();
    let header = tokutei::ArchiveHeader {
        sender,
        receiver: insurer.clone(),
        created: today,
        split: 0,
    };
    let mut writer = tokutei::ArchiveWriter::new(header, items)?;
    // One document per person and exam date.
    let mut people: BTreeMap<i64, Vec<&LabFeedItem>> = BTreeMap::new();
    for item in page {
        people.entry(item.person.pk).or_default().push(item);
    }
    for group in people.values() {
        let person = &group[0].person;
        let Ok(member) = MemberId::parse(&person.member_key) else {
            continue;
        };
        let demographics = crate::domain::Demographics {
            birth_date: person
                .birth_date
                .as_deref()
                .and_then(|b| crate::domain::FhirDateTime::parse(b).ok())
                .and_then(|d| d.date()),
            sex: person.sex.as_deref().and_then(Sex::from_fhir),
            name: None,
            name_kana: None,
            names: Vec::new(),
        };
        let results: Vec<_> = group.iter().map(|i| i.result.clone()).collect();
        writer.add_person(&member, &demographics, &results)?;
    }
    writer.finish()
}
