//! Code tables and masters: what a code means and which codes denote the same thing.
//!
//! Small curated tables ship in `mappings/` (each with its source and version) so tests
//! and demos work out of the box; the full public masters an operator downloads are
//! read from a directory and can be reloaded without restart.

pub mod curated;
pub mod drug_master;
pub mod master_files;

pub use drug_master::{DrugEntry, DrugMaster, DrugMasterHandle, LoadReport, UnmappedReport};
