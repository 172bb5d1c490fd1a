//! The persons and patients of a conversion, in memory: the gateway's `persons` and
//! `patients` tables as `intake::identity::Identities`, so the intake's own linking rules
//! (`intake::identity`, over `domain::person_link`) link exactly the records the gateway
//! would link, family cards without 枝番 included.
//!
//! Output groups: one per person (the clinic patients linked to it and the records about
//! it), one per clinic patient not linked to a person, and one per member id whose
//! records could not be linked (an ambiguous family card), in the order they were first
//! seen.

use std::collections::{BTreeMap, HashMap};

use crate::domain::person_link::{self, KnownPerson, LinkFacts, PersonDecision, PersonLookup};
use crate::domain::{ClinicalRecord, Demographics, InstitutionCode, MemberId, SubjectRef};
use crate::intake::{Identities, Owner, PatientLinked, PersonLink};

/// One output group: a person or a clinic patient, and its records.
#[derive(Debug, Clone, Default)]
pub struct Patient {
    /// The clinic ids (institution, local id) the patient is known by.
    pub local_ids: Vec<(InstitutionCode, String)>,
    pub member: Option<MemberId>,
    pub demographics: Demographics,
    pub records: Vec<ClinicalRecord>,
}

/// A person: one member id (upgraded when a branchless person gets its 枝番).
#[derive(Debug, Clone)]
struct Person {
    member: MemberId,
    facts: LinkFacts,
    shown: Demographics,
    seq: usize,
}

/// A facility's patient (the `patients` row).
#[derive(Debug, Clone, Default)]
struct PatientRow {
    local: Option<(InstitutionCode, String)>,
    facility: Option<String>,
    fhir_id: Option<String>,
    person: Option<usize>,
    facts: LinkFacts,
    shown: Demographics,
    seq: usize,
}

/// A record filed under its owner, with where it came from in the input.
#[derive(Debug, Clone)]
struct Filed {
    owner: Owner,
    /// Whom the source said it is about (groups records no one owns).
    subject: Option<SubjectRef>,
    location: String,
    record: ClinicalRecord,
    withdrawn: bool,
}

/// Where a record ended up: for comparing a conversion with the gateway.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RecordPlace {
    pub kind: &'static str,
    /// The record's location in its input (`RXE[1]`, `line 12`, `Bundle.entry[2].resource`).
    pub location: String,
    /// The member key of the person the record belongs to, if any.
    pub person: Option<String>,
}

/// Every person and patient of a conversion, their records, and the institutions named.
#[derive(Debug, Default)]
pub struct Patients {
    persons: Vec<Person>,
    /// Person by member key, and the persons of each family key.
    by_member: HashMap<String, usize>,
    by_family: HashMap<String, Vec<usize>>,
    patients: Vec<Option<PatientRow>>,
    by_local: HashMap<(String, String), usize>,
    by_fhir: HashMap<String, usize>,
    records: Vec<Filed>,
    seq: usize,
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
    if into.names.is_empty() {
        into.names.clone_from(&from.names);
    }
}

/// Row keys are positions, as `i64` like the store's.
fn key(index: usize) -> i64 {
    i64::try_from(index).unwrap_or(i64::MAX)
}

fn index(key: i64) -> usize {
    usize::try_from(key).unwrap_or(usize::MAX)
}

/// The persons in memory as the person-linking rule's lookup.
struct PersonsInMemory<'a>(&'a Patients);

impl PersonsInMemory<'_> {
    fn known(&self, i: usize) -> KnownPerson<usize> {
        let person = &self.0.persons[i];
        KnownPerson {
            id: i,
            member_key: person.member.key(),
            facts: person.facts,
        }
    }
}

