//! The access rules, in one place. `docs/access.md` is the same matrix in prose.
//!
//! * emr / pharmacy: write FHIR resources only for their own institution (the institution
//!   of every facility-local patient id, of every referenced patient, and of every resource
//!   they update must be theirs); read what their institution wrote, and the directory.
//! * admin: clients, the directory (Organization, Practitioner, PractitionerRole) and the
//!   audit trail; never clinical data.
//! * doctor, insurer: the directory; clinical data only through the registration and
//!   consent rules of their own endpoints.
//! * person: bound to one member id; their own registrations (confirm or refuse the
//!   pending ones), their consent, who accessed their data, their notifications. Never
//!   anyone else's, never clinical data through `/fhir`.
//!
//! Policy on 403 vs 404: a request the caller's *role* may never make is 403; a resource
//! that exists but is not visible to the caller is reported exactly like one that does not
//! exist (404), so a denial never reveals that a record exists.

use super::caller::Caller;
use super::role::Role;
use crate::codec::fhir::ResourceType;
use crate::domain::MemberId;
use crate::domain::registration::ConsentActor;
use crate::error::{ErrorCode, Problem};
use crate::store::resources::ResourceRow;
use crate::store::search::Visibility;

fn forbidden(message: &str) -> Problem {
    Problem::new(ErrorCode::Forbidden, "", message)
}

/// Who may call the administrative endpoints (clients, directory, audit).
pub const ADMINISTRATORS: &[Role] = &[Role::Admin];
/// Who may propose or end registrations (further limited per person by
/// [`may_manage_registration`]).
pub const REGISTRATION_MANAGERS: &[Role] = &[Role::Emr, Role::Doctor, Role::Insurer];
/// Who may record consent decisions (further limited per person by
/// [`consent_actor`] and `domain::registration::consent_basis`).
pub const CONSENT_RECORDERS: &[Role] = &[Role::Emr, Role::Doctor, Role::Insurer, Role::Person];
/// Who may ask who a person's registered doctor is.
pub const REGISTRATION_READERS: &[Role] = &[
    Role::Emr,
    Role::Pharmacy,
    Role::Doctor,
    Role::Insurer,
    Role::Person,
];
/// The person's own endpoints (`/me`).
pub const PERSONS: &[Role] = &[Role::Person];
/// Who issues `person` clients: administrators, and insurers for their own members.
pub const PERSON_CLIENT_ISSUERS: &[Role] = &[Role::Admin, Role::Insurer];
/// Who reads notifications (`GET /notifications`).
pub const NOTIFICATION_READERS: &[Role] = &[
    Role::Emr,
    Role::Pharmacy,
    Role::Doctor,
    Role::Insurer,
    Role::Person,
];
/// Who asks inquiries (照会, FHIR Task): insurers.
pub const INQUIRY_ASKERS: &[Role] = &[Role::Insurer];
/// Who may be a party to an inquiry: the insurer that asks, the registered doctor it is
/// routed to (further limited per inquiry by `service::inquiries`).
pub const INQUIRY_PARTIES: &[Role] = &[Role::Insurer, Role::Doctor];
/// Who may subscribe to their own events (FHIR Subscription).
pub const SUBSCRIBERS: &[Role] = NOTIFICATION_READERS;
/// Who may see a subscription's status and redeliver its dead letters: its owner, and
/// administrators.
pub const SUBSCRIPTION_MANAGERS: &[Role] = &[
    Role::Emr,
    Role::Pharmacy,
    Role::Doctor,
    Role::Insurer,
    Role::Person,
    Role::Admin,
];
/// Who sees the open needs of their region and raises hands (push-type matching): the
/// EMR and doctors of a certified institution.
pub const NEED_RESPONDERS: &[Role] = &[Role::Emr, Role::Doctor];
/// Who submits members' satisfaction answers: the member's insurer, the person.
pub const SURVEY_RESPONDENTS: &[Role] = &[Role::Insurer, Role::Person];
/// Who may send HL7 v2 messages and SS-MIX2 archives.
pub const MESSAGE_SENDERS: &[Role] = &[Role::Emr, Role::Pharmacy];
/// Who may post claims and checkups and pull lab values.
pub const INSURERS: &[Role] = &[Role::Insurer];

