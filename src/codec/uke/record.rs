//! The typed records of one UKE line.
//!
//! Field positions follow the 記録条件仕様 (医科用, 歯科用, 調剤用) of 社会保険診療報酬支払基金;
//! `docs/uke.md` lists each layout with the fields kakari reads. 歯科 differs from 医科 in
//! its IR (no 名称), RE, SI, IY and CO layouts, adds HS (傷病名部位, read as a diagnosis)
//! and SS (歯科診療行為, kept), and current files start with a UK (受付情報) record.
//! Records kakari does not interpret (SI details, SS, TO, SJ, JD, MF, KH, MN, …) are kept
//! with their fields; records the layout does not define at all are kept as
//! [`Record::Unknown`] and reported.

use time::Date;

use super::date::YearMonth;
use super::fields::Fields;
use crate::domain::{Decimal, InstitutionCode, Sex};
use crate::error::{ErrorCode, Issue};

/// Which fee schedule a file claims under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// 医科 (IR header, 点数表 1).
    Medical,
    /// 歯科 (UK or IR header, 点数表 3): its own IR, RE, SI, IY, CO and HS layouts.
    Dental,
    /// 調剤 (YK header, 点数表 4).
    Pharmacy,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Medical => "medical",
            Self::Dental => "dental",
            Self::Pharmacy => "pharmacy",
        }
    }
}

/// IR (医療機関情報) or YK (薬局情報): who claims, for which month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstitutionRecord {
    /// 審査支払機関 (1 社保, 2 国保).
    pub payer: Option<String>,
    /// 都道府県 + 点数表 + 医療機関コード.
    pub code: Option<InstitutionCode>,
    pub name: Option<String>,
    /// 請求年月.
    pub claim_month: Option<YearMonth>,
    /// マルチボリューム識別情報.
    pub volume: Option<String>,
}

/// RE (レセプト共通): one receipt and the patient it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRecord {
    pub number: Option<String>,
    /// レセプト種別 (4 digits).
    pub receipt_type: Option<String>,
    /// 診療年月 (医科) or 調剤年月 (調剤).
    pub service_month: Option<YearMonth>,
    /// 氏名 as written (patient data).
    pub name: Option<String>,
    pub sex: Option<Sex>,
    pub birth_date: Option<Date>,
    /// カルテ番号等 (医科): the clinic's own patient number.
    pub chart_number: Option<String>,
    /// カタカナ氏名 (医科, as written).
    pub name_kana: Option<String>,
}

/// HO (保険者): the insurance the receipt claims from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsurerRecord {
    /// 保険者番号 as written (padding and width normalised later).
    pub insurer: Option<String>,
    /// 被保険者証等の記号 as written.
    pub symbol: Option<String>,
    /// 被保険者証等の番号 as written.
    pub number: Option<String>,
    /// 診療実日数.
    pub days: Option<u64>,
    /// 合計点数.
    pub points: Option<u64>,
}

/// KO (公費): a public funding scheme on the receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicFundingRecord {
    /// 公費負担者番号 (8 digits).
    pub payer: Option<String>,
    /// 公費受給者番号 (7 digits, as written).
    pub recipient: Option<String>,
    pub days: Option<u64>,
    pub points: Option<u64>,
}

/// SN (資格確認): how eligibility was confirmed, and the 枝番 (branch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EligibilityRecord {
    /// 負担者種別 (1 医療保険, 2–5 公費).
    pub payer_kind: Option<String>,
    /// 確認区分.
    pub confirmation: Option<String>,
    /// 枝番 (2 digits).
    pub branch: Option<String>,
}

/// SY (傷病名): one diagnosis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagnosisRecord {
    /// 傷病名コード (7 digits; 0000999 = 未コード化傷病名).
    pub code: Option<String>,
    /// 診療開始日.
    pub start: Option<Date>,
    /// 転帰区分 (1 継続, 2 治ゆ, 3 死亡, 4 中止).
    pub outcome: Option<String>,
    /// 修飾語コード, 4 digits each.
    pub modifiers: Vec<String>,
    /// 傷病名称 (未コード化傷病名 only).
    pub name: Option<String>,
    /// 主傷病.
    pub main: bool,
    /// 補足コメント.
    pub comment: Option<String>,
}

