//! Batch and transaction Bundles: the envelope kakari accepts and the reference rewriting
//! that ties a transaction's entries together.
//!
//! Accepted entries: `POST {type}` (optionally `ifNoneExist`) and `PUT {type}/{id}`
//! (optionally `ifMatch`). `fullUrl`s (`urn:uuid:…` or absolute) of the entries are
//! replaced, in every `reference` of every entry, by the `Type/id` the entry is stored as;
//! a relative reference (`Patient/123`) in an entry whose `fullUrl` is an absolute RESTful
//! URL resolves against that URL's base first (FHIR R4 bundle.html, "Resolving references
//! in Bundles"). Bundles themselves are not accepted as entries (documents and collections
//! are posted whole, see `codec::fhir::document`).

use std::collections::HashMap;

use serde_json::Value;

use super::ResourceType;
use super::resource_type::is_valid_id;
use super::value::{items, reference_target, str_of};
use crate::error::{ErrorCode, Problem};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleKind {
    Batch,
    Transaction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post,
    Put,
}

/// One accepted entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub index: usize,
    pub full_url: Option<String>,
    pub method: Method,
    pub rtype: ResourceType,
    /// The id from a `PUT Type/id` url.
    pub id: Option<String>,
    pub if_none_exist: Option<String>,
    /// The condition was implied by kakari (a document's Patient matched by its
    /// facility-local id), not asked for: several matches mean "create", not an error.
    pub implied_condition: bool,
    pub if_match: Option<i64>,
    pub resource: Value,
}

/// A parsed Bundle request; entries that cannot be processed carry their refusal.
#[derive(Debug)]
pub struct BundleRequest {
    pub kind: BundleKind,
    /// `system|value` of `Bundle.identifier`, the idempotency key.
    pub identifier: Option<String>,
    pub entries: Vec<Result<Entry, Problem>>,
}

/// Most entries one Bundle may carry.
pub const MAX_ENTRIES: usize = 10_000;

fn entry_location(i: usize) -> String {
    format!("Bundle.entry[{i}]")
}

/// `W/"3"` or `3` → 3.
pub fn parse_etag(raw: &str) -> Option<i64> {
    raw.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .ok()
}

fn parse_entry(i: usize, entry: &mut Value) -> Result<Entry, Problem> {
    let at = entry_location(i);
    let request = entry.get("request").ok_or_else(|| {
        Problem::new(
            ErrorCode::InvalidBundle,
            format!("{at}.request"),
            "each entry needs a request",
        )
    })?;
    let method = match str_of(request, "method") {
        Some("POST") => Method::Post,
        Some("PUT") => Method::Put,
        Some(_) => {
            return Err(Problem::new(
                ErrorCode::UnsupportedInteraction,
                format!("{at}.request.method"),
                "only POST and PUT entries are supported",
            ));
        }
        None => {
            return Err(Problem::new(
                ErrorCode::InvalidBundle,
                format!("{at}.request.method"),
                "method is required",
            ));
        }
    };
    let url = str_of(request, "url").ok_or_else(|| {
        Problem::new(
            ErrorCode::InvalidBundle,
            format!("{at}.request.url"),
            "url is required",
        )
    })?;
    if url.contains('?') {
        return Err(Problem::new(
            ErrorCode::UnsupportedInteraction,
            format!("{at}.request.url"),
            "conditional update/delete URLs are not supported; use ifNoneExist for conditional create",
        ));
    }
    let path = url.trim_matches('/');
    let mut parts = path.rsplitn(2, '/');
    let last = parts.next().unwrap_or("");
    let before = parts.next();
    let (type_name, id) = match (method, before) {
        (Method::Post, _) => (last, None),
        (Method::Put, Some(t)) => (t.rsplit('/').next().unwrap_or(t), Some(last.to_owned())),
        (Method::Put, None) => {
            return Err(Problem::new(
                ErrorCode::InvalidBundle,
                format!("{at}.request.url"),
                "PUT needs Type/id",
            ));
        }
    };
    let rtype = ResourceType::parse(type_name)
        .filter(|t| *t != ResourceType::Bundle)
        .ok_or_else(|| {
            Problem::new(
                ErrorCode::UnsupportedResourceType,
                format!("{at}.request.url"),
                "resource type not served in batch or transaction entries (documents and collections are posted whole)",
            )
        })?;
    if let Some(id) = &id
        && !is_valid_id(id)
    {
        return Err(Problem::new(
            ErrorCode::InvalidId,
            format!("{at}.request.url"),
            "not a valid FHIR id",
        ));
    }
    let if_none_exist = str_of(request, "ifNoneExist").map(str::to_owned);
    let if_match = match str_of(request, "ifMatch") {
        Some(raw) => Some(parse_etag(raw).ok_or_else(|| {
            Problem::new(
                ErrorCode::InvalidBundle,
                format!("{at}.request.ifMatch"),
                "expected W/\"<version>\"",
            )
        })?),
        None => None,
    };
    let full_url = str_of(entry, "fullUrl").map(str::to_owned);
    let resource = entry
        .get_mut("resource")
        .map(Value::take)
        .filter(Value::is_object)
        .ok_or_else(|| {
            Problem::new(
                ErrorCode::InvalidBundle,
                format!("{at}.resource"),
                "each entry needs a resource",
            )
        })?;
    let named = resource.get("resourceType").and_then(Value::as_str);
    if named != Some(rtype.as_str()) {
        return Err(Problem::new(
            ErrorCode::NotAResource,
            format!("{at}.resource.resourceType"),
            "resourceType does not match the request url",
        ));
    }
    if let (Method::Put, Some(id)) = (method, &id)
        && resource.get("id").and_then(Value::as_str) != Some(id.as_str())
    {
        return Err(Problem::new(
            ErrorCode::IdMismatch,
            format!("{at}.resource.id"),
            "the resource id must equal the id in request.url",
        ));
    }
    Ok(Entry {
        index: i,
        full_url,
        method,
        rtype,
        id,
        if_none_exist,
        implied_condition: false,
        if_match,
        resource,
    })
}

