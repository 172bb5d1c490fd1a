//! FHIR R4 `Subscription` following the Subscriptions R5 Backport IG: the topic canonical
//! in `criteria`, a `rest-hook` channel with an `application/fhir+json` payload whose
//! content (`empty`, `id-only`, `full-resource`) is the `backport-payload-content`
//! extension; the notification Bundle (`history`, first entry the
//! `backport-subscription-status-r4` Parameters); and the `$status` answer.

use serde_json::{Value, json};

use crate::domain::datetime::format_instant_millis;
use crate::domain::subscription::{Content, SubscriptionStatus, Topic};
use crate::error::{ErrorCode, Problem};

const BACKPORT: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition";
/// Profile of a backport Subscription.
pub const SUBSCRIPTION_PROFILE: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription";
/// Extension on `channel.payload` naming the content.
pub const PAYLOAD_CONTENT: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content";
/// Profile of the notification Bundle.
pub const NOTIFICATION_PROFILE: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-notification-r4";
/// Profile of the status Parameters.
pub const STATUS_PROFILE: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4";
/// Extension on the created Subscription's channel: the HMAC-SHA256 key of the signature
/// header, shown once (in the answer to the create).
pub const SIGNING_SECRET_EXTENSION: &str = "urn:kakari:extension:signing-secret";
/// Extension on a notification event: kakari's event type (`inquiry.accepted`) and the id
/// the same event has in `GET /notifications`.
pub const EVENT_TYPE_EXTENSION: &str = "urn:kakari:extension:event-type";
pub const NOTIFICATION_ID_EXTENSION: &str = "urn:kakari:extension:notification-id";
/// The CapabilityStatement extension listing the topics.
pub const TOPIC_CANONICAL_EXTENSION: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/capabilitystatement-subscriptiontopic-canonical";

/// Headers kakari sets itself; a subscriber may not ask for them.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "idempotency-key",
    "kakari-signature",
    "kakari-event-number",
    "kakari-subscription",
    "transfer-encoding",
    "connection",
];

/// A subscription as asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionRequest {
    pub topic: Topic,
    pub endpoint: String,
    pub content: Content,
    pub headers: Vec<String>,
    pub reason: Option<String>,
}

fn invalid(location: &str, message: &str) -> Problem {
    Problem::new(ErrorCode::InvalidBody, location, message)
}

