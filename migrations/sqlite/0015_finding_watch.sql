-- Persons whose records changed since their findings were last evaluated (sqlite). Keep in
-- step with postgres/0015_finding_watch.sql.
--
-- A unit of work that stores a medication record, a lab value or a diagnosis marks the
-- person (directly, or through the patient it is filed under) in the same transaction;
-- the finding watch leases marked persons, evaluates the program findings of those who are
-- registered and consent, tells each new finding once (topic finding.detected), and clears
-- the mark unless it was marked again meanwhile (service/finding_watch.rs).
CREATE TABLE finding_watch (
    person_pk   INTEGER PRIMARY KEY,
    marked_at   INTEGER NOT NULL,
    lease_until INTEGER
);
CREATE INDEX finding_watch_due ON finding_watch (marked_at);
