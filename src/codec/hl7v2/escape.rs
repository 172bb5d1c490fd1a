//! HL7 escape sequences: `\F\ \S\ \T\ \R\ \E\` for the delimiters, `\Xhh…\` for raw
//! bytes, `\.br\` (and `\.sp\`) for line breaks, `\H\ \N\` for highlighting.
//!
//! Reading borrows the raw text when it holds no escape character (the common case) and
//! allocates only when something must be replaced. A sequence kakari does not understand
//! (`\Cxxyy\`, `\Mxxyyzz\`, `\Zxx\`, an unterminated one) is kept exactly as written and
//! flagged, so the caller can report it without losing the text.

use std::borrow::Cow;

use super::delimiters::Delimiters;

/// The unescaped text and whether an escape sequence could not be understood.
pub fn unescape_checked<'a>(raw: &'a str, delimiters: &Delimiters) -> (Cow<'a, str>, bool) {
    let Some(escape) = delimiters.escape else {
        return (Cow::Borrowed(raw), false);
    };
    if !raw.as_bytes().contains(&escape) {
        return (Cow::Borrowed(raw), false);
    }
    let escape_char = escape as char;
    let mut out = String::with_capacity(raw.len());
    let mut malformed = false;
    let mut rest = raw;
    while let Some(start) = rest.find(escape_char) {
        out.push_str(rest.get(..start).unwrap_or(""));
        let after = rest.get(start + 1..).unwrap_or("");
        let Some(len) = after.find(escape_char) else {
            // Unterminated: keep the rest as written.
            malformed = true;
            out.push_str(rest.get(start..).unwrap_or(""));
            rest = "";
            break;
        };
        let sequence = after.get(..len).unwrap_or("");
        if !expand(sequence, delimiters, &mut out) {
            malformed = true;
            out.push(escape_char);
            out.push_str(sequence);
            out.push(escape_char);
        }
        rest = after.get(len + 1..).unwrap_or("");
    }
    out.push_str(rest);
    (Cow::Owned(out), malformed)
}

/// The unescaped text; sequences kakari does not understand stay as written.
pub fn unescape<'a>(raw: &'a str, delimiters: &Delimiters) -> Cow<'a, str> {
    unescape_checked(raw, delimiters).0
}

fn expand(sequence: &str, d: &Delimiters, out: &mut String) -> bool {
    let push = |out: &mut String, b: Option<u8>| match b {
        Some(b) => {
            out.push(b as char);
            true
        }
        None => false,
    };
    match sequence {
        "F" => push(out, Some(d.field)),
        "S" => push(out, Some(d.component)),
        "R" => push(out, Some(d.repetition)),
        "E" => push(out, d.escape),
        "T" => push(out, d.subcomponent),
        ".br" | ".sp" => {
            out.push('\n');
            true
        }
        "H" | "N" => true,
        _ => match sequence.strip_prefix('X') {
            Some(hex) => push_hex(hex, out),
            None => false,
        },
    }
}

fn push_hex(hex: &str, out: &mut String) -> bool {
    if hex.is_empty() || !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return false;
    }
    let bytes: Vec<u8> = hex
        .as_bytes()
        .chunks(2)
        .filter_map(|pair| std::str::from_utf8(pair).ok())
        .filter_map(|pair| u8::from_str_radix(pair, 16).ok())
        .collect();
    match String::from_utf8(bytes) {
        Ok(text) => {
            out.push_str(&text);
            true
        }
        Err(_) => false,
    }
}

/// Escapes text for writing into a field with these delimiters.
pub fn escape(text: &str, d: &Delimiters) -> String {
    let Some(escape) = d.escape else {
        return text.to_owned();
    };
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let code = match u8::try_from(c).ok() {
            Some(b) if b == escape => Some('E'),
            Some(b) if b == d.field => Some('F'),
            Some(b) if b == d.component => Some('S'),
            Some(b) if b == d.repetition => Some('R'),
            Some(b) if Some(b) == d.subcomponent => Some('T'),
            _ => None,
        };
        match (code, c) {
            (Some(code), _) => {
                out.push(escape as char);
                out.push(code);
                out.push(escape as char);
            }
            (None, '\n') => {
                out.push(escape as char);
                out.push_str(".br");
                out.push(escape as char);
            }
            (None, '\r') => {}
            (None, c) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        let d = Delimiters::default();
        assert!(matches!(unescape("患者太郎", &d), Cow::Borrowed(_)));
    }

    #[test]
    fn delimiter_escapes_hex_and_line_breaks_are_decoded() {
        let d = Delimiters::default();
        assert_eq!(
            unescape(r"a\F\b\S\c\T\d\R\e\E\f\.br\g\X414243\h\H\i\N\", &d),
            "a|b^c&d~e\\f\ngABChi"
        );
        assert_eq!(unescape(r"\XE5AEAE\", &d), "宮");
    }

    #[test]
    fn unknown_and_unterminated_sequences_are_kept_and_flagged() {
        let d = Delimiters::default();
        assert_eq!(
            unescape_checked(r"x\Zlocal\y", &d),
            (Cow::Owned(r"x\Zlocal\y".to_owned()), true)
        );
        assert_eq!(
            unescape_checked(r"x\F", &d),
            (Cow::Owned(r"x\F".to_owned()), true)
        );
        assert!(unescape_checked(r"\X4\", &d).1);
    }

    #[test]
    fn escaping_round_trips() {
        let d = Delimiters::default();
        let text = "a|b^c&d~e\\f\ng";
        assert_eq!(unescape(&escape(text, &d), &d), text);
    }
}
