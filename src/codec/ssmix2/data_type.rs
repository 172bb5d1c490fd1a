//! The data types of SS-MIX2 standardized storage (SS-MIX2 標準化ストレージ, Ver.1.2),
//! the HL7 message types each holds, whether its files sit under a date folder, and which
//! field gives the care date (診療日) the date folder must match.

/// One standardized-storage data type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataType {
    /// `OMP-01`.
    pub code: &'static str,
    /// What the data type is (Japanese name from the specification).
    pub name: &'static str,
    /// MSH-9 `code^event` values the data type holds.
    pub message_types: &'static [&'static str],
    /// False for the types stored under `-` instead of a date (patient, attending doctor,
    /// allergies, diagnoses).
    pub dated: bool,
}

const TYPES: &[DataType] = &[
    DataType {
        code: "ADT-00",
        name: "患者基本情報",
        message_types: &["ADT^A08", "ADT^A23"],
        dated: false,
    },
    DataType {
        code: "ADT-01",
        name: "担当医情報",
        message_types: &["ADT^A54", "ADT^A55"],
        dated: false,
    },
    DataType {
        code: "ADT-12",
        name: "外来診察受付",
        message_types: &["ADT^A04"],
        dated: true,
    },
    DataType {
        code: "ADT-21",
        name: "入院予定",
        message_types: &["ADT^A14", "ADT^A27"],
        dated: true,
    },
    DataType {
        code: "ADT-22",
        name: "入院実施",
        message_types: &["ADT^A01", "ADT^A11"],
        dated: true,
    },
    DataType {
        code: "ADT-31",
        name: "外出泊実施",
        message_types: &["ADT^A21", "ADT^A52"],
        dated: true,
    },
    DataType {
        code: "ADT-32",
        name: "外出泊帰院実施",
        message_types: &["ADT^A22", "ADT^A53"],
        dated: true,
    },
    DataType {
        code: "ADT-41",
        name: "転科・転棟予定",
        message_types: &["ADT^A15", "ADT^A26"],
        dated: true,
    },
    DataType {
        code: "ADT-42",
        name: "転科・転棟実施",
        message_types: &["ADT^A02", "ADT^A12"],
        dated: true,
    },
    DataType {
        code: "ADT-51",
        name: "退院予定",
        message_types: &["ADT^A16", "ADT^A25"],
        dated: true,
    },
    DataType {
        code: "ADT-52",
        name: "退院実施",
        message_types: &["ADT^A03", "ADT^A13"],
        dated: true,
    },
    DataType {
        code: "ADT-61",
        name: "アレルギー情報",
        message_types: &["ADT^A60"],
        dated: false,
    },
    DataType {
        code: "PPR-01",
        name: "病名（歴）情報",
        message_types: &["PPR^ZD1"],
        dated: false,
    },
    DataType {
        code: "OMD",
        name: "食事オーダ",
        message_types: &["OMD^O03"],
        dated: true,
    },
    DataType {
        code: "OMP-01",
        name: "処方オーダ",
        message_types: &["RDE^O11"],
        dated: true,
    },
    DataType {
        code: "OMP-02",
        name: "注射オーダ",
        message_types: &["RDE^O11"],
        dated: true,
    },
    DataType {
        code: "OMP-11",
        name: "処方実施通知",
        message_types: &["RAS^O17"],
        dated: true,
    },
    DataType {
        code: "OMP-12",
        name: "注射実施通知",
        message_types: &["RAS^O17"],
        dated: true,
    },
    DataType {
        code: "OML-01",
        name: "検体検査オーダ",
        message_types: &["OML^O33"],
        dated: true,
    },
    DataType {
        code: "OML-11",
        name: "検体検査結果通知",
        message_types: &["OUL^R22"],
        dated: true,
    },
    DataType {
        code: "OMG-01",
        name: "放射線検査オーダ",
        message_types: &["OMG^O19"],
        dated: true,
    },
    DataType {
        code: "OMG-02",
        name: "内視鏡検査オーダ",
        message_types: &["OMG^O19"],
        dated: true,
    },
    DataType {
        code: "OMG-03",
        name: "生理検査オーダ",
        message_types: &["OMG^O19"],
        dated: true,
    },
    DataType {
        code: "OMG-11",
        name: "放射線検査の実施通知",
        message_types: &["OMI^Z23"],
        dated: true,
    },
    DataType {
        code: "OMG-12",
        name: "内視鏡検査の実施通知",
        message_types: &["OMI^Z23"],
        dated: true,
    },
    DataType {
        code: "OMG-13",
        name: "生理検査結果通知",
        message_types: &["ORU^R01"],
        dated: true,
    },
];

/// The field whose date the date folder must match, per message type. Message types of
/// undated data types have none.
const CARE_DATE_FIELDS: &[(&str, &str, u32)] = &[
    ("ADT^A01", "PV1", 44),
    ("ADT^A02", "EVN", 6),
    ("ADT^A03", "PV1", 45),
    ("ADT^A04", "PV1", 44),
    ("ADT^A11", "PV1", 44),
    ("ADT^A12", "EVN", 6),
    ("ADT^A13", "PV1", 45),
    ("ADT^A14", "PV2", 8),
    ("ADT^A15", "PV2", 8),
    ("ADT^A16", "PV2", 9),
    ("ADT^A21", "EVN", 6),
    ("ADT^A22", "EVN", 6),
    ("ADT^A25", "PV2", 9),
    ("ADT^A26", "PV2", 8),
    ("ADT^A27", "PV2", 8),
    ("ADT^A52", "EVN", 6),
    ("ADT^A53", "PV2", 47),
    ("OMD^O03", "ORC", 9),
    ("RDE^O11", "ORC", 9),
    ("RAS^O17", "RXA", 3),
    ("OML^O33", "ORC", 9),
    ("OUL^R22", "SPM", 17),
    ("OMG^O19", "ORC", 9),
    ("OMI^Z23", "OBR", 7),
    ("ORU^R01", "OBR", 7),
];

impl DataType {
    /// The data type with this code.
    pub fn parse(code: &str) -> Option<&'static DataType> {
        TYPES.iter().find(|t| t.code == code)
    }

    /// Every standardized-storage data type.
    pub fn all() -> &'static [DataType] {
        TYPES
    }

    /// True when `message_type` (`RDE^O11`) belongs to this data type.
    pub fn holds(&self, message_type: &str) -> bool {
        self.message_types.contains(&message_type)
    }
}

/// The segment and field that give the care date of a message type (`RDE^O11` → ORC-9).
pub fn care_date_field(message_type: &str) -> Option<(&'static str, u32)> {
    CARE_DATE_FIELDS
        .iter()
        .find(|(t, _, _)| *t == message_type)
        .map(|&(_, segment, field)| (segment, field))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_covers_the_36_storage_entries() {
        let pairs: usize = DataType::all().iter().map(|t| t.message_types.len()).sum();
        assert_eq!(pairs, 36);
        assert_eq!(
            DataType::parse("OMP-11").unwrap().message_types,
            ["RAS^O17"]
        );
        assert!(!DataType::parse("PPR-01").unwrap().dated);
        assert!(DataType::parse("XYZ").is_none());
    }

    #[test]
    fn dated_types_have_a_care_date_field_and_undated_ones_do_not() {
        for t in DataType::all() {
            for m in t.message_types {
                assert_eq!(care_date_field(m).is_some(), t.dated, "{m}");
            }
        }
        assert_eq!(care_date_field("OUL^R22"), Some(("SPM", 17)));
    }
}
