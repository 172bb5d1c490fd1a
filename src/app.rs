//! The application state shared by every request handler and background task.

use std::sync::Arc;
use std::time::Instant;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::store::{Store, StoreOptions};

/// Everything a request needs: the store, the configuration, the authenticator.
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub auth: Authenticator,
    pub metrics: PrometheusHandle,
    pub started: Instant,
}

impl AppState {
    /// Opens the database (applying migrations) and builds the state.
    pub fn open(config: Config) -> Result<Arc<Self>, crate::store::StoreError> {
        let store = Store::open(
            &config.database_url,
            &StoreOptions {
                pool_size: config.db_pool_size,
                ..StoreOptions::default()
            },
        )?;
        Ok(Self::with_store(config, store))
    }

    pub fn with_store(config: Config, store: Store) -> Arc<Self> {
        let auth = Authenticator::new(store.clone(), config.admin_token.clone());
        Arc::new(Self {
            store,
            config: Arc::new(config),
            auth,
            metrics: crate::telemetry::metrics_handle(),
            started: Instant::now(),
        })
    }
}
