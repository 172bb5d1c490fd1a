//! Bytes to JSON, with locations (line and column) and no input echoed in errors.

use serde_json::Value;

use crate::error::{ErrorCode, Problem};

/// Parses a JSON body. Numbers keep their literal (serde_json `arbitrary_precision`), so a
/// decimal `1.50` survives storage and read-back.
pub fn parse(bytes: &[u8]) -> Result<Value, Problem> {
    serde_json::from_slice(bytes).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Eof => "body ends before the JSON value is complete",
            serde_json::error::Category::Syntax => "JSON syntax error",
            serde_json::error::Category::Data => "JSON value cannot be represented",
            serde_json::error::Category::Io => "body could not be read",
        };
        Problem::new(
            ErrorCode::MalformedJson,
            format!("line {} column {}", e.line(), e.column()),
            what,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_the_position_not_the_content() {
        let err = parse(b"{\"name\": \"secret\" oops}").unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedJson);
        assert_eq!(err.issues[0].location, "line 1 column 19");
        assert!(!err.to_string().contains("secret"));
    }

    #[test]
    fn decimals_keep_their_literal() {
        let v = parse(br#"{"value": 1.50}"#).unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"value":1.50}"#);
    }
}
