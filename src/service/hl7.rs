//! `POST /hl7v2` and MLLP: one HL7 v2 message or a batch in, the acknowledgements out,
//! each built after the message was durably stored (see `messages`).

use std::sync::atomic::{AtomicU64, Ordering};

use time::OffsetDateTime;

use crate::app::AppState;
use crate::auth::access;
use crate::codec::hl7v2::{self, AckCode, Charset};
use crate::domain::datetime::now_millis;
use crate::error::{ErrorCode, Issue, Problem};
use crate::service::Ctx;
use crate::service::messages::{self, Disposition, Incoming};
use crate::telemetry;

/// The acknowledgements of a body, encoded, and their codes.
#[derive(Debug, Clone)]
pub struct Hl7Reply {
    pub bytes: Vec<u8>,
    pub charset: Charset,
    pub codes: Vec<AckCode>,
}

static ACK_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh MSH-10 for an acknowledgement (at most 20 characters).
fn ack_control_id() -> String {
    let n = ACK_COUNTER.fetch_add(1, Ordering::Relaxed) % 1_000_000;
    format!("K{}{n:06}", now_millis() % 10_000_000_000_000)
}

/// The sending institution a client writes HL7 for.
pub fn facility_of(ctx: &Ctx) -> Result<crate::domain::InstitutionCode, Problem> {
    access::require_role(&ctx.caller, access::MESSAGE_SENDERS)?;
    ctx.caller.facility.clone().ok_or_else(|| {
        Problem::new(
            ErrorCode::Forbidden,
            "",
            "the client is not bound to an institution",
        )
    })
}

/// Stores every message of `body` and returns their acknowledgements.
pub async fn receive(app: &AppState, ctx: &Ctx, body: &[u8]) -> Result<Hl7Reply, Problem> {
    let facility = facility_of(ctx)?;
    let now = OffsetDateTime::now_utc();
    let (received, envelope_issues) = hl7v2::receive(body, &facility);
    let incoming: Vec<Incoming> = if received.is_empty() {
        vec![Incoming {
            raw: body.to_vec(),
            mapped: None,
            issues: if envelope_issues.is_empty() {
                vec![Issue::error(
                    ErrorCode::Hl7NoHeader,
                    "byte 0",
                    "no MSH segment found",
                )]
            } else {
                envelope_issues.clone()
            },
            origin: None,
        }]
    } else {
        received.iter().map(Incoming::from_received).collect()
    };
    let ctx2 = ctx.clone();
    let received_at = now_millis();
    let stored = app
        .store
        .write(move |tx| messages::store_all(tx, &ctx2, &incoming, received_at))
        .await?;

    let mut codes = Vec::new();
    let mut out = Vec::new();
    let mut charset = None;
    if received.is_empty() {
        let rejected = hl7v2::Rejected {
            issues: envelope_issues,
            charset: Charset::Ascii,
        };
        let ack = hl7v2::reject_unreadable(&rejected, &ack_control_id(), now);
        telemetry::count_rejected("hl7v2", "hl7.no_header");
        return Ok(Hl7Reply {
            bytes: ack.to_bytes(),
            charset: ack.charset,
            codes: vec![ack.code],
        });
    }
    for (r, outcome) in received.iter().zip(stored) {
        let ack = match (&r.outcome, outcome) {
            (Err(rejected), _) => {
                telemetry::count_rejected("hl7v2", "hl7.unreadable");
                hl7v2::reject_unreadable(rejected, &ack_control_id(), now)
            }
            (Ok((message, mapped)), Ok(Disposition::Error)) => {
                if let Some(first) = mapped.issues.iter().find(|i| i.is_error()) {
                    telemetry::count_rejected("hl7v2", first.code.as_str());
                }
                hl7v2::acknowledge(
                    message,
                    AckCode::Error,
                    &ack_control_id(),
                    &mapped.issues,
                    now,
                )
            }
            (Ok((message, mapped)), Ok(disposition)) => {
                if let Disposition::Accepted { records, .. } = disposition {
                    telemetry::count_ingested("hl7v2", "record", records as u64);
                }
                let warnings: Vec<Issue> = mapped
                    .issues
                    .iter()
                    .filter(|i| !i.is_error())
                    .cloned()
                    .collect();
                hl7v2::acknowledge(message, AckCode::Accept, &ack_control_id(), &warnings, now)
            }
            (Ok((message, _)), Err(problem)) => hl7v2::acknowledge(
                message,
                AckCode::Error,
                &ack_control_id(),
                &problem.issues,
                now,
            ),
        };
        charset.get_or_insert(ack.charset);
        codes.push(ack.code);
        out.extend(ack.to_bytes());
    }
    Ok(Hl7Reply {
        bytes: out,
        charset: charset.unwrap_or(Charset::Ascii),
        codes,
    })
}
