//! Configuration: defaults, then a TOML file (`--config`), then `KAKARI_*` environment
//! variables (highest precedence). Every key has the same name in the file (lower case)
//! and in the environment (`KAKARI_` + upper case): `listen` / `KAKARI_LISTEN`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::consolidate::ListSettings;
use crate::domain::registration::{Confirmation, FirstRegistration, RegistrationPolicy};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

/// Whether TLS clients must present a certificate (when `tls_client_ca` is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// A certificate is verified and used when presented; bearer tokens work without one.
    Optional,
    /// The handshake fails without a certificate signed by the client CA.
    Required,
}

/// What, besides the person's confirmation, activates a registration that replaces
/// another institution's (`domain::registration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationConfirmation {
    /// The person's confirmation, or evidence of the person's signed request recorded by
    /// the registering institution.
    PersonOrEvidence,
    /// Only the person's confirmation.
    Person,
}

/// Whether an institution's first registration of a person takes effect at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationFirst {
    Immediate,
    Pending,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// HTTP listen address.
    pub listen: String,
    /// `sqlite://<path>` (default) or `postgres://…`.
    pub database_url: String,
    /// Bootstrap administrator token (creates the first clients).
    pub admin_token: Option<String>,
    /// MLLP listen address; MLLP is off when unset.
    pub mllp_listen: Option<String>,
    /// PEM certificate chain and private key; HTTPS when both are set.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// PEM bundle of the CAs that sign client certificates; enables mTLS.
    pub tls_client_ca: Option<PathBuf>,
    /// `optional` (default) or `required`.
    pub tls_client_auth: ClientAuth,
    /// Requests per second a client may send (token bucket refill); 0 = no limit.
    /// A client's own `rate_limit_per_second` overrides it.
    pub rate_limit_per_second: u32,
    /// Requests a client may send at once (bucket size); 0 = the per-second rate.
    pub rate_burst: u32,
    /// Directory with operator-supplied code masters.
    pub masters_dir: Option<PathBuf>,
    pub log_format: LogFormat,
    /// `tracing` filter, e.g. `info` or `kakari=debug,actix_web=info`.
    pub log_level: String,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// HTTP worker threads (0 = one per CPU).
    pub workers: usize,
    /// Database connections (PostgreSQL pool / SQLite readers).
    pub db_pool_size: u32,
    /// Seconds in-flight requests get to finish on shutdown.
    pub shutdown_timeout_secs: u64,
    /// Base URL clients reach kakari at (for FHIR links); derived from the request when unset.
    pub public_base_url: Option<String>,
    /// The 10-digit institution code kakari sends exports (特定健診 archives) under.
    pub institution_code: String,
    /// The client (emr or pharmacy) MLLP messages are processed as.
    pub mllp_client_id: Option<i64>,
    pub mllp_max_frame_bytes: usize,
    pub mllp_idle_timeout_secs: u64,
    pub mllp_max_connections: usize,
    /// Largest SS-MIX2 archive accepted (spooled to disk, not held in memory).
    pub max_archive_bytes: u64,
    /// `person_or_evidence` (default) or `person`.
    pub registration_confirmation: RegistrationConfirmation,
    /// `immediate` (default) or `pending`.
    pub registration_first: RegistrationFirst,
    /// Days a pending registration waits for the person before it lapses.
    pub registration_pending_days: u32,
    /// Run the delivery worker (subscription notifications) in this instance.
    pub delivery_enabled: bool,
    /// Also deliver over plain http and to loopback addresses (tests, local development;
    /// `KAKARI_DELIVERY_ALLOW_LOOPBACK=1`). Private and link-local stay refused.
    #[serde(deserialize_with = "flag")]
    pub delivery_allow_loopback: bool,
    /// Attempts per notification before it is dead-lettered and the subscription is set
    /// to `error`.
    pub delivery_max_attempts: u32,
    /// Wait after the first failed attempt; doubled per further attempt up to the cap.
    pub delivery_backoff_millis: u64,
    pub delivery_backoff_cap_millis: u64,
    /// Time a receiver has to answer one notification.
    pub delivery_timeout_millis: u64,
    /// How often an idle worker looks for due notifications.
    pub delivery_poll_millis: u64,
    /// How often the finding watch looks for persons whose records changed (0: not in
    /// this instance).
    pub finding_watch_millis: u64,
    /// How long a person's records must have been quiet before the watch evaluates them
    /// (a burst of records is evaluated once).
    pub finding_watch_settle_millis: u64,
    /// Seconds one database read may run before the database stops it (0 = no limit).
    pub db_read_timeout_secs: u64,
    /// Longest request target (path and query) accepted, in bytes.
    pub max_uri_bytes: usize,
    /// Seconds a body read into memory (JSON, HL7 v2, claims, checkups) may take in all.
    pub body_timeout_secs: u64,
    /// Seconds a spooled archive upload (`POST /ssmix2`) may take in all.
    pub archive_body_timeout_secs: u64,
    /// Slowest average body rate accepted after the first 10 seconds (0 = no minimum).
    pub body_min_bytes_per_sec: u64,
    /// Seconds a client has to send a request's head (line and headers).
    pub request_head_timeout_secs: u64,
    /// Seconds an idle keep-alive connection stays open.
    pub keep_alive_secs: u64,
    /// Most bytes of unfinished MLLP frames held over all connections together.
    pub mllp_max_buffered_bytes: usize,
    /// The MLLP listener's certificate and key (PEM): MLLP over TLS when set.
    pub mllp_tls_cert: Option<PathBuf>,
    pub mllp_tls_key: Option<PathBuf>,
    /// CAs that sign MLLP senders' client certificates: every MLLP connection must present
    /// one, and its fingerprint names the client (as for HTTPS). Without `mllp_tls_cert`,
    /// the HTTPS certificate (`tls_cert`, `tls_key`) is used.
    pub mllp_tls_client_ca: Option<PathBuf>,
    /// The medication list's window and tolerances (`[medication_list]` in the file;
    /// `KAKARI_MEDICATION_LIST__LOOK_BACK_DAYS=60` in the environment).
    pub medication_list: ListSettings,
}

