//! The canonical model: people, their insurance, the directory, and the clinical records
//! every wire format is decoded into.
//!
//! Nothing here does IO or knows a wire format: codecs turn bytes into these values, the
//! store persists them, the consolidation engine reasons over them. Values are validated on
//! construction (a `MemberId` is always normalised, an `InstitutionCode` always 10 digits),
//! so code that holds one never re-checks it.

pub mod clinical;
pub mod code_system;
pub mod datetime;
pub mod decimal;
pub mod directory;
pub mod identifiers;
pub mod inquiry;
pub mod lab;
pub mod matching;
pub mod medication;
pub mod medication_list;
pub mod member_id;
pub mod person;
pub mod person_link;
pub mod provenance;
pub mod record;
pub mod registration;
pub mod subscription;
pub mod survey;

pub use clinical::{Allergy, Condition};
pub use code_system::Coding;
pub use datetime::{DateRange, FhirDateTime};
pub use decimal::Decimal;
pub use identifiers::{InstitutionCode, InsurerNumber};
pub use lab::{LabResult, LabValue, ReferenceRange};
pub use medication::{
    DrugCodeSystem, DrugCoding, DrugRoute, MedicationKind, MedicationRecord, Quantity,
};
pub use medication_list::{
    ActiveSpan, Class4, DrugIdentity, DrugKey, Finding, FindingRule, FindingSeverity,
    FindingSubject, IdentityBasis, ListEntry, MedicationList, RecordSource, RuleSetting,
    SourcedMedication, SpanBasis, Supply, Yj7, Yj7Route,
};
pub use member_id::MemberId;
pub use person::{
    CoverageLink, Demographics, LocalPatient, NameRepresentation, PatientIdentifier, PersonName,
    Sex, SubjectRef,
};
pub use provenance::{Provenance, SourceFormat};
pub use record::ClinicalRecord;
