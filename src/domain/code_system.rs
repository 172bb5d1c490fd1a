//! Code systems by identity, not by spelling.
//!
//! JP Core 1.1 names code systems by OID (`urn:oid:1.2.392.200119.4.403.1`), JP Core 1.2 by
//! URL (`http://medis.or.jp/CodeSystem/master-HOT9`), HL7 v2 by a table mnemonic (`HOT9`).
//! `KnownSystem` is the one identity behind all spellings; kakari accepts every spelling
//! and emits the 1.2 URL (or the OID where no URL has been published).

use serde::{Deserialize, Serialize};

/// A code from a code system, with the system in canonical form when known.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Coding {
    pub system: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub display: Option<String>,
}

impl Coding {
    /// A coding whose system spelling is canonicalised.
    pub fn new(system: &str, code: impl Into<String>, display: Option<String>) -> Self {
        Self {
            system: canonical_system(system).to_owned(),
            code: code.into(),
            display,
        }
    }

    pub fn known_system(&self) -> Option<KnownSystem> {
        KnownSystem::from_uri(&self.system)
    }
}

/// The code systems kakari reasons about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KnownSystem {
    Hot9,
    Hot7,
    Hot13,
    /// 個別医薬品コード (YJ code, 12 characters).
    Yj,
    /// 薬価基準収載医薬品コード (12 characters; first 7 = ingredient and route).
    DrugPriceList,
    /// レセプト電算処理システム用医薬品コード (9 digits).
    ReceiptDrug,
    /// 一般名処方マスタ code.
    GenericName,
    /// JLAC10, 17 characters.
    Jlac10,
    /// 特定健診 item code (17 characters).
    CheckupItem,
    /// JAMI 16-digit usage (用法) code.
    JamiUsage,
    /// MERIT-9 drug units.
    Merit9Unit,
    /// MEDIS disease exchange code.
    MedisDisease,
    /// 支払基金 傷病名コード.
    ReceiptDisease,
    Icd10,
    Ucum,
}

struct Spelling {
    system: KnownSystem,
    canonical: &'static str,
    aliases: &'static [&'static str],
    /// HL7 v2 coding-system mnemonics used by SS-MIX2.
    hl7: &'static [&'static str],
}

