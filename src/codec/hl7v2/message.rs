//! One HL7 v2 message in ER7 (pipe) form, decoded to text and indexed for lookup.
//!
//! `Message::parse` decodes the bytes first (`charset`), then scans the text once,
//! recording where segments start and end and where their field separators are. Nothing
//! else is split or copied up front: repetitions, components and subcomponents are found
//! inside a field only when asked for, and every value is a slice of the decoded text
//! (`Value::raw`) or, with escapes resolved, a `Cow` that borrows unless an escape had to
//! be replaced. UTF-8 and ASCII input is not copied at all.
//!
//! Segment terminators CR, LF and CRLF are all accepted (LF is reported). Every value
//! knows its `Location`, so issues can say `RXE[2]-2.1` rather than quote the value.

use std::borrow::Cow;

use memchr::memchr3_iter;

use super::charset::{self, Charset, Declared};
use super::delimiters::{Delimiters, YEN_SIGN};
use super::escape;
use super::location::{Location, SegmentName};
use crate::error::{ErrorCode, Issue};

/// The largest message kakari indexes (bytes of decoded text).
pub const MAX_MESSAGE_LEN: usize = 64 * 1024 * 1024;
/// The most segments one message may have.
pub const MAX_SEGMENTS: usize = 200_000;

/// The most segments without data reported one by one (the rest are counted).
const MAX_BLANK_WARNINGS: usize = 20;

/// MLLP start and end of block, sometimes left in stored files.
const VT: u8 = 0x0B;
const FS: u8 = 0x1C;

/// Where one segment lies in the text.
#[derive(Debug, Clone, Copy)]
struct SegmentSpan {
    name: SegmentName,
    occurrence: u32,
    start: u32,
    end: u32,
    /// Range of this segment's field separators in `Message::separators`.
    separators: (u32, u32),
}

/// A parsed message. Cheap to query; borrows the input when it was UTF-8 or ASCII.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    text: Cow<'a, str>,
    delimiters: Delimiters,
    segments: Vec<SegmentSpan>,
    separators: Vec<u32>,
    detected: Charset,
    reply_charset: Charset,
    issues: Vec<Issue>,
}

/// Why no message could be read at all (no usable MSH). The reply is a minimal AR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub issues: Vec<Issue>,
    /// What the bytes looked like, to encode the reply in.
    pub charset: Charset,
}

