-- HL7 v2 messages and SS-MIX2 files as received (SQLite). Keep in step with
-- postgres/0003_messages.sql. Every message is kept, mapped or not; its canonical records
-- carry its input id.
CREATE TABLE messages (
    pk               INTEGER PRIMARY KEY,
    input_id         INTEGER NOT NULL,
    client_id        INTEGER NOT NULL,
    scope            TEXT    NOT NULL,
    control_id       TEXT,
    sending_app      TEXT,
    sending_facility TEXT,
    message_type     TEXT,
    storage_name     TEXT,
    data_type        TEXT,
    patient_pk       INTEGER,
    status           TEXT    NOT NULL,
    received_at      INTEGER NOT NULL,
    superseded_at    INTEGER,
    raw              BLOB    NOT NULL
);
CREATE INDEX messages_storage ON messages (scope, storage_name);
CREATE INDEX messages_patient ON messages (patient_pk);