impl PersonLookup for PersonsInMemory<'_> {
    type Id = usize;
    type Error = std::convert::Infallible;

    fn by_member_key(&mut self, key: &str) -> Result<Option<KnownPerson<usize>>, Self::Error> {
        Ok(self.0.by_member.get(key).map(|&i| self.known(i)))
    }

    fn by_family_key(&mut self, family: &str) -> Result<Vec<KnownPerson<usize>>, Self::Error> {
        Ok(self
            .0
            .by_family
            .get(family)
            .into_iter()
            .flatten()
            .map(|&i| self.known(i))
            .collect())
    }
}

impl Patients {
    fn next_seq(&mut self) -> usize {
        self.seq += 1;
        self.seq
    }

    fn row(&self, pk: i64) -> Option<&PatientRow> {
        self.patients.get(index(pk)).and_then(Option::as_ref)
    }

    fn row_mut(&mut self, pk: i64) -> Option<&mut PatientRow> {
        self.patients.get_mut(index(pk)).and_then(Option::as_mut)
    }

    fn linked(&self, pk: usize) -> PatientLinked {
        PatientLinked {
            pk: key(pk),
            person_pk: self.patients[pk].as_ref().and_then(|p| p.person).map(key),
        }
    }

    fn insert_row(&mut self, mut row: PatientRow) -> usize {
        row.seq = self.next_seq();
        self.patients.push(Some(row));
        self.patients.len() - 1
    }

    /// Adds what a source says of who the owner is, for the output (names included;
    /// a known value is kept).
    pub fn describe(&mut self, owner: Owner, demographics: &Demographics) {
        if let Some(person) = owner
            .person_pk
            .and_then(|pk| self.persons.get_mut(index(pk)))
        {
            fill(&mut person.shown, demographics);
        }
        if let Some(row) = owner.patient_pk.and_then(|pk| self.row_mut(pk)) {
            fill(&mut row.shown, demographics);
        }
    }

    /// Files a record under its owner; returns its number (for `withdraw`).
    pub fn file(
        &mut self,
        owner: Owner,
        subject: Option<&SubjectRef>,
        location: &str,
        record: ClinicalRecord,
    ) -> usize {
        self.records.push(Filed {
            owner,
            subject: subject.cloned(),
            location: location.to_owned(),
            record,
            withdrawn: false,
        });
        self.records.len() - 1
    }

    /// The FHIR Patient id of the facility's patient with this local id, when it has one.
    pub fn fhir_id_of_local(&self, facility: &str, local_id: &str) -> Option<String> {
        let pk = *self
            .by_local
            .get(&(facility.to_owned(), local_id.to_owned()))?;
        self.patients[pk].as_ref()?.fhir_id.clone()
    }

    /// Withdraws records filed before (an SS-MIX2 invalidation file came for them).
    pub fn withdraw(&mut self, records: impl IntoIterator<Item = usize>) {
        for i in records {
            if let Some(r) = self.records.get_mut(i) {
                r.withdrawn = true;
            }
        }
    }

    /// Notes an institution (and its name, when known).
    pub fn add_organization(&mut self, code: &InstitutionCode, name: Option<&str>) {
        let entry = self.organizations.entry(code.clone()).or_default();
        if entry.is_none() {
            *entry = name.map(str::to_owned);
        }
    }

    fn current(&self) -> impl Iterator<Item = &Filed> {
        self.records.iter().filter(|r| !r.withdrawn)
    }

    /// The person a record belongs to: its own, else its patient's.
    fn person_of(&self, owner: &Owner) -> Option<usize> {
        owner
            .person_pk
            .map(index)
            .or_else(|| owner.patient_pk.and_then(|pk| self.row(pk)?.person))
    }

    /// True when some current record is a lab result.
    pub fn has_lab_results(&self) -> bool {
        self.current()
            .any(|r| matches!(r.record, ClinicalRecord::Lab(_)))
    }

    /// Where every current record ended up, sorted.
    pub fn record_places(&self) -> Vec<RecordPlace> {
        let mut places: Vec<RecordPlace> = self
            .current()
            .map(|r| RecordPlace {
                kind: r.record.kind(),
                location: r.location.clone(),
                person: self
                    .person_of(&r.owner)
                    .map(|p| self.persons[p].member.key()),
            })
            .collect();
        places.sort();
        places
    }

