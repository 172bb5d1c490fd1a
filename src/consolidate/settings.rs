//! The engine's tunable numbers, with their defaults. Operators set them in the
//! configuration (the struct deserialises with every field optional); the rules and
//! thresholds of the findings are data (`mappings/medication-findings.csv`).

use serde::{Deserialize, Serialize};

/// Window, spans and matching tolerances, in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListSettings {
    /// Length of the look-back window ending on `asOf` (that day included): what was
    /// active on any of these days is listed.
    pub look_back_days: u32,
    /// Successive supplies of one drug from one institution form one entry when the next
    /// starts at most this many days after the previous one ended.
    pub course_gap_days: u32,
    /// A dispensing fills a prescription issued at most this many days before it
    /// (処方箋の使用期間: 交付の日を含めて4日以内).
    pub dispense_within_days: u32,
    /// A claim and the act it claims (a dispensing, or a clinic's own prescription) may
    /// be dated this many days apart.
    pub claim_within_days: u32,
    /// How long a 頓服 (as-needed) drug is considered at hand from its date.
    pub as_needed_days: u32,
    /// The shortest span of a topical drug (its amount is not a duration).
    pub topical_days: u32,
}

/// Settings beyond this many days (100 years) are taken as this many.
const MAX_DAYS: u32 = 36_500;

/// A setting in days as the engine computes with it (bounded, so no sum overflows).
pub(super) fn days(value: u32) -> i32 {
    value.min(MAX_DAYS) as i32
}

impl Default for ListSettings {
    fn default() -> Self {
        Self {
            look_back_days: 100,
            course_gap_days: 14,
            dispense_within_days: 4,
            claim_within_days: 1,
            as_needed_days: 30,
            topical_days: 30,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_deserialise_with_defaults_for_what_is_left_out() {
        let s: ListSettings = serde_json::from_str(r#"{"look_back_days": 30}"#).unwrap();
        assert_eq!(s.look_back_days, 30);
        assert_eq!(s.course_gap_days, ListSettings::default().course_gap_days);
        assert!(serde_json::from_str::<ListSettings>(r#"{"look_back": 30}"#).is_err());
    }
}
