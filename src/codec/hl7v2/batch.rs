//! Bodies that hold several messages: HL7 batches (`FHS`/`BHS` … `MSH` … `BTS`/`FTS`) and
//! plain runs of messages one after another.
//!
//! The body is cut into messages on the raw bytes, at segment starts only. That is safe
//! before decoding: CR and LF never occur inside a Shift_JIS or UTF-8 character, and
//! ISO-2022-JP returns to ASCII before each line end. Each message is then decoded on its
//! own (`Message::parse`) and keeps its byte offset in the body, so a report or a
//! quarantine can point at it.

use memchr::memchr2_iter;

use super::charset::BYTE_ORDER_MARK;
use crate::error::{ErrorCode, Issue};

/// The most messages one body may hold.
pub const MAX_MESSAGES: usize = 100_000;

/// One message's bytes within a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawMessage<'a> {
    /// Byte offset of the `MSH` in the body.
    pub offset: usize,
    pub bytes: &'a [u8],
    /// True when a UTF-8 byte-order mark stood before this message's `MSH` or before the
    /// batch header that opens it (the mark is not part of `bytes`).
    pub bom: bool,
}

/// A body cut into messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch<'a> {
    pub messages: Vec<RawMessage<'a>>,
    /// True when the body had a file or batch envelope.
    pub envelope: bool,
    pub issues: Vec<Issue>,
}

/// Cuts a body into messages. Never fails; envelope inconsistencies and segments outside
/// any message are issues.
pub fn split(bytes: &[u8]) -> Batch<'_> {
    let mut batch = Batch {
        messages: Vec::new(),
        envelope: false,
        issues: Vec::new(),
    };
    let mut current: Option<usize> = None;
    let mut declared_counts: Vec<(usize, &str, usize)> = Vec::new();
    let mut line_start = 0;
    let ends = memchr2_iter(b'\r', b'\n', bytes).chain(std::iter::once(bytes.len()));
    let mut messages: Vec<(usize, usize, bool)> = Vec::new();
    let mut bom_pending = false;
    let mut current_bom = false;
    for end in ends {
        let mut line = bytes.get(line_start..end).unwrap_or_default();
        let line_begin = line_start;
        let mut start = line_start;
        line_start = end + 1;
        // A byte-order mark before a header (start of the body, or of each concatenated
        // file) is dropped and remembered for the message that follows.
        if let Some(rest) = line.strip_prefix(BYTE_ORDER_MARK) {
            bom_pending = true;
            line = rest;
            start += BYTE_ORDER_MARK.len();
        }
        if line.is_empty() {
            continue;
        }
        let tag = line.get(..3).unwrap_or(line);
        let has_separator = line.get(3).is_some_and(u8::is_ascii_punctuation);
        match tag {
            b"MSH" if has_separator => {
                if let Some(from) = current.take() {
                    messages.push((from, line_begin, current_bom));
                }
                if messages.len() >= MAX_MESSAGES {
                    batch.issues.push(Issue::error(
                        ErrorCode::Hl7TooLarge,
                        format!("byte {start}"),
                        format!(
                            "body holds more than {MAX_MESSAGES} messages; the rest was not read"
                        ),
                    ));
                    return finish(batch, bytes, messages, declared_counts);
                }
                current = Some(start);
                current_bom = std::mem::take(&mut bom_pending);
            }
            b"FHS" | b"BHS" | b"BTS" | b"FTS" if has_separator || line.len() == 3 => {
                if let Some(from) = current.take() {
                    messages.push((from, line_begin, current_bom));
                }
                batch.envelope = true;
                if tag == b"BTS" || tag == b"FTS" {
                    let count = count_field(line);
                    let name = if tag == b"BTS" { "BTS-1" } else { "FTS-1" };
                    if let Some(count) = count {
                        declared_counts.push((start, name, count));
                    }
                }
            }
            _ if current.is_none() => batch.issues.push(Issue::error(
                ErrorCode::Hl7Batch,
                format!("byte {start}"),
                "segment outside any message (no MSH before it); not read",
            )),
            _ => {}
        }
    }
    if let Some(from) = current.take() {
        messages.push((from, bytes.len(), current_bom));
    }
    finish(batch, bytes, messages, declared_counts)
}

