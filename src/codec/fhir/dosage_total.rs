//! The dispensed total against the dosage, where the resource states all three parts of
//! the product in one unit and nothing leaves room for another reading.
//!
//! Rule (MedicationRequest `dispenseRequest.quantity`, MedicationDispense `quantity`):
//! total = daily amount × days, when
//! * there is exactly one dosage instruction and it is not as-needed (頓用 counts doses,
//!   not days);
//! * the daily amount is given: `doseAndRate.rateRatio` per 1 day (JP Core's 1日量), or
//!   `doseAndRate.doseQuantity` with `timing.repeat.frequency` per `period` days;
//! * the days are given: `dispenseRequest.expectedSupplyDuration` / `daysSupply`, else
//!   `timing.repeat.boundsDuration`, in UCUM `d`;
//! * the daily amount and the total have the same unit code (and system, when both name
//!   one): 錠 against 錠. An eye-drop total in bottles (瓶, 本) against drops per use is
//!   not comparable and is not checked.
//!
//! A prescription whose total differs is refused (`fhir.dosage_inconsistent`, at the
//! total's `value`): the total of an order is by definition the daily amount times the
//! days, so one of the three numbers is wrong, and kakari's medication list would count
//! days from numbers that contradict each other. A dispense may legitimately hand over
//! less than the days need (分割調剤, 残薬調整; the JP Core MedicationDispense example
//! itself hands over 9 tablets for 3 a day over 7 days), so there it is a warning.

use serde_json::Value;

use super::ResourceType;
use super::path::child;
use super::value::{decimal, items, str_of};
use crate::error::{ErrorCode, Issue};

/// A number with its unit code and system.
struct Amount<'a> {
    value: f64,
    code: &'a str,
    system: Option<&'a str>,
}

fn amount(q: &Value) -> Option<Amount<'_>> {
    Some(Amount {
        value: q.get("value").and_then(decimal)?.to_f64(),
        code: str_of(q, "code")?,
        system: str_of(q, "system"),
    })
}

fn same_unit(a: &Amount<'_>, b: &Amount<'_>) -> bool {
    a.code == b.code
        && match (a.system, b.system) {
            (Some(x), Some(y)) => x == y,
            _ => true,
        }
}

/// Days of a Duration in UCUM `d`.
fn days(duration: Option<&Value>) -> Option<f64> {
    let d = duration?;
    (str_of(d, "code") == Some("d")).then_some(())?;
    Some(d.get("value").and_then(decimal)?.to_f64())
}

/// The daily amount a dosage states, in the unit it states it in.
fn daily(dosage: &Value) -> Option<Amount<'_>> {
    let rate = items(dosage, "doseAndRate").first()?;
    if let Some(ratio) = rate.get("rateRatio") {
        let per = ratio.get("denominator")?;
        let one_day =
            str_of(per, "code") == Some("d") && per.get("value").and_then(decimal)?.to_f64() == 1.0;
        return one_day.then(|| amount(ratio.get("numerator")?)).flatten();
    }
    let dose = amount(rate.get("doseQuantity")?)?;
    let repeat = dosage.get("timing")?.get("repeat")?;
    let frequency = repeat.get("frequency").and_then(decimal)?.to_f64();
    let period = repeat.get("period").and_then(decimal)?.to_f64();
    if str_of(repeat, "periodUnit") != Some("d") || period <= 0.0 {
        return None;
    }
    Some(Amount {
        value: dose.value * frequency / period,
        ..dose
    })
}

