//! Document and collection Bundles: how clinical documents (JP-CLINS 診療情報提供書,
//! 退院時サマリー, 健診結果報告書: `Bundle.type = document`, a Composition first) and
//! JP-CLINS' 5/6情報 (`collection`: a Patient first, then AllergyIntolerance, Condition,
//! MedicationRequest, Observation) travel.
//!
//! FHIR R4 stores a document as a Bundle resource (`POST [base]/Bundle`); `POST [base]`
//! processes batch and transaction Bundles. kakari accepts document and collection
//! Bundles at both and does both things: the Bundle is kept whole as received (a document
//! is a unit; its Composition and every other entry stay readable as `Bundle/{id}`), and
//! each entry of a type kakari serves is stored as its own resource (references between
//! entries resolved as in transactions). See `service::fhir::document` and docs/fhir.md.
//!
//! Structure checked here (R4 Bundle invariants): a document has an identifier with system
//! and value (bdl-9), a timestamp (bdl-10) and a Composition first (bdl-11); every entry
//! has a resource with a `resourceType`; `fullUrl`s are unique (bdl-7), so references
//! resolve unambiguously. `entry.request` / `entry.response` have no meaning here (bdl-3,
//! bdl-4): they are ignored with a warning.

use serde_json::Value;

use super::ResourceType;
use super::bundle::{MAX_ENTRIES, identifier_of, rest_base, rewrite_references};
use super::to_domain;
use super::value::{items, str_of};
use crate::domain::SubjectRef;
use crate::error::{ErrorCode, Issue, Problem};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    Document,
    Collection,
}

impl DocumentKind {
    /// The kind a `Bundle.type` names, if it is a document or collection.
    pub fn of(bundle: &Value) -> Option<Self> {
        match str_of(bundle, "type") {
            Some("document") => Some(Self::Document),
            Some("collection") => Some(Self::Collection),
            _ => None,
        }
    }
}

/// One entry of a document or collection.
#[derive(Debug, Clone)]
pub struct DocumentEntry {
    pub index: usize,
    pub full_url: Option<String>,
    /// The type, when kakari serves it as its own resource (a nested Bundle is kept
    /// inside the outer one only).
    pub served: Option<ResourceType>,
    pub resource: Value,
}

/// A document or collection Bundle, checked.
#[derive(Debug, Clone)]
pub struct DocumentBundle {
    pub kind: DocumentKind,
    /// `system|value` of `Bundle.identifier`, the idempotency key.
    pub identifier: Option<String>,
    pub entries: Vec<DocumentEntry>,
    pub warnings: Vec<Issue>,
}

/// The patient a stored document or collection Bundle is about, once its entries are
/// stored as `stored` (each entry's `fullUrl` and the `Type/id` it was stored as): a
/// document's Composition subject, or the one Patient of a collection.
pub fn subject(doc: &DocumentBundle, stored: &[(Option<String>, String)]) -> Option<SubjectRef> {
    let map = stored
        .iter()
        .filter_map(|(u, t)| Some((u.clone()?, t.clone())))
        .collect();
    match doc.kind {
        DocumentKind::Document => {
            let composition = doc.entries.first()?;
            let mut c = composition.resource.clone();
            let base = composition.full_url.as_deref().and_then(rest_base);
            rewrite_references(&mut c, &map, base);
            to_domain::subject_of(&c, "subject")
        }
        DocumentKind::Collection => {
            let mut patients = stored.iter().filter(|(_, t)| t.starts_with("Patient/"));
            match (patients.next(), patients.next()) {
                (Some((_, t)), None) => {
                    Some(SubjectRef::FhirPatient(t["Patient/".len()..].to_owned()))
                }
                _ => None,
            }
        }
    }
}

fn invalid(location: String, message: &str) -> Problem {
    Problem::new(ErrorCode::InvalidBundle, location, message)
}

