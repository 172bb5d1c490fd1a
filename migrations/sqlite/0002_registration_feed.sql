-- Directory, certification, registrations, consent, and the lab feed (SQLite).
-- Keep in step with postgres/0002_registration_feed.sql.

-- Institutions of the directory (maintained by administrators).
CREATE TABLE organizations (
    code            TEXT    PRIMARY KEY,
    name            TEXT    NOT NULL,
    prefecture      TEXT    NOT NULL,
    city            TEXT,
    address         TEXT,
    phone           TEXT,
    url             TEXT,
    certified       INTEGER NOT NULL,
    certified_at    INTEGER,
    certified_by    TEXT,
    functions       TEXT    NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX organizations_place ON organizations (prefecture, city);

-- Practitioners of the directory.
CREATE TABLE practitioners (
    id              TEXT    PRIMARY KEY,
    name            TEXT    NOT NULL,
    name_kana       TEXT,
    organization    TEXT,
    qualifications  TEXT    NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX practitioners_organization ON practitioners (organization);

-- One registered family doctor per person: at most one row with ended_at NULL.
CREATE TABLE registrations (
    id              INTEGER PRIMARY KEY,
    person_pk       INTEGER NOT NULL,
    member_key      TEXT    NOT NULL,
    practitioner    TEXT    NOT NULL,
    organization    TEXT    NOT NULL,
    start_date      TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    created_by      INTEGER NOT NULL,
    ended_at        INTEGER,
    ended_by        INTEGER,
    end_reason      TEXT
);
CREATE UNIQUE INDEX registrations_one_active ON registrations (person_pk) WHERE ended_at IS NULL;
CREATE INDEX registrations_person ON registrations (person_pk);
CREATE INDEX registrations_practitioner ON registrations (practitioner) WHERE ended_at IS NULL;
CREATE INDEX registrations_organization ON registrations (organization) WHERE ended_at IS NULL;

-- Consent to share lab values with the insurer for health programs; the newest row per
-- person is in force.
CREATE TABLE consents (
    id              INTEGER PRIMARY KEY,
    person_pk       INTEGER NOT NULL,
    insurer_programs INTEGER NOT NULL,
    recorded_at     INTEGER NOT NULL,
    recorded_by     INTEGER NOT NULL,
    registration_id INTEGER
);
CREATE INDEX consents_person ON consents (person_pk, id);

-- The lab feed: a commit-ordered sequence number per lab result (gap-free cursors).
ALTER TABLE lab_results ADD COLUMN feed_seq INTEGER;
CREATE UNIQUE INDEX lab_results_feed ON lab_results (feed_seq);
CREATE TABLE feed_counters (
    name   TEXT    PRIMARY KEY,
    value  INTEGER NOT NULL
);
INSERT INTO feed_counters (name, value) VALUES ('lab_results', 0);
