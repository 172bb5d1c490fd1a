//! Liveness, readiness and metrics.

use std::time::Duration;

use crate::app::AppState;
use crate::store::StoreError;

/// How long a readiness check may take before the gateway counts as not ready.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Ready when the database answers and stores: a read, then a committed one-row write
/// (a gateway that can read but not store, e.g. with the disk full, must not be sent
/// traffic it would have to refuse).
pub async fn ready(app: &AppState) -> Result<(), String> {
    let check = async {
        app.store.ping().await.map_err(|e| reason(&e, "database"))?;
        app.store
            .probe_write(&app.instance)
            .await
            .map_err(|e| reason(&e, "database cannot store"))
    };
    match tokio::time::timeout(PROBE_TIMEOUT, check).await {
        Ok(result) => result,
        Err(_) => Err("database check timed out".to_owned()),
    }
}

fn reason(e: &StoreError, what: &str) -> String {
    match e {
        StoreError::Unavailable(_) => format!("{what} unavailable"),
        _ => format!("{what} check failed"),
    }
}

/// The Prometheus text exposition.
pub fn metrics_text(app: &AppState) -> String {
    app.metrics.render()
}
