//! The directory's vocabularies: the functions an institution is certified for, the
//! practitioners' qualifications, and the prefectures.
//!
//! Functions follow the 全国健康保険協会連合会 proposal for かかりつけ医 certification: four
//! common functions every certified institution has, and optional ones it may add.

/// A function an institution may be certified for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Function {
    pub code: &'static str,
    pub label: &'static str,
    /// Part of the common functions every certified institution must have.
    pub common: bool,
}

pub const FUNCTIONS: &[Function] = &[
    Function {
        code: "broad-consultation",
        label: "幅広い相談への対応",
        common: true,
    },
    Function {
        code: "information-hub",
        label: "患者情報の一元的な把握",
        common: true,
    },
    Function {
        code: "care-coordination",
        label: "他の医療機関との連携",
        common: true,
    },
    Function {
        code: "after-hours",
        label: "時間外の相談対応",
        common: true,
    },
    Function {
        code: "online-first-visit",
        label: "初診からのオンライン診療",
        common: false,
    },
    Function {
        code: "fever-outpatient",
        label: "発熱外来",
        common: false,
    },
    Function {
        code: "vaccination",
        label: "予防接種",
        common: false,
    },
    Function {
        code: "home-care",
        label: "在宅医療",
        common: false,
    },
    Function {
        code: "palliative-care",
        label: "緩和ケア・看取り",
        common: false,
    },
    Function {
        code: "refill-prescription",
        label: "リフィル処方",
        common: false,
    },
    Function {
        code: "checkups-guidance",
        label: "健診・保健指導",
        common: false,
    },
];

pub fn function(code: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.code == code)
}

/// The common functions missing from `codes` (certification needs all of them).
pub fn missing_common(codes: &[String]) -> Vec<&'static str> {
    FUNCTIONS
        .iter()
        .filter(|f| f.common && !codes.iter().any(|c| c == f.code))
        .map(|f| f.code)
        .collect()
}

/// A practitioner qualification relevant to the かかりつけ医 role.
pub const QUALIFICATIONS: &[(&str, &str)] = &[
    ("kakaritsuke-training", "かかりつけ医機能研修修了"),
    ("general-medicine-specialist", "総合診療専門医"),
];

pub fn qualification(code: &str) -> Option<&'static str> {
    QUALIFICATIONS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, l)| *l)
}

/// The 47 prefectures by JIS X 0401 code.
pub const PREFECTURES: &[&str] = &[
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
];

/// A prefecture's two-digit code from its code (`13`, `1`) or its name (`東京都`, `東京`).
pub fn prefecture_code(input: &str) -> Option<String> {
    let t = input.trim();
    if let Ok(n) = t.parse::<usize>() {
        return (1..=47).contains(&n).then(|| format!("{n:02}"));
    }
    PREFECTURES
        .iter()
        .position(|p| {
            *p == t
                || (t.chars().count() >= 2
                    && p.starts_with(t)
                    && p.chars().count() == t.chars().count() + 1)
        })
        .map(|i| format!("{:02}", i + 1))
}

/// A prefecture's name from its two-digit code.
pub fn prefecture_name(code: &str) -> Option<&'static str> {
    code.parse::<usize>()
        .ok()
        .filter(|n| (1..=47).contains(n))
        .map(|n| PREFECTURES[n - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefectures_by_code_or_name() {
        assert_eq!(prefecture_code("13").as_deref(), Some("13"));
        assert_eq!(prefecture_code("東京都").as_deref(), Some("13"));
        assert_eq!(prefecture_code("東京").as_deref(), Some("13"));
        assert_eq!(prefecture_code("北海道").as_deref(), Some("01"));
        assert_eq!(prefecture_code("48"), None);
        assert_eq!(prefecture_code("東"), None);
        assert_eq!(prefecture_name("47"), Some("沖縄県"));
    }

    #[test]
    fn certification_needs_every_common_function() {
        let some = vec!["broad-consultation".to_owned(), "vaccination".to_owned()];
        assert_eq!(
            missing_common(&some),
            ["information-hub", "care-coordination", "after-hours"]
        );
        let all: Vec<String> = FUNCTIONS
            .iter()
            .filter(|f| f.common)
            .map(|f| f.code.to_owned())
            .collect();
        assert!(missing_common(&all).is_empty());
    }
}
