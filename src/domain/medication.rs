//! Medication records from every source: clinic prescriptions, pharmacy dispensing,
//! insurer claims and medication statements.
//!
//! Sources code the same drug differently (HOT9, YJ, the 9-digit receipt code, 一般名
//! codes, local codes). A record keeps every coding it received; the mapping layer adds
//! the common key (first 7 characters of the YJ / 薬価基準 code) used to compare drugs.

use time::Date;

use super::code_system::{Coding, KnownSystem};
use super::datetime::FhirDateTime;
use super::decimal::Decimal;
use super::identifiers::InstitutionCode;
use super::person::SubjectRef;

/// How a medication record came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MedicationKind {
    /// A clinic's order (FHIR MedicationRequest, HL7 RDE^O11).
    Prescription,
    /// A pharmacy's dispensing (FHIR MedicationDispense, UKE 調剤).
    Dispense,
    /// An insurer's claim line (UKE IY).
    Claim,
    /// What the patient reports or a clinician reconciled (FHIR MedicationStatement).
    Statement,
    /// A recorded administration (HL7 RAS^O17).
    Administration,
}

impl MedicationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prescription => "prescription",
            Self::Dispense => "dispense",
            Self::Claim => "claim",
            Self::Statement => "statement",
            Self::Administration => "administration",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "prescription" => Self::Prescription,
            "dispense" => Self::Dispense,
            "claim" => Self::Claim,
            "statement" => Self::Statement,
            "administration" => Self::Administration,
            _ => return None,
        })
    }
}

/// The drug code families a record can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DrugCodeSystem {
    Hot9,
    Hot7,
    Hot13,
    Yj,
    DrugPriceList,
    ReceiptDrug,
    GenericName,
    /// A clinic's own code (`99…` in SS-MIX2, any other system in FHIR).
    Local,
}

impl DrugCodeSystem {
    pub fn of(coding: &Coding) -> Self {
        match coding.known_system() {
            Some(KnownSystem::Hot9) => Self::Hot9,
            Some(KnownSystem::Hot7) => Self::Hot7,
            Some(KnownSystem::Hot13) => Self::Hot13,
            Some(KnownSystem::Yj) => Self::Yj,
            Some(KnownSystem::DrugPriceList) => Self::DrugPriceList,
            Some(KnownSystem::ReceiptDrug) => Self::ReceiptDrug,
            Some(KnownSystem::GenericName) => Self::GenericName,
            _ => Self::Local,
        }
    }
}

/// One coding of a drug as received.
pub type DrugCoding = Coding;

/// An amount with its unit as received (`1 TAB 錠`, `1400 MG`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity {
    pub value: Decimal,
    /// Display unit (`錠`).
    pub unit: Option<String>,
    /// Coded unit (`TAB`) in `unit_system` (MERIT-9, UCUM).
    pub code: Option<String>,
    pub unit_system: Option<String>,
}

/// How the drug is taken (from the dosage route or the UKE 診療識別). A coarse class for
/// the medication list; the route as the source coded it is kept beside it
/// (`MedicationRecord::route_coding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DrugRoute {
    Oral,
    /// 頓服: taken as needed.
    AsNeeded,
    /// On the skin or a mucous membrane, not otherwise classed (塗布, 外用).
    Topical,
    /// Any parenteral route: intravenous, intramuscular, subcutaneous, intradermal …
    Injection,
    Other,
    /// 直腸 (suppositories, enemas).
    Rectal,
    /// 膣.
    Vaginal,
    /// 吸入 (inhaled, nebulised).
    Inhalation,
    /// 点眼, 眼軟膏.
    Ophthalmic,
    /// 点耳.
    Otic,
    /// 点鼻.
    Nasal,
    /// 経皮 (patches absorbed through the skin).
    Transdermal,
}

