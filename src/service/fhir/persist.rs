//! Writing prepared resources inside a unit of work: the resource and its versions, its
//! search index, the identity links it establishes (patients, persons, coverage), its
//! canonical records, and its audit row. Runs inside `Store::write`.

use std::collections::HashMap;

use serde_json::Value;

use super::prepare::{Prepared, stamp};
use crate::auth::{Caller, access};
use crate::codec::fhir::ResourceType;
use crate::codec::fhir::search_params;
use crate::codec::fhir::to_domain::CoverageFacts;
use crate::domain::code_system::id_system;
use crate::domain::{ClinicalRecord, MemberId, Provenance, SourceFormat, SubjectRef};
use crate::error::{ErrorCode, Issue, Problem};
use crate::store::Tx;
use crate::store::audit::AuditEntry;
use crate::store::persons::{NewCoverage, PersonLink};
use crate::store::records::Owner;
use crate::store::resources::{ResourceRow, ResourceWrite};
use crate::store::search::SearchQuery;

/// The request-level facts every write in a unit of work shares.
pub struct WriteCtx<'a> {
    pub caller: &'a Caller,
    pub request_id: &'a str,
    pub input_id: i64,
    pub received_at: i64,
    pub audit: Vec<AuditEntry>,
    /// Patient rows already resolved in this unit of work, by FHIR Patient id.
    pub patients: HashMap<String, i64>,
}

impl<'a> WriteCtx<'a> {
    /// The context of a request's writes, for the input `input_id` received at
    /// `received_at` (epoch ms).
    pub fn new(ctx: &'a crate::service::Ctx, input_id: i64, received_at: i64) -> Self {
        Self {
            caller: &ctx.caller,
            request_id: &ctx.request_id,
            input_id,
            received_at,
            audit: Vec::new(),
            patients: HashMap::new(),
        }
    }

    fn audit_entry(&self, action: &str, rtype: ResourceType, id: &str, owner: Owner) -> AuditEntry {
        AuditEntry {
            request_id: Some(self.request_id.to_owned()),
            client_id: Some(self.caller.client_id),
            role: Some(self.caller.role.as_str().to_owned()),
            action: action.to_owned(),
            resource_type: Some(rtype.as_str().to_owned()),
            resource_id: Some(id.to_owned()),
            person_pk: owner.person_pk,
            patient_pk: owner.patient_pk,
            outcome: "success".to_owned(),
            detail: None,
        }
    }
}

/// The result of writing one resource.
#[derive(Debug, Clone)]
pub struct Written {
    pub rtype: ResourceType,
    pub id: String,
    pub version: i64,
    pub last_updated: i64,
    /// 201 when a resource was created; 200 for updates and conditional matches.
    pub created: bool,
    pub body: String,
    pub warnings: Vec<Issue>,
    pub record_kinds: Vec<&'static str>,
}

impl Written {
    fn existing(row: ResourceRow, rtype: ResourceType) -> Self {
        Self {
            rtype,
            id: row.id,
            version: row.version,
            last_updated: row.last_updated,
            created: false,
            body: row.body,
            warnings: Vec::new(),
            record_kinds: Vec::new(),
        }
    }
}

