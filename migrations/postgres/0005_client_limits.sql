-- Client certificates and per-client limits (PostgreSQL). Keep in step with
-- sqlite/0005_client_limits.sql.
--
-- certificate_sha256: lower-case hex SHA-256 of the client's DER certificate (mTLS); one
-- active client per certificate. The limits override the server defaults when set.
ALTER TABLE clients ADD COLUMN certificate_sha256 TEXT;
ALTER TABLE clients ADD COLUMN max_request_bytes BIGINT;
ALTER TABLE clients ADD COLUMN rate_limit_per_second BIGINT;
ALTER TABLE clients ADD COLUMN rate_burst BIGINT;
CREATE UNIQUE INDEX clients_certificate ON clients (certificate_sha256)
    WHERE certificate_sha256 IS NOT NULL AND revoked_at IS NULL;
-- The audit trail is listed by time and by seq; seq is the primary key.
CREATE INDEX audit_events_at ON audit_events (at);
