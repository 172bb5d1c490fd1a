//! HL7 v2.5 messages as SS-MIX2 and Japanese EMRs send them: ER7 (pipe) text in
//! ISO-2022-JP, Shift_JIS or UTF-8.
//!
//! The path of a body through this module:
//!
//! 1. `batch::split` cuts a body into messages at segment starts (safe on raw bytes) and
//!    keeps each message's byte offset;
//! 2. `Message::parse` decodes one message's bytes (`charset`: what the bytes are, checked
//!    against MSH-18) and indexes the text once (`message`): segments and field
//!    separators; everything finer is found on demand, as slices (`Value`) with
//!    locations (`location`) and escapes resolved on read (`escape`);
//! 3. `map::map_message` checks the segment order (`structure`) and turns the message
//!    into canonical records for the facility that sent it (`map`);
//! 4. `ack::acknowledge` answers AA / AE / AR with ERR locations, in the message's own
//!    character set (`ack::reject_unreadable` when not even an MSH was readable).
//!
//! `receive` runs steps 1–3 for a whole body. No input makes this module panic; every
//! problem is an `Issue` with a location and no patient data.

pub mod ack;
pub mod batch;
pub mod charset;
pub mod delimiters;
pub mod digest;
pub mod escape;
pub mod location;
pub mod map;
pub mod message;
pub mod structure;

pub use ack::{AckCode, Acknowledgement, acknowledge, reject_unreadable};
pub use charset::Charset;
pub use digest::content_digest;
pub use location::Location;
pub use map::{ClinicalRecord, MappedMessage, MappedRecord, MessageFamily, map_message};
pub use message::{Message, Rejected, Segment, Value};

use crate::domain::InstitutionCode;
use crate::error::Issue;

/// One message of a body, read and mapped, or refused.
#[derive(Debug)]
pub struct Received<'a> {
    /// Byte offset of the message in the body.
    pub offset: usize,
    /// The message's bytes, to store as received.
    pub bytes: &'a [u8],
    pub outcome: Result<(Message<'a>, MappedMessage), Rejected>,
}

/// Reads every message of `body` (one message or a batch) for `facility`, the sending
/// institution of the client binding. Issues of the envelope come back beside them.
pub fn receive<'a>(body: &'a [u8], facility: &InstitutionCode) -> (Vec<Received<'a>>, Vec<Issue>) {
    let batch = batch::split(body);
    let received = batch
        .messages
        .iter()
        .map(|raw| Received {
            offset: raw.offset,
            bytes: raw.bytes,
            outcome: Message::parse(raw.bytes)
                .map(|message| {
                    let mut mapped = map_message(&message, facility);
                    if raw.bom {
                        mapped.issues.insert(0, message::byte_order_mark_warning());
                    }
                    (message, mapped)
                })
                .map_err(|mut rejected| {
                    if raw.bom {
                        rejected.issues.push(message::byte_order_mark_warning());
                    }
                    rejected
                }),
        })
        .collect();
    (received, batch.issues)
}
