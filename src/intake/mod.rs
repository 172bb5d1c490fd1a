//! The intake core: what the gateway and `kakari convert` both do with a message or a
//! file between decoding it and keeping it, written once and free of IO.
//!
//! * `incoming`: one decoded HL7 v2 message or SS-MIX2 storage file, with its key and
//!   content digest;
//! * `storage_file`: reading one file of an SS-MIX2 storage tree (the tree itself is
//!   walked by `codec::archive`, the one safe archive walker);
//! * `disposition`: the one rule deciding accepted / duplicate / superseded / rejected
//!   (and refusing a reused key with other content), over an abstract set of seen keys
//!   the service backs with the database and `convert` with memory;
//! * `identity`: whom the records belong to (patients, persons and the links insurance
//!   makes between them), over an abstract set of identities the store backs with its
//!   tables and `convert` with memory;
//! * `report`: the per-file report both print.
//!
//! Layering: this module sits above `codec` and `domain` and below `store`, `service`
//! and `convert`; it holds no SQL and no HTTP.

pub mod disposition;
pub mod identity;
pub mod incoming;
pub mod report;
pub mod storage_file;

pub use disposition::{Disposition, KeyState, KeysInMemory, SeenKeys, Verdict, decide};
pub use identity::{CoverageLinked, Identities, Owner, PatientLinked, PersonLink};
pub use incoming::{Incoming, StorageOrigin};
pub use report::{FileReport, ImportSummary};