    /// The member key of every person, sorted.
    pub fn person_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.persons.iter().map(|p| p.member.key()).collect();
        keys.sort();
        keys
    }

    /// The output groups, in the order first seen.
    pub fn grouped(&self) -> Vec<Patient> {
        #[derive(PartialEq, Eq, Hash, Clone)]
        enum Group {
            Person(usize),
            Patient(usize),
            Unowned(Option<SubjectRef>),
        }
        let mut order: Vec<(usize, Group)> = Vec::new();
        let mut groups: HashMap<Group, Patient> = HashMap::new();
        for (i, p) in self.persons.iter().enumerate() {
            order.push((p.seq, Group::Person(i)));
            groups.insert(
                Group::Person(i),
                Patient {
                    member: Some(p.member.clone()),
                    demographics: p.shown.clone(),
                    ..Patient::default()
                },
            );
        }
        for (i, row) in self.patients.iter().enumerate() {
            let Some(row) = row else { continue };
            let group = match row.person {
                Some(p) => Group::Person(p),
                None => {
                    order.push((row.seq, Group::Patient(i)));
                    Group::Patient(i)
                }
            };
            let patient = groups.entry(group).or_default();
            if let Some(local) = &row.local
                && !patient.local_ids.contains(local)
            {
                patient.local_ids.push(local.clone());
            }
            fill(&mut patient.demographics, &row.shown);
        }
        for (i, r) in self.current().enumerate() {
            let group = match (self.person_of(&r.owner), r.owner.patient_pk) {
                (Some(p), _) => Group::Person(p),
                (None, Some(pk)) => Group::Patient(index(pk)),
                (None, None) => Group::Unowned(r.subject.clone()),
            };
            let patient = groups.entry(group.clone()).or_insert_with(|| {
                order.push((usize::MAX / 2 + i, group));
                Patient {
                    member: match &r.subject {
                        Some(SubjectRef::Member(m)) => Some(m.clone()),
                        _ => None,
                    },
                    ..Patient::default()
                }
            });
            patient.records.push(r.record.clone());
        }
        order.sort_by_key(|(seq, _)| *seq);
        order
            .into_iter()
            .filter_map(|(_, g)| groups.remove(&g))
            .collect()
    }

    /// Merges patient row `from` into `into` (the store's `merge_patients`).
    fn merge(&mut self, from: usize, into: usize) {
        let Some(gone) = self.patients[from].take() else {
            return;
        };
        for r in &mut self.records {
            if r.owner.patient_pk == Some(key(from)) {
                r.owner.patient_pk = Some(key(into));
            }
        }
        if let Some(kept) = self.patients[into].as_mut() {
            kept.person = kept.person.or(gone.person);
            fill(&mut kept.shown, &gone.shown);
        }
        self.by_fhir.retain(|_, v| *v != from);
        self.by_local.retain(|_, v| *v != from);
    }
}

impl Identities for Patients {
    type Error = std::convert::Infallible;

    fn person_of_member(
        &mut self,
        member: &MemberId,
        facts: LinkFacts,
    ) -> Result<PersonLink, Self::Error> {
        let decision = person_link::decide(member, facts, &mut PersonsInMemory(self))?;
        let i = match decision {
            PersonDecision::Existing(i) => i,
            PersonDecision::Upgrade(i) => {
                self.by_member.remove(&self.persons[i].member.key());
                self.by_member.insert(member.key(), i);
                self.persons[i].member = member.clone();
                i
            }
            PersonDecision::Create => {
                let seq = self.next_seq();
                let i = self.persons.len();
                self.persons.push(Person {
                    member: member.clone(),
                    facts,
                    shown: Demographics::default(),
                    seq,
                });
                self.by_member.insert(member.key(), i);
                self.by_family
                    .entry(member.family_key())
                    .or_default()
                    .push(i);
                return Ok(PersonLink::Linked(key(i)));
            }
            PersonDecision::Ambiguous { candidates } => {
                return Ok(PersonLink::Ambiguous { candidates });
            }
        };
        let person = &mut self.persons[i];
        person.facts = person.facts.filled_from(&facts);
        Ok(PersonLink::Linked(key(i)))
    }

