//! Drug identity per record, memoised: a person's records repeat a few dozen codings
//! many times, so each distinct (institution, codings, name) is looked up in the masters
//! once, and each distinct drug key gets a small number the merge sorts and groups by.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use crate::domain::{Coding, DrugIdentity, DrugKey, InstitutionCode, MedicationRecord};
use crate::mapping::DrugMaster;

/// What a record's identity depends on. Displays do not count.
#[derive(Clone, Copy)]
struct Probe<'a> {
    institution: Option<&'a InstitutionCode>,
    codings: &'a [Coding],
    /// Used only when there is no coding.
    name: Option<&'a str>,
}

impl Hash for Probe<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.institution.map(InstitutionCode::as_str).hash(state);
        state.write_usize(self.codings.len());
        for c in self.codings {
            c.system.hash(state);
            c.code.hash(state);
        }
        if self.codings.is_empty() {
            self.name.hash(state);
        }
    }
}

impl PartialEq for Probe<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.institution == other.institution
            && self.codings.len() == other.codings.len()
            && self
                .codings
                .iter()
                .zip(other.codings)
                .all(|(a, b)| a.system == b.system && a.code == b.code)
            && (!self.codings.is_empty() || self.name == other.name)
    }
}

impl Eq for Probe<'_> {}

/// Identities found so far, and a number per distinct drug key.
pub(super) struct Identities<'a> {
    master: &'a DrugMaster,
    probes: HashMap<Probe<'a>, u32>,
    /// Identity number → identity and the number of its key.
    identities: Vec<(DrugIdentity, u32)>,
    keys: HashMap<DrugKey, u32>,
}

impl<'a> Identities<'a> {
    pub fn new(master: &'a DrugMaster) -> Self {
        Self {
            master,
            probes: HashMap::new(),
            identities: Vec::new(),
            keys: HashMap::new(),
        }
    }

    /// The identity number of a record's drug.
    pub fn of(&mut self, record: &'a MedicationRecord) -> u32 {
        let probe = Probe {
            institution: record.facility.as_ref(),
            codings: &record.codings,
            name: record.drug_name.as_deref(),
        };
        if let Some(&id) = self.probes.get(&probe) {
            return id;
        }
        let identity = self
            .master
            .identify(probe.codings, probe.institution, probe.name);
        let next_key = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
        let key = *self.keys.entry(identity.key.clone()).or_insert(next_key);
        let id = u32::try_from(self.identities.len()).unwrap_or(u32::MAX);
        self.identities.push((identity, key));
        self.probes.insert(probe, id);
        id
    }

    pub fn identity(&self, id: u32) -> &DrugIdentity {
        &self.identities[id as usize].0
    }

    /// The key number of an identity.
    pub fn key_of(&self, id: u32) -> u32 {
        self.identities[id as usize].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::code_system::KnownSystem;
    use crate::domain::{MedicationKind, SubjectRef};

    fn record(system: &str, code: &str) -> MedicationRecord {
        let mut r =
            MedicationRecord::new(MedicationKind::Claim, SubjectRef::FhirPatient("p".into()));
        r.codings
            .push(Coding::new(system, code, Some("shown".into())));
        r
    }

    #[test]
    fn records_naming_one_ingredient_differently_share_a_key_and_displays_do_not_matter() {
        let master = DrugMaster::curated().unwrap();
        let norvasc = record(KnownSystem::Hot9.uri(), "103299401");
        let generic = record(KnownSystem::ReceiptDrug.uri(), "620007870");
        let mut again = record(KnownSystem::Hot9.uri(), "103299401");
        again.codings[0].display = None;
        let unknown = record("http://clinic.example/drugs", "X1");
        let mut ids = Identities::new(&master);
        let (a, b, c, d) = (
            ids.of(&norvasc),
            ids.of(&generic),
            ids.of(&again),
            ids.of(&unknown),
        );
        assert_eq!(a, c, "the same codings are looked up once");
        assert_ne!(a, b);
        assert_eq!(ids.key_of(a), ids.key_of(b));
        assert_ne!(ids.key_of(a), ids.key_of(d));
        assert_eq!(ids.identity(b).key.yj7().unwrap().as_str(), "2171022");
        assert!(!ids.identity(d).is_mapped());
    }
}
