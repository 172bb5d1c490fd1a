//! The one catalogue of stable error codes, and the error type services return.
//!
//! Every refusal kakari gives names a code from `ErrorCode` (stable, documented in
//! `docs/errors.md`; a test keeps the two in step), an HTTP status, and a list of issues
//! with locations. Messages are built from fixed text and structural facts (element
//! paths, segment names, byte offsets), never from values that may be patient data.

use std::fmt;

macro_rules! catalogue {
    ($( $variant:ident = ($code:literal, $status:literal, $title:literal) ),* $(,)?) => {
        /// A stable error code. The string form is the contract; never change one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $( $variant ),* }

        impl ErrorCode {
            /// Every code, for documentation checks.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant ),* ];

            pub fn as_str(self) -> &'static str {
                match self { $( ErrorCode::$variant => $code ),* }
            }

            /// The HTTP status a request refused with this code receives.
            pub fn http_status(self) -> u16 {
                match self { $( ErrorCode::$variant => $status ),* }
            }

            /// A short fixed description.
            pub fn title(self) -> &'static str {
                match self { $( ErrorCode::$variant => $title ),* }
            }

            pub fn parse(code: &str) -> Option<Self> {
                match code { $( $code => Some(ErrorCode::$variant), )* _ => None }
            }
        }
    };
}

