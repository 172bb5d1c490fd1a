//! Everything about a resource that can be worked out before touching the database:
//! the caller's right to write it, validation and the domain values (`codec::fhir::admit`,
//! shared with `kakari convert`), the id and the search index entries. This runs on the
//! request's own thread, so the database's single writer only does database work.

use serde_json::Value;

use crate::auth::{Caller, access};
use crate::codec::fhir::admit::{self, Admitted};
use crate::codec::fhir::to_domain::Extracted;
use crate::codec::fhir::{ResourceType, search_params};
use crate::domain::datetime::format_instant_millis;
use crate::error::{Issue, Problem};
use crate::store::search::IndexEntry;

pub use crate::codec::fhir::admit::resource_type_of;

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
    let Admitted {
        extracted,
        warnings,
    } = admit::admit(
        rtype,
        &mut resource,
        &id,
        location,
        caller.facility.as_ref(),
    )?;
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
