//! Character sets of HL7 v2 messages: detect what the bytes are, read what MSH-18 / MSH-20
//! declare, decode to text before anything is split, and encode replies back.
//!
//! Inside ISO-2022-JP kanji the bytes `| ^ ~ \ &` occur (宮, 京, 剤 …) and Shift_JIS trail
//! bytes include `\` and `|` (予, 表 …), so splitting raw bytes on delimiters corrupts
//! names. Decoding therefore comes first, from the bytes themselves:
//!
//! * any ESC (0x1B) makes the message ISO-2022-JP (ESC never occurs in Shift_JIS or UTF-8
//!   text), including the JIS X 0201 Roman variant (`ESC ( J`), read as ASCII;
//! * otherwise valid UTF-8 is UTF-8, and pure 7-bit bytes are ASCII;
//! * otherwise valid Shift_JIS is Shift_JIS;
//! * otherwise nothing fits: the text is decoded with replacement characters only so that
//!   the header can be read for the reply, and the message is refused.
//!
//! Where bytes are valid both as UTF-8 and as Shift_JIS and hold no 3- or 4-byte UTF-8
//! sequence (two half-width kana can look like one accented Latin letter), the declaration
//! decides. Every disagreement with MSH-18 is reported; nothing is mis-decoded silently.

use std::borrow::Cow;

use encoding_rs::{Encoding, ISO_2022_JP, SHIFT_JIS, UTF_8};

use crate::error::{ErrorCode, Issue};

/// A character set kakari reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Charset {
    /// 7-bit ASCII (ISO IR6); also what an empty MSH-18 means.
    Ascii,
    /// ISO-2022-JP (`~ISO IR87` with `ISO 2022-1994`), the SS-MIX2 storage encoding.
    Iso2022Jp,
    /// Shift_JIS as Windows writes it (CP932).
    ShiftJis,
    Utf8,
}

impl Charset {
    /// A short stable name for logs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ascii => "ascii",
            Self::Iso2022Jp => "iso-2022-jp",
            Self::ShiftJis => "shift_jis",
            Self::Utf8 => "utf-8",
        }
    }

    /// The MSH-18 value kakari writes for this character set.
    pub fn msh18(self) -> &'static str {
        match self {
            Self::Ascii => "",
            Self::Iso2022Jp => "~ISO IR87",
            Self::ShiftJis => "SJIS",
            Self::Utf8 => "UNICODE UTF-8",
        }
    }

    /// The MSH-20 value kakari writes for this character set.
    pub fn msh20(self) -> &'static str {
        match self {
            Self::Iso2022Jp => "ISO 2022-1994",
            _ => "",
        }
    }

    /// True when text in this set can hold Japanese characters.
    pub fn has_kanji(self) -> bool {
        !matches!(self, Self::Ascii)
    }

    fn encoding(self) -> &'static Encoding {
        match self {
            Self::Iso2022Jp => ISO_2022_JP,
            Self::ShiftJis => SHIFT_JIS,
            Self::Ascii | Self::Utf8 => UTF_8,
        }
    }

    /// Encodes reply text in this set. Characters it cannot hold become `?` (ASCII) or an
    /// HTML numeric reference (encoding_rs's rule); kakari only writes fixed text that fits.
    pub fn encode(self, text: &str) -> Vec<u8> {
        match self {
            Self::Ascii => text
                .chars()
                .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
                .collect(),
            Self::Utf8 => text.as_bytes().to_vec(),
            Self::Iso2022Jp | Self::ShiftJis => self.encoding().encode(text).0.into_owned(),
        }
    }
}

/// What MSH-18 (and MSH-20) declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declared {
    /// MSH-18 and MSH-20 empty: ASCII by the standard's default.
    Default,
    Known(Charset),
    /// A value kakari does not recognise (reported, never echoed: it is structural, but
    /// arbitrary text).
    Unknown,
}

/// The outcome of reading a message's bytes as text.
#[derive(Debug, Clone)]
pub struct Decoded<'a> {
    pub text: Cow<'a, str>,
    /// What the bytes are.
    pub detected: Charset,
    /// True when the bytes are valid both as UTF-8 and as Shift_JIS with nothing that tells
    /// them apart: the declaration decides (`reconcile`).
    pub ambiguous: bool,
    /// True when no supported character set fits the bytes.
    pub invalid: bool,
    /// True when a UTF-8 byte-order mark stood before the message (removed).
    pub bom: bool,
}

