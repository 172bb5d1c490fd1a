//! Writing prepared resources inside a unit of work: the resource and its versions, its
//! search index, the identity links it establishes (patients, persons, coverage), its
//! canonical records, and its audit row. Runs inside `Store::write`.

use std::collections::HashMap;

use serde_json::Value;

use super::id_space::IdSpace;
use super::prepare::{Prepared, stamp};
use crate::auth::{Caller, access};
use crate::codec::fhir::ResourceType;
use crate::codec::fhir::admit::{other_institution as mismatch, unknown_patient as unresolved};
use crate::codec::fhir::search_params;
use crate::codec::fhir::to_domain::{self, CoverageFacts, ExtractContext};
use crate::domain::{ClinicalRecord, Provenance, SourceFormat, SubjectRef};
use crate::error::{ErrorCode, Issue, Problem};
use crate::intake::identity;
use crate::store::audit::AuditEntry;
use crate::store::persons::{NewCoverage, PersonLink};
use crate::store::records::Owner;
use crate::store::resources::{ResourceRow, ResourceWrite};
use crate::store::search::{Match, SearchQuery, Visibility};
use crate::store::{StoreError, Tx};

/// The request-level facts every write in a unit of work shares.
pub struct WriteCtx<'a> {
    pub caller: &'a Caller,
    pub request_id: &'a str,
    pub input_id: i64,
    pub received_at: i64,
    pub audit: Vec<AuditEntry>,
    /// Patient rows already resolved in this unit of work, by served Patient id.
    pub patients: HashMap<String, i64>,
    /// The writer's own ids (loaded with the first write of the unit of work).
    ids: Option<IdSpace>,
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
            ids: None,
        }
    }

    /// The writer's id space in this unit of work.
    pub fn ids(&mut self, tx: &mut Tx<'_>) -> Result<&mut IdSpace, StoreError> {
        let space = match self.ids.take() {
            Some(space) => space,
            None => IdSpace::of(tx, self.caller)?,
        };
        Ok(self.ids.insert(space))
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
    /// The served id (what every other reader sees).
    pub id: String,
    /// The id as the writer knows it (its own id when another institution held the served
    /// one first; otherwise the served id).
    pub own_id: String,
    pub version: i64,
    pub last_updated: i64,
    /// 201 when a resource was created; 200 for updates and conditional matches.
    pub created: bool,
    /// The stored resource as the writer sees it (in its own ids).
    pub body: String,
    pub warnings: Vec<Issue>,
    pub record_kinds: Vec<&'static str>,
}

