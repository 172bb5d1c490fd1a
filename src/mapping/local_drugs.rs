//! Per-institution local drug tables: what a clinic's own drug codes stand for.
//!
//! Clinics and hospitals code some drugs with their own codes (SS-MIX2 `99…` tables,
//! FHIR codings in the institution's own system). The operator supplies one table per
//! institution in the masters directory, `local-drugs/<10-digit institution code>.csv`,
//! mapping each local code to a public code the masters know:
//!
//! ```text
//! # source: テスト内科クリニック 院内薬品マスタ (export)
//! # version: 2024-04-01
//! # licence: supplied by the institution for kakari's use
//! local_system,local_code,target_system,target_code,name
//! ,9900123,yj,2649735S2024,ロキソニンテープ５０ｍｇ
//! 99LOC,9900456,receipt,620098801,
//! ```
//!
//! - `local_system`: empty matches a local coding of any system of that institution;
//!   otherwise the FHIR coding system exactly, or the HL7 v2 coding-system mnemonic
//!   (CWE-3, e.g. `99LOC`) the code arrived with.
//! - `target_system`: `yj` (個別医薬品コード), `price` (薬価基準収載医薬品コード), `generic`
//!   (一般名処方マスタ code), `hot9`, `hot7`, `hot13`, `receipt` (レセプト電算コード, 9
//!   digits); `target_code` must have that system's shape.
//! - `name`: optional, for readers.
//!
//! Only codings of no known public system (`DrugCodeSystem::Local`) are looked up, and
//! only in the table of the record's own institution: one clinic's `9900123` says nothing
//! about another's. Rows that cannot be used are skipped and reported by `file line N`;
//! the first row for a (system, code) wins.

use std::collections::HashMap;
use std::path::Path;

use super::curated::CuratedTable;
use super::master_files::{is_digits, is_yj};
use crate::codec::hl7v2::map::values::LOCAL_SYSTEM_PREFIX;
use crate::domain::code_system::KnownSystem;
use crate::domain::{Coding, InstitutionCode};
use crate::error::{ErrorCode, Issue, Problem};

/// The folder of the masters directory that holds the tables.
pub const FOLDER: &str = "local-drugs";

/// One mapped local code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalDrug {
    /// The system the code must arrive in; `None` for any local system.
    pub local_system: Option<String>,
    /// The public code it stands for (canonical system spelling).
    pub target: Coding,
}

/// Every institution's table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalDrugTables {
    /// Institution → local code → its rows (several when systems differ).
    tables: HashMap<InstitutionCode, HashMap<String, Vec<LocalDrug>>>,
}

/// A target system name of the table → the public code system.
fn target_system(name: &str) -> Option<KnownSystem> {
    Some(match name {
        "yj" => KnownSystem::Yj,
        "price" => KnownSystem::DrugPriceList,
        "generic" => KnownSystem::GenericName,
        "hot9" => KnownSystem::Hot9,
        "hot7" => KnownSystem::Hot7,
        "hot13" => KnownSystem::Hot13,
        "receipt" => KnownSystem::ReceiptDrug,
        _ => return None,
    })
}

fn has_shape(system: KnownSystem, code: &str) -> bool {
    match system {
        KnownSystem::Yj | KnownSystem::DrugPriceList | KnownSystem::GenericName => is_yj(code),
        KnownSystem::Hot9 | KnownSystem::ReceiptDrug => is_digits(code, 9),
        KnownSystem::Hot7 => is_digits(code, 7),
        KnownSystem::Hot13 => is_digits(code, 13),
        _ => false,
    }
}

/// True when `coding` arrived in the system a row names: the FHIR system itself, or the
/// HL7 v2 mnemonic kakari namespaced as `urn:kakari:local:<institution>:<mnemonic>`.
fn system_matches(wanted: &str, coding: &Coding, institution: &InstitutionCode) -> bool {
    if coding.system == wanted {
        return true;
    }
    coding
        .system
        .strip_prefix(LOCAL_SYSTEM_PREFIX)
        .and_then(|rest| rest.strip_prefix(institution.as_str()))
        .and_then(|rest| rest.strip_prefix(':'))
        .is_some_and(|mnemonic| mnemonic == wanted)
}

