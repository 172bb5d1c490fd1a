//! The application state shared by every request handler and background task.

use crate::mapping::finding_rules::FindingRules;
use std::sync::Arc;
use std::time::Instant;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::Authenticator;
use crate::auth::rate::RateLimiter;
use crate::config::Config;
use crate::mapping::checkup_items::CheckupItems;
use crate::mapping::{DrugMaster, DrugMasterHandle};
use crate::store::Store;

/// Why the application state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("code tables: {0}")]
    Mapping(String),
}

/// Everything a request needs: the store, the configuration, the authenticator, the code
/// tables.
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub auth: Authenticator,
    /// Per-client request rate buckets (this instance).
    pub rate: RateLimiter,
    pub metrics: PrometheusHandle,
    pub started: Instant,
    /// Drug codes → common keys (curated table plus operator masters); reloadable.
    pub drugs: Arc<DrugMasterHandle>,
    /// 特定健診 items and their JLAC10 codes.
    pub checkup_items: &'static CheckupItems,
    /// This instance's name for its readiness probe row (random per process).
    pub instance: String,
    /// The medication-list rules (`mappings/medication-findings.csv`, or the operator's
    /// copy in the masters directory).
    pub finding_rules: Arc<FindingRules>,
}

impl AppState {
    /// Opens the database (applying migrations), loads the code tables and builds the state.
    pub fn open(config: Config) -> Result<Arc<Self>, StartError> {
        let store = Store::open(&config.database_url, &config.store_options())?;
        Self::with_store(config, store)
    }

    pub fn with_store(config: Config, store: Store) -> Result<Arc<Self>, StartError> {
        let drugs = match &config.masters_dir {
            Some(dir) => DrugMaster::load(dir).map(|(m, _)| m),
            None => DrugMaster::curated(),
        }
        .map_err(|p| StartError::Mapping(p.to_string()))?;
        let checkup_items =
            CheckupItems::bundled().map_err(|e| StartError::Mapping(e.to_string()))?;
        let auth = Authenticator::new(store.clone(), config.admin_token.clone());
        let finding_rules = match config
            .masters_dir
            .as_ref()
            .map(|d| d.join("medication-findings.csv"))
            .filter(|p| p.exists())
        {
            Some(path) => FindingRules::load(&path),
            None => FindingRules::bundled().cloned(),
        }
        .map_err(|e| StartError::Mapping(e.to_string()))?;
        Ok(Arc::new(Self {
            store,
            config: Arc::new(config),
            auth,
            rate: RateLimiter::new(),
            metrics: crate::telemetry::metrics_handle(),
            started: Instant::now(),
            drugs: Arc::new(DrugMasterHandle::new(drugs)),
            checkup_items,
            instance: uuid::Uuid::new_v4().to_string(),
            finding_rules: Arc::new(finding_rules),
        }))
    }
}
