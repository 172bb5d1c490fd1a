//! Integration tests: one binary, one module per area.

mod support;

mod hl7v2_codec;
mod store_contract;
