//! The delivery worker: leases one subscription with due notifications at a time,
//! delivers them in event-number order, records each outcome, and gives the lease back.
//! Idle, it looks for work every `delivery_poll_millis`. It runs in every `kakari serve`
//! instance; the leases keep instances from delivering the same subscription at once.

use std::sync::Arc;
use std::time::Duration;

use crate::app::AppState;
use crate::delivery::{client, endpoint, signature};
use crate::domain::subscription::backoff_millis;
use crate::error::Problem;
use crate::service::subscriptions::{self, Outgoing};
use crate::store::subscriptions::{DeliveryRow, SubscriptionRow};

/// Notifications sent per lease before the subscription is given back (fairness).
const BATCH: i64 = 20;

/// The worker's settings (from the configuration).
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub timeout: Duration,
    pub poll: Duration,
    pub max_attempts: u32,
    pub backoff_base_millis: u64,
    pub backoff_cap_millis: u64,
    pub allow_loopback: bool,
    /// The FHIR base URL notifications refer to (`https://kakari.example/fhir`).
    pub base: String,
}

impl WorkerSettings {
    pub fn from_state(state: &AppState) -> Self {
        let c = &state.config;
        let base = c
            .public_base_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", c.listen));
        Self {
            timeout: Duration::from_millis(c.delivery_timeout_millis),
            poll: Duration::from_millis(c.delivery_poll_millis),
            max_attempts: c.delivery_max_attempts,
            backoff_base_millis: c.delivery_backoff_millis,
            backoff_cap_millis: c.delivery_backoff_cap_millis,
            allow_loopback: c.delivery_allow_loopback,
            base: format!("{}/fhir", base.trim_end_matches('/')),
        }
    }

    /// How long a lease lasts: renewed before each notification, so it only has to outlast
    /// one request; after a crash another instance takes over once it ran out.
    fn lease_millis(&self) -> i64 {
        2 * self.timeout.as_millis() as i64 + 2_000
    }
}

/// Starts the worker on the current runtime; it runs until the runtime stops.
pub fn spawn(state: Arc<AppState>) -> Result<tokio::task::JoinHandle<()>, client::ClientError> {
    let settings = WorkerSettings::from_state(&state);
    let http = client::build(settings.timeout, settings.allow_loopback)?;
    Ok(tokio::spawn(run(state, settings, http)))
}

async fn run(state: Arc<AppState>, settings: WorkerSettings, http: reqwest::Client) {
    loop {
        match next(&state, &settings, &http).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "delivery worker: store unavailable; retrying"),
        }
        tokio::time::sleep(settings.poll).await;
    }
}

/// Claims one subscription and delivers its due notifications; false when there was none.
async fn next(
    state: &AppState,
    settings: &WorkerSettings,
    http: &reqwest::Client,
) -> Result<bool, Problem> {
    let due = state.store.read(|tx| tx.deliveries_due()).await?;
    if !due {
        return Ok(false);
    }
    let owner = state.instance.clone();
    let lease = settings.lease_millis();
    let Some(subscription) = state
        .store
        .write(move |tx| tx.claim_subscription(&owner, lease))
        .await?
    else {
        return Ok(false);
    };
    let result = deliver_batch(state, settings, http, &subscription).await;
    let (id, owner) = (subscription.id, state.instance.clone());
    state
        .store
        .write(move |tx| tx.release_subscription(id, &owner))
        .await?;
    result.map(|()| true)
}

async fn deliver_batch(
    state: &AppState,
    settings: &WorkerSettings,
    http: &reqwest::Client,
    subscription: &SubscriptionRow,
) -> Result<(), Problem> {
    let id = subscription.id;
    let pending = state
        .store
        .read(move |tx| tx.pending_deliveries(id, BATCH))
        .await?;
    for delivery in pending {
        let now = crate::domain::datetime::now_millis();
        if delivery.next_attempt_at > now {
            // The oldest one waits for its retry; later ones wait behind it (order).
            break;
        }
        let (owner, sid, lease) = (
            state.instance.clone(),
            subscription.id,
            settings.lease_millis(),
        );
        let still_ours = state
            .store
            .write(move |tx| tx.renew_lease(sid, &owner, lease))
            .await?;
        if !still_ours {
            break;
        }
        let (sub, d, base) = (
            subscription.clone(),
            delivery.clone(),
            settings.base.clone(),
        );
        let outgoing = state
            .store
            .read(move |tx| subscriptions::notification(tx, &sub, &d, &base))
            .await?;
        match send(http, settings, subscription, &outgoing).await {
            Ok(()) => {
                let did = delivery.id;
                state
                    .store
                    .write(move |tx| tx.delivery_succeeded(did))
                    .await?;
                metrics::counter!("kakari_deliveries_total", "outcome" => "delivered").increment(1);
            }
            Err(reason) => {
                record_failure(state, settings, &delivery, &reason).await?;
                break;
            }
        }
    }
    Ok(())
}

async fn record_failure(
    state: &AppState,
    settings: &WorkerSettings,
    delivery: &DeliveryRow,
    reason: &str,
) -> Result<(), Problem> {
    let attempts = u32::try_from(delivery.attempts + 1).unwrap_or(u32::MAX);
    let dead = attempts >= settings.max_attempts;
    let wait = backoff_millis(
        attempts,
        settings.backoff_base_millis,
        settings.backoff_cap_millis,
    );
    let next = crate::domain::datetime::now_millis() + i64::try_from(wait).unwrap_or(i64::MAX / 2);
    let outcome = if dead { "dead" } else { "retry" };
    tracing::warn!(
        subscription = delivery.subscription_id,
        event_number = delivery.event_number,
        attempts,
        outcome,
        reason,
        "delivery failed"
    );
    metrics::counter!("kakari_deliveries_total", "outcome" => outcome).increment(1);
    let (d, reason) = (delivery.clone(), reason.to_owned());
    state
        .store
        .write(move |tx| tx.delivery_failed(&d, &reason, next, dead))
        .await?;
    Ok(())
}

/// Sends one notification; `Err` names why it failed (fixed text and the status code).
async fn send(
    http: &reqwest::Client,
    settings: &WorkerSettings,
    subscription: &SubscriptionRow,
    outgoing: &Outgoing,
) -> Result<(), String> {
    // The URL was checked when the subscription was made; literal addresses again now,
    // names by the client's resolver on connecting.
    let url = endpoint::check_url(&subscription.endpoint, settings.allow_loopback)
        .map_err(|e| e.to_string())?;
    let timestamp = crate::domain::datetime::now_millis() / 1000;
    let mut request = http
        .post(url)
        .header("Content-Type", "application/fhir+json")
        .header(
            signature::HEADER,
            signature::sign(&subscription.secret, timestamp, &outgoing.body),
        )
        .header(
            "Idempotency-Key",
            format!("kakari-{}-{}", subscription.id, outgoing.event_number),
        )
        .header("Kakari-Subscription", subscription.id.to_string())
        .header("Kakari-Event-Number", outgoing.event_number.to_string());
    for h in &subscription.headers {
        if let Some((name, value)) = h.split_once(':') {
            request = request.header(name.trim(), value.trim());
        }
    }
    let response = request
        .body(outgoing.body.clone())
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "the receiver did not answer in time".to_owned()
            } else if e.is_connect() {
                "cannot connect to the receiver (down, refused, or not a public address)".to_owned()
            } else {
                "the request failed".to_owned()
            }
        })?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered HTTP {}", status.as_u16()))
    }
}
