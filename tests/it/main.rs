//! Integration tests: one binary, one module per area.

mod support;

mod access;
mod audit;
mod convert;
mod crash;
mod demo;
mod directory_page;
mod docs;
mod fhir_api;
mod hl7_intake;
mod hl7v2_codec;
mod hostile;
mod insurer;
mod intake_keys;
mod jp_core_examples;
mod mappings;
mod masters;
mod medication_list;
mod mllp_limits;
mod outage;
mod person;
mod robustness;
mod schemas;
mod store_contract;
mod tls;
mod tokutei;
mod uke_claims;
