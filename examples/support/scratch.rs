//! What the load examples share: a scratch database (a temporary SQLite file, or a fresh
//! PostgreSQL schema dropped afterwards), a `kakari serve` child process on it, clients
//! created through the CLI, and the measurements (percentiles, peak RSS).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database that exists for one run.
pub struct ScratchDb {
    /// `sqlite://…` or `postgres://…?options=-c search_path=…`.
    pub url: String,
    pub kind: String,
    pg_url: String,
    schema: Option<String>,
    dir: Option<tempfile::TempDir>,
    /// Leave the database behind for inspection.
    pub keep: bool,
}

impl ScratchDb {
    /// `kind` is `sqlite` or `postgres`; `name` prefixes the PostgreSQL schema.
    pub fn create(kind: &str, pg_url: &str, name: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, schema) = match kind {
            "sqlite" => (
                format!(
                    "sqlite://{}",
                    dir.path().join(format!("{name}.db")).display()
                ),
                None,
            ),
            "postgres" => {
                let schema = format!("{name}_{}", std::process::id());
                let mut client = postgres::Client::connect(pg_url, postgres::NoTls)
                    .expect("connect to PostgreSQL");
                client
                    .batch_execute(&format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
                    ))
                    .expect("create schema");
                let sep = if pg_url.contains('?') { '&' } else { '?' };
                (
                    format!("{pg_url}{sep}options=-c%20search_path%3D{schema}"),
                    Some(schema),
                )
            }
            other => panic!("--db must be sqlite or postgres, not {other}"),
        };
        Self {
            url,
            kind: kind.to_owned(),
            pg_url: pg_url.to_owned(),
            schema,
            dir: Some(dir),
            keep: false,
        }
    }

    /// The PostgreSQL schema, when on PostgreSQL.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// A direct PostgreSQL connection on the scratch schema.
    pub fn postgres(&self) -> postgres::Client {
        let mut client = postgres::Client::connect(&self.pg_url, postgres::NoTls)
            .expect("connect to PostgreSQL");
        if let Some(schema) = &self.schema {
            client
                .batch_execute(&format!("SET search_path TO {schema}"))
                .expect("search_path");
        }
        client
    }

    /// The SQLite file, when on SQLite.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.url.strip_prefix("sqlite://").map(PathBuf::from)
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if self.keep {
            if let Some(dir) = self.dir.take() {
                let _ = dir.keep();
            }
            eprintln!("kept {}", self.url);
            return;
        }
        if let Some(schema) = &self.schema
            && let Ok(mut client) = postgres::Client::connect(&self.pg_url, postgres::NoTls)
        {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

/// A count on the command line; `10_000_000` reads as 10000000.
pub fn count(text: &str) -> Result<i64, String> {
    text.replace('_', "")
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| format!("{text} is not a count"))
}

/// [`count`] as a `usize`.
pub fn count_usize(text: &str) -> Result<usize, String> {
    count(text).map(|n| n as usize)
}

/// The release binary next to this package (or `--binary PATH`).
pub fn default_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/kakari")
}

fn kakari(binary: &Path, db: &ScratchDb) -> Command {
    assert!(
        binary.exists(),
        "{} not found: cargo build --release first (or --binary PATH)",
        binary.display()
    );
    let mut cmd = Command::new(binary);
    cmd.env("KAKARI_DATABASE_URL", &db.url)
        .env("KAKARI_LOG_LEVEL", "warn");
    cmd
}

/// Applies the migrations (`kakari migrate`).
pub fn migrate(binary: &Path, db: &ScratchDb) {
    let out = kakari(binary, db)
        .arg("migrate")
        .output()
        .expect("run kakari migrate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Creates a client with `kakari client add`; returns its id and token.
pub fn add_client(binary: &Path, db: &ScratchDb, args: &[&str]) -> (i64, String) {
    let out = kakari(binary, db)
        .args(["client", "add"])
        .args(args)
        .output()
        .expect("run kakari client add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let id = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("client id");
    let token = text.lines().nth(1).expect("token line").trim().to_owned();
    (id, token)
}

/// A `kakari serve` child process, killed on drop.
pub struct Server {
    pub child: Child,
    pub http: String,
    pub mllp: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

/// Starts `kakari serve` (HTTP, and MLLP as client `mllp_client` when given) and waits
/// until it listens.
pub fn serve(binary: &Path, db: &ScratchDb, mllp_client: Option<i64>) -> Server {
    let http = format!("127.0.0.1:{}", free_port());
    let mllp = format!("127.0.0.1:{}", free_port());
    let mut cmd = kakari(binary, db);
    cmd.arg("serve")
        .env("KAKARI_LISTEN", &http)
        .stdout(Stdio::null());
    if let Some(id) = mllp_client {
        cmd.env("KAKARI_MLLP_LISTEN", &mllp)
            .env("KAKARI_MLLP_CLIENT_ID", id.to_string());
    }
    let child = cmd.spawn().expect("start kakari serve");
    for _ in 0..400 {
        let up = std::net::TcpStream::connect(&http).is_ok()
            && (mllp_client.is_none() || std::net::TcpStream::connect(&mllp).is_ok());
        if up {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, http, mllp }
}

/// The peak resident set of a process (VmHWM), MiB.
pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// The `p`-th percentile (0–100) of sorted durations, in milliseconds.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1e3
}
