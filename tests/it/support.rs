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
    /// (The `postgres` client runs its own runtime: this works from async tests too.)
    pub fn postgres() -> Option<Self> {
        std::thread::spawn(Self::postgres_here)
            .join()
            .expect("postgres setup thread")
    }

    fn postgres_here() -> Option<Self> {
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
        if let TestDb::Postgres { schema, .. } = self {
            let schema = schema.clone();
            let _ = std::thread::spawn(move || {
                if let Ok(mut client) =
                    postgres::Client::connect(&postgres_base_url(), postgres::NoTls)
                {
                    let _ =
                        client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
                }
            })
            .join();
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

/// Defines an async test per database for `async fn(TestDb)`.
#[macro_export]
macro_rules! on_both_databases_async {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[actix_web::test]
                async fn sqlite() {
                    super::$name($crate::support::TestDb::sqlite()).await;
                }

                #[actix_web::test]
                async fn postgres() {
                    if let Some(db) = $crate::support::TestDb::postgres() {
                        super::$name(db).await;
                    }
                }
            }
        )*
    };
}

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// A running gateway on a random port, with its database.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub state: std::sync::Arc<kakari::app::AppState>,
    handle: actix_web::dev::ServerHandle,
    /// The delivery worker (subscriptions), as `kakari serve` runs it.
    worker: Option<tokio::task::JoinHandle<()>>,
    _db: TestDb,
}

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl TestApp {
    pub async fn spawn(db: TestDb) -> Self {
        Self::spawn_with(db, |_| {}).await
    }

    pub async fn spawn_with(db: TestDb, tweak: impl FnOnce(&mut kakari::config::Config)) -> Self {
        install_crypto();
        let mut config = kakari::config::Config {
            database_url: db.url().to_owned(),
            admin_token: Some(ADMIN_TOKEN.to_owned()),
            listen: "127.0.0.1:0".into(),
            workers: 2,
            log_level: "warn".into(),
            ..kakari::config::Config::default()
        };
        tweak(&mut config);
        let scheme = if config.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        let state = kakari::app::AppState::open(config).expect("open app state");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let server = kakari::server::start(state.clone(), listener).expect("start server");
        let handle = server.handle();
        actix_web::rt::spawn(server);
        let worker = state
            .config
            .delivery_enabled
            .then(|| kakari::delivery::worker::spawn(state.clone()).expect("delivery worker"));
        Self {
            worker,
            base: format!("{scheme}://127.0.0.1:{port}"),
            // Idle connections are dropped well before the server's keep-alive (5 s)
            // closes them: reusing one the server is closing fails the request
            // (`IncompleteMessage`), which a loaded machine makes likely.
            http: reqwest::Client::builder()
                .pool_idle_timeout(std::time::Duration::from_secs(2))
                .build()
                .expect("test HTTP client"),
            state,
            handle,
            _db: db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The database the gateway runs on.
    pub fn db(&self) -> &TestDb {
        &self._db
    }

    /// Creates a client through the admin API; returns its token.
    pub async fn client(
        &self,
        role: &str,
        facility: Option<&str>,
        insurer: Option<&str>,
        practitioner: Option<&str>,
    ) -> String {
        let body = serde_json::json!({
            "name": format!("test {role}"), "role": role,
            "facility": facility, "insurer": insurer, "practitioner": practitioner
        });
        let resp = self
            .http
            .post(self.url("/admin/clients"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "client creation failed");
        let created: serde_json::Value = resp.json().await.unwrap();
        created["token"].as_str().unwrap().to_owned()
    }

    /// Posts a body; returns the status and the body of the answer.
    pub async fn post_bytes(
        &self,
        token: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, Vec<u8>) {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.bytes().await.unwrap().to_vec())
    }

    pub async fn emr(&self, facility: &str) -> String {
        self.client("emr", Some(facility), None, None).await
    }

    pub async fn post_fhir(
        &self,
        token: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .header("Content-Type", "application/fhir+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    pub async fn put_fhir(
        &self,
        token: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.http
            .put(self.url(path))
            .bearer_auth(token)
            .header("Content-Type", "application/fhir+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        let resp = self.get(token, path).await;
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(serde_json::Value::Null);
        (status, body)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            worker.abort();
        }
        let handle = self.handle.clone();
        actix_web::rt::spawn(async move { handle.stop(false).await });
        self.state.store.shutdown();
    }
}

/// The code of the first issue of an OperationOutcome.
pub fn outcome_code(outcome: &serde_json::Value) -> String {
    outcome["issue"][0]["details"]["coding"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The error code of a refusal, in either body shape (problem JSON `code`, or the first
/// issue of an OperationOutcome).
pub fn error_code(body: &serde_json::Value) -> String {
    body["code"]
        .as_str()
        .or_else(|| body["issue"][0]["details"]["coding"][0]["code"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Everything logged by the test process (all tests share one subscriber), for checks that
/// no patient value reaches a log line.
pub fn captured_logs() -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    use std::sync::{Arc, Mutex, OnceLock};
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER
        .get_or_init(|| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let sink = buffer.clone();
            let _ = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_writer(move || LogSink(sink.clone()))
                .try_init();
            buffer
        })
        .clone()
}

struct LogSink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl TestApp {
    /// Starts an MLLP listener processing messages as a new emr client of `facility`.
    pub async fn start_mllp(&self, facility: &str) -> std::net::SocketAddr {
        self.start_mllp_with(facility, |_| {}).await
    }

    /// `start_mllp` with settings changed by `tweak`.
    pub async fn start_mllp_with(
        &self,
        facility: &str,
        tweak: impl FnOnce(&mut kakari::mllp::MllpSettings),
    ) -> std::net::SocketAddr {
        let token = self.emr(facility).await;
        let id: i64 = token.split('_').nth(1).unwrap().parse().unwrap();
        let row = self
            .state
            .store
            .read(move |tx| tx.client_by_id(id))
            .await
            .unwrap()
            .unwrap();
        let caller = kakari::auth::Caller::from_row(&row).unwrap();
        let mut settings = kakari::mllp::MllpSettings {
            max_frame_bytes: 64 * 1024,
            idle_timeout: std::time::Duration::from_secs(5),
            max_connections: 64,
            ..kakari::mllp::MllpSettings::default()
        };
        tweak(&mut settings);
        let sender = kakari::mllp::MllpSender::Configured(Box::new(caller));
        kakari::mllp::start(self.state.clone(), sender, "127.0.0.1:0", settings)
            .await
            .unwrap()
    }
}

/// The decoded text of an HL7 acknowledgement (ISO-2022-JP, UTF-8 or Shift_JIS).
pub fn ack_text(bytes: &[u8]) -> String {
    if bytes.contains(&0x1b) {
        encoding_rs::ISO_2022_JP.decode(bytes).0.into_owned()
    } else if std::str::from_utf8(bytes).is_ok() {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        encoding_rs::SHIFT_JIS.decode(bytes).0.into_owned()
    }
}

/// Every file below `root` (in subfolders too), in name order.
pub fn files_below(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut paths = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                paths.push(path);
            }
        }
    }
    paths.sort();
    paths
}

/// Every file below `root` into a zip, in name order, named `<prefix>/<relative path>`
/// (just the relative path when `prefix` is empty).
pub fn zip_tree(root: &std::path::Path, prefix: &str) -> Vec<u8> {
    use std::io::Write;
    let paths = files_below(root);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for path in paths {
        let relative = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let name = if prefix.is_empty() {
            relative
        } else {
            format!("{prefix}/{relative}")
        };
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&std::fs::read(&path).unwrap()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// A zip bomb: one entry of 16 MiB of zeros, compressed far beyond any allowed ratio.
pub fn zip_bomb() -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(
        "000/000/bomb",
        zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated),
    )
    .unwrap();
    zip.write_all(&vec![0u8; 16 * 1024 * 1024]).unwrap();
    zip.finish().unwrap().into_inner()
}

/// A tar.gz of entries written as given (names unchecked, links to /etc/passwd), for
/// archives a careful writer would never make.
pub fn tar_gz(entries: &[(&str, &[u8], tar::EntryType)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    for (name, data, kind) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(*kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        if *kind == tar::EntryType::Symlink {
            header.set_link_name("/etc/passwd").unwrap();
        }
        let bytes = header.as_mut_bytes();
        let name_bytes = name.as_bytes();
        bytes[..name_bytes.len()].copy_from_slice(name_bytes);
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}
