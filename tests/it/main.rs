//! Integration tests: one binary, one module per area.

mod support;

mod mappings;
mod store_contract;
mod uke_claims;
