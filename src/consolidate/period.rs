//! Active periods: the days each record says a drug was in use.
//!
//! The first day is the record's start (RXE/TQ1-7, `dosageInstruction` period of use,
//! the dispensing's hand-over, the claim's 算定日 or 調剤月日), else the day it was
//! recorded (`authoredOn`, ORC-9). The length, by what the record is:
//!
//! | record | days |
//! |---|---|
//! | 頓服 (route as-needed) | the configured as-needed span; its supply counts doses, not days |
//! | topical | its supply days when at least the topical span, else the topical span |
//! | statement without supply days | until `asOf` while `active` / `intended`, else the day itself |
//! | prescription with supply days | supply days × (1 + refills) |
//! | anything else with supply days | supply days (TQ1-6, `expectedSupplyDuration`, `daysSupply`, UKE 回数 / 調剤数量) |
//! | no supply days, quantity and daily dose in one unit | quantity ÷ daily dose, rounded up |
//! | otherwise | the day itself |
//!
//! A claim line with no 算定日 starts on the first day of its 診療年月 (basis
//! `claim-month`). Records whose status voids them (`entered-in-error`, `cancelled`,
//! `draft`, `not-done`, `not-taken`, `declined`) have no period.

use time::Date;

use super::settings::ListSettings;
use crate::domain::{
    ActiveSpan, DrugRoute, FhirDateTime, MedicationKind, MedicationRecord, Quantity, SpanBasis,
};

/// Supplies longer than this are taken as input errors and clamped (10 years).
const MAX_DAYS: i64 = 3650;

/// A span in Julian day numbers, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Days {
    pub start: i32,
    pub end: i32,
    pub basis: SpanBasis,
}

impl Days {
    pub fn to_span(self) -> ActiveSpan {
        ActiveSpan {
            start: day(self.start),
            end: day(self.end),
            basis: self.basis,
        }
    }
}

/// The date of a Julian day number the engine computed from real dates.
pub(super) fn day(julian: i32) -> Date {
    Date::from_julian_day(julian).unwrap_or(Date::MIN)
}

/// A status under which a record stands for nothing that happened.
pub fn is_void(status: Option<&str>) -> bool {
    matches!(
        status,
        Some("entered-in-error" | "cancelled" | "draft" | "not-done" | "not-taken" | "declined")
    )
}

/// The days a record says its drug was in use; `None` when it has no date or is void.
pub fn active_span(
    record: &MedicationRecord,
    settings: &ListSettings,
    as_of: Date,
) -> Option<ActiveSpan> {
    days(record, settings, as_of.to_julian_day()).map(Days::to_span)
}

pub(super) fn days(record: &MedicationRecord, settings: &ListSettings, as_of: i32) -> Option<Days> {
    if is_void(record.status.as_deref()) {
        return None;
    }
    let dated = record
        .start
        .or_else(|| record.recorded_at.and_then(|r| r.date()));
    let (start, month_only) = match (dated, record.recorded_at) {
        (Some(d), _) => (d.to_julian_day(), false),
        (None, Some(FhirDateTime::YearMonth(y, m))) if record.kind == MedicationKind::Claim => (
            Date::from_calendar_date(y, m, 1).ok()?.to_julian_day(),
            true,
        ),
        _ => return None,
    };
    let supply = record.supply_days.map(|d| i64::from(d.max(1)));
    let (length, basis) = match record.route {
        Some(DrugRoute::AsNeeded) => (i64::from(settings.as_needed_days), SpanBasis::AsNeeded),
        Some(DrugRoute::Topical) => {
            let floor = i64::from(settings.topical_days);
            match supply {
                Some(d) if d >= floor => (d, SpanBasis::SupplyDays),
                _ => (floor, SpanBasis::Topical),
            }
        }
        _ if record.kind == MedicationKind::Statement && supply.is_none() => {
            if matches!(record.status.as_deref(), Some("active" | "intended")) {
                (i64::from(as_of) - i64::from(start) + 1, SpanBasis::Reported)
            } else {
                (1, SpanBasis::SingleDay)
            }
        }
        _ => match (supply, quantity_days(record)) {
            (Some(d), _) => {
                let fills = match record.kind {
                    MedicationKind::Prescription => 1 + i64::from(record.refills.unwrap_or(0)),
                    _ => 1,
                };
                (d.saturating_mul(fills), SpanBasis::SupplyDays)
            }
            (None, Some(d)) => (d, SpanBasis::QuantityOverDailyDose),
            (None, None) => (1, SpanBasis::SingleDay),
        },
    };
    let length = length.clamp(1, MAX_DAYS);
    let basis = if month_only {
        SpanBasis::ClaimMonth
    } else {
        basis
    };
    let end = i32::try_from(i64::from(start) + length - 1).ok()?;
    Some(Days { start, end, basis })
}