impl<'a> Message<'a> {
    /// Decodes and indexes one message. Character set problems, LF terminators and
    /// malformed segments become issues on the message; only a missing or unusable MSH
    /// refuses it.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Rejected> {
        let decoded = charset::decode(bytes);
        let bom = decoded.bom;
        let (ambiguous, mut invalid, mut detected) =
            (decoded.ambiguous, decoded.invalid, decoded.detected);
        let mut message = Self::index(decoded.text, detected)?;
        let declared = message.declared_charset();
        if ambiguous && declared == Declared::Known(Charset::ShiftJis) {
            let redecoded = charset::decode_as_shift_jis(bytes);
            invalid = redecoded.invalid;
            detected = redecoded.detected;
            message = Self::index(redecoded.text, detected)?;
        }
        let mut issues = Vec::new();
        if bom {
            issues.push(byte_order_mark_warning());
        }
        message.reply_charset = charset::reconcile(detected, invalid, declared, &mut issues);
        issues.append(&mut message.issues);
        message.issues = issues;
        message.check_header();
        Ok(message)
    }

    /// Indexes text that is already decoded (a UTF-8 feed, a test). The character set
    /// declared in MSH-18 is compared with UTF-8.
    pub fn parse_str(text: &'a str) -> Result<Self, Rejected> {
        Self::parse(text.as_bytes())
    }

    fn index(text: Cow<'a, str>, detected: Charset) -> Result<Self, Rejected> {
        let reject = |issue: Issue| Rejected {
            issues: vec![issue],
            charset: detected,
        };
        if text.len() > MAX_MESSAGE_LEN {
            return Err(reject(Issue::error(
                ErrorCode::Hl7TooLarge,
                "byte 0",
                format!("message is longer than {MAX_MESSAGE_LEN} bytes"),
            )));
        }
        let lead = text
            .bytes()
            .position(|b| !matches!(b, b'\r' | b'\n' | b' ' | b'\t' | VT))
            .unwrap_or(text.len());

        let body = text.get(lead..).unwrap_or("");
        if !body.starts_with("MSH") {
            return Err(reject(Issue::error(
                ErrorCode::Hl7NoHeader,
                format!("byte {lead}"),
                "message does not start with an MSH segment",
            )));
        }
        let (delimiters, yen) = Delimiters::from_header(body).map_err(reject)?;
        let text = if yen {
            Cow::Owned(text.replace(YEN_SIGN, "\\"))
        } else {
            text
        };
        let end = text
            .bytes()
            .rposition(|b| !matches!(b, b'\r' | b'\n' | FS))
            .map_or(lead, |i| (i + 1).max(lead));
        // HL7 writes control characters as escapes (`\Xhh\`); a raw one (NUL, ESC left
        // after decoding, …) is not text any database should be handed. In the header the
        // message cannot be keyed (refused as unreadable); elsewhere it is an error of the
        // message, answered with its own MSH-10 and kept in quarantine.
        let control = text
            .as_bytes()
            .get(lead..end)
            .and_then(|b| {
                b.iter()
                    .position(|&c| c < 0x20 && !matches!(c, b'\r' | b'\n' | b'\t'))
            })
            .map(|at| lead + at);
        let header_end = text.as_bytes().get(lead..end).and_then(|b| {
            b.iter()
                .position(|&c| matches!(c, b'\r' | b'\n'))
                .map(|at| lead + at)
        });
        let control_issue = control.map(|at| {
            Issue::error(
                ErrorCode::Hl7InvalidValue,
                format!("byte {at}"),
                "a control character (below U+0020 other than CR, LF and tab) is in the message; write it as an escape",
            )
        });
        if let (Some(at), Some(issue)) = (control, &control_issue)
            && header_end.is_none_or(|h| at < h)
        {
            return Err(reject(issue.clone()));
        }
        let framed = text.as_bytes().get(..lead).is_some_and(|b| b.contains(&VT))
            || text.as_bytes().get(end..).is_some_and(|b| b.contains(&FS));
        let mut issues: Vec<Issue> = control_issue.into_iter().collect();
        if framed {
            issues.push(Issue::warning(
                ErrorCode::Hl7Framing,
                format!("byte {lead}"),
                "MLLP framing characters (VT before, FS after the message) are in the body; ignored",
            ));
        }
        if yen {
            issues.push(Issue::warning(
                ErrorCode::Hl7Delimiters,
                "MSH-2",
                "escape character written as U+00A5 (yen sign); every U+00A5 was read as a backslash",
            ));
        }
        let mut message = Self {
            text,
            delimiters,
            segments: Vec::new(),
            separators: Vec::new(),
            detected,
            reply_charset: detected,
            issues,
        };
        message.scan(lead, end)?;
        Ok(message)
    }

    /// Finds segment boundaries and field separators in one pass.
    fn scan(&mut self, lead: usize, end: usize) -> Result<(), Rejected> {
        let bytes = self.text.as_bytes().get(..end).unwrap_or_default();
        let field = self.delimiters.field;
        let mut segments: Vec<SegmentSpan> = Vec::with_capacity(16);
        let mut separators: Vec<u32> = Vec::with_capacity(bytes.len() / 8);
        let mut counts: Vec<(SegmentName, u32)> = Vec::with_capacity(16);
        let mut issues = Vec::new();
        let mut start = lead;
        let mut first_separator = separators.len();
        let mut saw_lf = false;
        let mut blanks = 0usize;
        let mut close = |start: usize, end: usize, first: usize, separators: &Vec<u32>| {
            if end <= start {
                return true;
            }
            if segments.len() >= MAX_SEGMENTS {
                return false;
            }
            let raw = bytes.get(start..end).unwrap_or_default();
            let name_end = separators
                .get(first)
                .map_or(end, |&s| s as usize)
                .saturating_sub(start);
            let name = match SegmentName::parse(raw) {
                Some(name) if name_end == 3 => name,
                _ => {
                    issues.push(Issue::error(
                        ErrorCode::Hl7SegmentName,
                        format!("segment {} (byte {start})", segments.len() + 1),
                        "segment does not start with a three-character name and a field separator",
                    ));
                    SegmentName::UNREADABLE
                }
            };
            let occurrence = match counts.iter_mut().find(|(n, _)| *n == name) {
                Some((_, count)) => {
                    *count += 1;
                    *count
                }
                None => {
                    counts.push((name, 1));
                    1
                }
            };
            // A segment with nothing after its name but field separators carries no
            // data: it is counted (so later locations stay the sender's) and skipped.
            let blank = name != SegmentName::UNREADABLE
                && name != "MSH"
                && raw
                    .get(3..)
                    .is_some_and(|rest| rest.iter().all(|&b| b == field || b == b' '));
            if blank {
                blanks += 1;
                if blanks <= MAX_BLANK_WARNINGS {
                    issues.push(Issue::warning(
                        ErrorCode::Hl7SegmentIgnored,
                        Location::segment(name, occurrence).to_string(),
                        "segment carries no data (only its name and empty fields); ignored",
                    ));
                }
                return true;
            }
            segments.push(SegmentSpan {
                name,
                occurrence,
                start: start as u32,
                end: end as u32,
                separators: (first as u32, separators.len() as u32),
            });
            true
        };
        for i in memchr3_iter(field, b'\r', b'\n', bytes.get(lead..).unwrap_or_default()) {
            let i = i + lead;
            if bytes.get(i) == Some(&field) {
                separators.push(i as u32);
                continue;
            }
            // Any LF is a departure from HL7's CR, alone or in CRLF.
            if bytes.get(i) == Some(&b'\n') {
                saw_lf = true;
            }
            if !close(start, i, first_separator, &separators) {
                return Err(Rejected {
                    issues: vec![Issue::error(
                        ErrorCode::Hl7TooLarge,
                        format!("byte {i}"),
                        format!("message has more than {MAX_SEGMENTS} segments"),
                    )],
                    charset: self.detected,
                });
            }
            start = i + 1;
            first_separator = separators.len();
        }
        if !close(start, bytes.len(), first_separator, &separators) {
            return Err(Rejected {
                issues: vec![Issue::error(
                    ErrorCode::Hl7TooLarge,
                    format!("byte {}", bytes.len()),
                    format!("message has more than {MAX_SEGMENTS} segments"),
                )],
                charset: self.detected,
            });
        }
        if blanks > MAX_BLANK_WARNINGS {
            issues.push(Issue::warning(
                ErrorCode::Hl7SegmentIgnored,
                "MSH",
                format!(
                    "{} more segments carry no data; ignored, not listed",
                    blanks - MAX_BLANK_WARNINGS
                ),
            ));
        }
        if saw_lf {
            issues.insert(
                0,
                Issue::warning(
                    ErrorCode::Hl7SegmentTerminator,
                    "MSH",
                    "segments end with LF or CRLF; HL7 requires CR (read as segment ends)",
                ),
            );
        }
        self.segments = segments;
        self.separators = separators;
        self.issues.append(&mut issues);
        Ok(())
    }

    /// What MSH-18 and MSH-20 declare.
    pub fn declared_charset(&self) -> Declared {
        let msh = self.msh();
        charset::declared(msh.field(18).raw(), msh.field(20).raw())
    }

    fn check_header(&mut self) {
        let msh = self.msh();
        let mut issues = Vec::new();
        for (field, what) in [
            (9, "message type"),
            (10, "message control id"),
            (11, "processing id"),
            (12, "version id"),
        ] {
            if msh.field(field).is_empty() {
                issues.push(Issue::error(
                    ErrorCode::Hl7RequiredMissing,
                    msh.location().with_field(field).to_string(),
                    format!("required field ({what}) is empty"),
                ));
            }
        }
        let version = msh.field(12).component(1);
        if !version.is_empty() && !version.raw().starts_with("2.") {
            issues.push(Issue::error(
                ErrorCode::Hl7UnsupportedVersion,
                version.location().to_string(),
                "version is not HL7 v2.x",
            ));
        }
        self.issues.append(&mut issues);
    }

    /// The decoded text.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn delimiters(&self) -> &Delimiters {
        &self.delimiters
    }

    /// What the bytes were.
    pub fn detected_charset(&self) -> Charset {
        self.detected
    }

    /// The character set a reply to this message must use.
    pub fn reply_charset(&self) -> Charset {
        self.reply_charset
    }

    /// Issues found while decoding and indexing.
    pub fn issues(&self) -> &[Issue] {
        &self.issues
    }

    /// True when an issue of error severity was found.
    pub fn has_errors(&self) -> bool {
        self.issues.iter().any(Issue::is_error)
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    fn view(&self, index: usize) -> Option<Segment<'_>> {
        let span = self.segments.get(index)?;
        let (from, to) = span.separators;
        Some(Segment {
            text: &self.text,
            delimiters: &self.delimiters,
            span: *span,
            separators: self
                .separators
                .get(from as usize..to as usize)
                .unwrap_or_default(),
        })
    }

    /// The MSH segment (always the first).
    pub fn msh(&self) -> Segment<'_> {
        self.view(0).unwrap_or(Segment {
            text: "",
            delimiters: &self.delimiters,
            span: SegmentSpan {
                name: SegmentName(*b"MSH"),
                occurrence: 1,
                start: 0,
                end: 0,
                separators: (0, 0),
            },
            separators: &[],
        })
    }

    /// Every segment in order.
    pub fn segments(&self) -> impl Iterator<Item = Segment<'_>> + '_ {
        (0..self.segments.len()).filter_map(|i| self.view(i))
    }

    /// The first segment with this name.
    pub fn first(&self, name: &str) -> Option<Segment<'_>> {
        self.segments().find(|s| s.name() == name)
    }

    /// The value at a location written as `Location` displays it (`PID-3`, `RXE[2]-2.1`).
    pub fn query(&self, location: &str) -> Option<Value<'_>> {
        let at = Location::parse(location)?;
        let segment = self
            .segments()
            .find(|s| s.name() == at.segment && s.occurrence() == at.occurrence)?;
        if at.field == 0 {
            return None;
        }
        let mut value = segment.field(at.field);
        if at.repetition > 0 {
            value = value.repetition(at.repetition);
        }
        if at.component > 0 {
            value = value.component(at.component);
        }
        if at.subcomponent > 0 {
            value = value.subcomponent(at.subcomponent);
        }
        Some(value)
    }

    /// The message type as `code^event^structure` components of MSH-9.
    pub fn message_type(&self) -> (Cow<'_, str>, Cow<'_, str>, Cow<'_, str>) {
        let msh9 = self.msh().field(9);
        (
            msh9.component(1).text(),
            msh9.component(2).text(),
            msh9.component(3).text(),
        )
    }

    /// MSH-10.
    pub fn control_id(&self) -> Cow<'_, str> {
        self.msh().field(10).text()
    }
}

