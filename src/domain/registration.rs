//! The rules of a person's registration with a family doctor (かかりつけ医) and of their
//! consent to insurer programs: who may make one, when it takes effect, and what it rests
//! on. Pure: the service applies them inside a transaction.
//!
//! * A person has at most one **active** registration; only an active one opens access.
//! * A registration made while another institution's is active is **pending** until the
//!   person confirms it, or, where the operator's policy allows, the registering
//!   institution records evidence of the person's signed request (a document reference and
//!   the attesting user). A pending registration opens nothing.
//! * A first registration (none active) made by the institution itself takes effect at
//!   once by default (the person is at the clinic); the operator may require the person's
//!   confirmation for those too. A change of doctor within the same institution takes
//!   effect at once.
//! * An insurer may propose a registration (it helps members find a doctor) but it always
//!   waits for the person.
//! * Consent to insurer programs is given or withdrawn by the person, or by the registered
//!   institution on the person's documented behalf; the insurer never grants it and may
//!   only record a withdrawal it received.

/// Where a registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegistrationStatus {
    /// Waiting for the person (or evidence); opens nothing.
    Pending,
    /// In force: the person's one registered doctor.
    Active,
    /// Was active; ended (by a party, or replaced by a newer one).
    Ended,
    /// The person said no.
    Refused,
    /// The proposing party took it back, or proposed again.
    Withdrawn,
    /// Another pending registration was confirmed instead, or it waited too long.
    Superseded,
}

impl RegistrationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Ended => "ended",
            Self::Refused => "refused",
            Self::Withdrawn => "withdrawn",
            Self::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "active" => Self::Active,
            "ended" => Self::Ended,
            "refused" => Self::Refused,
            "withdrawn" => Self::Withdrawn,
            "superseded" => Self::Superseded,
            _ => return None,
        })
    }
}

/// What made a registration active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActivationBasis {
    /// No registration to replace, and the policy lets the institution's own take effect.
    First,
    /// Another doctor of the institution already registered with.
    SameInstitution,
    /// The institution recorded evidence of the person's signed request.
    Evidence,
    /// The person confirmed it.
    Person,
}

impl ActivationBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::First => "first",
            Self::SameInstitution => "same_institution",
            Self::Evidence => "evidence",
            Self::Person => "person",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "first" => Self::First,
            "same_institution" => Self::SameInstitution,
            "evidence" => Self::Evidence,
            "person" => Self::Person,
            _ => return None,
        })
    }
}

/// What, besides the person's own confirmation, may activate a registration that
/// replaces another institution's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// The person's confirmation, or evidence of the person's signed request.
    PersonOrEvidence,
    /// Only the person's confirmation.
    PersonOnly,
}

/// Whether an institution's first registration of a person takes effect at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstRegistration {
    Immediate,
    /// Waits for the person (or evidence), like a replacement.
    Pending,
}

/// The operator's registration policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationPolicy {
    pub confirmation: Confirmation,
    pub first: FirstRegistration,
    /// Days a pending registration waits for the person before it lapses.
    pub pending_days: u32,
}

impl Default for RegistrationPolicy {
    fn default() -> Self {
        Self {
            confirmation: Confirmation::PersonOrEvidence,
            first: FirstRegistration::Immediate,
            pending_days: 30,
        }
    }
}

/// Who proposes a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proposer {
    /// The doctor or EMR of the institution registered with.
    Institution,
    /// The person's insurer.
    Insurer,
}

/// What a new registration becomes when it is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Active(ActivationBasis),
    Pending,
}

/// Decides what a new registration becomes. `active_organization` is the institution of
/// the person's active registration, if any; `evidence` whether the proposer recorded
/// evidence of the person's signed request.
pub fn on_proposal(
    policy: &RegistrationPolicy,
    proposer: Proposer,
    active_organization: Option<&str>,
    organization: &str,
    evidence: bool,
) -> Outcome {
    if proposer == Proposer::Insurer {
        return Outcome::Pending;
    }
    let evidence_counts = evidence && policy.confirmation == Confirmation::PersonOrEvidence;
    match active_organization {
        Some(active) if active == organization => Outcome::Active(ActivationBasis::SameInstitution),
        _ if evidence_counts => Outcome::Active(ActivationBasis::Evidence),
        None if policy.first == FirstRegistration::Immediate => {
            Outcome::Active(ActivationBasis::First)
        }
        _ => Outcome::Pending,
    }
}