impl DrugRoute {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oral => "oral",
            Self::AsNeeded => "as-needed",
            Self::Topical => "topical",
            Self::Injection => "injection",
            Self::Other => "other",
            Self::Rectal => "rectal",
            Self::Vaginal => "vaginal",
            Self::Inhalation => "inhalation",
            Self::Ophthalmic => "ophthalmic",
            Self::Otic => "otic",
            Self::Nasal => "nasal",
            Self::Transdermal => "transdermal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "oral" => Self::Oral,
            "as-needed" => Self::AsNeeded,
            "topical" => Self::Topical,
            "injection" => Self::Injection,
            "other" => Self::Other,
            "rectal" => Self::Rectal,
            "vaginal" => Self::Vaginal,
            "inhalation" => Self::Inhalation,
            "ophthalmic" => Self::Ophthalmic,
            "otic" => Self::Otic,
            "nasal" => Self::Nasal,
            "transdermal" => Self::Transdermal,
            _ => return None,
        })
    }

    /// The class of an HL7 table 0162 route code (`PO`, `IV`, `PR` …); `None` for a code
    /// the table does not have. Tube feeding (`NG`, `GTT`) counts as oral, gases by mask,
    /// prongs or tube as inhalation.
    pub fn from_hl7_0162(code: &str) -> Option<Self> {
        Some(match code {
            "PO" | "SL" | "B" | "TL" | "NG" | "GTT" | "OR" | "BUC" | "CHEW" => Self::Oral,
            "IV" | "IM" | "SC" | "ID" | "IA" | "IC" | "IO" | "IS" | "IT" | "EP" | "IP" | "IB"
            | "ICV" | "IHA" | "PF" | "IVP" => Self::Injection,
            "PR" => Self::Rectal,
            "VG" => Self::Vaginal,
            "IH" | "RM" | "VM" | "NP" | "ET" | "NT" | "TRA" => Self::Inhalation,
            "OP" => Self::Ophthalmic,
            "OT" => Self::Otic,
            "NS" | "IN" => Self::Nasal,
            "TD" => Self::Transdermal,
            "TP" | "AP" | "MM" | "MTH" | "SD" | "WND" | "DT" | "IMR" | "UR" | "GU" => Self::Topical,
            "OTH" | "IU" => Self::Other,
            _ => return None,
        })
    }
}

/// A medication record in canonical form.
#[derive(Debug, Clone, PartialEq)]
pub struct MedicationRecord {
    pub kind: MedicationKind,
    pub subject: SubjectRef,
    /// Every drug coding received, canonical system spellings.
    pub codings: Vec<DrugCoding>,
    /// The drug name as the source wrote it.
    pub drug_name: Option<String>,
    /// Dose per administration.
    pub dose: Option<Quantity>,
    /// Total per day (HL7 RXE-19, FHIR rateRatio per day).
    pub daily_dose: Option<Quantity>,
    /// Usage (用法), JAMI 16-digit code where given.
    pub usage: Option<Coding>,
    pub usage_text: Option<String>,
    pub route: Option<DrugRoute>,
    /// Supply in days (投与日数; for as-needed drugs the number of doses).
    pub supply_days: Option<u32>,
    /// First day of use.
    pub start: Option<Date>,
    /// When the order, dispensing or claim was made.
    pub recorded_at: Option<FhirDateTime>,
    /// Prescribing practitioner as the source identified them.
    pub prescriber: Option<String>,
    /// The institution that prescribed or dispensed.
    pub facility: Option<InstitutionCode>,
    /// The institution that wrote the prescription a dispensing fills.
    pub prescribing_facility: Option<InstitutionCode>,
    /// Order number and RP (剤) group, to group lines of one prescription.
    pub order_number: Option<String>,
    pub rp_number: Option<String>,
    /// The drug's place within its RP (剤内の薬剤番号: 1, 2, …).
    pub rp_sequence: Option<u32>,
    /// `active`, `completed`, `stopped`, `cancelled`, `entered-in-error`, ...
    pub status: Option<String>,
    /// The total amount supplied (調剤量: HL7 RXE-10 with RXE-11, FHIR
    /// MedicationDispense.quantity, MedicationRequest.dispenseRequest.quantity): with
    /// `daily_dose`, gives the supply days when a dispensing does not state them.
    pub quantity: Option<Quantity>,
    /// Further fills a refill prescription (リフィル処方箋) allows after the first (FHIR
    /// `dispenseRequest.numberOfRepeatsAllowed`); `None` for an ordinary prescription.
    pub refills: Option<u32>,
    /// The route as the source coded it (HL7 table 0162, JAMI or local codes), beside
    /// its class in `route`.
    pub route_coding: Option<Coding>,
    /// Explicit times of day (`08:00`, `20:30`) the drug is given at (HL7 TQ1-4).
    pub times_of_day: Vec<String>,
    /// For an as-needed (頓用) order: the number of doses prescribed (回分).
    pub as_needed_doses: Option<u32>,
    /// The duration as the source gave it (HL7 TQ1-6 with its unit: `d`, `h`, `wk`, `mo`
    /// in UCUM), also when it is not a whole number of days (`supply_days` then stays
    /// empty).
    pub duration: Option<Quantity>,
    /// For one component of a mixture (HL7 RXC): the amount of the whole mixture per
    /// administration (RXE-3 with RXE-5), while `dose` is this component's amount.
    pub mixture_dose: Option<Quantity>,
}