/// A comment attached to an SI / IY / TO line (コメントコード and 文字データ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineComment {
    pub code: Option<String>,
    pub text: Option<String>,
}

/// SI (診療行為) and IY (医薬品, 医科) share a shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRecord {
    /// 診療識別 as written on this line (empty lines inherit; see `Receipt`).
    pub identification: Option<String>,
    /// 負担区分.
    pub burden: Option<String>,
    /// 診療行為コード or 医薬品コード (9 digits).
    pub code: Option<String>,
    /// 数量データ (SI) or 使用量 (IY).
    pub quantity: Option<Decimal>,
    /// 点数: present on the last line of a 算定単位 (剤).
    pub points: Option<u64>,
    /// 回数.
    pub count: Option<u64>,
    pub comments: Vec<LineComment>,
    /// 算定日情報: the count on each day of the month (index 0 = day 1).
    pub days: [u16; 31],
    /// The field number of day 1 (医科 14; 歯科 SI 8, IY 9), for locating.
    pub first_day_field: usize,
}

/// CO (コメント).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentRecord {
    pub identification: Option<String>,
    pub code: Option<String>,
    pub text: Option<String>,
}

/// SH (処方基本, 調剤): the prescription a dispensing fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrescriptionRecord {
    /// 処方医療機関 (都道府県 + 点数表 + 医療機関コード).
    pub prescribing_facility: Option<InstitutionCode>,
    /// 保険医氏名 as written.
    pub prescriber: Option<String>,
}

/// CZ (調剤情報, 調剤): one 剤 as dispensed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispensingRecord {
    /// 剤番号: links the IY lines of the 剤.
    pub group: Option<String>,
    pub prescribed_on: Option<Date>,
    pub dispensed_on: Option<Date>,
    /// 剤形コード (1 内服 2 内滴 3 屯服 4 注射 5 外用 6 浸煎 7 湯 9 材料).
    pub dosage_form: Option<String>,
    /// 用法コード.
    pub usage: Option<String>,
    /// 特別指示.
    pub instruction: Option<String>,
    /// 調剤数量 (days for 内服, doses for 屯服).
    pub quantity: Option<u64>,
}

/// IY (医薬品, 調剤): one drug of a 剤.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispensedDrugRecord {
    pub group: Option<String>,
    pub code: Option<String>,
    /// 使用量 (per day for 内服).
    pub quantity: Option<Decimal>,
}

/// GO (合計 / 請求書): the file's totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotalRecord {
    /// 総件数.
    pub receipts: Option<u64>,
    /// 総合計点数.
    pub points: Option<u64>,
    /// マルチボリューム識別情報 (99 = last volume).
    pub volume: Option<String>,
}

/// One line of a claims file, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Institution(InstitutionRecord),
    Receipt(ReceiptRecord),
    Insurer(InsurerRecord),
    PublicFunding(PublicFundingRecord),
    Eligibility(EligibilityRecord),
    Diagnosis(DiagnosisRecord),
    Procedure(ItemRecord),
    Drug(ItemRecord),
    Comment(CommentRecord),
    Prescription(PrescriptionRecord),
    Dispensing(DispensingRecord),
    DispensedDrug(DispensedDrugRecord),
    Total(TotalRecord),
    /// A record of the layout that kakari keeps without interpreting.
    Other {
        id: String,
        fields: Vec<String>,
    },
    /// A record the layout does not define; kept and reported.
    Unknown {
        fields: Vec<String>,
    },
}

/// A record with the line it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    pub line: usize,
    pub record: T,
}

/// Field number of day 1 of the 算定日情報 of SI and IY (医科): 31 fields follow.
pub const DAY_FIELDS: usize = 14;

