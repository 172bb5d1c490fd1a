//! The content digest of a message: what tells a re-sent copy from a different message
//! that reuses the same control id.
//!
//! A sender that retransmits a message (after a lost acknowledgement, a restart, a resend
//! from an MLLP queue) often re-stamps MSH-7 and may change segment terminators or the
//! framing, but the message itself is the same. The digest therefore covers every segment
//! as decoded text, with MSH-7 left out and terminators unified; everything else counts.

use sha2::{Digest, Sha256};

use super::message::Message;

/// SHA-256 over the decoded segments, MSH-7 excluded.
pub fn content_digest(message: &Message<'_>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for segment in message.segments() {
        if segment.name() == "MSH" {
            for n in 1..=segment.field_count() {
                if n == 7 {
                    continue;
                }
                hasher.update(segment.field(n).raw().as_bytes());
                hasher.update([0x1f]);
            }
        } else {
            hasher.update(segment.raw().as_bytes());
        }
        hasher.update(b"\r");
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(text: &str) -> [u8; 32] {
        content_digest(&Message::parse(text.as_bytes()).expect("readable"))
    }

    const BASE: &str =
        "MSH|^~\\&|APP|FAC|GW|KK|20240401090000||ADT^A08^ADT_A01|C1|P|2.5\rPID|1||P1^^^^PI||A^B\r";

    #[test]
    fn a_retransmission_with_a_new_timestamp_or_other_line_ends_is_the_same_message() {
        let restamped = BASE.replace("20240401090000", "20240401091510");
        assert_eq!(digest(BASE), digest(&restamped));
        assert_eq!(digest(BASE), digest(&BASE.replace('\r', "\r\n")));
    }

    #[test]
    fn any_other_difference_is_another_message() {
        assert_ne!(digest(BASE), digest(&BASE.replace("A^B", "A^C")));
        assert_ne!(digest(BASE), digest(&BASE.replace("ADT^A08", "ADT^A04")));
        assert_ne!(digest(BASE), digest(&format!("{BASE}OBX|1|NM|X^Y^L||1|\r")));
    }
}
