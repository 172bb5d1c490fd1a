//! Dates as UKE fields write them.
//!
//! Older files use 和暦 with a one-digit era code (`GYYMM`, `GYYMMDD`: 1 明治, 2 大正,
//! 3 昭和, 4 平成, 5 令和, the year counted from the era's first year); files made under
//! the 令和 specifications use 西暦 (`YYYYMM`, `YYYYMMDD`). The width tells them apart:
//! 5 and 7 digits are 和暦, 6 and 8 are 西暦. Full-width digits are accepted.
//!
//! Era boundaries are not enforced (平成31年5月 is read as 2019-05): the year is
//! unambiguous either way, and claims software writes what it wrote.

use time::{Date, Month};

use super::text;

/// Why a date field was refused. Carries no part of the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("expected digits in GYYMM(DD) or YYYYMM(DD) form")]
    Syntax,
    #[error("unknown era code (1 明治 … 5 令和)")]
    Era,
    #[error("month or day out of range")]
    Range,
}

/// A calendar month (診療年月, 請求年月).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct YearMonth {
    pub year: i32,
    pub month: Month,
}

impl YearMonth {
    /// The date of `day` in this month, if the month has that day.
    pub fn day(self, day: u8) -> Option<Date> {
        Date::from_calendar_date(self.year, self.month, day).ok()
    }

    /// Number of days in the month.
    pub fn length(self) -> u8 {
        self.month.length(self.year)
    }
}

/// First Gregorian year of each era, indexed by era code.
const ERA_START: [i32; 5] = [1868, 1912, 1926, 1989, 2019];

fn number(s: &str) -> Result<i32, DateError> {
    s.parse().map_err(|_| DateError::Syntax)
}

fn era_year(era: &str, year_of_era: &str) -> Result<i32, DateError> {
    let era = number(era)?;
    let start = usize::try_from(era)
        .ok()
        .and_then(|e| e.checked_sub(1))
        .and_then(|i| ERA_START.get(i))
        .ok_or(DateError::Era)?;
    let year = number(year_of_era)?;
    if year == 0 {
        return Err(DateError::Range);
    }
    Ok(start + year - 1)
}

fn month(s: &str) -> Result<Month, DateError> {
    let m = u8::try_from(number(s)?).map_err(|_| DateError::Range)?;
    Month::try_from(m).map_err(|_| DateError::Range)
}

/// A part of an all-digit string.
fn part(d: &str, range: impl std::slice::SliceIndex<str, Output = str>) -> Result<&str, DateError> {
    d.get(range).ok_or(DateError::Syntax)
}

/// Splits the normalised digits into (year, month and day digits).
fn split(field: &str, with_day: bool) -> Result<(i32, String), DateError> {
    let d = text::digits(field).ok_or(DateError::Syntax)?;
    let d = d.as_ref();
    let (wareki, seireki) = if with_day { (7, 8) } else { (5, 6) };
    if d.len() == wareki {
        let year = era_year(part(d, ..1)?, part(d, 1..3)?)?;
        Ok((year, part(d, 3..)?.to_owned()))
    } else if d.len() == seireki {
        Ok((number(part(d, ..4)?)?, part(d, 4..)?.to_owned()))
    } else {
        Err(DateError::Syntax)
    }
}

/// Parses `GYYMM` or `YYYYMM`.
pub fn parse_year_month(field: &str) -> Result<YearMonth, DateError> {
    let (year, rest) = split(field, false)?;
    Ok(YearMonth {
        year,
        month: month(&rest)?,
    })
}

/// Parses `GYYMMDD` or `YYYYMMDD`.
pub fn parse_date(field: &str) -> Result<Date, DateError> {
    let (year, rest) = split(field, true)?;
    let m = month(part(&rest, ..2)?)?;
    let day = u8::try_from(number(part(&rest, 2..)?)?).map_err(|_| DateError::Range)?;
    Date::from_calendar_date(year, m, day).map_err(|_| DateError::Range)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn wareki_and_seireki_months_read_alike() {
        let r = parse_year_month("50310").unwrap();
        assert_eq!((r.year, r.month), (2021, Month::October));
        assert_eq!(parse_year_month("202110").unwrap(), r);
        assert_eq!(parse_year_month("43104").unwrap().year, 2019);
        assert_eq!(parse_year_month("３６３１２").unwrap().year, 1988);
    }

    #[test]
    fn every_era_code_maps_to_its_first_year() {
        assert_eq!(parse_date("1450101").unwrap(), date!(1912 - 01 - 01));
        assert_eq!(parse_date("2150101").unwrap(), date!(1926 - 01 - 01));
        assert_eq!(parse_date("3640107").unwrap(), date!(1989 - 01 - 07));
        assert_eq!(parse_date("4010108").unwrap(), date!(1989 - 01 - 08));
        assert_eq!(parse_date("5010501").unwrap(), date!(2019 - 05 - 01));
        assert_eq!(parse_date("19911121").unwrap(), date!(1991 - 11 - 21));
    }

    #[test]
    fn malformed_dates_are_refused_by_kind() {
        assert_eq!(parse_date("6010101"), Err(DateError::Era));
        assert_eq!(parse_date("0010101"), Err(DateError::Era));
        assert_eq!(parse_date("5000101"), Err(DateError::Range));
        assert_eq!(parse_date("20210230"), Err(DateError::Range));
        assert_eq!(parse_year_month("202113"), Err(DateError::Range));
        for bad in ["", "2021", "2021-10", "R031001", "５０３"] {
            assert!(parse_year_month(bad).is_err(), "{bad}");
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn year_month_gives_its_days() {
        let feb = parse_year_month("202402").unwrap();
        assert_eq!(feb.length(), 29);
        assert_eq!(feb.day(29), Some(date!(2024 - 02 - 29)));
        assert_eq!(feb.day(30), None);
    }
}
