//! Code tables and masters, as data: what a code means and which codes denote the same
//! thing (drugs, institutions' local drug codes, 特定健診 items, units, thresholds), and the
//! medication-list rules (`finding_rules`).
//!
//! Small curated tables ship in `mappings/` (UTF-8 CSV starting with `# source:`,
//! `# version:` and `# licence:` lines, then a header row; one reader, `curated`, for every
//! table) so tests and demos work out of the box; the full public masters an operator downloads are read from a directory and can
//! be reloaded without restart. Loaders check every row and refuse a malformed table as a
//! whole, naming the line; nothing here guesses around bad data.

pub mod checkup_items;
pub mod curated;
pub mod drug_master;
pub mod finding_rules;
pub mod local_drugs;
pub mod master_files;
pub mod program_rules;
pub mod thresholds;
pub mod unit_conversions;

pub use drug_master::{DrugEntry, DrugMaster, DrugMasterHandle, LoadReport, UnmappedReport};
pub use finding_rules::FindingRules;
pub use local_drugs::LocalDrugTables;
