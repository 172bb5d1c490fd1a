//! Conditions (diagnoses) and allergies.

use super::code_system::Coding;
use super::datetime::FhirDateTime;
use super::identifiers::InstitutionCode;
use super::person::SubjectRef;

/// A diagnosis or problem (FHIR Condition, HL7 PRB, UKE SY).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub subject: SubjectRef,
    /// MEDIS exchange code, receipt disease code, ICD-10, as received.
    pub codes: Vec<Coding>,
    pub name: Option<String>,
    pub onset: Option<FhirDateTime>,
    pub recorded: Option<FhirDateTime>,
    /// `active`, `resolved`, `inactive`, ... (FHIR clinicalStatus, HL7 outcome, UKE 転帰).
    pub clinical_status: Option<String>,
    /// True for a suspected diagnosis (疑い).
    pub suspected: bool,
    pub facility: Option<InstitutionCode>,
}

/// An allergy or intolerance (FHIR AllergyIntolerance, HL7 IAM/AL1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allergy {
    pub subject: SubjectRef,
    pub codes: Vec<Coding>,
    pub name: Option<String>,
    /// `food`, `medication`, `environment`, `biologic`.
    pub category: Option<String>,
    /// `low`, `high`, `unable-to-assess`.
    pub criticality: Option<String>,
    pub clinical_status: Option<String>,
    pub recorded: Option<FhirDateTime>,
    pub facility: Option<InstitutionCode>,
}
