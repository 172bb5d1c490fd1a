//! The individual insurance member id (個人単位被保険者番号) that identifies a person
//! nationally, written like JP Core's `JP_Insurance_memberID`:
//! `保険者番号(8):記号:番号:枝番(2)`, e.g. `06139463:１２:３４５:01`.
//!
//! 記号 (symbol) and 番号 (number) arrive with full-width digits, spaces and assorted
//! dashes. Normalisation (decided here, once): NFKC, every dash-like character (－ − ‐ ‑ ‒ –
//! — ―, and ｰ/ー between digits) becomes `-`, all whitespace is removed. 枝番 (branch) is
//! two digits; older claims and exports lack it, which makes 記号+番号 shared by a whole
//! family (see `matches_family`). 記号 may be empty: cards of 後期高齢者医療 and many 国保
//! have none.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

use super::identifiers::{CodeError, InsurerNumber};

/// Why a member id was refused. Names the part, never echoes the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MemberIdError {
    #[error("expected 保険者番号:記号:番号[:枝番] (3 or 4 parts separated by ':')")]
    Shape,
    #[error("insurer number: {0}")]
    Insurer(CodeError),
    #[error("number (番号) is empty")]
    EmptyNumber,
    #[error("symbol or number contains a character that is not allowed")]
    BadCharacter,
    #[error("branch (枝番) must be 1 or 2 digits")]
    Branch,
}

/// A normalised member id. Two ids that denote the same card compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId {
    insurer: InsurerNumber,
    symbol: String,
    number: String,
    branch: Option<String>,
}

fn is_dash(c: char) -> bool {
    matches!(
        c,
        '-' | '－' | '−' | '‐' | '‑' | '‒' | '–' | '—' | '―' | '﹣'
    )
}

/// NFKC, dashes unified, whitespace removed. The katakana prolonged sound mark (ー, which
/// NFKC makes of ｰ) is a common typing slip for a dash between digits; elsewhere it may be
/// part of a kana symbol and is kept.
pub fn normalise_card_text(raw: &str) -> String {
    let chars: Vec<char> = raw.nfkc().filter(|c| !c.is_whitespace()).collect();
    let mut out = String::with_capacity(chars.len());
    for (i, &c) in chars.iter().enumerate() {
        let between_digits = i > 0
            && chars[i - 1].is_ascii_digit()
            && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
        if is_dash(c) || (c == 'ー' && between_digits) {
            out.push('-');
        } else {
            out.push(c);
        }
    }
    out
}

fn card_part(raw: &str, empty: Option<MemberIdError>) -> Result<String, MemberIdError> {
    let part = normalise_card_text(raw);
    if let (true, Some(error)) = (part.is_empty(), empty) {
        return Err(error);
    }
    // ':' separates the parts; control characters never belong on a card.
    if part.chars().any(|c| c == ':' || c.is_control()) {
        return Err(MemberIdError::BadCharacter);
    }
    Ok(part)
}

fn branch_part(raw: &str) -> Result<Option<String>, MemberIdError> {
    let branch = normalise_card_text(raw);
    if branch.is_empty() {
        return Ok(None);
    }
    if branch.len() > 2 || !branch.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MemberIdError::Branch);
    }
    Ok(Some(format!("{branch:0>2}")))
}

impl MemberId {
    /// Builds a member id from its parts as they appear on a card or in a record.
    pub fn from_parts(
        insurer: &str,
        symbol: &str,
        number: &str,
        branch: Option<&str>,
    ) -> Result<Self, MemberIdError> {
        Ok(Self {
            insurer: InsurerNumber::parse(insurer).map_err(MemberIdError::Insurer)?,
            // Cards of 後期高齢者医療 and many 国保 carry no 記号: an empty symbol is valid.
            symbol: card_part(symbol, None)?,
            number: card_part(number, Some(MemberIdError::EmptyNumber))?,
            branch: match branch {
                Some(b) => branch_part(b)?,
                None => None,
            },
        })
    }

    /// Parses `保険者番号:記号:番号[:枝番]`. Full-width colons are accepted.
    pub fn parse(raw: &str) -> Result<Self, MemberIdError> {
        let unified: String = raw.nfkc().collect();
        let parts: Vec<&str> = unified.split(':').collect();
        match parts.as_slice() {
            [insurer, symbol, number] => Self::from_parts(insurer, symbol, number, None),
            [insurer, symbol, number, branch] => {
                Self::from_parts(insurer, symbol, number, Some(branch))
            }
            _ => Err(MemberIdError::Shape),
        }
    }

