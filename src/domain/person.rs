//! People and the facility-local patients that stand for them.
//!
//! A *person* is national: identified by the insurance member id. A *local patient* is a
//! clinic's own record of someone (a facility code plus the clinic's patient id, or a FHIR
//! Patient resource). Records attach to local patients; a local patient becomes a person's
//! through the insurance that travels with it (HL7 IN1, FHIR Coverage, UKE HO). Until that
//! link exists the records are kept and reported as unlinked, never dropped.

use time::Date;

use super::identifiers::InstitutionCode;
use super::member_id::MemberId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    Male,
    Female,
    Other,
    Unknown,
}

impl Sex {
    /// FHIR `administrative-gender`.
    pub fn from_fhir(code: &str) -> Option<Self> {
        match code {
            "male" => Some(Self::Male),
            "female" => Some(Self::Female),
            "other" => Some(Self::Other),
            "unknown" => Some(Self::Unknown),
            _ => None,
        }
    }

    /// HL7 v2 table 0001 (`M`, `F`, `O`, `U`, and `A`/`N` as other/unknown).
    pub fn from_hl7(code: &str) -> Option<Self> {
        match code {
            "M" => Some(Self::Male),
            "F" => Some(Self::Female),
            "O" | "A" => Some(Self::Other),
            "U" | "N" => Some(Self::Unknown),
            _ => None,
        }
    }

    /// UKE / 特定健診 (1 male, 2 female).
    pub fn from_jp_code(code: &str) -> Option<Self> {
        match code.trim() {
            "1" => Some(Self::Male),
            "2" => Some(Self::Female),
            _ => None,
        }
    }

    pub fn as_fhir(self) -> &'static str {
        match self {
            Self::Male => "male",
            Self::Female => "female",
            Self::Other => "other",
            Self::Unknown => "unknown",
        }
    }
}

/// How a name is written (HL7 v2 table 4000/0465, ISO 21090 `EN.representation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameRepresentation {
    /// Kanji (漢字): HL7 `I`, ISO 21090 `IDE`.
    Ideographic,
    /// Kana or other sound-spelling (カナ): HL7 `P`, ISO 21090 `SYL`.
    Phonetic,
    /// Latin letters or other single-byte text: HL7 `A`, ISO 21090 `ABC`.
    Alphabetic,
}

impl NameRepresentation {
    /// HL7 v2 table 4000 / 0465 code (`I`, `P`, `A`).
    pub fn from_hl7(code: &str) -> Option<Self> {
        match code {
            "I" => Some(Self::Ideographic),
            "P" => Some(Self::Phonetic),
            "A" => Some(Self::Alphabetic),
            _ => None,
        }
    }

    /// The code of the FHIR extension `iso21090-EN-representation` (`IDE`, `SYL`, `ABC`).
    pub fn iso21090(self) -> &'static str {
        match self {
            Self::Ideographic => "IDE",
            Self::Phonetic => "SYL",
            Self::Alphabetic => "ABC",
        }
    }
}

/// One written form of a person's name: family and given parts as the source split them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonName {
    pub family: Option<String>,
    pub given: Option<String>,
    /// Kanji, kana or alphabetic, when the source says.
    pub representation: Option<NameRepresentation>,
    /// The kind of name as the source codes it (HL7 table 0200: `L` legal, `D` display …).
    pub name_type: Option<String>,
}

impl PersonName {
    /// Family and given joined by a space (the way Japanese names are shown).
    pub fn text(&self) -> Option<String> {
        let parts: Vec<&str> = [self.family.as_deref(), self.given.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// What a record says about who the person is, used to resolve family cards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Demographics {
    pub birth_date: Option<Date>,
    pub sex: Option<Sex>,
    /// Name in kanji (漢字), as written: family and given joined by a space.
    pub name: Option<String>,
    /// Name in kana (カナ), as written: family and given joined by a space.
    pub name_kana: Option<String>,
    /// Every name the source gave, split into family and given, with its representation
    /// (the kanji and kana forms of `name` and `name_kana` among them).
    pub names: Vec<PersonName>,
}

/// One identifier a source gives its patient (HL7 PID-3 repetition): the value, who
/// assigned it and what kind it is (HL7 table 0203: `PI` patient internal, `MR` medical
/// record, `JHN` jurisdictional health number …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientIdentifier {
    pub value: String,
    /// The assigning authority (CX.4: its namespace id, else its universal id).
    pub assigning_authority: Option<String>,
    /// The identifier type code (CX.5).
    pub type_code: Option<String>,
}

/// Whom a record is about, as the source identified them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubjectRef {
    /// A clinic's own patient id (HL7 PID-3, a FHIR Patient identifier).
    Local {
        facility: InstitutionCode,
        local_id: String,
    },
    /// A FHIR Patient resource by logical id (`Patient/{id}`).
    FhirPatient(String),
    /// An insured person directly (claims, checkups).
    Member(MemberId),
}

/// A facility-local patient as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPatient {
    pub facility: Option<InstitutionCode>,
    pub local_id: Option<String>,
    pub demographics: Demographics,
}

/// Insurance that ties a local patient to a person (FHIR Coverage, HL7 IN1, UKE HO).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageLink {
    pub subject: SubjectRef,
    pub member: MemberId,
    /// False when the coverage is cancelled or entered in error.
    pub active: bool,
}
