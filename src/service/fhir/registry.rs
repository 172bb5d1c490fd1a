//! FHIR reads of kakari's registry: registrations as `EpisodeOfCare`, the
//! insurer-programs consent as `Consent`, certified institutions as `HealthcareService`
//! (all derived and read-only; see `codec::fhir::registry`), and the registered doctor on
//! every Patient served (`generalPractitioner`).
//!
//! Who sees what (rules in `auth::access`): a person's registration is visible to every
//! provider that names the person (`member=` or a `patient=` it may read) and to the
//! person's insurer; by id, or without naming a person, only to the parties of the
//! registration (the registered doctor, the EMR and doctors of that institution, the
//! insurer). The consent is visible to the parties of the person's active registration and
//! to the insurer. Reads of person data are audited before release.

use std::collections::BTreeSet;

use serde_json::Value;

use super::rest::audit_read;
use super::{FhirResponse, SearchsetPage, searchset};
use crate::app::AppState;
use crate::auth::{Caller, Role, access};
pub use crate::codec::fhir::registry::RegistryType;
use crate::codec::fhir::registry::{self as render, ConsentFacts, RegistrationFacts, ServiceFacts};
use crate::domain::MemberId;
use crate::domain::registration::RegistrationStatus;
use crate::error::{ErrorCode, Problem};
use crate::service::Ctx;
use crate::service::directory::{self, DirectorySearch, OrganizationView};
use crate::store::registrations::{ConsentRow, RegistrationFilter, RegistrationRow};
use crate::store::resources::ResourceRow;
use crate::store::{StoreError, Tx};

fn not_found(rtype: RegistryType) -> Problem {
    Problem::new(
        ErrorCode::ResourceNotFound,
        rtype.as_str(),
        "no such resource",
    )
}

fn member_of(row: &RegistrationRow) -> Result<MemberId, Problem> {
    MemberId::parse(&row.member_key).map_err(|_| Problem::bare(ErrorCode::Internal))
}

fn episode(tx: &mut Tx<'_>, r: &RegistrationRow) -> Result<Value, StoreError> {
    let practitioner = tx.practitioner(&r.practitioner)?.map(|p| p.name);
    let organization = tx.organization(&r.organization)?.map(|o| o.name);
    Ok(render::episode_of_care(&facts(
        r,
        practitioner.as_deref(),
        organization.as_deref(),
    )))
}

fn facts<'a>(
    r: &'a RegistrationRow,
    practitioner_name: Option<&'a str>,
    organization_name: Option<&'a str>,
) -> RegistrationFacts<'a> {
    RegistrationFacts {
        id: r.id,
        member_key: &r.member_key,
        practitioner: &r.practitioner,
        practitioner_name,
        organization: &r.organization,
        organization_name,
        start_date: &r.start_date,
        created_at: r.created_at,
        ended_at: r.ended_at,
        status: r.status,
    }
}

/// Adds `generalPractitioner` (the registered doctor and institution) to a stored Patient
/// about to be served, when the person has an active registration.
pub fn decorate_patient(tx: &mut Tx<'_>, row: &mut ResourceRow) -> Result<(), StoreError> {
    let Some(person) = tx.patient_by_fhir_id(&row.id)?.and_then(|p| p.person_pk) else {
        return Ok(());
    };
    let Some(registration) = tx.active_registration(person)? else {
        return Ok(());
    };
    let Ok(mut patient) = serde_json::from_str::<Value>(&row.body) else {
        return Ok(());
    };
    let practitioner = tx.practitioner(&registration.practitioner)?.map(|p| p.name);
    let organization = tx.organization(&registration.organization)?.map(|o| o.name);
    render::add_general_practitioner(
        &mut patient,
        &facts(
            &registration,
            practitioner.as_deref(),
            organization.as_deref(),
        ),
    );
    row.body = patient.to_string();
    Ok(())
}

fn consent_resource(c: &ConsentRow, member: &MemberId, current: bool) -> Value {
    render::consent(&ConsentFacts {
        id: c.id,
        member_key: &member.key(),
        insurer: member.insurer().as_str(),
        insurer_programs: c.insurer_programs,
        recorded_at: c.recorded_at,
        current,
    })
}

fn service_resource(o: &OrganizationView, updated_at: i64) -> Value {
    render::healthcare_service(&ServiceFacts {
        code: &o.code,
        name: &o.name,
        prefecture_name: &o.prefecture_name,
        city: o.city.as_deref(),
        address: o.address.as_deref(),
        phone: o.phone.as_deref(),
        url: o.url.as_deref(),
        certified: o.certified,
        functions: o
            .functions
            .iter()
            .map(|f| (f.code.as_str(), f.label.as_str()))
            .collect(),
        registered_persons: &o.registered_persons,
        updated_at,
    })
}

