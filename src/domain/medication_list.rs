//! The consolidated medication list of one person, as values: which drug each entry is,
//! when it was active, which stored records it rests on, and the findings (duplicate
//! therapy, same-class duplicates, polypharmacy) that implicate entries.
//!
//! These are the engine's inputs and outputs (`crate::consolidate`); they know no wire
//! format. Renderers (FHIR `MedicationStatement` / `DetectedIssue`, the doctor's page) read
//! them: every entry cites its sources by index into the input slice the engine was given,
//! and every source carries the stored record, the FHIR resource it came from (when it
//! did), and its provenance (client, input, format, received at, location).
//!
//! Days are calendar days in Japan time; every span is inclusive of both ends.

use time::Date;

use super::code_system::Coding;
use super::identifiers::InstitutionCode;
use super::medication::{DrugCodeSystem, DrugRoute, MedicationRecord};
use super::provenance::Provenance;

/// Where one input record is stored and how it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSource {
    /// The stored canonical record (`medication_records.pk`).
    pub record_pk: i64,
    /// The FHIR resource the record was derived from (`MedicationRequest/abc`), when it
    /// was posted as FHIR; records from HL7 v2, SS-MIX2 and UKE have none.
    pub resource: Option<String>,
    pub provenance: Provenance,
}

/// One medication record with where it came from: the engine's input.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcedMedication {
    pub record: MedicationRecord,
    pub source: RecordSource,
}

/// The first 7 characters of a YJ / 薬価基準 code: 薬効分類 (4) + 投与経路及び成分 (3).
/// Two products with the same `Yj7` have the same ingredient by the same route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Yj7([u8; 7]);

/// The first 4 characters of a YJ / 薬価基準 code: the therapeutic class (薬効分類).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Class4([u8; 4]);

/// The route a `Yj7` encodes in its 5th to 7th digits (投与経路及び成分: 001–399 内用,
/// 400–699 注射, 700–999 外用).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Yj7Route {
    Internal,
    Injection,
    External,
}

impl Yj7 {
    /// The key of a code that starts with 7 ASCII digits (a YJ, 薬価基準 or 一般名 code,
    /// or a key already cut to 7).
    pub fn of_code(code: &str) -> Option<Self> {
        let head = code.as_bytes().get(..7)?;
        if !head.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut key = [0u8; 7];
        key.copy_from_slice(head);
        Some(Self(key))
    }

    pub fn as_str(&self) -> &str {
        // Built from ASCII digits only.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    pub fn class4(&self) -> Class4 {
        Class4([self.0[0], self.0[1], self.0[2], self.0[3]])
    }

    pub fn route(&self) -> Yj7Route {
        match self.0[4] {
            b'0'..=b'3' => Yj7Route::Internal,
            b'4'..=b'6' => Yj7Route::Injection,
            _ => Yj7Route::External,
        }
    }
}

impl Class4 {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl std::fmt::Display for Yj7 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for Class4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What records are compared by: the ingredient-and-route key when a table maps the drug,
/// else the code itself, else the name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DrugKey {
    Yj7(Yj7),
    /// A code no table maps, compared exactly (canonical system spelling and code).
    Code {
        system: String,
        code: String,
    },
    /// No code at all: the name as written, trimmed.
    Name(String),
}

impl DrugKey {
    pub fn yj7(&self) -> Option<Yj7> {
        match self {
            Self::Yj7(k) => Some(*k),
            _ => None,
        }
    }

    pub fn class4(&self) -> Option<Class4> {
        self.yj7().map(|k| k.class4())
    }
}

/// How a record's drug was identified.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdentityBasis {
    /// A coding of this family gave the key (itself, or through the masters).
    Coded(DrugCodeSystem),
    /// A local code of this institution, through its table (`local-drugs/<code>.csv`).
    LocalTable(InstitutionCode),
    /// No table maps any of the record's codings: the drug stays under its own code.
    Unmapped,
}

/// Which drug a record is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DrugIdentity {
    pub key: DrugKey,
    pub basis: IdentityBasis,
}

impl DrugIdentity {
    pub fn is_mapped(&self) -> bool {
        self.key.yj7().is_some()
    }
}

/// How an active span was worked out (documented in `docs/medication-list.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpanBasis {
    /// Start plus the supply days the record gives (× the fills of a refill prescription).
    SupplyDays,
    /// Dispensed quantity divided by the daily dose (days not given).
    QuantityOverDailyDose,
    /// 頓服: listed from its date for the configured as-needed span.
    AsNeeded,
    /// 外用: at least the configured topical span (its amount is not a duration).
    Topical,
    /// A statement with no end that is still active: until `asOf`.
    Reported,
    /// A claim line without 算定日: from the first day of the 診療年月.
    ClaimMonth,
    /// Nothing gives a duration: the day itself.
    SingleDay,
}

impl SpanBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SupplyDays => "supply-days",
            Self::QuantityOverDailyDose => "quantity-over-daily-dose",
            Self::AsNeeded => "as-needed",
            Self::Topical => "topical",
            Self::Reported => "reported",
            Self::ClaimMonth => "claim-month",
            Self::SingleDay => "single-day",
        }
    }
}

/// Days a drug is considered active, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ActiveSpan {
    pub start: Date,
    pub end: Date,
    pub basis: SpanBasis,
}

impl ActiveSpan {
    pub fn covers(&self, day: Date) -> bool {
        self.start <= day && day <= self.end
    }
}

