//! The curated code tables shipped in `mappings/`.
//!
//! Format: UTF-8 CSV. The file opens with `# key: value` lines; `# source:` (where the
//! rows came from) and `# version:` (the edition of that source) are required,
//! `# licence:` is recommended. Then one header row names the columns, and every
//! following row has exactly that many fields. Empty lines are ignored.

use crate::error::{ErrorCode, Problem};

/// A parsed curated table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CuratedTable {
    pub source: String,
    pub version: String,
    pub licence: Option<String>,
    pub columns: Vec<String>,
    pub rows: Vec<CuratedRow>,
}

/// One data row and the line it is on (1-based, counting the header lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CuratedRow {
    pub line: usize,
    pub fields: Vec<String>,
}

impl CuratedTable {
    /// Parses a table; `name` locates problems (`mappings/drugs.csv line 12`).
    pub fn parse(name: &str, text: &str) -> Result<Self, Problem> {
        let invalid = |line: usize, message: &str| {
            Problem::new(
                ErrorCode::MappingInvalid,
                format!("{name} line {line}"),
                message.to_owned(),
            )
        };
        let mut source = None;
        let mut version = None;
        let mut licence = None;
        let mut columns: Option<Vec<String>> = None;
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let at = i + 1;
            if let Some(meta) = line.strip_prefix('#') {
                if columns.is_some() {
                    continue;
                }
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
            if line.trim().is_empty() {
                continue;
            }
            let fields = split(line).ok_or_else(|| invalid(at, "line is not valid CSV"))?;
            match &columns {
                None => columns = Some(fields),
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
            source,
            version,
            licence,
            columns,
            rows,
        })
    }

    /// Index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

/// The trimmed fields of one CSV line (quotes allowed, no line breaks inside fields).
fn split(line: &str) -> Option<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line.as_bytes());
    let record = reader.records().next()?.ok()?;
    Some(record.iter().map(|f| f.trim().to_owned()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines_columns_and_rows_are_read_with_their_lines() {
        let text = "# source: test\n# version: 1\n# licence: CC0\na,b\n1,2\n\n3,\"4\"\n";
        let t = CuratedTable::parse("t.csv", text).unwrap();
        assert_eq!((t.source.as_str(), t.version.as_str()), ("test", "1"));
        assert_eq!(t.licence.as_deref(), Some("CC0"));
        assert_eq!(t.columns, ["a", "b"]);
        assert_eq!(t.rows.len(), 2);
        assert_eq!((t.rows[0].line, t.rows[1].line), (5, 7));
        assert_eq!(t.rows[1].fields, ["3", "4"]);
        assert_eq!(t.column("b"), Some(1));
    }

    #[test]
    fn missing_headers_and_ragged_rows_are_refused_with_a_line() {
        let err = CuratedTable::parse("t.csv", "# version: 1\na\n1\n").unwrap_err();
        assert_eq!(err.code, ErrorCode::MappingInvalid);
        let err = CuratedTable::parse("t.csv", "# source: s\n# version: 1\na,b\n1\n").unwrap_err();
        assert_eq!(err.issues[0].location, "t.csv line 4");
    }
}
