//! The delimiters a message declares in MSH-1 and MSH-2.
//!
//! HL7 lets every message choose its own: the field separator right after `MSH`, then the
//! component, repetition, escape and subcomponent characters (`|^~\&`). kakari accepts any
//! distinct printable ASCII punctuation. Some UTF-8 feeds converted from Shift_JIS write
//! the escape character as `¥` (U+00A5, the glyph of 0x5C in JIS X 0201); `Message` maps
//! it back to `\` before parsing and says so.

use crate::error::{ErrorCode, Issue};

/// The characters that structure a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiters {
    pub field: u8,
    pub component: u8,
    pub repetition: u8,
    pub escape: Option<u8>,
    pub subcomponent: Option<u8>,
}

impl Default for Delimiters {
    /// `|^~\&`, what nearly every sender uses and what kakari writes.
    fn default() -> Self {
        Self {
            field: b'|',
            component: b'^',
            repetition: b'~',
            escape: Some(b'\\'),
            subcomponent: Some(b'&'),
        }
    }
}

/// The escape character some UTF-8 feeds write instead of `\`.
pub const YEN_SIGN: char = '\u{a5}';

impl Delimiters {
    /// Reads MSH-1 and MSH-2 from the start of a message's text (which must begin with
    /// `MSH`). Returns the delimiters and whether the escape character was written as `¥`.
    pub fn from_header(text: &str) -> Result<(Self, bool), Issue> {
        let bad = |message: &str| Issue::error(ErrorCode::Hl7Delimiters, "MSH-2", message);
        let mut chars = text.get(3..).unwrap_or("").chars();
        let field = chars.next().ok_or_else(|| bad("MSH-1 is missing"))?;
        if !is_delimiter(field) {
            return Err(bad("MSH-1 is not a printable punctuation character"));
        }
        let encoding: Vec<char> = chars
            .take_while(|&c| c != field && c != '\r' && c != '\n')
            .take(6)
            .collect();
        let yen = encoding.get(2) == Some(&YEN_SIGN);
        let mut declared: Vec<char> = encoding.clone();
        if let Some(escape) = declared.get_mut(2).filter(|c| **c == YEN_SIGN) {
            *escape = '\\';
        }
        if !(2..=5).contains(&declared.len()) {
            return Err(bad("MSH-2 must hold 2 to 5 encoding characters"));
        }
        let mut all = vec![field];
        all.extend(declared.iter());
        for (i, c) in all.iter().enumerate() {
            if !is_delimiter(*c) || all.get(..i).is_some_and(|before| before.contains(c)) {
                return Err(bad(
                    "encoding characters must be distinct printable punctuation characters",
                ));
            }
        }
        let byte = |i: usize| declared.get(i).map(|&c| c as u8);
        Ok((
            Self {
                field: field as u8,
                component: byte(0).unwrap_or(b'^'),
                repetition: byte(1).unwrap_or(b'~'),
                escape: byte(2),
                subcomponent: byte(3),
            },
            yen,
        ))
    }

    /// The MSH-2 text of these delimiters.
    pub fn encoding_characters(&self) -> String {
        let mut s = String::with_capacity(4);
        s.push(self.component as char);
        s.push(self.repetition as char);
        if let Some(e) = self.escape {
            s.push(e as char);
            if let Some(sub) = self.subcomponent {
                s.push(sub as char);
            }
        }
        s
    }
}

fn is_delimiter(c: char) -> bool {
    c.is_ascii_punctuation()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_and_unusual_delimiters_are_read() {
        let (d, yen) = Delimiters::from_header("MSH|^~\\&|A").unwrap();
        assert_eq!(d, Delimiters::default());
        assert!(!yen);
        let (d, _) = Delimiters::from_header("MSH#*@!%#A").unwrap();
        assert_eq!(d.field, b'#');
        assert_eq!(d.component, b'*');
        assert_eq!(d.subcomponent, Some(b'%'));
        let (d, _) = Delimiters::from_header("MSH|^~|A").unwrap();
        assert_eq!(d.escape, None);
        assert_eq!(d.encoding_characters(), "^~");
    }

    #[test]
    fn a_yen_sign_escape_is_read_as_backslash() {
        let (d, yen) = Delimiters::from_header("MSH|^~¥&|A").unwrap();
        assert!(yen);
        assert_eq!(d.escape, Some(b'\\'));
    }

    #[test]
    fn unusable_delimiters_are_refused() {
        for bad in [
            "MSH",
            "MSHA^~\\&",
            "MSH|^|",
            "MSH|^^\\&|",
            "MSH|^~\\&&|",
            "MSH|^~ &|",
        ] {
            let issue = Delimiters::from_header(bad).unwrap_err();
            assert_eq!(issue.code, ErrorCode::Hl7Delimiters, "{bad}");
        }
    }
}
