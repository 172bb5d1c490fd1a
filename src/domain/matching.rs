//! Push-type matching: an insurer posts a member's need anonymously (region, condition
//! categories, wanted functions); certified institutions of the region raise their hands;
//! the member accepts one, and that acceptance is their confirmation of the registration.
//! Pure: the vocabulary of condition categories and the checks of a need.
//!
//! **Anonymity.** What an institution sees of a need before the member accepted its hand
//! is only what is in [`AnonymousNeed`]: no member id, insurer, person, name, birth date or
//! free text (free text is where identities leak).

use super::directory;

/// Condition categories an insurer may name (coarse on purpose: a category, not a
/// diagnosis).
pub const CONDITIONS: &[(&str, &str)] = &[
    ("diabetes", "糖尿病"),
    ("hypertension", "高血圧"),
    ("dyslipidemia", "脂質異常症"),
    ("kidney", "慢性腎臓病"),
    ("heart", "心疾患"),
    ("cerebrovascular", "脳血管疾患"),
    ("respiratory", "呼吸器疾患"),
    ("dementia", "認知症"),
    ("mental", "精神疾患"),
    ("cancer", "がん"),
    ("frailty", "フレイル・要介護"),
    ("multimorbidity", "複数の慢性疾患"),
];

/// What a need asks for, as an institution may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnonymousNeed {
    pub prefecture: String,
    pub city: Option<String>,
    pub conditions: Vec<String>,
    pub functions: Vec<String>,
}

/// Why a need is refused: the field and a fixed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeedRefusal {
    pub field: &'static str,
    pub message: &'static str,
}

/// Checks the categories and functions of a need: at least one of either, each known,
/// no repeats, at most ten of each.
pub fn check(conditions: &[String], functions: &[String]) -> Result<(), NeedRefusal> {
    if conditions.is_empty() && functions.is_empty() {
        return Err(NeedRefusal {
            field: "conditions",
            message: "name at least one condition category or wanted function",
        });
    }
    for (field, list, known) in [
        (
            "conditions",
            conditions,
            &(|c: &str| CONDITIONS.iter().any(|(k, _)| *k == c)) as &dyn Fn(&str) -> bool,
        ),
        ("functions", functions, &|c: &str| {
            directory::function(c).is_some()
        }),
    ] {
        if list.len() > 10 {
            return Err(NeedRefusal {
                field,
                message: "at most 10",
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in list {
            if !known(c) {
                return Err(NeedRefusal {
                    field,
                    message: "unknown code (see docs/collaboration.md)",
                });
            }
            if !seen.insert(c) {
                return Err(NeedRefusal {
                    field,
                    message: "a code is repeated",
                });
            }
        }
    }
    Ok(())
}

/// Does an institution offering `offered` functions in `prefecture`/`city` see a need in
/// its region? (Certification is checked by the caller.) The wanted functions are what
/// the member hopes for; an institution without them may still raise its hand.
pub fn in_region(need: &AnonymousNeed, prefecture: &str, city: Option<&str>) -> bool {
    need.prefecture == prefecture
        && match (&need.city, city) {
            (Some(wanted), Some(c)) => wanted == c,
            (Some(_), None) => false,
            (None, _) => true,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_need_names_known_categories_and_functions() {
        assert!(check(&v(&["diabetes"]), &v(&["home-care"])).is_ok());
        assert!(check(&v(&[]), &v(&["home-care"])).is_ok());
        assert_eq!(check(&v(&[]), &v(&[])).unwrap_err().field, "conditions");
        assert_eq!(
            check(&v(&["gout-of-mr-tanaka"]), &v(&[]))
                .unwrap_err()
                .field,
            "conditions"
        );
        assert_eq!(
            check(&v(&["diabetes"]), &v(&["teleport"]))
                .unwrap_err()
                .field,
            "functions"
        );
        assert!(check(&v(&["diabetes", "diabetes"]), &v(&[])).is_err());
    }

    #[test]
    fn the_region_is_the_prefecture_and_the_city_when_named() {
        let need = AnonymousNeed {
            prefecture: "13".into(),
            city: Some("文京区".into()),
            conditions: v(&["diabetes"]),
            functions: Vec::new(),
        };
        assert!(in_region(&need, "13", Some("文京区")));
        assert!(!in_region(&need, "13", Some("新宿区")));
        assert!(!in_region(&need, "14", Some("文京区")));
        let wide = AnonymousNeed { city: None, ..need };
        assert!(in_region(&wide, "13", None));
        assert!(in_region(&wide, "13", Some("新宿区")));
    }
}