impl LocalDrugTables {
    /// Reads `<dir>/local-drugs/*.csv`; no folder means no tables. Unusable files and
    /// rows are skipped and reported; a folder or file that cannot be read refuses the
    /// load. Returns the tables and, per file read, its path and usable rows.
    pub fn load(
        dir: &Path,
        issues: &mut Vec<Issue>,
    ) -> Result<(Self, Vec<(std::path::PathBuf, usize)>), Problem> {
        let folder = dir.join(FOLDER);
        let mut tables = Self::default();
        let mut files = Vec::new();
        if !folder.is_dir() {
            return Ok((tables, files));
        }
        let listing = std::fs::read_dir(&folder).map_err(|_| {
            Problem::new(
                ErrorCode::MappingInvalid,
                folder.display().to_string(),
                "local drug table folder cannot be listed",
            )
        })?;
        let mut paths: Vec<_> = listing
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
            })
            .collect();
        paths.sort();
        for path in paths {
            let file = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let name = format!("{FOLDER}/{file}");
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            let Some(institution) = is_digits(stem, 10)
                .then(|| InstitutionCode::parse(stem).ok())
                .flatten()
            else {
                issues.push(Issue::warning(
                    ErrorCode::MappingInvalid,
                    name,
                    "a local drug table is named <10-digit institution code>.csv; file skipped",
                ));
                continue;
            };
            let bytes = std::fs::read(&path).map_err(|_| {
                Problem::new(
                    ErrorCode::MappingInvalid,
                    path.display().to_string(),
                    "local drug table cannot be read",
                )
            })?;
            let text = super::master_files::decode(&bytes);
            let rows = tables.add_table(&name, institution, &text, issues);
            files.push((path, rows));
        }
        Ok((tables, files))
    }

    /// Adds one institution's table; returns the rows used. Problems become issues.
    pub fn add_table(
        &mut self,
        name: &str,
        institution: InstitutionCode,
        text: &str,
        issues: &mut Vec<Issue>,
    ) -> usize {
        let rows = match CuratedTable::parse(name, text).and_then(|t| {
            t.select(
                &["local_code", "target_system", "target_code"],
                &["local_system", "name"],
            )
        }) {
            Ok(rows) => rows,
            Err(e) => {
                issues.push(Issue::warning(
                    ErrorCode::MappingInvalid,
                    format!("{} line {}", e.table, e.line),
                    format!("{}; file skipped", e.message),
                ));
                return 0;
            }
        };
        // Fields in the order selected above.
        let (code_col, system_col, target_col, local_system_col) = (0, 1, 2, 3);
        let map = self.tables.entry(institution).or_default();
        let mut used = 0;
        for row in &rows {
            let get = |i: usize| row.get(i);
            let skip = |issues: &mut Vec<Issue>, message: &str| {
                issues.push(Issue::warning(
                    ErrorCode::MappingInvalid,
                    format!("{name} line {}", row.line),
                    format!("{message}; row skipped"),
                ));
            };
            let code = get(code_col);
            if code.is_empty() {
                skip(issues, "local_code is empty");
                continue;
            }
            let Some(system) = target_system(get(system_col)) else {
                skip(
                    issues,
                    "target_system must be yj, price, generic, hot9, hot7, hot13 or receipt",
                );
                continue;
            };
            let target = get(target_col);
            if !has_shape(system, target) {
                skip(
                    issues,
                    "target_code does not have the shape of target_system",
                );
                continue;
            }
            let local_system = row.opt(local_system_col).map(str::to_owned);
            let rows = map.entry(code.to_owned()).or_default();
            if rows.iter().any(|r| r.local_system == local_system) {
                skip(issues, "the code appears on an earlier row");
                continue;
            }
            rows.push(LocalDrug {
                local_system,
                target: Coding::new(system.uri(), target, None),
            });
            used += 1;
        }
        used
    }

    /// The public code a local coding of `institution` stands for. A row naming the
    /// coding's own system wins over a row for any system.
    pub fn lookup(&self, institution: &InstitutionCode, coding: &Coding) -> Option<&Coding> {
        let rows = self.tables.get(institution)?.get(coding.code.trim())?;
        rows.iter()
            .find(|r| {
                r.local_system
                    .as_deref()
                    .is_some_and(|s| system_matches(s, coding, institution))
            })
            .or_else(|| rows.iter().find(|r| r.local_system.is_none()))
            .map(|r| &r.target)
    }

    /// Institutions with a table.
    pub fn len(&self) -> usize {
        self.tables.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "# source: test clinic master\n# version: 1\n# licence: test\nlocal_system,local_code,target_system,target_code,name\n,9900123,yj,2649735S2024,テープ\n99LOC,9900456,receipt,620098801,\nhttp://clinic.example/drugs,9900456,hot9,103299401,\n,9900789,hot9,12345,\n,9900999,atc,N02,\n,9900123,yj,1149019F1560,\n";

    fn clinic() -> InstitutionCode {
        InstitutionCode::parse("1319999999").unwrap()
    }

    #[test]
    fn rows_map_local_codes_by_institution_and_system_and_bad_rows_are_located() {
        let mut tables = LocalDrugTables::default();
        let mut issues = Vec::new();
        let used = tables.add_table("local-drugs/1319999999.csv", clinic(), TABLE, &mut issues);
        assert_eq!(used, 3);
        let lines: Vec<&str> = issues.iter().map(|i| i.location.as_str()).collect();
        assert_eq!(
            lines,
            [
                "local-drugs/1319999999.csv line 8",
                "local-drugs/1319999999.csv line 9",
                "local-drugs/1319999999.csv line 10"
            ]
        );
        // Any local system of the institution.
        let any = Coding::new("http://other.example/codes", "9900123", None);
        assert_eq!(
            tables.lookup(&clinic(), &any).map(|c| c.code.as_str()),
            Some("2649735S2024")
        );
        // An HL7 v2 mnemonic, namespaced per institution by the codec.
        let hl7 = Coding::new("urn:kakari:local:1319999999:99LOC", "9900456", None);
        assert_eq!(
            tables.lookup(&clinic(), &hl7).map(|c| c.code.as_str()),
            Some("620098801")
        );
        let fhir = Coding::new("http://clinic.example/drugs", "9900456", None);
        assert_eq!(
            tables.lookup(&clinic(), &fhir).map(|c| c.code.as_str()),
            Some("103299401")
        );
        // A system no row names, another institution's mnemonic, another institution.
        let other = Coding::new("urn:kakari:local:1311111111:99LOC", "9900456", None);
        assert!(tables.lookup(&clinic(), &other).is_none());
        let elsewhere = InstitutionCode::parse("1311111111").unwrap();
        assert!(tables.lookup(&elsewhere, &any).is_none());
    }

    #[test]
    fn tables_load_from_the_masters_directory_by_institution_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join(FOLDER);
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("1319999999.csv"), TABLE).unwrap();
        std::fs::write(folder.join("clinic.csv"), TABLE).unwrap();
        std::fs::write(folder.join("1311111111.csv"), "no header lines\n").unwrap();
        let mut issues = Vec::new();
        let (tables, files) = LocalDrugTables::load(dir.path(), &mut issues).unwrap();
        assert_eq!(tables.len(), 1);
        assert_eq!(files.len(), 2);
        assert!(
            issues
                .iter()
                .any(|i| i.location == "local-drugs/clinic.csv")
        );
        assert!(
            issues
                .iter()
                .any(|i| i.location.starts_with("local-drugs/1311111111.csv"))
        );
        // No folder: no tables, no issues.
        let empty = tempfile::tempdir().unwrap();
        let mut none = Vec::new();
        let (tables, files) = LocalDrugTables::load(empty.path(), &mut none).unwrap();
        assert!(tables.is_empty() && files.is_empty() && none.is_empty());
    }
}