/// Requires one of `roles`. Endpoints check this before they read the body, so a caller
/// that may never call an endpoint learns nothing about what it accepts.
pub fn require_role(caller: &Caller, roles: &[Role]) -> Result<(), Problem> {
    if roles.contains(&caller.role) {
        Ok(())
    } else {
        Err(forbidden(
            "this endpoint is not available to the client's role",
        ))
    }
}

/// May the caller write resources of this type at all?
pub fn fhir_write(caller: &Caller, rtype: ResourceType) -> Result<(), Problem> {
    match caller.role {
        Role::Emr | Role::Pharmacy if caller.facility.is_some() => Ok(()),
        Role::Emr | Role::Pharmacy => Err(forbidden("the client is not bound to an institution")),
        Role::Admin if rtype.is_directory() => Ok(()),
        Role::Admin => Err(forbidden("administrators do not write clinical data")),
        Role::Doctor | Role::Insurer | Role::Person => Err(forbidden(
            "only EMR, pharmacy and admin clients write FHIR resources",
        )),
    }
}

/// The institution that owns what the caller writes (`None` for administrators).
pub fn owner_facility(caller: &Caller) -> Option<String> {
    caller.facility.as_ref().map(|f| f.as_str().to_owned())
}

/// May the caller replace this stored resource?
pub fn may_update(caller: &Caller, current: &ResourceRow) -> bool {
    match caller.role {
        Role::Admin => current.owner_facility.is_none(),
        _ => current.owner_facility == owner_facility(caller) && current.owner_facility.is_some(),
    }
}

/// Which resources of a type the caller may read (search and read).
pub fn fhir_read(caller: &Caller, rtype: ResourceType) -> Result<Visibility, Problem> {
    if rtype.is_directory() {
        return Ok(Visibility::All);
    }
    match (caller.role, &caller.facility) {
        (Role::Emr | Role::Pharmacy, Some(f)) => Ok(Visibility::Facility(f.as_str().to_owned())),
        (Role::Emr | Role::Pharmacy, None) => {
            Err(forbidden("the client is not bound to an institution"))
        }
        (Role::Admin, _) => Err(forbidden("administrators do not read clinical data")),
        (Role::Doctor, _) => match &caller.practitioner {
            Some(p) => Ok(Visibility::RegisteredWith(p.clone())),
            None => Err(forbidden("the client is not bound to a practitioner")),
        },
        (Role::Insurer, _) => Err(forbidden(
            "insurers read lab values through /insurer/lab-results",
        )),
        (Role::Person, _) => Err(forbidden(
            "persons read their registration, consent and access log under /me",
        )),
    }
}

/// Is the caller the doctor or EMR of `organization`?
pub fn works_at(caller: &Caller, organization: &str) -> bool {
    matches!(caller.role, Role::Emr | Role::Doctor)
        && caller
            .facility
            .as_ref()
            .is_some_and(|f| f.as_str() == organization)
}

/// The insurer a client is bound to (insurer endpoints need one).
pub fn bound_insurer(caller: &Caller) -> Result<&crate::domain::InsurerNumber, Problem> {
    caller
        .insurer
        .as_ref()
        .ok_or_else(|| forbidden("the client is not bound to an insurer"))
}

/// Is the caller the person `member` names?
pub fn is_person(caller: &Caller, member: &MemberId) -> bool {
    caller.role == Role::Person && caller.member.as_ref() == Some(member)
}

/// Is the caller the insurer of `member`?
pub fn is_insurer_of(caller: &Caller, member: &MemberId) -> bool {
    caller.role == Role::Insurer && caller.insurer.as_ref() == Some(member.insurer())
}