/// Records defined by the layouts but not interpreted by kakari.
const KEPT: &[&str] = &[
    "TO", "SJ", "JD", "MF", "KH", "MN", "NI", "TI", "TR", "TS", "RC", "JY", "EX", "GR", "BU", "SB",
    "KK", "GA", "HH", "GT", "CD", "GD", "KI", "ZK", "TK",
];
/// 歯科 records kept without interpretation (歯科診療行為: procedures, not drugs).
const KEPT_DENTAL: &[&str] = &["SS"];

/// Parses one line of a file of `kind`.
pub fn parse_line(kind: FileKind, line: usize, raw: &str, issues: &mut Vec<Issue>) -> Record {
    let mut f = Fields::new(line, raw, issues);
    let id = f.id().trim();
    match (id, kind) {
        ("UK", FileKind::Medical | FileKind::Dental) => Record::Institution(reception(&mut f)),
        ("IR", FileKind::Dental) => Record::Institution(dental_institution(&mut f)),
        ("IR", FileKind::Medical) | ("YK", FileKind::Pharmacy) => {
            Record::Institution(institution(&mut f))
        }
        ("RE", _) => Record::Receipt(receipt(&mut f, kind)),
        ("HO", _) => Record::Insurer(insurer(&mut f)),
        ("KO", _) => Record::PublicFunding(public_funding(&mut f)),
        ("SN", _) => Record::Eligibility(eligibility(&mut f)),
        ("SY", FileKind::Medical) => Record::Diagnosis(diagnosis(&mut f)),
        ("HS", FileKind::Dental) => Record::Diagnosis(dental_diagnosis(&mut f)),
        ("SI", FileKind::Medical) => Record::Procedure(item(&mut f, MEDICAL_ITEM)),
        ("SI", FileKind::Dental) => Record::Procedure(item(&mut f, DENTAL_PROCEDURE)),
        ("IY", FileKind::Medical) => Record::Drug(item(&mut f, MEDICAL_ITEM)),
        ("IY", FileKind::Dental) => Record::Drug(item(&mut f, DENTAL_DRUG)),
        ("IY", FileKind::Pharmacy) => Record::DispensedDrug(dispensed_drug(&mut f)),
        ("CO", FileKind::Dental) => Record::Comment(comment(&mut f, 11, 400)),
        ("CO", _) => Record::Comment(comment(&mut f, 5, 76)),
        ("SH", FileKind::Pharmacy) => Record::Prescription(prescription(&mut f)),
        ("CZ", FileKind::Pharmacy) => Record::Dispensing(dispensing(&mut f)),
        ("GO", _) => Record::Total(total(&mut f)),
        (other, FileKind::Dental) if KEPT_DENTAL.contains(&other) => Record::Other {
            id: other.to_owned(),
            fields: owned(raw),
        },
        (other, _) if KEPT.contains(&other) => Record::Other {
            id: other.to_owned(),
            fields: owned(raw),
        },
        (other, _) => {
            let named = other.len() == 2 && other.bytes().all(|b| b.is_ascii_uppercase());
            let message = if named {
                format!(
                    "record type {other} is not defined for {} files",
                    kind.as_str()
                )
            } else {
                "record identifier is not a known record type".to_owned()
            };
            f.warn(ErrorCode::UkeRecordUnknown, 1, &message);
            Record::Unknown { fields: owned(raw) }
        }
    }
}

fn owned(raw: &str) -> Vec<String> {
    raw.split(',').map(str::to_owned).collect()
}

/// 都道府県 (2) + 点数表 (1) + 医療機関コード (7) from three consecutive fields.
fn facility(f: &mut Fields, first: usize) -> Option<InstitutionCode> {
    let prefecture = f.fixed_code(first, 2)?;
    let schedule = f.fixed_code(first + 1, 1)?;
    let number = f.fixed_code(first + 2, 7)?;
    InstitutionCode::parse(&format!("{prefecture}{schedule}{number}")).ok()
}

