//! The one reader of kakari's code tables: the curated tables shipped in `mappings/`, the
//! per-institution local drug tables and the rule tables an operator may supply. Every
//! table loader reads through it, so they all accept the same format:
//!
//! ```text
//! # source: where the rows came from            (required)
//! # version: the edition of that source         (required)
//! # licence: under which terms it is shared     (recommended; `license` also read)
//! # any other `#` line: a comment
//! column_a,column_b,…                            the header row
//! value,value,…                                  one record per line
//! ```
//!
//! UTF-8 (a byte-order mark is ignored), LF or CRLF. The `#` lines come before the header
//! only; after it every non-empty line is a record. Header names are trimmed, non-empty and
//! unique. A record is one line of CSV (fields may be quoted; a quoted field does not span
//! lines) with exactly as many fields as the header; fields are trimmed. Each loader then
//! names the columns it reads (`CuratedTable::select`): a missing or unknown column is
//! refused, and columns may come in any order. Every refusal names the table and line.

use crate::error::{ErrorCode, Issue, Problem};

/// Where a table came from, as its preamble states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSource {
    pub source: String,
    pub version: String,
    pub licence: Option<String>,
}

/// Why a table was refused: the table, the line (1-based; 0 when the file as a whole) and
/// what is wrong. Tables hold codes and reference data, never patient data, so messages
/// may quote a column name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{table} line {line}: {message}")]
pub struct TableError {
    pub table: String,
    pub line: usize,
    pub message: String,
}

impl TableError {
    pub fn row(table: impl Into<String>, line: usize, message: impl Into<String>) -> Self {
        Self {
            table: table.into(),
            line,
            message: message.into(),
        }
    }

    /// The refusal a service reports when a table cannot be loaded (`mapping.invalid`).
    pub fn to_problem(&self) -> Problem {
        Problem::with_issues(
            ErrorCode::MappingInvalid,
            vec![Issue::error(
                ErrorCode::MappingInvalid,
                format!("{} line {}", self.table, self.line),
                self.message.clone(),
            )],
        )
    }
}

impl From<TableError> for Problem {
    fn from(e: TableError) -> Self {
        e.to_problem()
    }
}

/// A parsed table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CuratedTable {
    /// The name problems are located by (`mappings/drugs.csv`).
    pub name: String,
    pub source: String,
    pub version: String,
    pub licence: Option<String>,
    pub columns: Vec<String>,
    /// The line of the header row.
    pub header_line: usize,
    pub rows: Vec<CuratedRow>,
}

/// One record and the line it is on (1-based, counting the preamble and header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CuratedRow {
    pub line: usize,
    pub fields: Vec<String>,
}

impl CuratedRow {
    /// The field at `index` (trimmed; empty when absent).
    pub fn get(&self, index: usize) -> &str {
        self.fields.get(index).map_or("", String::as_str)
    }

    /// The field, or `None` when it is empty.
    pub fn opt(&self, index: usize) -> Option<&str> {
        Some(self.get(index)).filter(|s| !s.is_empty())
    }
}

impl CuratedTable {
    /// Parses a table; `name` locates problems (`mappings/drugs.csv line 12`).
    pub fn parse(name: &str, text: &str) -> Result<Self, TableError> {
        let invalid = |line: usize, message: &str| TableError::row(name, line, message);
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut source = None;
        let mut version = None;
        let mut licence = None;
        let mut columns: Option<Vec<String>> = None;
        let mut header_line = 0;
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let at = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            if columns.is_none()
                && let Some(meta) = line.strip_prefix('#')
            {
                if let Some((key, value)) = meta.split_once(':') {
                    let value = Some(value.trim().to_owned()).filter(|v| !v.is_empty());
                    match key.trim() {
                        "source" => source = value,
                        "version" => version = value,
                        "licence" | "license" => licence = value,
                        _ => {}
                    }
                }
                continue;
            }
            let fields = split(line).ok_or_else(|| {
                invalid(
                    at,
                    "not one line of CSV (a quote is not closed on its line)",
                )
            })?;
            match &columns {
                None => {
                    check_header(&fields).map_err(|m| invalid(at, &m))?;
                    columns = Some(fields);
                    header_line = at;
                }
                Some(header) if fields.len() != header.len() => {
                    let message = format!(
                        "row has {} fields; the header names {}",
                        fields.len(),
                        header.len()
                    );
                    return Err(invalid(at, &message));
                }
                Some(_) => rows.push(CuratedRow { line: at, fields }),
            }
        }
        let source = source.ok_or_else(|| invalid(1, "missing '# source:' header line"))?;
        let version = version.ok_or_else(|| invalid(1, "missing '# version:' header line"))?;
        let columns = columns.ok_or_else(|| invalid(1, "missing header row"))?;
        Ok(Self {
            name: name.to_owned(),
            source,
            version,
            licence,
            columns,
            header_line,
            rows,
        })
    }

    /// Index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Where the table came from.
    pub fn source(&self) -> TableSource {
        TableSource {
            source: self.source.clone(),
            version: self.version.clone(),
            licence: self.licence.clone(),
        }
    }

    /// The records with their fields in the order `required` then `optional` name them
    /// (an absent optional column reads as empty). Refuses a table whose header lacks a
    /// required column or names one that is neither.
    pub fn select(
        &self,
        required: &[&str],
        optional: &[&str],
    ) -> Result<Vec<CuratedRow>, TableError> {
        let header_line = self.header_line;
        for c in required {
            if self.column(c).is_none() {
                return Err(TableError::row(
                    &self.name,
                    header_line,
                    format!("the header row lacks column {c}"),
                ));
            }
        }
        if let Some(unknown) = self
            .columns
            .iter()
            .find(|c| !required.contains(&c.as_str()) && !optional.contains(&c.as_str()))
        {
            return Err(TableError::row(
                &self.name,
                header_line,
                format!("the header row names an unknown column {unknown}"),
            ));
        }
        let at: Vec<Option<usize>> = required
            .iter()
            .chain(optional)
            .map(|c| self.column(c))
            .collect();
        Ok(self
            .rows
            .iter()
            .map(|row| CuratedRow {
                line: row.line,
                fields: at
                    .iter()
                    .map(|i| i.map_or_else(String::new, |i| row.get(i).to_owned()))
                    .collect(),
            })
            .collect())
    }
}

