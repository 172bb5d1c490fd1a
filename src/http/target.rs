//! The request target (path and query) before anything reads it: its length limit, the
//! characters it may not carry, and the value-free form it is logged in.
//!
//! * A target longer than `max_uri_bytes` is refused with 414 `request.uri_too_long`.
//! * A path or query value holding a control character (below U+0020 other than tab, CR
//!   and LF; `%00` included) is refused with 400 `request.invalid_parameter`: FHIR strings
//!   cannot hold one, and no database should be handed one.
//! * Logs carry the route pattern and the parameter *names*, never a value: query strings
//!   carry member ids, names and birth dates (`/fhir/{type}?identifier&birthdate`).

use std::borrow::Cow;

use crate::codec::fhir::json::has_control_character;
use crate::error::{ErrorCode, Problem};

/// Decodes one query component (`+` is a space).
fn decode(component: &str) -> Cow<'_, str> {
    let spaced: Cow<'_, str> = if component.contains('+') {
        Cow::Owned(component.replace('+', " "))
    } else {
        Cow::Borrowed(component)
    };
    match percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy() {
        Cow::Borrowed(_) => spaced,
        Cow::Owned(decoded) => Cow::Owned(decoded),
    }
}

/// A parameter name as it may appear in a log line or a location: a letter, `_` or `$`,
/// then letters, digits, `_`, `-`, `.`, `:` and `$`, at most 64 characters; anything
/// else (a member id or a date sent as a name) is `(name)`.
pub fn loggable_name(name: &str) -> &str {
    let ok = name.len() <= 64
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || matches!(b, b'_' | b'$'))
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'$'));
    if ok { name } else { "(name)" }
}

/// Refuses a target that is too long or carries a control character.
pub fn check(path: &str, query: &str, max_bytes: usize) -> Result<(), Problem> {
    let length = path.len() + if query.is_empty() { 0 } else { query.len() + 1 };
    if length > max_bytes {
        return Err(Problem::new(
            ErrorCode::UriTooLong,
            "request target",
            format!("the path and query may be at most {max_bytes} bytes"),
        ));
    }
    if has_control_character(&decode(path)) {
        return Err(Problem::new(
            ErrorCode::InvalidParameter,
            "path",
            "the path holds a control character",
        ));
    }
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name);
        if has_control_character(&name) || has_control_character(&decode(value)) {
            return Err(Problem::new(
                ErrorCode::InvalidParameter,
                format!("query parameter {}", loggable_name(&name)),
                "the parameter holds a control character (below U+0020 other than tab, CR and LF)",
            ));
        }
    }
    Ok(())
}

/// The target as logged: the route pattern (`/fhir/{type}/{id}`, or `unmatched`) and the
/// query's parameter names in order, without a single value.
pub fn loggable(pattern: Option<&str>, query: &str) -> String {
    let mut out = pattern.unwrap_or("unmatched").to_owned();
    let names: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let name = pair.split_once('=').map_or(pair, |(n, _)| n);
            loggable_name(&decode(name)).to_owned()
        })
        .collect();
    if !names.is_empty() {
        out.push('?');
        out.push_str(&names.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_targets_keep_names_and_drop_values() {
        assert_eq!(
            loggable(
                Some("/fhir/{type}"),
                "identifier=06139463%3A12%3A345%3A01&birthdate=1970-01-01&name%3Aexact=%E5%B1%B1"
            ),
            "/fhir/{type}?identifier&birthdate&name:exact"
        );
        assert_eq!(loggable(None, ""), "unmatched");
        assert_eq!(
            loggable(
                Some("/registrations"),
                "member%3D%E5%B1%B1=x&=y&06139463%3A12=z"
            ),
            "/registrations?(name)&(name)&(name)"
        );
    }

    #[test]
    fn long_targets_and_control_characters_are_refused() {
        assert!(check("/fhir/Patient", "name=a", 64).is_ok());
        assert_eq!(
            check("/fhir/Patient", &"a".repeat(100), 64)
                .unwrap_err()
                .code,
            ErrorCode::UriTooLong
        );
        let e = check("/fhir/Patient", "name=a%00b", 1024).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParameter);
        assert_eq!(e.issues[0].location, "query parameter name");
        assert!(check("/fhir/Patient/a%1Fb", "", 1024).is_err());
        assert!(check("/fhir/Patient", "name=a%09b+c", 1024).is_ok());
    }
}
