//! From receipts to domain values: medication records of kind `claim`, conditions, and
//! the coverage link between the clinic's patient number and the member.
//!
//! 医科 (IY under a 診療識別): the route follows the 診療識別 (21 内服 oral, 22 屯服 as
//! needed, 23 外用 topical, 31–33 注射 injection, any other code other). 内服 and 屯服
//! lines become one record per 算定日 (the day of the prescription, its count the days
//! supplied for 内服 and the doses for 屯服); other lines become one record starting on
//! the first 算定日, supplied for the number of 算定日 (none for 外用, whose 使用量 is
//! an amount, not a duration). 内服 使用量 is a daily amount (`daily_dose`); elsewhere it
//! is the amount per use (`dose`).
//!
//! 調剤 (CZ then its IY lines): the route follows the 剤形 (1 内服, 2 内滴, 6 浸煎, 7 湯
//! oral; 3 屯服 as needed; 4 注射 injection; 5 外用 topical; other codes other); the start
//! is the 調剤月日, supply the 調剤数量 for oral and as-needed 剤.
//!
//! Subject: the member from HO when the receipt gives one; otherwise the claiming
//! institution's local patient (カルテ番号, or `uke:{請求年月}:{レセプト番号}` when the
//! receipt has none), which the store keeps as unlinked.

use time::Date;

use super::date::YearMonth;
use super::file::{Receipt, UkeFile};
use super::record::{DiagnosisRecord, DispensingRecord, FileKind, ItemRecord, Located, Record};
use crate::domain::code_system::KnownSystem;
use crate::domain::{
    Coding, Condition, CoverageLink, Decimal, Demographics, DrugRoute, FhirDateTime,
    InstitutionCode, MedicationKind, MedicationRecord, MemberId, Quantity, SubjectRef,
};
use crate::mapping::drug_master::DrugMaster;

/// 未コード化傷病名: the name is written out instead of coded.
const UNCODED_DISEASE: &str = "0000999";
/// 修飾語コード for 「の疑い」.
const SUSPECTED: &str = "8002";

/// The domain values of a whole file.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRecords {
    pub institution: InstitutionCode,
    pub receipts: Vec<ReceiptRecords>,
}

impl ClaimRecords {
    pub fn medications(&self) -> impl Iterator<Item = &MedicationRecord> {
        self.receipts.iter().flat_map(|r| r.medications.iter())
    }

    pub fn conditions(&self) -> impl Iterator<Item = &Condition> {
        self.receipts.iter().flat_map(|r| r.conditions.iter())
    }
}

/// The domain values of one receipt.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptRecords {
    /// The RE line, for locating.
    pub line: usize,
    /// Whom every record of the receipt is about.
    pub subject: SubjectRef,
    /// The member id, when HO gives one.
    pub member: Option<MemberId>,
    /// Birth date, sex and names as the receipt writes them (for matching family cards).
    pub demographics: Demographics,
    /// The clinic's patient number tied to the member, when the receipt has both.
    pub coverage: Option<CoverageLink>,
    pub medications: Vec<MedicationRecord>,
    pub conditions: Vec<Condition>,
}

/// Turns a parsed file into domain values. `master` names the drugs and gives their
/// units; without it records carry the receipt code only.
pub fn to_domain(file: &UkeFile, master: Option<&DrugMaster>) -> ClaimRecords {
    let receipts = file
        .receipts
        .iter()
        .map(|receipt| receipt_records(file, receipt, master))
        .collect();
    ClaimRecords {
        institution: file.institution.clone(),
        receipts,
    }
}

/// What every record of a receipt shares.
struct Context<'a> {
    subject: SubjectRef,
    facility: &'a InstitutionCode,
    month: Option<YearMonth>,
    receipt_number: Option<&'a str>,
    master: Option<&'a DrugMaster>,
}