    pub fn insurer(&self) -> &InsurerNumber {
        &self.insurer
    }

    pub fn symbol(&self) -> &str {
        &self.symbol
    }

    pub fn number(&self) -> &str {
        &self.number
    }

    pub fn branch(&self) -> Option<&str> {
        self.branch.as_deref()
    }

    /// The family key `保険者番号:記号:番号` shared by everyone on the card when 枝番 is
    /// missing.
    pub fn family_key(&self) -> String {
        format!("{}:{}:{}", self.insurer, self.symbol, self.number)
    }

    /// The canonical text form; the store's unique key for a person.
    pub fn key(&self) -> String {
        self.to_string()
    }

    /// True when `other` may denote the same person: same card, and the branches agree or
    /// one of them is unknown.
    pub fn matches_family(&self, other: &MemberId) -> bool {
        self.insurer == other.insurer
            && self.symbol == other.symbol
            && self.number == other.number
            && match (&self.branch, &other.branch) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }

    /// Returns the same id with the branch filled in.
    pub fn with_branch(&self, branch: &str) -> Result<Self, MemberIdError> {
        Ok(Self {
            branch: branch_part(branch)?,
            ..self.clone()
        })
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.insurer, self.symbol, self.number)?;
        if let Some(branch) = &self.branch {
            write!(f, ":{branch}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for MemberId {
    type Err = MemberIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_digits_spaces_and_dashes_normalise_to_one_key() {
        let a = MemberId::parse("06139463:１２－３４:５ ６７８:01").unwrap();
        let b = MemberId::parse("06139463:12-34:5678:1").unwrap();
        let c = MemberId::from_parts("６１３９４６３", " １２−３４ ", "５６７８", Some("０１"))
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.key(), "06139463:12-34:5678:01");
        let typo = MemberId::parse("06139463:１２ー３４:5678:01").unwrap();
        assert_eq!(typo, a);
        let kana = MemberId::parse("06139463:ロー:5678:01").unwrap();
        assert_eq!(kana.symbol(), "ロー");
    }

    #[test]
    fn branch_is_optional_and_family_matching_respects_it() {
        let family = MemberId::parse("06139463:12:345").unwrap();
        assert_eq!(family.branch(), None);
        assert_eq!(family.key(), "06139463:12:345");
        let child = MemberId::parse("06139463:12:345:03").unwrap();
        let spouse = MemberId::parse("06139463:12:345:02").unwrap();
        assert!(family.matches_family(&child));
        assert!(!child.matches_family(&spouse));
        assert_eq!(family.with_branch("3").unwrap(), child);
    }

    #[test]
    fn malformed_ids_name_the_part_without_echoing_it() {
        assert_eq!(MemberId::parse("06139463"), Err(MemberIdError::Shape));
        assert_eq!(
            MemberId::parse("06139463:::01"),
            Err(MemberIdError::EmptyNumber)
        );
        assert_eq!(
            MemberId::parse("06139463:12::01"),
            Err(MemberIdError::EmptyNumber)
        );
        assert_eq!(
            MemberId::parse("06139463:12:34:ab"),
            Err(MemberIdError::Branch)
        );
        assert!(matches!(
            MemberId::parse("0613946X:12:34:01"),
            Err(MemberIdError::Insurer(_))
        ));
        let message = MemberId::parse("06139463:12:34:999")
            .unwrap_err()
            .to_string();
        assert!(!message.contains("999"));
    }

    #[test]
    fn cards_without_a_symbol_are_valid() {
        let elderly = MemberId::parse("39131234::12345678").unwrap();
        assert_eq!(elderly.symbol(), "");
        assert_eq!(elderly.key(), "39131234::12345678");
        assert_eq!(
            MemberId::from_parts("39131234", "", "１２３４５６７８", None).unwrap(),
            elderly
        );
    }

    #[test]
    fn full_width_colons_separate_parts() {
        let id = MemberId::parse("06139463：12：345：01").unwrap();
        assert_eq!(id.key(), "06139463:12:345:01");
    }
}
