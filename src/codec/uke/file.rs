//! A whole claims file: the header, the receipts with their records, the totals, and the
//! issues found while reading.
//!
//! The layout is a header (IR or YK) first, then receipts, each an RE line followed by
//! its records up to the next RE, then one GO line. Records kakari does not interpret
//! are kept in their receipt; records out of place are kept in `unassigned` and reported.
//! A file is refused only when it is not UKE at all (no header, undecodable bytes, no
//! institution code); everything else is a warning and the sound records are imported.

use super::date::YearMonth;
use super::record::{
    EligibilityRecord, FileKind, InstitutionRecord, InsurerRecord, Located, PublicFundingRecord,
    ReceiptRecord, Record, TotalRecord, parse_line,
};
use super::text;
use crate::domain::member_id::MemberIdError;
use crate::domain::{Demographics, InstitutionCode, MemberId};
use crate::error::{ErrorCode, Issue, Problem};

/// 負担者種別 of the SN record that carries the 医療保険 枝番.
const HEALTH_INSURANCE: &str = "1";

/// A parsed claims file.
#[derive(Debug, Clone, PartialEq)]
pub struct UkeFile {
    pub kind: FileKind,
    /// The claiming institution (IR) or pharmacy (YK).
    pub institution: InstitutionCode,
    /// The header as read, with its line.
    pub header: Located<InstitutionRecord>,
    /// 請求年月.
    pub claim_month: Option<YearMonth>,
    pub receipts: Vec<Receipt>,
    /// The GO record, when present.
    pub totals: Option<Located<TotalRecord>>,
    /// Records outside any receipt (before the first RE, after GO, a second header).
    pub unassigned: Vec<Located<Record>>,
    /// Everything found wrong, located by `line N field M`; no values.
    pub issues: Vec<Issue>,
}

/// One receipt: the RE line and the records that follow it.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    pub header: Located<ReceiptRecord>,
    /// Every record after RE, in file order (HO, KO, SN, SY, SI, IY, CO, …).
    pub records: Vec<Located<Record>>,
    /// The member id from HO (+ 枝番 from SN), when HO gives a usable one.
    pub member: Option<MemberId>,
}

impl Receipt {
    /// The receipt's HO record and its line.
    pub fn insurer(&self) -> Option<(usize, &InsurerRecord)> {
        self.records.iter().find_map(|r| match &r.record {
            Record::Insurer(ho) => Some((r.line, ho)),
            _ => None,
        })
    }

    /// The 枝番 from the SN record of the 医療保険, with the SN line.
    pub fn branch(&self) -> Option<(usize, &str)> {
        self.records.iter().find_map(|r| match &r.record {
            Record::Eligibility(EligibilityRecord {
                payer_kind,
                branch: Some(branch),
                ..
            }) if payer_kind.as_deref().is_none_or(|k| k == HEALTH_INSURANCE) => {
                Some((r.line, branch.as_str()))
            }
            _ => None,
        })
    }

    /// The records after RE with the 診療識別 each falls under: an SI, IY, TO or CO line
    /// whose 診療識別 is empty continues the one of the line above it (the 記録条件仕様
    /// lets a run of lines under one 診療識別 record it on the first line only).
    pub fn identified(&self) -> impl Iterator<Item = (&Located<Record>, Option<&str>)> {
        self.records
            .iter()
            .scan(None, |current: &mut Option<&str>, r| {
                let written = match &r.record {
                    Record::Procedure(item) | Record::Drug(item) => {
                        Some(item.identification.as_deref())
                    }
                    Record::Comment(co) => Some(co.identification.as_deref()),
                    Record::Other { id, fields } if id == "TO" => Some(
                        fields
                            .get(1)
                            .map(|f| text::clean(f))
                            .filter(|f| !f.is_empty()),
                    ),
                    _ => None,
                };
                match written {
                    Some(Some(code)) => *current = Some(code),
                    Some(None) => {}
                    None => return Some((r, None)),
                }
                Some((r, *current))
            })
    }

    /// The KO records (public funding schemes) in order (第一公費 first).
    pub fn public_funding(&self) -> impl Iterator<Item = &PublicFundingRecord> {
        self.records.iter().filter_map(|r| match &r.record {
            Record::PublicFunding(ko) => Some(ko),
            _ => None,
        })
    }

    /// What the receipt says about the patient (birth date, sex, names as written).
    pub fn demographics(&self) -> Demographics {
        let re = &self.header.record;
        Demographics {
            birth_date: re.birth_date,
            sex: re.sex,
            name: re.name.clone(),
            name_kana: re.name_kana.clone(),
            names: Vec::new(),
        }
    }

