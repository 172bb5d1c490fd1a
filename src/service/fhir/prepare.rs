//! Everything about a resource that can be worked out before touching the database:
//! validation (R4 schema + JP Core), the id, the search index entries and the domain
//! values. This runs on the request's own thread, so the database's single writer only
//! does database work.

use serde_json::Value;

use crate::auth::{Caller, access};
use crate::codec::fhir::to_domain::{self, ExtractContext, Extracted};
use crate::codec::fhir::{ResourceType, resource_type, rules, schema, search_params};
use crate::domain::code_system::id_system;
use crate::domain::datetime::format_instant_millis;
use crate::error::{ErrorCode, Issue, Problem};
use crate::store::search::IndexEntry;

/// A validated resource ready to be written.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub rtype: ResourceType,
    pub id: String,
    /// The resource with its id set (meta is stamped when the version is known).
    pub resource: Value,
    pub index: Vec<IndexEntry>,
    pub extracted: Extracted,
    /// Where the resource sits in the request (`Patient`, `Bundle.entry[2].resource`).
    pub location: String,
    pub warnings: Vec<Issue>,
    /// The id was just assigned by kakari (it cannot exist yet).
    pub fresh_id: bool,
}

/// Checks that `value` is a resource of `expected` and returns its type.
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

/// A new server-assigned id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Validates and analyses a resource for writing with `id`.
pub fn prepare(
    caller: &Caller,
    rtype: ResourceType,
    mut resource: Value,
    id: String,
    location: &str,
) -> Result<Prepared, Problem> {
    access::fhir_write(caller, rtype)?;
    if !resource_type::is_valid_id(&id) {
        return Err(Problem::new(
            ErrorCode::InvalidId,
            format!("{location}.id"),
            "not a valid FHIR id",
        ));
    }
    if let Value::Object(o) = &mut resource {
        o.insert("id".into(), Value::String(id.clone()));
    }
    let mut issues = schema::validate(&resource, location);
    issues.extend(rules::check(rtype, &resource, location));
    let (errors, mut warnings): (Vec<Issue>, Vec<Issue>) =
        issues.into_iter().partition(Issue::is_error);
    if let Some(first) = errors.first() {
        let code = first.code;
        return Err(Problem::with_issues(code, errors));
    }
    check_own_patient_ids(caller, rtype, &resource, location)?;
    let ctx = ExtractContext {
        facility: caller.facility.clone(),
    };
    let extracted = to_domain::extract(rtype, &resource, location, &ctx);
    warnings.extend(extracted.issues.iter().cloned());
    let index = search_params::index_entries(rtype, &resource);
    Ok(Prepared {
        rtype,
        id,
        resource,
        index,
        extracted,
        location: location.to_owned(),
        warnings,
        fresh_id: false,
    })
}

/// A Patient may carry facility-local ids of the writer's own institution only.
fn check_own_patient_ids(
    caller: &Caller,
    rtype: ResourceType,
    resource: &Value,
    location: &str,
) -> Result<(), Problem> {
    if rtype != ResourceType::Patient {
        return Ok(());
    }
    let own = caller.facility.as_ref().map(|f| f.as_str());
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

/// Sets `meta.versionId` and `meta.lastUpdated` and serialises the resource.
pub fn stamp(resource: &mut Value, version: i64, last_updated: i64) -> String {
    if let Value::Object(o) = resource {
        let meta = o
            .entry("meta")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if !meta.is_object() {
            *meta = Value::Object(serde_json::Map::new());
        }
        if let Value::Object(m) = meta {
            m.insert("versionId".into(), Value::String(version.to_string()));
            m.insert(
                "lastUpdated".into(),
                Value::String(format_instant_millis(last_updated)),
            );
        }
    }
    serde_json::to_string(resource).unwrap_or_default()
}
