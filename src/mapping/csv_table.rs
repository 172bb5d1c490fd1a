//! The file format shared by the tables in `mappings/`: three preamble lines naming the
//! source, version and licence, a header row, then one record per line.
//!
//! ```text
//! # source: where the data comes from
//! # version: which edition
//! # licence: under which terms it is redistributed
//! column_a,column_b
//! …
//! ```

use crate::error::{ErrorCode, Issue, Problem};

/// Where a table came from, as its preamble states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSource {
    pub source: String,
    pub version: String,
    pub licence: String,
}

/// Why a table was refused. Tables hold codes and reference data, never patient data, so
/// messages may quote the offending cell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("{table}: the first lines must be `# source:`, `# version:` and `# licence:`")]
    Preamble { table: &'static str },
    #[error("{table}: header row must be `{expected}`")]
    Header {
        table: &'static str,
        expected: String,
    },
    #[error("{table} line {line}: {message}")]
    Row {
        table: &'static str,
        line: usize,
        message: String,
    },
}

impl TableError {
    pub fn row(table: &'static str, line: usize, message: impl Into<String>) -> Self {
        Self::Row {
            table,
            line,
            message: message.into(),
        }
    }

    /// The refusal a service reports when a configured table cannot be loaded.
    pub fn to_problem(&self) -> Problem {
        Problem::with_issues(
            ErrorCode::MappingInvalid,
            vec![Issue::error(
                ErrorCode::MappingInvalid,
                "",
                self.to_string(),
            )],
        )
    }
}

/// One data record with the 1-based line number it was read from.
#[derive(Debug, Clone)]
pub struct Row {
    pub line: usize,
    fields: csv::StringRecord,
}

impl Row {
    /// The cell in column `index` (as listed in the expected header), trimmed.
    pub fn get(&self, index: usize) -> &str {
        self.fields.get(index).map_or("", str::trim)
    }

    /// The cell, or `None` when it is empty.
    pub fn opt(&self, index: usize) -> Option<&str> {
        Some(self.get(index)).filter(|s| !s.is_empty())
    }
}

/// A parsed table: its preamble and its records, in file order.
#[derive(Debug, Clone)]
pub struct CsvTable {
    pub source: TableSource,
    pub rows: Vec<Row>,
}

const PREAMBLE: [&str; 3] = ["# source:", "# version:", "# licence:"];

/// Parses `text` as the table `name` whose header must be exactly `columns`.
pub fn parse_table(
    name: &'static str,
    text: &str,
    columns: &[&str],
) -> Result<CsvTable, TableError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.splitn(4, '\n');
    let mut preamble = [String::new(), String::new(), String::new()];
    for (slot, prefix) in preamble.iter_mut().zip(PREAMBLE) {
        let line = lines.next().ok_or(TableError::Preamble { table: name })?;
        let value = line
            .trim_end_matches('\r')
            .strip_prefix(prefix)
            .ok_or(TableError::Preamble { table: name })?;
        *slot = value.trim().to_owned();
    }
    let [source, version, licence] = preamble;
    let body = lines.next().unwrap_or("");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(body.as_bytes());
    let header_ok = reader
        .headers()
        .map(|h| h.iter().map(str::trim).eq(columns.iter().copied()))
        .unwrap_or(false);
    if !header_ok {
        return Err(TableError::Header {
            table: name,
            expected: columns.join(","),
        });
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        // Preamble (3 lines) + header (1 line) precede the body.
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize + 3);
            TableError::row(
                name,
                line,
                "not a well-formed CSV record with the header's column count",
            )
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize + 3);
        rows.push(Row {
            line,
            fields: record,
        });
    }
    Ok(CsvTable {
        source: TableSource {
            source,
            version,
            licence,
        },
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "# source: test\n# version: 1\n# licence: CC0\na,b\n1, 2\n3,\n";

    #[test]
    fn reads_preamble_header_and_rows_with_line_numbers() {
        let table = parse_table("t", GOOD, &["a", "b"]).unwrap();
        assert_eq!(table.source.version, "1");
        assert_eq!(table.source.licence, "CC0");
        assert_eq!(table.rows.len(), 2);
        assert_eq!(table.rows[0].get(1), "2");
        assert_eq!(table.rows[0].line, 5);
        assert_eq!(table.rows[1].opt(1), None);
        assert_eq!(table.rows[1].line, 6);
    }

    #[test]
    fn refuses_missing_preamble_wrong_header_and_ragged_rows() {
        assert_eq!(
            parse_table("t", "a,b\n1,2\n", &["a", "b"]).unwrap_err(),
            TableError::Preamble { table: "t" }
        );
        assert!(matches!(
            parse_table("t", GOOD, &["a", "c"]),
            Err(TableError::Header { .. })
        ));
        let ragged = "# source: s\n# version: v\n# licence: l\na,b\n1,2,3\n";
        assert!(matches!(
            parse_table("t", ragged, &["a", "b"]),
            Err(TableError::Row { line: 5, .. })
        ));
    }
}