/// A boolean that also reads `1`/`0` (as environment variables are usually written).
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Int(i64),
        Text(String),
    }
    match Flag::deserialize(d)? {
        Flag::Bool(b) => Ok(b),
        Flag::Int(i) => Ok(i != 0),
        Flag::Text(t) => match t.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" | "" => Ok(false),
            _ => Err(serde::de::Error::custom("expected 1, 0, true or false")),
        },
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://kakari.db".into(),
            admin_token: None,
            mllp_listen: None,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            tls_client_auth: ClientAuth::Optional,
            rate_limit_per_second: 0,
            rate_burst: 0,
            masters_dir: None,
            log_format: LogFormat::Human,
            log_level: "info".into(),
            max_body_bytes: 32 * 1024 * 1024,
            workers: 0,
            db_pool_size: 8,
            shutdown_timeout_secs: 30,
            public_base_url: None,
            institution_code: "9999999999".into(),
            mllp_client_id: None,
            mllp_max_frame_bytes: 16 * 1024 * 1024,
            mllp_idle_timeout_secs: 300,
            mllp_max_connections: 256,
            max_archive_bytes: 8 * 1024 * 1024 * 1024,
            registration_confirmation: RegistrationConfirmation::PersonOrEvidence,
            registration_first: RegistrationFirst::Immediate,
            registration_pending_days: 30,
            delivery_enabled: true,
            delivery_allow_loopback: false,
            delivery_max_attempts: 8,
            delivery_backoff_millis: 1_000,
            delivery_backoff_cap_millis: 3_600_000,
            delivery_timeout_millis: 10_000,
            delivery_poll_millis: 500,
            finding_watch_millis: 5_000,
            finding_watch_settle_millis: 2_000,
            medication_list: ListSettings::default(),
            db_read_timeout_secs: 30,
            max_uri_bytes: 16 * 1024,
            body_timeout_secs: 300,
            archive_body_timeout_secs: 3600,
            body_min_bytes_per_sec: 1024,
            request_head_timeout_secs: 10,
            keep_alive_secs: 15,
            mllp_max_buffered_bytes: 64 * 1024 * 1024,
            mllp_tls_cert: None,
            mllp_tls_key: None,
            mllp_tls_client_ca: None,
        }
    }
}

