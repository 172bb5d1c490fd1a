//! Services: one function per use case, called by the HTTP handlers (and the CLI, MLLP
//! listener and demo), doing the work between the wire format and the store.
//!
//! A service authorises the caller (`auth::access`), decodes and validates (`codec`), and
//! runs one unit of work on the store that writes the data and its audit rows together.

pub mod audit;
pub mod clients;
pub mod consent;
pub mod cursor;
pub mod derived;
pub mod directory;
pub mod fhir;
pub mod health;
pub mod hl7;
pub mod inquiries;
pub mod insurer;
pub mod intake;
pub mod lab_pull;
pub mod masters;
pub mod matching;
pub mod medication_list;
pub mod messages;
pub mod notifications;
pub mod person;
pub mod program_findings;
pub mod registration;
pub mod report;
pub mod ssmix2;
pub mod subscriptions;
pub mod surveys;

use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::store::audit::AuditEntry;

/// Who is asking, and under which request id.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub caller: Caller,
    pub request_id: String,
}

impl Ctx {
    /// An audit entry for this request; `action` and `outcome` filled by the caller.
    pub fn audit(&self, action: &str) -> AuditEntry {
        AuditEntry {
            request_id: Some(self.request_id.clone()),
            client_id: Some(self.caller.client_id),
            role: Some(self.caller.role.as_str().to_owned()),
            action: action.to_owned(),
            outcome: "success".to_owned(),
            ..AuditEntry::default()
        }
    }
}

pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}
