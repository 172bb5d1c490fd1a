//! Schema migrations, embedded in the binary. Both databases use the same numbering
//! (`migrations/sqlite/NNNN_name.sql`, `migrations/postgres/NNNN_name.sql`); each applied
//! migration is recorded in `schema_migrations` with the time it was applied.

use super::StoreError;
use super::sql::{Conn, PgConn};

/// (version, name, SQL) for each dialect, in order.
const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "core",
        include_str!("../../migrations/sqlite/0001_core.sql"),
    ),
    (
        2,
        "registration_feed",
        include_str!("../../migrations/sqlite/0002_registration_feed.sql"),
    ),
    (
        3,
        "messages",
        include_str!("../../migrations/sqlite/0003_messages.sql"),
    ),
    (
        4,
        "feed_insurer",
        include_str!("../../migrations/sqlite/0004_feed_insurer.sql"),
    ),
    (
        5,
        "client_limits",
        include_str!("../../migrations/sqlite/0005_client_limits.sql"),
    ),
    (
        6,
        "key_digest",
        include_str!("../../migrations/sqlite/0006_key_digest.sql"),
    ),
    (
        7,
        "readiness_probe",
        include_str!("../../migrations/sqlite/0007_readiness_probe.sql"),
    ),
    (
        8,
        "person_decides",
        include_str!("../../migrations/sqlite/0008_person_decides.sql"),
    ),
    (
        9,
        "records_as_fhir",
        include_str!("../../migrations/sqlite/0009_records_as_fhir.sql"),
    ),
    (
        10,
        "collaboration",
        include_str!("../../migrations/sqlite/0010_collaboration.sql"),
    ),
    (
        11,
        "matching",
        include_str!("../../migrations/sqlite/0011_matching.sql"),
    ),
    (
        12,
        "surveys",
        include_str!("../../migrations/sqlite/0012_surveys.sql"),
    ),
    (
        13,
        "program_findings",
        include_str!("../../migrations/sqlite/0013_program_findings.sql"),
    ),
    (
        14,
        "resource_aliases",
        include_str!("../../migrations/sqlite/0014_resource_aliases.sql"),
    ),
    (
        15,
        "finding_watch",
        include_str!("../../migrations/sqlite/0015_finding_watch.sql"),
    ),
];

const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "core",
        include_str!("../../migrations/postgres/0001_core.sql"),
    ),
    (
        2,
        "registration_feed",
        include_str!("../../migrations/postgres/0002_registration_feed.sql"),
    ),
    (
        3,
        "messages",
        include_str!("../../migrations/postgres/0003_messages.sql"),
    ),
    (
        4,
        "feed_insurer",
        include_str!("../../migrations/postgres/0004_feed_insurer.sql"),
    ),
    (
        5,
        "client_limits",
        include_str!("../../migrations/postgres/0005_client_limits.sql"),
    ),
    (
        6,
        "key_digest",
        include_str!("../../migrations/postgres/0006_key_digest.sql"),
    ),
    (
        7,
        "readiness_probe",
        include_str!("../../migrations/postgres/0007_readiness_probe.sql"),
    ),
    (
        8,
        "person_decides",
        include_str!("../../migrations/postgres/0008_person_decides.sql"),
    ),
    (
        9,
        "records_as_fhir",
        include_str!("../../migrations/postgres/0009_records_as_fhir.sql"),
    ),
    (
        10,
        "collaboration",
        include_str!("../../migrations/postgres/0010_collaboration.sql"),
    ),
    (
        11,
        "matching",
        include_str!("../../migrations/postgres/0011_matching.sql"),
    ),
    (
        12,
        "surveys",
        include_str!("../../migrations/postgres/0012_surveys.sql"),
    ),
    (
        13,
        "program_findings",
        include_str!("../../migrations/postgres/0013_program_findings.sql"),
    ),
    (
        14,
        "resource_aliases",
        include_str!("../../migrations/postgres/0014_resource_aliases.sql"),
    ),
    (
        15,
        "finding_watch",
        include_str!("../../migrations/postgres/0015_finding_watch.sql"),
    ),
];

/// Which migrations an open applied, and which were already there.
#[derive(Debug, Clone, Default)]
pub struct MigrationReport {
    pub applied: Vec<(i64, String)>,
    pub already_applied: Vec<(i64, String)>,
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

fn applied_versions(conn: &mut Conn<'_>) -> Result<Vec<i64>, StoreError> {
    conn.query(
        "SELECT version FROM schema_migrations ORDER BY version",
        &[],
        |r| r.i64(0),
    )
}

fn run(
    conn: &mut Conn<'_>,
    list: &[(i64, &str, &str)],
    report: &mut MigrationReport,
    now: i64,
) -> Result<(), StoreError> {
    let done = applied_versions(conn)?;
    if let Some(&newest) = done.last()
        && newest > list.last().map_or(0, |m| m.0)
    {
        return Err(StoreError::Migration(format!(
            "database schema version {newest} is newer than this kakari knows; upgrade kakari"
        )));
    }
    for &(version, name, sql) in list {
        if done.contains(&version) {
            report.already_applied.push((version, name.to_owned()));
            continue;
        }
        conn.batch(sql)
            .map_err(|e| StoreError::Migration(format!("{version:04}_{name}: {e}")))?;
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            crate::args![version, name, now],
        )?;
        report.applied.push((version, name.to_owned()));
    }
    Ok(())
}

pub fn apply_sqlite(conn: &mut rusqlite::Connection) -> Result<MigrationReport, StoreError> {
    conn.execute_batch(CREATE_TABLE)?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut report = MigrationReport::default();
    {
        let mut c = Conn::Sqlite(&tx);
        run(
            &mut c,
            SQLITE,
            &mut report,
            crate::domain::datetime::now_millis(),
        )?;
    }
    tx.commit()?;
    Ok(report)
}

/// Advisory lock id serialising migrations of concurrently starting instances.
const MIGRATION_LOCK: i64 = 0x6b61_6b61_7269_0001;

pub fn apply_postgres(conn: &mut PgConn) -> Result<MigrationReport, StoreError> {
    let (client, statements) = conn.parts()?;
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let result = (|| {
        client.batch_execute(CREATE_TABLE)?;
        let tx = client.transaction()?;
        let mut c = Conn::Pg {
            tx,
            statements: &mut *statements,
        };
        let mut report = MigrationReport::default();
        run(
            &mut c,
            POSTGRES,
            &mut report,
            crate::domain::datetime::now_millis(),
        )?;
        if let Conn::Pg { tx, .. } = c {
            tx.commit()?;
        }
        Ok(report)
    })();
    statements.clear();
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_dialects_have_the_same_numbering() {
        let s: Vec<_> = SQLITE.iter().map(|m| (m.0, m.1)).collect();
        let p: Vec<_> = POSTGRES.iter().map(|m| (m.0, m.1)).collect();
        assert_eq!(s, p);
        assert!(s.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
