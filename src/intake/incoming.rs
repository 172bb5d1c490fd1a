//! One HL7 v2 message or SS-MIX2 storage file as decoded, ready for a disposition: its
//! bytes, what it mapped to, what was found wrong with it, where it came from in a
//! storage tree, and the key and content digest it is recognised by when it arrives again.

use sha2::{Digest, Sha256};

use crate::codec::hl7v2::{self, MappedMessage, Received};
use crate::domain::SubjectRef;
use crate::error::Issue;

/// Where a message came from in an SS-MIX2 storage tree.
#[derive(Debug, Clone)]
pub struct StorageOrigin {
    /// The file's path in the archive (a location; never logged).
    pub path: String,
    /// The 7-field file name without its flag: the key of the record across versions.
    pub stem: String,
    pub file_name: String,
    pub data_type: String,
    /// The patient id of the storage path (used over a disagreeing PID-3).
    pub patient_id: String,
    /// False for an invalidated (`_0`) file.
    pub valid: bool,
}

/// One message ready for a disposition.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub raw: Vec<u8>,
    /// `None` when the message could not be read at all.
    pub mapped: Option<MappedMessage>,
    /// The refusal of an unreadable message, or storage-rule findings of a file.
    pub issues: Vec<Issue>,
    pub origin: Option<StorageOrigin>,
    /// What tells a re-sent copy from another message under the same key: the content
    /// digest of the message (`hl7v2::content_digest`, MSH-7 excluded) or, for a storage
    /// file, of the file's bytes.
    pub digest: [u8; 32],
}

/// SHA-256 of some bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Incoming {
    /// A message of an HL7 v2 body as read by `hl7v2::receive` (not from a storage tree).
    pub fn from_received(received: &Received<'_>) -> Self {
        let (mapped, issues, digest) = match &received.outcome {
            Ok((message, mapped)) => (
                Some(mapped.clone()),
                Vec::new(),
                hl7v2::content_digest(message),
            ),
            Err(rejected) => (None, rejected.issues.clone(), sha256(received.bytes)),
        };
        Self {
            raw: received.bytes.to_vec(),
            mapped,
            issues,
            origin: None,
            digest,
        }
    }

    /// A body in which no message could be found at all.
    pub fn unreadable(raw: Vec<u8>, issues: Vec<Issue>) -> Self {
        let digest = sha256(&raw);
        Self {
            raw,
            mapped: None,
            issues,
            origin: None,
            digest,
        }
    }

    /// Whom the records are about: the storage path's patient id wins over PID-3 for
    /// SS-MIX2 files.
    pub fn subject(&self) -> Option<SubjectRef> {
        let mapped = self.mapped.as_ref()?;
        match (&self.origin, &mapped.subject) {
            (Some(origin), Some(SubjectRef::Local { facility, .. })) => Some(SubjectRef::Local {
                facility: facility.clone(),
                local_id: origin.patient_id.clone(),
            }),
            (_, subject) => subject.clone(),
        }
    }

    /// The key a message is recognised by when it arrives again: the SS-MIX2 file name,
    /// else the sender (MSH-3, MSH-4) and MSH-10.
    pub fn dedup_key(&self) -> Option<String> {
        match (&self.origin, &self.mapped) {
            (Some(origin), _) => Some(format!("ssmix2|{}", origin.file_name)),
            (None, Some(mapped)) => {
                let header = &mapped.header;
                Some(format!(
                    "hl7|{}|{}|{}",
                    header.sending_application, header.sending_facility, header.control_id
                ))
            }
            (None, None) => None,
        }
    }

    /// True when the file or message has errors (it is refused, not mapped).
    pub fn has_errors(&self) -> bool {
        self.issues.iter().any(Issue::is_error)
            || self.mapped.as_ref().is_some_and(MappedMessage::has_errors)
    }

    /// Every issue: the file's, then the message's.
    pub fn all_issues(&self) -> impl Iterator<Item = &Issue> {
        self.issues
            .iter()
            .chain(self.mapped.iter().flat_map(|m| m.issues.iter()))
    }
}
