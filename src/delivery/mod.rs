//! Outbound notifications: the worker that delivers the outbox (`deliveries`, queued in
//! the transaction of each event) to subscribers' rest-hook endpoints, the only outbound
//! HTTP client of the gateway, and the finding watch that turns new program findings into
//! events.
//!
//! Guarantees (tested in `tests/it/delivery.rs`):
//! * **At least once, never silently dropped.** A delivery leaves the queue only when the
//!   receiver answered 2xx, or as a dead letter after `delivery_max_attempts` failures
//!   (the subscription then shows `error`; `kakari delivery redeliver` or
//!   `POST /fhir/Subscription/{id}/$redeliver` queues it again). The queue is in the
//!   database, so a restart resumes where it stopped; a delivery sent but not yet recorded
//!   when the process died is sent again (receivers deduplicate on `Idempotency-Key`).
//! * **Per-subscription order.** Deliveries of one subscription go out in event-number
//!   order, one at a time; a failure holds the later ones back until it succeeds or is
//!   dead-lettered.
//! * **One sender per subscription across instances.** A worker leases a subscription
//!   (`FOR UPDATE SKIP LOCKED` on PostgreSQL) before delivering its events; another
//!   instance takes over only after the lease expired.
//! * **Signed and bounded.** Each request carries `Kakari-Signature` (HMAC-SHA256 over
//!   timestamp and body), `Idempotency-Key`, a timeout; redirects are not followed; the
//!   endpoint must be https and resolve to public addresses only (`endpoint`).

pub mod client;
pub mod endpoint;
pub mod finding_watch;
pub mod signature;
pub mod worker;
