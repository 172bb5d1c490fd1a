//! FHIR REST services: create (with `If-None-Exist`), update (with `If-Match`), read,
//! search, batch and transaction bundles, document and collection Bundles, and the
//! CapabilityStatement.

pub mod bundle;
pub mod document;
pub mod id_space;
pub mod persist;
pub mod prepare;
pub mod registry;
pub mod rest;

use serde_json::{Value, json};

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

/// Query parameters as a percent-encoded query string.
pub fn query_string(pairs: &[(String, String)]) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    /// Everything but RFC 3986 unreserved characters.
    const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, COMPONENT),
                utf8_percent_encode(v, COMPONENT)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A page of search results: its canonical parameters (with `_count`), the cursor of
/// the next page, the total and the resources as (type, id, resource).
pub struct SearchsetPage {
    pub params: Vec<(String, String)>,
    pub next_cursor: Option<String>,
    pub total: i64,
    pub entries: Vec<(String, String, Value)>,
}

/// A `searchset` Bundle with `self` and `next` links.
pub fn searchset(base: &str, rtype: &str, page: SearchsetPage) -> Value {
    let self_url = format!("{base}/{rtype}?{}", query_string(&page.params));
    let mut links = vec![json!({"relation": "self", "url": self_url})];
    if let Some(next) = page.next_cursor {
        let mut next_params = page.params.clone();
        next_params.push(("_cursor".into(), next));
        links.push(json!({"relation": "next",
            "url": format!("{base}/{rtype}?{}", query_string(&next_params))}));
    }
    let entries: Vec<Value> = page
        .entries
        .into_iter()
        .map(|(t, id, resource)| {
            json!({"fullUrl": format!("{base}/{t}/{id}"), "resource": resource, "search": {"mode": "match"}})
        })
        .collect();
    json!({"resourceType": "Bundle", "type": "searchset", "total": page.total, "link": links, "entry": entries})
}
