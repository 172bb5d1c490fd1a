//! FHIR R4 JSON (JP Core): parsing, schema and JP Core validation, search parameters,
//! mapping to the canonical domain, OperationOutcome and CapabilityStatement.

pub mod admit;
pub mod audit_event;
pub mod bundle;
pub mod capability;
pub mod clins;
pub mod code_forms;
pub mod digest;
pub mod document;
pub mod dosage_total;
pub mod jpcore;
pub mod json;
pub mod lab_units;
pub mod medication_list;
pub mod outcome;
pub mod path;
pub mod program_findings;
pub mod registry;
pub mod render;
pub mod resource_type;
pub mod rules;
pub mod schema;
pub mod search_params;
pub mod subscription;
pub mod survey;
pub mod task;
pub mod to_domain;
pub mod value;

pub use resource_type::ResourceType;

/// Types kakari reads besides the stored ones (inquiries, subscriptions, survey answers):
/// the R4 schema subset covers them too (`tests/it/schemas.rs` derives it).
pub const COLLABORATION_INPUT_TYPES: &[&str] = &["Task", "Subscription", "QuestionnaireResponse"];
