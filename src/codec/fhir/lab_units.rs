//! Units of lab values against the item measured, where kakari knows the item's unit: the
//! 特定健診 item table (`mappings/checkup-items.csv`), which names the unit of every
//! checkup item and of the JLAC10 codes it lists (a JLAC10 code reported for a method
//! variant of an item shares the item's unit).
//!
//! A `valueQuantity` whose unit is neither the item's unit nor convertible to it by the
//! unit table (`mappings/checkup-unit-conversions.csv`: spellings such as `mg/dl`, UCUM
//! annotations such as `mL/min/{1.73_m2}`, and factor rules) measures something else:
//! an eGFR in `mL/min` is a clearance, not an eGFR. A unit given as a UCUM code
//! (`system` `http://unitsofmeasure.org`) is exact, so a mismatch refuses the resource
//! (`fhir.unit_mismatch`, at `valueQuantity.code`); a unit given only as display text may
//! be any local spelling, so a mismatch is a warning (at `valueQuantity.unit`). Items
//! kakari does not know, and values without a unit, are not checked.

use serde_json::Value;

use super::ResourceType;
use super::path::{child, index};
use super::value::{items, str_of};
use crate::domain::code_system::KnownSystem;
use crate::error::{ErrorCode, Issue};
use crate::mapping::checkup_items::{CheckupItem, CheckupItems};
use crate::mapping::unit_conversions::normalise_unit;

const UCUM: &str = "http://unitsofmeasure.org";

/// The unit issues of an Observation and its components.
pub fn check(rtype: ResourceType, resource: &Value, root: &str) -> Vec<Issue> {
    let mut issues = Vec::new();
    if rtype != ResourceType::Observation {
        return issues;
    }
    let Ok(table) = CheckupItems::bundled() else {
        return issues;
    };
    check_value(table, resource, root, &mut issues);
    for (i, component) in items(resource, "component").iter().enumerate() {
        let at = index(&child(root, "component"), i);
        check_value(table, component, &at, &mut issues);
    }
    issues
}

/// The item a coded element measures: its 特定健診 item code, or its JLAC10 code.
fn item_of<'a>(table: &'a CheckupItems, element: &Value) -> Option<&'a CheckupItem> {
    let codings = element.get("code").map(|c| items(c, "coding"))?;
    let codes = |system: KnownSystem| {
        codings
            .iter()
            .filter(move |c| str_of(c, "system").and_then(KnownSystem::from_uri) == Some(system))
            .filter_map(|c| str_of(c, "code"))
    };
    codes(KnownSystem::CheckupItem)
        .chain(codes(KnownSystem::Jlac10))
        .find_map(|code| table.get(code))
        .or_else(|| {
            codes(KnownSystem::Jlac10)
                .find_map(|code| table.preferred_for_jlac10(code))
                .map(|m| m.item)
        })
}

/// `{…}` annotations carry no meaning in UCUM: `%{HbA1c}` is `%`.
fn without_annotations(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    let mut depth = 0usize;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Is `unit` the item's unit, a spelling of it, or convertible to it?
fn fits(table: &CheckupItems, item: &CheckupItem, item_unit: &str, unit: &str) -> bool {
    let given = normalise_unit(unit);
    given == item_unit
        || table.conversion_to(item, &given).is_some()
        || (given.contains('{') && without_annotations(&given) == without_annotations(item_unit))
}

fn check_value(table: &CheckupItems, element: &Value, at: &str, issues: &mut Vec<Issue>) {
    let Some(quantity) = element.get("valueQuantity") else {
        return;
    };
    let Some(item) = item_of(table, element) else {
        return;
    };
    let Some(item_unit) = item.ucum.as_deref() else {
        return;
    };
    let at = child(at, "valueQuantity");
    let coded = str_of(quantity, "system") == Some(UCUM);
    if let Some(code) = str_of(quantity, "code").filter(|_| coded) {
        if !fits(table, item, item_unit, code) {
            issues.push(Issue::error(
                ErrorCode::UnitMismatch,
                child(&at, "code"),
                "the UCUM unit is not a unit of the item the code names (see the item table's unit)",
            ));
        }
        return;
    }
    let text = str_of(quantity, "unit").or_else(|| str_of(quantity, "code"));
    if let Some(text) = text.filter(|t| !t.trim().is_empty())
        && !fits(table, item, item_unit, text)
    {
        let element = if quantity.get("unit").is_some() {
            "unit"
        } else {
            "code"
        };
        issues.push(Issue::warning(
            ErrorCode::UnitMismatch,
            child(&at, element),
            "the unit is not a known spelling of the item's unit; kept as sent",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn egfr(quantity: Value) -> Value {
        json!({"resourceType": "Observation",
            "code": {"coding": [{"system": "http://medis.or.jp/CodeSystem/master-JLAC10-17digits", "code": "8A065000002391901"}]},
            "valueQuantity": quantity})
    }

    fn found(v: &Value) -> Vec<(bool, String)> {
        check(ResourceType::Observation, v, "Observation")
            .into_iter()
            .map(|i| (i.is_error(), i.location))
            .collect()
    }

    #[test]
    fn the_items_unit_its_spellings_and_ucum_annotations_pass() {
        for q in [
            json!({"value": 75.0, "unit": "ml/min/1.73m2"}),
            json!({"value": 75.0, "unit": "mL/min/1.73m2"}),
            json!({"value": 75.0, "system": UCUM, "code": "mL/min/{1.73_m2}", "unit": "mL/min/1.73m2"}),
            json!({"value": 75.0}),
        ] {
            assert!(found(&egfr(q.clone())).is_empty(), "{q}");
        }
        // HbA1c with an annotated percent, from the item's JLAC10 code.
        let hba1c = json!({"resourceType": "Observation",
            "code": {"coding": [{"system": "urn:oid:1.2.392.200119.4.504", "code": "3D046000001906202"}]},
            "valueQuantity": {"value": 6.1, "system": UCUM, "code": "%{HbA1c}"}});
        assert!(found(&hba1c).is_empty());
    }

    #[test]
    fn a_coded_unit_of_another_quantity_is_refused_and_a_text_one_warned() {
        let coded = egfr(json!({"value": 75.0, "system": UCUM, "code": "mL/min"}));
        assert_eq!(
            found(&coded),
            [(true, "Observation.valueQuantity.code".to_owned())]
        );
        let text = egfr(json!({"value": 75.0, "unit": "mg/dL"}));
        assert_eq!(
            found(&text),
            [(false, "Observation.valueQuantity.unit".to_owned())]
        );
        // Components are checked against their own items.
        let bp = json!({"resourceType": "Observation",
            "code": {"text": "血圧"},
            "component": [{"code": {"coding": [{"system": "urn:oid:1.2.392.200119.6.1005", "code": "9A751000000000001"}]},
                           "valueQuantity": {"value": 128, "system": UCUM, "code": "kg"}}]});
        assert_eq!(
            found(&bp),
            [(
                true,
                "Observation.component[0].valueQuantity.code".to_owned()
            )]
        );
    }
}