fn finish<'a>(
    mut batch: Batch<'a>,
    bytes: &'a [u8],
    messages: Vec<(usize, usize, bool)>,
    declared_counts: Vec<(usize, &str, usize)>,
) -> Batch<'a> {
    batch.messages = messages
        .into_iter()
        .map(|(from, to, bom)| RawMessage {
            offset: from,
            bytes: trim_end(bytes.get(from..to).unwrap_or_default()),
            bom,
        })
        .collect();
    // BTS-1 counts the messages of its batch, FTS-1 the batches of the file: only a single
    // batch's BTS can be checked against the message count without a batch tree.
    if let [(offset, "BTS-1", count)] = declared_counts
        .iter()
        .filter(|(_, name, _)| *name == "BTS-1")
        .copied()
        .collect::<Vec<_>>()
        .as_slice()
        && *count != batch.messages.len()
    {
        batch.issues.push(Issue::warning(
            ErrorCode::Hl7Batch,
            format!("byte {offset}"),
            format!(
                "BTS-1 declares {count} messages but the batch holds {}",
                batch.messages.len()
            ),
        ));
    }
    batch
}

fn count_field(line: &[u8]) -> Option<usize> {
    let separator = *line.get(3)?;
    let field = line.get(4..)?.split(|&b| b == separator).next()?;
    let text = std::str::from_utf8(field).ok()?;
    if text.is_empty() || text.len() > 9 {
        return None;
    }
    text.parse().ok()
}

fn trim_end(bytes: &[u8]) -> &[u8] {
    let keep = bytes
        .iter()
        .rposition(|&b| b != b'\r' && b != b'\n')
        .map_or(0, |i| i + 1);
    bytes.get(..keep).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_message_is_one_message() {
        let body = b"MSH|^~\\&|A\rPID|1\r";
        let batch = split(body);
        assert_eq!(batch.messages.len(), 1);
        assert_eq!(batch.messages[0].offset, 0);
        assert_eq!(batch.messages[0].bytes, b"MSH|^~\\&|A\rPID|1");
        assert!(!batch.envelope);
        assert!(batch.issues.is_empty());
    }

    #[test]
    fn batches_keep_offsets_and_check_the_count() {
        let body = b"FHS|^~\\&\rBHS|^~\\&\rMSH|^~\\&|1\rPID|1\rMSH|^~\\&|2\nPID|2\nBTS|3\rFTS|1\r";
        let batch = split(body);
        assert!(batch.envelope);
        assert_eq!(batch.messages.len(), 2);
        assert_eq!(batch.messages[0].offset, 18);
        assert_eq!(batch.messages[1].offset, 35);
        assert_eq!(batch.messages[1].bytes, b"MSH|^~\\&|2\nPID|2");
        assert_eq!(batch.issues.len(), 1);
        assert_eq!(batch.issues[0].code, ErrorCode::Hl7Batch);
        assert!(!batch.issues[0].is_error());
    }

    #[test]
    fn byte_order_marks_before_headers_are_dropped_and_remembered() {
        let body =
            b"\xEF\xBB\xBFFHS|^~\\&\rMSH|^~\\&|1\rPID|1\r\xEF\xBB\xBFMSH|^~\\&|2\rMSH|^~\\&|3\r";
        let batch = split(body);
        assert!(batch.issues.is_empty(), "{:?}", batch.issues);
        let found: Vec<(&[u8], bool)> = batch.messages.iter().map(|m| (m.bytes, m.bom)).collect();
        assert_eq!(
            found,
            [
                (b"MSH|^~\\&|1\rPID|1".as_slice(), true),
                (b"MSH|^~\\&|2".as_slice(), true),
                (b"MSH|^~\\&|3".as_slice(), false),
            ]
        );
        assert_eq!(batch.messages[1].offset, 32);
        assert_eq!(&body[32..35], b"MSH");
    }

    #[test]
    fn segments_before_any_header_are_reported() {
        let batch = split(b"PID|1\rMSH|^~\\&|1\r");
        assert_eq!(batch.messages.len(), 1);
        assert_eq!(batch.issues[0].location, "byte 0");
        assert!(split(b"").messages.is_empty());
    }
}