fn receipt_records(
    file: &UkeFile,
    receipt: &Receipt,
    master: Option<&DrugMaster>,
) -> ReceiptRecords {
    let re = &receipt.header.record;
    let chart = re.chart_number.clone();
    let local = || SubjectRef::Local {
        facility: file.institution.clone(),
        local_id: chart.clone().unwrap_or_else(|| {
            let month = file
                .claim_month
                .map(|m| format!("{}{:02}", m.year, u8::from(m.month)))
                .unwrap_or_default();
            format!("uke:{month}:{}", re.number.as_deref().unwrap_or(""))
        }),
    };
    let subject = match &receipt.member {
        Some(member) => SubjectRef::Member(member.clone()),
        None => local(),
    };
    let coverage = match (&receipt.member, &chart) {
        (Some(member), Some(_)) => Some(CoverageLink {
            subject: local(),
            member: member.clone(),
            active: true,
        }),
        _ => None,
    };
    let context = Context {
        subject,
        facility: &file.institution,
        month: re.service_month,
        receipt_number: re.number.as_deref(),
        master,
    };
    let medications = if file.kind == FileKind::Pharmacy {
        dispensed(&context, receipt)
    } else {
        claimed(&context, receipt)
    };
    let conditions = receipt
        .records
        .iter()
        .filter_map(|r| match &r.record {
            Record::Diagnosis(sy) => condition(&context, sy),
            _ => None,
        })
        .collect();
    ReceiptRecords {
        line: receipt.header.line,
        subject: context.subject.clone(),
        member: receipt.member.clone(),
        demographics: receipt.demographics(),
        coverage,
        medications,
        conditions,
    }
}

/// The route a 医科 診療識別 implies.
pub fn route_of_identification(code: &str) -> DrugRoute {
    match code {
        "21" => DrugRoute::Oral,
        "22" => DrugRoute::AsNeeded,
        "23" => DrugRoute::Topical,
        "31" | "32" | "33" => DrugRoute::Injection,
        _ => DrugRoute::Other,
    }
}

/// The route a 調剤 剤形コード implies.
pub fn route_of_dosage_form(code: &str) -> DrugRoute {
    match code {
        "1" | "2" | "6" | "7" => DrugRoute::Oral,
        "3" => DrugRoute::AsNeeded,
        "4" => DrugRoute::Injection,
        "5" => DrugRoute::Topical,
        _ => DrugRoute::Other,
    }
}

impl Context<'_> {
    /// A claim record for one drug code with what the master knows about it, and the
    /// unit of the code's quantities.
    fn record(&self, code: &str) -> (MedicationRecord, Option<String>) {
        let mut record = MedicationRecord::new(MedicationKind::Claim, self.subject.clone());
        let mut coding = Coding::new(KnownSystem::ReceiptDrug.uri(), code, None);
        let entry = self.master.and_then(|m| m.lookup(&coding));
        let name = entry.and_then(|e| e.name.clone());
        coding.display = name.clone();
        record.codings.push(coding);
        record.drug_name = name;
        record.facility = Some(self.facility.clone());
        record.order_number = self.receipt_number.map(str::to_owned);
        record.recorded_at = self.month.map(|m| FhirDateTime::YearMonth(m.year, m.month));
        record.status = Some("completed".to_owned());
        (record, entry.and_then(|e| e.unit.clone()))
    }
}

/// An amount in the unit of the drug code.
fn quantity(value: &Decimal, unit: &Option<String>) -> Quantity {
    Quantity {
        value: value.clone(),
        unit: unit.clone(),
        code: None,
        unit_system: None,
    }
}

/// 医科: IY lines under their 診療識別.
fn claimed(context: &Context, receipt: &Receipt) -> Vec<MedicationRecord> {
    let mut out = Vec::new();
    let mut group = 1u32;
    for (located, identification) in receipt.identified() {
        match &located.record {
            Record::Drug(iy) => {
                if let Some(code) = &iy.code {
                    let route = identification.map(route_of_identification);
                    drug_lines(context, code, iy, route, group, &mut out);
                }
                if iy.points.is_some() {
                    group = group.saturating_add(1);
                }
            }
            Record::Procedure(item) if item.points.is_some() => group = group.saturating_add(1),
            // TO field 6 is 点数.
            Record::Other { id, fields }
                if id == "TO" && fields.get(5).is_some_and(|f| !f.trim().is_empty()) =>
            {
                group = group.saturating_add(1);
            }
            _ => {}
        }
    }
    out
}

