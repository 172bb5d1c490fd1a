//! Bytes to JSON, with locations (line and column) and no input echoed in errors.
//!
//! The reader is stricter than JSON itself, as FHIR is:
//! * an object may not hold the same key twice (RFC 8259 only says keys *should* be
//!   unique; a reader that keeps the last one silently changes what was sent);
//! * a number must fit a FHIR decimal: at most [`MAX_SIGNIFICANT_DIGITS`] significant digits,
//!   a magnitude between 1e-[`MAX_EXPONENT`] and 1e+[`MAX_EXPONENT`], and a literal of at
//!   most [`MAX_NUMBER_LITERAL`] characters. Literals are kept as written (serde_json
//!   `arbitrary_precision`), so `1.50` survives storage and read-back.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::{ErrorCode, Problem};

/// Most significant digits of a number (FHIR decimals are required to hold 18).
pub const MAX_SIGNIFICANT_DIGITS: usize = 18;
/// Largest decimal exponent of a number's leading digit, either way (a 128-bit decimal).
pub const MAX_EXPONENT: i64 = 28;
/// Longest number literal, in characters.
pub const MAX_NUMBER_LITERAL: usize = 64;

/// Why the reader refused a value it could parse; carried through serde as the error
/// message and turned back into a code by [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    DuplicateKey,
    NumberOutOfRange,
}

impl Refusal {
    const ALL: [Refusal; 2] = [Refusal::DuplicateKey, Refusal::NumberOutOfRange];

    fn marker(self) -> &'static str {
        match self {
            Refusal::DuplicateKey => "kakari-json: duplicate key",
            Refusal::NumberOutOfRange => "kakari-json: number out of range",
        }
    }

    fn code(self) -> ErrorCode {
        match self {
            Refusal::DuplicateKey => ErrorCode::DuplicateKey,
            Refusal::NumberOutOfRange => ErrorCode::NumberOutOfRange,
        }
    }

    fn message(self) -> &'static str {
        match self {
            Refusal::DuplicateKey => "an object holds this key a second time",
            Refusal::NumberOutOfRange => {
                "the number has more than 18 significant digits, a magnitude outside 1e-28..1e28, or an overlong literal"
            }
        }
    }

    fn error<E: de::Error>(self) -> E {
        E::custom(self.marker())
    }
}

/// Parses a JSON body (see the module documentation for what is refused).
pub fn parse(bytes: &[u8]) -> Result<Value, Problem> {
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    StrictValue
        .deserialize(&mut reader)
        .and_then(|value| reader.end().map(|()| value))
        .map_err(|e| {
            let location = format!("line {} column {}", e.line(), e.column());
            let text = e.to_string();
            if let Some(refusal) = Refusal::ALL
                .into_iter()
                .find(|r| text.starts_with(r.marker()))
            {
                return Problem::new(refusal.code(), location, refusal.message());
            }
            let what = match e.classify() {
                serde_json::error::Category::Eof => "body ends before the JSON value is complete",
                serde_json::error::Category::Syntax => "JSON syntax error",
                serde_json::error::Category::Data => "JSON value cannot be represented",
                serde_json::error::Category::Io => "body could not be read",
            };
            Problem::new(ErrorCode::MalformedJson, location, what)
        })
}

/// True when `text` holds a character FHIR strings may not hold (below U+0020 other
/// than tab, CR and LF). Schema checks refuse such strings in bodies
/// (`validation::SchemaCheck`), the request gate and the search parser in queries.
pub fn has_control_character(text: &str) -> bool {
    text.bytes()
        .any(|b| b < 0x20 && !matches!(b, b'\t' | b'\r' | b'\n'))
}

