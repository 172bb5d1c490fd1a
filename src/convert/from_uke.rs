//! Reads a UKE claims file (`codec::uke`): medication claims and diagnoses per receipt,
//! filed under the member the HO record names (and linked to the clinic's カルテ番号).
//! The file is one report row; its issues (by line and field) are the row's warnings.

use std::path::Path;

use super::Fatal;
use super::patients::Patients;
use crate::codec::uke;
use crate::domain::ClinicalRecord;
use crate::intake::FileReport;
use crate::mapping::drug_master::DrugMaster;

/// Reads the file; a file that is not UKE at all is a fatal error.
pub fn read(
    input: &Path,
    masters: Option<&Path>,
    patients: &mut Patients,
) -> Result<Vec<FileReport>, Fatal> {
    let bytes = std::fs::read(input).map_err(|_| Fatal("the input cannot be read".into()))?;
    let master = match masters {
        Some(dir) => DrugMaster::load(dir)?.0,
        None => DrugMaster::curated()?,
    };
    let file = uke::parse(&bytes)?;
    let claims = uke::to_domain(&file, Some(&master));
    patients.add_organization(&claims.institution, file.header.record.name.as_deref());
    let mut records = 0;
    for receipt in claims.receipts {
        patients.add_demographics(&receipt.subject, &receipt.demographics);
        if let Some(link) = &receipt.coverage {
            patients.add_demographics(&link.subject, &receipt.demographics);
            patients.link(&link.subject, &link.member);
        }
        records += receipt.medications.len() + receipt.conditions.len();
        for m in receipt.medications {
            patients.add_record(&receipt.subject, ClinicalRecord::Medication(m));
        }
        for c in receipt.conditions {
            patients.add_record(&receipt.subject, ClinicalRecord::Condition(c));
        }
    }
    let path = input
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let warnings = file
        .issues
        .iter()
        .map(|i| format!("{} at {}", i.code, i.location))
        .collect();
    Ok(vec![FileReport::accepted(path, records, warnings)])
}