catalogue! {
    // Requests in general.
    BodyTooLarge = ("request.body_too_large", 413, "request body exceeds the size limit"),
    UnsupportedMediaType = ("request.unsupported_media_type", 415, "content type not accepted by this endpoint"),
    NotAcceptable = ("request.not_acceptable", 406, "cannot produce the requested response format"),
    MalformedJson = ("request.malformed_json", 400, "body is not well-formed JSON"),
    InvalidBody = ("request.invalid_body", 422, "body does not have the expected shape"),
    InvalidParameter = ("request.invalid_parameter", 400, "query or path parameter has an invalid value"),
    UnknownParameter = ("request.unknown_parameter", 400, "query parameter is not supported here"),
    RouteNotFound = ("request.route_not_found", 404, "no such endpoint"),
    MethodNotAllowed = ("request.method_not_allowed", 405, "method not allowed on this endpoint"),
    RateLimited = ("request.rate_limited", 429, "too many requests; retry later"),
    // Authentication and access.
    MissingToken = ("auth.missing_token", 401, "no bearer token presented"),
    InvalidToken = ("auth.invalid_token", 401, "token unknown, revoked or expired"),
    Forbidden = ("auth.forbidden", 403, "the client's role does not permit this"),
    FacilityMismatch = ("auth.facility_mismatch", 403, "write outside the client's own facility"),
    CertificateUnknown = ("auth.certificate_unknown", 401, "client certificate not registered to an active client"),
    CertificateMismatch = ("auth.certificate_mismatch", 401, "bearer token belongs to another client than the certificate"),
    CertificateRequired = ("auth.certificate_required", 401, "client is bound to a certificate the connection did not present"),
    // FHIR.
    UnsupportedResourceType = ("fhir.unsupported_type", 404, "resource type not supported by this server"),
    NotAResource = ("fhir.not_a_resource", 400, "body is not a FHIR resource of the expected type"),
    SchemaViolation = ("fhir.schema", 422, "resource violates the FHIR R4 schema"),
    JpCoreViolation = ("fhir.jpcore", 422, "resource violates a JP Core rule"),
    InvalidMemberId = ("fhir.member_id", 422, "insurance member id is not in 保険者番号:記号:番号:枝番 form"),
    InvalidReference = ("fhir.reference", 422, "reference is malformed or cannot be resolved"),
    InvalidId = ("fhir.invalid_id", 400, "resource id is not a valid FHIR id"),
    IdMismatch = ("fhir.id_mismatch", 400, "id in the body differs from the id in the URL"),
    ResourceNotFound = ("fhir.not_found", 404, "no resource with this type and id"),
    VersionConflict = ("fhir.version_conflict", 412, "If-Match version is not the current version"),
    MultipleMatches = ("fhir.multiple_matches", 412, "conditional request matched more than one resource"),
    InvalidSearch = ("fhir.invalid_search", 400, "search parameter value cannot be parsed"),
    UnknownSearchParameter = ("fhir.unknown_search_parameter", 400, "search parameter not supported for this type"),
    InvalidBundle = ("fhir.bundle", 400, "bundle is not a batch or transaction this server accepts"),
    TransactionFailed = ("fhir.transaction_failed", 400, "an entry failed; the transaction was not applied"),
    UnsupportedInteraction = ("fhir.unsupported_interaction", 405, "interaction not supported"),
    CodeFormat = ("fhir.code_format", 422, "code does not have the form of its code system"),
    UnitMismatch = ("fhir.unit_mismatch", 422, "quantity unit is not a unit of the item measured"),
    DosageInconsistent = ("fhir.dosage_inconsistent", 422, "dispensed total contradicts the dosage"),
    ClinsViolation = ("fhir.clins", 422, "resource violates a JP-CLINS rule of a profile it claims"),
    // UKE claims (レセプト電算).
    UkeEncoding = ("uke.encoding", 422, "claims file is not Shift_JIS (CP932) text"),
    UkeNoHeader = ("uke.no_header", 422, "no UK, IR or YK record: not a UKE claims file"),
    UkeHeaderInvalid = ("uke.header_invalid", 422, "IR or YK record does not identify the institution"),
    UkeRecordUnknown = ("uke.record_unknown", 422, "record type not defined for this kind of claims file"),
    UkeRecordMisplaced = ("uke.record_misplaced", 422, "record appears where the layout does not allow it"),
    UkeFieldInvalid = ("uke.field_invalid", 422, "field value does not match its format"),
    UkeFieldTooLong = ("uke.field_too_long", 422, "field exceeds its maximum length"),
    UkeFieldCount = ("uke.field_count", 422, "record has more fields than its layout defines"),
    UkeTotalMissing = ("uke.total_missing", 422, "claims file has no GO (total) record"),
    UkeTotalMismatch = ("uke.total_mismatch", 422, "GO totals do not match the receipts"),
    UkeMemberUnknown = ("uke.member_unknown", 422, "receipt has no usable insurance member id"),
    UkeOtherInsurer = ("uke.other_insurer", 403, "receipt of another insurer (or of public funding only); not imported"),
    // 特定健診 XML (codec::tokutei): CDA documents, the MHLW archive, and its index.
    TokuteiNotXml = ("tokutei.not_xml", 400, "document is not well-formed XML"),
    TokuteiEncoding = ("tokutei.encoding", 400, "character encoding is unsupported or the bytes do not match it"),
    TokuteiDoctypeRefused = ("tokutei.doctype_refused", 400, "DOCTYPE declarations are refused (no DTDs, no external entities)"),
    TokuteiUnknownEntity = ("tokutei.unknown_entity", 400, "entity reference other than the five predefined XML entities"),
    TokuteiTooLarge = ("tokutei.too_large", 413, "document exceeds a size, depth or count limit"),
    TokuteiNotCheckup = ("tokutei.not_checkup_document", 422, "root element is not an HL7 CDA ClinicalDocument"),
    TokuteiMemberId = ("tokutei.member_id", 422, "insurance card identifiers (保険者番号, 記号, 番号, 枝番) missing or invalid"),
    TokuteiMissingElement = ("tokutei.missing_element", 422, "a required element or attribute is missing"),
    TokuteiInvalidValue = ("tokutei.invalid_value", 422, "a value does not have the form its data type requires"),
    TokuteiUnknownItem = ("tokutei.unknown_item", 422, "observation code is not in the checkup item table"),
    TokuteiNegatedObservation = ("tokutei.negated_observation", 422, "observation has negationInd=\"true\"; recorded as absent"),
    TokuteiArchiveInvalid = ("tokutei.archive_invalid", 400, "not a readable ZIP archive"),
    TokuteiArchiveUnsafeEntry = ("tokutei.archive_unsafe_entry", 422, "archive entry refused: unsafe name, link, encryption or method"),
    TokuteiArchiveLimit = ("tokutei.archive_limit", 413, "archive exceeds an entry-count, size or compression-ratio limit"),
    TokuteiIndexMismatch = ("tokutei.index_mismatch", 422, "archive index (ix08) missing or inconsistent with the archive"),
    TokuteiInsurerMismatch = ("tokutei.insurer_mismatch", 422, "member's insurer differs from the archive's receiving insurer"),
    TokuteiArchiveFull = ("tokutei.archive_full", 413, "more documents than the archive file naming allows"),
    // Code tables and masters.
    MappingInvalid = ("mapping.invalid", 500, "a code table or master file cannot be read"),
    MastersUnreadable = ("mapping.masters_unreadable", 422, "the masters directory or a master file cannot be read; the master in use stays"),
    // HL7 v2 messages (codec::hl7v2).
    Hl7NoHeader = ("hl7.no_header", 400, "no MSH segment could be read"),
    Hl7Delimiters = ("hl7.delimiters", 400, "MSH-1 or MSH-2 does not declare usable delimiters"),
    Hl7CharsetInvalid = ("hl7.charset_invalid", 422, "bytes are not valid in any supported character set"),
    Hl7CharsetMismatch = ("hl7.charset_mismatch", 422, "MSH-18 declares a character set the bytes do not use"),
    Hl7CharsetUnknown = ("hl7.charset_unknown", 422, "MSH-18 or MSH-20 names an unsupported character set"),
    Hl7Framing = ("hl7.framing", 422, "MLLP framing characters found in the message body"),
    Hl7SegmentTerminator = ("hl7.segment_terminator", 422, "segments end with LF or CRLF instead of CR"),
    Hl7SegmentName = ("hl7.segment_name", 422, "segment does not start with a valid three-character name"),
    Hl7SegmentOrder = ("hl7.segment_order", 422, "segment is not allowed here by the message structure"),
    Hl7RequiredMissing = ("hl7.required_missing", 422, "a required segment or field is empty or absent"),
    Hl7InvalidValue = ("hl7.invalid_value", 422, "value does not fit the field's data type"),
    Hl7UnknownCode = ("hl7.unknown_code", 422, "code is not in the table the field uses"),
    Hl7Escape = ("hl7.escape", 422, "malformed or unsupported escape sequence kept as written"),
    Hl7UnsupportedVersion = ("hl7.unsupported_version", 422, "MSH-12 is not an HL7 v2 version this gateway reads"),
    Hl7Batch = ("hl7.batch", 422, "batch or file envelope is inconsistent"),
    Hl7TooLarge = ("hl7.too_large", 413, "message exceeds a size or count limit"),
    Hl7CoverageIncomplete = ("hl7.coverage_incomplete", 422, "insurance segment lacks the parts of a member id"),
    Hl7ByteOrderMark = ("hl7.byte_order_mark", 422, "a byte-order mark precedes the message; ignored"),
    Hl7SegmentIgnored = ("hl7.segment_ignored", 422, "segment is not part of the message structure kakari reads; ignored"),
    // SS-MIX2 standardized storage (codec::ssmix2).
    Ssmix2FileName = ("ssmix2.file_name", 422, "file name is not PID_date_type_order_timestamp_dept_flag"),
    Ssmix2PathLayout = ("ssmix2.path_layout", 422, "folders are not <PID[0:3]>/<PID[3:6]>/<PID>/<date>/<type>"),
    Ssmix2PatientMismatch = ("ssmix2.patient_mismatch", 422, "patient id differs between folder, file name and PID-3"),
    Ssmix2DateMismatch = ("ssmix2.date_mismatch", 422, "date folder differs from the file name's date"),
    Ssmix2DataTypeMismatch = ("ssmix2.data_type_mismatch", 422, "data-type folder differs from the file name's data type"),
    Ssmix2UnknownDataType = ("ssmix2.unknown_data_type", 422, "data type is not one of the standardized storage types"),
    Ssmix2MessageType = ("ssmix2.message_type", 422, "MSH-9 is not a message type of the file's data type"),
    Ssmix2CareDate = ("ssmix2.care_date", 422, "date folder differs from the message's care date field"),
    Ssmix2Invalidated = ("ssmix2.invalidated", 409, "file is invalidated (flag 0); a later file supersedes it"),
    DerivedReadOnly = ("fhir.derived_read_only", 409, "the resource was written from another format's input and is read-only through FHIR"),
    // Registrations and consent (the person decides).
    RegistrationNotPending = ("registration.not_pending", 409, "the registration is not waiting for the person's decision"),
    ConsentInsurerGrant = ("consent.insurer_grant", 403, "an insurer records a consent withdrawal it received, never a grant"),
    ConsentEvidenceRequired = ("consent.evidence_required", 422, "the institution records a consent decision with the person's signed document"),
    // Insurer–doctor collaboration: inquiries, subscriptions and delivery, push-type
    // matching, satisfaction surveys, program findings (docs/collaboration.md).
    InquiryNoRegisteredDoctor = ("inquiry.no_registered_doctor", 422, "the member has no active registration: no registered doctor to route the inquiry to"),
    InquiryCode = ("inquiry.code", 422, "Task.code is not an inquiry type of urn:kakari:inquiry-type"),
    InquiryTransition = ("inquiry.transition", 409, "this party may not move the inquiry from its current status to the one asked"),
    InquiryAnswerRequired = ("inquiry.answer_required", 422, "completing an inquiry needs its answer in Task.output (and only completion carries one)"),
    InquiryImmutable = ("inquiry.immutable_element", 422, "an element this party may not change differs from the stored inquiry"),
    SubscriptionTopicUnknown = ("subscription.topic_unknown", 422, "Subscription.criteria is not a topic this server offers (see /fhir/metadata)"),
    SubscriptionTopicForbidden = ("subscription.topic_forbidden", 403, "the client's role may not subscribe to this topic"),
    SubscriptionChannel = ("subscription.channel", 422, "only rest-hook channels with application/fhir+json payloads are supported"),
    SubscriptionContent = ("subscription.content", 422, "payload content not available for this topic"),
    SubscriptionEndpoint = ("subscription.endpoint_refused", 422, "endpoint is not https or resolves to a loopback, private or link-local address"),
    NeedNotOpen = ("need.not_open", 409, "the need is no longer open (accepted or withdrawn), or the hand can no longer be accepted"),
    SurveyNotRegistered = ("survey.not_registered", 422, "a member rates an institution they are or were registered with"),
    // Intake of messages and files.
    IntakeKeyReused = ("intake.key_reused", 409, "the sender's id for this input was used before for other content"),
    // Archives (SS-MIX2 uploads).
    ArchiveInvalid = ("archive.invalid", 400, "not a readable zip, tar or tar.gz archive"),
    ArchiveUnsafeEntry = ("archive.unsafe_entry", 422, "archive entry refused: path traversal, link, device, oversize or zip bomb"),
    ArchiveLimit = ("archive.limit", 413, "archive exceeds an entry-count or size limit"),
    // Storage.
    StoreUnavailable = ("store.unavailable", 503, "database unavailable; retry later"),
    StoreConflict = ("store.conflict", 409, "concurrent update; retry"),
    // Bugs.
    Internal = ("internal.error", 500, "internal error; reported to the operator"),
    // Hostile input and exhaustion (docs/robustness.md).
    DuplicateKey = ("request.duplicate_key", 400, "a JSON object holds the same key twice"),
    NumberOutOfRange = ("request.number_out_of_range", 422, "a number does not fit a FHIR decimal (18 significant digits, magnitude 1e-28..1e28)"),
    EmptyBody = ("request.empty_body", 400, "the request has no body"),
    UriTooLong = ("request.uri_too_long", 414, "the request target is longer than the server accepts"),
    BodyTimeout = ("request.body_timeout", 408, "the body did not arrive within the time limit"),
    SearchTooComplex = ("fhir.search_too_complex", 400, "search has more parameters, repetitions or values than the server accepts"),
    StoreTimeout = ("store.timeout", 503, "the database did not answer within the read time limit"),
    MllpBusy = ("mllp.busy", 503, "the gateway holds too many unfinished MLLP frames; send again later"),
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How bad an issue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl Severity {
    /// FHIR `issue-severity`.
    pub fn as_fhir(self) -> &'static str {
        match self {
            Self::Fatal => "fatal",
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Information => "information",
        }
    }
}

