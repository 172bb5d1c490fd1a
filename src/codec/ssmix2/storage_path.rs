//! Where a file sits in SS-MIX2 standardized storage and what its name says:
//! `<PID[0:3]>/<PID[3:6]>/<PID>/<YYYYMMDD or ->/<data type>/<file>`, the file named
//! `PID_date_datatype_orderNo_timestamp_dept_flag` (order number 15 characters, timestamp
//! 17 digits `yyyyMMddHHmmssfff`, department or `-`, flag `1` valid / `0` invalidated).
//!
//! Issues name the path part by position (`path folder 4 (date)`, `file name part 2`),
//! never by content: patient ids are patient data.

use time::{Date, Month};

use super::data_type::DataType;
use crate::error::{ErrorCode, Issue};

/// A parsed storage path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoragePath {
    pub patient_id: String,
    /// The care date; `None` for files stored under `-`.
    pub date: Option<Date>,
    /// `OMP-01`.
    pub data_type: String,
    pub order_number: String,
    /// `yyyyMMddHHmmssfff`, when the file was written.
    pub timestamp: String,
    /// The department code, `None` for `-`.
    pub department: Option<String>,
    /// False for an invalidated file (flag `0`): a later file supersedes it.
    pub valid: bool,
}

/// What identifies the record a file describes, across the versions of that file: an
/// invalidated (`_0`) file and the one that supersedes it share this key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey {
    pub patient_id: String,
    pub date: Option<Date>,
    pub data_type: String,
    pub order_number: String,
}

impl StoragePath {
    /// The key shared by this file and the files that supersede or are superseded by it.
    pub fn record_key(&self) -> RecordKey {
        RecordKey {
            patient_id: self.patient_id.clone(),
            date: self.date,
            data_type: self.data_type.clone(),
            order_number: self.order_number.clone(),
        }
    }

