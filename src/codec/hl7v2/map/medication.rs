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

use super::dosage::{apply_route, apply_timing};
use super::values;
use super::{ClinicalRecord, Context, MappedRecord};
use crate::codec::hl7v2::message::{Segment, Value};
use crate::domain::{DrugRoute, MedicationKind, MedicationRecord};
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
    number_within_rp(records);
}

/// Numbers the drugs of each RP in message order (JP Core's order-in-RP identifier): the
/// n-th record with the same order and RP numbers is number n.
fn number_within_rp(records: &mut [MappedRecord]) {
    let mut seen: Vec<(Option<String>, Option<String>, u32)> = Vec::new();
    for mapped in records {
        let ClinicalRecord::Medication(m) = &mut mapped.record else {
            continue;
        };
        if m.rp_number.is_none() {
            continue;
        }
        let key = (m.order_number.clone(), m.rp_number.clone());
        let n = match seen.iter_mut().find(|(o, r, _)| (o, r) == (&key.0, &key.1)) {
            Some(entry) => {
                entry.2 += 1;
                entry.2
            }
            None => {
                seen.push((key.0, key.1, 1));
                1
            }
        };
        m.rp_sequence = Some(n);
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
    base.quantity = values::quantity(&rxe.field(10), &rxe.field(11), f, issues);
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
