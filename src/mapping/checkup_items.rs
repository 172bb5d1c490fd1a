//! The 特定健診 item table (`mappings/checkup-items.csv`): 17-character checkup item codes
//! with their XML data type, unit, method and JLAC10 code, and the rules that map a lab
//! result's JLAC10 code to a checkup item.
//!
//! **Codes.** Every laboratory (specimen) item of the MHLW table is itself a JLAC10
//! 17-character code: analyte (5) + identification (4) + material (3) + method (3) + result
//! (2). Those rows carry the same code in the `jlac10` column. Physical measurements,
//! physiology, questionnaire and judgement items (codes starting with `9` or `Z`) are
//! checkup-only codes and have no JLAC10 column.
//!
//! **JLAC10 → item (export).** One analyte is often several items: HbA1c by four methods,
//! fasting (identification `0000`) and random (`1299`) glucose or triglycerides, each with
//! three or four methods. `CheckupItems::item_for_result` resolves, in order:
//! 1. a checkup item code the result already carries;
//! 2. a JLAC10 code equal to an item code (same analyte, identification, material, method
//!    and result kind);
//! 3. a *method variant*: same analyte, identification and result kind, compatible
//!    material (equal, or both blood: 019 whole blood, 022 plasma, 023 serum), different
//!    method. Among those the item with an unspecified method (method `999` その他, `998`
//!    / `888` 方法問わず) is chosen, preferring the same material; without one, the only
//!    candidate if there is exactly one; otherwise none (the method decides the item and
//!    kakari does not guess).
//!
//! The identification segment is never relaxed: a glucose coded `0000` maps only to
//! 空腹時血糖 items and `1299` only to 随時血糖, as the MHLW table defines them. kakari
//! does not infer fasting status.
//!
//! **Item → JLAC10 (import).** A laboratory item's JLAC10 code is its item code.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::curated::{CuratedRow, CuratedTable, TableError, TableSource};
use super::unit_conversions::{UnitConversion, UnitConversions, normalise_unit};
use crate::domain::code_system::KnownSystem;
use crate::domain::{Decimal, LabResult};

const TABLE: &str = "checkup-items.csv";
const COLUMNS: [&str; 15] = [
    "item_code",
    "jlac10",
    "name",
    "data_type",
    "format",
    "unit",
    "ucum",
    "method_code",
    "method",
    "result_oid",
    "category",
    "section",
    "group",
    "group_relation",
    "measure",
];

const BUNDLED_ITEMS: &str = include_str!("../../mappings/checkup-items.csv");
const BUNDLED_CONVERSIONS: &str = include_str!("../../mappings/checkup-unit-conversions.csv");

/// JLAC10 material codes for blood specimens: whole blood, plasma, serum.
const BLOOD_MATERIALS: [&str; 3] = ["019", "022", "023"];
/// JLAC10 method codes meaning "other" / "any method".
const UNSPECIFIED_METHODS: [&str; 3] = ["999", "998", "888"];

/// The XML data type the table prescribes for an item's `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XmlDataType {
    /// Physical quantity: a number with a UCUM unit.
    Pq,
    /// Coded value from the item's result code system.
    Cd,
    /// Coded ordinal (urine qualitative grades and the like).
    Co,
    /// Free text.
    St,
}

impl XmlDataType {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "PQ" => Self::Pq,
            "CD" => Self::Cd,
            "CO" => Self::Co,
            "ST" => Self::St,
            _ => return None,
        })
    }

    /// The `xsi:type` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pq => "PQ",
            Self::Cd => "CD",
            Self::Co => "CO",
            Self::St => "ST",
        }
    }
}

/// The CDA section an item is written in (section codes, OID 1.2.392.200119.6.1010).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    /// `01010` 特定健診検査・問診結果セクション: items of the 特定健診 itself.
    SpecificCheckup,
    /// `01990` 任意追加項目セクション: every other item.
    Additional,
}

impl Section {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "01010" => Some(Self::SpecificCheckup),
            "01990" => Some(Self::Additional),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::SpecificCheckup => "01010",
            Self::Additional => "01990",
        }
    }
}

