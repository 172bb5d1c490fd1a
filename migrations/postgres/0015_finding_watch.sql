-- Persons whose records changed since their findings were last evaluated (postgres). Keep in
-- step with sqlite/0015_finding_watch.sql.
--
-- A unit of work that stores a medication record, a lab value or a diagnosis marks the
-- person (directly, or through the patient it is filed under) in the same transaction;
-- the finding watch leases marked persons, evaluates the program findings of those who are
-- registered and consent, tells each new finding once (topic finding.detected), and clears
-- the mark unless it was marked again meanwhile (service/finding_watch.rs).
CREATE TABLE finding_watch (
    person_pk   BIGINT PRIMARY KEY,
    marked_at   BIGINT NOT NULL,
    lease_until BIGINT
);
CREATE INDEX finding_watch_due ON finding_watch (marked_at);
