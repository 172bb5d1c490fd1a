//! A clinical record of any kind, as codecs produce them and the store keeps them.

use super::clinical::{Allergy, Condition};
use super::identifiers::InstitutionCode;
use super::lab::LabResult;
use super::medication::MedicationRecord;
use super::person::SubjectRef;

/// One canonical clinical record.
// Medication records are the largest variant (dosage details: dose, dispense amount,
// duration …). Records live in vectors that hold mostly one kind, and mapping time goes
// to allocations (docs/hl7v2.md): boxing would add one per record to save space that a
// vector of lab results does not use anyway.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ClinicalRecord {
    Medication(MedicationRecord),
    Lab(LabResult),
    Condition(Condition),
    Allergy(Allergy),
}

impl ClinicalRecord {
    pub fn subject(&self) -> &SubjectRef {
        match self {
            Self::Medication(m) => &m.subject,
            Self::Lab(l) => &l.subject,
            Self::Condition(c) => &c.subject,
            Self::Allergy(a) => &a.subject,
        }
    }

    /// The institution the record comes from, when the source says.
    pub fn facility(&self) -> Option<&InstitutionCode> {
        match self {
            Self::Medication(m) => m.facility.as_ref(),
            Self::Lab(l) => l.facility.as_ref(),
            Self::Condition(c) => c.facility.as_ref(),
            Self::Allergy(a) => a.facility.as_ref(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Medication(_) => "medication",
            Self::Lab(_) => "lab",
            Self::Condition(_) => "condition",
            Self::Allergy(_) => "allergy",
        }
    }
}