    /// How many claims the receipt makes for GO 総件数: one for its 医療保険 (HO) and one
    /// for each 公費 (KO); 記録条件仕様 GO 総件数: "医保と公費それぞれ1件とカウント"
    /// (医療保険と1種の公費の併用 = 2, 公費単独 = 1).
    pub fn claims(&self) -> u64 {
        self.records
            .iter()
            .filter(|r| matches!(r.record, Record::Insurer(_) | Record::PublicFunding(_)))
            .count() as u64
    }

    /// The points the receipt claims: HO 合計点数, or the first KO's when there is no
    /// HO (公費単独).
    pub fn points(&self) -> Option<u64> {
        self.insurer()
            .and_then(|(_, ho)| ho.points)
            .or_else(|| self.public_funding().find_map(|ko| ko.points))
    }
}

/// Reads the decoded text of a claims file.
pub fn read(text: &str) -> Result<UkeFile, Problem> {
    let mut issues = Vec::new();
    let mut lines = text::lines(text);
    let Some((first_line, first)) = lines.next() else {
        return Err(Problem::new(
            ErrorCode::UkeNoHeader,
            "line 1",
            "the file has no records",
        ));
    };
    let kind = header_kind(first).ok_or_else(|| {
        Problem::new(
            ErrorCode::UkeNoHeader,
            format!("line {first_line} field 1"),
            "the first record must be UK or IR (医科・歯科) or YK (調剤)",
        )
    })?;
    let header = match parse_line(kind, first_line, first, &mut issues) {
        Record::Institution(ir) => ir,
        _ => {
            return Err(Problem::new(
                ErrorCode::UkeNoHeader,
                format!("line {first_line} field 1"),
                "the first record must be UK or IR (医科・歯科) or YK (調剤)",
            ));
        }
    };
    let Some(institution) = header.code.clone() else {
        issues.push(Issue::error(
            ErrorCode::UkeHeaderInvalid,
            format!("line {first_line} field 3"),
            "都道府県, 点数表 and 医療機関コード must give a 10-digit institution code",
        ));
        return Err(Problem::with_issues(ErrorCode::UkeHeaderInvalid, issues));
    };

    let mut file = UkeFile {
        kind,
        institution,
        claim_month: header.claim_month,
        header: Located {
            line: first_line,
            record: header,
        },
        receipts: Vec::new(),
        totals: None,
        unassigned: Vec::new(),
        issues: Vec::new(),
    };
    let reception = first.trim_start().starts_with("UK");
    let mut current: Option<Receipt> = None;
    for (line, raw) in lines {
        let record = parse_line(kind, line, raw, &mut issues);
        match record {
            Record::Receipt(re) => {
                if let Some(done) = current.take() {
                    file.receipts.push(finish(done, &mut issues));
                }
                if file.totals.is_some() {
                    misplaced(&mut issues, line, "RE after GO");
                }
                current = Some(Receipt {
                    header: Located { line, record: re },
                    records: Vec::new(),
                    member: None,
                });
            }
            Record::Total(go) => {
                if let Some(done) = current.take() {
                    file.receipts.push(finish(done, &mut issues));
                }
                if file.totals.is_some() {
                    misplaced(&mut issues, line, "a second GO record");
                    file.unassigned.push(Located {
                        line,
                        record: Record::Total(go),
                    });
                } else {
                    file.totals = Some(Located { line, record: go });
                }
            }
            // After a UK header, IR gives the institution again (the 歯科 記録条件仕様 places
            // one before the receipts, some systems one per receipt): the same institution
            // is no record of its own.
            Record::Institution(ir) if reception && ir.code.as_ref() == Some(&file.institution) => {
                if file.claim_month.is_none() {
                    file.claim_month = ir.claim_month;
                }
            }
            Record::Institution(_) => {
                misplaced(&mut issues, line, "a second UK, IR or YK record");
                file.unassigned.push(Located { line, record });
            }
            record => match current.as_mut() {
                Some(receipt) => receipt.records.push(Located { line, record }),
                None => {
                    let why = if file.totals.is_some() {
                        "record after GO"
                    } else {
                        "record before the first RE"
                    };
                    misplaced(&mut issues, line, why);
                    file.unassigned.push(Located { line, record });
                }
            },
        }
    }
    if let Some(done) = current.take() {
        file.receipts.push(finish(done, &mut issues));
    }
    check_totals(&file, &mut issues);
    issues.sort_by_key(|i| line_of(&i.location));
    file.issues = issues;
    Ok(file)
}

