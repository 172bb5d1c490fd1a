//! FHIR REST services: create (with `If-None-Exist`), update (with `If-Match`), read,
//! search, batch and transaction bundles, and the CapabilityStatement.

pub mod bundle;
pub mod persist;
pub mod prepare;
pub mod rest;

use serde_json::Value;

/// How the client asked the result of a write to be returned (`Prefer: return=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReturnPreference {
    Minimal,
    #[default]
    Representation,
    OperationOutcome,
}

impl ReturnPreference {
    pub fn from_prefer(header: Option<&str>) -> Self {
        match header.map(|h| h.replace(' ', "")) {
            Some(h) if h.contains("return=minimal") => Self::Minimal,
            Some(h) if h.contains("return=OperationOutcome") => Self::OperationOutcome,
            _ => Self::Representation,
        }
    }
}

/// The body of a FHIR response.
#[derive(Debug, Clone, PartialEq)]
pub enum FhirBody {
    /// Already-serialised JSON (stored resources are served as stored).
    Text(String),
    Json(Value),
    Empty,
}

/// A FHIR response: status, body and the headers FHIR defines for it.
#[derive(Debug, Clone, PartialEq)]
pub struct FhirResponse {
    pub status: u16,
    pub body: FhirBody,
    /// `Location` / `Content-Location`: `{base}/{type}/{id}/_history/{version}`.
    pub location: Option<String>,
    /// The version, sent as `ETag: W/"{version}"`.
    pub version: Option<i64>,
    /// Epoch milliseconds, sent as `Last-Modified`.
    pub last_modified: Option<i64>,
}

impl FhirResponse {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: FhirBody::Json(body),
            location: None,
            version: None,
            last_modified: None,
        }
    }
}
