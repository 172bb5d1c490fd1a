//! kakari: the registered family doctor (かかりつけ医) interoperability gateway.
//!
//! EMR and pharmacy systems post records (FHIR R4 / JP Core, SS-MIX2 / HL7 v2.5), insurers
//! post claims and checkups and pull lab values, and a person's registered doctor reads a
//! consolidated picture. See `ARCHITECTURE.md` for the code map and the invariants.

pub mod codec;
pub mod domain;
pub mod error;
pub mod mapping;
pub mod store;
