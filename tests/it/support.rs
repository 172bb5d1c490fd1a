//! Test support: fresh databases (a temporary SQLite file, or a PostgreSQL schema of its
//! own per test so tests run in parallel), and a running gateway.

use std::sync::atomic::{AtomicU64, Ordering};

use kakari::store::{Store, StoreOptions};

/// Where the PostgreSQL tests connect; a fresh schema is created per test.
pub fn postgres_base_url() -> String {
    std::env::var("KAKARI_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Whether an unreachable PostgreSQL fails the test (CI) or skips it loudly (laptops).
fn postgres_required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("KAKARI_REQUIRE_POSTGRES").is_some()
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        uuid_suffix()
    )
}

fn uuid_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{nanos:08x}")
}

/// A database that lives as long as the test.
pub enum TestDb {
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        schema: String,
        url: String,
    },
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("kakari.db").display());
        TestDb::Sqlite { _dir: dir, url }
    }

    /// A fresh schema, or `None` (with a message) when PostgreSQL is unreachable locally.
    pub fn postgres() -> Option<Self> {
        let base = postgres_base_url();
        let mut client = match postgres::Client::connect(&base, postgres::NoTls) {
            Ok(c) => c,
            Err(e) => {
                if postgres_required() {
                    panic!("PostgreSQL is required (CI) but unreachable at {base}: {e}");
                }
                eprintln!(
                    "SKIPPED: PostgreSQL unreachable at {base} ({e}); set KAKARI_TEST_POSTGRES_URL"
                );
                return None;
            }
        };
        let schema = unique_name("kt");
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .expect("create test schema");
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
        Some(TestDb::Postgres { schema, url })
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }

    pub fn open(&self) -> Store {
        Store::open(self.url(), &StoreOptions::default()).expect("open store")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { schema, .. } = self
            && let Ok(mut client) = postgres::Client::connect(&postgres_base_url(), postgres::NoTls)
        {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

/// Defines a test per database for a function `fn(&Store)` or `fn(&TestDb)`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn sqlite() {
                    let db = $crate::support::TestDb::sqlite();
                    super::$name(&db);
                }

                #[test]
                fn postgres() {
                    if let Some(db) = $crate::support::TestDb::postgres() {
                        super::$name(&db);
                    }
                }
            }
        )*
    };
}
