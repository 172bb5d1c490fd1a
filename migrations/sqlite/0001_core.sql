-- kakari core schema (SQLite). Keep in step with postgres/0001_core.sql: same tables,
-- same columns, same meaning. Times are epoch milliseconds; booleans are 0/1.

-- API clients. Tokens are stored as SHA-256 digests of their secret part.
CREATE TABLE clients (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    facility      TEXT,
    insurer       TEXT,
    practitioner  TEXT,
    token_hash    BLOB    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER,
    revoked_at    INTEGER
);

-- Every input kakari accepted or refused: a request body, a message, a file.
CREATE TABLE inputs (
    id           INTEGER PRIMARY KEY,
    client_id    INTEGER NOT NULL,
    format       TEXT    NOT NULL,
    received_at  INTEGER NOT NULL,
    request_id   TEXT,
    sha256       BLOB    NOT NULL,
    size         INTEGER NOT NULL,
    label        TEXT
);

-- Idempotency: one row per (sender scope, the sender's own id for the input).
CREATE TABLE idempotency_keys (
    scope       TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    input_id    INTEGER,
    status      INTEGER,
    response    BLOB,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;

-- Rejected inputs, kept for inspection and re-processing.
CREATE TABLE quarantine (
    id            INTEGER PRIMARY KEY,
    client_id     INTEGER NOT NULL,
    format        TEXT    NOT NULL,
    received_at   INTEGER NOT NULL,
    request_id    TEXT,
    code          TEXT    NOT NULL,
    location      TEXT    NOT NULL,
    message       TEXT    NOT NULL,
    label         TEXT,
    body          BLOB    NOT NULL,
    reprocessed_at INTEGER
);

-- FHIR resources as received (current version).
CREATE TABLE resources (
    pk              INTEGER PRIMARY KEY,
    type            TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    last_updated    INTEGER NOT NULL,
    owner_facility  TEXT,
    client_id       INTEGER NOT NULL,
    input_id        INTEGER,
    subject_ref     TEXT,
    body            TEXT    NOT NULL,
    UNIQUE (type, id)
);

-- Earlier versions of resources.
CREATE TABLE resource_history (
    resource_pk   INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    last_updated  INTEGER NOT NULL,
    client_id     INTEGER NOT NULL,
    body          TEXT    NOT NULL,
    PRIMARY KEY (resource_pk, version)
) WITHOUT ROWID;

-- Search index: token, string and reference parameters.
CREATE TABLE search_tokens (
    type         TEXT    NOT NULL,
    param        TEXT    NOT NULL,
    value        TEXT    NOT NULL,
    system       TEXT    NOT NULL,
    resource_pk  INTEGER NOT NULL,
    PRIMARY KEY (type, param, value, system, resource_pk)
) WITHOUT ROWID;

-- Search index: date parameters as [lo, hi) epoch-millisecond ranges.
CREATE TABLE search_dates (
    type         TEXT    NOT NULL,
    param        TEXT    NOT NULL,
    lo           INTEGER NOT NULL,
    hi           INTEGER NOT NULL,
    resource_pk  INTEGER NOT NULL,
    PRIMARY KEY (type, param, lo, hi, resource_pk)
) WITHOUT ROWID;

-- People, keyed by the normalised insurance member id.
CREATE TABLE persons (
    pk          INTEGER PRIMARY KEY,
    member_key  TEXT    NOT NULL UNIQUE,
    family_key  TEXT    NOT NULL,
    insurer     TEXT    NOT NULL,
    birth_date  TEXT,
    sex         TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX persons_family ON persons (family_key);

-- Facility-local patients; linked to a person once insurance arrives.
CREATE TABLE patients (
    pk          INTEGER PRIMARY KEY,
    facility    TEXT,
    local_id    TEXT,
    fhir_id     TEXT UNIQUE,
    person_pk   INTEGER,
    birth_date  TEXT,
    sex         TEXT,
    created_at  INTEGER NOT NULL,
    UNIQUE (facility, local_id)
);
CREATE INDEX patients_person ON patients (person_pk);

-- Insurance links between local patients and persons.
CREATE TABLE coverages (
    pk                  INTEGER PRIMARY KEY,
    patient_pk          INTEGER,
    person_pk           INTEGER,
    member_key          TEXT    NOT NULL,
    active              INTEGER NOT NULL,
    source_resource_pk  INTEGER,
    input_id            INTEGER NOT NULL,
    client_id           INTEGER NOT NULL,
    received_at         INTEGER NOT NULL
);
CREATE INDEX coverages_patient ON coverages (patient_pk);
CREATE INDEX coverages_source ON coverages (source_resource_pk);

-- Medication records of every kind (prescription, dispense, claim, statement, administration).
CREATE TABLE medication_records (
    pk                    INTEGER PRIMARY KEY,
    kind                  TEXT    NOT NULL,
    patient_pk            INTEGER,
    person_pk             INTEGER,
    facility              TEXT,
    prescribing_facility  TEXT,
    prescriber            TEXT,
    drug_name             TEXT,
    codings               TEXT    NOT NULL,
    dose_value            TEXT,
    dose_unit             TEXT,
    daily_dose_value      TEXT,
    daily_dose_unit       TEXT,
    usage_code            TEXT,
    usage_text            TEXT,
    route                 TEXT,
    supply_days           INTEGER,
    start_date            TEXT,
    end_date              TEXT,
    recorded_at           TEXT,
    order_number          TEXT,
    rp_number             TEXT,
    status                TEXT,
    source_resource_pk    INTEGER,
    input_id              INTEGER NOT NULL,
    client_id             INTEGER NOT NULL,
    received_at           INTEGER NOT NULL,
    location              TEXT    NOT NULL
);
CREATE INDEX medication_records_patient ON medication_records (patient_pk);
CREATE INDEX medication_records_person ON medication_records (person_pk);
CREATE INDEX medication_records_source ON medication_records (source_resource_pk);

-- Lab and checkup results.
CREATE TABLE lab_results (
    pk                  INTEGER PRIMARY KEY,
    patient_pk          INTEGER,
    person_pk           INTEGER,
    facility            TEXT,
    jlac10              TEXT,
    checkup_item        TEXT,
    local_code          TEXT,
    local_system        TEXT,
    name                TEXT,
    codes               TEXT    NOT NULL,
    value_kind          TEXT    NOT NULL,
    value_num           TEXT,
    value_text          TEXT,
    value_code          TEXT,
    value_system        TEXT,
    comparator          TEXT,
    unit                TEXT,
    unit_code           TEXT,
    ref_low             TEXT,
    ref_high            TEXT,
    ref_text            TEXT,
    flag                TEXT,
    status              TEXT,
    effective           TEXT,
    effective_lo        INTEGER,
    performer           TEXT,
    specimen            TEXT,
    category            TEXT,
    source_resource_pk  INTEGER,
    input_id            INTEGER NOT NULL,
    client_id           INTEGER NOT NULL,
    received_at         INTEGER NOT NULL,
    location            TEXT    NOT NULL
);
CREATE INDEX lab_results_patient ON lab_results (patient_pk);
CREATE INDEX lab_results_person ON lab_results (person_pk);
CREATE INDEX lab_results_source ON lab_results (source_resource_pk);

-- Diagnoses.
CREATE TABLE conditions (
    pk                  INTEGER PRIMARY KEY,
    patient_pk          INTEGER,
    person_pk           INTEGER,
    facility            TEXT,
    codes               TEXT    NOT NULL,
    name                TEXT,
    onset               TEXT,
    recorded            TEXT,
    clinical_status     TEXT,
    suspected           INTEGER NOT NULL,
    source_resource_pk  INTEGER,
    input_id            INTEGER NOT NULL,
    client_id           INTEGER NOT NULL,
    received_at         INTEGER NOT NULL,
    location            TEXT    NOT NULL
);
CREATE INDEX conditions_patient ON conditions (patient_pk);
CREATE INDEX conditions_person ON conditions (person_pk);
CREATE INDEX conditions_source ON conditions (source_resource_pk);

-- Allergies and intolerances.
CREATE TABLE allergies (
    pk                  INTEGER PRIMARY KEY,
    patient_pk          INTEGER,
    person_pk           INTEGER,
    facility            TEXT,
    codes               TEXT    NOT NULL,
    name                TEXT,
    category            TEXT,
    criticality         TEXT,
    clinical_status     TEXT,
    recorded            TEXT,
    source_resource_pk  INTEGER,
    input_id            INTEGER NOT NULL,
    client_id           INTEGER NOT NULL,
    received_at         INTEGER NOT NULL,
    location            TEXT    NOT NULL
);
CREATE INDEX allergies_patient ON allergies (patient_pk);
CREATE INDEX allergies_person ON allergies (person_pk);
CREATE INDEX allergies_source ON allergies (source_resource_pk);

-- The audit trail: one row per access to or change of patient data, hash-chained.
CREATE TABLE audit_events (
    seq            INTEGER PRIMARY KEY,
    at             INTEGER NOT NULL,
    request_id     TEXT,
    client_id      INTEGER,
    role           TEXT,
    action         TEXT    NOT NULL,
    resource_type  TEXT,
    resource_id    TEXT,
    person_pk      INTEGER,
    patient_pk     INTEGER,
    outcome        TEXT    NOT NULL,
    detail         TEXT,
    prev_hash      BLOB    NOT NULL,
    hash           BLOB    NOT NULL
);
CREATE INDEX audit_events_person ON audit_events (person_pk);
CREATE INDEX audit_events_client ON audit_events (client_id);
