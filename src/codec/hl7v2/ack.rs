//! HL7 acknowledgements (ACK) for received messages.
//!
//! The reply swaps sender and receiver, answers `ACK^<event>^ACK` with a control id the
//! caller supplies, states AA / AE / AR in MSA-1 with the original control id in MSA-2,
//! and explains every issue in an ERR segment: ERR-2 the location
//! (`SEG^sequence^field^repetition^component^subcomponent`), ERR-3 the HL7 error code
//! (table 0357), ERR-4 the severity, ERR-5 kakari's own stable code, ERR-7 the fixed
//! diagnostic text of the issue and ERR-8 a fixed message for people (Japanese when the
//! reply's character set can hold it). Issues never carry patient data, so neither does
//! the reply. The reply is encoded in the character set of the message it answers
//! (ISO-2022-JP back for ISO-2022-JP).
//!
//! When not even an MSH could be read, `reject_unreadable` answers a minimal AR.

use time::OffsetDateTime;

use super::charset::Charset;
use super::delimiters::Delimiters;
use super::escape::escape;
use super::location::Location;
use super::message::{Message, Rejected};
use crate::error::{ErrorCode, Issue, Severity};

/// MSA-1 (HL7 table 0008).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    /// AA: accepted (and, by kakari's rule, durably committed).
    Accept,
    /// AE: processed, but with errors.
    Error,
    /// AR: rejected; nothing was kept as data (the input may be quarantined).
    Reject,
}

impl AckCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "AA",
            Self::Error => "AE",
            Self::Reject => "AR",
        }
    }

    /// The code the issues call for: AR when the message could not be read as a message
    /// (header, delimiters, character set, size), AE for other errors, else AA. The
    /// caller still decides: AA is sent only after the data is committed.
    pub fn from_issues(issues: &[Issue]) -> Self {
        let unreadable = |code: ErrorCode| {
            matches!(
                code,
                ErrorCode::Hl7NoHeader
                    | ErrorCode::Hl7Delimiters
                    | ErrorCode::Hl7CharsetInvalid
                    | ErrorCode::Hl7TooLarge
                    | ErrorCode::Hl7UnsupportedVersion
            )
        };
        if issues
            .iter()
            .any(|i| i.severity == Severity::Fatal || (i.is_error() && unreadable(i.code)))
        {
            Self::Reject
        } else if issues.iter().any(Issue::is_error) {
            Self::Error
        } else {
            Self::Accept
        }
    }
}

/// An acknowledgement ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    pub code: AckCode,
    pub charset: Charset,
    /// The reply as text, segments ended by CR.
    pub text: String,
}

impl Acknowledgement {
    /// The reply encoded in its character set.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.charset.encode(&self.text)
    }
}

/// The acknowledgement of `message`. `control_id` becomes MSH-10 of the reply; `issues`
/// are those to report (usually the message's own plus what mapping and storage found).
pub fn acknowledge(
    message: &Message<'_>,
    code: AckCode,
    control_id: &str,
    issues: &[Issue],
    now: OffsetDateTime,
) -> Acknowledgement {
    let d = *message.delimiters();
    let msh = message.msh();
    let charset = message.reply_charset();
    let f = d.field as char;
    let mut text = String::with_capacity(256 + issues.len() * 128);
    text.push_str("MSH");
    text.push(f);
    text.push_str(&d.encoding_characters());
    let fields = [
        msh.field(5).raw().to_owned(),
        msh.field(6).raw().to_owned(),
        msh.field(3).raw().to_owned(),
        msh.field(4).raw().to_owned(),
        timestamp(now),
        String::new(),
        format!(
            "ACK{c}{}{c}ACK",
            msh.field(9).component(2).raw(),
            c = d.component as char
        ),
        escape(control_id, &d),
        msh.field(11).raw().to_owned(),
        msh.field(12).raw().to_owned(),
    ];
    for value in fields {
        text.push(f);
        text.push_str(&value);
    }
    push_charset_fields(&mut text, f, 12, charset);
    text.push('\r');
    push_msa(&mut text, &d, code, msh.field(10).raw());
    push_errors(&mut text, &d, charset, issues);
    Acknowledgement {
        code,
        charset,
        text,
    }
}

/// A minimal AR for bytes in which no MSH could be read. MSA-2 is empty: the original
/// control id is unknown.
pub fn reject_unreadable(
    rejected: &Rejected,
    control_id: &str,
    now: OffsetDateTime,
) -> Acknowledgement {
    let d = Delimiters::default();
    let charset = rejected.charset;
    let mut text = format!(
        "MSH|^~\\&|||||{}||ACK^^ACK|{}|P|2.5",
        timestamp(now),
        escape(control_id, &d)
    );
    push_charset_fields(&mut text, '|', 12, charset);
    text.push('\r');
    push_msa(&mut text, &d, AckCode::Reject, "");
    push_errors(&mut text, &d, charset, &rejected.issues);
    Acknowledgement {
        code: AckCode::Reject,
        charset,
        text,
    }
}