/// The UTF-8 byte-order mark some Windows tools write before a file's text.
pub const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// Where a byte-order mark stands at the start of `bytes`, after any run of line ends,
/// blanks or MLLP start-of-block bytes; `None` when there is none.
pub fn byte_order_mark_at(bytes: &[u8]) -> Option<usize> {
    let at = bytes
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0x0B))?;
    bytes
        .get(at..)
        .is_some_and(|rest| rest.starts_with(BYTE_ORDER_MARK))
        .then_some(at)
}

/// Runs `decode_bytes` on `bytes` without their leading byte-order mark, and says so.
fn without_bom<'a>(bytes: &'a [u8], decode_bytes: fn(&[u8]) -> Decoded<'_>) -> Decoded<'a> {
    match byte_order_mark_at(bytes) {
        None => decode_bytes(bytes),
        Some(0) => Decoded {
            bom: true,
            ..decode_bytes(bytes.get(BYTE_ORDER_MARK.len()..).unwrap_or_default())
        },
        Some(at) => {
            let mut owned = bytes.get(..at).unwrap_or_default().to_vec();
            owned.extend_from_slice(bytes.get(at + BYTE_ORDER_MARK.len()..).unwrap_or_default());
            let decoded = decode_bytes(&owned);
            Decoded {
                text: Cow::Owned(decoded.text.into_owned()),
                detected: decoded.detected,
                ambiguous: decoded.ambiguous,
                invalid: decoded.invalid,
                bom: true,
            }
        }
    }
}

/// Decodes `bytes` by what they are (see the module documentation). Never fails: invalid
/// bytes are replaced so that the header stays readable, and `invalid` is set. A UTF-8
/// byte-order mark before the message is removed first, whatever the rest is, and
/// reported through `bom`.
pub fn decode(bytes: &[u8]) -> Decoded<'_> {
    without_bom(bytes, decode_unmarked)
}

fn decode_unmarked(bytes: &[u8]) -> Decoded<'_> {
    if bytes.contains(&0x1B) {
        return decode_iso2022(bytes);
    }
    let body = bytes;
    if body.is_ascii() {
        return Decoded {
            text: Cow::Borrowed(std::str::from_utf8(body).unwrap_or_default()),
            detected: Charset::Ascii,
            ambiguous: false,
            invalid: false,
            bom: false,
        };
    }
    if let Ok(text) = std::str::from_utf8(body) {
        let ambiguous = !has_long_utf8_sequence(body) && is_valid_shift_jis(body);
        return Decoded {
            text: Cow::Borrowed(text),
            detected: Charset::Utf8,
            ambiguous,
            invalid: false,
            bom: false,
        };
    }
    let (text, had_errors) = SHIFT_JIS.decode_without_bom_handling(bytes);
    Decoded {
        text,
        detected: Charset::ShiftJis,
        ambiguous: false,
        invalid: had_errors,
        bom: false,
    }
}

/// Decodes `bytes` as Shift_JIS regardless of what they look like (used when the bytes are
/// ambiguous and MSH-18 declares Shift_JIS).
pub fn decode_as_shift_jis(bytes: &[u8]) -> Decoded<'_> {
    without_bom(bytes, decode_unmarked_as_shift_jis)
}

fn decode_unmarked_as_shift_jis(bytes: &[u8]) -> Decoded<'_> {
    let (text, had_errors) = SHIFT_JIS.decode_without_bom_handling(bytes);
    Decoded {
        text,
        detected: Charset::ShiftJis,
        ambiguous: false,
        invalid: had_errors,
        bom: false,
    }
}

fn decode_iso2022(bytes: &[u8]) -> Decoded<'_> {
    // JIS X 0201 Roman (`ESC ( J`) differs from ASCII only in 0x5C (¥) and 0x7E (‾), which
    // HL7 uses as escape and repetition characters: read it as ASCII.
    let roman = bytes.windows(3).any(|w| w == b"\x1B(J");
    let normalised: Cow<'_, [u8]> = if roman {
        let mut owned = bytes.to_vec();
        let mut i = 0;
        while i + 2 < owned.len() {
            if owned.get(i..i + 3) == Some(b"\x1B(J".as_slice()) {
                if let Some(b) = owned.get_mut(i + 2) {
                    *b = b'B';
                }
                i += 3;
            } else {
                i += 1;
            }
        }
        Cow::Owned(owned)
    } else {
        Cow::Borrowed(bytes)
    };
    let (text, had_errors) = ISO_2022_JP.decode_without_bom_handling(&normalised);
    Decoded {
        text: Cow::Owned(text.into_owned()),
        detected: Charset::Iso2022Jp,
        ambiguous: false,
        invalid: had_errors,
        bom: false,
    }
}