/// A configuration problem, naming the key (never echoing secret values).
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Loads defaults ← file ← environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("KAKARI_").split("__").ignore(&["config"]));
        let config: Config = figment.extract().map_err(|e| ConfigError(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen
            .parse::<SocketAddr>()
            .map_err(|_| ConfigError("listen must be host:port (e.g. 127.0.0.1:8080)".into()))?;
        if let Some(m) = &self.mllp_listen {
            m.parse::<SocketAddr>()
                .map_err(|_| ConfigError("mllp_listen must be host:port".into()))?;
            if self.mllp_client_id.is_none() && self.mllp_tls_client_ca.is_none() {
                return Err(ConfigError(
                    "mllp_listen needs mllp_client_id (the emr/pharmacy client MLLP messages are processed as) or mllp_tls_client_ca (each sender its own client by certificate)".into(),
                ));
            }
        }
        if self.mllp_tls_cert.is_some() != self.mllp_tls_key.is_some() {
            return Err(ConfigError(
                "mllp_tls_cert and mllp_tls_key must be set together".into(),
            ));
        }
        if self.mllp_tls_client_ca.is_some()
            && self.mllp_tls_cert.is_none()
            && self.tls_cert.is_none()
        {
            return Err(ConfigError(
                "mllp_tls_client_ca needs mllp_tls_cert and mllp_tls_key (or tls_cert and tls_key to reuse)".into(),
            ));
        }
        if self.max_uri_bytes < 1024 {
            return Err(ConfigError("max_uri_bytes must be at least 1024".into()));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError(
                "tls_cert and tls_key must be set together".into(),
            ));
        }
        if self.tls_client_ca.is_some() && self.tls_cert.is_none() {
            return Err(ConfigError(
                "tls_client_ca needs tls_cert and tls_key (client certificates need TLS)".into(),
            ));
        }
        if self.tls_client_auth == ClientAuth::Required && self.tls_client_ca.is_none() {
            return Err(ConfigError(
                "tls_client_auth = required needs tls_client_ca".into(),
            ));
        }
        if !(self.database_url.starts_with("sqlite://")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError(
                "database_url must start with sqlite:// or postgres://".into(),
            ));
        }
        if crate::domain::InstitutionCode::parse(&self.institution_code).is_err() {
            return Err(ConfigError(
                "institution_code must be a 10-digit institution code".into(),
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError("max_body_bytes must be at least 1024".into()));
        }
        if self.delivery_max_attempts == 0 {
            return Err(ConfigError(
                "delivery_max_attempts must be at least 1".into(),
            ));
        }
        if self.delivery_timeout_millis == 0 || self.delivery_poll_millis == 0 {
            return Err(ConfigError(
                "delivery_timeout_millis and delivery_poll_millis must be at least 1".into(),
            ));
        }
        if self.medication_list.look_back_days == 0 {
            return Err(ConfigError(
                "medication_list.look_back_days must be at least 1".into(),
            ));
        }
        if self.registration_pending_days == 0 {
            return Err(ConfigError(
                "registration_pending_days must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// How the store is opened with these settings.
    pub fn store_options(&self) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            pool_size: self.db_pool_size,
            read_timeout: (self.db_read_timeout_secs > 0)
                .then(|| std::time::Duration::from_secs(self.db_read_timeout_secs)),
            ..crate::store::StoreOptions::default()
        }
    }

    /// The registration policy these settings make.
    pub fn registration_policy(&self) -> RegistrationPolicy {
        RegistrationPolicy {
            confirmation: match self.registration_confirmation {
                RegistrationConfirmation::PersonOrEvidence => Confirmation::PersonOrEvidence,
                RegistrationConfirmation::Person => Confirmation::PersonOnly,
            },
            first: match self.registration_first {
                RegistrationFirst::Immediate => FirstRegistration::Immediate,
                RegistrationFirst::Pending => FirstRegistration::Pending,
            },
            pending_days: self.registration_pending_days,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn file_then_environment_take_precedence() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "kakari.toml",
                "listen = \"0.0.0.0:9000\"\nlog_format = \"json\"\n",
            )?;
            jail.set_env("KAKARI_LISTEN", "127.0.0.1:9100");
            let c = Config::load(Some(Path::new("kakari.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.listen, "127.0.0.1:9100");
            assert_eq!(c.log_format, LogFormat::Json);
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_named() {
        let c = Config {
            listen: "nowhere".into(),
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("listen"));
    }
}
