//! The FHIR resource types kakari serves, and what kind of data each holds.

use std::fmt;

/// A served resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    Patient,
    Coverage,
    Organization,
    Practitioner,
    PractitionerRole,
    MedicationRequest,
    MedicationDispense,
    MedicationStatement,
    /// Recorded administrations (HL7 RAS^O17, SS-MIX2 OMP-11/12).
    MedicationAdministration,
    Observation,
    Condition,
    AllergyIntolerance,
    Encounter,
    Specimen,
    /// Where data came from: kakari's record of each input that became resources (format,
    /// sending client, input, received at), and posted ones.
    Provenance,
    /// Document and collection Bundles, stored as received (`POST /fhir/Bundle` or
    /// `POST /fhir`); never created or updated like the other types.
    Bundle,
}

impl ResourceType {
    pub const ALL: &'static [ResourceType] = &[
        ResourceType::Patient,
        ResourceType::Coverage,
        ResourceType::Organization,
        ResourceType::Practitioner,
        ResourceType::PractitionerRole,
        ResourceType::MedicationRequest,
        ResourceType::MedicationDispense,
        ResourceType::MedicationStatement,
        ResourceType::MedicationAdministration,
        ResourceType::Observation,
        ResourceType::Condition,
        ResourceType::AllergyIntolerance,
        ResourceType::Encounter,
        ResourceType::Specimen,
        ResourceType::Provenance,
        ResourceType::Bundle,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "Patient",
            Self::Coverage => "Coverage",
            Self::Organization => "Organization",
            Self::Practitioner => "Practitioner",
            Self::PractitionerRole => "PractitionerRole",
            Self::MedicationRequest => "MedicationRequest",
            Self::MedicationDispense => "MedicationDispense",
            Self::MedicationStatement => "MedicationStatement",
            Self::MedicationAdministration => "MedicationAdministration",
            Self::Provenance => "Provenance",
            Self::Observation => "Observation",
            Self::Condition => "Condition",
            Self::AllergyIntolerance => "AllergyIntolerance",
            Self::Encounter => "Encounter",
            Self::Specimen => "Specimen",
            Self::Bundle => "Bundle",
        }
    }

    /// Directory data (institutions, practitioners): no patient data.
    pub fn is_directory(self) -> bool {
        matches!(
            self,
            Self::Organization | Self::Practitioner | Self::PractitionerRole
        )
    }

    /// Holds data about a patient (everything but the directory).
    pub fn is_patient_data(self) -> bool {
        !self.is_directory()
    }

    /// The element that names the patient, for types that have one.
    pub fn subject_element(self) -> Option<&'static str> {
        match self {
            Self::Patient
            | Self::Organization
            | Self::Practitioner
            | Self::PractitionerRole
            | Self::Provenance
            | Self::Bundle => None,
            Self::Coverage => Some("beneficiary"),
            Self::AllergyIntolerance => Some("patient"),
            Self::MedicationRequest
            | Self::MedicationDispense
            | Self::MedicationStatement
            | Self::MedicationAdministration
            | Self::Observation
            | Self::Condition
            | Self::Encounter
            | Self::Specimen => Some("subject"),
        }
    }

    /// The JP Core profile of the type (JP Core defines none for Bundle).
    pub fn jp_core_profile(self) -> Option<&'static str> {
        Some(match self {
            Self::Patient => "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient",
            Self::Coverage => "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Coverage",
            Self::Organization => "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Organization",
            Self::Practitioner => "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Practitioner",
            Self::PractitionerRole => {
                "http://jpfhir.jp/fhir/core/StructureDefinition/JP_PractitionerRole"
            }
            Self::MedicationRequest => {
                "http://jpfhir.jp/fhir/core/StructureDefinition/JP_MedicationRequest"
            }
            Self::MedicationDispense => {
                "http://jpfhir.jp/fhir/core/StructureDefinition/JP_MedicationDispense"
            }
            Self::MedicationStatement => {
                "http://jpfhir.jp/fhir/core/StructureDefinition/JP_MedicationStatement"
            }
            Self::Observation => {
                "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_LabResult"
            }
            Self::Condition => "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Condition",
            Self::AllergyIntolerance => {
                "http://jpfhir.jp/fhir/core/StructureDefinition/JP_AllergyIntolerance"
            }
            Self::Encounter => "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Encounter",
            Self::Specimen => "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Specimen_Common",
            Self::MedicationAdministration => {
                "http://jpfhir.jp/fhir/core/StructureDefinition/JP_MedicationAdministration"
            }
            Self::Provenance | Self::Bundle => return None,
        })
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// True for a valid FHIR logical id (`[A-Za-z0-9\-\.]{1,64}`).
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in ResourceType::ALL {
            assert_eq!(ResourceType::parse(t.as_str()), Some(*t));
        }
        assert_eq!(ResourceType::parse("Composition"), None);
    }

    #[test]
    fn ids_follow_the_fhir_rule() {
        assert!(is_valid_id("jp-patient-example-1"));
        assert!(is_valid_id("a.b-C9"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("a/b"));
        assert!(!is_valid_id(&"x".repeat(65)));
    }
}
