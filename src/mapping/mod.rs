//! Code tables as data: the files under `mappings/` (and operator-supplied masters), loaded
//! and validated into lookup structures the codecs and the consolidation engine use.
//!
//! Every table is a UTF-8 CSV that starts with `# source:`, `# version:` and `# licence:`
//! lines, then a header row. Loaders check every row and refuse a malformed table as a
//! whole, naming the line; nothing here guesses around bad data.

pub mod checkup_items;
pub mod csv_table;
pub mod thresholds;
pub mod unit_conversions;