impl Written {
    /// Puts the writer's own ids into `own_id` and `body`.
    fn presented(mut self, tx: &mut Tx<'_>, ids: &IdSpace) -> Result<Self, StoreError> {
        self.own_id = ids.own(tx, self.rtype.as_str(), &self.id)?;
        self.body = ids.to_own_text(tx, std::mem::take(&mut self.body))?;
        Ok(self)
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
    let visibility = access::fhir_read(caller, rtype).unwrap_or(Visibility::Nothing);
    let ids = IdSpace::of(tx, caller)?;
    let clauses = served_clauses(tx, &ids, rtype, request.clauses)?;
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
        clauses,
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

/// The reference and id search values of a query, in served ids.
pub fn served_clauses(
    tx: &mut Tx<'_>,
    ids: &IdSpace,
    rtype: ResourceType,
    clauses: Vec<Vec<Match>>,
) -> Result<Vec<Vec<Match>>, StoreError> {
    let references = |param: &str| {
        search_params::params_of(rtype)
            .iter()
            .any(|d| d.stored_as() == param && d.kind == search_params::ParamKind::Reference)
    };
    let mut out = Vec::with_capacity(clauses.len());
    for clause in clauses {
        let mut alternatives = Vec::with_capacity(clause.len());
        for m in clause {
            alternatives.push(match m {
                Match::Id(id) => Match::Id(ids.served(tx, rtype.as_str(), &id)?),
                Match::Token {
                    param,
                    system,
                    value,
                } if references(param) => {
                    let value = match value.split_once('/') {
                        Some((t, id)) => format!("{t}/{}", ids.served(tx, t, id)?),
                        None => value,
                    };
                    Match::Token {
                        param,
                        system,
                        value,
                    }
                }
                other => other,
            });
        }
        out.push(alternatives);
    }
    Ok(out)
}

/// Where a write with an id the writer chose goes.
enum Target {
    /// The writer's resource with that id.
    Existing(ResourceRow),
    /// A new resource with this served id; `aliased` when it differs from the writer's id
    /// because another institution (or kakari itself) holds that one.
    New { served: String, aliased: bool },
}

/// Finds what the writer's id denotes, serialising concurrent writers of the same id.
fn target(
    tx: &mut Tx<'_>,
    w: &mut WriteCtx<'_>,
    rtype: ResourceType,
    id: &str,
) -> Result<Target, Problem> {
    tx.lock(&format!("resource-id|{rtype}|{id}"))?;
    let caller = w.caller;
    let ids = w.ids(tx)?;
    let served = ids.served(tx, rtype.as_str(), id)?;
    // Directory resources are shared: one id space, the first writer holds an id.
    let has_scope = ids.scope().is_some() && !rtype.is_directory();
    let Some(row) = tx.resource(rtype.as_str(), &served)? else {
        return Ok(Target::New {
            served,
            aliased: false,
        });
    };
    if served != id || row.owner_facility == access::owner_facility(caller) || !has_scope {
        // The writer's own (or, for administrators, the shared directory's): update it,
        // subject to may_update.
        return Ok(Target::Existing(row));
    }
    Ok(Target::New {
        served: super::prepare::new_id(),
        aliased: true,
    })
}

/// `prepared` with the served id and its references in served ids (borrowed when nothing
/// changes, as for almost every writer).
fn localized<'p>(
    tx: &mut Tx<'_>,
    w: &mut WriteCtx<'_>,
    prepared: &'p Prepared,
    served: &str,
) -> Result<std::borrow::Cow<'p, Prepared>, Problem> {
    let caller = w.caller;
    let ids = w.ids(tx)?;
    let mut resource = prepared.resource.clone();
    let references_changed = ids.to_served(tx, &mut resource)?;
    if served == prepared.id && !references_changed {
        return Ok(std::borrow::Cow::Borrowed(prepared));
    }
    if let Value::Object(o) = &mut resource {
        o.insert("id".into(), Value::String(served.to_owned()));
    }
    let ctx = ExtractContext {
        facility: caller.facility.clone(),
    };
    let mut extracted = to_domain::extract(prepared.rtype, &resource, &prepared.location, &ctx);
    // The warnings were reported when the resource was prepared.
    extracted.issues.clear();
    Ok(std::borrow::Cow::Owned(Prepared {
        rtype: prepared.rtype,
        id: served.to_owned(),
        index: search_params::index_entries(prepared.rtype, &resource),
        resource,
        extracted,
        location: prepared.location.clone(),
        warnings: prepared.warnings.clone(),
        fresh_id: prepared.fresh_id,
    }))
}

/// Creates a resource from `prepared`; `stamped` is its body already stamped as version 1
/// (used when the id and references stay as sent). An id the writer chose that it already
/// uses updates that resource instead.
pub fn create(
    tx: &mut Tx<'_>,
    w: &mut WriteCtx<'_>,
    prepared: &Prepared,
    stamped: &str,
    last_updated: i64,
) -> Result<Written, Problem> {
    if prepared.fresh_id {
        return create_new(tx, w, prepared, &prepared.id, Some(stamped), last_updated);
    }
    write_chosen_id(tx, w, prepared, None, Some(stamped), last_updated)
}

/// Writes `prepared` as a new version of the writer's resource with its id, or creates it.
pub fn update(
    tx: &mut Tx<'_>,
    w: &mut WriteCtx<'_>,
    prepared: &Prepared,
    if_match: Option<i64>,
    last_updated: i64,
) -> Result<Written, Problem> {
    write_chosen_id(tx, w, prepared, if_match, None, last_updated)
}

fn write_chosen_id(
    tx: &mut Tx<'_>,
    w: &mut WriteCtx<'_>,
    prepared: &Prepared,
    if_match: Option<i64>,
    stamped: Option<&str>,
    last_updated: i64,
) -> Result<Written, Problem> {
    match target(tx, w, prepared.rtype, &prepared.id)? {
        Target::Existing(row) => update_existing(tx, w, prepared, row, if_match),
        // Not the writer's: the same answer whether or not anyone else holds the id.
        Target::New { .. } if if_match.is_some() => Err(Problem::new(
            ErrorCode::VersionConflict,
            "If-Match",
            "the resource does not exist",
        )),
        Target::New { served, aliased } => {
            if aliased {
                w.ids(tx)?
                    .record(tx, prepared.rtype.as_str(), &prepared.id, &served)?;
            }
            create_new(tx, w, prepared, &served, stamped, last_updated)
        }
    }
}

