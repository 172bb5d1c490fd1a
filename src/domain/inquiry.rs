//! Inquiries (照会): an insurer's question to a member's registered doctor about a finding
//! (duplicate therapy, polypharmacy, an untreated high-risk value, interrupted treatment,
//! frequent tests). Pure rules: which status changes each party may make, which statuses
//! are open, and what happens to open inquiries when the member's registration moves.
//!
//! The life of an inquiry follows FHIR `Task.status`:
//!
//! ```text
//!  requested ──accept──> accepted ──start──> in-progress ──complete──> completed
//!      │                    │  └────────complete──────────────────────────┘
//!      └──reject──> rejected└──reject──> rejected
//!  (any open) ──insurer cancels──> cancelled
//!  (any open) ──registration ends without a successor──> on-hold (no owner)
//!  on-hold / open ──the member registers with another doctor──> requested (new owner)
//! ```
//!
//! **When the registration moves** (the rule `docs/collaboration.md` explains): open
//! inquiries follow the member to the new registered doctor and start again at
//! `requested`, because the question is about the member and the registered doctor is the
//! one who now holds the member's information together; the insurer keeps one thread with
//! its history instead of re-asking. The previous doctor is told the inquiry is no longer
//! theirs (not where it went), the new doctor that one was routed to them, the insurer
//! where it now is. An answer is given only with completion, so a re-routed inquiry carries
//! no half-written answer of the previous doctor. When the registration ends without a
//! successor, open inquiries wait `on-hold` without an owner until the member registers
//! again.

/// Where an inquiry stands (FHIR `Task.status`, the subset inquiries use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InquiryStatus {
    Requested,
    Accepted,
    Rejected,
    InProgress,
    OnHold,
    Completed,
    Cancelled,
}

impl InquiryStatus {
    pub const ALL: &'static [InquiryStatus] = &[
        Self::Requested,
        Self::Accepted,
        Self::Rejected,
        Self::InProgress,
        Self::OnHold,
        Self::Completed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::InProgress => "in-progress",
            Self::OnHold => "on-hold",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s)
    }

    /// Still waiting for the doctor (follows the registration).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Self::Requested | Self::Accepted | Self::InProgress | Self::OnHold
        )
    }
}

/// The statuses that count as open.
pub const OPEN: &[InquiryStatus] = &[
    InquiryStatus::Requested,
    InquiryStatus::Accepted,
    InquiryStatus::InProgress,
    InquiryStatus::OnHold,
];

/// Who changes an inquiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InquiryActor {
    /// The registered doctor it is routed to.
    Owner,
    /// The insurer that asked.
    Insurer,
}

/// Why a status change is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionRefusal {
    /// Not a change this party may make from this status.
    NotAllowed,
    /// Completing needs an answer (`Task.output`).
    AnswerRequired,
    /// An answer is given with completion only.
    AnswerOnlyWithCompletion,
}

/// May `actor` move an inquiry from `from` to `to`; `answered` whether the new version
/// carries an answer. Staying in the same status is allowed to the owner while open (to
/// add a note), never with an answer.
pub fn transition(
    actor: InquiryActor,
    from: InquiryStatus,
    to: InquiryStatus,
    answered: bool,
) -> Result<(), TransitionRefusal> {
    use InquiryStatus::*;
    let allowed = match actor {
        InquiryActor::Owner => {
            matches!(
                (from, to),
                (Requested, Accepted | Rejected)
                    | (Accepted, InProgress | Completed | Rejected)
                    | (InProgress, Completed | Rejected)
            ) || (from == to && matches!(from, Requested | Accepted | InProgress))
        }
        InquiryActor::Insurer => {
            matches!(from, Requested | Accepted | InProgress | OnHold) && to == Cancelled
        }
    };
    if !allowed {
        return Err(TransitionRefusal::NotAllowed);
    }
    match (to, answered) {
        (Completed, false) => Err(TransitionRefusal::AnswerRequired),
        (Completed, true) | (_, false) => Ok(()),
        (_, true) => Err(TransitionRefusal::AnswerOnlyWithCompletion),
    }
}

