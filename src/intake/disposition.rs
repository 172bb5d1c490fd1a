//! What becomes of one decoded message or storage file: the rule the gateway applies
//! against its database and `kakari convert` applies in memory, written once.
//!
//! In order:
//! 1. nothing readable (no MSH) → [`Verdict::Unreadable`] (kept in quarantine; AR);
//! 2. an SS-MIX2 invalidation file (condition flag `0`) → claims its key, then
//!    [`Verdict::Invalidation`]: the current files of the same record are withdrawn;
//! 3. errors (required fields, storage rules) → [`Verdict::Invalid`] (quarantine; AE). The
//!    key is not claimed, so a corrected message under the same key is processed;
//! 4. the key was claimed before: with the same content (a re-send) →
//!    [`Verdict::Duplicate`], nothing written, acknowledged again; with other content →
//!    [`Verdict::KeyReused`]: refused (quarantine; AE, `intake.key_reused`), never
//!    acknowledged as stored;
//! 5. otherwise [`Verdict::Accept`].
//!
//! The key is the SS-MIX2 file name, else the sender (MSH-3, MSH-4) and MSH-10; the
//! content is compared by digest (`Incoming::digest`).

use super::incoming::Incoming;
use crate::error::Issue;

/// What a key claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// First time: the key is now claimed with this content.
    New,
    /// Claimed before with the same content digest (or by an input whose digest was not
    /// recorded).
    SameContent,
    /// Claimed before with another content.
    OtherContent,
}

/// The keys seen so far: the database's idempotency keys, or a set in memory.
pub trait SeenKeys {
    type Error;
    /// Claims `key` for content `digest`, or reports how it was claimed before.
    fn claim(&mut self, key: &str, digest: &[u8; 32]) -> Result<KeyState, Self::Error>;
}

/// Keys seen in memory (one conversion run, one test).
#[derive(Debug, Default)]
pub struct KeysInMemory(std::collections::HashMap<String, [u8; 32]>);

impl SeenKeys for KeysInMemory {
    type Error = std::convert::Infallible;

    fn claim(&mut self, key: &str, digest: &[u8; 32]) -> Result<KeyState, Self::Error> {
        Ok(match self.0.get(key) {
            None => {
                self.0.insert(key.to_owned(), *digest);
                KeyState::New
            }
            Some(seen) if seen == digest => KeyState::SameContent,
            Some(_) => KeyState::OtherContent,
        })
    }
}

/// The decision for one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Unreadable,
    Invalid,
    Duplicate,
    KeyReused,
    /// Withdraw the current files of the record (`StorageOrigin::stem`).
    Invalidation,
    Accept,
}

/// Decides one input; claims its key when the verdict keeps it.
pub fn decide<S: SeenKeys>(incoming: &Incoming, seen: &mut S) -> Result<Verdict, S::Error> {
    if incoming.mapped.is_none() {
        return Ok(Verdict::Unreadable);
    }
    let invalidation = incoming.origin.as_ref().is_some_and(|o| !o.valid);
    if !invalidation && incoming.has_errors() {
        return Ok(Verdict::Invalid);
    }
    let key = incoming.dedup_key().unwrap_or_default();
    Ok(match seen.claim(&key, &incoming.digest)? {
        KeyState::SameContent => Verdict::Duplicate,
        KeyState::OtherContent => Verdict::KeyReused,
        KeyState::New if invalidation => Verdict::Invalidation,
        KeyState::New => Verdict::Accept,
    })
}

/// What happened to a message, as reported and acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Accepted {
        records: usize,
        mapped: bool,
        /// Found while storing (a family card that matched several members, …); reported
        /// with the message's own warnings.
        warnings: Vec<Issue>,
    },
    Duplicate,
    /// An invalidation (`_0`) file: the earlier version's records were withdrawn.
    Superseded {
        withdrawn: usize,
    },
    /// Kept in quarantine, not mapped (AE).
    Error,
    /// The key was used before for other content: kept in quarantine, not mapped (AE).
    KeyReused,
    /// Unreadable; kept in quarantine (AR).
    Rejected,
}

impl Disposition {
    pub fn label(&self) -> &'static str {
        match self {
            Disposition::Accepted { .. } => "accepted",
            Disposition::Duplicate => "duplicate",
            Disposition::Superseded { .. } => "superseded",
            Disposition::Error | Disposition::KeyReused | Disposition::Rejected => "rejected",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::hl7v2;
    use crate::domain::InstitutionCode;

    fn incoming(text: &str) -> Incoming {
        let facility = InstitutionCode::parse("1310000001").unwrap();
        let (received, _) = hl7v2::receive(text.as_bytes(), &facility);
        Incoming::from_received(&received[0])
    }

    const ADT: &str = "MSH|^~\\&|APP|FAC|GW|KK|20240401090000||ADT^A08^ADT_A01|C1|P|2.5\rEVN||20240401\rPID|1||P1^^^^PI||A^B||19700101|F\rPV1|1|O\r";

    #[test]
    fn a_resent_message_is_a_duplicate_and_another_under_its_key_is_refused() {
        let mut seen = KeysInMemory::default();
        let first = incoming(ADT);
        assert_eq!(decide(&first, &mut seen), Ok(Verdict::Accept));
        let resent = incoming(&ADT.replace("20240401090000", "20240401093000"));
        assert_eq!(decide(&resent, &mut seen), Ok(Verdict::Duplicate));
        let other = incoming(&ADT.replace("A^B", "A^C"));
        assert_eq!(decide(&other, &mut seen), Ok(Verdict::KeyReused));
        let next = incoming(&ADT.replace("|C1|", "|C2|"));
        assert_eq!(decide(&next, &mut seen), Ok(Verdict::Accept));
    }

    #[test]
    fn a_message_with_errors_does_not_claim_its_key() {
        let mut seen = KeysInMemory::default();
        let broken = incoming(&ADT.replace("PID|1||P1^^^^PI|", "PID|1|||"));
        assert_eq!(decide(&broken, &mut seen), Ok(Verdict::Invalid));
        assert_eq!(decide(&incoming(ADT), &mut seen), Ok(Verdict::Accept));
        let unreadable = Incoming::unreadable(b"garbage".to_vec(), Vec::new());
        assert_eq!(decide(&unreadable, &mut seen), Ok(Verdict::Unreadable));
    }
}