/// Whether a JSON number literal fits a FHIR decimal (see the module documentation).
pub fn number_in_range(literal: &str) -> bool {
    if literal.len() > MAX_NUMBER_LITERAL {
        return false;
    }
    let unsigned = literal.strip_prefix('-').unwrap_or(literal);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], &unsigned[at + 1..]),
        None => (unsigned, "0"),
    };
    // The literal is at most 64 characters, so the exponent fits easily once parsed.
    let Ok(exponent) = exponent.trim_start_matches('+').parse::<i64>() else {
        return false;
    };
    let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: Vec<u8> = integer.bytes().chain(fraction.bytes()).collect();
    let Some(first) = digits.iter().position(|&d| d != b'0') else {
        return true; // zero, however written
    };
    let significant = digits.len() - first;
    // Exponent of the leading digit: 123.4 → 2, 0.05 → -2.
    let leading = integer.len() as i64 - 1 - first as i64 + exponent;
    significant <= MAX_SIGNIFICANT_DIGITS && (-MAX_EXPONENT..=MAX_EXPONENT).contains(&leading)
}

fn integer_in_range(value: impl fmt::Display) -> bool {
    number_in_range(&value.to_string())
}

/// Builds a `Value` like serde_json's own visitor, refusing what the module refuses.
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// The key serde_json (`arbitrary_precision`) presents a number literal under.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        if !integer_in_range(v) {
            return Err(Refusal::NumberOutOfRange.error());
        }
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        if !integer_in_range(v) {
            return Err(Refusal::NumberOutOfRange.error());
        }
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // Not reached with `arbitrary_precision` (non-integers arrive as literals).
        Number::from_f64(v)
            .filter(|n| number_in_range(&n.to_string()))
            .map(Value::Number)
            .ok_or_else(|| Refusal::NumberOutOfRange.error())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        StrictValue.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Ok(Value::Object(Map::new()));
        };
        if first == NUMBER_TOKEN {
            let literal: String = map.next_value()?;
            if !number_in_range(&literal) {
                return Err(Refusal::NumberOutOfRange.error());
            }
            return Number::from_str(&literal)
                .map(Value::Number)
                .map_err(|_| Refusal::NumberOutOfRange.error());
        }
        let mut object = Map::new();
        let mut key = Some(first);
        while let Some(k) = key {
            if object.contains_key(&k) {
                return Err(Refusal::DuplicateKey.error());
            }
            let value = map.next_value_seed(StrictValue)?;
            object.insert(k, value);
            key = map.next_key::<String>()?;
        }
        Ok(Value::Object(object))
    }
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
        let v = parse(br#"{"value": 1.50, "n": [0, -3, 2.50e-3]}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"n":[0,-3,2.50e-3],"value":1.50}"#
        );
    }

    #[test]
    fn a_repeated_key_is_refused_where_it_repeats() {
        let err = parse(b"{\"a\": 1,\n \"b\": {\"c\": 2, \"c\": 3}}").unwrap_err();
        assert_eq!(err.code, ErrorCode::DuplicateKey);
        assert!(err.issues[0].location.starts_with("line 2 column"), "{err}");
        assert!(parse(b"{\"a\": {\"c\": 1}, \"b\": {\"c\": 1}}").is_ok());
    }

    #[test]
    fn control_characters_are_recognised() {
        assert!(has_control_character("a\u{0}b"));
        assert!(has_control_character("\u{1b}[31m"));
        assert!(!has_control_character(
            "line\nnext\r\n\tindented 山田　太郎"
        ));
    }

    #[test]
    fn numbers_must_fit_a_fhir_decimal() {
        for ok in [
            "0",
            "-0",
            "0.000",
            "1.50",
            "123456789012345678",
            "0.000000000000000000000000001",
            "1e28",
            "9.99e27",
            "-12.5E-3",
        ] {
            assert!(number_in_range(ok), "{ok}");
        }
        for bad in [
            "1e999999",
            "1e29",
            "1e-29",
            "1234567890123456789",
            "0.1234567890123456789",
            "10000000000000000000",
        ] {
            assert!(!number_in_range(bad), "{bad}");
        }
        assert!(!number_in_range(&"1".repeat(200_000)));
        let err = parse(br#"{"valueQuantity": {"value": 1e999999}}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::NumberOutOfRange);
        assert_eq!(err.issues[0].location, "line 1 column 36");
        let long = format!("[{}]", "7".repeat(200_000));
        assert_eq!(
            parse(long.as_bytes()).unwrap_err().code,
            ErrorCode::NumberOutOfRange
        );
        assert_eq!(
            parse(b"[12345678901234567890]").unwrap_err().code,
            ErrorCode::NumberOutOfRange
        );
    }
}