fn has_long_utf8_sequence(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| b >= 0xE0)
}

fn is_valid_shift_jis(bytes: &[u8]) -> bool {
    SHIFT_JIS
        .decode_without_bom_handling_and_without_replacement(bytes)
        .is_some()
}

/// Reads MSH-18 (first non-empty repetition that names a multi-byte set wins) and MSH-20.
pub fn declared(msh18: &str, msh20: &str) -> Declared {
    let mut result = None;
    let mut unknown = false;
    for repetition in msh18.split('~') {
        match name_to_charset(repetition) {
            Some(Some(Charset::Ascii)) => {
                result.get_or_insert(Charset::Ascii);
            }
            Some(Some(charset)) => result = Some(charset),
            Some(None) => {}
            None => unknown = true,
        }
    }
    let scheme = normalise_name(msh20);
    let iso2022_scheme = scheme.starts_with("ISO2022");
    if !(scheme.is_empty() || iso2022_scheme || scheme == "23") {
        unknown = true;
    }
    match result {
        _ if unknown => Declared::Unknown,
        Some(charset) => Declared::Known(charset),
        None if iso2022_scheme => Declared::Known(Charset::Iso2022Jp),
        None => Declared::Default,
    }
}

fn normalise_name(raw: &str) -> String {
    raw.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_' | '.'))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// `Some(None)` for an empty repetition, `None` for an unknown name.
fn name_to_charset(raw: &str) -> Option<Option<Charset>> {
    let name = normalise_name(raw);
    Some(Some(match name.as_str() {
        "" => return Some(None),
        "ASCII" | "ISOIR6" | "ISOIR14" | "USASCII" => Charset::Ascii,
        "ISOIR87" | "ISOIR159" | "ISO2022JP" | "JIS" | "ISOIR87ISOIR159" => Charset::Iso2022Jp,
        "SJIS" | "SHIFTJIS" | "MS932" | "CP932" | "WINDOWS31J" => Charset::ShiftJis,
        "UNICODEUTF8" | "UTF8" | "UNICODE" => Charset::Utf8,
        _ => return None,
    }))
}

/// Compares what the bytes are with what the header declares and says what to tell the
/// sender. Returns the set replies must use: the declared one when it can encode what was
/// received, else the detected one.
pub fn reconcile(
    detected: Charset,
    invalid: bool,
    declared: Declared,
    issues: &mut Vec<Issue>,
) -> Charset {
    const AT: &str = "MSH-18";
    if invalid {
        issues.push(Issue::error(
            ErrorCode::Hl7CharsetInvalid,
            AT,
            format!(
                "bytes are not valid {} (nor any other supported character set); invalid sequences were replaced",
                detected.as_str()
            ),
        ));
    }
    match declared {
        Declared::Unknown => {
            issues.push(Issue::warning(
                ErrorCode::Hl7CharsetUnknown,
                AT,
                format!(
                    "character set not recognised; the bytes were read as {}",
                    detected.as_str()
                ),
            ));
            detected
        }
        Declared::Default if detected == Charset::Ascii => Charset::Ascii,
        Declared::Default => {
            issues.push(Issue::warning(
                ErrorCode::Hl7CharsetMismatch,
                AT,
                format!(
                    "MSH-18 is empty (ASCII) but the bytes are {}; read as {}",
                    detected.as_str(),
                    detected.as_str()
                ),
            ));
            detected
        }
        Declared::Known(claimed) if claimed == detected => claimed,
        // ASCII text is valid in every declared set: reply in the declared one.
        Declared::Known(claimed) if detected == Charset::Ascii => claimed,
        Declared::Known(claimed) => {
            issues.push(Issue::warning(
                ErrorCode::Hl7CharsetMismatch,
                AT,
                format!(
                    "MSH-18 declares {} but the bytes are {}; read as {}",
                    claimed.as_str(),
                    detected.as_str(),
                    detected.as_str()
                ),
            ));
            detected
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso2022(text: &str) -> Vec<u8> {
        ISO_2022_JP.encode(text).0.into_owned()
    }

    #[test]
    fn escape_sequences_mean_iso_2022_jp_and_kanji_bytes_survive() {
        // 宮 is JIS 0x357B, 京 0x357E, 剤 0x3A5E: their bytes include `{`, `~` and `^`.
        let bytes = iso2022("MSH|^~\\&|宮京剤|");
        assert!(bytes.contains(&b'~') && bytes.contains(&b'^'));
        let decoded = decode(&bytes);
        assert_eq!(decoded.detected, Charset::Iso2022Jp);
        assert!(!decoded.invalid);
        assert_eq!(decoded.text, "MSH|^~\\&|宮京剤|");
    }

    #[test]
    fn jis_roman_is_read_as_ascii_so_delimiters_survive() {
        let mut bytes = iso2022("MSH|^~\\&|宮|");
        // Replace the final `ESC ( B` with `ESC ( J`.
        let pos = bytes.windows(3).rposition(|w| w == b"\x1B(B").unwrap();
        bytes[pos + 2] = b'J';
        let decoded = decode(&bytes);
        assert_eq!(decoded.text, "MSH|^~\\&|宮|");
    }

    #[test]
    fn utf8_shift_jis_and_garbage_are_told_apart() {
        let utf8 = decode("PID|||予表".as_bytes());
        assert_eq!(utf8.detected, Charset::Utf8);
        assert!(!utf8.ambiguous);
        let sjis_bytes = SHIFT_JIS.encode("PID|||予表").0.into_owned();
        let sjis = decode(&sjis_bytes);
        assert_eq!(sjis.detected, Charset::ShiftJis);
        assert_eq!(sjis.text, "PID|||予表");
        let garbage = decode(&[b'M', 0xFF, 0xFF, 0x80]);
        assert!(garbage.invalid);
        assert_eq!(decode(b"MSH|").detected, Charset::Ascii);
    }

    #[test]
    fn half_width_kana_pairs_that_look_like_utf8_are_ambiguous() {
        // ﾃｩ in Shift_JIS is 0xC3 0xA9, which is also UTF-8 for é.
        let decoded = decode(&[b'A', 0xC3, 0xA9]);
        assert_eq!(decoded.detected, Charset::Utf8);
        assert!(decoded.ambiguous);
        assert_eq!(decode_as_shift_jis(&[b'A', 0xC3, 0xA9]).text, "Aﾃｩ");
    }

    #[test]
    fn declarations_are_read_with_their_common_misspellings() {
        for spelling in ["~ISO IR87", "ISO IR87", "~ISOIR87", "ISO-IR87", "~iso ir87"] {
            assert_eq!(
                declared(spelling, "ISO 2022-1994"),
                Declared::Known(Charset::Iso2022Jp),
                "{spelling}"
            );
        }
        assert_eq!(
            declared("", "ISO2022-1994"),
            Declared::Known(Charset::Iso2022Jp)
        );
        for spelling in ["SJIS", "Shift_JIS", "SHIFT-JIS", "shift_jis"] {
            assert_eq!(
                declared(spelling, ""),
                Declared::Known(Charset::ShiftJis),
                "{spelling}"
            );
        }
        assert_eq!(
            declared("UNICODE UTF-8", ""),
            Declared::Known(Charset::Utf8)
        );
        assert_eq!(declared("", ""), Declared::Default);
        assert_eq!(declared("ASCII", ""), Declared::Known(Charset::Ascii));
        assert_eq!(declared("EBCDIC", ""), Declared::Unknown);
        assert_eq!(declared("", "UNICODE"), Declared::Unknown);
    }

    #[test]
    fn disagreements_are_reported_and_the_bytes_win() {
        let bytes = SHIFT_JIS.encode("PID|予").0.into_owned();
        let decoded = decode(&bytes);
        let mut issues = Vec::new();
        let reply = reconcile(
            decoded.detected,
            decoded.invalid,
            Declared::Known(Charset::Iso2022Jp),
            &mut issues,
        );
        assert_eq!(reply, Charset::ShiftJis);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].code, ErrorCode::Hl7CharsetMismatch);
        assert!(!issues[0].is_error());

        let mut issues = Vec::new();
        let ascii = decode(b"MSH|");
        assert_eq!(
            reconcile(
                ascii.detected,
                ascii.invalid,
                Declared::Known(Charset::Iso2022Jp),
                &mut issues
            ),
            Charset::Iso2022Jp
        );
        assert!(issues.is_empty());
    }

    #[test]
    fn replies_round_trip_in_their_character_set() {
        let text = "ERR|必須項目がありません";
        for charset in [Charset::Iso2022Jp, Charset::ShiftJis, Charset::Utf8] {
            let bytes = charset.encode(text);
            let back = match charset {
                Charset::Iso2022Jp => decode(&bytes),
                Charset::ShiftJis => decode_as_shift_jis(&bytes),
                _ => decode(&bytes),
            };
            assert_eq!(back.text, text, "{charset:?}");
        }
        assert_eq!(Charset::Ascii.encode("aé"), b"a?");
    }
}
