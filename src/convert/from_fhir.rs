//! Reads FHIR R4 JSON as the gateway takes it in: a file holding a Bundle (transaction,
//! batch, document or collection) or one resource, an NDJSON file (`.ndjson`, one
//! resource a line), or a directory of such files, in name order.
//!
//! Every resource is checked exactly as the gateway checks it (`codec::fhir::admit`: the
//! R4 schema subset, the JP Core rules, facility-local ids of `--facility` only), mapped
//! with `codec::fhir::to_domain`, and linked and filed as the gateway stores it
//! (`intake::identity`). Each input is what a sender would post:
//!
//! * a single resource (a file or an NDJSON line): `PUT [type]/[id]` when it has an id (a
//!   later version replaces the records of the earlier one), else `POST [type]`;
//! * a transaction: all or nothing; a batch: each entry on its own (one report row per
//!   entry, `file#entry[i]`); a document or collection: all or nothing, its entries of
//!   served types stored, the others reported (`fhir.unsupported_type`), a Patient
//!   carrying the facility's own local id already sent reused;
//! * `Bundle.identifier` is the Bundle's key: the same Bundle again is a duplicate, the
//!   same identifier with other content is refused (`intake.key_reused`);
//! * a subject `Patient/{id}` must be a Patient sent earlier in the input or in the same
//!   Bundle (`fhir.invalid_reference`), a facility-local subject the facility's own.
//!
//! Not evaluated offline: conditional creates (`ifNoneExist`) other than a document's own
//! Patient, and `ifMatch` (there is no stored version to compare); such entries are
//! converted as plain creates and updates.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::Value;

use super::Fatal;
use super::input_files;
use super::patients::Patients;
use crate::codec::fhir::admit::{self, Admitted, other_institution, unknown_patient};
use crate::codec::fhir::bundle::{self, BundleKind, at_entry, rest_base, rewrite_references};
use crate::codec::fhir::digest::bundle_content_digest;
use crate::codec::fhir::document::{self, DocumentKind};
use crate::codec::fhir::to_domain::{self, Extracted};
use crate::codec::fhir::value::{items, str_of};
use crate::codec::fhir::{ResourceType, json as fhir_json};
use crate::domain::code_system::id_system;
use crate::domain::person_link::LinkFacts;
use crate::domain::{InstitutionCode, SubjectRef};
use crate::error::{Issue, Problem};
use crate::intake::identity::{self, patient_not_linked};
use crate::intake::report::bundle_key_reused;
use crate::intake::{FileReport, Identities, KeyState, KeysInMemory, Owner, PersonLink, SeenKeys};

/// Reads every file of the input; returns the report rows.
pub fn read(
    input: &Path,
    facility: &InstitutionCode,
    patients: &mut Patients,
) -> Result<Vec<FileReport>, Fatal> {
    let mut reader = Reader::new(facility, patients);
    input_files::each(input, &mut |found| match found {
        Ok((path, bytes)) => reader.file(path, bytes),
        Err(report) => reader.reports.push(report),
    })?;
    Ok(reader.reports)
}

/// One resource to write: its type, id, the resource (references resolved) and where it
/// sits in its input.
struct Unit {
    rtype: ResourceType,
    id: String,
    location: String,
    /// The entry's index in its Bundle.
    entry: Option<usize>,
    resource: Value,
}

/// A unit checked and ready to apply.
struct Ready {
    unit: Unit,
    admitted: Admitted,
}

/// What applying a resource gave: its records and warnings.
#[derive(Default)]
struct Applied {
    records: usize,
    warnings: Vec<Issue>,
}

impl Applied {
    fn add(&mut self, other: Applied) {
        self.records += other.records;
        self.warnings.extend(other.warnings);
    }
}

struct Reader<'a> {
    facility: &'a InstitutionCode,
    patients: &'a mut Patients,
    seen: KeysInMemory,
    /// Ids of the Patient resources written: subjects may refer to them.
    written_patients: HashSet<String>,
    /// Insurer numbers of the Organizations written, by id (to complete Coverage member ids).
    insurers: HashMap<String, String>,
    /// Records of every resource written (`Type/id`): a new version replaces them.
    records_of: HashMap<String, Vec<usize>>,
    next_id: usize,
    reports: Vec<FileReport>,
}

