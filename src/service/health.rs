//! Liveness, readiness and metrics.

use crate::app::AppState;

/// True when the database answers.
pub async fn ready(app: &AppState) -> Result<(), String> {
    app.store.ping().await.map_err(|e| match e {
        crate::store::StoreError::Unavailable(_) => "database unavailable".to_owned(),
        _ => "database check failed".to_owned(),
    })
}

/// The Prometheus text exposition.
pub fn metrics_text(app: &AppState) -> String {
    app.metrics.render()
}