    /// The data type's definition, when it is a standardized one.
    pub fn data_type_definition(&self) -> Option<&'static DataType> {
        DataType::parse(&self.data_type)
    }

    /// Reads a file name. Returns the parts it could read and every rule it breaks.
    pub fn parse_file_name(name: &str) -> (Option<Self>, Vec<Issue>) {
        let mut issues = Vec::new();
        let parts: Vec<&str> = name.split('_').collect();
        let [pid, date, data_type, order, timestamp, department, flag] = parts.as_slice() else {
            issues.push(Issue::error(
                ErrorCode::Ssmix2FileName,
                "file name",
                format!(
                    "file name has {} parts separated by '_'; 7 are required",
                    parts.len()
                ),
            ));
            return (None, issues);
        };
        let part = |n: u32| format!("file name part {n}");
        let dash = *date == "-";
        if pid.is_empty() || pid.chars().count() > 64 {
            issues.push(Issue::error(
                ErrorCode::Ssmix2FileName,
                part(1),
                "patient id is empty or too long",
            ));
        }
        let date = match *date {
            "-" => None,
            text => {
                let parsed = parse_date(text);
                if parsed.is_none() {
                    issues.push(Issue::error(
                        ErrorCode::Ssmix2FileName,
                        part(2),
                        "date is neither YYYYMMDD nor '-'",
                    ));
                }
                parsed
            }
        };
        match DataType::parse(data_type) {
            Some(definition) if definition.dated == dash => {
                issues.push(Issue::error(
                    ErrorCode::Ssmix2DateMismatch,
                    part(2),
                    if definition.dated {
                        "this data type is stored under a date, not '-'"
                    } else {
                        "this data type is stored under '-', not a date"
                    },
                ));
            }
            Some(_) => {}
            None => issues.push(Issue::error(
                ErrorCode::Ssmix2UnknownDataType,
                part(3),
                "data type is not a standardized-storage data type",
            )),
        }
        if order.chars().count() != 15 {
            issues.push(Issue::warning(
                ErrorCode::Ssmix2FileName,
                part(4),
                format!(
                    "order number has {} characters; 15 are specified",
                    order.chars().count()
                ),
            ));
        }
        let timestamp_valid = timestamp.len() == 17
            && timestamp.bytes().all(|b| b.is_ascii_digit())
            && timestamp.get(..8).and_then(parse_date).is_some();
        if !timestamp_valid {
            issues.push(Issue::error(
                ErrorCode::Ssmix2FileName,
                part(5),
                "timestamp is not 17 digits yyyyMMddHHmmssfff",
            ));
        }
        if department.is_empty() {
            issues.push(Issue::error(
                ErrorCode::Ssmix2FileName,
                part(6),
                "department is empty (write '-' for none)",
            ));
        }
        let valid = match *flag {
            "1" => true,
            "0" => false,
            _ => {
                issues.push(Issue::error(
                    ErrorCode::Ssmix2FileName,
                    part(7),
                    "condition flag is neither 1 (valid) nor 0 (invalidated)",
                ));
                true
            }
        };
        if !valid {
            issues.push(Issue::warning(
                ErrorCode::Ssmix2Invalidated,
                part(7),
                "file is invalidated (flag 0); a later file supersedes it",
            ));
        }
        let path = Self {
            patient_id: (*pid).to_owned(),
            date,
            data_type: (*data_type).to_owned(),
            order_number: (*order).to_owned(),
            timestamp: (*timestamp).to_owned(),
            department: (*department != "-").then(|| (*department).to_owned()),
            valid,
        };
        (Some(path), issues)
    }

    /// Reads a path relative to (or including) the storage root, with `/` or `\`
    /// separators, and checks the folders against the file name.
    pub fn parse(path: &str) -> (Option<Self>, Vec<Issue>) {
        let components: Vec<&str> = path.split(['/', '\\']).filter(|c| !c.is_empty()).collect();
        let Some((file, folders)) = components.split_last() else {
            return (
                None,
                vec![Issue::error(
                    ErrorCode::Ssmix2PathLayout,
                    "path",
                    "path is empty",
                )],
            );
        };
        let (parsed, mut issues) = Self::parse_file_name(file);
        let Some(parsed) = parsed else {
            return (None, issues);
        };
        let Some(&[first, second, pid, date, data_type]) = folders
            .len()
            .checked_sub(5)
            .and_then(|from| folders.get(from..))
        else {
            issues.push(Issue::error(
                ErrorCode::Ssmix2PathLayout,
                "path",
                "fewer than five folders above the file",
            ));
            return (Some(parsed), issues);
        };
        let folder = |n: u32, what: &str| format!("path folder {n} ({what})");
        if pid != parsed.patient_id {
            issues.push(Issue::error(
                ErrorCode::Ssmix2PatientMismatch,
                folder(3, "patient id"),
                "patient folder differs from the file name's patient id",
            ));
        }
        let id: Vec<char> = parsed.patient_id.chars().collect();
        if id.len() < 6 {
            issues.push(Issue::warning(
                ErrorCode::Ssmix2PathLayout,
                folder(3, "patient id"),
                "patient id is shorter than 6 characters; its prefix folders cannot be checked",
            ));
        } else {
            let slice = |from: usize| {
                id.get(from..from + 3)
                    .unwrap_or_default()
                    .iter()
                    .collect::<String>()
            };
            if first != slice(0) || second != slice(3) {
                issues.push(Issue::error(
                    ErrorCode::Ssmix2PathLayout,
                    folder(1, "patient id prefix"),
                    "prefix folders are not the patient id's characters 1-3 and 4-6",
                ));
            }
        }
        if date != file.split('_').nth(1).unwrap_or("") {
            issues.push(Issue::error(
                ErrorCode::Ssmix2DateMismatch,
                folder(4, "date"),
                "date folder differs from the file name's date",
            ));
        }
        if data_type != parsed.data_type {
            issues.push(Issue::error(
                ErrorCode::Ssmix2DataTypeMismatch,
                folder(5, "data type"),
                "data-type folder differs from the file name's data type",
            ));
        }
        (Some(parsed), issues)
    }
}