fn warning_texts(issues: &[Issue]) -> Vec<String> {
    issues
        .iter()
        .map(|i| format!("{} at {}", i.code, i.location))
        .collect()
}

fn rejected(path: String, problem: &Problem) -> FileReport {
    match problem.issues.iter().find(|i| i.is_error()) {
        Some(first) => FileReport::rejected(path, first),
        None => FileReport::rejected(path, &Issue::error(problem.code, "", "refused")),
    }
}

impl<'a> Reader<'a> {
    fn new(facility: &'a InstitutionCode, patients: &'a mut Patients) -> Self {
        Self {
            facility,
            patients,
            seen: KeysInMemory::default(),
            written_patients: HashSet::new(),
            insurers: HashMap::new(),
            records_of: HashMap::new(),
            next_id: 0,
            reports: Vec::new(),
        }
    }

    /// A fresh id for a created resource.
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("convert-{}", self.next_id)
    }

    fn file(&mut self, path: &str, bytes: &[u8]) {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".ndjson") || lower.ends_with(".jsonl") {
            for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                self.json(format!("{path}#{}", n + 1), line);
            }
        } else {
            self.json(path.to_owned(), bytes);
        }
    }

    fn json(&mut self, path: String, bytes: &[u8]) {
        let value = match fhir_json::parse(bytes) {
            Ok(v) => v,
            Err(p) => return self.reports.push(rejected(path, &p)),
        };
        if str_of(&value, "resourceType") != Some("Bundle") {
            return self.single(path, value);
        }
        match DocumentKind::of(&value) {
            Some(_) => self.document(path, value),
            None => self.bundle(path, value),
        }
    }

    /// Checks a unit as the gateway does.
    fn admit(&self, unit: &mut Unit) -> Result<Admitted, Problem> {
        let admitted = admit::admit(
            unit.rtype,
            &mut unit.resource,
            &unit.id,
            &unit.location,
            Some(self.facility),
        );
        match unit.entry {
            Some(i) => admitted.map_err(|e| at_entry(e, i)),
            None => admitted,
        }
    }

    /// The gateway's refusals while writing: a subject or beneficiary that is not a
    /// Patient sent before (or in `bundle`), a facility-local subject of another
    /// institution.
    fn check(&self, ready: &Ready, bundle: &HashSet<String>) -> Result<(), Problem> {
        let known = |id: &str| self.written_patients.contains(id) || bundle.contains(id);
        let unit = &ready.unit;
        let extracted = &ready.admitted.extracted;
        let location = &unit.location;
        let refused = if let Some(subject) = &extracted.subject {
            let element = unit.rtype.subject_element().unwrap_or("subject");
            let at = format!("{location}.{element}");
            match subject {
                SubjectRef::FhirPatient(id) if !known(id) => Some(unknown_patient(at)),
                SubjectRef::Local { facility, .. } if facility != self.facility => {
                    Some(other_institution(at))
                }
                _ => None,
            }
        } else {
            None
        };
        let beneficiary = extracted
            .coverage
            .as_ref()
            .and_then(|c| c.beneficiary.as_deref());
        let refused = refused.or_else(|| {
            beneficiary
                .filter(|id| !known(id))
                .map(|_| unknown_patient(format!("{location}.beneficiary")))
        });
        match (refused, unit.entry) {
            (Some(p), Some(i)) => Err(at_entry(p, i)),
            (Some(p), None) => Err(p),
            (None, _) => Ok(()),
        }
    }

    /// Links and files what a checked resource says (the gateway's `persist::apply`).
    fn apply(&mut self, ready: &Ready) -> Applied {
        let own = self.facility.as_str();
        let unit = &ready.unit;
        let extracted: &Extracted = &ready.admitted.extracted;
        let location = &unit.location;
        let key = format!("{}/{}", unit.rtype, unit.id);
        if let Some(old) = self.records_of.remove(&key) {
            self.patients.withdraw(old);
        }
        let mut applied = Applied {
            records: extracted.records.len(),
            warnings: ready.admitted.warnings.clone(),
        };
        let warnings = &mut applied.warnings;
        let patients = &mut *self.patients;
        let mut owner = Owner::default();
        if let Some(subject) = &extracted.subject {
            let element = unit.rtype.subject_element().unwrap_or("subject");
            owner = match subject {
                SubjectRef::FhirPatient(id) => Owner {
                    patient_pk: Some(unwrap(patients.fhir_patient(id, Some(own))).pk),
                    person_pk: None,
                },
                SubjectRef::Local { facility, local_id } => Owner {
                    patient_pk: Some(
                        unwrap(patients.local_patient(facility, local_id, &Default::default())).pk,
                    ),
                    person_pk: None,
                },
                SubjectRef::Member(member) => {
                    match unwrap(patients.person_of_member(member, LinkFacts::default())) {
                        PersonLink::Linked(pk) => Owner {
                            patient_pk: None,
                            person_pk: Some(pk),
                        },
                        PersonLink::Ambiguous { .. } => {
                            warnings.push(patient_not_linked(format!(
                                "{location}.{element}.identifier.value"
                            )));
                            Owner::default()
                        }
                    }
                }
            };
        }
        if let Some(facts) = &extracted.patient {
            owner = unwrap(identity::link_fhir_patient(
                patients,
                &unit.id,
                Some(own),
                facts,
                location,
                warnings,
            ));
            patients.describe(owner, &facts.demographics);
            self.written_patients.insert(unit.id.clone());
        }
        if let Some(coverage) = &extracted.coverage {
            owner = Owner::default();
            if let Some(id) = &coverage.beneficiary {
                owner.patient_pk = Some(unwrap(patients.fhir_patient(id, Some(own))).pk);
            }
            let payor = coverage
                .payor_to_read()
                .and_then(|id| self.insurers.get(id))
                .map(String::as_str);
            match coverage.member_id(payor) {
                Some(member) => {
                    unwrap(identity::link_coverage(
                        patients,
                        &mut owner,
                        &member,
                        coverage.active,
                        location,
                        warnings,
                    ));
                }
                None => warnings.push(identity::incomplete_member(location.as_str())),
            }
        }
        if unit.rtype == ResourceType::Organization
            && let Some(insurer) = to_domain::insurer_of_organization(&unit.resource)
        {
            self.insurers.insert(unit.id.clone(), insurer);
        }
        let filed = extracted
            .records
            .iter()
            .map(|r| {
                if let Some(f) = r.facility() {
                    patients.add_organization(f, None);
                }
                patients.file(owner, extracted.subject.as_ref(), location, r.clone())
            })
            .collect();
        self.records_of.insert(key, filed);
        applied
    }

    /// Claims a Bundle's identifier; the report row of a Bundle seen before (a duplicate,
    /// or its identifier reused for other content).
    fn seen_before(
        &mut self,
        path: &str,
        key: Option<&str>,
        digest: &[u8; 32],
    ) -> Option<FileReport> {
        let key = key?;
        let Ok(state) = self.seen.claim(&format!("bundle|{key}"), digest);
        match state {
            KeyState::New => None,
            KeyState::SameContent => Some(FileReport::bare(path.to_owned(), "duplicate")),
            KeyState::OtherContent => {
                Some(FileReport::rejected(path.to_owned(), &bundle_key_reused()))
            }
        }
    }

    /// A resource on its own: `PUT` with its id, else `POST`.
    fn single(&mut self, path: String, value: Value) {
        let rtype = match admit::resource_type_of(&value, None, "resource") {
            Ok(t) => t,
            Err(p) => return self.reports.push(rejected(path, &p)),
        };
        let id = match str_of(&value, "id") {
            Some(id) => id.to_owned(),
            None => self.new_id(),
        };
        let mut unit = Unit {
            rtype,
            id,
            location: rtype.as_str().to_owned(),
            entry: None,
            resource: value,
        };
        let admitted = match self.admit(&mut unit) {
            Ok(a) => a,
            Err(p) => return self.reports.push(rejected(path, &p)),
        };
        let ready = Ready { unit, admitted };
        if let Err(p) = self.check(&ready, &HashSet::new()) {
            return self.reports.push(rejected(path, &p));
        }
        let applied = self.apply(&ready);
        self.reports.push(FileReport::accepted(
            path,
            applied.records,
            warning_texts(&applied.warnings),
        ));
    }

    /// The units of a Bundle's entries, their references pointing at the ids they are
    /// written under.
    fn units(
        &self,
        entries: Vec<(usize, Option<String>, ResourceType, String, Value)>,
    ) -> Vec<Unit> {
        let map: HashMap<String, String> = entries
            .iter()
            .filter_map(|(_, url, rtype, id, _)| Some((url.clone()?, format!("{rtype}/{id}"))))
            .collect();
        entries
            .into_iter()
            .map(|(index, url, rtype, id, mut resource)| {
                let base = url.as_deref().and_then(rest_base);
                rewrite_references(&mut resource, &map, base);
                Unit {
                    rtype,
                    id,
                    location: format!("Bundle.entry[{index}].resource"),
                    entry: Some(index),
                    resource,
                }
            })
            .collect()
    }

    /// Writes checked units, Patients first (as the gateway's transactions do).
    fn write_all(&mut self, ready: &[Ready]) -> Applied {
        let mut order: Vec<&Ready> = ready.iter().collect();
        order.sort_by_key(|r| r.unit.rtype != ResourceType::Patient);
        let mut all = Applied::default();
        for r in order {
            all.add(self.apply(r));
        }
        all
    }

    /// Checks every unit of an all-or-nothing Bundle: the first refusal refuses it.
    fn check_all(&self, ready: &[Ready], also: &HashSet<String>) -> Result<(), Problem> {
        let mut bundle: HashSet<String> = ready
            .iter()
            .filter(|r| r.unit.rtype == ResourceType::Patient)
            .map(|r| r.unit.id.clone())
            .collect();
        bundle.extend(also.iter().cloned());
        ready.iter().try_for_each(|r| self.check(r, &bundle))
    }

    /// A batch or transaction Bundle.
    fn bundle(&mut self, path: String, value: Value) {
        let key = bundle::identifier_of(&value);
        let digest = bundle_content_digest(&value);
        let request = match bundle::parse(value) {
            Ok(r) => r,
            Err(p) => return self.reports.push(rejected(path, &p)),
        };
        let transaction = request.kind == BundleKind::Transaction;
        let mut planned = Vec::new();
        let mut refused: Vec<(usize, Problem)> = Vec::new();
        for (i, entry) in request.entries.into_iter().enumerate() {
            match entry {
                Ok(e) => {
                    let id = e.id.clone().unwrap_or_else(|| self.new_id());
                    planned.push((e.index, e.full_url, e.rtype, id, e.resource));
                }
                Err(p) if transaction => return self.reports.push(rejected(path, &at_entry(p, i))),
                Err(p) => refused.push((i, at_entry(p, i))),
            }
        }
        let mut ready = Vec::new();
        for mut unit in self.units(planned) {
            match self.admit(&mut unit) {
                Ok(admitted) => ready.push(Ready { unit, admitted }),
                Err(p) if transaction => return self.reports.push(rejected(path, &p)),
                Err(p) => refused.push((unit.entry.unwrap_or(0), p)),
            }
        }
        if transaction {
            if let Err(p) = self.check_all(&ready, &HashSet::new()) {
                return self.reports.push(rejected(path, &p));
            }
            if let Some(report) = self.seen_before(&path, key.as_deref(), &digest) {
                return self.reports.push(report);
            }
            let applied = self.write_all(&ready);
            return self.reports.push(FileReport::accepted(
                path,
                applied.records,
                warning_texts(&applied.warnings),
            ));
        }
        if let Some(report) = self.seen_before(&path, key.as_deref(), &digest) {
            return self.reports.push(report);
        }
        // A batch: each entry on its own, Patients first, reported in Bundle order.
        let mut rows: Vec<(usize, FileReport)> = refused
            .iter()
            .map(|(i, p)| (*i, rejected(format!("{path}#entry[{i}]"), p)))
            .collect();
        let mut order: Vec<&Ready> = ready.iter().collect();
        order.sort_by_key(|r| r.unit.rtype != ResourceType::Patient);
        for r in order {
            let index = r.unit.entry.unwrap_or(0);
            let row_path = format!("{path}#entry[{index}]");
            let row = match self.check(r, &HashSet::new()) {
                Err(p) => rejected(row_path, &p),
                Ok(()) => {
                    let applied = self.apply(r);
                    FileReport::accepted(
                        row_path,
                        applied.records,
                        warning_texts(&applied.warnings),
                    )
                }
            };
            rows.push((index, row));
        }
        rows.sort_by_key(|(i, _)| *i);
        self.reports.extend(rows.into_iter().map(|(_, r)| r));
    }

    /// The facility's own local patient id a Patient entry carries, if any.
    fn own_local_id<'v>(&self, resource: &'v Value) -> Option<&'v str> {
        let own = id_system::local_patient_system(self.facility.as_str());
        items(resource, "identifier").iter().find_map(|i| {
            let value = str_of(i, "value").filter(|v| !v.is_empty())?;
            (str_of(i, "system") == Some(own.as_str())).then_some(value)
        })
    }

    /// A document or collection Bundle: all or nothing.
    fn document(&mut self, path: String, value: Value) {
        let doc = match document::parse(&value) {
            Ok(d) => d,
            Err(p) => return self.reports.push(rejected(path, &p)),
        };
        let digest = bundle_content_digest(&value);
        // The Bundle as received: R4 schema (served entries by their type) and code forms.
        let whole_id = self.new_id();
        let mut whole = Unit {
            rtype: ResourceType::Bundle,
            id: whole_id,
            location: "Bundle".into(),
            entry: None,
            resource: value,
        };
        let whole_admitted = match self.admit(&mut whole) {
            Ok(a) => a,
            Err(p) => return self.reports.push(rejected(path, &p)),
        };
        // The writer's own Patient sent before is reused, not written again.
        let mut reused: HashMap<usize, String> = HashMap::new();
        let mut planned = Vec::new();
        for e in &doc.entries {
            let Some(rtype) = e.served else { continue };
            let existing = (rtype == ResourceType::Patient)
                .then(|| self.own_local_id(&e.resource))
                .flatten()
                .and_then(|local| {
                    self.patients
                        .fhir_id_of_local(self.facility.as_str(), local)
                })
                .filter(|id| self.written_patients.contains(id));
            let id = match existing {
                Some(id) => {
                    reused.insert(e.index, id.clone());
                    id
                }
                None => self.new_id(),
            };
            planned.push((e.index, e.full_url.clone(), rtype, id, e.resource.clone()));
        }
        let mut ready = Vec::new();
        let mut errors: Vec<Issue> = Vec::new();
        for mut unit in self.units(planned) {
            match self.admit(&mut unit) {
                Ok(admitted) => ready.push(Ready { unit, admitted }),
                Err(p) => errors.extend(p.issues),
            }
        }
        if let Some(first) = errors.iter().find(|i| i.is_error()) {
            return self.reports.push(FileReport::rejected(path, first));
        }
        if let Some(report) = self.seen_before(&path, doc.identifier.as_deref(), &digest) {
            return self.reports.push(report);
        }
        let (kept, fresh): (Vec<Ready>, Vec<Ready>) = ready
            .into_iter()
            .partition(|r| r.unit.entry.is_some_and(|i| reused.contains_key(&i)));
        if let Err(p) = self.check_all(&fresh, &HashSet::new()) {
            return self.reports.push(rejected(path, &p));
        }
        let mut applied = Applied {
            records: 0,
            warnings: doc.warnings.clone(),
        };
        for e in doc.entries.iter().filter(|e| e.served.is_none()) {
            applied.warnings.push(Issue::warning(
                crate::error::ErrorCode::UnsupportedResourceType,
                format!("Bundle.entry[{}].resource.resourceType", e.index),
                "not served as its own resource; kept only inside the stored Bundle",
            ));
        }
        applied.add(self.write_all(&fresh));
        // The stored Bundle is about the document's subject, resolved like any subject.
        let stored: Vec<(Option<String>, String)> = doc
            .entries
            .iter()
            .filter_map(|e| {
                let unit = kept
                    .iter()
                    .chain(&fresh)
                    .find(|r| r.unit.entry == Some(e.index))?;
                Some((
                    e.full_url.clone(),
                    format!("{}/{}", unit.unit.rtype, unit.unit.id),
                ))
            })
            .collect();
        let mut admitted = whole_admitted;
        admitted.extracted.subject = document::subject(&doc, &stored);
        let whole = Ready {
            unit: whole,
            admitted,
        };
        applied.add(self.apply(&whole));
        self.reports.push(FileReport::accepted(
            path,
            applied.records,
            warning_texts(&applied.warnings),
        ));
    }
}

/// The value of an in-memory operation, which cannot fail.
fn unwrap<T>(result: Result<T, std::convert::Infallible>) -> T {
    match result {
        Ok(v) => v,
        Err(never) => match never {},
    }
}