impl MedicationRecord {
    /// An empty record of a kind for a subject; codecs fill in what they know.
    pub fn new(kind: MedicationKind, subject: SubjectRef) -> Self {
        Self {
            kind,
            subject,
            codings: Vec::new(),
            drug_name: None,
            dose: None,
            daily_dose: None,
            usage: None,
            usage_text: None,
            route: None,
            supply_days: None,
            start: None,
            recorded_at: None,
            prescriber: None,
            facility: None,
            prescribing_facility: None,
            order_number: None,
            rp_number: None,
            rp_sequence: None,
            status: None,
            quantity: None,
            refills: None,
            route_coding: None,
            times_of_day: Vec::new(),
            as_needed_doses: None,
            duration: None,
            mixture_dose: None,
        }
    }

    /// The last day of use implied by start and supply days.
    pub fn end(&self) -> Option<Date> {
        let start = self.start?;
        let days = self.supply_days?;
        if days == 0 {
            return Some(start);
        }
        FhirDateTime::plus_days(start, i64::from(days) - 1)
    }

    /// The codings of one family.
    pub fn codes_of(&self, system: DrugCodeSystem) -> impl Iterator<Item = &DrugCoding> {
        self.codings
            .iter()
            .filter(move |c| DrugCodeSystem::of(c) == system)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn end_is_inclusive_of_the_supply_days() {
        let mut r = MedicationRecord::new(
            MedicationKind::Prescription,
            SubjectRef::FhirPatient("p".into()),
        );
        r.start = Some(date!(2024 - 01 - 30));
        r.supply_days = Some(3);
        assert_eq!(r.end(), Some(date!(2024 - 02 - 01)));
        r.supply_days = None;
        assert_eq!(r.end(), None);
    }

    #[test]
    fn codings_are_grouped_by_family_whatever_their_spelling() {
        let mut r =
            MedicationRecord::new(MedicationKind::Claim, SubjectRef::FhirPatient("p".into()));
        r.codings.push(Coding::new(
            "urn:oid:1.2.392.200119.4.403.1",
            "103835401",
            None,
        ));
        r.codings.push(Coding::new(
            "urn:oid:1.2.392.100495.20.2.71",
            "620000001",
            None,
        ));
        r.codings
            .push(Coding::new("http://clinic.example/drugs", "X1", None));
        assert_eq!(r.codes_of(DrugCodeSystem::Hot9).count(), 1);
        assert_eq!(r.codes_of(DrugCodeSystem::ReceiptDrug).count(), 1);
        assert_eq!(r.codes_of(DrugCodeSystem::Local).count(), 1);
    }
}
