//! Logs and metrics.
//!
//! Logs: `tracing`, human-readable or JSON lines; every request runs in a span carrying its
//! request id, so every line logged while serving it names the request. Nothing that may
//! be patient data is ever logged: handlers log codes and locations only.
//!
//! Metrics: the Prometheus text exposition at `/metrics`:
//! * `kakari_http_requests_total{method,route,status}`
//! * `kakari_http_request_duration_seconds{method,route}` (histogram)
//! * `kakari_ingested_records_total{source,kind}`
//! * `kakari_rejected_inputs_total{source,code}`

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::LogFormat;

pub const HTTP_REQUESTS: &str = "kakari_http_requests_total";
pub const HTTP_DURATION: &str = "kakari_http_request_duration_seconds";
pub const INGESTED_RECORDS: &str = "kakari_ingested_records_total";
pub const REJECTED_INPUTS: &str = "kakari_rejected_inputs_total";

/// Installs the global log subscriber (once; later calls are no-ops).
pub fn init_logging(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE)
        .with_target(true)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder.
pub fn metrics_handle() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), &buckets)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => {
                    describe();
                    handle
                }
                // Another recorder is installed (embedding): render our own view anyway.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(HTTP_REQUESTS, "HTTP requests by method, route and status");
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP request latency by method and route"
    );
    metrics::describe_counter!(
        INGESTED_RECORDS,
        "Canonical records stored, by source format and kind"
    );
    metrics::describe_counter!(
        REJECTED_INPUTS,
        "Inputs refused, by source format and error code"
    );
}

/// Counts stored records.
pub fn count_ingested(source: &'static str, kind: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!(INGESTED_RECORDS, "source" => source, "kind" => kind).increment(n);
    }
}

/// Counts refused inputs.
pub fn count_rejected(source: &'static str, code: &'static str) {
    metrics::counter!(REJECTED_INPUTS, "source" => source, "code" => code).increment(1);
}
