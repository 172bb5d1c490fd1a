//! Where a value sits in a message, written the way HL7 people write it: `PID-3`,
//! `RXE[2]-2.1`, `TQ1-3.1.2`, `PID-5[2].1` (segment occurrence and field repetition in
//! brackets when not the first), and as an ERR-2 error location (`RXE^2^2^1^1`).

use std::fmt;

/// A segment name: three ASCII characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SegmentName(pub [u8; 3]);

impl SegmentName {
    /// A name from the first three bytes of a segment, when they form one (upper-case
    /// letters and digits, starting with a letter).
    pub fn parse(raw: &[u8]) -> Option<Self> {
        let name: [u8; 3] = raw.get(..3)?.try_into().ok()?;
        let valid = name[0].is_ascii_uppercase()
            && name[1..]
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        valid.then_some(Self(name))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// The placeholder for a segment whose name could not be read.
    pub const UNREADABLE: SegmentName = SegmentName(*b"???");
}

impl fmt::Display for SegmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for SegmentName {
    fn eq(&self, other: &&str) -> bool {
        self.0.as_slice() == other.as_bytes()
    }
}

/// A position in a message. Indices are 1-based as in HL7; 0 means "the whole of the
/// enclosing level".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    pub segment: SegmentName,
    /// Occurrence of this segment name in the message (1 for the first `RXE`).
    pub occurrence: u32,
    pub field: u32,
    pub repetition: u32,
    pub component: u32,
    pub subcomponent: u32,
}

impl Location {
    /// A whole segment.
    pub fn segment(segment: SegmentName, occurrence: u32) -> Self {
        Self {
            segment,
            occurrence,
            field: 0,
            repetition: 0,
            component: 0,
            subcomponent: 0,
        }
    }

    pub fn with_field(self, field: u32) -> Self {
        Self { field, ..self }
    }

    /// The error location of ERR-2 (`SEG^sequence^field^repetition^component^sub`).
    pub fn to_erl(&self) -> String {
        let mut out = format!("{}^{}", self.segment, self.occurrence.max(1));
        let parts = [
            self.field,
            self.repetition.max(u32::from(self.field > 0)),
            self.component,
            self.subcomponent,
        ];
        let used = parts.iter().rposition(|&p| p > 0).map_or(0, |i| i + 1);
        for part in parts.iter().take(used) {
            out.push('^');
            if *part > 0 {
                out.push_str(&part.to_string());
            }
        }
        out
    }

    /// Reads the `Display` form back (`RXE[2]-2.1`); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (head, tail) = match text.split_once('-') {
            Some((h, t)) => (h, Some(t)),
            None => (text, None),
        };
        let (name, occurrence) = bracketed(head)?;
        let mut location = Self::segment(SegmentName::parse(name.as_bytes())?, occurrence);
        if name.len() != 3 {
            return None;
        }
        let Some(tail) = tail else {
            return Some(location);
        };
        let mut parts = tail.split('.');
        let (field, repetition) = bracketed(parts.next()?)?;
        location.field = field.parse().ok()?;
        location.repetition = if tail.contains('[') { repetition } else { 0 };
        if let Some(component) = parts.next() {
            location.component = component.parse().ok()?;
        }
        if let Some(sub) = parts.next() {
            location.subcomponent = sub.parse().ok()?;
        }
        parts.next().is_none().then_some(location)
    }
}

/// `NAME[n]` → (`NAME`, n); `NAME` → (`NAME`, 1).
fn bracketed(text: &str) -> Option<(&str, u32)> {
    match text.split_once('[') {
        Some((name, rest)) => Some((name, rest.strip_suffix(']')?.parse().ok()?)),
        None => Some((text, 1)),
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.segment)?;
        if self.occurrence > 1 {
            write!(f, "[{}]", self.occurrence)?;
        }
        if self.field == 0 {
            return Ok(());
        }
        write!(f, "-{}", self.field)?;
        if self.repetition > 1 {
            write!(f, "[{}]", self.repetition)?;
        }
        if self.component > 0 {
            write!(f, ".{}", self.component)?;
            if self.subcomponent > 0 {
                write!(f, ".{}", self.subcomponent)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(name: &str, occurrence: u32, field: u32, rep: u32, comp: u32, sub: u32) -> Location {
        Location {
            segment: SegmentName::parse(name.as_bytes()).unwrap(),
            occurrence,
            field,
            repetition: rep,
            component: comp,
            subcomponent: sub,
        }
    }

    #[test]
    fn locations_are_written_the_hl7_way_and_read_back() {
        let cases = [
            (at("PID", 1, 3, 0, 0, 0), "PID-3", "PID^1^3^1"),
            (at("RXE", 2, 2, 0, 1, 0), "RXE[2]-2.1", "RXE^2^2^1^1"),
            (at("TQ1", 1, 3, 0, 1, 2), "TQ1-3.1.2", "TQ1^1^3^1^1^2"),
            (at("PID", 1, 5, 2, 1, 0), "PID-5[2].1", "PID^1^5^2^1"),
            (at("OBX", 3, 0, 0, 0, 0), "OBX[3]", "OBX^3"),
        ];
        for (location, text, erl) in cases {
            assert_eq!(location.to_string(), text);
            assert_eq!(location.to_erl(), erl, "{text}");
            let back = Location::parse(text).unwrap();
            assert_eq!(back.to_string(), text);
        }
        assert_eq!(Location::parse("byte 12"), None);
        assert_eq!(Location::parse("PID-x"), None);
        assert_eq!(Location::parse(""), None);
    }

    #[test]
    fn segment_names_are_three_upper_case_characters() {
        assert!(SegmentName::parse(b"ZI1|").is_some());
        assert!(SegmentName::parse(b"pid").is_none());
        assert!(SegmentName::parse(b"1AB").is_none());
        assert!(SegmentName::parse(b"PI").is_none());
    }
}