    fn local_patient(
        &mut self,
        facility: &InstitutionCode,
        local_id: &str,
        demographics: &Demographics,
    ) -> Result<PatientLinked, Self::Error> {
        let at = (facility.as_str().to_owned(), local_id.to_owned());
        if let Some(&pk) = self.by_local.get(&at) {
            let found = self.linked(pk);
            if let Some(row) = self.patients[pk].as_mut() {
                row.facts = LinkFacts::of(demographics).filled_from(&row.facts);
            }
            return Ok(found);
        }
        let pk = self.insert_row(PatientRow {
            local: Some((facility.clone(), local_id.to_owned())),
            facility: Some(facility.as_str().to_owned()),
            facts: LinkFacts::of(demographics),
            ..PatientRow::default()
        });
        self.by_local.insert(at, pk);
        Ok(self.linked(pk))
    }

    fn fhir_patient(
        &mut self,
        fhir_id: &str,
        facility: Option<&str>,
    ) -> Result<PatientLinked, Self::Error> {
        if let Some(&pk) = self.by_fhir.get(fhir_id) {
            return Ok(self.linked(pk));
        }
        let pk = self.insert_row(PatientRow {
            facility: facility.map(str::to_owned),
            fhir_id: Some(fhir_id.to_owned()),
            ..PatientRow::default()
        });
        self.by_fhir.insert(fhir_id.to_owned(), pk);
        Ok(self.linked(pk))
    }

    fn record_fhir_patient(
        &mut self,
        fhir_id: &str,
        facility: Option<&str>,
        local_id: Option<&str>,
        demographics: &Demographics,
    ) -> Result<PatientLinked, Self::Error> {
        let Ok(mine) = self.fhir_patient(fhir_id, facility);
        let mut target = mine;
        if let (Some(f), Some(l)) = (facility, local_id) {
            let at = (f.to_owned(), l.to_owned());
            match self.by_local.get(&at).copied() {
                Some(other) if key(other) != mine.pk => {
                    let other_row = self.patients[other].as_ref();
                    if other_row.is_some_and(|o| o.fhir_id.is_none()) {
                        target = self.linked(other);
                        self.merge(index(mine.pk), other);
                        if let Some(row) = self.patients[other].as_mut() {
                            row.fhir_id = Some(fhir_id.to_owned());
                        }
                        self.by_fhir.insert(fhir_id.to_owned(), other);
                    }
                    // Another Patient already claims this local id: both rows stay.
                }
                Some(_) => {}
                None => {
                    let code = InstitutionCode::parse(f).ok();
                    if let Some(row) = self.row_mut(mine.pk) {
                        row.facility = Some(f.to_owned());
                        row.local = code.map(|c| (c, l.to_owned()));
                    }
                    self.by_local.insert(at, index(mine.pk));
                }
            }
        }
        if let Some(row) = self.row_mut(target.pk) {
            row.facts = LinkFacts::of(demographics).filled_from(&row.facts);
        }
        Ok(target)
    }

    fn patient_facts(&mut self, patient_pk: i64) -> Result<LinkFacts, Self::Error> {
        Ok(self.row(patient_pk).map(|r| r.facts).unwrap_or_default())
    }

