//! Readers for the public drug masters an operator downloads.
//!
//! - 社会保険診療報酬支払基金「医薬品マスター」(`y_*.csv`, Shift_JIS, every field
//!   quoted, no header): field 3 レセプト電算処理システムコード (9 digits), field 5
//!   漢字名称, field 10 単位漢字名称, field 28 剤形 (1 内用, 4 注射, 6 外用, 8 歯科, 3
//!   その他), field 32 薬価基準収載医薬品コード (12 characters; empty for codes that are
//!   not listed drugs). Field 1 変更区分 `9` marks a deleted code (skipped).
//! - MEDIS-DC「HOTコードマスター」(HOT9 file, one header row): columns are found by
//!   their header names — 基準番号（ＨＯＴコード） (9 or 13 digits), 処方用番号（ＨＯＴ７）,
//!   薬価基準収載医薬品コード, 個別医薬品コード (YJ), レセプト電算処理システムコード（１）
//!   and （２）, 告示名称, 販売名, 規格単位. The file may be Shift_JIS or UTF-8.
//!
//! Rows that cannot be used are counted and located (`file line N`), never echoed.

use std::path::Path;

use crate::error::Issue;

/// What a master row says about one drug.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MasterRow {
    pub receipt: Vec<String>,
    pub hot13: Option<String>,
    pub hot9: Option<String>,
    pub hot7: Option<String>,
    pub yj: Option<String>,
    pub price: Option<String>,
    pub name: Option<String>,
    pub unit: Option<String>,
}

/// The kinds of master file kakari reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKind {
    /// 支払基金 医薬品マスター.
    ReceiptDrug,
    /// MEDIS HOT コードマスター.
    Hot,
}

impl MasterKind {
    /// Recognises a master by its file name: `y_*.csv` / `y.csv` is the 支払基金 drug
    /// master; a name containing `hot` (any case) is a HOT master.
    pub fn of(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let data = name.ends_with(".csv") || name.ends_with(".txt");
        if !data {
            return None;
        }
        if name.starts_with("y_") || name == "y.csv" {
            Some(Self::ReceiptDrug)
        } else if name.contains("hot") {
            Some(Self::Hot)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReceiptDrug => "receipt-drug master",
            Self::Hot => "HOT master",
        }
    }
}

/// Decodes master bytes: UTF-8 when they are valid UTF-8 (BOM dropped), else Shift_JIS.
pub fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => encoding_rs::SHIFT_JIS.decode(bytes).0.into_owned(),
    }
}

/// Rows of a master file, with issues for rows that could not be used.
pub fn read(kind: MasterKind, name: &str, text: &str, issues: &mut Vec<Issue>) -> Vec<MasterRow> {
    match kind {
        MasterKind::ReceiptDrug => read_receipt_master(name, text, issues),
        MasterKind::Hot => read_hot_master(name, text, issues),
    }
}

fn reader(text: &str, headers: bool) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(headers)
        .flexible(true)
        .from_reader(text.as_bytes())
}

fn skipped(issues: &mut Vec<Issue>, name: &str, line: u64, message: &str) {
    issues.push(Issue::warning(
        crate::error::ErrorCode::MappingInvalid,
        format!("{name} line {line}"),
        message.to_owned(),
    ));
}

fn field(record: &csv::StringRecord, index: usize) -> Option<String> {
    record
        .get(index)
        .map(|f| f.trim().trim_end_matches('\u{3000}'))
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
}

/// A code of exactly `len` ASCII digits.
pub fn is_digits(code: &str, len: usize) -> bool {
    code.len() == len && code.bytes().all(|b| b.is_ascii_digit())
}

/// A 12-character YJ / 薬価基準 code: 7 digits (薬効分類 4 + 成分 3), a dosage-form letter,
/// then 4 alphanumerics (the last a check digit; `ZZZ` marks a 一般名 code).
pub fn is_yj(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 12
        && b.iter().take(7).all(u8::is_ascii_digit)
        && b.get(7).is_some_and(u8::is_ascii_uppercase)
        && b.iter().skip(8).all(u8::is_ascii_alphanumeric)
}

fn read_receipt_master(name: &str, text: &str, issues: &mut Vec<Issue>) -> Vec<MasterRow> {
    let mut rows = Vec::new();
    for record in reader(text, false).records() {
        let Ok(record) = record else {
            skipped(issues, name, 0, "row is not valid CSV; skipped");
            continue;
        };
        let line = record.position().map_or(0, csv::Position::line);
        if field(&record, 0).as_deref() == Some("9") {
            continue;
        }
        let Some(code) = field(&record, 2).filter(|c| is_digits(c, 9)) else {
            skipped(
                issues,
                name,
                line,
                "field 3 is not a 9-digit receipt code; skipped",
            );
            continue;
        };
        let price = field(&record, 31).filter(|c| is_yj(c));
        rows.push(MasterRow {
            receipt: vec![code],
            price,
            name: field(&record, 4),
            unit: field(&record, 9),
            ..MasterRow::default()
        });
    }
    rows
}

/// Column positions of a HOT master, found from its header row.
struct HotColumns {
    hot: usize,
    hot7: Option<usize>,
    price: Option<usize>,
    yj: Option<usize>,
    receipt: Vec<usize>,
    name: Vec<usize>,
    unit: Option<usize>,
}

