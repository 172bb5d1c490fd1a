//! The dosage facts of a medication order or administration: timing from TQ1 (usage,
//! explicit times of day, duration by its unit, as-needed doses) and the route from RXR
//! (kept as coded, classed). The rules are in `medication`'s overview and
//! `docs/hl7v2.md`.

use super::Context;
use super::values;
use crate::codec::hl7v2::message::{Segment, Value};
use crate::domain::code_system::KnownSystem;
use crate::domain::{Decimal, DrugRoute, MedicationRecord, Quantity};
use crate::error::{ErrorCode, Issue};

/// What the TQ1 segments of a group say (see the module documentation).
pub(super) fn apply_timing(
    context: &Context<'_, '_>,
    timings: &[Segment<'_>],
    record: &mut MedicationRecord,
    issues: &mut Vec<Issue>,
) {
    for tq1 in timings {
        record
            .times_of_day
            .extend(times_of_day(&tq1.field(4), issues));
    }
    let Some(tq1) = timings.first() else {
        return;
    };
    let pattern = tq1.field(3).repetition(1).component(1);
    let usage = values::sub_codings(&pattern, context.facility);
    record.usage_text = usage.iter().find_map(|c| c.display.clone());
    record.usage = usage
        .iter()
        .find(|c| c.known_system() == Some(KnownSystem::JamiUsage))
        .or_else(|| usage.first())
        .cloned();
    let as_needed = is_as_needed(tq1, record);
    let total_doses = values::decimal(&tq1.field(14), issues).and_then(|n| whole(&n));
    let duration = tq1.field(6);
    if let Some(amount) = values::decimal(&duration.component(1), issues) {
        let unit = duration.component(2);
        let kind = duration_unit(
            unit.subcomponent(1).text().trim(),
            unit.subcomponent(2).text().trim(),
        );
        if kind.is_none() {
            values::unknown_code(&unit.subcomponent(1), "UCUM (time units)", issues);
        }
        let written = values::sub_codings(&unit, context.facility)
            .into_iter()
            .next();
        record.duration = Some(Quantity {
            value: amount.clone(),
            unit: written
                .as_ref()
                .map(|c| c.display.clone().unwrap_or_else(|| c.code.clone()))
                .or_else(|| kind.map(|k| k.ucum().to_owned())),
            code: kind
                .map(|k| k.ucum().to_owned())
                .or_else(|| written.map(|c| c.code)),
            unit_system: kind.map(|_| KnownSystem::Ucum.uri().to_owned()),
        });
        match kind {
            // JAHIS: the number of a 頓用 order is a count of doses, whichever of the
            // count or day units the sender wrote with it.
            Some(DurationUnit::Count | DurationUnit::Day) if as_needed => {
                record.as_needed_doses = whole(&amount);
            }
            Some(kind) => record.supply_days = kind.whole_days(&amount),
            None => {}
        }
    }
    if as_needed {
        record.as_needed_doses = total_doses.or(record.as_needed_doses);
        // For as-needed drugs `supply_days` has always counted doses.
        record.supply_days = record.as_needed_doses;
    }
    record.start = values::date(&tq1.field(7), issues);
}

/// True for a 頓用 order: a JAMI usage code of an internal drug (first digit 1) with
/// 基本用法区分 5 (third digit), a usage text that says 頓用 / 頓服, or TQ1-9 `PRN`.
fn is_as_needed(tq1: &Segment<'_>, record: &MedicationRecord) -> bool {
    let jami = record
        .usage
        .as_ref()
        .filter(|c| c.known_system() == Some(KnownSystem::JamiUsage))
        .is_some_and(|c| {
            let code = c.code.as_bytes();
            code.len() == 16 && code.first() == Some(&b'1') && code.get(2) == Some(&b'5')
        });
    let text = record
        .usage_text
        .as_deref()
        .is_some_and(|t| t.contains("頓用") || t.contains("頓服"));
    let priority = tq1
        .field(9)
        .repetitions()
        .any(|p| p.component(1).raw().eq_ignore_ascii_case("PRN"));
    jami || text || priority
}

/// The unit of a TQ1-6 duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DurationUnit {
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
    /// A number of times (回, 回分): how JAHIS writes the doses of a 頓用 order.
    Count,
}

impl DurationUnit {
    fn ucum(self) -> &'static str {
        match self {
            Self::Second => "s",
            Self::Minute => "min",
            Self::Hour => "h",
            Self::Day => "d",
            Self::Week => "wk",
            Self::Month => "mo",
            Self::Year => "a",
            Self::Count => "{times}",
        }
    }

    /// The number of whole days a duration amounts to, when it is one: hours and minutes
    /// only in multiples of a day; months and years never (their length varies).
    fn whole_days(self, amount: &Decimal) -> Option<u32> {
        let n = whole(amount)?;
        match self {
            Self::Day => Some(n),
            Self::Week => n.checked_mul(7),
            Self::Hour => (n % 24 == 0).then_some(n / 24),
            Self::Minute => (n % 1440 == 0).then_some(n / 1440),
            Self::Second | Self::Month | Self::Year | Self::Count => None,
        }
    }
}

