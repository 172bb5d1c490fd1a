//! Client roles.

use std::fmt;

/// What kind of party a client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A clinic's or hospital's EMR: writes its own institution's records.
    Emr,
    /// A pharmacy system: writes its own pharmacy's dispensing records.
    Pharmacy,
    /// A health insurer: posts claims and checkups, pulls its members' lab values.
    Insurer,
    /// A registered family doctor (kakaritsuke-i).
    Doctor,
    /// An operator: clients, directory, audit; no clinical data.
    Admin,
    /// The insured person themself, bound to one member id: their registration,
    /// confirmations, consent, and who accessed their data.
    Person,
}

impl Role {
    pub const ALL: &'static [Role] = &[
        Role::Emr,
        Role::Pharmacy,
        Role::Insurer,
        Role::Doctor,
        Role::Admin,
        Role::Person,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "emr" => Self::Emr,
            "pharmacy" => Self::Pharmacy,
            "insurer" => Self::Insurer,
            "doctor" => Self::Doctor,
            "admin" => Self::Admin,
            "person" => Self::Person,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Emr => "emr",
            Self::Pharmacy => "pharmacy",
            Self::Insurer => "insurer",
            Self::Doctor => "doctor",
            Self::Admin => "admin",
            Self::Person => "person",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
