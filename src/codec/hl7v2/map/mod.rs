//! From a parsed HL7 v2 message to kakari's canonical records, following the official
//! SS-MIX2 → JP Core mappings (JAMI ConceptMaps), one file per message family:
//!
//! | SS-MIX2 data type | message | file | output |
//! |---|---|---|---|
//! | ADT-00 | ADT^A08 | `patient` (+ `allergy`, `lab`) | demographics, coverage links (IN1), allergies (AL1), observations (OBX) |
//! | OMP-01, OMP-02 | RDE^O11 (v2.3 RDE^O01) | `medication` | prescriptions, one per RXE (per RXC for mixtures) |
//! | OMP-11, OMP-12 | RAS^O17 (v2.3 RAS^O01) | `medication` | administrations, one per RXA |
//! | OML-11 | OUL^R22 | `lab` | lab results, one per OBX |
//! | (labs, analysers) | ORU^R01 | `lab` | lab results, one per OBX, as OUL^R22 |
//! | PPR-01 | PPR^ZD1 | `condition` | conditions, one per PRB |
//! | ADT-61 | ADT^A60 | `allergy` | allergies, one per IAM |
//!
//! IN1 segments give coverage links in every message that carries them (ADT, RDE, RAS,
//! OUL, ORU, PPR …), by the same rules. Every other message type is parsed and its
//! segment order checked, then reported as not mapped: the caller stores it as received. The subject of every record is the sending
//! facility's own patient (`SubjectRef::Local`, PID-3.1); the facility comes from the
//! client binding, never from the message.

mod allergy;
mod condition;
mod dosage;
mod lab;
mod medication;
mod patient;
pub mod values;

use crate::domain::{
    CoverageLink, Demographics, FhirDateTime, InstitutionCode, PatientIdentifier, SubjectRef,
};
use crate::error::{ErrorCode, Issue};

use super::charset::Charset;
use super::message::Message;
use super::structure;

/// What MSH says about a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHeader {
    /// MSH-3.1 and MSH-4.1.
    pub sending_application: String,
    pub sending_facility: String,
    /// MSH-5.1 and MSH-6.1.
    pub receiving_application: String,
    pub receiving_facility: String,
    /// MSH-10: with the sender, the idempotency key of the message.
    pub control_id: String,
    /// MSH-9: `RDE`, `O11`, `RDE_O11`.
    pub message_code: String,
    pub event: String,
    pub structure: String,
    /// MSH-7.
    pub sent_at: Option<FhirDateTime>,
    /// MSH-11.1 and MSH-12.1.
    pub processing_id: String,
    pub version: String,
    /// The character set of the bytes, and the one replies use.
    pub charset: Charset,
    pub reply_charset: Charset,
}

impl MessageHeader {
    /// `RDE^O11`.
    pub fn message_type(&self) -> String {
        format!("{}^{}", self.message_code, self.event)
    }
}

/// The message families kakari maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageFamily {
    /// ADT^A08 (ADT-00): demographics and insurance.
    Patient,
    /// RDE^O11 (OMP-01 prescriptions, OMP-02 injections).
    MedicationOrder,
    /// RAS^O17 (OMP-11, OMP-12).
    MedicationAdministration,
    /// OUL^R22 (OML-11).
    LabResult,
    /// ORU^R01: results as laboratories and analysers send them, mapped as OUL^R22.
    ObservationResult,
    /// PPR^ZD1 (PPR-01).
    Diagnosis,
    /// ADT^A60 (ADT-61).
    Allergy,
    /// Anything else: parsed, checked, stored as received.
    NotMapped,
}

impl MessageFamily {
    /// The family of a message type.
    pub fn of(code: &str, event: &str) -> Self {
        match (code, event) {
            ("ADT", "A08") => Self::Patient,
            // O01: the same messages in HL7 v2.3.
            ("RDE", "O11" | "O01") => Self::MedicationOrder,
            ("RAS", "O17" | "O01") => Self::MedicationAdministration,
            ("OUL", "R22") => Self::LabResult,
            ("ORU", "R01") => Self::ObservationResult,
            ("PPR", "ZD1") => Self::Diagnosis,
            ("ADT", "A60") => Self::Allergy,
            _ => Self::NotMapped,
        }
    }
}

/// The facility's patient a message is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientInfo {
    /// PID-3.1 (of the repetition typed `PI` when there are several).
    pub local_id: String,
    /// Every PID-3 repetition with its assigning authority and type (the local id among
    /// them), for the Patient's identifiers.
    pub identifiers: Vec<PatientIdentifier>,
    pub demographics: Demographics,
}

/// One canonical record (the domain's own).
pub use crate::domain::ClinicalRecord;

/// A record with the segment it came from (`RXE[2]`, `OBX[3]`), for provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedRecord {
    pub location: String,
    pub record: ClinicalRecord,
}

