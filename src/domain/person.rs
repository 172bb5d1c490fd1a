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

/// What a record says about who the person is, used to resolve family cards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Demographics {
    pub birth_date: Option<Date>,
    pub sex: Option<Sex>,
    /// Name in kanji (漢字), as written.
    pub name: Option<String>,
    /// Name in kana (カナ), as written.
    pub name_kana: Option<String>,
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
