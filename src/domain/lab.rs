//! Laboratory and checkup results.
//!
//! A result is coded by JLAC10 (17 characters) where the source knows it, and by the
//! facility's local code otherwise (often both); checkups add the 特定健診 item code. Values
//! keep their type and their literal precision (`Decimal`).

use super::code_system::{Coding, KnownSystem};
use super::datetime::FhirDateTime;
use super::decimal::Decimal;
use super::identifiers::InstitutionCode;
use super::person::SubjectRef;

/// A result value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabValue {
    /// A measured amount (`7.20 g/dL`), optionally with a comparator (`<0.5`).
    Quantity {
        value: Decimal,
        comparator: Option<String>,
        unit: Option<String>,
        /// UCUM or local unit code.
        unit_code: Option<String>,
        unit_system: Option<String>,
    },
    /// A coded result (`(+)`, blood type, urine qualitative grades).
    Coded(Coding),
    /// Free text.
    Text(String),
    /// No value, with the reason the source gave (`nullFlavor`, dataAbsentReason).
    Absent { reason: Option<String> },
}

impl LabValue {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Quantity { .. } => "quantity",
            Self::Coded(_) => "coded",
            Self::Text(_) => "text",
            Self::Absent { .. } => "absent",
        }
    }

    pub fn as_number(&self) -> Option<&Decimal> {
        match self {
            Self::Quantity { value, .. } => Some(value),
            _ => None,
        }
    }
}

/// A reference range (`3.7-5.5`), bounds or text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferenceRange {
    pub low: Option<Decimal>,
    pub high: Option<Decimal>,
    pub text: Option<String>,
}

/// A lab or checkup result in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabResult {
    pub subject: SubjectRef,
    /// Every code received (JLAC10, local, 特定健診 item), canonical system spellings.
    pub codes: Vec<Coding>,
    /// The item name as the source wrote it.
    pub name: Option<String>,
    pub value: LabValue,
    pub reference_range: Option<ReferenceRange>,
    /// Abnormal flag (`H`, `L`, `HH`, `LL`, `A`, `N`), HL7 table 0078 / FHIR interpretation.
    pub flag: Option<String>,
    /// `final`, `preliminary`, `corrected`, `cancelled`, `entered-in-error`, ...
    pub status: Option<String>,
    /// When the specimen was taken or the observation made.
    pub effective: Option<FhirDateTime>,
    /// Who performed or reported it, as identified by the source.
    pub performer: Option<String>,
    pub facility: Option<InstitutionCode>,
    /// Specimen type (血清, 尿) where given.
    pub specimen: Option<Coding>,
    /// Category (`laboratory`, `vital-signs`, `exam`).
    pub category: Option<String>,
}

impl LabResult {
    pub fn new(subject: SubjectRef, value: LabValue) -> Self {
        Self {
            subject,
            codes: Vec::new(),
            name: None,
            value,
            reference_range: None,
            flag: None,
            status: None,
            effective: None,
            performer: None,
            facility: None,
            specimen: None,
            category: None,
        }
    }

    /// The JLAC10 code, when the source gave one.
    pub fn jlac10(&self) -> Option<&str> {
        self.code_in(KnownSystem::Jlac10)
    }

    /// The 特定健診 item code, when the source gave one.
    pub fn checkup_item(&self) -> Option<&str> {
        self.code_in(KnownSystem::CheckupItem)
    }

    fn code_in(&self, system: KnownSystem) -> Option<&str> {
        self.codes
            .iter()
            .find(|c| c.known_system() == Some(system))
            .map(|c| c.code.as_str())
    }

    /// The first code that is neither JLAC10 nor a checkup item: the facility's own.
    pub fn local_code(&self) -> Option<&Coding> {
        self.codes.iter().find(|c| {
            !matches!(
                c.known_system(),
                Some(KnownSystem::Jlac10 | KnownSystem::CheckupItem)
            )
        })
    }
}