/// May the caller see the consent of a person: the person, a party to the person's active
/// registration, or the person's insurer.
pub fn may_see_consent(
    tx: &mut Tx<'_>,
    caller: &Caller,
    person_pk: i64,
    member: &MemberId,
) -> Result<bool, StoreError> {
    if caller.role == Role::Insurer {
        return Ok(access::is_insurer_of(caller, member));
    }
    if caller.role == Role::Person {
        return Ok(access::is_person(caller, member));
    }
    Ok(match tx.active_registration(person_pk)? {
        Some(r) => {
            access::is_party_to_registration(caller, &r.organization, &r.practitioner, member)
        }
        None => false,
    })
}

/// An audit entry for each person whose data is released.
fn audit_entries(
    ctx: &Ctx,
    action: &str,
    rtype: RegistryType,
    persons: &BTreeSet<i64>,
) -> Vec<crate::store::audit::AuditEntry> {
    persons
        .iter()
        .map(|pk| {
            let mut e = ctx.audit(action);
            e.resource_type = Some(rtype.as_str().to_owned());
            e.person_pk = Some(*pk);
            e
        })
        .collect()
}

/// `GET /fhir/{EpisodeOfCare|Consent|HealthcareService}/{id}`.
pub async fn read(
    app: &AppState,
    ctx: &Ctx,
    rtype: RegistryType,
    id: &str,
) -> Result<FhirResponse, Problem> {
    access::registry_read(&ctx.caller, rtype.as_str())?;
    match rtype {
        RegistryType::HealthcareService => {
            let code = id.to_owned();
            let found = app
                .store
                .read(move |tx| {
                    let Some(row) = tx.organization(&code)? else {
                        return Ok(None);
                    };
                    let counts = tx.registered_counts(std::slice::from_ref(&row.code))?;
                    let updated_at = row.updated_at;
                    let view = directory::view(row, counts.first().map_or(0, |c| c.1));
                    Ok::<_, Problem>(Some(service_resource(&view, updated_at)))
                })
                .await?;
            found
                .map(|v| FhirResponse::json(200, v))
                .ok_or_else(|| not_found(rtype))
        }
        RegistryType::EpisodeOfCare | RegistryType::Consent => {
            let Ok(id) = id.parse::<i64>() else {
                return Err(not_found(rtype));
            };
            let caller = ctx.caller.clone();
            let found = app
                .store
                .read(move |tx| {
                    if rtype == RegistryType::EpisodeOfCare {
                        let Some(row) = tx.registration(id)? else {
                            return Ok(None);
                        };
                        let member = member_of(&row)?;
                        if !access::is_party_to_registration(
                            &caller,
                            &row.organization,
                            &row.practitioner,
                            &member,
                        ) {
                            return Ok(None);
                        }
                        return Ok(Some((row.person_pk, episode(tx, &row)?)));
                    }
                    let Some(c) = tx.consent(id)? else {
                        return Ok(None);
                    };
                    let Some(person) = tx.person(c.person_pk)? else {
                        return Ok(None);
                    };
                    let member = MemberId::parse(&person.member_key)
                        .map_err(|_| Problem::bare(ErrorCode::Internal))?;
                    if !may_see_consent(tx, &caller, person.pk, &member)? {
                        return Ok(None);
                    }
                    let current = tx.current_consent(person.pk)?.map(|c| c.id) == Some(c.id);
                    Ok::<_, Problem>(Some((person.pk, consent_resource(&c, &member, current))))
                })
                .await?;
            let (person, resource) = found.ok_or_else(|| not_found(rtype))?;
            let mut entry = ctx.audit("read");
            entry.resource_type = Some(rtype.as_str().to_owned());
            entry.resource_id = Some(id.to_string());
            entry.person_pk = Some(person);
            audit_read(app, ctx, vec![entry]).await?;
            Ok(FhirResponse::json(200, resource))
        }
    }
}

/// A parsed registry search.
#[derive(Debug, Default)]
struct RegistrySearch {
    patient: Option<String>,
    member: Option<MemberId>,
    status: Option<String>,
    directory: DirectorySearch,
    count: i64,
    cursor: Option<i64>,
    canonical: Vec<(String, String)>,
}

