//! RDE^O11 (OMP-01 prescriptions, OMP-02 injections) and RAS^O17 (OMP-11/12
//! administrations) → `MedicationRecord`s, per ConceptMaps `segment-omp-01-rxe-to-
//! medicationrequest` and `segment-omp-12-rxa-to-medicationadministration`, and the JAHIS
//! 処方・注射データ交換規約 SS-MIX2 follows. HL7 v2.3's RDE^O01 and RAS^O01 read the same.
//!
//! An order group is `ORC [TQ1] RXE [TQ1…] RXR [RXC…]`. Each RXE gives one prescription:
//! drug RXE-2 (HOT9 / HOT7 / HOT13 / YJ / local codes, all kept), dose RXE-3 with unit
//! RXE-5, dispense amount RXE-10 with unit RXE-11 (調剤量), daily dose RXE-19, order
//! number ORC-2, RP group ORC-4, prescriber ORC-12, recorded at ORC-9.
//!
//! Timing (TQ1): usage TQ1-3 (JAMI 16-digit code), explicit times of day TQ1-4 (of every
//! TQ1 of the group), duration TQ1-6 converted by its unit (`d`, `wk`, `h`, `min`, `mo`,
//! `a`: whole days give supply days, anything else is kept as a duration only; hours are
//! not days), start TQ1-7. An as-needed (頓用) order, known by its JAMI usage code (内服
//! with 基本用法区分 5), its usage text or TQ1-9 `PRN`, counts doses, not days (JAHIS:
//! the number of a 頓用 order is a count of doses, 回分): TQ1-14 (total occurrences),
//! else the TQ1-6 number.
//!
//! Route RXR-1 is kept as coded (HL7 table 0162; JAMI and local route tables classed by
//! their text) and classed: oral, rectal, vaginal, inhalation, eye, ear, nose, skin,
//! transdermal, injection (IV, IM, SC, ID …), other.
//!
//! An injection or mixture order names its drugs in RXC segments and puts an
//! injection-type or mixture code in RXE-2; then each RXC gives one record: drug RXC-2,
//! dose the component amount RXC-3 with unit RXC-4 (how much of this drug one
//! administration of the mixture holds), sharing the order's other facts, so
//! duplicate-therapy checks see real drugs. RXE-3 with RXE-5 is then the amount of the
//! whole mixture per administration (`mixture_dose`); a single component without RXC-3
//! takes RXE-3 as its dose (the message gives it there).
//!
//! Each RXA of a RAS^O17 gives one administration: drug RXA-5, amount RXA-6 with unit
//! RXA-7, when RXA-3, status RXA-20, route from the RXR that closes its group.

use super::values;
use super::{ClinicalRecord, Context, MappedRecord};
use crate::codec::hl7v2::message::{Segment, Value};
use crate::domain::code_system::KnownSystem;
use crate::domain::{Decimal, DrugRoute, MedicationKind, MedicationRecord, Quantity};
use crate::error::{ErrorCode, Issue};

/// What an ORC says about the records that follow it.
#[derive(Default)]
struct Order<'m> {
    segment: Option<Segment<'m>>,
    timings: Vec<Segment<'m>>,
}

/// One RXE with the segments that belong to it.
struct Group<'m> {
    rxe: Segment<'m>,
    timings: Vec<Segment<'m>>,
    route: Option<Segment<'m>>,
    components: Vec<Segment<'m>>,
}

/// Prescriptions from an RDE^O11.
pub(super) fn orders(
    context: &Context<'_, '_>,
    records: &mut Vec<MappedRecord>,
    issues: &mut Vec<Issue>,
) {
    let mut order = Order::default();
    let mut group: Option<Group<'_>> = None;
    for segment in context.message.segments() {
        match segment.name().as_str() {
            "ORC" => {
                if let Some(done) = group.take() {
                    prescriptions(context, &order, done, records, issues);
                }
                order = Order {
                    segment: Some(segment),
                    timings: Vec::new(),
                };
            }
            "RXE" => {
                if let Some(done) = group.take() {
                    prescriptions(context, &order, done, records, issues);
                }
                group = Some(Group {
                    rxe: segment,
                    timings: Vec::new(),
                    route: None,
                    components: Vec::new(),
                });
            }
            "TQ1" => match group.as_mut() {
                Some(g) => g.timings.push(segment),
                None => order.timings.push(segment),
            },
            "RXR" => {
                if let Some(g) = group.as_mut() {
                    g.route.get_or_insert(segment);
                }
            }
            "RXC" => {
                if let Some(g) = group.as_mut() {
                    g.components.push(segment);
                }
            }
            _ => {}
        }
    }
    if let Some(done) = group.take() {
        prescriptions(context, &order, done, records, issues);
    }
}