/// The warning for a UTF-8 byte-order mark before a message (or its batch header): HL7
/// text has none, Windows tools often write one; it is unambiguous, so it is dropped.
pub fn byte_order_mark_warning() -> Issue {
    Issue::warning(
        ErrorCode::Hl7ByteOrderMark,
        "byte 0",
        "a UTF-8 byte-order mark precedes the message; ignored",
    )
}

/// One segment of a message.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'m> {
    text: &'m str,
    delimiters: &'m Delimiters,
    span: SegmentSpan,
    separators: &'m [u32],
}

impl<'m> Segment<'m> {
    pub fn name(&self) -> SegmentName {
        self.span.name
    }

    /// 1 for the first segment of this name in the message, 2 for the second …
    pub fn occurrence(&self) -> u32 {
        self.span.occurrence
    }

    pub fn location(&self) -> Location {
        Location::segment(self.span.name, self.span.occurrence)
    }

    /// The segment's text without its terminator.
    pub fn raw(&self) -> &'m str {
        self.text
            .get(self.span.start as usize..self.span.end as usize)
            .unwrap_or("")
    }

    /// Byte offset of the segment in the decoded text.
    pub fn offset(&self) -> usize {
        self.span.start as usize
    }

    fn is_msh(&self) -> bool {
        self.span.name == "MSH"
    }

    /// The number of the last field present.
    pub fn field_count(&self) -> u32 {
        let n = self.separators.len() as u32;
        if self.is_msh() && n > 0 { n + 1 } else { n }
    }

    /// Field `n` (1-based; MSH-1 is the field separator itself). Absent fields are empty.
    pub fn field(&self, n: u32) -> Value<'m> {
        let location = self.location().with_field(n);
        let (raw, literal) = self.field_raw(n);
        Value {
            raw,
            delimiters: self.delimiters,
            location,
            level: if literal {
                Level::Literal
            } else {
                Level::Field
            },
        }
    }

    fn field_raw(&self, n: u32) -> (&'m str, bool) {
        if n == 0 {
            return (self.raw().get(..3).unwrap_or(""), true);
        }
        let index = if self.is_msh() {
            if n == 1 {
                let at = self.separators.first().map_or(0, |&s| s as usize);
                return (self.text.get(at..at + 1).unwrap_or(""), true);
            }
            n - 1
        } else {
            n
        } as usize;
        let Some(&from) = self.separators.get(index - 1) else {
            return ("", false);
        };
        let to = self
            .separators
            .get(index)
            .map_or(self.span.end, |&s| s)
            .max(from + 1);
        let raw = self.text.get(from as usize + 1..to as usize).unwrap_or("");
        (raw, self.is_msh() && n == 2)
    }
}

