//! Whether a FHIR resource is taken in, and what kakari takes from it: the checks every
//! intake of a resource runs, written once for the gateway (`service::fhir::prepare`) and
//! `kakari convert --from fhir`.
//!
//! In order: the id is a valid FHIR id (and is set on the resource); the R4 schema subset
//! (`schema`) and the JP Core rules (`rules`) find no error (warnings are kept); a Patient
//! carries facility-local ids of the writer's own institution only; then the domain
//! values are extracted (`to_domain`), whose issues are warnings.

use serde_json::Value;

use super::to_domain::{self, ExtractContext, Extracted};
use super::{ResourceType, resource_type, rules, schema};
use crate::domain::InstitutionCode;
use crate::domain::code_system::id_system;
use crate::error::{ErrorCode, Issue, Problem};

/// A resource taken in: what it says, and the warnings found.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub extracted: Extracted,
    pub warnings: Vec<Issue>,
}

/// Checks that `value` is a resource of `expected` (any served type when `None`) and
/// returns its type.
pub fn resource_type_of(
    value: &Value,
    expected: Option<ResourceType>,
    location: &str,
) -> Result<ResourceType, Problem> {
    let name = value
        .get("resourceType")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Problem::new(
                ErrorCode::NotAResource,
                location,
                "not a FHIR resource (no resourceType)",
            )
        })?;
    let rtype = ResourceType::parse(name).ok_or_else(|| {
        Problem::new(
            ErrorCode::UnsupportedResourceType,
            format!("{location}.resourceType"),
            "resource type not served (see /fhir/metadata)",
        )
    })?;
    match expected {
        Some(e) if e != rtype => Err(Problem::new(
            ErrorCode::NotAResource,
            format!("{location}.resourceType"),
            "resourceType does not match the endpoint",
        )),
        _ => Ok(rtype),
    }
}

/// Sets `id` on the resource and checks it as every intake does; `facility` is the
/// writer's institution (its facility-local patient ids are the only ones a Patient may
/// carry, and its patients are the subjects of facility-local references).
pub fn admit(
    rtype: ResourceType,
    resource: &mut Value,
    id: &str,
    location: &str,
    facility: Option<&InstitutionCode>,
) -> Result<Admitted, Problem> {
    if !resource_type::is_valid_id(id) {
        return Err(Problem::new(
            ErrorCode::InvalidId,
            format!("{location}.id"),
            "not a valid FHIR id",
        ));
    }
    if let Value::Object(o) = resource {
        o.insert("id".into(), Value::String(id.to_owned()));
    }
    let mut issues = schema::validate(resource, location);
    issues.extend(rules::check(rtype, resource, location));
    let (errors, mut warnings): (Vec<Issue>, Vec<Issue>) =
        issues.into_iter().partition(Issue::is_error);
    if let Some(first) = errors.first() {
        let code = first.code;
        return Err(Problem::with_issues(code, errors));
    }
    check_own_patient_ids(facility, rtype, resource, location)?;
    let ctx = ExtractContext {
        facility: facility.cloned(),
    };
    let extracted = to_domain::extract(rtype, resource, location, &ctx);
    warnings.extend(extracted.issues.iter().cloned());
    Ok(Admitted {
        extracted,
        warnings,
    })
}

/// A reference to a Patient the writer has not sent (or may not see: one answer for both).
pub fn unknown_patient(location: String) -> Problem {
    Problem::new(
        ErrorCode::InvalidReference,
        location,
        "the patient must be a Patient this institution has sent (earlier or in the same Bundle)",
    )
}

/// A patient of another institution named by a writer.
pub fn other_institution(location: String) -> Problem {
    Problem::new(
        ErrorCode::FacilityMismatch,
        location,
        "the patient belongs to another institution",
    )
}

/// A Patient may carry facility-local ids of the writer's own institution only.
fn check_own_patient_ids(
    facility: Option<&InstitutionCode>,
    rtype: ResourceType,
    resource: &Value,
    location: &str,
) -> Result<(), Problem> {
    if rtype != ResourceType::Patient {
        return Ok(());
    }
    let own = facility.map(InstitutionCode::as_str);
    let identifiers = resource
        .get("identifier")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for (i, ident) in identifiers.iter().enumerate() {
        let system = ident.get("system").and_then(Value::as_str).unwrap_or("");
        if let Some(facility) = id_system::local_patient_facility(system)
            && Some(facility) != own
        {
            return Err(Problem::new(
                ErrorCode::FacilityMismatch,
                format!("{location}.identifier[{i}].system"),
                "a facility-local patient id of another institution",
            ));
        }
    }
    Ok(())
}