/// `YYYYMMDD` → a date.
pub fn parse_date(text: &str) -> Option<Date> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = text.get(..4)?.parse().ok()?;
    let month: u8 = text.get(4..6)?.parse().ok()?;
    let day: u8 = text.get(6..8)?.parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn codes(issues: &[Issue]) -> Vec<(ErrorCode, &str)> {
        issues
            .iter()
            .map(|i| (i.code, i.location.as_str()))
            .collect()
    }

    #[test]
    fn a_well_formed_path_has_every_part() {
        let (path, issues) = StoragePath::parse(
            "root/123/456/1234567/20110701/OMP-01/1234567_20110701_OMP-01_000000011000185_20110701224603984_01_1",
        );
        assert!(issues.is_empty(), "{issues:?}");
        let path = path.unwrap();
        assert_eq!(path.patient_id, "1234567");
        assert_eq!(path.date, Some(date!(2011 - 07 - 01)));
        assert_eq!(path.data_type, "OMP-01");
        assert_eq!(path.order_number, "000000011000185");
        assert_eq!(path.timestamp, "20110701224603984");
        assert_eq!(path.department.as_deref(), Some("01"));
        assert!(path.valid);
    }

    #[test]
    fn undated_types_live_under_a_dash() {
        let (path, issues) = StoragePath::parse(
            r"123\456\1234567\-\ADT-00\1234567_-_ADT-00_999999999999999_20111220224447339_-_1",
        );
        assert!(issues.is_empty(), "{issues:?}");
        let path = path.unwrap();
        assert_eq!(path.date, None);
        assert_eq!(path.department, None);
        let (_, issues) = StoragePath::parse_file_name(
            "1234567_20111220_ADT-00_999999999999999_20111220224447339_-_1",
        );
        assert_eq!(
            codes(&issues),
            [(ErrorCode::Ssmix2DateMismatch, "file name part 2")]
        );
    }

    #[test]
    fn each_broken_rule_has_its_code() {
        let (_, issues) = StoragePath::parse(
            "000/000/0000001/20000401/ADT-31/9999013_20110630_OMP-11_123456789012345_20110701113813225_01_1",
        );
        assert_eq!(
            codes(&issues),
            [
                (
                    ErrorCode::Ssmix2PatientMismatch,
                    "path folder 3 (patient id)"
                ),
                (
                    ErrorCode::Ssmix2PathLayout,
                    "path folder 1 (patient id prefix)"
                ),
                (ErrorCode::Ssmix2DateMismatch, "path folder 4 (date)"),
                (
                    ErrorCode::Ssmix2DataTypeMismatch,
                    "path folder 5 (data type)"
                ),
            ]
        );
        let (path, issues) = StoragePath::parse_file_name(
            "0000001_20000401_OMP-11_123456789012346_20110701113813226_01_0",
        );
        assert!(!path.unwrap().valid);
        assert_eq!(
            codes(&issues),
            [(ErrorCode::Ssmix2Invalidated, "file name part 7")]
        );
        let (path, issues) = StoragePath::parse_file_name("a_b_c");
        assert!(path.is_none());
        assert_eq!(issues[0].code, ErrorCode::Ssmix2FileName);
        let (_, issues) = StoragePath::parse_file_name("1_2011130_XYZ_1_2_3_9");
        let found: Vec<_> = codes(&issues).into_iter().map(|(c, _)| c).collect();
        assert_eq!(
            found,
            [
                ErrorCode::Ssmix2FileName,
                ErrorCode::Ssmix2UnknownDataType,
                ErrorCode::Ssmix2FileName,
                ErrorCode::Ssmix2FileName,
                ErrorCode::Ssmix2FileName,
            ]
        );
    }

    #[test]
    fn an_invalidated_file_and_its_successor_share_a_record_key() {
        let (old, _) = StoragePath::parse_file_name(
            "1234567_20110701_OMP-01_000000011000185_20110701224603984_01_0",
        );
        let (new, _) = StoragePath::parse_file_name(
            "1234567_20110701_OMP-01_000000011000185_20110702090000000_01_1",
        );
        assert_eq!(old.unwrap().record_key(), new.unwrap().record_key());
    }
}
