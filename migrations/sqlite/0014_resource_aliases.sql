-- Institutions' own resource ids (sqlite). Keep in step with postgres/0014_resource_aliases.sql.
--
-- Each institution chooses its own ids (PUT Patient/1, transaction entries with
-- request.url "Patient/1"); two institutions may choose the same one. The first keeps it as
-- kakari's served id; a later institution's resource is stored under a new served id and
-- this table maps the institution's id to it, so that neither blocks the other and neither
-- learns that the other used the id. The institution reads and writes its own ids; every
-- other reader sees the served id (docs/fhir.md, "Ids are per institution").
CREATE TABLE resource_aliases (
    scope      TEXT    NOT NULL,  -- the owning institution (10-digit code)
    rtype      TEXT    NOT NULL,
    alias      TEXT    NOT NULL,  -- the id the institution uses
    served_id  TEXT    NOT NULL,  -- the id kakari stores and serves it under
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scope, rtype, alias)
);
CREATE UNIQUE INDEX resource_aliases_served ON resource_aliases (scope, rtype, served_id);