/// Whole days a quantity lasts at a daily dose, when both are in one unit.
fn quantity_days(record: &MedicationRecord) -> Option<i64> {
    let (total, daily) = (record.quantity.as_ref()?, record.daily_dose.as_ref()?);
    if !same_unit(total, daily) {
        return None;
    }
    let (total, daily) = (total.value.to_f64(), daily.value.to_f64());
    if !(total.is_finite() && daily.is_finite() && total > 0.0 && daily > 0.0) {
        return None;
    }
    let days = (total / daily).ceil();
    (days <= MAX_DAYS as f64).then_some(days as i64)
}

fn same_unit(a: &Quantity, b: &Quantity) -> bool {
    match (&a.code, &b.code, &a.unit, &b.unit) {
        (Some(x), Some(y), _, _) => x == y,
        (_, _, Some(x), Some(y)) => x == y,
        (None, None, None, None) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Decimal, SubjectRef};
    use time::macros::date;

    const AS_OF: Date = date!(2024 - 06 - 30);

    fn record(kind: MedicationKind, route: Option<DrugRoute>) -> MedicationRecord {
        let mut r = MedicationRecord::new(kind, SubjectRef::FhirPatient("p".into()));
        r.route = route;
        r.start = Some(date!(2024 - 04 - 01));
        r
    }

    fn span(r: &MedicationRecord) -> Option<(Date, Date, SpanBasis)> {
        active_span(r, &ListSettings::default(), AS_OF).map(|s| (s.start, s.end, s.basis))
    }

    fn qty(value: &str, code: Option<&str>, unit: Option<&str>) -> Quantity {
        Quantity {
            value: Decimal::parse(value).unwrap(),
            unit: unit.map(str::to_owned),
            code: code.map(str::to_owned),
            unit_system: None,
        }
    }

    #[test]
    fn supply_days_run_from_the_start_and_refills_multiply_a_prescription() {
        let mut r = record(MedicationKind::Prescription, Some(DrugRoute::Oral));
        r.supply_days = Some(28);
        assert_eq!(
            span(&r),
            Some((
                date!(2024 - 04 - 01),
                date!(2024 - 04 - 28),
                SpanBasis::SupplyDays
            ))
        );
        r.refills = Some(2);
        assert_eq!(span(&r).unwrap().1, date!(2024 - 06 - 23));
        // A dispensing is one fill, whatever the prescription allows.
        let mut d = record(MedicationKind::Dispense, Some(DrugRoute::Oral));
        d.supply_days = Some(28);
        d.refills = Some(2);
        assert_eq!(span(&d).unwrap().1, date!(2024 - 04 - 28));
    }

    #[test]
    fn a_dispensing_without_days_lasts_its_quantity_over_the_daily_dose() {
        let mut d = record(MedicationKind::Dispense, Some(DrugRoute::Oral));
        d.quantity = Some(qty("42", Some("TAB"), Some("錠")));
        d.daily_dose = Some(qty("3", Some("TAB"), Some("錠")));
        assert_eq!(
            span(&d),
            Some((
                date!(2024 - 04 - 01),
                date!(2024 - 04 - 14),
                SpanBasis::QuantityOverDailyDose
            ))
        );
        // Units that differ say nothing.
        d.daily_dose = Some(qty("3", Some("MG"), None));
        assert_eq!(span(&d).unwrap().2, SpanBasis::SingleDay);
    }

    #[test]
    fn as_needed_and_topical_drugs_get_their_documented_spans() {
        let mut prn = record(MedicationKind::Claim, Some(DrugRoute::AsNeeded));
        prn.supply_days = Some(5);
        assert_eq!(
            span(&prn),
            Some((
                date!(2024 - 04 - 01),
                date!(2024 - 04 - 30),
                SpanBasis::AsNeeded
            ))
        );
        let mut tape = record(MedicationKind::Prescription, Some(DrugRoute::Topical));
        tape.supply_days = Some(1);
        assert_eq!(span(&tape).unwrap().2, SpanBasis::Topical);
        tape.supply_days = Some(60);
        assert_eq!(
            span(&tape).unwrap().1,
            date!(2024 - 05 - 30),
            "a longer stated supply wins"
        );
    }

    #[test]
    fn statements_claims_by_month_and_void_records() {
        let mut s = record(MedicationKind::Statement, None);
        s.status = Some("active".into());
        assert_eq!(
            span(&s),
            Some((date!(2024 - 04 - 01), AS_OF, SpanBasis::Reported))
        );
        s.status = Some("completed".into());
        assert_eq!(span(&s).unwrap().2, SpanBasis::SingleDay);

        let mut c =
            MedicationRecord::new(MedicationKind::Claim, SubjectRef::FhirPatient("p".into()));
        c.recorded_at = Some(FhirDateTime::YearMonth(2024, time::Month::May));
        c.supply_days = Some(14);
        assert_eq!(
            span(&c),
            Some((
                date!(2024 - 05 - 01),
                date!(2024 - 05 - 14),
                SpanBasis::ClaimMonth
            ))
        );

        let mut x = record(MedicationKind::Prescription, Some(DrugRoute::Oral));
        x.status = Some("entered-in-error".into());
        assert_eq!(span(&x), None);
        let mut undated = record(MedicationKind::Prescription, None);
        undated.start = None;
        assert_eq!(span(&undated), None);
    }
}
