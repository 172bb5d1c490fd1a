//! The command line: `kakari serve | demo | migrate | client … | convert … | audit verify |
//! delivery dead | delivery redeliver`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::app::AppState;
use crate::config::Config;
use crate::service::clients::{self, ClientRequest};
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "kakari",
    version,
    about = "Registered family doctor (かかりつけ医) interoperability gateway"
)]
pub struct Cli {
    /// TOML configuration file (KAKARI_* environment variables override it).
    #[arg(long, global = true, env = "KAKARI_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (HTTP; MLLP when KAKARI_MLLP_LISTEN is set).
    Serve,
    /// Start the gateway on a fresh embedded database with sample data and demo clients.
    Demo(DemoArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage API clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Convert offline between SS-MIX2, HL7 v2, UKE, 特定健診 and FHIR / CSV (no database).
    Convert(crate::convert::ConvertArgs),
    /// Inspect the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Subscription deliveries: list dead letters, queue them again.
    #[command(subcommand)]
    Delivery(DeliveryCommand),
}

#[derive(Debug, Subcommand)]
pub enum DeliveryCommand {
    /// List dead-lettered notifications (subscription, event number, attempts, last error).
    Dead {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Queue a subscription's dead-lettered notifications again (or one event, also one
    /// already delivered) and reactivate the subscription; a running gateway delivers them.
    Redeliver {
        /// The subscription id.
        #[arg(long)]
        subscription: i64,
        /// Only this event number.
        #[arg(long)]
        event: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain of the audit trail from its first row. Exit status: 0 intact,
    /// 1 broken (the first broken row is named), 2 the database cannot be opened.
    Verify,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory for the demo database (recreated on every run).
    #[arg(long, default_value = "kakari-demo")]
    pub dir: PathBuf,
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Load the data, print the clients and exit without serving.
    #[arg(long)]
    pub no_serve: bool,
}

/// `kakari client add`.
#[derive(Debug, Args)]
pub struct AddClient {
    #[arg(long)]
    pub role: String,
    #[arg(long)]
    pub name: String,
    /// 10-digit institution code (emr, pharmacy; a doctor's institution).
    #[arg(long)]
    pub facility: Option<String>,
    /// Insurer number (insurer).
    #[arg(long)]
    pub insurer: Option<String>,
    /// Practitioner id (doctor).
    #[arg(long)]
    pub practitioner: Option<String>,
    /// Member id with 枝番 (person): the person the client stands for.
    #[arg(long)]
    pub member: Option<String>,
    /// How the operator verified the person (person; e.g. in-person, mynumber-card).
    #[arg(long)]
    pub identity_evidence: Option<String>,
    /// Days until the token expires.
    #[arg(long)]
    pub expires_in_days: Option<u32>,
    /// SHA-256 fingerprint of the client's TLS certificate (hex, colons allowed): the
    /// client authenticates with it over mTLS.
    #[arg(long)]
    pub certificate_sha256: Option<String>,
    /// Largest request body this client may send, in bytes.
    #[arg(long)]
    pub max_request_bytes: Option<i64>,
    /// Requests per second this client may send (0 = unlimited).
    #[arg(long)]
    pub rate_limit_per_second: Option<i64>,
    /// Requests this client may send at once.
    #[arg(long)]
    pub rate_burst: Option<i64>,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create a client and print its token (shown only once).
    Add(Box<AddClient>),
    /// List clients.
    List,
    /// Revoke a client's token.
    Revoke { id: i64 },
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("kakari: {message}");
    ExitCode::FAILURE
}

fn open_store(config: &Config) -> Result<Store, crate::store::StoreError> {
    Store::open(&config.database_url, &config.store_options())
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    // Offline conversion needs no configuration, database or logging set-up.
    if let Command::Convert(args) = &cli.command {
        return crate::convert::run(args);
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    crate::telemetry::init_logging(config.log_format, &config.log_level);
    match cli.command {
        Command::Serve => {
            let state = match AppState::open(config) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            match actix_web::rt::System::new().block_on(crate::server::serve(state)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
        Command::Demo(args) => crate::demo::run(config, &args),
        Command::Migrate => match open_store(&config) {
            Ok(store) => {
                let report = store.migrations();
                for (v, name) in &report.applied {
                    println!("applied {v:04}_{name}");
                }
                println!(
                    "schema up to date ({} applied now, {} before)",
                    report.applied.len(),
                    report.already_applied.len()
                );
                store.shutdown();
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        Command::Client(command) => actix_web::rt::System::new().block_on(client(config, command)),
        Command::Convert(args) => crate::convert::run(&args),
        Command::Audit(AuditCommand::Verify) => verify_audit(&config),
        Command::Delivery(command) => delivery(&config, command),
    }
}

/// `kakari delivery …`.
fn delivery(config: &Config, command: DeliveryCommand) -> ExitCode {
    let store = match open_store(config) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let code = match command {
        DeliveryCommand::Dead { limit } => {
            match store.read_blocking(move |tx| tx.dead_deliveries(limit.clamp(1, 100_000))) {
                Ok(rows) => {
                    println!("subscription\tevent\tattempts\tlast error");
                    for d in &rows {
                        println!(
                            "{}\t{}\t{}\t{}",
                            d.subscription_id,
                            d.event_number,
                            d.attempts,
                            d.last_error.as_deref().unwrap_or("")
                        );
                    }
                    println!("{} dead-lettered", rows.len());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        DeliveryCommand::Redeliver {
            subscription,
            event,
        } => {
            let result = store.write_blocking(move |tx| {
                let row = tx.subscription(subscription)?.ok_or_else(|| {
                    crate::error::Problem::new(
                        crate::error::ErrorCode::ResourceNotFound,
                        "--subscription",
                        "no such subscription",
                    )
                })?;
                let n = crate::service::subscriptions::redeliver_in(tx, &row, event)?;
                let mut audit = crate::store::audit::AuditEntry {
                    action: "subscription.redeliver".into(),
                    outcome: "success".into(),
                    role: Some("operator".into()),
                    ..crate::store::audit::AuditEntry::default()
                };
                audit.resource_type = Some("Subscription".into());
                audit.resource_id = Some(row.id.to_string());
                audit.detail = Some(format!("queued={n} by=cli"));
                tx.append_audit(&[audit])?;
                Ok::<_, crate::error::Problem>(n)
            });
            match result {
                Ok(n) => {
                    println!("{n} notification(s) queued again for subscription {subscription}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
    };
    store.shutdown();
    code
}

/// Exit status of `kakari audit verify` when the chain is broken.
const EXIT_BROKEN: u8 = 1;
/// Exit status of `kakari audit verify` when the database cannot be opened or read.
const EXIT_UNREADABLE: u8 = 2;

/// `kakari audit verify`.
fn verify_audit(config: &Config) -> ExitCode {
    let unreadable = |message: &dyn std::fmt::Display| {
        eprintln!("kakari: cannot verify the audit trail: {message}");
        ExitCode::from(EXIT_UNREADABLE)
    };
    // Opening a missing SQLite file would create an empty database that verifies.
    if let Some(path) = config.database_url.strip_prefix("sqlite://")
        && !std::path::Path::new(path).is_file()
    {
        return unreadable(&format!("no database file at {path}"));
    }
    let store = match open_store(config) {
        Ok(s) => s,
        Err(e) => return unreadable(&e),
    };
    let result = store.read_blocking(|tx| tx.verify_audit());
    store.shutdown();
    match result {
        Ok(Ok(rows)) => {
            println!("audit trail intact: {rows} rows verified");
            ExitCode::SUCCESS
        }
        Ok(Err(broken)) => {
            println!(
                "audit trail broken at seq {}: {broken}; rows before it verified",
                broken.seq()
            );
            ExitCode::from(EXIT_BROKEN)
        }
        Err(e) => unreadable(&e),
    }
}

async fn client(config: Config, command: ClientCommand) -> ExitCode {
    let store = match open_store(&config) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let code = match command {
        ClientCommand::Add(add) => {
            let AddClient {
                role,
                name,
                facility,
                insurer,
                practitioner,
                member,
                identity_evidence,
                expires_in_days,
                certificate_sha256,
                max_request_bytes,
                rate_limit_per_second,
                rate_burst,
            } = *add;
            let request = ClientRequest {
                name,
                role,
                facility,
                insurer,
                practitioner,
                member,
                identity_evidence,
                expires_at: expires_in_days
                    .map(|d| crate::domain::datetime::now_millis() + i64::from(d) * 86_400_000),
                certificate_sha256,
                max_request_bytes,
                rate_limit_per_second,
                rate_burst,
            };
            match clients::create_in(&store, &request, None).await {
                Ok(created) => {
                    println!("client {} created; token (shown only once):", created.id);
                    println!("{}", created.token);
                    ExitCode::SUCCESS
                }
                Err(p) => fail(p),
            }
        }
        ClientCommand::List => match store.read(|tx| tx.list_clients()).await {
            Ok(rows) => {
                println!(
                    "{:>5}  {:<9} {:<12} {:<10} {:<14} {:<8} name",
                    "id", "role", "facility", "insurer", "practitioner", "status"
                );
                for r in rows {
                    println!(
                        "{:>5}  {:<9} {:<12} {:<10} {:<14} {:<8} {}",
                        r.id,
                        r.role,
                        r.facility.unwrap_or_default(),
                        r.insurer.unwrap_or_default(),
                        r.practitioner.unwrap_or_default(),
                        if r.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "active"
                        },
                        r.name
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        ClientCommand::Revoke { id } => match store.write(move |tx| tx.revoke_client(id)).await {
            Ok(true) => {
                println!("client {id} revoked");
                ExitCode::SUCCESS
            }
            Ok(false) => fail(format!("no active client {id}")),
            Err(e) => fail(e),
        },
    };
    store.shutdown();
    code
}