/// Header names must be non-empty and unique.
fn check_header(fields: &[String]) -> Result<(), String> {
    for (i, name) in fields.iter().enumerate() {
        if name.is_empty() {
            return Err(format!("header column {} has no name", i + 1));
        }
        if fields[..i].contains(name) {
            return Err(format!("the header row names column {name} twice"));
        }
    }
    Ok(())
}

/// The trimmed fields of one CSV line; `None` when a quote is left open.
fn split(line: &str) -> Option<Vec<String>> {
    if !line.matches('"').count().is_multiple_of(2) {
        return None;
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    let record = reader.records().next()?.ok()?;
    Some(record.iter().map(|f| f.trim().to_owned()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines_columns_and_rows_are_read_with_their_lines() {
        let text = "\u{feff}# source: test\r\n# version: 1\r\n# licence: CC0\r\n# columns: a is …\r\na,b\r\n1,2\r\n\r\n3,\"4, and more\"\r\n";
        let t = CuratedTable::parse("t.csv", text).unwrap();
        assert_eq!((t.source.as_str(), t.version.as_str()), ("test", "1"));
        assert_eq!(t.licence.as_deref(), Some("CC0"));
        assert_eq!(t.columns, ["a", "b"]);
        assert_eq!(t.rows.len(), 2);
        assert_eq!((t.rows[0].line, t.rows[1].line), (6, 8));
        assert_eq!(t.rows[1].fields, ["3", "4, and more"]);
        assert_eq!(t.column("b"), Some(1));
        assert_eq!(t.rows[1].opt(0), Some("3"));
    }

    #[test]
    fn missing_headers_ragged_rows_and_open_quotes_are_refused_with_a_line() {
        let err = CuratedTable::parse("t.csv", "# version: 1\na\n1\n").unwrap_err();
        assert_eq!(err.to_problem().code, ErrorCode::MappingInvalid);
        assert!(err.message.contains("source"));
        let err = CuratedTable::parse("t.csv", "# source: s\n# version: 1\na,b\n1\n").unwrap_err();
        assert_eq!(err.to_problem().issues[0].location, "t.csv line 4");
        let err =
            CuratedTable::parse("t.csv", "# source: s\n# version: 1\na,b\n1,\"2\n").unwrap_err();
        assert_eq!(err.line, 4);
        let err = CuratedTable::parse("t.csv", "# source: s\n# version: 1\na,a\n").unwrap_err();
        assert_eq!(err.line, 3);
        // After the header a `#` line is a record like any other (here a ragged one).
        let err =
            CuratedTable::parse("t.csv", "# source: s\n# version: 1\na,b\n# note\n").unwrap_err();
        assert_eq!(err.line, 4);
    }

    #[test]
    fn a_loader_selects_its_columns_by_name_in_any_order() {
        let text = "# source: s\n# version: 1\nb,a,c\n2,1,3\n";
        let t = CuratedTable::parse("t.csv", text).unwrap();
        let rows = t.select(&["a", "b"], &["c", "d"]).unwrap();
        assert_eq!(rows[0].fields, ["1", "2", "3", ""]);
        assert_eq!(rows[0].line, 4);
        let missing = t.select(&["a", "z"], &["b", "c"]).unwrap_err();
        assert!(missing.message.contains("lacks column z"), "{missing}");
        assert_eq!(missing.line, 3);
        let unknown = t.select(&["a", "b"], &[]).unwrap_err();
        assert!(unknown.message.contains("unknown column c"), "{unknown}");
    }
}