/// How an item relates to its series group (一連検査グループ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupRelation {
    /// `COMP`: a result of the group.
    Component,
    /// `RSON` / `RSON1`: why the group was performed.
    Reason,
}

impl GroupRelation {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "COMP" => Some(Self::Component),
            "RSON" | "RSON1" => Some(Self::Reason),
            _ => None,
        }
    }

    /// The `entryRelationship/@typeCode`.
    pub fn type_code(self) -> &'static str {
        match self {
            Self::Component => "COMP",
            Self::Reason => "RSON",
        }
    }
}

/// One row of the item table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckupItem {
    /// The 17-character item code (OID 1.2.392.200119.6.1005).
    pub code: String,
    /// The JLAC10 code, for laboratory items (equal to `code`).
    pub jlac10: Option<String>,
    /// The XML display name (XML表示名).
    pub name: String,
    pub data_type: XmlDataType,
    /// Format information: `NNN.N` for quantities, `N` for codes, the maximum length for text.
    pub format: String,
    /// Display unit (表示単位).
    pub unit: Option<String>,
    /// UCUM unit written in `value/@unit`.
    pub ucum: Option<String>,
    /// XML method code (`methodCode/@code`), when the item names one.
    pub method_code: Option<String>,
    pub method: Option<String>,
    /// Code system (OID) of coded values.
    pub result_oid: Option<String>,
    /// The table's category (区分名称), e.g. 身体計測, 生化学検査, 質問票.
    pub category: String,
    pub section: Section,
    /// The series group (一連検査グループ) this item belongs to, by the group's item code.
    pub group: Option<String>,
    pub group_relation: Option<GroupRelation>,
    /// kakari's key for items that measure the same quantity (`hba1c`, `sbp`, …); the key
    /// thresholds are defined on.
    pub measure: Option<String>,
}

impl CheckupItem {
    /// Fraction digits the format allows (`NN.N` → 1); 0 for integers and non-quantities.
    pub fn decimals(&self) -> usize {
        match self.data_type {
            XmlDataType::Pq => self.format.split_once('.').map_or(0, |(_, f)| f.len()),
            _ => 0,
        }
    }

    /// Integer digits the format allows (`NN.N` → 2), for quantities.
    pub fn integer_digits(&self) -> Option<usize> {
        (self.data_type == XmlDataType::Pq)
            .then(|| self.format.split('.').next().map_or(0, str::len))
    }

    /// Maximum text length, for `ST` items.
    pub fn max_text_len(&self) -> Option<usize> {
        (self.data_type == XmlDataType::St)
            .then(|| self.format.parse().ok())
            .flatten()
    }

    /// The FHIR observation category this item belongs to.
    pub fn observation_category(&self) -> &'static str {
        match self.category.as_str() {
            "身体計測" | "血圧等" | "追加項目（身体計測）" => "vital-signs",
            "質問票" | "後期質問票" | "生活機能基本チェックリスト" => "survey",
            _ if self.jlac10.is_some() => "laboratory",
            _ => "exam",
        }
    }

    fn has_unspecified_method(&self) -> bool {
        self.code
            .get(12..15)
            .is_some_and(|m| UNSPECIFIED_METHODS.contains(&m))
    }
}

/// How a lab result was matched to an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// The result carries the item code, or a JLAC10 code equal to it.
    Exact,
    /// Same analyte, identification and result kind; another method or blood material.
    MethodVariant,
}

/// A resolved item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemMatch<'a> {
    pub item: &'a CheckupItem,
    pub kind: MatchKind,
}

/// A quantity in the item's unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemQuantity {
    /// Already in the item's unit (or a spelling of it): the literal is kept.
    Same(Decimal),
    /// Converted by a rule and rounded to the item's format.
    Converted(Decimal),
    /// The source gave no unit; the value is taken to be in the item's unit.
    Assumed(Decimal),
}

