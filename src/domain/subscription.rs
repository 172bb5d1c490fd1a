//! Subscription topics and the rules of delivery: which events a topic carries, who may
//! subscribe to it, what a notification may contain, and how long to wait before the next
//! attempt. Pure.
//!
//! A subscription delivers the subscriber's *own* events (the rows `GET /notifications`
//! shows, one per recipient, written in the transaction of the change), filtered by topic:
//! a party can never subscribe to anything it could not read.

/// A topic a party may subscribe to (`Subscription.criteria`, R5 backport).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Inquiries (FHIR Task): created, routed, accepted, answered, cancelled, re-routed.
    Inquiry,
    /// New lab values of the insurer's registered, consenting members (pull them with
    /// `GET /insurer/lab-results`).
    LabResult,
    /// Medication-list findings about the doctor's registered persons or the insurer's
    /// members.
    MedicationFinding,
    /// Registration and consent changes that concern the subscriber.
    Registration,
    /// Push-type matching: needs posted in an institution's region (anonymous), hands
    /// raised on an insurer's (or the member's own) needs, a member's acceptance.
    Matching,
}

/// Who subscribes, in the capacity their events are recorded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscriber {
    Insurer,
    Doctor,
    Institution,
    Person,
}

impl Topic {
    pub const ALL: &'static [Topic] = &[
        Topic::Inquiry,
        Topic::LabResult,
        Topic::MedicationFinding,
        Topic::Registration,
        Topic::Matching,
    ];

    /// The topic's canonical URL (`Subscription.criteria`).
    pub fn canonical(self) -> &'static str {
        match self {
            Self::Inquiry => "urn:kakari:subscription-topic:inquiry",
            Self::LabResult => "urn:kakari:subscription-topic:lab-result",
            Self::MedicationFinding => "urn:kakari:subscription-topic:medication-finding",
            Self::Registration => "urn:kakari:subscription-topic:registration",
            Self::Matching => "urn:kakari:subscription-topic:matching",
        }
    }

    pub fn parse(canonical: &str) -> Option<Self> {
        // A canonical may carry a version (`|1.0`); topics have one version.
        let bare = canonical.split('|').next().unwrap_or(canonical);
        Self::ALL.iter().copied().find(|t| t.canonical() == bare)
    }

    /// What the topic carries, for the CapabilityStatement and docs.
    pub fn description(self) -> &'static str {
        match self {
            Self::Inquiry => {
                "inquiries (Task): created, routed to the registered doctor, accepted, answered, cancelled, re-routed"
            }
            Self::LabResult => {
                "new lab values of the insurer's registered, consenting members (id-only: pull them from /insurer/lab-results)"
            }
            Self::MedicationFinding => {
                "medication-list findings about the doctor's registered persons or the insurer's members"
            }
            Self::Registration => "registration and consent changes that concern the subscriber",
            Self::Matching => {
                "push-type matching: needs in the institution's region, hands raised, the member's acceptance"
            }
        }
    }

    /// The topic an event belongs to, from the event's own topic name
    /// (`inquiry.accepted` → `Inquiry`).
    pub fn of_event(event_topic: &str) -> Option<Self> {
        let family = event_topic.split('.').next().unwrap_or_default();
        Some(match family {
            "inquiry" => Self::Inquiry,
            "lab-result" => Self::LabResult,
            "finding" => Self::MedicationFinding,
            "registration" | "consent" => Self::Registration,
            "need" => Self::Matching,
            _ => return None,
        })
    }

    /// May this kind of subscriber subscribe to the topic (they receive only their own
    /// events; this says which topics make sense for them).
    pub fn open_to(self, who: Subscriber) -> bool {
        match self {
            Self::Inquiry => matches!(who, Subscriber::Insurer | Subscriber::Doctor),
            Self::LabResult => who == Subscriber::Insurer,
            Self::MedicationFinding => matches!(who, Subscriber::Insurer | Subscriber::Doctor),
            Self::Registration => true,
            Self::Matching => matches!(
                who,
                Subscriber::Insurer | Subscriber::Institution | Subscriber::Person
            ),
        }
    }

    /// May a notification on this topic carry the focus resource itself. Lab values are
    /// pulled (consent is checked at pull time), never pushed.
    pub fn full_resource_allowed(self) -> bool {
        !matches!(self, Self::LabResult)
    }
}

/// What a notification carries (`backport-payload-content`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    Empty,
    IdOnly,
    FullResource,
}

impl Content {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::IdOnly => "id-only",
            Self::FullResource => "full-resource",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "empty" => Self::Empty,
            "id-only" => Self::IdOnly,
            "full-resource" => Self::FullResource,
            _ => return None,
        })
    }
}

/// Where a subscription stands (R4 `Subscription.status`, less `requested`: kakari checks
/// the endpoint when the subscription is made).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionStatus {
    Active,
    /// Delivery failed `max_attempts` times: the event is dead-lettered and delivery stops
    /// until it is redelivered (events keep being queued meanwhile).
    Error,
    /// Ended by the subscriber; nothing is queued any more.
    Off,
}

impl SubscriptionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Error => "error",
            Self::Off => "off",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Self::Active,
            "error" => Self::Error,
            "off" => Self::Off,
            _ => return None,
        })
    }
}

/// How long to wait before attempt `attempt + 1` after `attempt` failed attempts:
/// `base` doubled per attempt, capped at `cap` (milliseconds).
pub fn backoff_millis(attempt: u32, base: u64, cap: u64) -> u64 {
    let factor = 1u64
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u64::MAX);
    base.saturating_mul(factor).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip_and_events_find_their_topic() {
        for t in Topic::ALL {
            assert_eq!(Topic::parse(t.canonical()), Some(*t));
        }
        assert_eq!(
            Topic::parse("urn:kakari:subscription-topic:inquiry|1"),
            Some(Topic::Inquiry)
        );
        assert_eq!(Topic::of_event("inquiry.accepted"), Some(Topic::Inquiry));
        assert_eq!(
            Topic::of_event("registration.ended"),
            Some(Topic::Registration)
        );
        assert_eq!(
            Topic::of_event("consent.changed"),
            Some(Topic::Registration)
        );
        assert_eq!(Topic::of_event("unknown.x"), None);
    }

    #[test]
    fn a_person_subscribes_to_their_registration_only() {
        assert!(Topic::Registration.open_to(Subscriber::Person));
        assert!(!Topic::Inquiry.open_to(Subscriber::Person));
        assert!(!Topic::LabResult.open_to(Subscriber::Doctor));
        assert!(Topic::LabResult.open_to(Subscriber::Insurer));
        assert!(!Topic::LabResult.full_resource_allowed());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff_millis(1, 1000, 60_000), 1000);
        assert_eq!(backoff_millis(2, 1000, 60_000), 2000);
        assert_eq!(backoff_millis(4, 1000, 60_000), 8000);
        assert_eq!(backoff_millis(30, 1000, 60_000), 60_000);
        assert_eq!(backoff_millis(200, 1000, 60_000), 60_000);
    }
}