impl HotColumns {
    fn find(headers: &csv::StringRecord) -> Option<Self> {
        let normal: Vec<String> = headers
            .iter()
            .map(|h| {
                use unicode_normalization::UnicodeNormalization;
                h.nfkc().collect::<String>().to_ascii_uppercase()
            })
            .collect();
        let at = |needle: &str| normal.iter().position(|h| h.contains(needle));
        let all = |needle: &str| -> Vec<usize> {
            normal
                .iter()
                .enumerate()
                .filter(|(_, h)| h.contains(needle))
                .map(|(i, _)| i)
                .collect()
        };
        let names = ["販売名", "レセプト電算処理システム医薬品名", "告示名称"]
            .iter()
            .filter_map(|n| at(n))
            .collect();
        Some(Self {
            hot: at("基準番号")?,
            hot7: at("HOT7"),
            price: at("薬価基準"),
            yj: at("個別医薬品コード"),
            receipt: all("レセプト電算処理システムコード"),
            name: names,
            unit: at("規格単位"),
        })
    }
}

fn read_hot_master(name: &str, text: &str, issues: &mut Vec<Issue>) -> Vec<MasterRow> {
    let mut reader = reader(text, true);
    let columns = match reader.headers() {
        Ok(headers) => HotColumns::find(headers),
        Err(_) => None,
    };
    let Some(columns) = columns else {
        skipped(
            issues,
            name,
            1,
            "header row names no 基準番号 (HOT) column; file skipped",
        );
        return Vec::new();
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        let Ok(record) = record else {
            skipped(issues, name, 0, "row is not valid CSV; skipped");
            continue;
        };
        let line = record.position().map_or(0, csv::Position::line);
        let hot = field(&record, columns.hot);
        let (hot13, hot9) = match hot {
            Some(h) if is_digits(&h, 13) => (Some(h.clone()), h.get(..9).map(str::to_owned)),
            Some(h) if is_digits(&h, 9) => (None, Some(h)),
            _ => {
                skipped(
                    issues,
                    name,
                    line,
                    "基準番号 is not a 9- or 13-digit HOT code; skipped",
                );
                continue;
            }
        };
        let opt = |i: Option<usize>| i.and_then(|i| field(&record, i));
        rows.push(MasterRow {
            receipt: columns
                .receipt
                .iter()
                .filter_map(|&i| field(&record, i))
                .filter(|c| is_digits(c, 9))
                .collect(),
            hot13,
            hot7: opt(columns.hot7).filter(|c| is_digits(c, 7)),
            hot9,
            yj: opt(columns.yj).filter(|c| is_yj(c)),
            price: opt(columns.price).filter(|c| is_yj(c)),
            name: columns.name.iter().find_map(|&i| field(&record, i)),
            unit: opt(columns.unit),
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_master_rows_give_code_name_unit_and_price_code() {
        let text = "\"0\",\"Y\",\"620008965\",\"13\",\"アンテベート軟膏０．０５％\",\"16\",\"ｱﾝﾃﾍﾞｰﾄ\",\"33\",\"1\",\"ｇ\",\"1\",\"18.70\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"1\",\"21.30\",\"0\",\"0\",\"6\",\"\",\"20220401\",\"99999999\",\"2646730M1059\",\"018461000\",\"0\",\"アンテベート軟膏０．０５％\"\n\"9\",\"Y\",\"620000001\"\n\"0\",\"Y\",\"ABC\"\n";
        let mut issues = Vec::new();
        let rows = read(MasterKind::ReceiptDrug, "y.csv", text, &mut issues);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].receipt, ["620008965"]);
        assert_eq!(rows[0].price.as_deref(), Some("2646730M1059"));
        assert_eq!(rows[0].unit.as_deref(), Some("ｇ"));
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].location, "y.csv line 3");
    }

    #[test]
    fn hot_master_columns_are_found_by_header_name() {
        let text = "基準番号（ＨＯＴコード）,処方用番号（ＨＯＴ７）,会社識別用番号,調剤用番号,物流用番号,ＪＡＮコード,薬価基準収載医薬品コード,個別医薬品コード,レセプト電算処理システムコード（１）,レセプト電算処理システムコード（２）,告示名称,販売名,レセプト電算処理システム医薬品名,規格単位\n103835401,1038354,01,,,,2233002F1174,2233002F1174,610453119,,カルボシステイン錠,ムコダイン錠２５０ｍｇ,ムコダイン錠２５０ｍｇ,２５０ｍｇ１錠\n";
        let mut issues = Vec::new();
        let rows = read(MasterKind::Hot, "hot9.txt", text, &mut issues);
        assert!(issues.is_empty());
        assert_eq!(rows[0].hot9.as_deref(), Some("103835401"));
        assert_eq!(rows[0].hot7.as_deref(), Some("1038354"));
        assert_eq!(rows[0].yj.as_deref(), Some("2233002F1174"));
        assert_eq!(rows[0].receipt, ["610453119"]);
        assert_eq!(rows[0].name.as_deref(), Some("ムコダイン錠２５０ｍｇ"));
    }

    #[test]
    fn file_names_tell_the_master_kind() {
        assert_eq!(
            MasterKind::of(Path::new("/m/y_ALL20260116.csv")),
            Some(MasterKind::ReceiptDrug)
        );
        assert_eq!(
            MasterKind::of(Path::new("MEDIS20250731_HOT9.TXT")),
            Some(MasterKind::Hot)
        );
        assert_eq!(MasterKind::of(Path::new("s_ALL.csv")), None);
        assert!(is_yj("2171022F2025") && is_yj("2171022F2ZZZ") && !is_yj("2171022"));
    }

    #[test]
    fn shift_jis_and_utf8_masters_decode() {
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("錠");
        assert_eq!(decode(&sjis), "錠");
        assert_eq!(decode("\u{feff}錠".as_bytes()), "錠");
    }
}