/// Reads a new Subscription (the schema first, then the backport rules kakari supports).
pub fn read_request(body: &Value) -> Result<SubscriptionRequest, Problem> {
    super::schema::check_resource(body, "Subscription")?;
    let criteria = body
        .get("criteria")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("Subscription.criteria", "required: the topic canonical URL"))?;
    let topic = Topic::parse(criteria).ok_or_else(|| {
        Problem::new(
            ErrorCode::SubscriptionTopicUnknown,
            "Subscription.criteria",
            "not a topic of this server (see the CapabilityStatement)",
        )
    })?;
    if body.get("_criteria").is_some() {
        return Err(invalid(
            "Subscription._criteria",
            "filter criteria are not supported: a subscription receives every event of the topic that concerns the subscriber",
        ));
    }
    if body.get("end").is_some() {
        return Err(invalid(
            "Subscription.end",
            "not supported: end a subscription by setting its status to off",
        ));
    }
    let channel = body
        .get("channel")
        .ok_or_else(|| invalid("Subscription.channel", "required"))?;
    if channel.get("type").and_then(Value::as_str) != Some("rest-hook") {
        return Err(Problem::new(
            ErrorCode::SubscriptionChannel,
            "Subscription.channel.type",
            "only rest-hook is supported",
        ));
    }
    let endpoint = channel
        .get("endpoint")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("Subscription.channel.endpoint", "required: the https URL"))?
        .to_owned();
    let content = match channel.get("payload").and_then(Value::as_str) {
        None => Content::Empty,
        Some("application/fhir+json") => payload_content(channel)?,
        Some(_) => {
            return Err(Problem::new(
                ErrorCode::SubscriptionChannel,
                "Subscription.channel.payload",
                "payloads are application/fhir+json",
            ));
        }
    };
    if content == Content::FullResource && !topic.full_resource_allowed() {
        return Err(Problem::new(
            ErrorCode::SubscriptionContent,
            "Subscription.channel._payload",
            "this topic notifies id-only: lab values are pulled, where consent is checked at the time of reading",
        ));
    }
    let mut headers = Vec::new();
    for (i, h) in channel
        .get("header")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let location = format!("Subscription.channel.header[{i}]");
        let h = h.as_str().unwrap_or_default();
        let Some((name, value)) = h.split_once(':') else {
            return Err(invalid(&location, "a header is `Name: value`"));
        };
        let name = name.trim();
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
        if !token || value.chars().any(char::is_control) || h.len() > 4096 {
            return Err(invalid(
                &location,
                "a header is `Name: value` without control characters",
            ));
        }
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(invalid(&location, "kakari sets this header itself"));
        }
        headers.push(format!("{name}: {}", value.trim()));
    }
    Ok(SubscriptionRequest {
        topic,
        endpoint,
        content,
        headers,
        reason: body
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

fn payload_content(channel: &Value) -> Result<Content, Problem> {
    let given = channel
        .get("_payload")
        .and_then(|p| p.get("extension"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|e| {
            e.get("url").and_then(Value::as_str).is_some_and(|u| {
                u == PAYLOAD_CONTENT
                    || u.starts_with(BACKPORT) && u.ends_with("/backport-payload-content")
            })
        })
        .and_then(|e| e.get("valueCode").and_then(Value::as_str));
    match given {
        None => Ok(Content::IdOnly),
        Some(code) => Content::parse(code).ok_or_else(|| {
            invalid(
                "Subscription.channel._payload.extension",
                "empty, id-only or full-resource",
            )
        }),
    }
}

/// A stored subscription as kakari shows it to its owner.
#[derive(Debug, Clone)]
pub struct SubscriptionFacts<'a> {
    pub id: i64,
    pub topic: Topic,
    pub endpoint: &'a str,
    pub content: Content,
    pub headers: &'a [String],
    pub status: SubscriptionStatus,
    pub reason: Option<&'a str>,
    pub error: Option<&'a str>,
    pub updated_at: i64,
}

/// A subscription as a backport `Subscription`.
pub fn render(s: &SubscriptionFacts<'_>) -> Value {
    let mut channel = json!({
        "type": "rest-hook",
        "endpoint": s.endpoint,
    });
    if s.content != Content::Empty {
        channel["payload"] = json!("application/fhir+json");
        channel["_payload"] =
            json!({"extension": [{"url": PAYLOAD_CONTENT, "valueCode": s.content.as_str()}]});
    }
    if !s.headers.is_empty() {
        channel["header"] = json!(s.headers);
    }
    let mut v = json!({
        "resourceType": "Subscription",
        "id": s.id.to_string(),
        "meta": {"lastUpdated": format_instant_millis(s.updated_at), "profile": [SUBSCRIPTION_PROFILE]},
        "status": s.status.as_str(),
        "reason": s.reason.unwrap_or("kakari notifications"),
        "criteria": s.topic.canonical(),
        "channel": channel,
    });
    if s.status == SubscriptionStatus::Error
        && let Some(e) = s.error
    {
        v["error"] = json!(e);
    }
    v
}

/// Adds the signing secret to a created subscription's answer (shown once).
pub fn with_secret(mut subscription: Value, secret: &str) -> Value {
    subscription["channel"]["extension"] =
        json!([{"url": SIGNING_SECRET_EXTENSION, "valueString": secret}]);
    subscription
}

/// One event in a notification.
#[derive(Debug, Clone)]
pub struct NotificationEvent<'a> {
    pub number: i64,
    pub at: i64,
    /// kakari's event type (`inquiry.accepted`).
    pub event_type: &'a str,
    /// The event's id in `GET /notifications`.
    pub notification_id: i64,
    /// The focus as a relative reference the recipient may read (`Task/3/_history/2`).
    pub focus: Option<&'a str>,
    /// The focus resource (full-resource content).
    pub resource: Option<Value>,
}

/// What kind of status bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusType {
    EventNotification,
    QueryStatus,
}

/// What a status says about its subscription.
#[derive(Debug, Clone, Copy)]
pub struct StatusFacts<'a> {
    pub subscription_id: i64,
    pub topic: Topic,
    pub status: SubscriptionStatus,
    pub kind: StatusType,
    pub events_since_start: i64,
    pub content: Content,
    pub error: Option<&'a str>,
}