fn parse_search(
    rtype: RegistryType,
    pairs: &[(String, String)],
) -> Result<RegistrySearch, Problem> {
    let mut s = RegistrySearch {
        count: 50,
        ..RegistrySearch::default()
    };
    let invalid = |name: &str, message: &str| Problem::new(ErrorCode::InvalidSearch, name, message);
    for (name, value) in pairs {
        match name.as_str() {
            "_count" => {
                s.count = value
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| invalid(name, "_count must be 1-1000"))?;
                continue;
            }
            "_cursor" => {
                s.cursor = Some(
                    value
                        .parse::<i64>()
                        .ok()
                        .filter(|n| *n >= 0)
                        .ok_or_else(|| invalid(name, "not a cursor of this search"))?,
                );
                continue;
            }
            _ => {}
        }
        if !rtype.search_params().iter().any(|(p, _)| p == name) {
            return Err(Problem::new(
                ErrorCode::UnknownSearchParameter,
                name.as_str(),
                "search parameter not supported for this type (see /fhir/metadata)",
            ));
        }
        match name.as_str() {
            "patient" => {
                let id = value.strip_prefix("Patient/").unwrap_or(value);
                s.patient = Some(id.to_owned());
            }
            "member" => {
                s.member = Some(MemberId::parse(value).map_err(|e| {
                    Problem::new(ErrorCode::InvalidMemberId, name.as_str(), e.to_string())
                })?);
            }
            "status" => {
                let allowed: &[&str] = match rtype {
                    RegistryType::EpisodeOfCare => &["planned", "active", "finished", "cancelled"],
                    _ => &["active", "inactive"],
                };
                if !allowed.contains(&value.as_str()) {
                    return Err(invalid(name, "unknown status"));
                }
                s.status = Some(value.clone());
            }
            "characteristic" => {
                let code = value.rsplit('|').next().unwrap_or(value);
                s.directory.function = Some(code.to_owned());
            }
            "prefecture" => s.directory.prefecture = Some(value.clone()),
            "city" => s.directory.city = Some(value.clone()),
            _ => s.directory.q = Some(value.clone()),
        }
        s.canonical.push((name.clone(), value.clone()));
    }
    Ok(s)
}

/// The person a search names, when the caller may name them that way.
fn named_person(
    tx: &mut Tx<'_>,
    caller: &Caller,
    s: &RegistrySearch,
) -> Result<Option<Option<(i64, MemberId)>>, Problem> {
    if let Some(member) = &s.member {
        if !access::may_see_registrations_of(caller, member) {
            return Err(Problem::new(
                ErrorCode::Forbidden,
                "member",
                "registrations are visible to providers and the person's insurer",
            ));
        }
        return Ok(Some(
            tx.person_by_member(member)?.map(|p| (p.pk, member.clone())),
        ));
    }
    if let Some(patient) = &s.patient {
        // Only a Patient the caller may read names a person.
        let Ok(visibility) = access::fhir_read(caller, crate::codec::fhir::ResourceType::Patient)
        else {
            return Ok(Some(None));
        };
        let Some(row) = tx.resource("Patient", patient)? else {
            return Ok(Some(None));
        };
        if !tx.is_visible(&visibility, &row)? {
            return Ok(Some(None));
        }
        let Some(person_pk) = tx.patient_by_fhir_id(patient)?.and_then(|p| p.person_pk) else {
            return Ok(Some(None));
        };
        let Some(person) = tx.person(person_pk)? else {
            return Ok(Some(None));
        };
        let member =
            MemberId::parse(&person.member_key).map_err(|_| Problem::bare(ErrorCode::Internal))?;
        return Ok(Some(Some((person.pk, member))));
    }
    Ok(None)
}

/// What a registry search found: (id, resource) pairs, the persons they are about (for the
/// audit), the total and the next page's cursor.
#[derive(Default)]
struct Found {
    resources: Vec<(String, Value)>,
    persons: BTreeSet<i64>,
    total: i64,
    next_cursor: Option<String>,
}

/// The consent decisions of a named person, newest (in force) first.
fn consents_of(
    tx: &mut Tx<'_>,
    caller: &Caller,
    person: i64,
    member: &MemberId,
    status: Option<&str>,
) -> Result<Found, Problem> {
    let mut found = Found::default();
    if !may_see_consent(tx, caller, person, member)? {
        return Ok(found);
    }
    for (i, c) in tx.consent_history(person)?.iter().enumerate() {
        let current = i == 0;
        let wanted = match status {
            Some("active") => current,
            Some(_) => !current,
            None => true,
        };
        if wanted {
            found
                .resources
                .push((c.id.to_string(), consent_resource(c, member, current)));
        }
    }
    if !found.resources.is_empty() {
        found.persons.insert(person);
    }
    found.total = found.resources.len() as i64;
    Ok(found)
}

