//! Codes that identify institutions and insurers.
//!
//! * A medical institution code (医療機関コード) has 10 digits: prefecture (2), fee schedule
//!   (点数表, 1: 1 = 医科, 3 = 歯科, 4 = 調剤) and the institution number (7).
//! * An insurer number (保険者番号) has 8 digits; 6-digit numbers (国民健康保険) are
//!   zero-padded on the left.
//!
//! Both accept full-width digits and surrounding spaces (NFKC), which real feeds carry.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// Why a code was refused. Carries no part of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("must be {expected} digits")]
    Length { expected: usize },
    #[error("must contain digits only")]
    NotDigits,
}

fn ascii_digits(raw: &str) -> Result<String, CodeError> {
    let normalised: String = raw.nfkc().filter(|c| !c.is_whitespace()).collect();
    if normalised.is_empty() || !normalised.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CodeError::NotDigits);
    }
    Ok(normalised)
}

/// A 10-digit medical institution code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstitutionCode(String);

impl InstitutionCode {
    pub fn parse(raw: &str) -> Result<Self, CodeError> {
        let digits = ascii_digits(raw)?;
        if digits.len() != 10 {
            return Err(CodeError::Length { expected: 10 });
        }
        Ok(Self(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The two-digit prefecture number (01 Hokkaido … 47 Okinawa).
    pub fn prefecture(&self) -> &str {
        &self.0[..2]
    }

    /// The fee schedule digit: 1 医科, 3 歯科, 4 調剤.
    pub fn fee_schedule(&self) -> char {
        self.0.as_bytes()[2] as char
    }

    /// True for a pharmacy (点数表 4).
    pub fn is_pharmacy(&self) -> bool {
        self.fee_schedule() == '4'
    }
}

impl fmt::Display for InstitutionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An 8-digit insurer number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InsurerNumber(String);

impl InsurerNumber {
    /// Accepts 6 or 8 digits (6 are zero-padded to 8), full-width or not.
    pub fn parse(raw: &str) -> Result<Self, CodeError> {
        let digits = ascii_digits(raw)?;
        match digits.len() {
            8 => Ok(Self(digits)),
            1..=7 => Ok(Self(format!("{digits:0>8}"))),
            _ => Err(CodeError::Length { expected: 8 }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InsurerNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn institution_code_accepts_full_width_and_exposes_parts() {
        let code = InstitutionCode::parse(" １３１１２３４５６７ ").unwrap();
        assert_eq!(code.as_str(), "1311234567");
        assert_eq!(code.prefecture(), "13");
        assert_eq!(code.fee_schedule(), '1');
        assert!(!code.is_pharmacy());
        assert!(InstitutionCode::parse("1341234567").unwrap().is_pharmacy());
    }

    #[test]
    fn institution_code_rejects_wrong_length_and_letters() {
        assert_eq!(
            InstitutionCode::parse("123"),
            Err(CodeError::Length { expected: 10 })
        );
        assert_eq!(
            InstitutionCode::parse("13112345a7"),
            Err(CodeError::NotDigits)
        );
        assert_eq!(InstitutionCode::parse(""), Err(CodeError::NotDigits));
    }

    #[test]
    fn insurer_number_pads_six_digit_kokuho_numbers() {
        assert_eq!(InsurerNumber::parse("138057").unwrap().as_str(), "00138057");
        assert_eq!(
            InsurerNumber::parse("０６１３９４６３").unwrap().as_str(),
            "06139463"
        );
        assert!(InsurerNumber::parse("123456789").is_err());
    }
}
