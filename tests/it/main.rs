//! Integration tests: one binary, one module per area.

mod support;

mod fhir_api;
mod schemas;
mod store_contract;
