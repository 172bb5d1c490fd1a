//! Small accessors over `serde_json::Value` for reading FHIR elements.

use serde_json::Value;

use crate::domain::{Coding, Decimal};

/// The elements of an array element (empty when absent or not an array).
pub fn items<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

pub fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The profiles a resource claims (`meta.profile`), without a `|version` suffix.
pub fn profiles(resource: &Value) -> impl Iterator<Item = &str> {
    resource
        .get("meta")
        .map(|m| items(m, "profile"))
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .map(|p| p.split('|').next().unwrap_or(p))
}

/// The codings of a CodeableConcept element, with canonical system spellings.
pub fn codings(concept: &Value) -> Vec<Coding> {
    items(concept, "coding")
        .iter()
        .filter_map(|c| {
            let code = str_of(c, "code")?;
            Some(Coding::new(
                str_of(c, "system").unwrap_or(""),
                code,
                str_of(c, "display").map(str::to_owned),
            ))
        })
        .collect()
}

/// The literal of a JSON number as an exact decimal (kept as written).
pub fn decimal(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => Decimal::parse(&n.to_string()).ok(),
        _ => None,
    }
}

/// `Patient/123` from a Reference's `reference` (also from absolute URLs and
/// `_history` forms); `None` for contained (`#x`) and non-literal references.
pub fn reference_target(reference: &str) -> Option<(&str, &str)> {
    let trimmed = reference.split("/_history/").next().unwrap_or(reference);
    let mut parts = trimmed.rsplit('/');
    let id = parts.next()?;
    let rtype = parts.next()?;
    let type_ok = rtype.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && rtype.chars().all(|c| c.is_ascii_alphanumeric());
    (type_ok && super::resource_type::is_valid_id(id)).then_some((rtype, id))
}

/// The `(type, id)` a Reference element points at.
pub fn reference_of(v: &Value, key: &str) -> Option<(String, String)> {
    let r = v.get(key)?.get("reference")?.as_str()?;
    reference_target(r).map(|(t, i)| (t.to_owned(), i.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_read_in_every_literal_form() {
        assert_eq!(reference_target("Patient/p1"), Some(("Patient", "p1")));
        assert_eq!(
            reference_target("https://ehr.example/fhir/Patient/p1/_history/3"),
            Some(("Patient", "p1"))
        );
        assert_eq!(reference_target("#contained"), None);
        assert_eq!(reference_target("urn:uuid:1234"), None);
        assert_eq!(reference_target("patient/p1"), None);
    }
}