/// IR (医科) and YK: 2 審査支払機関, 3–5 institution, 7 名称, 8 請求年月,
/// 9 マルチボリューム識別情報.
fn institution(f: &mut Fields) -> InstitutionRecord {
    named_institution(f, 9)
}

/// UK (受付情報, 歯科): as IR (医科), but 9 is 届出 and 10 マルチボリューム識別情報.
fn reception(f: &mut Fields) -> InstitutionRecord {
    named_institution(f, 10)
}

fn named_institution(f: &mut Fields, volume: usize) -> InstitutionRecord {
    f.expect_at_most(10);
    InstitutionRecord {
        payer: f.code(2, 1),
        code: facility(f, 3),
        name: f.text_limited(7, 40),
        claim_month: f.year_month(8),
        volume: f.code(volume, 2),
    }
}

/// IR (医療機関情報, 歯科): 2 審査支払機関, 3–5 institution, 7 請求年月, 8 電話番号,
/// 9 届出; no 名称 (it is in UK).
fn dental_institution(f: &mut Fields) -> InstitutionRecord {
    f.expect_at_most(9);
    InstitutionRecord {
        payer: f.code(2, 1),
        code: facility(f, 3),
        name: None,
        claim_month: f.year_month(7),
        volume: None,
    }
}

/// Where RE keeps the カルテ番号等 and the カタカナ氏名, and its last field.
fn receipt(f: &mut Fields, kind: FileKind) -> ReceiptRecord {
    let (chart, kana) = match kind {
        FileKind::Medical => {
            f.expect_at_most(38);
            (Some(14), Some(37))
        }
        FileKind::Dental => {
            f.expect_at_most(27);
            (Some(16), Some(26))
        }
        FileKind::Pharmacy => (None, None),
    };
    let sex = match f.text(6) {
        None => None,
        Some(code) => {
            let sex = Sex::from_jp_code(code);
            if sex.is_none() {
                f.warn(ErrorCode::UkeFieldInvalid, 6, "男女区分 must be 1 or 2");
            }
            sex
        }
    };
    ReceiptRecord {
        number: f.code(2, 6),
        receipt_type: f.code(3, 4),
        service_month: f.year_month(4),
        name: f.text(5).map(str::to_owned),
        sex,
        birth_date: f.date(7),
        chart_number: chart.and_then(|n| f.text_limited(n, 20)),
        name_kana: kana.and_then(|n| f.text(n).map(str::to_owned)),
    }
}

fn insurer(f: &mut Fields) -> InsurerRecord {
    f.expect_at_most(15);
    InsurerRecord {
        insurer: f.text(2).map(str::to_owned),
        symbol: f.text_limited(3, 38),
        number: f.text_limited(4, 38),
        days: f.number(5, 2),
        points: f.number(6, 8),
    }
}

fn public_funding(f: &mut Fields) -> PublicFundingRecord {
    f.expect_at_most(12);
    PublicFundingRecord {
        payer: f.code(2, 8),
        recipient: f.text(3).map(str::to_owned),
        days: f.number(5, 2),
        points: f.number(6, 8),
    }
}

fn eligibility(f: &mut Fields) -> EligibilityRecord {
    f.expect_at_most(9);
    EligibilityRecord {
        payer_kind: f.code(2, 1),
        confirmation: f.code(3, 2),
        branch: f.code(7, 2),
    }
}

/// 修飾語コード: 4-digit codes written together.
fn modifiers(f: &mut Fields, n: usize) -> Vec<String> {
    let Some(raw) = f.text(n) else {
        return Vec::new();
    };
    let digits = raw.bytes().all(|b| b.is_ascii_digit());
    if !digits || raw.len() % 4 != 0 {
        f.warn(
            ErrorCode::UkeFieldInvalid,
            n,
            "修飾語コード must be 4-digit codes written together",
        );
        return Vec::new();
    }
    if raw.len() > 80 {
        f.warn(ErrorCode::UkeFieldTooLong, n, "more than 20 修飾語コード");
    }
    raw.as_bytes()
        .chunks(4)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .map(str::to_owned)
        .collect()
}

