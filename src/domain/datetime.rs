//! Points in time with the precision they were recorded at.
//!
//! Clinical data carries dates as precise as the source knew them: a birth year, a
//! prescription day, a collection minute. `FhirDateTime` keeps that precision; `range()`
//! turns it into the half-open interval `[lo, hi)` of epoch milliseconds that searches
//! compare against. A time without an offset is Japan time (+09:00), the convention of
//! every Japanese feed this gateway reads.

use std::fmt;

use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Japan Standard Time, the offset assumed when a source gives none.
pub const JST: UtcOffset = match UtcOffset::from_hms(9, 0, 0) {
    Ok(offset) => offset,
    Err(_) => panic!("constant offset"),
};

/// Why a date/time was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DateTimeError {
    #[error("not a valid date or date-time")]
    Syntax,
    #[error("date or time out of range")]
    Range,
}

/// A date or date-time at its recorded precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FhirDateTime {
    Year(i32),
    YearMonth(i32, Month),
    Date(Date),
    /// A moment; `fraction_digits` remembers how many sub-second digits were written
    /// (0 = to the second, `None` = to the minute).
    Instant {
        at: OffsetDateTime,
        fraction_digits: Option<u8>,
    },
}

/// A half-open interval `[lo, hi)` of epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateRange {
    pub lo: i64,
    pub hi: i64,
}

fn millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

fn day_start(date: Date, offset: UtcOffset) -> OffsetDateTime {
    PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_offset(offset)
}

fn num<T: std::str::FromStr>(s: &str) -> Result<T, DateTimeError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DateTimeError::Syntax);
    }
    s.parse().map_err(|_| DateTimeError::Syntax)
}

fn month(m: u8) -> Result<Month, DateTimeError> {
    Month::try_from(m).map_err(|_| DateTimeError::Range)
}

fn date(y: i32, m: u8, d: u8) -> Result<Date, DateTimeError> {
    Date::from_calendar_date(y, month(m)?, d).map_err(|_| DateTimeError::Range)
}

fn parse_offset(s: &str) -> Result<UtcOffset, DateTimeError> {
    // Byte slicing below is safe only on ASCII.
    if !s.is_ascii() {
        return Err(DateTimeError::Syntax);
    }
    if s == "Z" {
        return Ok(UtcOffset::UTC);
    }
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1i8, &s[1..]),
        Some(b'-') => (-1i8, &s[1..]),
        _ => return Err(DateTimeError::Syntax),
    };
    let (h, m) = match rest.len() {
        5 if rest.as_bytes()[2] == b':' => (&rest[..2], &rest[3..]),
        4 => (&rest[..2], &rest[2..]),
        _ => return Err(DateTimeError::Syntax),
    };
    let h: i8 = num(h)?;
    let m: i8 = num(m)?;
    UtcOffset::from_hms(sign * h, sign * m, 0).map_err(|_| DateTimeError::Range)
}

impl FhirDateTime {
    /// Parses the FHIR forms `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, `YYYY-MM-DDThh:mm[:ss[.f]]±hh:mm|Z`.
    /// A time without an offset is taken as Japan time.
    pub fn parse(s: &str) -> Result<Self, DateTimeError> {
        let (date_part, time_part) = match s.split_once('T') {
            Some((d, t)) => (d, Some(t)),
            None => (s, None),
        };
        let fields: Vec<&str> = date_part.split('-').collect();
        let year: i32 = match fields.first() {
            Some(y) if y.len() == 4 => num(y)?,
            _ => return Err(DateTimeError::Syntax),
        };
        let two = |f: &str| -> Result<u8, DateTimeError> {
            if f.len() == 2 {
                num(f)
            } else {
                Err(DateTimeError::Syntax)
            }
        };
        match (fields.len(), time_part) {
            (1, None) => Ok(Self::Year(year)),
            (2, None) => Ok(Self::YearMonth(year, month(two(fields[1])?)?)),
            (3, None) => Ok(Self::Date(date(year, two(fields[1])?, two(fields[2])?)?)),
            (3, Some(t)) => {
                let day = date(year, two(fields[1])?, two(fields[2])?)?;
                let split_at = t.find(['Z', '+', '-']).unwrap_or(t.len());
                let (clock, offset) = t.split_at(split_at);
                let offset = if offset.is_empty() {
                    JST
                } else {
                    parse_offset(offset)?
                };
                let (hms, fraction) = match clock.split_once('.') {
                    Some((hms, f)) => (hms, Some(f)),
                    None => (clock, None),
                };
                let parts: Vec<&str> = hms.split(':').collect();
                let (h, m, sec) = match parts.as_slice() {
                    [h, m] => (two(h)?, two(m)?, None),
                    [h, m, s] => (two(h)?, two(m)?, Some(two(s)?)),
                    _ => return Err(DateTimeError::Syntax),
                };
                let (nanos, digits) = match fraction {
                    Some(f) if !f.is_empty() && f.len() <= 9 && sec.is_some() => {
                        let n: u32 = num(f)?;
                        (n * 10u32.pow(9 - f.len() as u32), Some(f.len() as u8))
                    }
                    Some(_) => return Err(DateTimeError::Syntax),
                    None => (0, sec.map(|_| 0)),
                };
                let clock = Time::from_hms_nano(h, m, sec.unwrap_or(0), nanos)
                    .map_err(|_| DateTimeError::Range)?;
                Ok(Self::Instant {
                    at: PrimitiveDateTime::new(day, clock).assume_offset(offset),
                    fraction_digits: digits,
                })
            }
            _ => Err(DateTimeError::Syntax),
        }
    }

