-- Insurer–doctor collaboration (issue 13) (sqlite). Keep in step with
-- postgres/0010_collaboration.sql.
--
-- Inquiries (照会) are served as FHIR Task: the current version in `inquiries`, every
-- version (each status change) in `inquiry_versions`. Subscriptions deliver events (the
-- `events` rows, one per recipient) to the subscriber's rest-hook endpoint: a `deliveries`
-- row per (subscription, event) is written in the transaction that writes the event, so
-- an event committed is an event queued; the worker claims a subscription (lease) and
-- delivers its rows in event-number order.

CREATE TABLE inquiries (
    id INTEGER PRIMARY KEY,
    person_pk          INTEGER NOT NULL,
    member_key         TEXT   NOT NULL,
    -- the insurer number (8 digits) that asks
    insurer            TEXT   NOT NULL,
    created_by         INTEGER NOT NULL,
    -- the registered doctor it is routed to (none while on hold)
    owner_practitioner TEXT,
    owner_organization TEXT,
    -- FHIR Task.status
    status             TEXT   NOT NULL,
    version            INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    -- the current Task as served
    body               TEXT   NOT NULL
);
CREATE INDEX inquiries_owner ON inquiries (owner_practitioner, id);
CREATE INDEX inquiries_insurer ON inquiries (insurer, id);
CREATE INDEX inquiries_person ON inquiries (person_pk, status);

CREATE TABLE inquiry_versions (
    inquiry_id INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    client_id  INTEGER NOT NULL,
    status     TEXT   NOT NULL,
    body       TEXT   NOT NULL,
    PRIMARY KEY (inquiry_id, version)
);

-- What an event is about, as a FHIR reference the recipient may read (`Task/12/_history/3`,
-- `EpisodeOfCare/5`); none when the recipient is only told that something changed.
ALTER TABLE events ADD COLUMN focus TEXT;

CREATE TABLE subscriptions (
    id INTEGER PRIMARY KEY,
    client_id          INTEGER NOT NULL,
    -- whose events it delivers (as `events.recipient_kind`, `events.recipient`)
    recipient_kind     TEXT   NOT NULL,
    recipient          TEXT   NOT NULL,
    -- the topic canonical URL
    topic              TEXT   NOT NULL,
    endpoint           TEXT   NOT NULL,
    -- empty | id-only | full-resource
    content            TEXT   NOT NULL,
    -- JSON array of "Name: value" headers the subscriber asked for
    headers            TEXT   NOT NULL,
    -- HMAC-SHA256 key of the signature header
    secret             TEXT   NOT NULL,
    -- active | error | off
    status             TEXT   NOT NULL,
    reason             TEXT,
    end_at             TEXT,
    events_since_start INTEGER NOT NULL DEFAULT 0,
    last_error         TEXT,
    -- the instance delivering it now, and until when
    lease_owner        TEXT,
    lease_until        INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX subscriptions_recipient ON subscriptions (recipient_kind, recipient, topic);
CREATE INDEX subscriptions_client ON subscriptions (client_id);

CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    subscription_id INTEGER NOT NULL,
    event_id        INTEGER NOT NULL,
    -- the subscription's event counter when the event was queued
    event_number    INTEGER NOT NULL,
    -- pending | delivered | dead
    status          TEXT   NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    delivered_at    INTEGER,
    created_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX deliveries_order ON deliveries (subscription_id, event_number);
CREATE INDEX deliveries_pending ON deliveries (subscription_id, event_number) WHERE status = 'pending';
CREATE INDEX deliveries_dead ON deliveries (subscription_id, event_number) WHERE status = 'dead';