/// How deep a value sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Field,
    Repetition,
    Component,
    Subcomponent,
    /// MSH-1 and MSH-2 (and a segment name): never split.
    Literal,
}

/// A field, repetition, component or subcomponent: a slice of the decoded text with its
/// location.
#[derive(Debug, Clone, Copy)]
pub struct Value<'m> {
    raw: &'m str,
    delimiters: &'m Delimiters,
    location: Location,
    level: Level,
}

impl<'m> Value<'m> {
    /// The text as written, escapes unresolved.
    pub fn raw(&self) -> &'m str {
        self.raw
    }

    /// The text with escape sequences resolved; borrows unless one had to be replaced.
    pub fn text(&self) -> Cow<'m, str> {
        escape::unescape(self.raw, self.delimiters)
    }

    /// The text and whether an escape sequence was not understood (kept as written).
    pub fn text_checked(&self) -> (Cow<'m, str>, bool) {
        escape::unescape_checked(self.raw, self.delimiters)
    }

    /// The text when not empty. HL7's explicit null `""` counts as empty.
    pub fn non_empty(&self) -> Option<Cow<'m, str>> {
        (!self.is_empty()).then(|| self.text())
    }

    /// True for an absent or empty value, and for HL7's explicit null `""`.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty() || self.raw == "\"\""
    }

    pub fn location(&self) -> Location {
        self.location
    }

    fn piece(&self, separator: u8, n: u32) -> &'m str {
        if n == 0 {
            return "";
        }
        let mut boundaries = memchr::memchr_iter(separator, self.raw.as_bytes());
        let mut start = 0;
        for _ in 1..n {
            match boundaries.next() {
                Some(at) => start = at + 1,
                None => return "",
            }
        }
        let end = boundaries.next().unwrap_or(self.raw.len());
        self.raw.get(start..end).unwrap_or("")
    }

    /// Repetition `n` (1-based) of a field.
    pub fn repetition(&self, n: u32) -> Value<'m> {
        let raw = match self.level {
            Level::Field => self.piece(self.delimiters.repetition, n),
            Level::Literal if n == 1 => self.raw,
            _ if n == 1 => self.raw,
            _ => "",
        };
        Value {
            raw,
            location: Location {
                repetition: n,
                ..self.location
            },
            level: if self.level == Level::Literal {
                Level::Literal
            } else {
                Level::Repetition
            },
            ..*self
        }
    }

    /// Every repetition of a field (one for other levels), in one pass over the field.
    pub fn repetitions(&self) -> impl Iterator<Item = Value<'m>> + use<'m> {
        let this = *self;
        let separator = match self.level {
            Level::Field => Some(self.delimiters.repetition as char),
            _ => None,
        };
        let mut rest = (!self.raw.is_empty() || separator.is_none()).then_some(self.raw);
        let mut n = 0u32;
        std::iter::from_fn(move || {
            let current = rest?;
            let (raw, tail) = match separator.and_then(|s| current.split_once(s)) {
                Some((raw, tail)) => (raw, Some(tail)),
                None => (current, None),
            };
            rest = tail;
            n += 1;
            Some(Value {
                raw,
                location: Location {
                    repetition: n,
                    ..this.location
                },
                level: if this.level == Level::Literal {
                    Level::Literal
                } else {
                    Level::Repetition
                },
                ..this
            })
        })
    }

    /// Component `n` (1-based); on a field, of its first repetition.
    pub fn component(&self, n: u32) -> Value<'m> {
        let base = match self.level {
            Level::Field => self.repetition(1),
            _ => *self,
        };
        let raw = match base.level {
            Level::Repetition => base.piece(self.delimiters.component, n),
            Level::Literal if n == 1 => base.raw,
            _ if n == 1 => base.raw,
            _ => "",
        };
        Value {
            raw,
            location: Location {
                repetition: if self.level == Level::Field {
                    0
                } else {
                    base.location.repetition
                },
                component: n,
                ..base.location
            },
            level: if base.level == Level::Literal {
                Level::Literal
            } else {
                Level::Component
            },
            ..base
        }
    }

    /// Subcomponent `n` (1-based) of a component (of component 1 when called higher up).
    pub fn subcomponent(&self, n: u32) -> Value<'m> {
        let base = match self.level {
            Level::Field | Level::Repetition => self.component(1),
            _ => *self,
        };
        let raw = match (base.level, self.delimiters.subcomponent) {
            (Level::Component, Some(sub)) => base.piece(sub, n),
            _ if n == 1 => base.raw,
            _ => "",
        };
        Value {
            raw,
            location: Location {
                subcomponent: n,
                ..base.location
            },
            level: if base.level == Level::Literal {
                Level::Literal
            } else {
                Level::Subcomponent
            },
            ..base
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADT: &str = "MSH|^~\\&|HIS|SEND|GW|RCV|20111220224447||ADT^A08^ADT_A01|C1|P|2.5||||||~ISO IR87||ISO 2022-1994\rEVN||201112202100\rPID|0001||9999013^^^^PI~X1^^^^MR||患者^太郎^^^^^L^I~カンジャ^タロウ^^^^^L^P||19480405|M\rOBX|1|NM|9N001000000000001^身長^JC10||167.8|cm^cm^ISO+|||||F\rOBX|2|ST|X^Y&Z^99L||a\\F\\b||||||F\r";

    #[test]
    fn fields_components_repetitions_and_subcomponents_are_addressable() {
        let m = Message::parse_str(ADT).unwrap();
        assert_eq!(m.segment_count(), 5);
        let msh = m.msh();
        assert_eq!(msh.field(1).raw(), "|");
        assert_eq!(msh.field(2).raw(), "^~\\&");
        assert_eq!(msh.field(2).component(1).raw(), "^~\\&");
        assert_eq!(msh.field(3).raw(), "HIS");
        assert_eq!(msh.field(18).raw(), "~ISO IR87");
        assert_eq!(msh.field(20).raw(), "ISO 2022-1994");
        assert_eq!(msh.field(21).raw(), "");
        assert_eq!(msh.field_count(), 20);
        let (code, event, structure) = m.message_type();
        assert_eq!((&*code, &*event, &*structure), ("ADT", "A08", "ADT_A01"));

        let pid = m.first("PID").unwrap();
        assert_eq!(pid.field(3).component(1).raw(), "9999013");
        assert_eq!(pid.field(3).repetitions().count(), 2);
        assert_eq!(pid.field(3).repetition(2).component(1).raw(), "X1");
        let kana = pid.field(5).repetition(2).component(1);
        assert_eq!(kana.raw(), "カンジャ");
        assert_eq!(kana.location().to_string(), "PID-5[2].1");
        assert_eq!(pid.field(99).raw(), "");
        assert!(pid.field(99).is_empty());

        let obx2 = m.query("OBX[2]-3.2.2").unwrap();
        assert_eq!(obx2.raw(), "Z");
        assert_eq!(obx2.location().to_string(), "OBX[2]-3.2.2");
        assert_eq!(m.query("OBX[2]-5").unwrap().text(), "a|b");
        assert!(matches!(
            m.query("OBX-5").unwrap().text(),
            Cow::Borrowed("167.8")
        ));
        assert_eq!(m.query("PID-8").unwrap().raw(), "M");
    }

    #[test]
    fn utf8_input_is_borrowed_not_copied() {
        let m = Message::parse_str(ADT).unwrap();
        assert!(matches!(m.text, Cow::Borrowed(_)));
        assert_eq!(m.detected_charset(), Charset::Utf8);
    }

    #[test]
    fn lf_and_crlf_terminators_are_read_and_reported() {
        for terminator in ["\n", "\r\n"] {
            let text = ADT.replace('\r', terminator);
            let m = Message::parse_str(&text).unwrap();
            assert_eq!(m.segment_count(), 5, "{terminator:?}");
            assert_eq!(m.first("PID").unwrap().field(8).raw(), "M");
            assert!(
                m.issues()
                    .iter()
                    .any(|i| i.code == ErrorCode::Hl7SegmentTerminator)
            );
        }
        let m = Message::parse_str(ADT).unwrap();
        assert!(
            !m.issues()
                .iter()
                .any(|i| i.code == ErrorCode::Hl7SegmentTerminator)
        );
    }

    #[test]
    fn messages_without_header_are_rejected() {
        for bad in ["", "PID|1", "\r\n", "MSH", "MSHX", "MS"] {
            assert!(Message::parse_str(bad).is_err(), "{bad:?}");
        }
        let rejected = Message::parse(&[0xFB, 0xFC]).unwrap_err();
        assert_eq!(rejected.issues[0].code, ErrorCode::Hl7NoHeader);
    }

    #[test]
    fn malformed_segment_names_and_missing_header_fields_are_issues() {
        let m = Message::parse_str("MSH|^~\\&|A\rpid|1\rPID|1\r").unwrap();
        let codes: Vec<_> = m
            .issues()
            .iter()
            .map(|i| (i.code, i.location.clone()))
            .collect();
        assert!(codes.contains(&(ErrorCode::Hl7SegmentName, "segment 2 (byte 11)".into())));
        assert!(codes.contains(&(ErrorCode::Hl7RequiredMissing, "MSH-9".into())));
        assert!(codes.contains(&(ErrorCode::Hl7RequiredMissing, "MSH-10".into())));
        assert_eq!(m.segments().nth(1).unwrap().name(), SegmentName::UNREADABLE);
    }

    #[test]
    fn segments_without_data_are_skipped_counted_and_reported_within_bounds() {
        let m =
            Message::parse_str("MSH|^~\\&|A|B|||||ADT^A08|1|P|2.5\rNTE|\rNTE|1||x\rRXA\r").unwrap();
        assert_eq!(m.segment_count(), 2);
        // The second NTE keeps its place in the sender's count.
        assert_eq!(m.query("NTE[2]-3").unwrap().raw(), "x");
        let skipped: Vec<&str> = m.issues().iter().map(|i| i.location.as_str()).collect();
        assert_eq!(skipped, ["NTE", "RXA"]);
        let flood = format!(
            "MSH|^~\\&|A|B|||||ADT^A08|1|P|2.5\r{}",
            "NTE||\r".repeat(500)
        );
        let m = Message::parse_str(&flood).unwrap();
        assert_eq!(m.issues().len(), MAX_BLANK_WARNINGS + 1);
        assert!(
            m.issues()[MAX_BLANK_WARNINGS]
                .message
                .starts_with("480 more")
        );
    }

    #[test]
    fn a_byte_order_mark_is_removed_and_reported() {
        let m =
            Message::parse(b"\xEF\xBB\xBFMSH|^~\\&|A|B|||||ADT^A08|1|P|2.5\rPID|1||7\r").unwrap();
        assert_eq!(m.issues()[0].code, ErrorCode::Hl7ByteOrderMark);
        assert_eq!(m.query("PID-3").unwrap().raw(), "7");
        assert_eq!(m.detected_charset(), Charset::Ascii);
    }

    #[test]
    fn raw_control_characters_are_errors_with_their_offset() {
        let m = Message::parse(b"MSH|^~\\&|A|B|||||ADT^A08|1|P|2.5\rPID|1||7\x008\r").unwrap();
        assert_eq!(m.issues()[0].code, ErrorCode::Hl7InvalidValue);
        assert_eq!(m.issues()[0].location, "byte 41");
        assert!(m.issues()[0].is_error());
        // In the header the message cannot be keyed: unreadable.
        let e = Message::parse(b"MSH|^~\\&|A|B|||||ADT^A08|1\x00|P|2.5\rPID|1||7\r").unwrap_err();
        assert_eq!(e.issues[0].code, ErrorCode::Hl7InvalidValue);
    }

    #[test]
    fn mllp_framing_left_in_a_file_is_ignored_and_reported() {
        let m = Message::parse(b"\x0bMSH|^~\\&|A|B|||||ADT^A08|1|P|2.5\rPID|1||7\r\x1c\r").unwrap();
        assert_eq!(m.segment_count(), 2);
        assert_eq!(m.query("PID-3").unwrap().raw(), "7");
        assert_eq!(m.issues()[0].code, ErrorCode::Hl7Framing);
    }

    #[test]
    fn yen_sign_escape_characters_are_read_as_backslash() {
        let m = Message::parse_str(
            "MSH|^~¥&|A|B|||||ADT^A08|1|P|2.5||||||UNICODE UTF-8\rNTE|1||a¥F¥b\r",
        )
        .unwrap();
        assert_eq!(m.query("NTE-3").unwrap().text(), "a|b");
        assert!(
            m.issues()
                .iter()
                .any(|i| i.code == ErrorCode::Hl7Delimiters && !i.is_error())
        );
    }
}
