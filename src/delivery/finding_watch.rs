//! The finding watch: every `finding_watch_millis` it evaluates the program findings of
//! persons whose records changed (`service::program_findings::watch_round`), so a new
//! finding reaches the insurer's and the doctor's subscriptions (topic
//! `finding.detected`) without anyone pulling. The marks it works from are written with
//! the records, so a restart loses none; several instances share them by lease.

use std::sync::Arc;
use std::time::Duration;

use crate::app::AppState;
use crate::service::program_findings::watch_round;

/// Persons evaluated per round at most.
const ROUND: i64 = 200;

/// Starts the watch on the current runtime (`None` when disabled by configuration).
pub fn spawn(state: Arc<AppState>) -> Option<tokio::task::JoinHandle<()>> {
    let every = state.config.finding_watch_millis;
    (every > 0).then(|| tokio::spawn(run(state, Duration::from_millis(every))))
}

async fn run(state: Arc<AppState>, every: Duration) {
    loop {
        match watch_round(&state, ROUND).await {
            // A full round: more may be waiting.
            Ok(n) if n as i64 == ROUND => continue,
            Ok(_) => {}
            Err(p) => tracing::warn!(
                code = p.code.as_str(),
                "finding watch: round failed; retrying"
            ),
        }
        tokio::time::sleep(every).await;
    }
}
