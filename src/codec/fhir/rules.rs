//! Every rule a served resource is held to beyond the R4 schema, in one call: JP Core
//! ([`jpcore`]), the form of codes in known code systems ([`code_forms`]), lab units
//! against the item measured ([`lab_units`]), the dispensed total against the dosage
//! ([`dosage_total`]) and the JP-CLINS rules of claimed profiles ([`clins`]).

use serde_json::Value;

use super::{ResourceType, clins, code_forms, dosage_total, jpcore, lab_units};
use crate::error::Issue;

/// The errors and warnings of a resource, located under `root`.
pub fn check(rtype: ResourceType, resource: &Value, root: &str) -> Vec<Issue> {
    let mut issues = jpcore::check(rtype, resource, root);
    issues.extend(code_forms::check(resource, root));
    issues.extend(lab_units::check(rtype, resource, root));
    issues.extend(dosage_total::check(rtype, resource, root));
    issues.extend(clins::check(rtype, resource, root));
    issues
}