    /// Parses the HL7 v2 DTM form `YYYY[MM[DD[HH[MM[SS[.S+]]]]]][±ZZZZ]`; no offset means
    /// Japan time.
    pub fn parse_hl7(s: &str) -> Result<Self, DateTimeError> {
        let split_at = s.find(['+', '-']).unwrap_or(s.len());
        let (body, offset) = s.split_at(split_at);
        let offset = if offset.is_empty() {
            JST
        } else {
            parse_offset(offset)?
        };
        let (digits, fraction) = match body.split_once('.') {
            Some((d, f)) => (d, Some(f)),
            None => (body, None),
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DateTimeError::Syntax);
        }
        let field = |from: usize| -> Result<u8, DateTimeError> { num(&digits[from..from + 2]) };
        if fraction.is_some() && digits.len() != 14 {
            return Err(DateTimeError::Syntax);
        }
        match digits.len() {
            4 => Ok(Self::Year(num(digits)?)),
            6 => Ok(Self::YearMonth(num(&digits[..4])?, month(field(4)?)?)),
            8 => Ok(Self::Date(date(num(&digits[..4])?, field(4)?, field(6)?)?)),
            10 | 12 | 14 => {
                let day = date(num(&digits[..4])?, field(4)?, field(6)?)?;
                let h = field(8)?;
                let m = if digits.len() >= 12 { field(10)? } else { 0 };
                let sec = if digits.len() == 14 {
                    Some(field(12)?)
                } else {
                    None
                };
                let (nanos, frac_digits) = match fraction {
                    Some(f) if !f.is_empty() && f.len() <= 9 && sec.is_some() => {
                        let n: u32 = num(f)?;
                        (n * 10u32.pow(9 - f.len() as u32), Some(f.len() as u8))
                    }
                    Some(_) => return Err(DateTimeError::Syntax),
                    None => (0, sec.map(|_| 0)),
                };
                let clock = Time::from_hms_nano(h, m, sec.unwrap_or(0), nanos)
                    .map_err(|_| DateTimeError::Range)?;
                Ok(Self::Instant {
                    at: PrimitiveDateTime::new(day, clock).assume_offset(offset),
                    fraction_digits: frac_digits,
                })
            }
            _ => Err(DateTimeError::Syntax),
        }
    }

    pub fn from_date(d: Date) -> Self {
        Self::Date(d)
    }

    /// The covered interval, in epoch milliseconds. Dates are Japan-time days.
    pub fn range(&self) -> DateRange {
        match *self {
            Self::Year(y) => {
                let lo = Date::from_calendar_date(y, Month::January, 1).ok();
                let hi = Date::from_calendar_date(y + 1, Month::January, 1).ok();
                match (lo, hi) {
                    (Some(lo), Some(hi)) => DateRange {
                        lo: millis(day_start(lo, JST)),
                        hi: millis(day_start(hi, JST)),
                    },
                    _ => DateRange {
                        lo: i64::MIN,
                        hi: i64::MAX,
                    },
                }
            }
            Self::YearMonth(y, m) => {
                let lo = Date::from_calendar_date(y, m, 1).ok();
                let (ny, nm) = if m == Month::December {
                    (y + 1, Month::January)
                } else {
                    (y, m.next())
                };
                let hi = Date::from_calendar_date(ny, nm, 1).ok();
                match (lo, hi) {
                    (Some(lo), Some(hi)) => DateRange {
                        lo: millis(day_start(lo, JST)),
                        hi: millis(day_start(hi, JST)),
                    },
                    _ => DateRange {
                        lo: i64::MIN,
                        hi: i64::MAX,
                    },
                }
            }
            Self::Date(d) => {
                let lo = millis(day_start(d, JST));
                DateRange {
                    lo,
                    hi: lo + 86_400_000,
                }
            }
            Self::Instant {
                at,
                fraction_digits,
            } => {
                let lo = millis(at);
                let width = match fraction_digits {
                    None => 60_000,
                    Some(0) => 1_000,
                    Some(1) => 100,
                    Some(2) => 10,
                    Some(_) => 1,
                };
                DateRange { lo, hi: lo + width }
            }
        }
    }

    /// The calendar day in Japan time, when the precision reaches a day.
    pub fn date(&self) -> Option<Date> {
        match *self {
            Self::Date(d) => Some(d),
            Self::Instant { at, .. } => Some(at.to_offset(JST).date()),
            _ => None,
        }
    }

    /// Adds days to a day-precision value (used for supply periods).
    pub fn plus_days(date: Date, days: i64) -> Option<Date> {
        date.checked_add(Duration::days(days))
    }
}

