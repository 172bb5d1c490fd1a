-- Push-type matching (issue 13) (sqlite). Keep in step with postgres/0011_matching.sql.
--
-- An insurer posts a member's need (region, condition categories, wanted functions);
-- certified institutions of the region see it without the member's identity and raise
-- their hands; the member accepts one, which makes the registration with that institution
-- take effect (the person's confirmation).

CREATE TABLE needs (
    id INTEGER PRIMARY KEY,
    person_pk      INTEGER NOT NULL,
    member_key     TEXT   NOT NULL,
    insurer        TEXT   NOT NULL,
    created_by     INTEGER NOT NULL,
    -- prefecture code 01-47, optional city
    prefecture     TEXT   NOT NULL,
    city           TEXT,
    -- comma-wrapped code lists (",diabetes,ckd,")
    conditions     TEXT   NOT NULL,
    functions      TEXT   NOT NULL,
    -- open | accepted | withdrawn
    status         TEXT   NOT NULL,
    accepted_hand  INTEGER,
    registration_id INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX needs_region ON needs (prefecture, status, id);
CREATE INDEX needs_insurer ON needs (insurer, id);
CREATE INDEX needs_person ON needs (person_pk, id);

CREATE TABLE need_hands (
    id INTEGER PRIMARY KEY,
    need_id        INTEGER NOT NULL,
    organization   TEXT   NOT NULL,
    practitioner   TEXT   NOT NULL,
    message        TEXT,
    created_by     INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
);
-- One hand per institution and need (raising it again replaces the practitioner/message).
CREATE UNIQUE INDEX need_hands_one ON need_hands (need_id, organization);
