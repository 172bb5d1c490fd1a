//! Records grouped per patient, in memory: a clinic's local patient and the insured person
//! its insurance names become one patient when a coverage links them (HL7 IN1, UKE HO with
//! a カルテ番号). A member id without 枝番 is shared by a family: a link between two
//! patients whose birth date or sex differ is refused, never guessed.

use std::collections::{BTreeMap, HashMap};

use crate::domain::{ClinicalRecord, Demographics, InstitutionCode, MemberId, SubjectRef};

/// One patient and their records.
#[derive(Debug, Clone, Default)]
pub struct Patient {
    /// The clinic ids (institution, local id) the patient is known by.
    pub local_ids: Vec<(InstitutionCode, String)>,
    pub member: Option<MemberId>,
    pub demographics: Demographics,
    pub records: Vec<ClinicalRecord>,
}

/// Every patient of a conversion, and the institutions their records name.
#[derive(Debug, Default)]
pub struct Patients {
    slots: Vec<Option<Patient>>,
    index: HashMap<SubjectRef, usize>,
    /// Institution code → name, when a source names it.
    pub organizations: BTreeMap<InstitutionCode, Option<String>>,
}

fn fill(into: &mut Demographics, from: &Demographics) {
    into.birth_date = into.birth_date.or(from.birth_date);
    into.sex = into.sex.or(from.sex);
    if into.name.is_none() {
        into.name.clone_from(&from.name);
    }
    if into.name_kana.is_none() {
        into.name_kana.clone_from(&from.name_kana);
    }
}

fn conflict(a: &Demographics, b: &Demographics) -> bool {
    matches!((a.birth_date, b.birth_date), (Some(x), Some(y)) if x != y)
        || matches!((a.sex, b.sex), (Some(x), Some(y)) if x != y)
}

impl Patients {
    fn slot(&mut self, subject: &SubjectRef) -> usize {
        if let Some(&i) = self.index.get(subject) {
            return i;
        }
        let mut patient = Patient::default();
        match subject {
            SubjectRef::Local { facility, local_id } => {
                patient.local_ids.push((facility.clone(), local_id.clone()));
            }
            SubjectRef::Member(m) => patient.member = Some(m.clone()),
            SubjectRef::FhirPatient(_) => {}
        }
        self.slots.push(Some(patient));
        let i = self.slots.len() - 1;
        self.index.insert(subject.clone(), i);
        i
    }

    fn get_mut(&mut self, subject: &SubjectRef) -> &mut Patient {
        let i = self.slot(subject);
        self.slots[i].get_or_insert_with(Patient::default)
    }

    /// Adds what a source says of who the patient is (fills gaps, never overwrites).
    pub fn add_demographics(&mut self, subject: &SubjectRef, demographics: &Demographics) {
        fill(&mut self.get_mut(subject).demographics, demographics);
    }

    /// Files a record under a patient.
    pub fn add_record(&mut self, subject: &SubjectRef, record: ClinicalRecord) {
        self.get_mut(subject).records.push(record);
    }

    /// Notes an institution (and its name, when known).
    pub fn add_organization(&mut self, code: &InstitutionCode, name: Option<&str>) {
        let entry = self.organizations.entry(code.clone()).or_default();
        if entry.is_none() {
            *entry = name.map(str::to_owned);
        }
    }

    /// Links a clinic's patient to the insured person `member` names. False (nothing
    /// changed) when the member already stands for someone of another birth date or sex.
    pub fn link(&mut self, local: &SubjectRef, member: &MemberId) -> bool {
        let a = self.slot(local);
        let key = SubjectRef::Member(member.clone());
        let Some(&b) = self.index.get(&key) else {
            if let Some(p) = self.slots[a].as_mut()
                && p.member.is_none()
            {
                p.member = Some(member.clone());
            }
            self.index.insert(key, a);
            return true;
        };
        if a == b {
            return true;
        }
        let (Some(pa), Some(pb)) = (&self.slots[a], &self.slots[b]) else {
            return false;
        };
        if conflict(&pa.demographics, &pb.demographics) {
            return false;
        }
        let (keep, gone) = (a.min(b), a.max(b));
        let Some(moved) = self.slots[gone].take() else {
            return false;
        };
        if let Some(kept) = self.slots[keep].as_mut() {
            fill(&mut kept.demographics, &moved.demographics);
            if kept.member.is_none() {
                kept.member = moved.member;
            }
            for id in moved.local_ids {
                if !kept.local_ids.contains(&id) {
                    kept.local_ids.push(id);
                }
            }
            kept.records.extend(moved.records);
        }
        for v in self.index.values_mut() {
            if *v == gone {
                *v = keep;
            }
        }
        true
    }

    /// The patients, in the order they were first seen.
    pub fn iter(&self) -> impl Iterator<Item = &Patient> {
        self.slots.iter().flatten()
    }

    /// True when some patient has a lab result.
    pub fn has_lab_results(&self) -> bool {
        self.iter()
            .flat_map(|p| p.records.iter())
            .any(|r| matches!(r, ClinicalRecord::Lab(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Sex;

    fn local(id: &str) -> SubjectRef {
        SubjectRef::Local {
            facility: InstitutionCode::parse("1310000001").unwrap(),
            local_id: id.into(),
        }
    }

    #[test]
    fn a_coverage_merges_the_clinic_patient_and_the_person() {
        let member = MemberId::parse("06139463:12:345:01").unwrap();
        let mut p = Patients::default();
        p.add_record(
            &SubjectRef::Member(member.clone()),
            ClinicalRecord::Condition(crate::domain::Condition {
                subject: SubjectRef::Member(member.clone()),
                codes: Vec::new(),
                name: None,
                onset: None,
                recorded: None,
                clinical_status: None,
                suspected: false,
                facility: None,
            }),
        );
        p.add_demographics(
            &local("7"),
            &Demographics {
                sex: Some(Sex::Female),
                ..Demographics::default()
            },
        );
        assert_eq!(p.iter().count(), 2);
        assert!(p.link(&local("7"), &member));
        let all: Vec<_> = p.iter().collect();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].records.len(), 1);
        assert_eq!(all[0].member.as_ref(), Some(&member));
        assert_eq!(all[0].local_ids.len(), 1);
        // A family member under the same card without 枝番 but another sex is not merged.
        let family = MemberId::parse("06139463:12:345").unwrap();
        assert!(p.link(&local("7"), &family));
        p.add_demographics(
            &local("8"),
            &Demographics {
                sex: Some(Sex::Male),
                ..Demographics::default()
            },
        );
        assert!(!p.link(&local("8"), &family));
        assert_eq!(p.iter().count(), 2);
    }
}