fn write_offset(f: &mut fmt::Formatter<'_>, offset: UtcOffset) -> fmt::Result {
    if offset.is_utc() {
        return f.write_str("Z");
    }
    let (h, m, _) = offset.as_hms();
    let sign = if h < 0 || m < 0 { '-' } else { '+' };
    write!(f, "{sign}{:02}:{:02}", h.abs(), m.abs())
}

impl fmt::Display for FhirDateTime {
    /// Writes the FHIR form at the recorded precision.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Year(y) => write!(f, "{y:04}"),
            Self::YearMonth(y, m) => write!(f, "{y:04}-{:02}", m as u8),
            Self::Date(d) => write!(f, "{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day()),
            Self::Instant {
                at,
                fraction_digits,
            } => {
                // FHIR requires seconds; a minute-precision time is written with `:00`.
                write!(
                    f,
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                    at.year(),
                    at.month() as u8,
                    at.day(),
                    at.hour(),
                    at.minute(),
                    at.second()
                )?;
                if let Some(digits @ 1..=9) = fraction_digits {
                    let nanos = format!("{:09}", at.nanosecond());
                    write!(f, ".{}", &nanos[..digits as usize])?;
                }
                write_offset(f, at.offset())
            }
        }
    }
}

/// Formats an instant as FHIR `instant` (UTC, milliseconds).
pub fn format_instant_millis(epoch_millis: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(epoch_millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        at.month() as u8,
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// The current time in epoch milliseconds.
pub fn now_millis() -> i64 {
    millis(OffsetDateTime::now_utc())
}

/// Today's date in Japan.
pub fn today_in_japan() -> Date {
    OffsetDateTime::now_utc().to_offset(JST).date()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fhir_forms_round_trip_at_their_precision() {
        for s in [
            "1970",
            "1970-01",
            "1970-01-01",
            "2020-04-01T12:28:17+09:00",
            "2021-10-19T17:39:00.120Z",
        ] {
            assert_eq!(FhirDateTime::parse(s).unwrap().to_string(), s);
        }
        let minute = FhirDateTime::parse("2021-10-19T17:39+09:00").unwrap();
        assert_eq!(minute.to_string(), "2021-10-19T17:39:00+09:00");
        assert_eq!(minute.range().hi - minute.range().lo, 60_000);
    }

    #[test]
    fn a_date_covers_its_japan_day() {
        let d = FhirDateTime::parse("2020-04-01").unwrap().range();
        let start = FhirDateTime::parse("2020-04-01T00:00:00+09:00")
            .unwrap()
            .range();
        assert_eq!(d.lo, start.lo);
        assert_eq!(d.hi - d.lo, 86_400_000);
        let dec = FhirDateTime::parse("2020-12").unwrap().range();
        let jan = FhirDateTime::parse("2021-01-01").unwrap().range();
        assert_eq!(dec.hi, jan.lo);
    }

    #[test]
    fn hl7_timestamps_default_to_japan_time() {
        let t = FhirDateTime::parse_hl7("20110701224603.984").unwrap();
        assert_eq!(t.to_string(), "2011-07-01T22:46:03.984+09:00");
        assert_eq!(
            FhirDateTime::parse_hl7("19480405").unwrap().to_string(),
            "1948-04-05"
        );
        assert_eq!(
            FhirDateTime::parse_hl7("2011070100").unwrap().to_string(),
            "2011-07-01T00:00:00+09:00"
        );
        assert_eq!(
            FhirDateTime::parse_hl7("20111219150000+0000")
                .unwrap()
                .to_string(),
            "2011-12-19T15:00:00Z"
        );
    }

    #[test]
    fn non_ascii_input_is_refused_not_a_panic() {
        for bad in [
            "2020-01-01T10:00+０９:00",
            "2020-01-01T10:00+é9:00",
            "20200101+０９００",
            "2020年",
        ] {
            assert!(FhirDateTime::parse(bad).is_err(), "{bad}");
            assert!(FhirDateTime::parse_hl7(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn invalid_dates_are_refused() {
        for bad in [
            "",
            "70",
            "2020-13",
            "2020-02-30",
            "2020-01-01T25:00:00Z",
            "2020-1-1",
            "abcd",
        ] {
            assert!(FhirDateTime::parse(bad).is_err(), "{bad}");
        }
        for bad in ["201113", "abc", "20110701.5", "2011070112345", "20110230"] {
            assert!(FhirDateTime::parse_hl7(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn instants_format_in_utc_millis() {
        assert_eq!(format_instant_millis(0), "1970-01-01T00:00:00.000Z");
    }
}
