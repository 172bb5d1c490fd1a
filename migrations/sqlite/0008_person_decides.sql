-- The person decides (issue 10) (sqlite). Keep in step with postgres/0008_person_decides.sql.
--
-- Person clients are bound to one member id. A registration is 'pending' until the person
-- confirms it (or the registering institution records evidence of the person's signed
-- request); only an 'active' one opens access. Consent records its basis. Events tell the
-- parties what changed (the previous doctor, the insurer, the person).

-- Person clients: the normalised member id they stand for, who issued them and on what
-- identity evidence.
ALTER TABLE clients ADD COLUMN member TEXT;
ALTER TABLE clients ADD COLUMN issued_by INTEGER;
ALTER TABLE clients ADD COLUMN identity_evidence TEXT;

-- pending | active | ended | refused | withdrawn | superseded
ALTER TABLE registrations ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
UPDATE registrations SET status = 'ended' WHERE ended_at IS NOT NULL;
-- What made it active: 'person' (confirmed by the person), 'evidence' (the institution
-- recorded the person's signed request), 'first' (no registration to replace, policy
-- allows at once).
ALTER TABLE registrations ADD COLUMN basis TEXT;
UPDATE registrations SET basis = 'first';
ALTER TABLE registrations ADD COLUMN evidence_document TEXT;
ALTER TABLE registrations ADD COLUMN evidence_attested_by TEXT;
ALTER TABLE registrations ADD COLUMN decided_at INTEGER;
ALTER TABLE registrations ADD COLUMN decided_by INTEGER;
-- The consent asked for with the registration (applied when it becomes active).
ALTER TABLE registrations ADD COLUMN requested_consent INTEGER;
DROP INDEX registrations_one_active;
DROP INDEX registrations_practitioner;
DROP INDEX registrations_organization;
CREATE UNIQUE INDEX registrations_one_active ON registrations (person_pk) WHERE status = 'active';
CREATE INDEX registrations_practitioner ON registrations (practitioner) WHERE status = 'active';
CREATE INDEX registrations_organization ON registrations (organization) WHERE status = 'active';
CREATE INDEX registrations_pending ON registrations (person_pk) WHERE status = 'pending';

-- 'person', 'institution' (on the person's documented behalf), 'registration' (asked for
-- with the registration the person confirmed or signed), 'insurer_withdrawal' (a
-- withdrawal the insurer received).
ALTER TABLE consents ADD COLUMN basis TEXT NOT NULL DEFAULT 'registration';
ALTER TABLE consents ADD COLUMN evidence_document TEXT;

-- What happened that a party must be told: one row per recipient. Parties read their own
-- (GET /notifications); delivery by subscription reads the same rows.
CREATE TABLE events (
    id              INTEGER PRIMARY KEY,
    at              INTEGER  NOT NULL,
    topic           TEXT    NOT NULL,
    -- 'organization' (10-digit code), 'practitioner', 'insurer' (8 digits), 'member'
    recipient_kind  TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    person_pk       INTEGER,
    registration_id INTEGER,
    payload         TEXT    NOT NULL
);
CREATE INDEX events_recipient ON events (recipient_kind, recipient, id);