/// One finding about an input: what, where, how bad. Never carries input values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub severity: Severity,
    pub code: ErrorCode,
    /// Where: a FHIRPath-like expression (`Patient.identifier[0].system`), an HL7 location
    /// (`PID-3`), a line and field (`line 12 field 5`), a byte offset.
    pub location: String,
    /// Fixed text plus structural facts.
    pub message: String,
}

impl Issue {
    pub fn error(code: ErrorCode, location: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            location: location.into(),
            message: message.into(),
        }
    }

    pub fn warning(
        code: ErrorCode,
        location: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, location, message)
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity <= Severity::Error
    }
}

/// A refusal: the code that decides the status, and the issues that explain it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub code: ErrorCode,
    pub issues: Vec<Issue>,
}

impl Problem {
    /// A refusal with one issue at `location`.
    pub fn new(code: ErrorCode, location: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            issues: vec![Issue::error(code, location, message)],
        }
    }

    /// A refusal with the code's own title as its only explanation.
    pub fn bare(code: ErrorCode) -> Self {
        Self::new(code, "", code.title())
    }

    /// A refusal explained by several issues; `code` decides the status.
    pub fn with_issues(code: ErrorCode, issues: Vec<Issue>) -> Self {
        Self { code, issues }
    }

    pub fn status(&self) -> u16 {
        self.code.http_status()
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        for issue in &self.issues {
            write!(
                f,
                "; {} at {}: {}",
                issue.code, issue.location, issue.message
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {}", code.as_str());
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
            assert!((400..=599).contains(&code.http_status()));
        }
    }
}
