//! Inquiries (照会) as FHIR R4 `Task`: reading the insurer's new Task, checking a party's
//! update against the stored version (only the elements that party may change), and
//! stamping what kakari decides (id, version, requester, owner, times).
//!
//! A Task names the member by a logical reference (`for.identifier`, JP Core member-id
//! system), as the registry's resources do: the insurer reads none of the person's
//! Patients. `code` says what kind of question it is (`urn:kakari:inquiry-type`),
//! `description` asks it, `focus` points at the finding; the doctor answers in `output`.

use serde_json::{Value, json};

use super::registry::{organization_reference, practitioner_reference};
use crate::domain::code_system::id_system;
use crate::domain::datetime::format_instant_millis;
use crate::domain::inquiry::{INQUIRY_CODE_SYSTEM, INQUIRY_CODES, InquiryStatus};
use crate::domain::{InsurerNumber, MemberId};
use crate::error::{ErrorCode, Issue, Problem};

/// The elements kakari sets and a client may not give on create.
const SET_BY_KAKARI: &[&str] = &["owner", "requester", "authoredOn", "lastModified", "output"];
/// The elements the registered doctor may change.
pub const OWNER_MAY_CHANGE: &[&str] = &[
    "status",
    "statusReason",
    "businessStatus",
    "output",
    "note",
    "executionPeriod",
];
/// The elements the insurer may change (to cancel, with its reason and notes).
pub const INSURER_MAY_CHANGE: &[&str] = &["status", "statusReason", "note"];
/// Elements that are the server's bookkeeping, never compared.
const BOOKKEEPING: &[&str] = &["id", "meta", "text", "lastModified", "executionPeriod"];

/// What a new inquiry asks.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub member: MemberId,
    /// The inquiry type (`urn:kakari:inquiry-type`).
    pub code: String,
    /// The Task as given, checked.
    pub body: Value,
}

fn invalid(location: &str, message: &str) -> Problem {
    Problem::new(ErrorCode::InvalidBody, location, message)
}

/// Checks a Task body against the R4 schema (the subset).
pub fn check_schema(body: &Value) -> Result<(), Problem> {
    super::schema::check_resource(body, "Task")
}

/// The member a logical reference names (`{"identifier": {"system": <member id>, "value"}}`).
pub fn member_of_reference(reference: &Value, location: &str) -> Result<MemberId, Problem> {
    let identifier = reference.get("identifier").ok_or_else(|| {
        Problem::new(
            ErrorCode::InvalidReference,
            location,
            "name the member by identifier (JP Core member-id system), not by a literal reference",
        )
    })?;
    let system = identifier
        .get("system")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !id_system::is_member_id(system) {
        return Err(Problem::new(
            ErrorCode::InvalidReference,
            format!("{location}.identifier.system"),
            "the identifier system must be the JP Core insurance member-id system",
        ));
    }
    let value = identifier
        .get("value")
        .and_then(Value::as_str)
        .unwrap_or_default();
    MemberId::parse(value).map_err(|e| {
        Problem::new(
            ErrorCode::InvalidMemberId,
            format!("{location}.identifier.value"),
            e.to_string(),
        )
    })
}

/// Reads an insurer's new Task: the schema, `status` requested, an `intent`, a known
/// `code`, a `description`, the member in `for`; nothing kakari sets.
pub fn read_new(body: &Value) -> Result<NewTask, Problem> {
    check_schema(body)?;
    for element in SET_BY_KAKARI {
        if body.get(*element).is_some() {
            return Err(invalid(
                &format!("Task.{element}"),
                "set by kakari (the owner is the member's registered doctor); leave it out",
            ));
        }
    }
    if body.get("status").and_then(Value::as_str) != Some("requested") {
        return Err(invalid("Task.status", "a new inquiry has status requested"));
    }
    if body.get("intent").and_then(Value::as_str).is_none() {
        return Err(invalid("Task.intent", "required (e.g. order)"));
    }
    let code = body
        .get("code")
        .and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c.get("system").and_then(Value::as_str) == Some(INQUIRY_CODE_SYSTEM))
        .and_then(|c| c.get("code").and_then(Value::as_str))
        .ok_or_else(|| {
            Problem::new(
                ErrorCode::InquiryCode,
                "Task.code",
                "needs a coding of urn:kakari:inquiry-type",
            )
        })?;
    if !INQUIRY_CODES.iter().any(|(c, _)| *c == code) {
        return Err(Problem::new(
            ErrorCode::InquiryCode,
            "Task.code.coding",
            "not an inquiry type (see docs/collaboration.md)",
        ));
    }
    let description = body
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let length = description.chars().count();
    if description.trim().is_empty() || length > 4000 {
        return Err(invalid(
            "Task.description",
            "the question, 1 to 4000 characters",
        ));
    }
    let member = member_of_reference(
        body.get("for")
            .ok_or_else(|| invalid("Task.for", "required: the member asked about"))?,
        "Task.for",
    )?;
    Ok(NewTask {
        member,
        code: code.to_owned(),
        body: body.clone(),
    })
}

