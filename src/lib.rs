//! kakari: the registered family doctor (かかりつけ医) interoperability gateway.
//!
//! EMR and pharmacy systems post records (FHIR R4 / JP Core, SS-MIX2 / HL7 v2.5), insurers
//! post claims and checkups and pull lab values, and a person's registered doctor reads a
//! consolidated picture. See `ARCHITECTURE.md` for the code map and the invariants.

pub mod api_schema;
pub mod app;
pub mod auth;
pub mod cli;
pub mod codec;
pub mod config;
pub mod consolidate;
pub mod convert;
pub mod delivery;
pub mod demo;
pub mod domain;
pub mod error;
pub mod http;
pub mod intake;
pub mod mapping;
pub mod mllp;
pub mod server;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod validation;