/// A TQ1-6 unit from its code (UCUM or HL7 ISO+ spellings) or its Japanese text. An
/// empty unit means days (what JAHIS-style senders leave out).
fn duration_unit(code: &str, text: &str) -> Option<DurationUnit> {
    use DurationUnit::*;
    let by_code = match code.to_ascii_lowercase().as_str() {
        "" => None,
        "s" | "sec" => Some(Second),
        "min" => Some(Minute),
        "h" | "hr" | "hour" | "hours" => Some(Hour),
        "d" | "day" | "days" => Some(Day),
        "wk" | "w" | "week" | "weeks" => Some(Week),
        "mo" | "month" | "months" => Some(Month),
        "a" | "y" | "yr" | "year" | "years" => Some(Year),
        "{times}" | "{time}" | "tim" | "times" | "x" | "{dose}" | "{doses}" => Some(Count),
        _ => japanese_unit(code),
    };
    by_code
        .or_else(|| japanese_unit(text))
        .or_else(|| (code.is_empty() && text.is_empty()).then_some(Day))
}

fn japanese_unit(text: &str) -> Option<DurationUnit> {
    use DurationUnit::*;
    Some(match text {
        "秒" => Second,
        "分" => Minute,
        "時間" => Hour,
        "日" | "日分" => Day,
        "週" | "週間" => Week,
        "月" | "ヶ月" | "か月" | "カ月" => Month,
        "年" => Year,
        "回" | "回分" => Count,
        _ => return None,
    })
}

/// A non-negative whole number that fits a `u32`.
fn whole(amount: &Decimal) -> Option<u32> {
    amount.as_str().parse().ok()
}

/// TQ1-4 (explicit times, TM, repeating) as `HH:MM`; a time that is not `HHMM[SS]` is
/// reported and skipped.
fn times_of_day(field: &Value<'_>, issues: &mut Vec<Issue>) -> Vec<String> {
    field
        .repetitions()
        .filter(|r| !r.is_empty())
        .filter_map(|r| {
            let raw = r.raw().trim();
            let time = raw
                .get(..4)
                .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|d| {
                    let hours: u8 = d.get(..2)?.parse().ok()?;
                    let minutes: u8 = d.get(2..)?.parse().ok()?;
                    (hours < 24 && minutes < 60).then(|| format!("{hours:02}:{minutes:02}"))
                });
            if time.is_none() {
                issues.push(Issue::warning(
                    ErrorCode::Hl7InvalidValue,
                    r.location().to_string(),
                    "explicit time is not HHMM; skipped",
                ));
            }
            time
        })
        .collect()
}

/// RXR-1: the route as coded, and its class (HL7 table 0162 codes; other tables by the
/// route's text).
pub(super) fn apply_route(
    context: &Context<'_, '_>,
    value: &Value<'_>,
    record: &mut MedicationRecord,
    issues: &mut Vec<Issue>,
) {
    let Some(coding) = values::codings(value, context.facility).into_iter().next() else {
        return;
    };
    let table = value.component(3).text();
    let hl7_table = table.is_empty() || table.eq_ignore_ascii_case("HL70162");
    let by_code = hl7_table
        .then(|| DrugRoute::from_hl7_0162(coding.code.trim()))
        .flatten();
    let class = by_code
        .or_else(|| coding.display.as_deref().and_then(route_of_text))
        .or_else(|| route_of_text(&coding.code));
    if class.is_none() && hl7_table {
        values::unknown_code(&value.component(1), "0162", issues);
    }
    record.route = Some(class.unwrap_or(DrugRoute::Other));
    record.route_coding = Some(coding);
}

/// The route class a Japanese route name (JAMI, local tables) names.
fn route_of_text(text: &str) -> Option<DrugRoute> {
    const WORDS: &[(&[&str], DrugRoute)] = &[
        (
            &[
                "静脈", "静注", "点滴", "筋肉", "筋注", "皮下", "皮内", "動脈", "注射", "髄腔",
            ],
            DrugRoute::Injection,
        ),
        (&["直腸", "肛門", "坐"], DrugRoute::Rectal),
        (&["膣"], DrugRoute::Vaginal),
        (&["吸入"], DrugRoute::Inhalation),
        (&["眼"], DrugRoute::Ophthalmic),
        (&["耳"], DrugRoute::Otic),
        (&["鼻"], DrugRoute::Nasal),
        (&["経皮", "貼付"], DrugRoute::Transdermal),
        (&["口", "経口", "内服", "舌下"], DrugRoute::Oral),
        (&["外用", "塗布", "皮膚"], DrugRoute::Topical),
    ];
    WORDS
        .iter()
        .find(|(words, _)| words.iter().any(|w| text.contains(w)))
        .map(|(_, route)| *route)
}
