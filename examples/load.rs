//! Load generator: posts transaction Bundles concurrently to a kakari it starts in-process,
//! on SQLite or PostgreSQL, and reports resources/s and latency percentiles.
//!
//! ```sh
//! cargo run --release --example load -- --db sqlite --seconds 20 --concurrency 8 --patients 10
//! cargo run --release --example load -- --db postgres --pg-url postgres://postgres@127.0.0.1:5432/test
//! ```
//!
//! Every Bundle carries `patients` × 10 resources (Patient, Coverage, 4 MedicationRequests,
//! 4 Observations) with fresh identifiers; a Bundle counts only when its response is 200 and
//! every entry was created. Commits are durable (SQLite `synchronous=FULL`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[path = "../benches/support/fhir_data.rs"]
mod fhir_data;
#[path = "support/scratch.rs"]
mod scratch;

/// The options; the header of this file says what is measured.
#[derive(clap::Parser)]
struct Args {
    /// `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    db: String,
    /// The PostgreSQL server a scratch schema is made in.
    #[arg(long, default_value = scratch::DEFAULT_PG_URL)]
    pg_url: String,
    /// How long to run.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Concurrent requests.
    #[arg(long, default_value_t = 8, value_parser = scratch::count_usize)]
    concurrency: usize,
    /// Patients per transaction.
    #[arg(long, default_value_t = 10, value_parser = scratch::count_usize)]
    patients: usize,
    /// Server workers.
    #[arg(long, default_value_t = 2, value_parser = scratch::count_usize)]
    workers: usize,
}

fn main() {
    let args = <Args as clap::Parser>::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = scratch::ScratchDb::create(&args.db, &args.pg_url, "load");
    let config = kakari::config::Config {
        database_url: db.url.clone(),
        admin_token: Some("load-admin-token".into()),
        workers: args.workers,
        db_pool_size: 16,
        log_level: "error".into(),
        ..kakari::config::Config::default()
    };
    let state = kakari::app::AppState::open(config).expect("open store");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server_state = state.clone();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = kakari::server::start(server_state, listener).expect("start");
            let _ = server.await;
        })
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let http = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build().unwrap();
        let created: serde_json::Value = http
            .post(format!("{base}/admin/clients"))
            .bearer_auth("load-admin-token")
            .json(&serde_json::json!({"name": "load", "role": "emr", "facility": fhir_data::FACILITY}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = created["token"].as_str().unwrap().to_owned();
        let per_bundle = (args.patients * 10) as u64;
        // Pre-build the bodies so the generator spends its CPU on sending, not on JSON.
        let total_bundles = 2000usize;
        let bodies: Arc<Vec<String>> = Arc::new(
            (0..total_bundles)
                .map(|i| fhir_data::transaction_bundle(i as u64, args.patients).to_string())
                .collect(),
        );
        let next = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(args.seconds);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..args.concurrency {
            let (http, token, base, bodies, next, failures) =
                (http.clone(), token.clone(), base.clone(), bodies.clone(), next.clone(), failures.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(body) = bodies.get(i) else { break };
                    let t = Instant::now();
                    let resp = http
                        .post(format!("{base}/fhir"))
                        .bearer_auth(&token)
                        .header("Content-Type", "application/fhir+json")
                        .body(body.clone())
                        .send()
                        .await;
                    let ok = match resp {
                        Ok(r) if r.status() == 200 => r.text().await.is_ok_and(|t| !t.contains("\"status\":\"4")),
                        _ => false,
                    };
                    latencies.push(t.elapsed());
                    if !ok {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                latencies
            }));
        }
        let mut latencies = Vec::new();
        for t in tasks {
            latencies.extend(t.await.unwrap());
        }
        let elapsed = started.elapsed().as_secs_f64();
        latencies.sort();
        let failed = failures.load(Ordering::Relaxed);
        let ok_bundles = latencies.len() as u64 - failed;
        println!(
            "db={} concurrency={} resources/bundle={} seconds={elapsed:.1}",
            args.db, args.concurrency, per_bundle
        );
        println!(
            "bundles ok={ok_bundles} failed={failed}  resources/s={:.0}  bundles/s={:.1}",
            (ok_bundles * per_bundle) as f64 / elapsed,
            ok_bundles as f64 / elapsed
        );
        println!(
            "latency per bundle: p50={:.1}ms p95={:.1}ms p99={:.1}ms max={:.1}ms",
            scratch::percentile_ms(&latencies, 50.0),
            scratch::percentile_ms(&latencies, 95.0),
            scratch::percentile_ms(&latencies, 99.0),
            latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
        );
    });
    state.store.shutdown();
    drop(db);
}
