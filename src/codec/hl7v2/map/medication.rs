//! RDE^O11 (OMP-01 prescriptions, OMP-02 injections) and RAS^O17 (OMP-11/12
//! administrations) → `MedicationRecord`s, per ConceptMaps `segment-omp-01-rxe-to-
//! medicationrequest` and `segment-omp-12-rxa-to-medicationadministration`.
//!
//! An order group is `ORC [TQ1] RXE TQ1 RXR [RXC…]`. Each RXE gives one prescription:
//! drug RXE-2 (HOT9 / HOT7 / HOT13 / YJ / local codes, all kept), dose RXE-3 with unit
//! RXE-5, daily dose RXE-19, usage TQ1-3 (JAMI 16-digit code), supply days TQ1-6, start
//! TQ1-7, route RXR-1, order number ORC-2, RP group ORC-4, prescriber ORC-12, recorded at
//! ORC-9. An injection or mixture order names its drugs in RXC segments and puts an
//! injection-type code in RXE-2; then each RXC gives one record (drug RXC-2, amount RXC-3
//! with unit RXC-4), sharing the order's other facts, so duplicate-therapy checks see
//! real drugs.
//!
//! Each RXA of a RAS^O17 gives one administration: drug RXA-5, amount RXA-6 with unit
//! RXA-7, when RXA-3, status RXA-20, route from the RXR that closes its group.

use super::values;
use super::{ClinicalRecord, Context, MappedRecord};
use crate::codec::hl7v2::message::{Segment, Value};
use crate::domain::code_system::KnownSystem;
use crate::domain::{DrugRoute, MedicationKind, MedicationRecord};
use crate::error::{ErrorCode, Issue};

/// What an ORC says about the records that follow it.
#[derive(Default)]
struct Order<'m> {
    segment: Option<Segment<'m>>,
    timing: Option<Segment<'m>>,
}

/// One RXE with the segments that belong to it.
struct Group<'m> {
    rxe: Segment<'m>,
    timing: Option<Segment<'m>>,
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
                    timing: None,
                };
            }
            "RXE" => {
                if let Some(done) = group.take() {
                    prescriptions(context, &order, done, records, issues);
                }
                group = Some(Group {
                    rxe: segment,
                    timing: None,
                    route: None,
                    components: Vec::new(),
                });
            }
            "TQ1" => match group.as_mut() {
                Some(g) => {
                    g.timing.get_or_insert(segment);
                }
                None => {
                    order.timing.get_or_insert(segment);
                }
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
    if let Some(tq1) = group.timing.or(order.timing) {
        apply_timing(context, &tq1, &mut base, issues);
    }
    base.route = group.route.and_then(|rxr| route(&rxr.field(1)));
    let f = context.facility;
    if group.components.is_empty() {
        let rxe = group.rxe;
        let mut record = base;
        drug(context, &rxe.field(2), &mut record, issues);
        record.dose = values::quantity(&rxe.field(3), &rxe.field(5), f, issues);
        record.daily_dose = values::composite_quantity(&rxe.field(19), f, issues);
        records.push(MappedRecord {
            location: rxe.location().to_string(),
            record: ClinicalRecord::Medication(record),
        });
        return;
    }
    for rxc in &group.components {
        let mut record = base.clone();
        drug(context, &rxc.field(2), &mut record, issues);
        record.dose = values::quantity(&rxc.field(3), &rxc.field(4), f, issues);
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
                    timing: None,
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
                let route = route(&segment.field(1));
                for mapped in &mut pending {
                    if let ClinicalRecord::Medication(record) = &mut mapped.record {
                        record.route = route;
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

fn apply_timing(
    context: &Context<'_, '_>,
    tq1: &Segment<'_>,
    record: &mut MedicationRecord,
    issues: &mut Vec<Issue>,
) {
    let pattern = tq1.field(3).repetition(1).component(1);
    let usage = values::sub_codings(&pattern, context.facility);
    record.usage_text = usage.iter().find_map(|c| c.display.clone());
    record.usage = usage
        .iter()
        .find(|c| c.known_system() == Some(KnownSystem::JamiUsage))
        .or_else(|| usage.first())
        .cloned();
    let duration = tq1.field(6).component(1);
    if let Some(days) = values::decimal(&duration, issues) {
        record.supply_days = days.as_str().parse().ok();
        if record.supply_days.is_none() {
            issues.push(Issue::error(
                ErrorCode::Hl7InvalidValue,
                duration.location().to_string(),
                "supply duration is not a whole number",
            ));
        }
    }
    record.start = values::date(&tq1.field(7), issues);
}

/// RXR-1 (HL7 table 0162) → how the drug is taken.
fn route(value: &Value<'_>) -> Option<DrugRoute> {
    let code = value.component(1).non_empty()?;
    Some(match code.as_ref() {
        "PO" | "OR" | "SL" | "BUC" | "CHEW" | "GTT" => DrugRoute::Oral,
        "IV" | "IM" | "SC" | "ID" | "IA" | "IC" | "IO" | "IS" | "IT" | "EP" | "IVP" | "IP" => {
            DrugRoute::Injection
        }
        "TP" | "AP" | "TD" | "OP" | "OT" | "NS" | "NA" | "PR" | "VG" | "IH" | "MM" | "SD"
        | "DT" | "MTH" | "NP" | "UR" => DrugRoute::Topical,
        _ => DrugRoute::Other,
    })
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
