-- Satisfaction surveys (issue 13) (sqlite). Keep in step with postgres/0012_surveys.sql.
--
-- A member (through their insurer, or their person client) answers kakari's satisfaction
-- questionnaire about an institution they are or were registered with; one response per
-- member and institution (a new one replaces it). The directory shows per-item means only
-- from 10 responses on.

CREATE TABLE survey_responses (
    id INTEGER PRIMARY KEY,
    person_pk     INTEGER NOT NULL,
    organization  TEXT   NOT NULL,
    submitted_by  INTEGER NOT NULL,
    submitted_at  INTEGER NOT NULL,
    -- the QuestionnaireResponse as received
    body          TEXT   NOT NULL
);
CREATE UNIQUE INDEX survey_responses_one ON survey_responses (person_pk, organization);
CREATE INDEX survey_responses_organization ON survey_responses (organization);

CREATE TABLE survey_answers (
    response_id  INTEGER NOT NULL,
    item         TEXT   NOT NULL,
    score        INTEGER NOT NULL,
    PRIMARY KEY (response_id, item)
);