fn push_charset_fields(text: &mut String, f: char, written: usize, charset: Charset) {
    let (msh18, msh20) = (charset.msh18(), charset.msh20());
    if msh18.is_empty() && msh20.is_empty() {
        return;
    }
    for _ in written..17 {
        text.push(f);
    }
    text.push(f);
    text.push_str(msh18);
    if !msh20.is_empty() {
        text.push(f);
        text.push(f);
        text.push_str(msh20);
    }
}

fn push_msa(text: &mut String, d: &Delimiters, code: AckCode, original_control_id: &str) {
    let f = d.field as char;
    text.push_str("MSA");
    text.push(f);
    text.push_str(code.as_str());
    text.push(f);
    text.push_str(original_control_id);
    text.push('\r');
}

fn push_errors(text: &mut String, d: &Delimiters, charset: Charset, issues: &[Issue]) {
    let f = d.field as char;
    let c = d.component as char;
    for issue in issues {
        let location = Location::parse(&issue.location)
            .map(|l| erl(&l, c))
            .unwrap_or_default();
        let (hl7_code, hl7_text) = hl7_error(issue.code);
        let user = if charset.has_kanji() {
            user_message(issue.code)
        } else {
            issue.code.title()
        };
        let fields = [
            String::new(),
            location,
            format!("{hl7_code}{c}{hl7_text}{c}HL70357"),
            severity(issue.severity).to_owned(),
            format!("{}{c}{c}99KKR", issue.code.as_str()),
            String::new(),
            escape(&issue.message, d),
            escape(user, d),
        ];
        text.push_str("ERR");
        for value in fields {
            text.push(f);
            text.push_str(&value);
        }
        text.push('\r');
    }
}

fn erl(location: &Location, component: char) -> String {
    location.to_erl().replace('^', &component.to_string())
}

fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Fatal => "F",
        Severity::Error => "E",
        Severity::Warning => "W",
        Severity::Information => "I",
    }
}

/// MSH-7 form: `YYYYMMDDHHMMSS+ZZZZ`.
fn timestamp(now: OffsetDateTime) -> String {
    let (h, m, _) = now.offset().as_hms();
    let sign = if h < 0 || m < 0 { '-' } else { '+' };
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}{sign}{:02}{:02}",
        now.year(),
        now.month() as u8,
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        h.unsigned_abs(),
        m.unsigned_abs()
    )
}

/// HL7 table 0357 (message error condition codes).
fn hl7_error(code: ErrorCode) -> (u16, &'static str) {
    match code {
        ErrorCode::Hl7SegmentOrder
        | ErrorCode::Hl7SegmentIgnored
        | ErrorCode::Hl7SegmentName
        | ErrorCode::Hl7NoHeader => (100, "Segment sequence error"),
        ErrorCode::Hl7Batch => (100, "Segment sequence error"),
        ErrorCode::Hl7RequiredMissing | ErrorCode::Hl7CoverageIncomplete => {
            (101, "Required field missing")
        }
        ErrorCode::Hl7InvalidValue
        | ErrorCode::Hl7Escape
        | ErrorCode::Hl7Delimiters
        | ErrorCode::Hl7CharsetInvalid
        | ErrorCode::Hl7CharsetMismatch
        | ErrorCode::Hl7CharsetUnknown
        | ErrorCode::Hl7SegmentTerminator
        | ErrorCode::Hl7ByteOrderMark
        | ErrorCode::Hl7Framing => (102, "Data type error"),
        ErrorCode::Hl7UnknownCode => (103, "Table value not found"),
        ErrorCode::Hl7UnsupportedVersion => (203, "Unsupported version id"),
        ErrorCode::IntakeKeyReused => (205, "Duplicate key identifier"),
        _ => (207, "Application internal error"),
    }
}

