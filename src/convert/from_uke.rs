//! Reads a UKE claims file (`codec::uke`): medication claims and diagnoses per receipt,
//! filed under the person the HO record's member id names, the clinic's カルテ番号 linked
//! to that person, as the gateway's claims intake does (`intake::identity::link_receipt`).
//! Receipts without a member id (公費単独) stay with the clinic's patient. The file is one
//! report row; its issues (by line and field) and the links refused are the row's
//! warnings.

use std::path::Path;

use super::Fatal;
use super::patients::Patients;
use crate::codec::uke;
use crate::domain::ClinicalRecord;
use crate::intake::{FileReport, Owner, identity};
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
    let mut issues = Vec::new();
    for receipt in claims.receipts {
        let location = format!("line {}", receipt.line);
        let Ok((owner, link)) = identity::link_receipt(patients, &receipt, &location, &mut issues);
        patients.describe(owner, &receipt.demographics);
        if let Some(link) = link {
            let patient = Owner {
                patient_pk: link.patient_pk,
                person_pk: None,
            };
            patients.describe(patient, &receipt.demographics);
        }
        records += receipt.medications.len() + receipt.conditions.len();
        let subject = Some(&receipt.subject);
        for m in receipt.medications {
            patients.file(owner, subject, &location, ClinicalRecord::Medication(m));
        }
        for c in receipt.conditions {
            patients.file(owner, subject, &location, ClinicalRecord::Condition(c));
        }
    }
    let path = input
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let warnings = file
        .issues
        .iter()
        .chain(&issues)
        .map(|i| format!("{} at {}", i.code, i.location))
        .collect();
    Ok(vec![FileReport::accepted(path, records, warnings)])
}