/// The contradiction issue, if the resource states one.
pub fn check(rtype: ResourceType, resource: &Value, root: &str) -> Vec<Issue> {
    let (total_at, total, supply, dosages) = match rtype {
        ResourceType::MedicationRequest => {
            let dispense = resource.get("dispenseRequest");
            (
                child(root, "dispenseRequest.quantity.value"),
                dispense.and_then(|d| d.get("quantity")),
                dispense.and_then(|d| d.get("expectedSupplyDuration")),
                items(resource, "dosageInstruction"),
            )
        }
        ResourceType::MedicationDispense => (
            child(root, "quantity.value"),
            resource.get("quantity"),
            resource.get("daysSupply"),
            items(resource, "dosageInstruction"),
        ),
        _ => return Vec::new(),
    };
    let [dosage] = dosages else {
        return Vec::new();
    };
    let as_needed = dosage.get("asNeededBoolean") == Some(&Value::Bool(true))
        || dosage.get("asNeededCodeableConcept").is_some();
    if as_needed {
        return Vec::new();
    }
    let bounds = dosage
        .get("timing")
        .and_then(|t| t.get("repeat"))
        .and_then(|r| r.get("boundsDuration"));
    let (Some(total), Some(per_day), Some(days)) = (
        total.and_then(amount),
        daily(dosage),
        days(supply).or_else(|| days(bounds)),
    ) else {
        return Vec::new();
    };
    if !same_unit(&total, &per_day) {
        return Vec::new();
    }
    let expected = per_day.value * days;
    if (total.value - expected).abs() <= 1e-9 * expected.abs().max(1.0) {
        return Vec::new();
    }
    if rtype == ResourceType::MedicationDispense {
        return vec![Issue::warning(
            ErrorCode::DosageInconsistent,
            total_at,
            "the quantity handed over differs from the daily amount × days supply (partial dispensing or leftover adjustment?); kept as sent",
        )];
    }
    vec![Issue::error(
        ErrorCode::DosageInconsistent,
        total_at,
        "the dispensed total differs from the daily amount × days the dosage gives in the same unit",
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(total: f64, rate: Value) -> Value {
        json!({"resourceType": "MedicationRequest",
            "dosageInstruction": [{"timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [rate]}],
            "dispenseRequest": {"quantity": {"value": total, "code": "TAB", "system": "urn:oid:1.2.392.100495.20.2.101"},
                                "expectedSupplyDuration": {"value": 14, "code": "d", "system": "http://unitsofmeasure.org"}}})
    }

    fn errors(v: &Value, rtype: ResourceType) -> Vec<String> {
        check(rtype, v, rtype.as_str())
            .into_iter()
            .filter(Issue::is_error)
            .map(|i| i.location)
            .collect()
    }

    #[test]
    fn daily_amount_times_days_must_equal_the_total() {
        let per_day = json!({"rateRatio": {"numerator": {"value": 3, "code": "TAB", "system": "urn:oid:1.2.392.100495.20.2.101"},
                                           "denominator": {"value": 1, "code": "d"}}});
        assert!(
            errors(
                &request(42.0, per_day.clone()),
                ResourceType::MedicationRequest
            )
            .is_empty()
        );
        assert_eq!(
            errors(&request(40.0, per_day), ResourceType::MedicationRequest),
            ["MedicationRequest.dispenseRequest.quantity.value"]
        );
        // Dose × frequency per day, when no 1日量 is given.
        let dose = json!({"doseQuantity": {"value": 1, "code": "TAB"}});
        assert!(
            errors(
                &request(42.0, dose.clone()),
                ResourceType::MedicationRequest
            )
            .is_empty()
        );
        assert_eq!(
            errors(&request(28.0, dose), ResourceType::MedicationRequest).len(),
            1
        );
    }

    #[test]
    fn other_units_as_needed_and_several_dosages_are_not_compared() {
        // Drops per use against a total in bottles.
        let drops = json!({"doseQuantity": {"value": 1, "code": "DROP"}});
        let mut eye = request(1.0, drops);
        eye["dispenseRequest"]["quantity"]["code"] = json!("BTL");
        assert!(errors(&eye, ResourceType::MedicationRequest).is_empty());
        let dose = json!({"doseQuantity": {"value": 1, "code": "TAB"}});
        let mut prn = request(10.0, dose.clone());
        prn["dosageInstruction"][0]["asNeededBoolean"] = json!(true);
        assert!(errors(&prn, ResourceType::MedicationRequest).is_empty());
        let mut two = request(10.0, dose);
        let second = two["dosageInstruction"][0].clone();
        two["dosageInstruction"]
            .as_array_mut()
            .unwrap()
            .push(second);
        assert!(errors(&two, ResourceType::MedicationRequest).is_empty());
    }

    #[test]
    fn dispenses_that_hand_over_another_amount_are_warned_not_refused() {
        let md = json!({"resourceType": "MedicationDispense",
            "quantity": {"value": 27, "code": "TAB"},
            "daysSupply": {"value": 28, "code": "d"},
            "dosageInstruction": [{"doseAndRate": [{"rateRatio": {
                "numerator": {"value": 1, "code": "TAB"}, "denominator": {"value": 1, "code": "d"}}}]}]});
        assert!(errors(&md, ResourceType::MedicationDispense).is_empty());
        let issues = check(ResourceType::MedicationDispense, &md, "MedicationDispense");
        assert_eq!(issues[0].location, "MedicationDispense.quantity.value");
        assert_eq!(issues[0].code, ErrorCode::DosageInconsistent);
    }
}