/// The line an issue location names, for ordering issues as they appear in the file.
fn line_of(location: &str) -> usize {
    location
        .strip_prefix("line ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}

/// The kind of file a header line announces: UK or IR with 点数表 3 is 歯科, other IR 医科,
/// YK 調剤.
fn header_kind(line: &str) -> Option<FileKind> {
    let mut fields = line.split(',');
    match fields.next().map(str::trim) {
        Some("YK") => Some(FileKind::Pharmacy),
        Some("IR" | "UK") => match fields.nth(2).and_then(text::digits).as_deref() {
            Some("3") => Some(FileKind::Dental),
            _ => Some(FileKind::Medical),
        },
        _ => None,
    }
}

fn misplaced(issues: &mut Vec<Issue>, line: usize, what: &str) {
    issues.push(Issue::warning(
        ErrorCode::UkeRecordMisplaced,
        format!("line {line} field 1"),
        format!("{what}; record kept outside the receipts"),
    ));
}

/// Links the receipt to its member (HO 保険者番号 + 記号 + 番号, SN 枝番) and checks
/// that 算定日 fall within the 診療年月.
fn finish(mut receipt: Receipt, issues: &mut Vec<Issue>) -> Receipt {
    let re_line = receipt.header.line;
    if let Some(month) = receipt.header.record.service_month {
        let length = usize::from(month.length());
        for r in &receipt.records {
            if let Record::Procedure(item) | Record::Drug(item) = &r.record {
                for (i, _) in item
                    .days
                    .iter()
                    .enumerate()
                    .skip(length)
                    .filter(|(_, c)| **c > 0)
                {
                    issues.push(Issue::warning(
                        ErrorCode::UkeFieldInvalid,
                        format!("line {} field {}", r.line, item.first_day_field + i),
                        "count on a day the 診療年月 does not have",
                    ));
                }
            }
        }
    }
    let member = match receipt.insurer() {
        None => Err(Issue::warning(
            ErrorCode::UkeMemberUnknown,
            format!("line {re_line} field 1"),
            "receipt has no HO record (公費単独 or omitted); its records are kept unlinked",
        )),
        Some((line, ho)) if ho.insurer.as_deref().is_none_or(|i| i.trim().is_empty()) => {
            Err(Issue::warning(
                ErrorCode::UkeMemberUnknown,
                format!("line {line} field 2"),
                "保険者番号 is missing (a required field of HO); the receipt's records are kept unlinked",
            ))
        }
        Some((line, ho)) => {
            let branch = receipt.branch();
            MemberId::from_parts(
                ho.insurer.as_deref().unwrap_or(""),
                ho.symbol.as_deref().unwrap_or(""),
                ho.number.as_deref().unwrap_or(""),
                branch.map(|(_, b)| b),
            )
            .map_err(|e| {
                let location = match (e, branch) {
                    (MemberIdError::Branch, Some((sn, _))) => format!("line {sn} field 7"),
                    (MemberIdError::Insurer(_), _) => format!("line {line} field 2"),
                    _ => format!("line {line} field 4"),
                };
                Issue::warning(
                    ErrorCode::UkeMemberUnknown,
                    location,
                    format!("{e}; the receipt's records are kept unlinked"),
                )
            })
        }
    };
    match member {
        Ok(member) => receipt.member = Some(member),
        Err(issue) => issues.push(issue),
    }
    receipt
}

/// Compares GO 総件数 (the receipts' claims: [`Receipt::claims`]) and 総合計点数 (each
/// receipt's 主保険 points: [`Receipt::points`]) with the receipts, as the 記録条件仕様
/// defines them. A file of a multi-volume set (マルチボリューム識別 other than 00) holds
/// part of what GO counts, so it is not compared.
fn check_totals(file: &UkeFile, issues: &mut Vec<Issue>) {
    let Some(go) = &file.totals else {
        issues.push(Issue::warning(
            ErrorCode::UkeTotalMissing,
            "end of file",
            "no GO record; the file may be truncated",
        ));
        return;
    };
    let volume = file.header.record.volume.as_deref();
    if volume.is_some_and(|v| v != "00") {
        return;
    }
    let count = file
        .receipts
        .iter()
        .map(Receipt::claims)
        .fold(0u64, u64::saturating_add);
    if let Some(claimed) = go.record.receipts
        && claimed != count
    {
        issues.push(Issue::warning(
            ErrorCode::UkeTotalMismatch,
            format!("line {} field 2", go.line),
            format!(
                "総件数 is {claimed} but the receipts count {count} (医療保険 and each 公費 counted once per receipt)"
            ),
        ));
    }
    let points = file
        .receipts
        .iter()
        .filter_map(Receipt::points)
        .fold(0u64, u64::saturating_add);
    if let Some(claimed) = go.record.points
        && claimed != points
    {
        issues.push(Issue::warning(
            ErrorCode::UkeTotalMismatch,
            format!("line {} field 3", go.line),
            format!("総合計点数 is {claimed} but the receipts add up to {points}"),
        ));
    }
}