fn drug_lines(
    context: &Context,
    code: &str,
    iy: &ItemRecord,
    route: Option<DrugRoute>,
    group: u32,
    out: &mut Vec<MedicationRecord>,
) {
    let (mut base, unit) = context.record(code);
    base.route = route;
    base.rp_number = Some(group.to_string());
    let amount = iy.quantity.as_ref().map(|q| quantity(q, &unit));
    if route == Some(DrugRoute::Oral) {
        base.daily_dose = amount;
    } else {
        base.dose = amount;
    }
    let days: Vec<(Date, u16)> = iy
        .days
        .iter()
        .zip(1u8..)
        .filter(|(count, _)| **count > 0)
        .filter_map(|(count, day)| Some((context.month?.day(day)?, *count)))
        .collect();
    let per_day = matches!(route, Some(DrugRoute::Oral | DrugRoute::AsNeeded));
    if per_day && !days.is_empty() {
        for (date, count) in days {
            let mut record = base.clone();
            record.start = Some(date);
            record.supply_days = Some(u32::from(count));
            out.push(record);
        }
        return;
    }
    base.start = days.first().map(|(date, _)| *date);
    base.supply_days = match route {
        Some(DrugRoute::Oral | DrugRoute::AsNeeded) => iy.count.and_then(|c| u32::try_from(c).ok()),
        Some(DrugRoute::Topical) => None,
        _ if days.is_empty() => None,
        _ => u32::try_from(days.len()).ok(),
    };
    out.push(base);
}

/// 調剤: IY lines under the CZ above them (or the CZ of the same 剤番号).
fn dispensed(context: &Context, receipt: &Receipt) -> Vec<MedicationRecord> {
    let prescription = receipt.records.iter().find_map(|r| match &r.record {
        Record::Prescription(sh) => Some(sh),
        _ => None,
    });
    let dispensings: Vec<&Located<Record>> = receipt
        .records
        .iter()
        .filter(|r| matches!(r.record, Record::Dispensing(_)))
        .collect();
    let mut out = Vec::new();
    let mut current: Option<&DispensingRecord> = None;
    for located in &receipt.records {
        match &located.record {
            Record::Dispensing(cz) => current = Some(cz),
            Record::DispensedDrug(iy) => {
                let Some(code) = &iy.code else { continue };
                let by_group = iy.group.as_ref().and_then(|g| {
                    dispensings.iter().find_map(|r| match &r.record {
                        Record::Dispensing(cz) if cz.group.as_ref() == Some(g) => Some(cz),
                        _ => None,
                    })
                });
                let cz = by_group.or(current);
                let (mut record, unit) = context.record(code);
                let route = cz
                    .and_then(|cz| cz.dosage_form.as_deref())
                    .map(route_of_dosage_form);
                record.route = route;
                let amount = iy.quantity.as_ref().map(|q| quantity(q, &unit));
                if route == Some(DrugRoute::Oral) {
                    record.daily_dose = amount;
                } else {
                    record.dose = amount;
                }
                if let Some(cz) = cz {
                    record.start = cz.dispensed_on;
                    if let Some(date) = cz.dispensed_on {
                        record.recorded_at = Some(FhirDateTime::Date(date));
                    }
                    if matches!(route, Some(DrugRoute::Oral | DrugRoute::AsNeeded)) {
                        record.supply_days = cz.quantity.and_then(|q| u32::try_from(q).ok());
                    }
                    record.rp_number = cz.group.clone();
                    record.usage_text = cz.instruction.clone();
                }
                if let Some(sh) = prescription {
                    record.prescribing_facility = sh.prescribing_facility.clone();
                    record.prescriber = sh.prescriber.clone();
                }
                out.push(record);
            }
            _ => {}
        }
    }
    out
}

/// A condition from an SY line; `None` when the line has neither code nor name.
fn condition(context: &Context, sy: &DiagnosisRecord) -> Option<Condition> {
    let coded = sy.code.as_deref().filter(|c| *c != UNCODED_DISEASE);
    if coded.is_none() && sy.name.is_none() {
        return None;
    }
    let codes = coded
        .map(|code| vec![Coding::new(KnownSystem::ReceiptDisease.uri(), code, None)])
        .unwrap_or_default();
    Some(Condition {
        subject: context.subject.clone(),
        codes,
        name: sy.name.clone(),
        onset: sy.start.map(FhirDateTime::Date),
        recorded: context
            .month
            .map(|m| FhirDateTime::YearMonth(m.year, m.month)),
        clinical_status: sy.outcome.as_deref().and_then(clinical_status),
        suspected: sy.modifiers.iter().any(|m| m == SUSPECTED),
        facility: Some(context.facility.clone()),
    })
}

/// 転帰区分 → FHIR clinicalStatus.
fn clinical_status(outcome: &str) -> Option<String> {
    let status = match outcome {
        "1" => "active",
        "2" => "resolved",
        "3" | "4" => "inactive",
        _ => return None,
    };
    Some(status.to_owned())
}
