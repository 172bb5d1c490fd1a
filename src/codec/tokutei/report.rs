//! What an export left out and why: counts by code only, never patient data.

use std::collections::BTreeMap;

use serde::Serialize;

/// Why a result with a checkup item was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The value's kind does not fit the item's XML data type (a text for a PQ item, a
    /// code from another code system for a CD item, …).
    ValueType,
    /// The quantity's unit is not the item's and no conversion rule applies.
    UnitNotConvertible,
    /// More integer digits than the item format allows, an over-long text, or characters
    /// XML cannot carry.
    OutOfFormat,
    /// A quantity with a comparator (`<0.5`): V08 PQ has no comparator.
    Comparator,
    /// A second result for the same item in one document (the first is written).
    Duplicate,
    /// The result's date is not the document's exam date.
    OtherExamDate,
}

/// Counts of an export. Maps are keyed by JLAC10 code (`unmapped`) or checkup item code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    /// Documents written.
    pub documents: usize,
    /// Observations written.
    pub observations: usize,
    /// People / exam dates with no result that maps to a checkup item (no document).
    pub documents_without_items: usize,
    /// Results left out because their JLAC10 code has no checkup item.
    pub unmapped: BTreeMap<String, usize>,
    /// Results left out because they carry neither a JLAC10 nor a checkup item code.
    pub without_code: usize,
    /// Results with an item that could not be written, by reason and item code.
    pub skipped: BTreeMap<SkipReason, BTreeMap<String, usize>>,
    /// Quantities converted into the item's unit, by item code.
    pub converted: BTreeMap<String, usize>,
    /// Quantities without a unit, taken to be in the item's unit, by item code.
    pub unit_assumed: BTreeMap<String, usize>,
}

fn bump(map: &mut BTreeMap<String, usize>, key: &str) {
    match map.get_mut(key) {
        Some(count) => *count += 1,
        None => {
            map.insert(key.to_owned(), 1);
        }
    }
}

fn add_all(into: &mut BTreeMap<String, usize>, from: &BTreeMap<String, usize>) {
    for (key, count) in from {
        *into.entry(key.clone()).or_default() += count;
    }
}

impl ExportReport {
    pub(crate) fn unmapped(&mut self, jlac10: &str) {
        bump(&mut self.unmapped, jlac10);
    }

    pub(crate) fn skip(&mut self, reason: SkipReason, item_code: &str) {
        bump(self.skipped.entry(reason).or_default(), item_code);
    }

    pub(crate) fn converted(&mut self, item_code: &str) {
        bump(&mut self.converted, item_code);
    }

    pub(crate) fn unit_assumed(&mut self, item_code: &str) {
        bump(&mut self.unit_assumed, item_code);
    }

    /// Results left out for any reason.
    pub fn left_out(&self) -> usize {
        self.unmapped.values().sum::<usize>()
            + self.without_code
            + self
                .skipped
                .values()
                .flat_map(BTreeMap::values)
                .sum::<usize>()
    }

    /// Adds another report's counts to this one.
    pub fn merge(&mut self, other: &ExportReport) {
        self.documents += other.documents;
        self.observations += other.observations;
        self.documents_without_items += other.documents_without_items;
        self.without_code += other.without_code;
        add_all(&mut self.unmapped, &other.unmapped);
        add_all(&mut self.converted, &other.converted);
        add_all(&mut self.unit_assumed, &other.unit_assumed);
        for (reason, counts) in &other.skipped {
            add_all(self.skipped.entry(*reason).or_default(), counts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_merge_and_serialise_by_code() {
        let mut a = ExportReport::default();
        a.unmapped("5C105000002306101");
        a.skip(SkipReason::Comparator, "5C070000002306201");
        let mut b = ExportReport::default();
        b.unmapped("5C105000002306101");
        b.without_code = 2;
        a.merge(&b);
        assert_eq!(a.unmapped["5C105000002306101"], 2);
        assert_eq!(a.left_out(), 5);
        let json = serde_json::to_string(&a).unwrap();
        assert!(
            json.contains("\"comparator\":{\"5C070000002306201\":1}"),
            "{json}"
        );
    }
}