    fn link_patient_to_person(
        &mut self,
        patient_pk: i64,
        person_pk: i64,
    ) -> Result<(), Self::Error> {
        if let Some(row) = self.row_mut(patient_pk) {
            row.person = Some(index(person_pk));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Sex;
    use crate::intake::identity::resolve_owner;

    fn clinic() -> InstitutionCode {
        InstitutionCode::parse("1310000001").unwrap()
    }

    fn local(id: &str) -> SubjectRef {
        SubjectRef::Local {
            facility: clinic(),
            local_id: id.into(),
        }
    }

    fn condition(subject: &SubjectRef) -> ClinicalRecord {
        ClinicalRecord::Condition(crate::domain::Condition {
            subject: subject.clone(),
            codes: Vec::new(),
            name: None,
            onset: None,
            recorded: None,
            clinical_status: None,
            suspected: false,
            facility: None,
        })
    }

    fn sex(s: Sex) -> Demographics {
        Demographics {
            sex: Some(s),
            ..Demographics::default()
        }
    }

    fn file(p: &mut Patients, subject: &SubjectRef, d: &Demographics, at: &str) -> Vec<Issue> {
        let mut issues = Vec::new();
        let Ok(owner) = resolve_owner(p, subject, d, at, &mut issues);
        p.file(owner, Some(subject), at, condition(subject));
        issues
    }

    use crate::error::Issue;

    #[test]
    fn a_person_groups_its_clinic_patients_and_its_own_records() {
        let member = MemberId::parse("06139463:12:345:01").unwrap();
        let mut p = Patients::default();
        file(
            &mut p,
            &SubjectRef::Member(member.clone()),
            &Demographics::default(),
            "line 3",
        );
        file(&mut p, &local("7"), &sex(Sex::Female), "PID-3");
        assert_eq!(p.grouped().len(), 2);
        let Ok(PersonLink::Linked(person)) =
            p.person_of_member(&member, LinkFacts::of(&sex(Sex::Female)))
        else {
            panic!("a member id with 枝番 is its person");
        };
        let Ok(patient) = p.local_patient(&clinic(), "7", &Demographics::default());
        let Ok(()) = p.link_patient_to_person(patient.pk, person);
        let all = p.grouped();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].records.len(), 2);
        assert_eq!(all[0].member.as_ref(), Some(&member));
        assert_eq!(all[0].local_ids, vec![(clinic(), "7".to_owned())]);
        let places = p.record_places();
        assert!(
            places
                .iter()
                .all(|r| r.person.as_deref() == Some("06139463:12:345:01"))
        );
    }

    #[test]
    fn an_ambiguous_family_card_keeps_its_records_apart_with_a_warning() {
        let mut p = Patients::default();
        for (branch, s) in [("01", Sex::Male), ("02", Sex::Female)] {
            let m = MemberId::parse(&format!("06139463:12:345:{branch}")).unwrap();
            let Ok(_) = p.person_of_member(&m, LinkFacts::of(&sex(s)));
        }
        let card = SubjectRef::Member(MemberId::parse("06139463:12:345").unwrap());
        let issues = file(&mut p, &card, &Demographics::default(), "line 9");
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].location, "line 9");
        assert_eq!(p.record_places()[0].person, None);
        // The card with a sex is the one compatible member.
        assert!(file(&mut p, &card, &sex(Sex::Female), "line 10").is_empty());
        let places = p.record_places();
        assert_eq!(places[0].person.as_deref(), Some("06139463:12:345:02"));
        // Two persons, plus the unlinked card's records.
        assert_eq!(p.grouped().len(), 3);
    }

    #[test]
    fn a_fhir_patient_merges_the_row_its_local_id_was_known_by() {
        let mut p = Patients::default();
        file(&mut p, &local("9"), &Demographics::default(), "PID-3");
        let Ok(row) = p.record_fhir_patient("pt1", Some("1310000001"), Some("9"), &sex(Sex::Male));
        assert_eq!(row.pk, 0, "the clinic's row, now also the FHIR Patient");
        let Ok(again) = p.fhir_patient("pt1", None);
        assert_eq!(again.pk, 0);
        assert_eq!(p.grouped().len(), 1);
        assert_eq!(p.patient_facts(0), Ok(LinkFacts::of(&sex(Sex::Male))));
    }
}