/// Finds the resource a conditional create (`If-None-Exist`) matches, serialising
/// concurrent identical conditions first.
pub fn conditional_match(
    tx: &mut Tx<'_>,
    caller: &Caller,
    rtype: ResourceType,
    query: &str,
    location: &str,
) -> Result<Option<ResourceRow>, Problem> {
    let pairs: Vec<(String, String)> = query
        .trim_start_matches('?')
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    if pairs.is_empty() {
        return Err(Problem::new(
            ErrorCode::InvalidSearch,
            location,
            "If-None-Exist needs a search",
        ));
    }
    let request = search_params::parse_query(rtype, &pairs)?;
    let visibility =
        access::fhir_read(caller, rtype).unwrap_or(crate::store::search::Visibility::Nothing);
    let mut canonical = request.canonical.clone();
    canonical.sort();
    tx.lock(&format!(
        "if-none-exist|{}|{}|{:?}",
        rtype,
        caller.sender_scope(),
        canonical
    ))?;
    let q = SearchQuery {
        rtype: rtype.as_str().to_owned(),
        clauses: request.clauses,
        visibility,
        count: 2,
        after_pk: None,
    };
    let pks = tx.search_pks(&q, 2)?;
    match pks.as_slice() {
        [] => Ok(None),
        [pk] => Ok(tx.resources_by_pk(&[*pk])?.into_iter().next()),
        _ => Err(Problem::new(
            ErrorCode::MultipleMatches,
            location,
            "If-None-Exist matches more than one resource",
        )),
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Creates a new resource from `prepared` (its body already stamped as version 1).
pub fn create(
    tx: &mut Tx<'_>,
    w: &mut WriteCtx<'_>,
    prepared: &Prepared,
    body: &str,
    last_updated: i64,
) -> Result<Written, Problem> {
    if !prepared.fresh_id
        && let Some(existing) = tx.resource(prepared.rtype.as_str(), &prepared.id)?
    {
        // A client-chosen id (PUT create, transaction) that exists: update it instead.
        return update_existing(tx, w, prepared, existing, None);
    }
    let owner_facility = access::owner_facility(w.caller);
    let subject_ref = subject_ref(prepared);
    let (pk, _) = tx.insert_resource(&ResourceWrite {
        rtype: prepared.rtype.as_str(),
        id: &prepared.id,
        owner_facility: owner_facility.as_deref(),
        client_id: w.caller.client_id,
        input_id: Some(w.input_id),
        subject_ref: subject_ref.as_deref(),
        body,
        derived: false,
        last_updated,
    })?;
    tx.insert_index(prepared.rtype.as_str(), pk, &prepared.index)?;
    let (owner, mut warnings) = apply(tx, w, pk, prepared)?;
    warnings.extend(prepared.warnings.iter().cloned());
    let entry = w.audit_entry("create", prepared.rtype, &prepared.id, owner);
    w.audit.push(entry);
    Ok(Written {
        rtype: prepared.rtype,
        id: prepared.id.clone(),
        version: 1,
        last_updated,
        created: true,
        body: body.to_owned(),
        warnings,
        record_kinds: prepared
            .extracted
            .records
            .iter()
            .map(ClinicalRecord::kind)
            .collect(),
    })
}

/// Writes `prepared` as a new version of the resource with its id, or creates it.
pub fn update(
    tx: &mut Tx<'_>,
    w: &mut WriteCtx<'_>,
    prepared: &Prepared,
    if_match: Option<i64>,
    last_updated: i64,
) -> Result<Written, Problem> {
    match tx.resource(prepared.rtype.as_str(), &prepared.id)? {
        Some(existing) => update_existing(tx, w, prepared, existing, if_match),
        None if if_match.is_some() => Err(Problem::new(
            ErrorCode::VersionConflict,
            "If-Match",
            "the resource does not exist",
        )),
        None => {
            let mut resource = prepared.resource.clone();
            let body = stamp(&mut resource, 1, last_updated);
            create(tx, w, prepared, &body, last_updated)
        }
    }
}

fn update_existing(
    tx: &mut Tx<'_>,
    w: &mut WriteCtx<'_>,
    prepared: &Prepared,
    current: ResourceRow,
    if_match: Option<i64>,
) -> Result<Written, Problem> {
    if !access::may_update(w.caller, &current) {
        return Err(Problem::new(
            ErrorCode::FacilityMismatch,
            prepared.location.clone(),
            "the resource belongs to another institution",
        ));
    }
    if current.derived {
        return Err(Problem::new(
            ErrorCode::DerivedReadOnly,
            prepared.location.clone(),
            "this resource was written from an HL7 v2, SS-MIX2, UKE or 特定健診 input; send a corrected message or file instead",
        ));
    }
    if let Some(expected) = if_match
        && expected != current.version
    {
        return Err(Problem::new(
            ErrorCode::VersionConflict,
            "If-Match",
            "the resource has changed since that version",
        ));
    }
    let old: Value = serde_json::from_str(&current.body).unwrap_or(Value::Null);
    let old_index = search_params::index_entries(prepared.rtype, &old);
    let mut resource = prepared.resource.clone();
    let version = current.version + 1;
    let last_updated = tx.now().max(current.last_updated + 1);
    let body = stamp(&mut resource, version, last_updated);
    let owner_facility = access::owner_facility(w.caller);
    let subject_ref = subject_ref(prepared);
    tx.update_resource(
        &current,
        &ResourceWrite {
            rtype: prepared.rtype.as_str(),
            id: &prepared.id,
            owner_facility: owner_facility.as_deref(),
            client_id: w.caller.client_id,
            input_id: Some(w.input_id),
            subject_ref: subject_ref.as_deref(),
            body: &body,
            derived: false,
            last_updated,
        },
    )?;
    tx.delete_index(prepared.rtype.as_str(), current.pk, &old_index)?;
    tx.insert_index(prepared.rtype.as_str(), current.pk, &prepared.index)?;
    tx.delete_records_of_resource(current.pk)?;
    tx.delete_coverages_of_resource(current.pk)?;
    let (owner, mut warnings) = apply(tx, w, current.pk, prepared)?;
    warnings.extend(prepared.warnings.iter().cloned());
    let entry = w.audit_entry("update", prepared.rtype, &prepared.id, owner);
    w.audit.push(entry);
    Ok(Written {
        rtype: prepared.rtype,
        id: prepared.id.clone(),
        version,
        last_updated,
        created: false,
        body,
        warnings,
        record_kinds: prepared
            .extracted
            .records
            .iter()
            .map(ClinicalRecord::kind)
            .collect(),
    })
}

/// Returns the existing resource for a conditional create that matched.
pub fn matched(row: ResourceRow, rtype: ResourceType) -> Written {
    Written::existing(row, rtype)
}

fn subject_ref(prepared: &Prepared) -> Option<String> {
    match &prepared.extracted.subject {
        Some(SubjectRef::FhirPatient(id)) => Some(format!("Patient/{id}")),
        _ if prepared.rtype == ResourceType::Patient => Some(format!("Patient/{}", prepared.id)),
        _ => None,
    }
}

fn mismatch(location: String) -> Problem {
    Problem::new(
        ErrorCode::FacilityMismatch,
        location,
        "the patient belongs to another institution",
    )
}

/// Resolves a subject to its local patient / person, enforcing the writer's institution.
/// Records about a local patient keep only the patient: the person is found through the
/// patient, so a link made later reaches them too.
fn resolve_subject(
    tx: &mut Tx<'_>,
    w: &mut WriteCtx<'_>,
    subject: &SubjectRef,
    location: String,
) -> Result<Owner, Problem> {
    let own = access::owner_facility(w.caller);
    match subject {
        SubjectRef::FhirPatient(id) => {
            if let Some(&pk) = w.patients.get(id) {
                return Ok(Owner {
                    patient_pk: Some(pk),
                    person_pk: None,
                });
            }
            let row = tx.ensure_fhir_patient(id, own.as_deref())?;
            if row.facility.is_some() && row.facility != own {
                return Err(mismatch(location));
            }
            w.patients.insert(id.clone(), row.pk);
            Ok(Owner {
                patient_pk: Some(row.pk),
                person_pk: None,
            })
        }
        SubjectRef::Local { facility, local_id } => {
            if Some(facility.as_str()) != own.as_deref() {
                return Err(mismatch(location));
            }
            let row = tx.upsert_local_patient(facility.as_str(), local_id, &Default::default())?;
            Ok(Owner {
                patient_pk: Some(row.pk),
                person_pk: None,
            })
        }
        SubjectRef::Member(member) => match tx.resolve_person(member, None, None)? {
            PersonLink::Linked(pk) => Ok(Owner {
                patient_pk: None,
                person_pk: Some(pk),
            }),
            PersonLink::Ambiguous { .. } => Ok(Owner::default()),
        },
    }
}

fn ambiguous(location: &str) -> Issue {
    Issue::warning(
        ErrorCode::InvalidMemberId,
        location,
        "member id without 枝番 matches several family members; the patient is not linked yet",
    )
}

/// Applies what the resource says about identity, and stores its canonical records.
fn apply(
    tx: &mut Tx<'_>,
    w: &mut WriteCtx<'_>,
    resource_pk: i64,
    prepared: &Prepared,
) -> Result<(Owner, Vec<Issue>), Problem> {
    let caller = w.caller;
    let mut warnings = Vec::new();
    let location = &prepared.location;
    let mut owner = Owner::default();
    if let Some(subject) = &prepared.extracted.subject {
        let element = prepared.rtype.subject_element().unwrap_or("subject");
        owner = resolve_subject(tx, w, subject, format!("{location}.{element}"))?;
        if matches!(subject, SubjectRef::Member(_)) {
            match owner.person_pk {
                // Named by member id: about the person's own Patient, so the registered
                // doctor sees it like the person's other data.
                Some(person) => {
                    let patient = crate::service::derived::person_patient(tx, person)?;
                    tx.set_resource_subject(resource_pk, &format!("Patient/{patient}"))?;
                }
                None => warnings.push(ambiguous(&format!("{location}.{element}.identifier.value"))),
            }
        }
    }
    if let Some(facts) = &prepared.extracted.patient {
        let own = access::owner_facility(caller);
        let local_id = facts
            .local_ids
            .iter()
            .find(|(f, _)| Some(f.as_str()) == own.as_deref())
            .map(|(_, id)| id.as_str());
        if let Some(existing) = tx.patient_by_fhir_id(&prepared.id)?
            && existing.facility.is_some()
            && existing.facility != own
        {
            return Err(mismatch(location.clone()));
        }
        let row =
            tx.upsert_fhir_patient(&prepared.id, own.as_deref(), local_id, &facts.demographics)?;
        owner = Owner {
            patient_pk: Some(row.pk),
            person_pk: row.person_pk,
        };
        if let Some(member) = &facts.member {
            let birth = crate::store::persons::birth_date_text(facts.demographics.birth_date);
            let sex = crate::store::persons::sex_code(facts.demographics.sex);
            match tx.resolve_person(member, birth, sex)? {
                PersonLink::Linked(person) => {
                    tx.link_patient(row.pk, person)?;
                    owner.person_pk = Some(person);
                }
                PersonLink::Ambiguous { .. } => warnings.push(ambiguous(location)),
            }
        }
    }
    if let Some(coverage) = &prepared.extracted.coverage {
        owner = link_coverage(tx, w, resource_pk, coverage, location, &mut warnings)?;
    }
    let prov = Provenance {
        client_id: caller.client_id,
        input_id: w.input_id,
        format: SourceFormat::Fhir,
        received_at: w.received_at,
        location: location.clone(),
    };
    for record in &prepared.extracted.records {
        match record {
            ClinicalRecord::Medication(m) => {
                tx.insert_medication(m, owner, &prov, Some(resource_pk))?
            }
            ClinicalRecord::Lab(l) => tx.insert_lab(l, owner, &prov, Some(resource_pk))?,
            ClinicalRecord::Condition(c) => {
                tx.insert_condition(c, owner, &prov, Some(resource_pk))?
            }
            ClinicalRecord::Allergy(a) => tx.insert_allergy(a, owner, &prov, Some(resource_pk))?,
        };
    }
    Ok((owner, warnings))
}

/// The insurer number of a payor Organization stored in kakari.
fn insurer_of_payor(tx: &mut Tx<'_>, payor_id: &str) -> Result<Option<String>, Problem> {
    let Some(row) = tx.resource("Organization", payor_id)? else {
        return Ok(None);
    };
    let org: Value = serde_json::from_str(&row.body).unwrap_or(Value::Null);
    Ok(org
        .get("identifier")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|i| {
            i.get("system")
                .and_then(Value::as_str)
                .is_some_and(id_system::is_insurer)
        })
        .and_then(|i| i.get("value").and_then(Value::as_str))
        .map(str::to_owned))
}

fn link_coverage(
    tx: &mut Tx<'_>,
    w: &mut WriteCtx<'_>,
    resource_pk: i64,
    coverage: &CoverageFacts,
    location: &str,
    warnings: &mut Vec<Issue>,
) -> Result<Owner, Problem> {
    let caller = w.caller;
    let mut owner = Owner::default();
    if let Some(id) = &coverage.beneficiary {
        owner = resolve_subject(
            tx,
            w,
            &SubjectRef::FhirPatient(id.clone()),
            format!("{location}.beneficiary"),
        )?;
    }
    let member: Option<MemberId> = match (&coverage.member, &coverage.partial) {
        (Some(m), _) => Some(m.clone()),
        (None, Some(p)) => {
            let insurer = match (&p.insurer, &p.payor_id) {
                (Some(i), _) => Some(i.clone()),
                (None, Some(payor)) => insurer_of_payor(tx, payor)?,
                (None, None) => None,
            };
            insurer.and_then(|i| {
                MemberId::from_parts(&i, &p.symbol, &p.number, p.branch.as_deref()).ok()
            })
        }
        (None, None) => None,
    };
    let Some(member) = member else {
        warnings.push(Issue::warning(
            ErrorCode::InvalidMemberId,
            location,
            "the coverage gives no complete member id (insurer number, 記号, 番号); the patient is not linked yet",
        ));
        return Ok(owner);
    };
    let (birth, sex) = match owner.patient_pk {
        Some(pk) => tx.patient_demographics(pk)?,
        None => (None, None),
    };
    let person = match tx.resolve_person(&member, birth, sex)? {
        PersonLink::Linked(person) => {
            if let Some(patient) = owner.patient_pk
                && coverage.active
            {
                tx.link_patient(patient, person)?;
            }
            owner.person_pk = Some(person);
            Some(person)
        }
        PersonLink::Ambiguous { .. } => {
            warnings.push(ambiguous(location));
            None
        }
    };
    tx.insert_coverage(&NewCoverage {
        patient_pk: owner.patient_pk,
        person_pk: person,
        member_key: &member.key(),
        active: coverage.active,
        source_resource_pk: Some(resource_pk),
        input_id: w.input_id,
        client_id: caller.client_id,
        received_at: w.received_at,
    })?;
    Ok(owner)
}
