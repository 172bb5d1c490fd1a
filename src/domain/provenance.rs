//! Where a record came from: which client, which input, which format, when.
//!
//! Every stored record carries its provenance so a doctor can see the source of each line
//! of a medication list, an insurer can trace a lab value, and an operator can find the
//! input to re-process.

/// The wire format a record was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    Fhir,
    Hl7v2,
    Ssmix2,
    Uke,
    Tokutei,
}

impl SourceFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fhir => "fhir",
            Self::Hl7v2 => "hl7v2",
            Self::Ssmix2 => "ssmix2",
            Self::Uke => "uke",
            Self::Tokutei => "tokutei",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "fhir" => Self::Fhir,
            "hl7v2" => Self::Hl7v2,
            "ssmix2" => Self::Ssmix2,
            "uke" => Self::Uke,
            "tokutei" => Self::Tokutei,
            _ => return None,
        })
    }
}

/// Provenance attached to a record when it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub client_id: i64,
    /// The stored input (request, message, file) the record was decoded from.
    pub input_id: i64,
    pub format: SourceFormat,
    /// Epoch milliseconds at which kakari received the input.
    pub received_at: i64,
    /// Where in the input the record came from (`Bundle.entry[2]`, `RXE[3]`, `line 41`).
    pub location: String,
}