/// Everything kakari takes from one message.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedMessage {
    pub header: MessageHeader,
    pub family: MessageFamily,
    /// The facility's patient (PID-3.1), when PID-3 was given.
    pub subject: Option<SubjectRef>,
    pub patient: Option<PatientInfo>,
    /// Insurance that links the patient to a person (IN1 of ADT-00).
    pub coverages: Vec<CoverageLink>,
    pub records: Vec<MappedRecord>,
    /// True for message types kakari does not map; the caller stores them as received.
    pub not_mapped: bool,
    /// Every issue: the message's own (character set, structure) and the mapping's.
    pub issues: Vec<Issue>,
}

impl MappedMessage {
    pub fn has_errors(&self) -> bool {
        self.issues.iter().any(Issue::is_error)
    }
}

/// Maps a parsed message. `facility` is the sending institution from the client binding.
pub fn map_message(message: &Message<'_>, facility: &InstitutionCode) -> MappedMessage {
    let mut issues: Vec<Issue> = message.issues().to_vec();
    issues.extend(structure::check(message));
    let header = header(message, &mut issues);
    let family = MessageFamily::of(&header.message_code, &header.event);
    let patient = patient::patient(message, &mut issues);
    let subject = patient.as_ref().map(|p| SubjectRef::Local {
        facility: facility.clone(),
        local_id: p.local_id.clone(),
    });
    let mut mapped = MappedMessage {
        header,
        family,
        subject: subject.clone(),
        patient,
        coverages: Vec::new(),
        records: Vec::new(),
        not_mapped: family == MessageFamily::NotMapped,
        issues: Vec::new(),
    };
    if let Some(subject) = subject {
        let context = Context {
            message,
            facility,
            subject: &subject,
        };
        // IN1 links the patient to a person in every message that carries it.
        mapped.coverages = patient::coverages(&context, &mut issues);
        if family != MessageFamily::NotMapped {
            one_patient_only(message, &mut issues);
        }
        match family {
            MessageFamily::Patient => {
                allergy::from_al1(&context, &mut mapped.records, &mut issues);
                lab::observations(&context, &mut mapped.records, &mut issues);
            }
            MessageFamily::MedicationOrder => {
                medication::orders(&context, &mut mapped.records, &mut issues);
            }
            MessageFamily::MedicationAdministration => {
                medication::administrations(&context, &mut mapped.records, &mut issues);
            }
            MessageFamily::LabResult => lab::results(&context, &mut mapped.records, &mut issues),
            MessageFamily::ObservationResult => {
                lab::observation_results(&context, &mut mapped.records, &mut issues);
            }
            MessageFamily::Diagnosis => {
                condition::problems(&context, &mut mapped.records, &mut issues);
            }
            MessageFamily::Allergy => allergy::from_iam(&context, &mut mapped.records, &mut issues),
            MessageFamily::NotMapped => {}
        }
    } else if family != MessageFamily::NotMapped {
        issues.push(Issue::error(
            ErrorCode::Hl7RequiredMissing,
            "PID-3",
            "patient id (PID-3) is required to map the message's records",
        ));
    }
    mapped.issues = issues;
    mapped
}

/// Records are about the message's one patient (the first PID): a later PID naming
/// another patient (an ORU^R01 may carry several) would put records under the wrong
/// person, so it is an error and nothing is mapped.
fn one_patient_only(message: &Message<'_>, issues: &mut Vec<Issue>) {
    let mut pids = message.segments().filter(|s| s.name() == "PID");
    let Some(first) = pids.next().and_then(|pid| patient::local_id(&pid)) else {
        return;
    };
    for pid in pids {
        if patient::local_id(&pid).is_some_and(|id| id != first) {
            issues.push(Issue::error(
                ErrorCode::Hl7SegmentOrder,
                pid.location().to_string(),
                "a second patient in one message; kakari maps one patient per message (send each patient's results in its own message)",
            ));
        }
    }
}

/// The facility's patient id of a message: PID-3.1 of the repetition typed `PI`, else of
/// the first repetition.
pub fn patient_id(message: &Message<'_>) -> Option<String> {
    patient::local_id(&message.first("PID")?)
}

/// What the family mappers share.
struct Context<'c, 'm> {
    message: &'c Message<'m>,
    facility: &'c InstitutionCode,
    subject: &'c SubjectRef,
}

fn header(message: &Message<'_>, issues: &mut Vec<Issue>) -> MessageHeader {
    let msh = message.msh();
    let first = |n| msh.field(n).component(1).text().into_owned();
    let (code, event, structure) = message.message_type();
    MessageHeader {
        sending_application: first(3),
        sending_facility: first(4),
        receiving_application: first(5),
        receiving_facility: first(6),
        control_id: msh.field(10).text().into_owned(),
        message_code: code.into_owned(),
        event: event.into_owned(),
        structure: structure.into_owned(),
        sent_at: values::timestamp(&msh.field(7), issues),
        processing_id: first(11),
        version: first(12),
        charset: message.detected_charset(),
        reply_charset: message.reply_charset(),
    }
}