/// Reads a document or collection Bundle.
pub fn parse(bundle: &Value) -> Result<DocumentBundle, Problem> {
    let kind = DocumentKind::of(bundle).ok_or_else(|| {
        invalid(
            "Bundle.type".into(),
            "Bundle.type must be document or collection here",
        )
    })?;
    let identifier = identifier_of(bundle);
    let raw = items(bundle, "entry");
    if raw.len() > MAX_ENTRIES {
        return Err(Problem::new(
            ErrorCode::BodyTooLarge,
            "Bundle.entry",
            "a Bundle may carry at most 10000 entries",
        ));
    }
    if kind == DocumentKind::Document {
        let with_system = bundle
            .get("identifier")
            .is_some_and(|i| str_of(i, "system").is_some() && str_of(i, "value").is_some());
        if !with_system {
            return Err(invalid(
                "Bundle.identifier".into(),
                "a document needs an identifier with system and value (bdl-9)",
            ));
        }
        if str_of(bundle, "timestamp").is_none() {
            return Err(invalid(
                "Bundle.timestamp".into(),
                "a document needs a timestamp (bdl-10)",
            ));
        }
        let first = raw
            .first()
            .and_then(|e| e.get("resource"))
            .and_then(|r| str_of(r, "resourceType"));
        if first != Some("Composition") {
            return Err(invalid(
                "Bundle.entry[0].resource".into(),
                "the first entry of a document is its Composition (bdl-11)",
            ));
        }
    }
    let mut warnings = Vec::new();
    let mut entries = Vec::with_capacity(raw.len());
    let mut seen_urls = std::collections::HashSet::new();
    for (i, entry) in raw.iter().enumerate() {
        let at = format!("Bundle.entry[{i}]");
        let resource = entry
            .get("resource")
            .filter(|r| r.is_object())
            .ok_or_else(|| invalid(format!("{at}.resource"), "each entry needs a resource"))?;
        let name = str_of(resource, "resourceType").ok_or_else(|| {
            Problem::new(
                ErrorCode::NotAResource,
                format!("{at}.resource.resourceType"),
                "not a FHIR resource (no resourceType)",
            )
        })?;
        let full_url = str_of(entry, "fullUrl").map(str::to_owned);
        if let Some(url) = &full_url
            && !seen_urls.insert(url.clone())
        {
            return Err(invalid(
                format!("{at}.fullUrl"),
                "fullUrl is not unique in the Bundle (bdl-7): references to it would be ambiguous",
            ));
        }
        for element in ["request", "response"] {
            if entry.get(element).is_some() {
                warnings.push(Issue::warning(
                    ErrorCode::InvalidBundle,
                    format!("{at}.{element}"),
                    "entry.request and entry.response belong to batch and transaction Bundles; ignored",
                ));
            }
        }
        entries.push(DocumentEntry {
            index: i,
            full_url,
            served: ResourceType::parse(name).filter(|t| *t != ResourceType::Bundle),
            resource: resource.clone(),
        });
    }
    Ok(DocumentBundle {
        kind,
        identifier,
        entries,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document() -> Value {
        json!({"resourceType": "Bundle", "type": "document",
            "identifier": {"system": "http://jpfhir.jp/fhir/core/IdSystem/documentInstance-identifier", "value": "d1"},
            "timestamp": "2026-05-01T10:00:00+09:00",
            "entry": [
                {"fullUrl": "urn:uuid:c", "resource": {"resourceType": "Composition"}},
                {"fullUrl": "urn:uuid:p", "resource": {"resourceType": "Patient"}},
                {"fullUrl": "urn:uuid:e", "resource": {"resourceType": "Encounter"}, "request": {"method": "POST", "url": "Encounter"}}]})
    }

    #[test]
    fn entries_are_read_with_what_kakari_serves() {
        let d = parse(&document()).unwrap();
        assert_eq!(d.kind, DocumentKind::Document);
        let served: Vec<Option<ResourceType>> = d.entries.iter().map(|e| e.served).collect();
        assert_eq!(
            served,
            [
                None,
                Some(ResourceType::Patient),
                Some(ResourceType::Encounter)
            ]
        );
        assert_eq!(d.warnings[0].location, "Bundle.entry[2].request");
    }

    #[test]
    fn documents_need_identifier_timestamp_and_composition_first() {
        let mut d = document();
        d.as_object_mut().unwrap().remove("timestamp");
        assert_eq!(
            parse(&d).unwrap_err().issues[0].location,
            "Bundle.timestamp"
        );
        let mut d = document();
        d["entry"].as_array_mut().unwrap().swap(0, 1);
        assert_eq!(
            parse(&d).unwrap_err().issues[0].location,
            "Bundle.entry[0].resource"
        );
        let mut d = document();
        d["entry"][2]["fullUrl"] = json!("urn:uuid:p");
        assert_eq!(
            parse(&d).unwrap_err().issues[0].location,
            "Bundle.entry[2].fullUrl"
        );
        // A collection has none of the document's constraints.
        let c = json!({"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": {"resourceType": "Patient"}}]});
        assert_eq!(parse(&c).unwrap().kind, DocumentKind::Collection);
    }
}
