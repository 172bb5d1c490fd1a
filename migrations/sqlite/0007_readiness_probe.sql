-- The readiness probe's row per gateway instance (sqlite). Keep in step with
-- postgres/0007_readiness_probe.sql.
--
-- /readyz commits an update of its instance's row: a gateway that can read but not store
-- (disk full, read-only database) reports not ready, so load balancers stop sending.
CREATE TABLE readiness_probe (
    instance  TEXT    PRIMARY KEY,
    probed_at INTEGER  NOT NULL
);
