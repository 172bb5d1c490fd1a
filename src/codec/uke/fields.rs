//! Reading the fields of one line, reporting what does not fit with `line N field M`.
//!
//! Field numbers follow the 記録条件仕様: field 1 is the record identifier. Messages
//! name the field and what was expected, never the value.

use std::borrow::Cow;

use time::Date;

use super::date::{self, YearMonth};
use super::text;
use crate::domain::Decimal;
use crate::error::{ErrorCode, Issue};

/// Room for the fields of the longest 医科 layout (SI, IY).
const FIELDS_CAPACITY: usize = 48;

/// The fields of one line and the issues found while reading them.
pub struct Fields<'a, 'i> {
    line: usize,
    fields: Vec<&'a str>,
    issues: &'i mut Vec<Issue>,
}

impl<'a, 'i> Fields<'a, 'i> {
    pub fn new(line: usize, raw: &'a str, issues: &'i mut Vec<Issue>) -> Self {
        Self {
            line,
            fields: {
                // SI and IY lines have 44 fields: one allocation for the longest layout.
                let mut fields = Vec::with_capacity(FIELDS_CAPACITY);
                fields.extend(raw.split(','));
                fields
            },
            issues,
        }
    }

    pub fn line(&self) -> usize {
        self.line
    }

    /// The record identifier (field 1) as written.
    pub fn id(&self) -> &'a str {
        self.fields.first().copied().unwrap_or("")
    }

    pub fn count(&self) -> usize {
        self.fields.len()
    }

    pub fn location(&self, field: usize) -> String {
        format!("line {} field {}", self.line, field)
    }

    pub fn warn(&mut self, code: ErrorCode, field: usize, message: &str) {
        let location = self.location(field);
        self.issues.push(Issue::warning(code, location, message));
    }

    /// Reports fields beyond the layout's last one (data would otherwise be lost silently).
    pub fn expect_at_most(&mut self, last: usize) {
        if let Some(rest) = self.fields.get(last..) {
            let extra = rest.iter().any(|f| !f.trim().is_empty());
            if extra {
                let message = format!("layout defines {last} fields; later fields ignored");
                self.warn(ErrorCode::UkeFieldCount, last + 1, &message);
            }
        }
    }

    /// Field `n` (1-based) as written, or "" when the line is shorter.
    pub fn raw(&self, n: usize) -> &'a str {
        n.checked_sub(1)
            .and_then(|i| self.fields.get(i))
            .copied()
            .unwrap_or("")
    }

    /// Field `n` without padding; `None` when empty.
    pub fn text(&self, n: usize) -> Option<&'a str> {
        Some(text::clean(self.raw(n))).filter(|s| !s.is_empty())
    }

    /// A text field with a maximum length in Shift_JIS bytes; an over-long value is kept
    /// and reported.
    pub fn text_limited(&mut self, n: usize, max_bytes: usize) -> Option<String> {
        let value = self.text(n)?;
        let len = text::sjis_len(value);
        if len > max_bytes {
            let message = format!("{len} bytes; the layout allows {max_bytes}");
            self.warn(ErrorCode::UkeFieldTooLong, n, &message);
        }
        Some(value.to_owned())
    }

    /// A numeric code of up to `max_digits` digits (full-width folded).
    pub fn code(&mut self, n: usize, max_digits: usize) -> Option<String> {
        self.digits(n, max_digits).map(Cow::into_owned)
    }

    /// The digits of field `n`, borrowed unless full-width digits had to be folded.
    fn digits(&mut self, n: usize, max_digits: usize) -> Option<Cow<'a, str>> {
        let raw = self.raw(n);
        if raw.is_empty() {
            return None;
        }
        match text::digits(raw) {
            Some(d) if d.is_empty() => None,
            Some(d) if d.len() <= max_digits => Some(d),
            Some(_) => {
                let message = format!("expected at most {max_digits} digits");
                self.warn(ErrorCode::UkeFieldTooLong, n, &message);
                None
            }
            None => {
                self.warn(ErrorCode::UkeFieldInvalid, n, "expected digits");
                None
            }
        }
    }

    /// A numeric code of exactly `digits` digits.
    pub fn fixed_code(&mut self, n: usize, digits: usize) -> Option<String> {
        let code = self.code(n, digits)?;
        if code.len() != digits {
            let message = format!("expected {digits} digits");
            self.warn(ErrorCode::UkeFieldInvalid, n, &message);
            return None;
        }
        Some(code)
    }

    /// A non-negative integer.
    pub fn number(&mut self, n: usize, max_digits: usize) -> Option<u64> {
        self.digits(n, max_digits)?.parse().ok()
    }

    /// A decimal quantity (使用量: up to 5 integer and 5 fraction digits).
    pub fn decimal(&mut self, n: usize) -> Option<Decimal> {
        let raw = self.raw(n).trim();
        if raw.is_empty() {
            return None;
        }
        let folded: String = raw
            .chars()
            .map(|c| match c {
                '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
                '．' => '.',
                other => other,
            })
            .collect();
        match Decimal::parse_lenient(&folded) {
            Ok(d) if !d.as_str().starts_with('-') => Some(d),
            _ => {
                self.warn(ErrorCode::UkeFieldInvalid, n, "expected a decimal quantity");
                None
            }
        }
    }

    pub fn year_month(&mut self, n: usize) -> Option<YearMonth> {
        let raw = self.raw(n).trim();
        if raw.is_empty() {
            return None;
        }
        match date::parse_year_month(raw) {
            Ok(ym) => Some(ym),
            Err(e) => {
                self.warn(ErrorCode::UkeFieldInvalid, n, &e.to_string());
                None
            }
        }
    }

    pub fn date(&mut self, n: usize) -> Option<Date> {
        let raw = self.raw(n).trim();
        if raw.is_empty() {
            return None;
        }
        match date::parse_date(raw) {
            Ok(d) => Some(d),
            Err(e) => {
                self.warn(ErrorCode::UkeFieldInvalid, n, &e.to_string());
                None
            }
        }
    }

    /// The 31 算定日 (per-day count) fields starting at field `first`.
    pub fn day_counts(&mut self, first: usize) -> [u16; 31] {
        let mut days = [0u16; 31];
        for (i, slot) in days.iter_mut().enumerate() {
            if let Some(v) = self.number(first + i, 3) {
                *slot = u16::try_from(v).unwrap_or(u16::MAX);
            }
        }
        days
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_located_by_line_and_field_without_values() {
        let mut issues = Vec::new();
        let mut f = Fields::new(12, "SY,25A0013,20211301,1,,名前", &mut issues);
        assert_eq!(f.fixed_code(2, 7), None);
        assert_eq!(f.date(3), None);
        assert_eq!(f.text_limited(6, 2), Some("名前".to_owned()));
        let locations: Vec<_> = issues.iter().map(|i| i.location.as_str()).collect();
        assert_eq!(
            locations,
            ["line 12 field 2", "line 12 field 3", "line 12 field 6"]
        );
        assert!(issues.iter().all(|i| !i.message.contains("名前")));
        assert!(issues.iter().all(|i| !i.message.contains("25A0013")));
    }

    #[test]
    fn short_lines_read_as_empty_fields() {
        let mut issues = Vec::new();
        let mut f = Fields::new(1, "HO,06139463", &mut issues);
        assert_eq!(f.text(3), None);
        assert_eq!(f.number(6, 7), None);
        assert_eq!(f.day_counts(14), [0; 31]);
        assert!(issues.is_empty());
    }

    #[test]
    fn quantities_keep_their_precision() {
        let mut issues = Vec::new();
        let mut f = Fields::new(1, "IY,21,1,620098801,3.00000,,１．５", &mut issues);
        assert_eq!(f.decimal(5).unwrap().as_str(), "3.00000");
        assert_eq!(f.decimal(7).unwrap().as_str(), "1.5");
        assert_eq!(f.decimal(6), None);
        assert!(issues.is_empty());
    }
}
