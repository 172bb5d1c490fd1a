//! `POST /hl7v2` and MLLP: one HL7 v2 message or a batch in, the acknowledgements out,
//! each built after the message was durably stored (see `messages`).

use std::sync::atomic::{AtomicU64, Ordering};

use time::OffsetDateTime;

use crate::app::AppState;
use crate::auth::access;
use crate::codec::hl7v2::{self, AckCode, Charset};
use crate::domain::datetime::now_millis;
use crate::error::{ErrorCode, Issue, Problem};
use crate::intake::report::key_reused;
use crate::intake::{Disposition, Incoming};
use crate::service::Ctx;
use crate::service::messages;
use crate::telemetry;

/// The acknowledgements of a body, encoded, and their codes.
#[derive(Debug, Clone)]
pub struct Hl7Reply {
    pub bytes: Vec<u8>,
    pub charset: Charset,
    pub codes: Vec<AckCode>,
    /// False when the database was unavailable (or a concurrent change got in the way):
    /// those messages were answered AR with their own MSH-10 in MSA-2, to be sent again.
    pub stored: bool,
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

/// Stores every message of `body` and returns their acknowledgements. A database
/// failure answers every message AR (MSA-2 its own MSH-10, ERR `store.unavailable`), so a
/// sender knows which messages to send again; nothing of the body was stored then.
pub async fn receive(app: &AppState, ctx: &Ctx, body: &[u8]) -> Result<Hl7Reply, Problem> {
    let facility = facility_of(ctx)?;
    let now = OffsetDateTime::now_utc();
    let (received, envelope_issues) = hl7v2::receive(body, &facility);
    if received.is_empty() {
        return Ok(unreadable_body(app, ctx, body, envelope_issues, now).await);
    }
    // Segments outside any message were not read: never dropped in silence. The body is
    // quarantined with the located errors and answered with one AR of its own, after the
    // messages' acknowledgements; envelope warnings (a declared count that differs) go
    // with the first message's.
    let (envelope_errors, mut envelope_notes): (Vec<Issue>, Vec<Issue>) =
        envelope_issues.into_iter().partition(Issue::is_error);
    let mut incoming: Vec<Incoming> = received.iter().map(Incoming::from_received).collect();
    if !envelope_errors.is_empty() {
        incoming.push(Incoming::unreadable(body.to_vec(), envelope_errors.clone()));
    }
    let units = incoming.len();
    let ctx2 = ctx.clone();
    let received_at = now_millis();
    let stored = app
        .store
        .write(move |tx| messages::store_all(tx, &ctx2, &incoming, received_at))
        .await;
    let outcomes: Vec<Result<Disposition, Problem>> = match stored {
        Ok(outcomes) => outcomes,
        Err(problem) => {
            tracing::warn!(code = %problem.code, messages = received.len(), "HL7 v2 body not stored");
            (0..units).map(|_| Err(problem.clone())).collect()
        }
    };
    let envelope_outcome = outcomes.get(received.len()).cloned();
    let mut reply = Hl7Reply {
        bytes: Vec::new(),
        charset: Charset::Ascii,
        codes: Vec::new(),
        stored: true,
    };
    for (i, (r, outcome)) in received.iter().zip(outcomes).enumerate() {
        let ack = match &r.outcome {
            Err(rejected) => {
                telemetry::count_rejected("hl7v2", "hl7.unreadable");
                hl7v2::reject_unreadable(rejected, &ack_control_id(), now)
            }
            Ok((message, mapped)) => {
                if outcome
                    .as_ref()
                    .is_err_and(|p| p.code == ErrorCode::StoreUnavailable)
                {
                    reply.stored = false;
                }
                let (code, mut issues) = answer(mapped, outcome);
                if i == 0 {
                    issues.append(&mut envelope_notes);
                }
                hl7v2::acknowledge(message, code, &ack_control_id(), &issues, now)
            }
        };
        if i == 0 {
            reply.charset = ack.charset;
        }
        reply.codes.push(ack.code);
        reply.bytes.extend(ack.to_bytes());
    }
    if let Some(outcome) = envelope_outcome {
        if outcome.is_err() {
            reply.stored = false;
        }
        telemetry::count_rejected("hl7v2", ErrorCode::Hl7Batch.as_str());
        let rejected = hl7v2::Rejected {
            issues: envelope_errors,
            charset: reply.charset,
        };
        let ack = hl7v2::reject_unreadable(&rejected, &ack_control_id(), now);
        reply.codes.push(ack.code);
        reply.bytes.extend(ack.to_bytes());
    }
    Ok(reply)
}

/// The acknowledgement code and ERR issues of a readable message from what became of it.
fn answer(
    mapped: &hl7v2::MappedMessage,
    outcome: Result<Disposition, Problem>,
) -> (AckCode, Vec<Issue>) {
    let warnings = || -> Vec<Issue> {
        mapped
            .issues
            .iter()
            .filter(|i| !i.is_error())
            .cloned()
            .collect()
    };
    match outcome {
        Ok(Disposition::Accepted {
            records,
            warnings: stored,
            ..
        }) => {
            telemetry::count_ingested("hl7v2", "record", records as u64);
            let mut issues = warnings();
            issues.extend(stored);
            (AckCode::Accept, issues)
        }
        Ok(Disposition::Duplicate | Disposition::Superseded { .. }) => {
            (AckCode::Accept, warnings())
        }
        Ok(Disposition::Error | Disposition::Rejected) => {
            if let Some(first) = mapped.issues.iter().find(|i| i.is_error()) {
                telemetry::count_rejected("hl7v2", first.code.as_str());
            }
            (AckCode::Error, mapped.issues.clone())
        }
        Ok(Disposition::KeyReused) => {
            telemetry::count_rejected("hl7v2", ErrorCode::IntakeKeyReused.as_str());
            (AckCode::Error, vec![key_reused(false)])
        }
        Err(problem) => {
            // Nothing of the message was stored: AR, so the sender sends it again.
            let text = match problem.code {
                ErrorCode::StoreUnavailable => {
                    "database unavailable; nothing stored, send the message again later"
                }
                ErrorCode::StoreConflict => {
                    "concurrent change; nothing stored, send the message again"
                }
                _ => "not stored (internal error); send the message again later",
            };
            (
                AckCode::Reject,
                vec![Issue::error(problem.code, "MSH-10", text)],
            )
        }
    }
}

/// A body in which no message could be found: kept in quarantine, answered AR.
async fn unreadable_body(
    app: &AppState,
    ctx: &Ctx,
    body: &[u8],
    envelope_issues: Vec<Issue>,
    now: OffsetDateTime,
) -> Hl7Reply {
    let issues = if envelope_issues.is_empty() {
        vec![Issue::error(
            ErrorCode::Hl7NoHeader,
            "byte 0",
            "no MSH segment found",
        )]
    } else {
        envelope_issues
    };
    let incoming = vec![Incoming::unreadable(body.to_vec(), issues.clone())];
    let ctx2 = ctx.clone();
    let received_at = now_millis();
    let kept = app
        .store
        .write(move |tx| messages::store_all(tx, &ctx2, &incoming, received_at))
        .await;
    let rejected = hl7v2::Rejected {
        issues,
        charset: Charset::Ascii,
    };
    let ack = hl7v2::reject_unreadable(&rejected, &ack_control_id(), now);
    telemetry::count_rejected("hl7v2", "hl7.no_header");
    Hl7Reply {
        bytes: ack.to_bytes(),
        charset: ack.charset,
        codes: vec![ack.code],
        stored: kept.is_ok(),
    }
}

/// Answers every message of `body` AR for `issue` (nothing was stored), each with its own
/// MSH-10 in MSA-2; a body without a readable message gets one minimal AR.
pub fn refuse_all(body: &[u8], issue: Issue) -> Vec<u8> {
    let now = OffsetDateTime::now_utc();
    let messages = hl7v2::batch::split(body).messages;
    let mut out = Vec::new();
    for raw in &messages {
        let ack = match hl7v2::Message::parse(raw.bytes) {
            Ok(message) => hl7v2::acknowledge(
                &message,
                AckCode::Reject,
                &ack_control_id(),
                std::slice::from_ref(&issue),
                now,
            ),
            Err(rejected) => hl7v2::reject_unreadable(&rejected, &ack_control_id(), now),
        };
        out.extend(ack.to_bytes());
    }
    if messages.is_empty() {
        let rejected = hl7v2::Rejected {
            issues: vec![issue],
            charset: Charset::Ascii,
        };
        out = hl7v2::reject_unreadable(&rejected, &ack_control_id(), now).to_bytes();
    }
    out
}