/// May the caller propose, withdraw or end a registration at `organization` of a member:
/// the doctor or EMR of that institution, or the member's insurer (whose proposals always
/// wait for the person, `domain::registration`).
pub fn may_manage_registration(caller: &Caller, organization: &str, member: &MemberId) -> bool {
    works_at(caller, organization) || is_insurer_of(caller, member)
}

/// May the caller learn who a named person's registered doctor is: every provider, the
/// person's insurer, and the person (never the clinical data, and not administrators).
pub fn may_see_registrations_of(caller: &Caller, member: &MemberId) -> bool {
    match caller.role {
        Role::Emr | Role::Pharmacy | Role::Doctor => true,
        Role::Insurer => is_insurer_of(caller, member),
        Role::Person => is_person(caller, member),
        Role::Admin => false,
    }
}

/// In which capacity the caller records a consent decision for `member` whose active
/// registration is at `organization` (`None`: in none).
pub fn consent_actor(
    caller: &Caller,
    organization: &str,
    member: &MemberId,
) -> Option<ConsentActor> {
    if is_person(caller, member) {
        Some(ConsentActor::Person)
    } else if works_at(caller, organization) {
        Some(ConsentActor::RegisteredInstitution)
    } else if is_insurer_of(caller, member) {
        Some(ConsentActor::Insurer)
    } else {
        None
    }
}

/// Is the caller a party to a registration: the registered doctor, the EMR or a doctor of
/// the registered institution, the member's insurer, or the person. Parties may read it by
/// id and see the person's consent; everyone else has to name the person and sees only who
/// the doctor is.
pub fn is_party_to_registration(
    caller: &Caller,
    organization: &str,
    practitioner: &str,
    member: &MemberId,
) -> bool {
    (caller.role == Role::Doctor && caller.practitioner.as_deref() == Some(practitioner))
        || may_manage_registration(caller, organization, member)
        || is_person(caller, member)
}

/// May the caller read the registry's derived FHIR types at all (`EpisodeOfCare`,
/// `Consent`; `HealthcareService` is public)?
pub fn registry_read(caller: &Caller, resource: &str) -> Result<(), Problem> {
    match (resource, caller.role) {
        ("HealthcareService", _) => Ok(()),
        (_, Role::Admin) => Err(forbidden("administrators do not read person data")),
        ("Consent", Role::Pharmacy) => Err(forbidden(
            "consent is visible to the registered institution and the insurer",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::InstitutionCode;

    fn caller(role: Role, facility: Option<&str>) -> Caller {
        Caller {
            client_id: 1,
            name: "c".into(),
            role,
            facility: facility.map(|f| InstitutionCode::parse(f).unwrap()),
            insurer: None,
            practitioner: None,
            member: None,
        }
    }

    #[test]
    fn writes_follow_role_and_binding() {
        let emr = caller(Role::Emr, Some("1311234567"));
        assert!(fhir_write(&emr, ResourceType::MedicationRequest).is_ok());
        assert!(fhir_write(&caller(Role::Emr, None), ResourceType::Patient).is_err());
        assert!(fhir_write(&caller(Role::Admin, None), ResourceType::Organization).is_ok());
        assert!(fhir_write(&caller(Role::Admin, None), ResourceType::Patient).is_err());
        assert!(fhir_write(&caller(Role::Doctor, None), ResourceType::Organization).is_err());
        assert!(fhir_write(&caller(Role::Insurer, None), ResourceType::Observation).is_err());
    }

    #[test]
    fn reads_are_limited_to_the_own_institution() {
        let emr = caller(Role::Emr, Some("1311234567"));
        assert_eq!(
            fhir_read(&emr, ResourceType::Observation).unwrap(),
            Visibility::Facility("1311234567".into())
        );
        assert_eq!(
            fhir_read(&caller(Role::Doctor, None), ResourceType::Organization).unwrap(),
            Visibility::All
        );
        assert!(fhir_read(&caller(Role::Admin, None), ResourceType::Patient).is_err());
    }
}