/// What happens to an open inquiry when the member's registration changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rerouting {
    /// To the new registered doctor, starting again at `requested`.
    ToNewDoctor,
    /// Kept on hold without an owner until the member registers again.
    Hold,
    /// Nothing to do (the same doctor, or not open).
    Unchanged,
}

/// The rule for an inquiry in `status` owned by `owner` when the member's active
/// registration becomes `new_practitioner` (`None`: ended without a successor).
pub fn on_registration_change(
    status: InquiryStatus,
    owner: Option<&str>,
    new_practitioner: Option<&str>,
) -> Rerouting {
    if !status.is_open() {
        return Rerouting::Unchanged;
    }
    match new_practitioner {
        Some(p) if owner == Some(p) && status != InquiryStatus::OnHold => Rerouting::Unchanged,
        Some(_) => Rerouting::ToNewDoctor,
        None if status == InquiryStatus::OnHold => Rerouting::Unchanged,
        None => Rerouting::Hold,
    }
}

/// The kinds of question an insurer asks (`Task.code`, system [`INQUIRY_CODE_SYSTEM`]):
/// the program findings of issue 13, and a free question.
pub const INQUIRY_CODES: &[(&str, &str)] = &[
    ("duplicate-therapy", "重複投薬"),
    ("polypharmacy", "多剤投与"),
    ("untreated-high-risk", "受診勧奨値で未治療"),
    ("interrupted-treatment", "治療中断"),
    ("frequent-tests", "頻回検査"),
    ("other", "その他の照会"),
];

/// The code system of `Task.code` for inquiries.
pub const INQUIRY_CODE_SYSTEM: &str = "urn:kakari:inquiry-type";

#[cfg(test)]
mod tests {
    use super::InquiryActor::*;
    use super::InquiryStatus::*;
    use super::*;

    #[test]
    fn the_doctor_accepts_then_answers_with_completion() {
        assert_eq!(transition(Owner, Requested, Accepted, false), Ok(()));
        assert_eq!(transition(Owner, Accepted, InProgress, false), Ok(()));
        assert_eq!(transition(Owner, InProgress, Completed, true), Ok(()));
        assert_eq!(
            transition(Owner, InProgress, Completed, false),
            Err(TransitionRefusal::AnswerRequired)
        );
        assert_eq!(
            transition(Owner, Accepted, InProgress, true),
            Err(TransitionRefusal::AnswerOnlyWithCompletion)
        );
        // Completing without accepting first is not a shortcut the doctor has.
        assert_eq!(
            transition(Owner, Requested, Completed, true),
            Err(TransitionRefusal::NotAllowed)
        );
        assert_eq!(
            transition(Owner, Completed, InProgress, false),
            Err(TransitionRefusal::NotAllowed)
        );
        assert_eq!(
            transition(Owner, Requested, Cancelled, false),
            Err(TransitionRefusal::NotAllowed)
        );
    }

    #[test]
    fn the_insurer_only_cancels_open_inquiries() {
        for from in [Requested, Accepted, InProgress, OnHold] {
            assert_eq!(transition(Insurer, from, Cancelled, false), Ok(()));
        }
        for from in [Completed, Rejected, Cancelled] {
            assert!(transition(Insurer, from, Cancelled, false).is_err());
        }
        assert!(transition(Insurer, Requested, Accepted, false).is_err());
    }

    #[test]
    fn open_inquiries_follow_the_registration() {
        assert_eq!(
            on_registration_change(Accepted, Some("dr-a"), Some("dr-b")),
            Rerouting::ToNewDoctor
        );
        assert_eq!(
            on_registration_change(Accepted, Some("dr-a"), Some("dr-a")),
            Rerouting::Unchanged
        );
        assert_eq!(
            on_registration_change(Requested, Some("dr-a"), None),
            Rerouting::Hold
        );
        assert_eq!(
            on_registration_change(OnHold, None, Some("dr-a")),
            Rerouting::ToNewDoctor
        );
        assert_eq!(
            on_registration_change(Completed, Some("dr-a"), Some("dr-b")),
            Rerouting::Unchanged
        );
    }
}