fn create_new(
    tx: &mut Tx<'_>,
    w: &mut WriteCtx<'_>,
    prepared: &Prepared,
    served: &str,
    stamped: Option<&str>,
    last_updated: i64,
) -> Result<Written, Problem> {
    let prepared = localized(tx, w, prepared, served)?;
    let restamped;
    let body = match (&prepared, stamped) {
        (std::borrow::Cow::Borrowed(_), Some(body)) => body,
        _ => {
            let mut resource = prepared.resource.clone();
            restamped = stamp(&mut resource, 1, last_updated);
            restamped.as_str()
        }
    };
    let owner_facility = access::owner_facility(w.caller);
    let subject_ref = subject_ref(&prepared);
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
    let (owner, mut warnings) = apply(tx, w, pk, &prepared)?;
    warnings.extend(prepared.warnings.iter().cloned());
    let entry = w.audit_entry("create", prepared.rtype, &prepared.id, owner);
    w.audit.push(entry);
    let written = Written {
        rtype: prepared.rtype,
        id: prepared.id.clone(),
        own_id: prepared.id.clone(),
        version: 1,
        last_updated,
        created: true,
        body: body.to_owned(),
        warnings,
        record_kinds: record_kinds(&prepared),
    };
    let ids = w.ids(tx)?.clone();
    Ok(written.presented(tx, &ids)?)
}

fn record_kinds(prepared: &Prepared) -> Vec<&'static str> {
    prepared
        .extracted
        .records
        .iter()
        .map(ClinicalRecord::kind)
        .collect()
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
    let prepared = localized(tx, w, prepared, &current.id)?;
    let old: Value = serde_json::from_str(&current.body).unwrap_or(Value::Null);
    let old_index = search_params::index_entries(prepared.rtype, &old);
    let mut resource = prepared.resource.clone();
    let version = current.version + 1;
    let last_updated = tx.now().max(current.last_updated + 1);
    let body = stamp(&mut resource, version, last_updated);
    let owner_facility = access::owner_facility(w.caller);
    let subject_ref = subject_ref(&prepared);
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
    let (owner, mut warnings) = apply(tx, w, current.pk, &prepared)?;
    warnings.extend(prepared.warnings.iter().cloned());
    let entry = w.audit_entry("update", prepared.rtype, &prepared.id, owner);
    w.audit.push(entry);
    let written = Written {
        rtype: prepared.rtype,
        id: prepared.id.clone(),
        own_id: prepared.id.clone(),
        version,
        last_updated,
        created: false,
        body,
        warnings,
        record_kinds: record_kinds(&prepared),
    };
    let ids = w.ids(tx)?.clone();
    Ok(written.presented(tx, &ids)?)
}

/// The existing resource a conditional create matched, as the writer sees it.
pub fn matched(
    tx: &mut Tx<'_>,
    w: &mut WriteCtx<'_>,
    row: ResourceRow,
    rtype: ResourceType,
) -> Result<Written, Problem> {
    let written = Written {
        rtype,
        own_id: row.id.clone(),
        id: row.id,
        version: row.version,
        last_updated: row.last_updated,
        created: false,
        body: row.body,
        warnings: Vec::new(),
        record_kinds: Vec::new(),
    };
    let ids = w.ids(tx)?.clone();
    Ok(written.presented(tx, &ids)?)
}

fn subject_ref(prepared: &Prepared) -> Option<String> {
    match &prepared.extracted.subject {
        Some(SubjectRef::FhirPatient(id)) => Some(format!("Patient/{id}")),
        _ if prepared.rtype == ResourceType::Patient => Some(format!("Patient/{}", prepared.id)),
        _ => None,
    }
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
            let id = &w.ids(tx)?.served(tx, "Patient", id)?;
            if let Some(&pk) = w.patients.get(id) {
                return Ok(Owner {
                    patient_pk: Some(pk),
                    person_pk: None,
                });
            }
            // The subject must be a Patient the writer may see: one it sent (earlier, or
            // in this Bundle). A Patient that does not exist and one the writer may not
            // see get the same answer, and a reference never reserves an id.
            let visible = match tx.resource("Patient", id)? {
                Some(row) => {
                    let visibility = access::fhir_read(w.caller, ResourceType::Patient)
                        .unwrap_or(Visibility::Nothing);
                    tx.is_visible(&visibility, &row)?
                }
                None => false,
            };
            if !visible {
                return Err(unresolved(location));
            }
            let row = tx.ensure_fhir_patient(id, own.as_deref())?;
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
    identity::patient_not_linked(location)
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
        if let Some(existing) = tx.patient_by_fhir_id(&prepared.id)?
            && existing.facility.is_some()
            && existing.facility != own
        {
            return Err(mismatch(location.clone()));
        }
        owner = identity::link_fhir_patient(
            tx,
            &prepared.id,
            own.as_deref(),
            facts,
            location,
            &mut warnings,
        )?;
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
    Ok(to_domain::insurer_of_organization(&org))
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
    let payor_insurer = match coverage.payor_to_read() {
        Some(payor) => insurer_of_payor(tx, payor)?,
        None => None,
    };
    let member = coverage.member_id(payor_insurer.as_deref());
    let Some(member) = member else {
        warnings.push(identity::incomplete_member(location));
        return Ok(owner);
    };
    let person =
        identity::link_coverage(tx, &mut owner, &member, coverage.active, location, warnings)?;
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