const SPELLINGS: &[Spelling] = &[
    Spelling {
        system: KnownSystem::Hot9,
        canonical: "http://medis.or.jp/CodeSystem/master-HOT9",
        aliases: &[
            "urn:oid:1.2.392.200119.4.403.1",
            "urn:oid:1.2.392.100495.20.2.74",
        ],
        hl7: &["HOT9", "HOT"],
    },
    Spelling {
        system: KnownSystem::Hot7,
        canonical: "http://medis.or.jp/CodeSystem/master-HOT7",
        aliases: &["urn:oid:1.2.392.200119.4.403.2"],
        hl7: &["HOT7"],
    },
    Spelling {
        system: KnownSystem::Hot13,
        canonical: "http://medis.or.jp/CodeSystem/master-HOT13",
        aliases: &["urn:oid:1.2.392.200119.4.402.1"],
        hl7: &["HOT13"],
    },
    Spelling {
        system: KnownSystem::Yj,
        canonical: "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code",
        aliases: &[
            "urn:oid:1.2.392.100495.20.2.73",
            "urn:oid:1.2.392.100495.20.1.73",
        ],
        hl7: &["YJ"],
    },
    Spelling {
        system: KnownSystem::DrugPriceList,
        canonical: "urn:oid:1.2.392.100495.20.2.72",
        aliases: &[],
        hl7: &["HCD"],
    },
    Spelling {
        system: KnownSystem::ReceiptDrug,
        canonical: "urn:oid:1.2.392.100495.20.2.71",
        aliases: &[],
        hl7: &["RCD", "ISO_RCD"],
    },
    Spelling {
        system: KnownSystem::GenericName,
        canonical: "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/MedicationGeneralOrderCode",
        aliases: &[
            "urn:oid:1.2.392.100495.20.2.81",
            "urn:oid:1.2.392.100495.20.1.81",
        ],
        hl7: &["IPN"],
    },
    Spelling {
        system: KnownSystem::Jlac10,
        canonical: "http://medis.or.jp/CodeSystem/master-JLAC10-17digits",
        aliases: &["urn:oid:1.2.392.200119.4.504"],
        hl7: &["JC10"],
    },
    Spelling {
        system: KnownSystem::CheckupItem,
        canonical: "urn:oid:1.2.392.200119.6.1005",
        aliases: &[],
        hl7: &[],
    },
    Spelling {
        system: KnownSystem::JamiUsage,
        canonical: "http://jami.jp/CodeSystem/MedicationUsage",
        aliases: &[
            "urn:oid:1.2.392.200250.2.2.20.20",
            "urn:oid:1.2.392.200250.2.2.20",
        ],
        hl7: &["JAMISDP01"],
    },
    Spelling {
        system: KnownSystem::Merit9Unit,
        canonical: "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/MedicationUnitMERIT9Code",
        aliases: &["urn:oid:1.2.392.100495.20.2.101"],
        hl7: &["MR9P"],
    },
    Spelling {
        system: KnownSystem::MedisDisease,
        canonical: "http://medis.or.jp/CodeSystem/master-disease-exCode",
        aliases: &["urn:oid:1.2.392.200119.4.101.6"],
        hl7: &["MDCDX2"],
    },
    Spelling {
        system: KnownSystem::ReceiptDisease,
        canonical: "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/masterB-disease",
        aliases: &[],
        hl7: &["MDCDX2R"],
    },
    Spelling {
        system: KnownSystem::Icd10,
        canonical: "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full",
        aliases: &[
            "http://hl7.org/fhir/sid/icd-10",
            "urn:oid:2.16.840.1.113883.6.3",
        ],
        hl7: &["I10"],
    },
    Spelling {
        system: KnownSystem::Ucum,
        canonical: "http://unitsofmeasure.org",
        aliases: &[],
        hl7: &["UCUM"],
    },
];

impl KnownSystem {
    /// Recognises any spelling (URL or OID) of a known system.
    pub fn from_uri(uri: &str) -> Option<Self> {
        SPELLINGS
            .iter()
            .find(|s| s.canonical == uri || s.aliases.contains(&uri))
            .map(|s| s.system)
    }

    /// Recognises an HL7 v2 coding-system mnemonic (CWE-3), e.g. `HOT9`, `JC10`.
    pub fn from_hl7(mnemonic: &str) -> Option<Self> {
        SPELLINGS
            .iter()
            .find(|s| s.hl7.contains(&mnemonic))
            .map(|s| s.system)
    }

    /// The spelling kakari emits.
    pub fn uri(self) -> &'static str {
        SPELLINGS
            .iter()
            .find(|s| s.system == self)
            .map_or("", |s| s.canonical)
    }

    /// Every spelling that denotes this system (for searches).
    pub fn all_uris(self) -> impl Iterator<Item = &'static str> {
        SPELLINGS
            .iter()
            .filter(move |s| s.system == self)
            .flat_map(|s| std::iter::once(s.canonical).chain(s.aliases.iter().copied()))
    }
}

/// The canonical spelling of `uri` when it names a known system, else `uri` unchanged.
pub fn canonical_system(uri: &str) -> &str {
    match KnownSystem::from_uri(uri) {
        Some(known) => known.uri(),
        None => uri,
    }
}

