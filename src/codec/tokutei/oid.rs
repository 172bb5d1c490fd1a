//! Namespaces, OIDs and fixed codes of the MHLW 特定健診 electronic standard format
//! (「特定健診・特定保健指導の電子的な標準様式」, V08 schemas).

/// HL7 v3 / CDA namespace of the checkup documents (`hc08_V08.xsd`).
pub const HL7_NS: &str = "urn:hl7-org:v3";
/// Namespace of the archive index and summary (`ix08_V08.xsd`, `su08_V08.xsd`).
pub const MHLW_NS: &str = "https://www.mhlw.go.jp/stf/seisakunitsuite/bunya/0000161103.html";

/// 保険者番号.
pub const INSURER: &str = "1.2.392.200119.6.101";
/// 特定健診機関番号 / 特定保健指導機関番号 (10 digits).
pub const CHECKUP_PROVIDER: &str = "1.2.392.200119.6.102";
/// 被保険者証等記号.
pub const CARD_SYMBOL: &str = "1.2.392.200119.6.204";
/// 被保険者証等番号.
pub const CARD_NUMBER: &str = "1.2.392.200119.6.205";
/// 被保険者証等枝番.
pub const CARD_BRANCH: &str = "1.2.392.200119.6.211";
/// 報告区分 (document code); `10` = 特定健診情報.
pub const REPORT_CATEGORY: &str = "1.2.392.200119.6.1001";
/// 健診プログラム種別 (serviceEvent code); `010` = 特定健診.
pub const PROGRAM_TYPE: &str = "1.2.392.200119.6.1002";
/// 特定健診 item codes (observation codes).
pub const CHECKUP_ITEM: &str = "1.2.392.200119.6.1005";
/// CDA section codes (`01010`, `01990`, …).
pub const SECTION: &str = "1.2.392.200119.6.1010";
/// 男女区分 (administrativeGenderCode): 1 male, 2 female.
pub const SEX: &str = "1.2.392.200119.6.1104";
/// CDA typeId root.
pub const CDA_TYPE_ID: &str = "2.16.840.1.113883.1.3";
/// HL7 Confidentiality code system.
pub const CONFIDENTIALITY: &str = "2.16.840.1.113883.5.25";

/// 報告区分 `10`: 特定健診情報.
pub const REPORT_SPECIFIC_CHECKUP: &str = "10";
/// 健診プログラム種別 `010`: 特定健診.
pub const PROGRAM_SPECIFIC_CHECKUP: &str = "010";
/// 種別コード (別表1) `6`: 特定健診機関又は特定保健指導機関から保険者.
pub const INTERACTION_PROVIDER_TO_INSURER: &str = "6";
/// 実施区分コード (別表3) `1`: 特定健診情報.
pub const SERVICE_EVENT_SPECIFIC_CHECKUP: &str = "1";

/// `Absent` reason kakari uses for an observation with `negationInd="true"`.
pub const NEGATED: &str = "negated";
/// The `nullFlavor` codes the V08 vocabulary allows.
pub const NULL_FLAVORS: [&str; 12] = [
    "NI", "MSK", "NA", "OTH", "NINF", "PINF", "UNK", "QS", "NASK", "TRC", "ASKU", "NAV",
];
