//! Integration tests: one binary, one module per area.

mod support;

mod access;
mod audit;
mod convert;
mod delivery;
mod demo;
mod directory_page;
mod docs;
mod fhir_api;
mod findings;
mod gateway_and_convert;
mod hl7_intake;
mod hl7v2_codec;
mod inquiries;
mod institution_ids;
mod insurer;
mod intake_keys;
mod jp_core_examples;
mod mappings;
mod masters;
mod matching;
mod medication_list;
mod medication_list_http;
mod outage;
mod person;
mod records_as_fhir;
mod robustness;
mod schemas;
mod store_contract;
mod surveys;
mod tls;
mod tokutei;
mod uke_claims;
