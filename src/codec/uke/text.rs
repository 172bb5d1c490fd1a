//! From bytes to lines of fields.
//!
//! UKE files are Shift_JIS (in practice Windows-31J / CP932, which encoding_rs's
//! `SHIFT_JIS` decodes, NEC and IBM extensions included), one record per line, CRLF
//! (LF alone is accepted), fields separated by commas. The 記録条件仕様 has no quoting:
//! a half-width comma cannot occur inside a field (text fields are full-width, and no
//! Shift_JIS trail byte is 0x2C), and `"` is ordinary data. Decoding happens before
//! splitting. A trailing end-of-file mark (0x1A) written by older systems is dropped.
//!
//! A file that is valid UTF-8 and not plain ASCII was re-saved by some tool: Japanese
//! Shift_JIS text is practically never valid UTF-8, so it is read as UTF-8 (BOM dropped)
//! with a warning, since the meaning is unambiguous.

use std::borrow::Cow;

use crate::error::{ErrorCode, Issue, Problem};

/// The decoded text of a claims file, with a warning when it was not Shift_JIS.
pub fn decode(bytes: &[u8]) -> Result<(String, Option<Issue>), Problem> {
    let bytes = bytes.strip_suffix(&[0x1A]).unwrap_or(bytes);
    // Some systems write a UTF-8 byte-order mark before Shift_JIS text: it is no record.
    let (bytes, bom) = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => (rest, 3),
        None => (bytes, 0),
    };
    if !bytes.is_ascii()
        && let Ok(text) = std::str::from_utf8(bytes)
    {
        let issue = Issue::warning(
            ErrorCode::UkeEncoding,
            "byte 0",
            "file is UTF-8, not Shift_JIS; read as UTF-8",
        );
        refuse_control_characters(text)?;
        return Ok((text.to_owned(), Some(issue)));
    }
    let bom_issue = (bom > 0).then(|| {
        Issue::warning(
            ErrorCode::UkeEncoding,
            "byte 0",
            "a UTF-8 byte-order mark precedes the Shift_JIS text; dropped",
        )
    });
    match encoding_rs::SHIFT_JIS.decode_without_bom_handling_and_without_replacement(bytes) {
        Some(text) => refuse_control_characters(&text).map(|()| (text.into_owned(), bom_issue)),
        None => Err(Problem::new(
            ErrorCode::UkeEncoding,
            format!("byte {}", first_malformed(bytes) + bom),
            "byte sequence is not valid Shift_JIS (CP932)",
        )),
    }
}

/// A record is text: a control character other than CR, LF and tab (a NUL, say) is not
/// UKE data, and no database should be handed one.
fn refuse_control_characters(text: &str) -> Result<(), Problem> {
    let Some(at) = text
        .bytes()
        .position(|b| b < 0x20 && !matches!(b, b'\r' | b'\n' | b'\t'))
    else {
        return Ok(());
    };
    let line = text.as_bytes()[..at]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1;
    Err(Problem::new(
        ErrorCode::UkeEncoding,
        format!("line {line}"),
        "a control character (below U+0020 other than CR, LF and tab) is not UKE text",
    ))
}

/// Offset of the first byte the decoder refuses.
fn first_malformed(bytes: &[u8]) -> usize {
    let mut decoder = encoding_rs::SHIFT_JIS.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(
        decoder
            .max_utf8_buffer_length_without_replacement(bytes.len())
            .unwrap_or(0),
    );
    let (result, read) = decoder.decode_to_string_without_replacement(bytes, &mut out, true);
    match result {
        encoding_rs::DecoderResult::Malformed(bad, after) => {
            read.saturating_sub(usize::from(bad) + usize::from(after))
        }
        _ => read,
    }
}

/// The non-empty lines of a decoded file with their 1-based line numbers.
pub fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.strip_suffix('\r').unwrap_or(line)))
        .filter(|(_, line)| !line.trim().is_empty())
}

/// A field without the padding the specification allows (trailing half- and full-width
/// spaces) and without surrounding half-width spaces.
pub fn clean(field: &str) -> &str {
    field
        .trim_end_matches([' ', '\u{3000}'])
        .trim_start_matches(' ')
}

/// The ASCII digits of a numeric field; full-width digits are folded. `None` when other
/// characters remain, `Some("")` when the field is empty.
pub fn digits(field: &str) -> Option<Cow<'_, str>> {
    let field = field.trim_matches([' ', '\u{3000}']);
    if field.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Cow::Borrowed(field));
    }
    let mut out = String::with_capacity(field.len());
    for c in field.chars() {
        match c {
            '0'..='9' => out.push(c),
            '０'..='９' => out.push(char::from(b'0' + (c as u32 - '０' as u32) as u8)),
            _ => return None,
        }
    }
    Some(Cow::Owned(out))
}

/// The length a field occupies in Shift_JIS bytes: one for ASCII and half-width
/// katakana, two for everything else. The specification's limits are in bytes.
pub fn sjis_len(field: &str) -> usize {
    field
        .chars()
        .map(|c| {
            if c.is_ascii() || ('\u{FF61}'..='\u{FF9F}').contains(&c) {
                1
            } else {
                2
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_jis_and_cp932_extensions_decode() {
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode("RE,1,氏名　①髙﨑ｶﾅ\r\n");
        let (text, issue) = decode(&bytes).unwrap();
        assert_eq!(text, "RE,1,氏名　①髙﨑ｶﾅ\r\n");
        assert!(issue.is_none());
    }

    #[test]
    fn control_characters_are_refused_with_their_line() {
        let e = decode(b"IR,1\r\nRE,1,K-\x00001\r\n").unwrap_err();
        assert_eq!(e.code, ErrorCode::UkeEncoding);
        assert_eq!(e.issues[0].location, "line 2");
        assert!(decode(b"IR,1\r\nRE,1\r\n\x1a").is_ok());
    }

    #[test]
    fn undecodable_bytes_are_refused_with_an_offset() {
        let err = decode(b"IR,1,\x82\xFF").unwrap_err();
        assert_eq!(err.code, ErrorCode::UkeEncoding);
        assert_eq!(err.issues[0].location, "byte 5");
    }

    #[test]
    fn utf8_files_are_read_with_a_warning() {
        let (text, issue) = decode("\u{feff}IR,1,医院".as_bytes()).unwrap();
        assert_eq!(text, "IR,1,医院");
        assert_eq!(issue.map(|i| i.code), Some(ErrorCode::UkeEncoding));
    }

    #[test]
    fn eof_mark_is_dropped_and_lines_keep_their_numbers() {
        let (text, _) = decode(b"IR,1\r\n\r\nRE,2\nGO,3\r\n\x1A").unwrap();
        let got: Vec<_> = lines(&text).collect();
        assert_eq!(got, vec![(1, "IR,1"), (3, "RE,2"), (4, "GO,3")]);
    }

    #[test]
    fn numeric_fields_fold_full_width_digits() {
        assert_eq!(digits("１２３").as_deref(), Some("123"));
        assert_eq!(digits(" 0138057 ").as_deref(), Some("0138057"));
        assert_eq!(digits("").as_deref(), Some(""));
        assert_eq!(digits("12a"), None);
        assert_eq!(clean("名前　 "), "名前");
    }

    #[test]
    fn byte_length_counts_double_width_characters_twice() {
        assert_eq!(sjis_len("ABC"), 3);
        assert_eq!(sjis_len("ｱｲ"), 2);
        assert_eq!(sjis_len("疑い"), 4);
        assert_eq!(sjis_len("１"), 2);
    }
}
