//! An exact decimal that keeps the literal it arrived with.
//!
//! A lab value of `1.50` is not `1.5`: the trailing zero states the precision of the
//! measurement, and FHIR requires it to survive a round trip. `Decimal` stores the
//! canonical literal text and computes with `f64` only when asked (thresholds, sums).

use std::fmt;

/// Why a decimal literal was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("not a decimal number")]
    Syntax,
    #[error("decimal has more than 30 significant characters")]
    TooLong,
}

/// A decimal number as a validated literal (`-?digits[.digits][e±digits]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decimal(String);

const MAX_LEN: usize = 30;

fn is_fhir_decimal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_len = i - int_start;
    if int_len == 0 || (int_len > 1 && b[int_start] == b'0') {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == frac_start {
            return false;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

impl Decimal {
    /// Strict FHIR / JSON decimal syntax, as the literal was written.
    pub fn parse(literal: &str) -> Result<Self, DecimalError> {
        if literal.len() > MAX_LEN {
            return Err(DecimalError::TooLong);
        }
        if !is_fhir_decimal(literal) {
            return Err(DecimalError::Syntax);
        }
        Ok(Self(literal.to_owned()))
    }

    /// The forms found in HL7 v2 NM fields, UKE and CDA: a leading `+`, a leading or
    /// trailing `.`, leading zeros and surrounding spaces are accepted and put into
    /// canonical form without changing the number of fraction digits.
    pub fn parse_lenient(raw: &str) -> Result<Self, DecimalError> {
        let trimmed = raw.trim();
        if trimmed.len() > MAX_LEN {
            return Err(DecimalError::TooLong);
        }
        let (negative, unsigned) = match trimmed.as_bytes().first() {
            Some(b'-') => (true, &trimmed[1..]),
            Some(b'+') => (false, &trimmed[1..]),
            _ => (false, trimmed),
        };
        let (int_part, frac_part) = match unsigned.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (unsigned, None),
        };
        if !int_part.bytes().all(|c| c.is_ascii_digit())
            || !frac_part.is_none_or(|f| f.bytes().all(|c| c.is_ascii_digit()))
            || (int_part.is_empty() && frac_part.is_none_or(str::is_empty))
        {
            return Err(DecimalError::Syntax);
        }
        let int_digits = int_part.trim_start_matches('0');
        let mut out = String::with_capacity(trimmed.len() + 1);
        let is_zero =
            int_digits.is_empty() && frac_part.is_none_or(|f| f.bytes().all(|c| c == b'0'));
        if negative && !is_zero {
            out.push('-');
        }
        out.push_str(if int_digits.is_empty() {
            "0"
        } else {
            int_digits
        });
        if let Some(frac) = frac_part.filter(|f| !f.is_empty()) {
            out.push('.');
            out.push_str(frac);
        }
        Self::parse(&out)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value as a float, for comparisons with thresholds. Always finite.
    pub fn to_f64(&self) -> f64 {
        self.0.parse().unwrap_or(0.0)
    }

    /// Number of digits after the decimal point as written (`1.50` → 2).
    pub fn scale(&self) -> usize {
        let mantissa = self.0.split(['e', 'E']).next().unwrap_or("");
        mantissa.split_once('.').map_or(0, |(_, f)| f.len())
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_trailing_zeros() {
        let d = Decimal::parse("1.50").unwrap();
        assert_eq!(d.as_str(), "1.50");
        assert_eq!(d.scale(), 2);
        assert!((d.to_f64() - 1.5).abs() < f64::EPSILON);
    }

    #[test]
    fn strict_syntax_follows_fhir() {
        for ok in ["0", "-1", "3.14", "1e10", "2.5E-3", "-0.0"] {
            assert!(Decimal::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "01", "+1", ".5", "1.", "1e", "abc", "1..2", "NaN", " 1"] {
            assert!(Decimal::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lenient_forms_from_hl7_are_canonicalised_without_losing_precision() {
        assert_eq!(Decimal::parse_lenient("+1.50").unwrap().as_str(), "1.50");
        assert_eq!(Decimal::parse_lenient(".5").unwrap().as_str(), "0.5");
        assert_eq!(Decimal::parse_lenient("007.20 ").unwrap().as_str(), "7.20");
        assert_eq!(Decimal::parse_lenient("12.").unwrap().as_str(), "12");
        assert_eq!(Decimal::parse_lenient("-0").unwrap().as_str(), "0");
        assert!(Decimal::parse_lenient(".").is_err());
        assert!(Decimal::parse_lenient("1,5").is_err());
        assert!(Decimal::parse_lenient("").is_err());
    }
}