fn diagnosis(f: &mut Fields) -> DiagnosisRecord {
    f.expect_at_most(8);
    let modifiers = modifiers(f, 5);
    DiagnosisRecord {
        code: f.fixed_code(2, 7),
        start: f.date(3),
        outcome: f.code(4, 1),
        modifiers,
        name: f.text_limited(6, 40),
        main: f.code(7, 2).is_some(),
        comment: f.text_limited(8, 40),
    }
}

/// HS (傷病名部位, 歯科): 2 診療開始日, 3 転帰区分, 4 歯式, 5 傷病名コード, 6 修飾語コード,
/// 7 傷病名称, 8 併存傷病名数, 9 病態移行, 10 主傷病, 11 コメントコード, 12 補足コメント,
/// 13 歯式 (補足コメント). The teeth are not kept in the domain.
fn dental_diagnosis(f: &mut Fields) -> DiagnosisRecord {
    f.expect_at_most(13);
    let modifiers = modifiers(f, 6);
    DiagnosisRecord {
        code: f.fixed_code(5, 7),
        start: f.date(2),
        outcome: f.code(3, 1),
        modifiers,
        name: f.text_limited(7, 40),
        main: f.code(10, 2).is_some(),
        comment: f.text_limited(12, 100),
    }
}

/// Where an SI / IY layout keeps its parts.
struct ItemLayout {
    last: usize,
    /// Pairs of コメントコード and 文字データ follow this field (医科 only).
    comments_from: Option<usize>,
    first_day: usize,
}

/// 医科 SI and IY: 8–13 comments, 14–44 days.
const MEDICAL_ITEM: ItemLayout = ItemLayout {
    last: 44,
    comments_from: Some(8),
    first_day: DAY_FIELDS,
};
/// 歯科 SI: 2 診療識別, 3 負担区分, 4 コード, 5 数量, 6 点数, 7 回数, 8–38 days.
const DENTAL_PROCEDURE: ItemLayout = ItemLayout {
    last: 38,
    comments_from: None,
    first_day: 8,
};
/// 歯科 IY: as SI with 8 医薬品区分, then 9–39 days.
const DENTAL_DRUG: ItemLayout = ItemLayout {
    last: 39,
    comments_from: None,
    first_day: 9,
};

fn item(f: &mut Fields, layout: ItemLayout) -> ItemRecord {
    f.expect_at_most(layout.last);
    let mut comments = Vec::new();
    for code_field in layout
        .comments_from
        .into_iter()
        .flat_map(|first| (0..3).map(move |pair| first + pair * 2))
    {
        let code = f.code(code_field, 9);
        let text = f.text_limited(code_field + 1, 100);
        if code.is_some() || text.is_some() {
            comments.push(LineComment { code, text });
        }
    }
    ItemRecord {
        identification: f.code(2, 2),
        burden: f.text(3).map(str::to_owned),
        code: f.fixed_code(4, 9),
        quantity: f.decimal(5),
        points: f.number(6, 7),
        count: f.number(7, 3),
        comments,
        days: f.day_counts(layout.first_day),
        first_day_field: layout.first_day,
    }
}

/// CO: 2 診療識別, 3 負担区分, 4 コメントコード, 5 文字データ (医科 76 bytes; 歯科 400
/// bytes, then its 歯式 and reserved fields up to 11).
fn comment(f: &mut Fields, last: usize, max_text: usize) -> CommentRecord {
    f.expect_at_most(last);
    CommentRecord {
        identification: f.code(2, 2),
        code: f.fixed_code(4, 9),
        text: f.text_limited(5, max_text),
    }
}

fn prescription(f: &mut Fields) -> PrescriptionRecord {
    PrescriptionRecord {
        prescribing_facility: facility(f, 2),
        prescriber: f.text_limited(5, 40),
    }
}