/// Puts an entry's location on issues that lack one.
pub fn at_entry(mut p: Problem, index: usize) -> Problem {
    for issue in &mut p.issues {
        if !issue.location.starts_with("Bundle") {
            issue.location = if issue.location.is_empty() {
                format!("Bundle.entry[{index}]")
            } else {
                format!("Bundle.entry[{index}].{}", issue.location)
            };
        }
    }
    p
}

/// `system|value` of `Bundle.identifier`, the idempotency key of every kind of Bundle.
pub fn identifier_of(bundle: &Value) -> Option<String> {
    let i = bundle.get("identifier")?;
    let value = str_of(i, "value")?;
    Some(format!("{}|{value}", str_of(i, "system").unwrap_or("")))
}

/// Parses a Bundle posted to `/fhir`.
pub fn parse(mut bundle: Value) -> Result<BundleRequest, Problem> {
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(Problem::new(
            ErrorCode::NotAResource,
            "Bundle.resourceType",
            "POST /fhir takes a Bundle",
        ));
    }
    let kind = match str_of(&bundle, "type") {
        Some("batch") => BundleKind::Batch,
        Some("transaction") => BundleKind::Transaction,
        _ => {
            return Err(Problem::new(
                ErrorCode::InvalidBundle,
                "Bundle.type",
                "Bundle.type must be batch or transaction",
            ));
        }
    };
    let identifier = identifier_of(&bundle);
    let count = items(&bundle, "entry").len();
    if count > MAX_ENTRIES {
        return Err(Problem::new(
            ErrorCode::BodyTooLarge,
            "Bundle.entry",
            "a Bundle may carry at most 10000 entries",
        ));
    }
    let entries = match bundle.get_mut("entry") {
        Some(Value::Array(a)) => a
            .iter_mut()
            .enumerate()
            .map(|(i, e)| parse_entry(i, e))
            .collect(),
        Some(_) => {
            return Err(Problem::new(
                ErrorCode::InvalidBundle,
                "Bundle.entry",
                "entry must be an array",
            ));
        }
        None => Vec::new(),
    };
    Ok(BundleRequest {
        kind,
        identifier,
        entries,
    })
}

/// The base of an absolute RESTful `fullUrl` (`https://ehr.example/fhir` of
/// `https://ehr.example/fhir/Patient/123`), against which the entry's relative references
/// resolve.
pub fn rest_base(full_url: &str) -> Option<&str> {
    if !(full_url.starts_with("http://") || full_url.starts_with("https://")) {
        return None;
    }
    let (rtype, id) = reference_target(full_url)?;
    let tail = format!("/{rtype}/{id}");
    full_url
        .split("/_history/")
        .next()
        .and_then(|u| u.strip_suffix(&tail))
}