impl ItemQuantity {
    pub fn value(&self) -> &Decimal {
        match self {
            Self::Same(v) | Self::Converted(v) | Self::Assumed(v) => v,
        }
    }
}

/// Why a quantity could not be put into an item's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("no conversion rule from the value's unit to the item's unit")]
    NotConvertible,
    #[error("the item is unitless but the value has a unit")]
    UnexpectedUnit,
}

/// The loaded item table and its unit conversion rules.
#[derive(Debug, Clone)]
pub struct CheckupItems {
    source: TableSource,
    items: Vec<CheckupItem>,
    by_code: HashMap<String, usize>,
    /// analyte + identification + result kind → item indexes, in table order.
    by_stem: HashMap<String, Vec<usize>>,
    conversions: UnitConversions,
}

static BUNDLED: LazyLock<Result<CheckupItems, TableError>> =
    LazyLock::new(|| CheckupItems::parse(BUNDLED_ITEMS, BUNDLED_CONVERSIONS));

fn is_code17(s: &str) -> bool {
    s.len() == 17 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// analyte (5) + identification (4) + result kind (2) of a 17-character code.
fn stem(code: &str) -> Option<String> {
    if !is_code17(code) {
        return None;
    }
    let mut s = String::with_capacity(11);
    s.push_str(code.get(0..9)?);
    s.push_str(code.get(15..17)?);
    Some(s)
}

fn materials_compatible(a: &str, b: &str) -> bool {
    a == b || (BLOOD_MATERIALS.contains(&a) && BLOOD_MATERIALS.contains(&b))
}

fn is_format(format: &str, data_type: XmlDataType) -> bool {
    let all_n = |s: &str| !s.is_empty() && s.bytes().all(|b| b == b'N');
    match data_type {
        XmlDataType::Pq => match format.split_once('.') {
            Some((i, f)) => all_n(i) && all_n(f),
            None => all_n(format),
        },
        XmlDataType::Cd | XmlDataType::Co => all_n(format),
        XmlDataType::St => format.parse::<usize>().is_ok_and(|n| n > 0),
    }
}

fn is_oid(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn parse_item(row: &CuratedRow) -> Result<CheckupItem, TableError> {
    let bad = |message: &str| TableError::row(TABLE, row.line, message);
    let code = row.get(0);
    if !is_code17(code) {
        return Err(bad("item_code must be 17 ASCII letters or digits"));
    }
    let jlac10 = row.opt(1);
    if let Some(j) = jlac10
        && (j != code || !code.starts_with(|c: char| ('1'..='8').contains(&c)))
    {
        return Err(bad(
            "jlac10 must equal item_code, and only for laboratory items (analyte class 1-8)",
        ));
    }
    let name = row.get(2);
    if name.is_empty() {
        return Err(bad("name is empty"));
    }
    let data_type =
        XmlDataType::parse(row.get(3)).ok_or_else(|| bad("data_type must be PQ, CD, CO or ST"))?;
    let format = row.get(4);
    if !is_format(format, data_type) {
        return Err(bad("format does not fit the data type"));
    }
    let (unit, ucum) = (row.opt(5), row.opt(6));
    if data_type != XmlDataType::Pq && (unit.is_some() || ucum.is_some()) {
        return Err(bad("only PQ items have units"));
    }
    if unit.is_some() != ucum.is_some() {
        return Err(bad("unit and ucum are given together or not at all"));
    }
    let method_code = row.opt(7);
    if method_code.is_some_and(|m| m.len() > 10 || !m.bytes().all(|b| b.is_ascii_alphanumeric())) {
        return Err(bad("method_code must be up to 10 ASCII letters or digits"));
    }
    let result_oid = row.opt(9);
    match (data_type, result_oid) {
        (XmlDataType::Cd | XmlDataType::Co, Some(oid)) if is_oid(oid) => {}
        (XmlDataType::Pq | XmlDataType::St, None) => {}
        _ => {
            return Err(bad(
                "coded items need a result_oid (an OID); others have none",
            ));
        }
    }
    let section =
        Section::parse(row.get(11)).ok_or_else(|| bad("section must be 01010 or 01990"))?;
    let group = row.opt(12);
    if group.is_some_and(|g| !is_code17(g)) {
        return Err(bad("group must be a 17-character item code"));
    }
    let group_relation = match row.opt(13) {
        None => None,
        Some(r) => Some(
            GroupRelation::parse(r)
                .ok_or_else(|| bad("group_relation must be COMP, RSON or RSON1"))?,
        ),
    };
    if group.is_some() != group_relation.is_some() {
        return Err(bad(
            "group and group_relation are given together or not at all",
        ));
    }
    let measure = row.opt(14);
    if measure.is_some_and(|m| {
        !m.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    }) {
        return Err(bad(
            "measure must be lower-case letters, digits and underscores",
        ));
    }
    Ok(CheckupItem {
        code: code.to_owned(),
        jlac10: jlac10.map(str::to_owned),
        name: name.to_owned(),
        data_type,
        format: format.to_owned(),
        unit: unit.map(str::to_owned),
        ucum: ucum.map(str::to_owned),
        method_code: method_code.map(str::to_owned),
        method: row.opt(8).map(str::to_owned),
        result_oid: result_oid.map(str::to_owned),
        category: row.get(10).to_owned(),
        section,
        group: group.map(str::to_owned),
        group_relation,
        measure: measure.map(str::to_owned),
    })
}

impl CheckupItems {
    /// The tables shipped in `mappings/` (2024 item table), parsed once.
    pub fn bundled() -> Result<&'static CheckupItems, TableError> {
        BUNDLED.as_ref().map_err(Clone::clone)
    }

    /// Parses an item table and a unit conversion table (e.g. newer editions supplied by
    /// the operator).
    pub fn parse(items_csv: &str, conversions_csv: &str) -> Result<Self, TableError> {
        let table = CuratedTable::parse(TABLE, items_csv)?;
        let rows = table.select(&COLUMNS, &[])?;
        let conversions = UnitConversions::parse(conversions_csv)?;
        let mut items = Vec::with_capacity(rows.len());
        let mut by_code = HashMap::with_capacity(rows.len());
        let mut by_stem: HashMap<String, Vec<usize>> = HashMap::new();
        for row in &rows {
            let item = parse_item(row)?;
            let index = items.len();
            if by_code.insert(item.code.clone(), index).is_some() {
                return Err(TableError::row(TABLE, row.line, "duplicate item_code"));
            }
            if item.jlac10.is_some()
                && let Some(key) = stem(&item.code)
            {
                by_stem.entry(key).or_default().push(index);
            }
            items.push(item);
        }
        for (item, row) in items.iter().zip(&rows) {
            if item
                .group
                .as_ref()
                .is_some_and(|g| !by_code.contains_key(g))
            {
                return Err(TableError::row(
                    TABLE,
                    row.line,
                    "group names no item in the table",
                ));
            }
        }
        Ok(Self {
            source: table.source(),
            items,
            by_code,
            by_stem,
            conversions,
        })
    }

    pub fn source(&self) -> &TableSource {
        &self.source
    }

    pub fn conversions(&self) -> &UnitConversions {
        &self.conversions
    }

    /// Items in table order (the MHLW output order).
    pub fn iter(&self) -> impl Iterator<Item = &CheckupItem> {
        self.items.iter()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The item with this checkup item code.
    pub fn get(&self, item_code: &str) -> Option<&CheckupItem> {
        self.by_code.get(item_code).and_then(|&i| self.items.get(i))
    }

    /// Position of an item in table order.
    pub fn position(&self, item_code: &str) -> Option<usize> {
        self.by_code.get(item_code).copied()
    }

    /// Every item measuring `measure` (e.g. the three systolic BP readings).
    pub fn measure_items<'a>(
        &'a self,
        measure: &'a str,
    ) -> impl Iterator<Item = &'a CheckupItem> + 'a {
        self.items
            .iter()
            .filter(move |i| i.measure.as_deref() == Some(measure))
    }

    /// The items a JLAC10 code may be reported as: the exact item, or every method
    /// variant (same analyte, identification and result kind, compatible material).
    pub fn items_for_jlac10<'a>(&'a self, jlac10: &str) -> Vec<&'a CheckupItem> {
        if let Some(item) = self.get(jlac10) {
            return vec![item];
        }
        let Some(material) = jlac10.get(9..12).filter(|_| is_code17(jlac10)) else {
            return Vec::new();
        };
        let Some(indexes) = stem(jlac10).and_then(|key| self.by_stem.get(&key)) else {
            return Vec::new();
        };
        indexes
            .iter()
            .filter_map(|&i| self.items.get(i))
            .filter(|item| {
                item.code
                    .get(9..12)
                    .is_some_and(|m| materials_compatible(m, material))
            })
            .collect()
    }

    /// The item a JLAC10 code is reported as (see the module documentation).
    pub fn preferred_for_jlac10(&self, jlac10: &str) -> Option<ItemMatch<'_>> {
        if let Some(item) = self.get(jlac10) {
            return Some(ItemMatch {
                item,
                kind: MatchKind::Exact,
            });
        }
        let candidates = self.items_for_jlac10(jlac10);
        let material = jlac10.get(9..12)?;
        let unspecified = candidates
            .iter()
            .filter(|i| i.has_unspecified_method())
            .min_by_key(|i| i.code.get(9..12) != Some(material));
        let item = match (unspecified, candidates.as_slice()) {
            (Some(item), _) => *item,
            (None, [only]) => *only,
            _ => return None,
        };
        Some(ItemMatch {
            item,
            kind: MatchKind::MethodVariant,
        })
    }

    /// The item a lab result is reported as: its own checkup item code, else its JLAC10
    /// code(s) exactly, else a method variant.
    pub fn item_for_result(&self, result: &LabResult) -> Option<ItemMatch<'_>> {
        let codes_in = |system: KnownSystem| {
            result
                .codes
                .iter()
                .filter(move |c| system.all_uris().any(|uri| uri == c.system))
                .map(|c| c.code.as_str())
        };
        let exact = codes_in(KnownSystem::CheckupItem)
            .chain(codes_in(KnownSystem::Jlac10))
            .find_map(|code| self.get(code));
        if let Some(item) = exact {
            return Some(ItemMatch {
                item,
                kind: MatchKind::Exact,
            });
        }
        codes_in(KnownSystem::Jlac10).find_map(|code| self.preferred_for_jlac10(code))
    }

    /// The conversion rule from `unit` to the item's unit, if one is needed and exists.
    pub fn conversion_to(&self, item: &CheckupItem, unit: &str) -> Option<&UnitConversion> {
        let to = item.ucum.as_deref()?;
        let analyte = item.code.get(0..5)?;
        self.conversions.find(analyte, unit, to)
    }

    /// Puts a quantity into the item's unit (see `ItemQuantity`).
    pub fn to_item_unit(
        &self,
        item: &CheckupItem,
        value: &Decimal,
        unit: Option<&str>,
    ) -> Result<ItemQuantity, UnitError> {
        if unit.is_some() && unit == item.ucum.as_deref() {
            return Ok(ItemQuantity::Same(value.clone()));
        }
        let given = unit
            .map(normalise_unit)
            .filter(|u| !u.is_empty() && u != "1");
        match (item.ucum.as_deref(), given) {
            (None, None) => Ok(ItemQuantity::Same(value.clone())),
            (None, Some(_)) => Err(UnitError::UnexpectedUnit),
            (Some(_), None) => Ok(ItemQuantity::Assumed(value.clone())),
            (Some(to), Some(from)) if from == to => Ok(ItemQuantity::Same(value.clone())),
            (Some(_), Some(from)) => {
                let rule = self
                    .conversion_to(item, &from)
                    .ok_or(UnitError::NotConvertible)?;
                let converted = rule
                    .apply(value, item.decimals())
                    .ok_or(UnitError::NotConvertible)?;
                Ok(if rule.is_identity() {
                    ItemQuantity::Same(converted)
                } else {
                    ItemQuantity::Converted(converted)
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::code_system::Coding;
    use crate::domain::{LabValue, MemberId, SubjectRef};

    fn items() -> &'static CheckupItems {
        CheckupItems::bundled().unwrap()
    }

    #[test]
    fn bundled_table_loads_every_row() {
        let items = items();
        assert_eq!(items.len(), 511);
        assert_eq!(items.source().version, "2024");
        assert!(items.iter().all(|i| i.code.len() == 17));
    }

    #[test]
    fn design_items_are_present_with_their_measures_and_units() {
        let expected = [
            ("3D046000001906202", "hba1c", Some("%")),
            ("3D010000001926101", "glucose_fasting", Some("mg/dL")),
            ("3F077000002327101", "ldl", Some("mg/dL")),
            ("3F070000002327101", "hdl", Some("mg/dL")),
            ("3F015000002327101", "tg_fasting", Some("mg/dL")),
            ("3B035000002327201", "ast", Some("U/L")),
            ("3B045000002327201", "alt", Some("U/L")),
            ("3B090000002327101", "ggt", Some("U/L")),
            ("9A751000000000001", "sbp", Some("mm[Hg]")),
            ("9A761000000000001", "dbp", Some("mm[Hg]")),
            ("9N011000000000001", "bmi", Some("kg/m2")),
            ("9N016160100000001", "waist", Some("cm")),
            ("8A065000002391901", "egfr", Some("ml/min/1.73m2")),
        ];
        for (code, measure, ucum) in expected {
            let item = items()
                .get(code)
                .unwrap_or_else(|| panic!("{code} missing"));
            assert_eq!(item.measure.as_deref(), Some(measure), "{code}");
            assert_eq!(item.ucum.as_deref(), ucum, "{code}");
            assert_eq!(item.data_type, XmlDataType::Pq, "{code}");
        }
        // Laboratory items carry their JLAC10 code; measurements do not.
        assert_eq!(
            items().get("3D046000001906202").unwrap().jlac10.as_deref(),
            Some("3D046000001906202")
        );
        assert_eq!(items().get("9A751000000000001").unwrap().jlac10, None);
    }

    #[test]
    fn several_methods_map_to_one_measure_and_back() {
        let hba1c: Vec<_> = items().measure_items("hba1c").map(|i| &i.code).collect();
        assert_eq!(hba1c.len(), 4);
        // An HbA1c JLAC10 code with a method outside the table goes to その他.
        let m = items().preferred_for_jlac10("3D046000001906902").unwrap();
        assert_eq!(m.item.code, "3D046000001999902");
        assert_eq!(m.kind, MatchKind::MethodVariant);
        // Exact codes stay exact.
        let m = items().preferred_for_jlac10("3D046000001920402").unwrap();
        assert_eq!(m.item.code, "3D046000001920402");
        assert_eq!(m.kind, MatchKind::Exact);
    }

    #[test]
    fn fasting_and_random_never_mix_and_blood_materials_are_compatible() {
        // Serum glucose (material 023) by an unlisted method: fasting その他 item.
        let m = items().preferred_for_jlac10("3D010000002327101").unwrap();
        assert_eq!(m.item.code, "3D010000001999901");
        assert_eq!(m.item.measure.as_deref(), Some("glucose_fasting"));
        // Random glucose stays random.
        let m = items().preferred_for_jlac10("3D010129902327101").unwrap();
        assert_eq!(m.item.measure.as_deref(), Some("glucose_random"));
        // Urine albumin (material 001) never maps to serum albumin.
        let m = items().preferred_for_jlac10("3A015000000106101").unwrap();
        assert_eq!(m.item.code, "3A015000000106101");
        assert!(items().preferred_for_jlac10("3A015000002306201").is_some());
        assert_eq!(
            items()
                .preferred_for_jlac10("3A015000002306201")
                .unwrap()
                .item
                .code,
            "3A015000002399901"
        );
    }

    #[test]
    fn ambiguous_or_foreign_codes_map_to_nothing() {
        // Urine glucose by an unlisted method: two specific methods, no その他 → none.
        assert!(items().preferred_for_jlac10("1A020000000192011").is_none());
        // A JLAC10 analyte the checkup does not have.
        assert!(items().preferred_for_jlac10("5C105000002306101").is_none());
        assert!(items().preferred_for_jlac10("short").is_none());
        assert!(items().preferred_for_jlac10("３D046000001906202").is_none());
    }

    #[test]
    fn results_resolve_by_checkup_code_then_jlac10() {
        let member = MemberId::parse("06139463:12:345:01").unwrap();
        let mut result = LabResult::new(
            SubjectRef::Member(member),
            LabValue::Absent { reason: None },
        );
        result.codes.push(Coding::new(
            "urn:oid:1.2.392.200119.4.504",
            "3F015000002327201",
            None,
        ));
        let m = items().item_for_result(&result).unwrap();
        assert_eq!(m.item.code, "3F015000002327201");
        result.codes.insert(
            0,
            Coding::new("urn:oid:1.2.392.200119.6.1005", "3F015000002399901", None),
        );
        assert_eq!(
            items().item_for_result(&result).unwrap().item.code,
            "3F015000002399901"
        );
    }

    #[test]
    fn quantities_are_put_into_the_item_unit() {
        let items = items();
        let tg = items.get("3F015000002327101").unwrap();
        let mmol = Decimal::parse("1.70").unwrap();
        assert_eq!(
            items.to_item_unit(tg, &mmol, Some("mmol/L")),
            Ok(ItemQuantity::Converted(Decimal::parse("151").unwrap()))
        );
        let literal = Decimal::parse("150").unwrap();
        assert_eq!(
            items.to_item_unit(tg, &literal, Some("mg/dl")),
            Ok(ItemQuantity::Same(literal.clone()))
        );
        assert_eq!(
            items.to_item_unit(tg, &literal, None),
            Ok(ItemQuantity::Assumed(literal.clone()))
        );
        assert_eq!(
            items.to_item_unit(tg, &literal, Some("mol/L")),
            Err(UnitError::NotConvertible)
        );
        let gravity = items.get("1A030000000190301").unwrap();
        assert_eq!(
            items.to_item_unit(gravity, &literal, Some("mg/dL")),
            Err(UnitError::UnexpectedUnit)
        );
        assert_eq!(gravity.decimals(), 3);
    }

    /// The table must hold every observation item of the corpus edition, with the same
    /// type, format and units.
    #[test]
    fn table_matches_the_mhlw_2024_item_table_in_the_corpus() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/corpus/tokutei-codes"
        );
        let Ok(tab) = std::fs::read(format!("{dir}/XMLhc24tab.csv")) else {
            println!("corpus absent, skipped: {dir}/XMLhc24tab.csv");
            return;
        };
        let ext = std::fs::read(format!("{dir}/XMLhc24ext.csv")).unwrap_or_default();
        let (ext, _, _) = encoding_rs::SHIFT_JIS.decode(&ext);
        let tab = String::from_utf8_lossy(&tab).into_owned();
        let mut seen = 0;
        for text in [tab.as_str(), ext.as_ref()] {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(text.as_bytes());
            for record in reader.records().skip(3) {
                let record = record.unwrap();
                let field = |i: usize| record.get(i).unwrap_or("").trim();
                if field(21) == "0" {
                    continue; // author-only rows (doctors' names) are not observations
                }
                let item = items()
                    .get(field(15))
                    .unwrap_or_else(|| panic!("{} missing", field(15)));
                assert_eq!(item.data_type.as_str(), field(18), "{}", item.code);
                assert_eq!(item.format, field(17), "{}", item.code);
                assert_eq!(
                    item.ucum.as_deref().unwrap_or(""),
                    field(20),
                    "{}",
                    item.code
                );
                assert_eq!(item.method_code.as_deref().unwrap_or(""), field(26));
                seen += 1;
            }
        }
        assert_eq!(seen, items().len());
    }
}