fn prescriptions(
    context: &Context<'_, '_>,
    order: &Order<'_>,
    group: Group<'_>,
    records: &mut Vec<MappedRecord>,
    issues: &mut Vec<Issue>,
) {
    let mut base = from_order(context, MedicationKind::Prescription, order, issues);
    let timings = if group.timings.is_empty() {
        &order.timings
    } else {
        &group.timings
    };
    apply_timing(context, timings, &mut base, issues);
    if let Some(rxr) = group.route {
        apply_route(context, &rxr.field(1), &mut base, issues);
    }
    if base.as_needed_doses.is_some() && base.route == Some(DrugRoute::Oral) {
        base.route = Some(DrugRoute::AsNeeded);
    }
    let f = context.facility;
    let rxe = group.rxe;
    base.dispense_quantity = values::quantity(&rxe.field(10), &rxe.field(11), f, issues);
    let order_dose = values::quantity(&rxe.field(3), &rxe.field(5), f, issues);
    if group.components.is_empty() {
        let mut record = base;
        drug(context, &rxe.field(2), &mut record, issues);
        record.dose = order_dose;
        record.daily_dose = values::composite_quantity(&rxe.field(19), f, issues);
        records.push(MappedRecord {
            location: rxe.location().to_string(),
            record: ClinicalRecord::Medication(record),
        });
        return;
    }
    let single = group.components.len() == 1;
    for rxc in &group.components {
        let mut record = base.clone();
        drug(context, &rxc.field(2), &mut record, issues);
        record.dose = values::quantity(&rxc.field(3), &rxc.field(4), f, issues);
        if record.dose.is_none() && single {
            record.dose.clone_from(&order_dose);
        } else {
            record.mixture_dose.clone_from(&order_dose);
        }
        records.push(MappedRecord {
            location: rxc.location().to_string(),
            record: ClinicalRecord::Medication(record),
        });
    }
}

/// Administrations from a RAS^O17.
pub(super) fn administrations(
    context: &Context<'_, '_>,
    records: &mut Vec<MappedRecord>,
    issues: &mut Vec<Issue>,
) {
    let mut order = Order::default();
    let mut pending: Vec<MappedRecord> = Vec::new();
    for segment in context.message.segments() {
        match segment.name().as_str() {
            "ORC" => {
                records.append(&mut pending);
                order = Order {
                    segment: Some(segment),
                    timings: Vec::new(),
                };
            }
            "RXA" => {
                let mut record =
                    from_order(context, MedicationKind::Administration, &order, issues);
                drug(context, &segment.field(5), &mut record, issues);
                record.dose = values::quantity(
                    &segment.field(6),
                    &segment.field(7),
                    context.facility,
                    issues,
                );
                record.recorded_at = values::timestamp(&segment.field(3), issues);
                record.start = record.recorded_at.and_then(|at| at.date());
                record.status = administration_status(&segment.field(20), issues);
                pending.push(MappedRecord {
                    location: segment.location().to_string(),
                    record: ClinicalRecord::Medication(record),
                });
            }
            "RXR" => {
                for mapped in &mut pending {
                    if let ClinicalRecord::Medication(record) = &mut mapped.record {
                        apply_route(context, &segment.field(1), record, issues);
                    }
                }
                records.append(&mut pending);
            }
            _ => {}
        }
    }
    records.append(&mut pending);
}

/// A record carrying what the ORC says: order number, RP group, prescriber, when, status.
fn from_order(
    context: &Context<'_, '_>,
    kind: MedicationKind,
    order: &Order<'_>,
    issues: &mut Vec<Issue>,
) -> MedicationRecord {
    let mut record = MedicationRecord::new(kind, context.subject.clone());
    record.facility = Some(context.facility.clone());
    let Some(orc) = order.segment else {
        return record;
    };
    record.order_number = orc
        .field(2)
        .component(1)
        .non_empty()
        .map(|s| s.into_owned());
    record.rp_number = orc.field(4).component(1).non_empty().map(|group| {
        // `orderNo_RP_seq` (SS-MIX2 injections) → the RP part; else the number itself.
        let parts: Vec<&str> = group.split('_').collect();
        match parts.as_slice() {
            [_, rp, _] => (*rp).to_owned(),
            _ => group.into_owned(),
        }
    });
    record.prescriber = values::person(&orc.field(12));
    if kind == MedicationKind::Prescription {
        record.recorded_at = values::timestamp(&orc.field(9), issues);
        record.status = order_status(&orc.field(1));
    }
    record
}

fn drug(
    context: &Context<'_, '_>,
    code: &Value<'_>,
    record: &mut MedicationRecord,
    issues: &mut Vec<Issue>,
) {
    record.codings = values::codings(code, context.facility);
    record.drug_name = values::text(&code.component(2), issues);
    if record.codings.is_empty() {
        issues.push(Issue::error(
            ErrorCode::Hl7RequiredMissing,
            code.location().to_string(),
            "drug code is empty",
        ));
    }
}

/// What the TQ1 segments of a group say (see the module documentation).
fn apply_timing(
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
fn apply_route(
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

/// ORC-1 (HL7 table 0119) → record status.
fn order_status(value: &Value<'_>) -> Option<String> {
    let code = value.component(1).non_empty()?;
    let status = match code.as_ref() {
        "NW" | "SN" | "XO" | "OK" | "RO" | "RP" | "XR" | "SC" => "active",
        "CA" | "OC" | "CR" | "UA" => "cancelled",
        "DC" | "OD" | "DR" => "stopped",
        "HD" | "OH" => "on-hold",
        _ => return None,
    };
    Some(status.to_owned())
}

/// RXA-20 (HL7 table 0322) → administration status.
fn administration_status(value: &Value<'_>, issues: &mut Vec<Issue>) -> Option<String> {
    let code = value.component(1).non_empty()?;
    let status = match code.as_ref() {
        "CP" => "completed",
        "PA" => "stopped",
        "RE" | "NA" => "not-done",
        _ => {
            values::unknown_code(value, "0322", issues);
            return None;
        }
    };
    Some(status.to_owned())
}