/// Replaces references to entries' fullUrls by their stored `Type/id`; `base` is the
/// referencing entry's [`rest_base`], for its relative references.
pub fn rewrite_references(v: &mut Value, map: &HashMap<String, String>, base: Option<&str>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o.iter_mut() {
                if k == "reference"
                    && let Value::String(r) = child
                {
                    let resolved = map.get(r.as_str()).or_else(|| {
                        let base = base?;
                        (!r.contains(':') && reference_target(r).is_some())
                            .then(|| map.get(&format!("{base}/{r}")))
                            .flatten()
                    });
                    if let Some(target) = resolved {
                        *r = target.clone();
                    }
                } else {
                    rewrite_references(child, map, base);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| rewrite_references(c, map, base)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_are_parsed_and_bad_ones_refused_individually() {
        let b = json!({"resourceType": "Bundle", "type": "batch",
        "identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:b1"},
        "entry": [
            {"fullUrl": "urn:uuid:p", "resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=x|1"}},
            {"resource": {"resourceType": "Patient", "id": "p2"}, "request": {"method": "PUT", "url": "Patient/p2", "ifMatch": "W/\"2\""}},
            {"resource": {"resourceType": "Patient"}, "request": {"method": "DELETE", "url": "Patient/p3"}},
            {"resource": {"resourceType": "Observation"}, "request": {"method": "POST", "url": "Patient"}}
        ]});
        let parsed = parse(b).unwrap();
        assert_eq!(parsed.kind, BundleKind::Batch);
        assert_eq!(
            parsed.identifier.as_deref(),
            Some("urn:ietf:rfc:3986|urn:uuid:b1")
        );
        let first = parsed.entries[0].as_ref().unwrap();
        assert_eq!(first.if_none_exist.as_deref(), Some("identifier=x|1"));
        let second = parsed.entries[1].as_ref().unwrap();
        assert_eq!(
            (second.method, second.id.as_deref(), second.if_match),
            (Method::Put, Some("p2"), Some(2))
        );
        assert_eq!(
            parsed.entries[2].as_ref().unwrap_err().code,
            ErrorCode::UnsupportedInteraction
        );
        assert_eq!(
            parsed.entries[3].as_ref().unwrap_err().code,
            ErrorCode::NotAResource
        );
    }

    #[test]
    fn references_to_full_urls_are_rewritten_everywhere() {
        let mut r = json!({"subject": {"reference": "urn:uuid:p"}, "performer": [{"reference": "urn:uuid:p"}, {"reference": "Practitioner/x"}]});
        let map = HashMap::from([("urn:uuid:p".to_owned(), "Patient/123".to_owned())]);
        rewrite_references(&mut r, &map, None);
        assert_eq!(r["subject"]["reference"], "Patient/123");
        assert_eq!(r["performer"][0]["reference"], "Patient/123");
        assert_eq!(r["performer"][1]["reference"], "Practitioner/x");
    }

    #[test]
    fn relative_references_resolve_against_the_entrys_absolute_full_url() {
        let map = HashMap::from([(
            "https://ehr.example/fhir/Patient/p7".to_owned(),
            "Patient/new-id".to_owned(),
        )]);
        let base = rest_base("https://ehr.example/fhir/Observation/o1");
        assert_eq!(base, Some("https://ehr.example/fhir"));
        let mut r = json!({"subject": {"reference": "Patient/p7"}, "performer": [{"reference": "Practitioner/d1"}]});
        rewrite_references(&mut r, &map, base);
        assert_eq!(r["subject"]["reference"], "Patient/new-id");
        assert_eq!(r["performer"][0]["reference"], "Practitioner/d1");
        // urn:uuid fullUrls have no base: relative references stay as written.
        let mut r = json!({"subject": {"reference": "Patient/p7"}});
        rewrite_references(&mut r, &map, rest_base("urn:uuid:1"));
        assert_eq!(r["subject"]["reference"], "Patient/p7");
    }

    #[test]
    fn only_batch_and_transaction_are_accepted() {
        assert!(parse(json!({"resourceType": "Bundle", "type": "collection"})).is_err());
        assert!(parse(json!({"resourceType": "Patient"})).is_err());
    }
}