/// Who an inquiry is routed to.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub practitioner: &'a str,
    pub practitioner_name: Option<&'a str>,
    pub organization: &'a str,
}

/// Stamps kakari's elements on a Task about to be stored as `version`: id, meta, the
/// member's normalised id, the requester (the insurer), the owner (or none, on hold), the
/// times.
pub fn stamp(
    task: &mut Value,
    id: i64,
    version: i64,
    at: i64,
    insurer: &InsurerNumber,
    member: &MemberId,
    owner: Option<Owner<'_>>,
) {
    let now = format_instant_millis(at);
    let Some(obj) = task.as_object_mut() else {
        return;
    };
    obj.insert("id".into(), json!(id.to_string()));
    obj.insert(
        "meta".into(),
        json!({"versionId": version.to_string(), "lastUpdated": now}),
    );
    obj.insert(
        "for".into(),
        json!({"type": "Patient", "identifier": {"system": id_system::MEMBER_ID, "value": member.key()}}),
    );
    obj.insert(
        "requester".into(),
        json!({"type": "Organization", "identifier": {"system": id_system::INSURER, "value": insurer.as_str()}}),
    );
    match owner {
        Some(o) => {
            let mut reference = practitioner_reference(o.practitioner, o.practitioner_name);
            // Which institution the doctor answers from.
            reference["extension"] = json!([{
                "url": OWNER_ORGANIZATION_EXTENSION,
                "valueReference": organization_reference(o.organization, None)
            }]);
            obj.insert("owner".into(), reference);
        }
        None => {
            obj.remove("owner");
        }
    }
    obj.entry("authoredOn").or_insert_with(|| json!(now));
    obj.insert("lastModified".into(), json!(now));
}

/// Extension on `Task.owner`: the institution of the registered doctor.
pub const OWNER_ORGANIZATION_EXTENSION: &str = "urn:kakari:extension:owner-organization";

/// Builds the next version from the stored Task and a party's PUT body: the elements in
/// `may_change` are taken from the body (removed when the body leaves them out); every
/// other element must be as stored (`inquiry.immutable_element`, located).
pub fn merge_update(
    stored: &Value,
    incoming: &Value,
    may_change: &[&str],
) -> Result<Value, Problem> {
    check_schema(incoming)?;
    let (Some(stored_obj), Some(incoming_obj)) = (stored.as_object(), incoming.as_object()) else {
        return Err(Problem::bare(ErrorCode::Internal));
    };
    let mut issues = Vec::new();
    let keys: std::collections::BTreeSet<&String> =
        stored_obj.keys().chain(incoming_obj.keys()).collect();
    let mut next = stored_obj.clone();
    for key in keys {
        if BOOKKEEPING.contains(&key.as_str()) && !may_change.contains(&key.as_str()) {
            continue;
        }
        if may_change.contains(&key.as_str()) {
            match incoming_obj.get(key) {
                Some(v) => next.insert(key.clone(), v.clone()),
                None => next.remove(key),
            };
            continue;
        }
        if stored_obj.get(key) != incoming_obj.get(key) {
            issues.push(Issue::error(
                ErrorCode::InquiryImmutable,
                format!("Task.{key}"),
                "this party may not change this element (send the stored value)",
            ));
        }
    }
    if !issues.is_empty() {
        return Err(Problem::with_issues(ErrorCode::InquiryImmutable, issues));
    }
    Ok(Value::Object(next))
}