/// Registrations of a named person, or (unnamed) the caller's own: a doctor's panel, an
/// EMR's institution, an insurer's members. Newest first, paged by id.
fn registrations_of(
    tx: &mut Tx<'_>,
    caller: &Caller,
    named: Option<(i64, MemberId)>,
    s: &RegistrySearch,
    count: i64,
) -> Result<Found, Problem> {
    let person = named.as_ref().map(|n| n.0);
    let statuses = match s.status.as_deref() {
        Some("planned") => vec![RegistrationStatus::Pending],
        Some("active") => vec![RegistrationStatus::Active],
        Some("finished") => vec![RegistrationStatus::Ended],
        Some("cancelled") => vec![
            RegistrationStatus::Refused,
            RegistrationStatus::Withdrawn,
            RegistrationStatus::Superseded,
        ],
        _ => Vec::new(),
    };
    let mut filter = RegistrationFilter {
        person_pk: person,
        statuses,
        before_id: s.cursor.filter(|c| *c > 0),
        limit: count + 1,
        ..RegistrationFilter::default()
    };
    if let Some((_, member)) = &named {
        // Who a named person's doctor is, is visible to every provider; proposals that never
        // took effect only to their parties (the person, the insurer, the proposer).
        if !(access::is_person(caller, member) || access::is_insurer_of(caller, member)) {
            filter.effective_or_own = Some((
                caller.facility.as_ref().map(|f| f.as_str().to_owned()),
                caller.practitioner.clone(),
            ));
        }
    }
    if person.is_none() {
        match caller.role {
            Role::Person => {
                let own = match &caller.member {
                    Some(m) => tx.person_by_member(m)?.map(|p| p.pk),
                    None => None,
                };
                // A person without records yet has no registrations either.
                filter.person_pk = Some(own.unwrap_or(-1));
            }
            Role::Doctor => filter.practitioner = caller.practitioner.clone(),
            Role::Emr => {
                filter.organization = caller.facility.as_ref().map(|f| f.as_str().to_owned())
            }
            Role::Insurer => {
                filter.insurer = caller.insurer.as_ref().map(|i| i.as_str().to_owned())
            }
            Role::Pharmacy | Role::Admin => {
                return Err(Problem::new(
                    ErrorCode::InvalidSearch,
                    "patient",
                    "name the person (patient or member)",
                ));
            }
        }
    }
    let mut found = Found {
        total: tx.count_registrations(&filter)?,
        ..Found::default()
    };
    let mut rows = tx.list_registrations(&filter)?;
    if rows.len() as i64 > count {
        rows.truncate(count as usize);
        found.next_cursor = rows.last().map(|r| r.id.to_string());
    }
    for r in &rows {
        found.persons.insert(r.person_pk);
        found.resources.push((r.id.to_string(), episode(tx, r)?));
    }
    Ok(found)
}

/// Certified institutions of the directory (public; nothing to audit).
async fn services(app: &AppState, s: RegistrySearch, count: i64) -> Result<Found, Problem> {
    let offset = s.cursor.unwrap_or(0);
    let mut query = s.directory;
    query.limit = Some(count.min(100));
    query.offset = Some(offset);
    let page = directory::search(app, query).await?;
    let shown = page.organizations.len() as i64;
    Ok(Found {
        next_cursor: (offset + shown < page.total).then(|| (offset + shown).to_string()),
        total: page.total,
        persons: BTreeSet::new(),
        resources: page
            .organizations
            .iter()
            .map(|o| {
                (
                    o.code.clone(),
                    service_resource(o, o.certified_at.unwrap_or(0)),
                )
            })
            .collect(),
    })
}

/// `GET /fhir/{EpisodeOfCare|Consent|HealthcareService}?…`.
pub async fn search(
    app: &AppState,
    ctx: &Ctx,
    rtype: RegistryType,
    pairs: &[(String, String)],
    base: &str,
) -> Result<FhirResponse, Problem> {
    access::registry_read(&ctx.caller, rtype.as_str())?;
    let mut s = parse_search(rtype, pairs)?;
    let count = s.count;
    let mut params = std::mem::take(&mut s.canonical);
    params.push(("_count".into(), count.to_string()));
    let caller = ctx.caller.clone();
    let found = if rtype == RegistryType::HealthcareService {
        services(app, s, count).await?
    } else {
        app.store
            .read(move |tx| match (rtype, named_person(tx, &caller, &s)?) {
                (_, Some(None)) => Ok(Found::default()),
                (RegistryType::Consent, None) => Err(Problem::new(
                    ErrorCode::InvalidSearch,
                    "patient",
                    "a Consent search names the person (patient or member)",
                )),
                (RegistryType::Consent, Some(Some((person, member)))) => {
                    consents_of(tx, &caller, person, &member, s.status.as_deref())
                }
                (_, named) => registrations_of(tx, &caller, named.flatten(), &s, count),
            })
            .await?
    };
    let Found {
        resources,
        persons,
        total,
        next_cursor,
    } = found;
    audit_read(app, ctx, audit_entries(ctx, "search", rtype, &persons)).await?;
    let entries = resources
        .into_iter()
        .map(|(id, v)| (rtype.as_str().to_owned(), id, v))
        .collect();
    let bundle = searchset(
        base,
        rtype.as_str(),
        SearchsetPage {
            params,
            next_cursor,
            total,
            entries,
        },
    );
    Ok(FhirResponse::json(200, bundle))
}
