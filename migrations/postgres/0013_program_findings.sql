-- Program findings (issue 13) (postgres). Keep in step with sqlite/0013_program_findings.sql.
--
-- Findings are derived on every evaluation (`GET /insurer/findings`); this table keeps
-- which ones were seen before, so the first time a finding is seen it is told (topic
-- medication-finding) once, not on every evaluation.
CREATE TABLE findings_seen (
    person_pk   BIGINT NOT NULL,
    -- rule:subject:first day (consolidate::program, or the medication-list rule's own)
    key         TEXT   NOT NULL,
    first_seen  BIGINT NOT NULL,
    PRIMARY KEY (person_pk, key)
);
