//! Satisfaction surveys of institutions: kakari's questionnaire (five items on a 1-5
//! scale), and how responses are summarised for the directory. Pure.
//!
//! A summary shows per-item means only from [`MIN_RESPONSES`] responses on: below that,
//! a few answers could be traced to the persons who gave them, and a mean of three is
//! not a measure of an institution.

/// Responses needed before scores are shown.
pub const MIN_RESPONSES: i64 = 10;

/// The questionnaire's items: (linkId, question).
pub const ITEMS: &[(&str, &str)] = &[
    (
        "overall",
        "総合的にみて、このかかりつけ医に満足していますか",
    ),
    (
        "explanation",
        "病状や治療について、わかりやすく説明してもらえましたか",
    ),
    ("consultation", "健康について気軽に相談できましたか"),
    (
        "access",
        "予約・待ち時間・時間外の対応など、受診しやすかったですか",
    ),
    ("coordination", "他の医療機関や薬局との連携は十分でしたか"),
];

/// The lowest and highest score of an item.
pub const SCALE: (i64, i64) = (1, 5);

/// One item's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemScore {
    pub item: &'static str,
    /// The mean with one decimal (`4.3`).
    pub mean: String,
}

/// What the directory shows of an institution's responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub responses: i64,
    /// Per-item means; empty below [`MIN_RESPONSES`].
    pub items: Vec<ItemScore>,
}

/// The mean `sum / count` with one decimal, rounded half up (integers only: no float
/// surprises in what the public sees).
pub fn mean_one_decimal(sum: i64, count: i64) -> String {
    if count <= 0 {
        return String::new();
    }
    let tenths = (sum * 20 + count) / (2 * count);
    format!("{}.{}", tenths / 10, tenths % 10)
}

/// Summarises an institution's responses: `responses`, and per item (count, sum).
pub fn summarise(responses: i64, per_item: &[(&str, i64, i64)]) -> Summary {
    let items = if responses < MIN_RESPONSES {
        Vec::new()
    } else {
        ITEMS
            .iter()
            .filter_map(|(item, _)| {
                per_item
                    .iter()
                    .find(|(i, _, _)| i == item)
                    .map(|(_, count, sum)| ItemScore {
                        item,
                        mean: mean_one_decimal(*sum, *count),
                    })
            })
            .collect()
    };
    Summary { responses, items }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_round_half_up_to_one_decimal() {
        assert_eq!(mean_one_decimal(43, 10), "4.3");
        assert_eq!(mean_one_decimal(9, 2), "4.5");
        assert_eq!(mean_one_decimal(13, 3), "4.3");
        assert_eq!(mean_one_decimal(29, 7), "4.1");
        assert_eq!(mean_one_decimal(50, 10), "5.0");
        assert_eq!(mean_one_decimal(0, 0), "");
    }

    #[test]
    fn scores_are_suppressed_below_ten_responses() {
        let nine = summarise(9, &[("overall", 9, 45)]);
        assert!(nine.items.is_empty());
        let ten = summarise(10, &[("overall", 10, 41), ("access", 10, 30)]);
        assert_eq!(
            ten.items,
            vec![
                ItemScore {
                    item: "overall",
                    mean: "4.1".into()
                },
                ItemScore {
                    item: "access",
                    mean: "3.0".into()
                }
            ]
        );
    }
}
