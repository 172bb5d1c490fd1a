//! Locations inside a resource as FHIRPath-like expressions (`Patient.identifier[0].system`),
//! the form OperationOutcome `expression` and every kakari error use.

/// Builds an expression: `Patient` + `/identifier/0/system` → `Patient.identifier[0].system`.
pub fn expression(root: &str, json_pointer: &str) -> String {
    let mut out = String::from(root);
    for raw in json_pointer.split('/').filter(|s| !s.is_empty()) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&segment);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&sanitise_name(&segment));
        }
    }
    out
}

/// Appends a child element.
pub fn child(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

/// Appends an array index.
pub fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// Element names come from the input: keep them only when they look like element names,
/// so a location can never smuggle arbitrary input text into an error.
pub fn sanitise_name(name: &str) -> String {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        name.to_owned()
    } else {
        "(element)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_fhirpath() {
        assert_eq!(
            expression("Patient", "/identifier/0/system"),
            "Patient.identifier[0].system"
        );
        assert_eq!(
            expression("Bundle.entry[2].resource", "/subject"),
            "Bundle.entry[2].resource.subject"
        );
        assert_eq!(expression("Patient", ""), "Patient");
        assert_eq!(expression("Patient", "/山田"), "Patient.(element)");
    }
}