/// Why a consent decision may be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsentBasis {
    /// The person decided, themself.
    Person,
    /// The registered institution, on the person's documented behalf.
    Institution,
    /// Asked for with the registration the person confirmed (or signed, with evidence).
    Registration,
    /// A withdrawal the insurer received from the person.
    InsurerWithdrawal,
}

impl ConsentBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::Institution => "institution",
            Self::Registration => "registration",
            Self::InsurerWithdrawal => "insurer_withdrawal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "person" => Self::Person,
            "institution" => Self::Institution,
            "registration" => Self::Registration,
            "insurer_withdrawal" => Self::InsurerWithdrawal,
            _ => return None,
        })
    }
}

/// Who records a consent decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentActor {
    Person,
    /// The doctor or EMR of the institution of the active registration.
    RegisteredInstitution,
    Insurer,
}

/// Why a consent decision is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentRefusal {
    /// An insurer may record a withdrawal, never grant.
    InsurerGrant,
    /// The institution acts on the person's behalf only with a document of it.
    NoEvidence,
}

/// The basis a consent decision rests on, or why it may not be recorded.
pub fn consent_basis(
    actor: ConsentActor,
    insurer_programs: bool,
    evidence: bool,
) -> Result<ConsentBasis, ConsentRefusal> {
    match actor {
        ConsentActor::Person => Ok(ConsentBasis::Person),
        ConsentActor::RegisteredInstitution if evidence => Ok(ConsentBasis::Institution),
        ConsentActor::RegisteredInstitution => Err(ConsentRefusal::NoEvidence),
        ConsentActor::Insurer if !insurer_programs => Ok(ConsentBasis::InsurerWithdrawal),
        ConsentActor::Insurer => Err(ConsentRefusal::InsurerGrant),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1311234567";
    const B: &str = "1312345678";

    #[test]
    fn a_replacement_waits_for_the_person_or_their_signed_request() {
        let policy = RegistrationPolicy::default();
        let inst = Proposer::Institution;
        assert_eq!(
            on_proposal(&policy, inst, None, A, false),
            Outcome::Active(ActivationBasis::First)
        );
        assert_eq!(
            on_proposal(&policy, inst, Some(A), B, false),
            Outcome::Pending
        );
        assert_eq!(
            on_proposal(&policy, inst, Some(A), B, true),
            Outcome::Active(ActivationBasis::Evidence)
        );
        assert_eq!(
            on_proposal(&policy, inst, Some(A), A, false),
            Outcome::Active(ActivationBasis::SameInstitution)
        );
        // The insurer never registers alone, not even a first registration.
        assert_eq!(
            on_proposal(&policy, Proposer::Insurer, None, A, true),
            Outcome::Pending
        );
    }

    #[test]
    fn a_strict_policy_asks_the_person_every_time() {
        let policy = RegistrationPolicy {
            confirmation: Confirmation::PersonOnly,
            first: FirstRegistration::Pending,
            pending_days: 30,
        };
        let inst = Proposer::Institution;
        assert_eq!(on_proposal(&policy, inst, None, A, false), Outcome::Pending);
        assert_eq!(
            on_proposal(&policy, inst, Some(A), B, true),
            Outcome::Pending
        );
        assert_eq!(on_proposal(&policy, inst, None, A, true), Outcome::Pending);
    }

    #[test]
    fn the_insurer_never_grants_consent() {
        assert_eq!(
            consent_basis(ConsentActor::Insurer, true, true),
            Err(ConsentRefusal::InsurerGrant)
        );
        assert_eq!(
            consent_basis(ConsentActor::Insurer, false, false),
            Ok(ConsentBasis::InsurerWithdrawal)
        );
        assert_eq!(
            consent_basis(ConsentActor::RegisteredInstitution, true, false),
            Err(ConsentRefusal::NoEvidence)
        );
        assert_eq!(
            consent_basis(ConsentActor::Person, true, false),
            Ok(ConsentBasis::Person)
        );
    }
}
