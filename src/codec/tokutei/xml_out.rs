//! Small helpers for writing XML text directly: escaped attributes and text, dates.

use quick_xml::escape::escape;
use time::Date;

/// Appends ` name="value"` with the value escaped.
pub(crate) fn push_attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    out.push_str(&escape(value));
    out.push('"');
}

/// Appends escaped character data.
pub(crate) fn push_text(out: &mut String, text: &str) {
    out.push_str(&escape(text));
}

fn push_digits(out: &mut String, value: u32, width: u32) {
    let mut divisor = 10u32.pow(width.saturating_sub(1));
    while divisor > 0 {
        let digit = (value / divisor) % 10;
        out.push(char::from(b'0' + digit as u8));
        divisor /= 10;
    }
}

/// Appends a date as `YYYYMMDD`.
pub(crate) fn push_date(out: &mut String, date: Date) {
    push_digits(out, u32::try_from(date.year()).unwrap_or(0), 4);
    push_digits(out, u32::from(u8::from(date.month())), 2);
    push_digits(out, u32::from(date.day()), 2);
}

/// A date as `YYYYMMDD`.
pub(crate) fn yyyymmdd(date: Date) -> String {
    let mut out = String::with_capacity(8);
    push_date(&mut out, date);
    out
}

/// True when every character may appear in XML 1.0 character data.
pub(crate) fn is_xml_text(text: &str) -> bool {
    text.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn escapes_and_formats() {
        let mut out = String::new();
        push_attr(&mut out, "a", "x<\"&'y");
        push_text(&mut out, "<b>");
        assert_eq!(out, " a=\"x&lt;&quot;&amp;&apos;y\"&lt;b&gt;");
        assert_eq!(yyyymmdd(date!(2024 - 04 - 05)), "20240405");
        assert!(is_xml_text("ケンシン\tタロウ\n"));
        assert!(!is_xml_text("a\u{1}b"));
    }
}
