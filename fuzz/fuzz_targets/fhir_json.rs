//! Arbitrary bytes through everything a FHIR JSON body goes through before it is stored:
//! the strict JSON reader (duplicate keys, number bounds, control characters), the R4
//! schema subset, the JP Core and kakari rules, the mapping to the domain, the search
//! index, and the Bundle reader. Nothing may panic.

#![no_main]

use kakari::codec::fhir::{ResourceType, bundle, json, rules, schema, search_params, to_domain};
use kakari::domain::InstitutionCode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = json::parse(data) else {
        return;
    };
    let Some(name) = value.get("resourceType").and_then(|t| t.as_str()) else {
        return;
    };
    if name == "Bundle" {
        let _ = bundle::identifier_of(&value);
        let _ = bundle::parse(value.clone());
    }
    let Some(rtype) = ResourceType::parse(name) else {
        return;
    };
    let _ = schema::validate(&value, name);
    let _ = rules::check(rtype, &value, name);
    let context = to_domain::ExtractContext {
        facility: InstitutionCode::parse("1311234567").ok(),
    };
    let _ = to_domain::extract(rtype, &value, name, &context);
    let _ = search_params::index_entries(rtype, &value);
});