fn dispensing(f: &mut Fields) -> DispensingRecord {
    DispensingRecord {
        group: f.code(2, 3),
        prescribed_on: f.date(3),
        dispensed_on: f.date(4),
        dosage_form: f.code(5, 1),
        usage: f.text(6).map(str::to_owned),
        instruction: f.text_limited(7, 80),
        quantity: f.number(8, 3),
    }
}

fn dispensed_drug(f: &mut Fields) -> DispensedDrugRecord {
    DispensedDrugRecord {
        group: f.code(2, 3),
        code: f.fixed_code(3, 9),
        quantity: f.decimal(4),
    }
}

fn total(f: &mut Fields) -> TotalRecord {
    f.expect_at_most(4);
    TotalRecord {
        receipts: f.number(2, 6),
        points: f.number(3, 11),
        volume: f.code(4, 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(kind: FileKind, raw: &str) -> (Record, Vec<Issue>) {
        let mut issues = Vec::new();
        let record = parse_line(kind, 7, raw, &mut issues);
        (record, issues)
    }

    #[test]
    fn ir_gives_the_ten_digit_institution_and_claim_month() {
        let (r, issues) = parse(
            FileKind::Medical,
            "IR,1,13,1,1234567,,医院,50311,00,03-1234",
        );
        let Record::Institution(ir) = r else {
            panic!("not IR")
        };
        assert_eq!(ir.code.unwrap().as_str(), "1311234567");
        assert_eq!(ir.claim_month.unwrap().year, 2021);
        assert!(issues.is_empty());
    }

    #[test]
    fn iy_reads_quantity_points_count_and_day_columns() {
        let mut line = "IY,21,1,620098801,3,12,14,,,,,,".to_owned();
        // Fields 14.. are days 1..31: day 6 is field 19.
        line.push_str(&",".repeat(5));
        line.push_str(",14");
        line.push_str(&",".repeat(25));
        let (r, issues) = parse(FileKind::Medical, &line);
        let Record::Drug(iy) = r else {
            panic!("not IY")
        };
        assert_eq!(iy.identification.as_deref(), Some("21"));
        assert_eq!(iy.code.as_deref(), Some("620098801"));
        assert_eq!(iy.quantity.unwrap().as_str(), "3");
        assert_eq!((iy.points, iy.count), (Some(12), Some(14)));
        assert_eq!(iy.days[5], 14);
        assert_eq!(iy.days.iter().filter(|d| **d > 0).count(), 1);
        assert!(issues.is_empty(), "{issues:?}");
    }

    #[test]
    fn sy_splits_modifiers_and_reports_an_over_long_name() {
        let name = "長".repeat(30);
        let (r, issues) = parse(
            FileKind::Medical,
            &format!("SY,0000999,5031001,1,80020010,{name},01,"),
        );
        let Record::Diagnosis(sy) = r else {
            panic!("not SY")
        };
        assert_eq!(sy.modifiers, ["8002", "0010"]);
        assert!(sy.main);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].code, ErrorCode::UkeFieldTooLong);
        assert_eq!(issues[0].location, "line 7 field 6");
    }

    #[test]
    fn unknown_records_are_kept_and_reported_by_identifier_only() {
        let (r, issues) = parse(FileKind::Medical, "ZZ,秘密");
        assert!(matches!(r, Record::Unknown { .. }));
        assert_eq!(issues[0].code, ErrorCode::UkeRecordUnknown);
        assert!(!issues[0].message.contains("秘密"));
        let (r, issues) = parse(FileKind::Pharmacy, "SY,1234567");
        assert!(matches!(r, Record::Unknown { .. }));
        assert!(issues[0].message.contains("pharmacy"));
        let (r, issues) = parse(FileKind::Medical, "TO,,1,700010000,1");
        assert!(matches!(r, Record::Other { .. }));
        assert!(issues.is_empty());
    }

    #[test]
    fn extra_fields_are_reported() {
        let (_, issues) = parse(FileKind::Medical, "GO,1,100,99,extra");
        assert_eq!(issues[0].code, ErrorCode::UkeFieldCount);
        assert_eq!(issues[0].location, "line 7 field 5");
    }
}