/// Identifier systems used on people and institutions.
pub mod id_system {
    /// Prefix of a facility-local patient id system; the 10-digit institution code follows.
    pub const LOCAL_PATIENT_PREFIX: &str = "urn:oid:1.2.392.100495.20.3.51.1";
    /// The insurance individual member id (`保険者番号:記号:番号:枝番`).
    pub const MEMBER_ID: &str = "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID";
    /// Earlier and alternative spellings of the member id system in JP specifications.
    pub const MEMBER_ID_ALIASES: &[&str] = &[
        "http://jpfhir.jp/fhir/core/Idsystem/JP_Insurance_SubscriberID",
        "http://jpfhir.jp/fhir/eCS/Idsysmem/JP_Insurance_memberID",
        "http://jpfhir.jp/fhir/ccs/Idenfier/JP_Insurance_memberID",
        "http://jpfhir.jp/fhir/core/IdSystem/JP_Insurance_memberID",
    ];
    /// The 10-digit medical institution code.
    pub const INSTITUTION: &str =
        "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no";
    /// The 8-digit insurer number.
    pub const INSURER: &str = "urn:oid:1.2.392.100495.20.3.61";
    pub const INSURER_ALIASES: &[&str] =
        &["http://jpfhir.jp/fhir/core/IdSystem/insurance-payer-no"];
    /// 医籍登録番号 (medical registration number) of a practitioner.
    pub const MEDICAL_REGISTRATION: &str = "urn:oid:1.2.392.100495.20.3.31";

    pub fn is_member_id(system: &str) -> bool {
        system == MEMBER_ID || MEMBER_ID_ALIASES.contains(&system)
    }

    pub fn is_institution(system: &str) -> bool {
        system == INSTITUTION
    }

    pub fn is_insurer(system: &str) -> bool {
        system == INSURER || INSURER_ALIASES.contains(&system)
    }

    /// The institution code embedded in a local patient id system, if `system` is one.
    pub fn local_patient_facility(system: &str) -> Option<&str> {
        let rest = system.strip_prefix(LOCAL_PATIENT_PREFIX)?;
        (rest.len() == 10 && rest.bytes().all(|b| b.is_ascii_digit())).then_some(rest)
    }

    /// The local patient id system of an institution.
    pub fn local_patient_system(facility: &str) -> String {
        format!("{LOCAL_PATIENT_PREFIX}{facility}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_and_url_spellings_denote_one_system() {
        assert_eq!(
            KnownSystem::from_uri("urn:oid:1.2.392.200119.4.403.1"),
            Some(KnownSystem::Hot9)
        );
        assert_eq!(
            KnownSystem::from_uri("http://medis.or.jp/CodeSystem/master-HOT9"),
            Some(KnownSystem::Hot9)
        );
        assert_eq!(
            canonical_system("urn:oid:1.2.392.200119.4.504"),
            "http://medis.or.jp/CodeSystem/master-JLAC10-17digits"
        );
        assert_eq!(
            canonical_system("http://example.org/local"),
            "http://example.org/local"
        );
        assert_eq!(KnownSystem::from_hl7("JC10"), Some(KnownSystem::Jlac10));
        assert!(
            KnownSystem::Yj
                .all_uris()
                .any(|u| u == "urn:oid:1.2.392.100495.20.2.73")
        );
    }

    #[test]
    fn every_known_system_has_exactly_one_canonical_spelling() {
        for s in SPELLINGS {
            assert_eq!(KnownSystem::from_uri(s.canonical), Some(s.system));
            assert_eq!(s.system.uri(), s.canonical);
            for alias in s.aliases {
                assert_eq!(KnownSystem::from_uri(alias), Some(s.system), "{alias}");
            }
        }
    }

    #[test]
    fn local_patient_systems_embed_the_institution() {
        assert_eq!(
            id_system::local_patient_facility("urn:oid:1.2.392.100495.20.3.51.11311234567"),
            Some("1311234567")
        );
        assert_eq!(
            id_system::local_patient_facility("urn:oid:1.2.392.100495.20.3.51.1131"),
            None
        );
        assert_eq!(
            id_system::local_patient_system("1311234567"),
            "urn:oid:1.2.392.100495.20.3.51.11311234567"
        );
    }
}