/// Fixed text for people reading the reply at the sending system.
fn user_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Hl7NoHeader => "MSHセグメントを読み取れません",
        ErrorCode::Hl7Delimiters => "区切り文字（MSH-1、MSH-2）が不正です",
        ErrorCode::Hl7CharsetInvalid => "文字コードが不正なバイト列です",
        ErrorCode::Hl7CharsetMismatch => "MSH-18の文字コードと実際の文字コードが異なります",
        ErrorCode::Hl7CharsetUnknown => "MSH-18またはMSH-20の文字コードに対応していません",
        ErrorCode::Hl7SegmentTerminator => "セグメント区切りはCRにしてください",
        ErrorCode::Hl7Framing => "MLLPの制御文字がメッセージ内にあります",
        ErrorCode::Hl7SegmentName => "セグメント名が不正です",
        ErrorCode::Hl7SegmentOrder => "セグメントの順序がメッセージ構造に合いません",
        ErrorCode::Hl7RequiredMissing => "必須項目がありません",
        ErrorCode::Hl7InvalidValue => "項目の値がデータ型に合いません",
        ErrorCode::Hl7UnknownCode => "コード表にないコードです",
        ErrorCode::Hl7Escape => "エスケープシーケンスを解釈できません",
        ErrorCode::Hl7UnsupportedVersion => "対応していないHL7バージョンです",
        ErrorCode::Hl7Batch => "バッチの構成が不正です",
        ErrorCode::Hl7TooLarge => "メッセージが大きすぎます",
        ErrorCode::Hl7CoverageIncomplete => "保険情報に記号・番号がありません",
        ErrorCode::Hl7ByteOrderMark => "メッセージ先頭のBOMを無視しました",
        ErrorCode::Hl7SegmentIgnored => "メッセージ構造にないセグメントを無視しました",
        other => other.title(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::hl7v2::charset;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2024-04-01 09:30:05 +09:00);

    fn iso2022(text: &str) -> Vec<u8> {
        encoding_rs::ISO_2022_JP.encode(text).0.into_owned()
    }

    #[test]
    fn ack_swaps_parties_and_reports_issues_with_locations() {
        let bytes = iso2022(
            "MSH|^~\\&|HIS|SEND|GW|RCV|20110701||RDE^O11^RDE_O11|C123|P|2.5||||||~ISO IR87||ISO 2022-1994\rPID|1||\r",
        );
        let message = Message::parse(&bytes).unwrap();
        let issues = vec![Issue::error(
            ErrorCode::Hl7RequiredMissing,
            "PID-3",
            "required field (patient id) is empty",
        )];
        let ack = acknowledge(&message, AckCode::Error, "K1", &issues, NOW);
        assert_eq!(ack.charset, Charset::Iso2022Jp);
        let segments: Vec<&str> = ack.text.split('\r').collect();
        assert_eq!(
            segments[0],
            "MSH|^~\\&|GW|RCV|HIS|SEND|20240401093005+0900||ACK^O11^ACK|K1|P|2.5||||||~ISO IR87||ISO 2022-1994"
        );
        assert_eq!(segments[1], "MSA|AE|C123");
        assert_eq!(
            segments[2],
            "ERR||PID^1^3^1|101^Required field missing^HL70357|E|hl7.required_missing^^99KKR||required field (patient id) is empty|必須項目がありません"
        );
        // The bytes are ISO-2022-JP and decode back to the same text.
        let bytes = ack.to_bytes();
        assert!(bytes.contains(&0x1B));
        assert_eq!(charset::decode(&bytes).text, ack.text);
    }

    #[test]
    fn ascii_messages_get_ascii_replies() {
        let message =
            Message::parse_str("MSH|^~\\&|A|B|C|D|2024||ADT^A08|9|P|2.5\rPID|1||1\r").unwrap();
        let ack = acknowledge(
            &message,
            AckCode::from_issues(message.issues()),
            "K2",
            &[Issue::warning(
                ErrorCode::Hl7UnknownCode,
                "PID-8",
                "code not in table 0001",
            )],
            NOW,
        );
        assert_eq!(ack.code, AckCode::Accept);
        assert!(ack.text.is_ascii());
        assert!(ack.text.contains("MSA|AA|9\r"));
        assert!(ack.text.contains("|W|"));
        assert!(!ack.text.contains("|~ISO IR87"));
    }

    #[test]
    fn unreadable_bytes_get_a_minimal_reject() {
        let rejected = Message::parse(b"garbage").unwrap_err();
        let ack = reject_unreadable(&rejected, "K3", NOW);
        assert_eq!(ack.code, AckCode::Reject);
        assert!(
            ack.text
                .starts_with("MSH|^~\\&|||||20240401093005+0900||ACK^^ACK|K3|P|2.5\r")
        );
        assert!(ack.text.contains("MSA|AR|\r"));
        assert!(
            ack.text
                .contains("ERR|||100^Segment sequence error^HL70357|E|hl7.no_header")
        );
    }

    #[test]
    fn ack_codes_follow_the_worst_issue() {
        let warn = Issue::warning(ErrorCode::Hl7SegmentTerminator, "MSH", "lf");
        let err = Issue::error(ErrorCode::Hl7InvalidValue, "OBX-5", "bad");
        let unreadable = Issue::error(ErrorCode::Hl7CharsetInvalid, "MSH-18", "bad");
        assert_eq!(AckCode::from_issues(&[]), AckCode::Accept);
        assert_eq!(
            AckCode::from_issues(std::slice::from_ref(&warn)),
            AckCode::Accept
        );
        assert_eq!(AckCode::from_issues(&[warn, err.clone()]), AckCode::Error);
        assert_eq!(AckCode::from_issues(&[err, unreadable]), AckCode::Reject);
    }
}