/// One supply of a drug: one prescription as the clinic ordered it, the pharmacy
/// dispensed it and the insurer was claimed for it, or whichever of these arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supply {
    pub span: ActiveSpan,
    /// Indices into the engine's input, in order of kind (prescription, administration,
    /// dispensing, claim, statement), then date.
    pub sources: Vec<usize>,
}

/// One line of the list: a drug from one prescribing institution over a continuous
/// course (successive supplies with gaps no longer than the configured course gap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub identity: DrugIdentity,
    /// The prescribing institution; `None` when no source names it (a patient's
    /// statement, a dispensing that does not say whose prescription it filled).
    pub institution: Option<InstitutionCode>,
    /// How the drug is taken, from the sources (prescription first), else from the
    /// route the YJ key encodes; `None` when nothing says.
    pub route: Option<DrugRoute>,
    /// First and last active day of its supplies (not clipped: a supply that began before
    /// the window keeps its first day; supplies that ended before it are not listed).
    pub start: Date,
    pub end: Date,
    /// Some supply covers `asOf`.
    pub active_on_as_of: bool,
    pub supplies: Vec<Supply>,
    /// The source that best describes the drug, dose and usage (the latest
    /// prescription, else the latest dispensing, claim, administration, statement).
    pub primary: usize,
    /// Counted by the polypharmacy rule (a regular oral drug; not 頓服, not topical).
    pub counts_for_polypharmacy: bool,
    /// Every source is an insurer's claim.
    pub only_claims: bool,
}

impl ListEntry {
    /// Every source of the entry (indices into the engine's input).
    pub fn sources(&self) -> impl Iterator<Item = usize> + '_ {
        self.supplies.iter().flat_map(|s| s.sources.iter().copied())
    }

    pub fn is_unmapped(&self) -> bool {
        !self.identity.is_mapped()
    }
}

/// The rules the engine checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingRule {
    /// Same ingredient and route (`Yj7`) active at once from two or more institutions.
    DuplicateTherapy,
    /// Same therapeutic class (`Class4`), different ingredients, different institutions.
    SameClass,
    /// Many distinct regular oral drugs active at once.
    Polypharmacy,
}

impl FindingRule {
    pub const ALL: [Self; 3] = [Self::DuplicateTherapy, Self::SameClass, Self::Polypharmacy];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DuplicateTherapy => "duplicate-therapy",
            Self::SameClass => "same-class",
            Self::Polypharmacy => "polypharmacy",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// FHIR `DetectedIssue.severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingSeverity {
    High,
    Moderate,
    Low,
}

impl FindingSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Moderate => "moderate",
            Self::Low => "low",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "high" => Self::High,
            "moderate" => Self::Moderate,
            "low" => Self::Low,
            _ => return None,
        })
    }
}

/// How one rule is set: its code, severity and thresholds (`mappings/medication-findings.csv`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSetting {
    pub rule: FindingRule,
    /// `DetectedIssue.code` (e.g. v3-ActCode `DUPTHPY`).
    pub code: Coding,
    pub severity: FindingSeverity,
    /// Institutions at once (duplicate therapy, same class) or distinct drugs at once
    /// (polypharmacy) at which the rule fires.
    pub threshold: u32,
    /// Days the condition must hold within the window.
    pub min_days: u32,
}

/// What a finding is about, besides its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FindingSubject {
    Ingredient(Yj7),
    Class(Class4),
    /// The whole list (polypharmacy).
    List,
}

/// One finding: a rule that holds, the entries it implicates, when and how far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub setting: RuleSetting,
    pub subject: FindingSubject,
    /// Indices into `MedicationList::entries`, ascending.
    pub entries: Vec<usize>,
    /// The most institutions (or distinct drugs) at once.
    pub observed: u32,
    /// Days on which the condition held.
    pub days: u32,
    /// First and last day on which it held.
    pub start: Date,
    pub end: Date,
}

/// A person's consolidated medication list as of a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MedicationList {
    pub as_of: Date,
    /// First day of the look-back window (the window ends on `as_of`).
    pub window_start: Date,
    pub entries: Vec<ListEntry>,
    pub findings: Vec<Finding>,
    /// Inputs with no date at all (no start, no recorded time): kept out of the list and
    /// reported here, never dropped silently.
    pub undated: Vec<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yj7_keys_give_class_and_route() {
        let amlodipine = Yj7::of_code("2171022F2025").unwrap();
        assert_eq!(amlodipine.as_str(), "2171022");
        assert_eq!(amlodipine.class4().as_str(), "2171");
        assert_eq!(amlodipine.route(), Yj7Route::Internal);
        assert_eq!(
            Yj7::of_code("2649735S2024").unwrap().route(),
            Yj7Route::External
        );
        assert_eq!(
            Yj7::of_code("2492419G1021").unwrap().route(),
            Yj7Route::Injection
        );
        assert!(Yj7::of_code("217102").is_none());
        assert!(Yj7::of_code("21710X2F2025").is_none());
    }

    #[test]
    fn rules_and_severities_read_back_what_they_write() {
        for rule in FindingRule::ALL {
            assert_eq!(FindingRule::parse(rule.as_str()), Some(rule));
        }
        for s in [
            FindingSeverity::High,
            FindingSeverity::Moderate,
            FindingSeverity::Low,
        ] {
            assert_eq!(FindingSeverity::parse(s.as_str()), Some(s));
        }
        assert_eq!(FindingRule::parse("DUPTHPY"), None);
    }
}