/// The status a Task body states.
pub fn status_of(task: &Value) -> Result<InquiryStatus, Problem> {
    task.get("status")
        .and_then(Value::as_str)
        .and_then(InquiryStatus::parse)
        .ok_or_else(|| {
            invalid(
                "Task.status",
                "requested, accepted, rejected, in-progress, on-hold, completed or cancelled",
            )
        })
}

/// Does the Task carry an answer (`output` with a value)?
pub fn has_answer(task: &Value) -> bool {
    task.get("output")
        .and_then(Value::as_array)
        .is_some_and(|outputs| {
            outputs.iter().any(|o| {
                o.as_object()
                    .is_some_and(|o| o.keys().any(|k| k.starts_with("value")))
            })
        })
}

/// Marks a re-routing or hold in the Task itself: back to `status`, with the reason as
/// `statusReason` text.
pub fn set_status(task: &mut Value, status: InquiryStatus, reason: &str) {
    if let Some(obj) = task.as_object_mut() {
        obj.insert("status".into(), json!(status.as_str()));
        obj.insert("statusReason".into(), json!({"text": reason}));
        obj.remove("businessStatus");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> Value {
        json!({"resourceType": "Task", "status": "requested", "intent": "order",
               "code": {"coding": [{"system": INQUIRY_CODE_SYSTEM, "code": "polypharmacy"}]},
               "description": "多剤処方について",
               "for": {"identifier": {"system": id_system::MEMBER_ID, "value": "06139463:１２:３４５:01"}},
               "focus": {"reference": "DetectedIssue/f-1"}})
    }

    #[test]
    fn a_new_task_names_the_member_and_a_known_question() {
        let t = read_new(&task()).unwrap();
        assert_eq!(t.member.key(), "06139463:12:345:01");
        assert_eq!(t.code, "polypharmacy");
        let mut owner = task();
        owner["owner"] = json!({"reference": "Practitioner/x"});
        assert_eq!(
            read_new(&owner).unwrap_err().issues[0].location,
            "Task.owner"
        );
        let mut literal = task();
        literal["for"] = json!({"reference": "Patient/p1"});
        assert_eq!(
            read_new(&literal).unwrap_err().code,
            ErrorCode::InvalidReference
        );
        let mut code = task();
        code["code"] = json!({"coding": [{"system": INQUIRY_CODE_SYSTEM, "code": "gossip"}]});
        assert_eq!(read_new(&code).unwrap_err().code, ErrorCode::InquiryCode);
        let mut bad = task();
        bad["status"] = json!("nonsense status");
        assert_eq!(read_new(&bad).unwrap_err().code, ErrorCode::SchemaViolation);
    }

    #[test]
    fn an_update_changes_only_what_the_party_may() {
        let mut stored = task();
        let insurer = InsurerNumber::parse("06139463").unwrap();
        let member = MemberId::parse("06139463:12:345:01").unwrap();
        stamp(
            &mut stored,
            7,
            1,
            1_790_000_000_000,
            &insurer,
            &member,
            None,
        );
        let mut answer = stored.clone();
        answer["status"] = json!("completed");
        answer["output"] = json!([{"type": {"text": "回答"}, "valueString": "減薬を検討します"}]);
        let next = merge_update(&stored, &answer, OWNER_MAY_CHANGE).unwrap();
        assert!(has_answer(&next));
        assert_eq!(status_of(&next).unwrap(), InquiryStatus::Completed);
        let mut rewrite = answer.clone();
        rewrite["description"] = json!("別の質問");
        let err = merge_update(&stored, &rewrite, OWNER_MAY_CHANGE).unwrap_err();
        assert_eq!(err.code, ErrorCode::InquiryImmutable);
        assert_eq!(err.issues[0].location, "Task.description");
        // The insurer may not answer.
        let err = merge_update(&stored, &answer, INSURER_MAY_CHANGE).unwrap_err();
        assert_eq!(err.issues[0].location, "Task.output");
    }
}