/// The subscription-status Parameters.
pub fn status_parameters(
    base: &str,
    facts: &StatusFacts<'_>,
    events: &[NotificationEvent<'_>],
) -> Value {
    let StatusFacts {
        subscription_id,
        topic,
        status,
        kind,
        events_since_start,
        content,
        error,
    } = *facts;
    let mut parameters = vec![
        json!({"name": "subscription", "valueReference": {"reference": format!("{base}/Subscription/{subscription_id}")}}),
        json!({"name": "topic", "valueCanonical": topic.canonical()}),
        json!({"name": "status", "valueCode": status.as_str()}),
        json!({"name": "type", "valueCode": match kind {
            StatusType::EventNotification => "event-notification",
            StatusType::QueryStatus => "query-status",
        }}),
        json!({"name": "events-since-subscription-start", "valueString": events_since_start.to_string()}),
    ];
    for e in events {
        let mut parts = vec![
            json!({"name": "event-number", "valueString": e.number.to_string()}),
            json!({"name": "timestamp", "valueInstant": format_instant_millis(e.at)}),
        ];
        if content != Content::Empty
            && let Some(focus) = e.focus
        {
            parts.push(json!({"name": "focus", "valueReference": {"reference": format!("{base}/{focus}")}}));
        }
        parameters.push(json!({
            "extension": [
                {"url": EVENT_TYPE_EXTENSION, "valueString": e.event_type},
                {"url": NOTIFICATION_ID_EXTENSION, "valueString": e.notification_id.to_string()}
            ],
            "name": "notification-event",
            "part": parts
        }));
    }
    if let Some(error) = error {
        parameters.push(json!({"name": "error", "valueCodeableConcept": {"text": error}}));
    }
    json!({
        "resourceType": "Parameters",
        "meta": {"profile": [STATUS_PROFILE]},
        "parameter": parameters
    })
}

/// The notification Bundle for one event (a `history` Bundle whose first entry is the
/// status; then the focus: its URL for id-only, the resource itself for full-resource).
pub fn notification(
    base: &str,
    bundle_id: &str,
    now: i64,
    status: Value,
    subscription_id: i64,
    event: &NotificationEvent<'_>,
    content: Content,
) -> Value {
    let mut entries = vec![json!({
        "fullUrl": format!("urn:uuid:{bundle_id}"),
        "resource": status,
        "request": {"method": "GET", "url": format!("{base}/Subscription/{subscription_id}/$status")},
        "response": {"status": "200"}
    })];
    if content != Content::Empty
        && let Some(focus) = event.focus
    {
        let mut entry = json!({
            "fullUrl": format!("{base}/{focus}"),
            "request": {"method": "PUT", "url": focus},
            "response": {"status": "200"}
        });
        if content == Content::FullResource
            && let Some(resource) = &event.resource
        {
            entry["resource"] = resource.clone();
        }
        entries.push(entry);
    }
    json!({
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": {"profile": [NOTIFICATION_PROFILE]},
        "type": "history",
        "timestamp": format_instant_millis(now),
        "entry": entries
    })
}

/// The `$status` answer: a searchset Bundle with the status Parameters.
pub fn status_bundle(status: Value) -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 1,
        "entry": [{"resource": status, "search": {"mode": "match"}}]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(content: &str, criteria: &str) -> Value {
        json!({"resourceType": "Subscription", "status": "requested", "reason": "inquiries",
               "criteria": criteria,
               "channel": {"type": "rest-hook", "endpoint": "https://insurer.example/hook",
                           "payload": "application/fhir+json",
                           "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": content}]},
                           "header": ["Authorization: Bearer abc"]}})
    }

    #[test]
    fn a_backport_subscription_is_read() {
        let r = read_request(&subscription("full-resource", Topic::Inquiry.canonical())).unwrap();
        assert_eq!(r.topic, Topic::Inquiry);
        assert_eq!(r.content, Content::FullResource);
        assert_eq!(r.headers, vec!["Authorization: Bearer abc".to_owned()]);
        let err = read_request(&subscription("id-only", "http://example.org/Topic/x")).unwrap_err();
        assert_eq!(err.code, ErrorCode::SubscriptionTopicUnknown);
        let err =
            read_request(&subscription("full-resource", Topic::LabResult.canonical())).unwrap_err();
        assert_eq!(err.code, ErrorCode::SubscriptionContent);
        let mut email = subscription("id-only", Topic::Inquiry.canonical());
        email["channel"]["type"] = json!("email");
        assert_eq!(
            read_request(&email).unwrap_err().code,
            ErrorCode::SubscriptionChannel
        );
        let mut reserved = subscription("id-only", Topic::Inquiry.canonical());
        reserved["channel"]["header"] = json!(["Kakari-Signature: forged"]);
        assert_eq!(
            read_request(&reserved).unwrap_err().issues[0].location,
            "Subscription.channel.header[0]"
        );
    }

    #[test]
    fn a_notification_starts_with_its_status() {
        let event = NotificationEvent {
            number: 3,
            at: 1_790_000_000_000,
            event_type: "inquiry.accepted",
            notification_id: 41,
            focus: Some("Task/7/_history/2"),
            resource: Some(json!({"resourceType": "Task", "id": "7"})),
        };
        let base = "https://kakari.example/fhir";
        let facts = StatusFacts {
            subscription_id: 5,
            topic: Topic::Inquiry,
            status: SubscriptionStatus::Active,
            kind: StatusType::EventNotification,
            events_since_start: 3,
            content: Content::IdOnly,
            error: None,
        };
        let status = status_parameters(base, &facts, std::slice::from_ref(&event));
        let b = notification(base, "u-1", 1, status, 5, &event, Content::IdOnly);
        assert_eq!(b["type"], "history");
        assert_eq!(b["entry"][0]["resource"]["resourceType"], "Parameters");
        assert_eq!(
            b["entry"][1]["fullUrl"],
            "https://kakari.example/fhir/Task/7/_history/2"
        );
        assert!(b["entry"][1].get("resource").is_none());
        let status = b["entry"][0]["resource"]["parameter"].as_array().unwrap();
        assert!(
            status
                .iter()
                .any(|p| p["name"] == "events-since-subscription-start" && p["valueString"] == "3")
        );
    }
}
