//! Assembling and running the HTTP server: routes, middleware, TLS, graceful shutdown.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;

use crate::app::AppState;
use crate::http;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen: {0}")]
    Listen(std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error(transparent)]
    Start(#[from] crate::app::StartError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("the FHIR schema failed to compile: {0}")]
    Schema(String),
    #[error("MLLP: {0}")]
    Mllp(String),
    #[error(transparent)]
    Delivery(#[from] crate::delivery::client::ClientError),
}

/// Builds the server on a bound listener (tests bind port 0 and read the address).
pub fn start(
    state: Arc<AppState>,
    listener: TcpListener,
) -> Result<actix_web::dev::Server, ServeError> {
    let data = web::Data::from(state.clone());
    let workers = match state.config.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let tls = crate::tls::server_config(&state.config).map_err(ServeError::Tls)?;
    let server = HttpServer::new(move || {
        let (app, api) = App::new()
            .into_utoipa_app()
            .service(http::health::healthz)
            .service(http::health::readyz)
            .service(http::health::metrics)
            .service(http::admin::create_client)
            .service(http::admin::list_clients)
            .service(http::admin::revoke_client)
            .service(http::admin::list_audit)
            .service(http::directory::put_organization)
            .service(http::directory::put_practitioner)
            .service(http::directory::search)
            .service(http::directory::functions)
            .service(http::masters::reload)
            .service(http::masters::unmapped)
            .service(http::registration::register)
            .service(http::registration::status)
            .service(http::registration::end)
            .service(http::registration::consent)
            .service(http::registration::me)
            .service(http::registration::confirm)
            .service(http::registration::refuse)
            .service(http::registration::my_consent)
            .service(http::registration::my_access)
            .service(http::registration::notifications)
            .service(http::registration::issue_person_client)
            .service(http::matching::post_need)
            .service(http::matching::insurer_needs)
            .service(http::matching::withdraw_need)
            .service(http::matching::vocabulary)
            .service(http::matching::region_needs)
            .service(http::matching::raise_hand)
            .service(http::matching::my_needs)
            .service(http::matching::accept)
            .service(http::hl7::post_hl7v2)
            .service(http::ssmix2::post_ssmix2)
            .service(http::insurer::post_claims)
            .service(http::insurer::post_checkups)
            .service(http::insurer::lab_results)
            .service(http::findings::findings)
            .split_for_parts();
        app.app_data(data.clone())
            .app_data(web::Data::new(http::openapi::finish(api)))
            .route("/openapi.json", web::get().to(http::openapi::serve))
            .route("/directory", web::get().to(http::directory_page::page))
            .route(
                "/doctor/medication-list",
                web::get().to(http::medication_page::medication_list),
            )
            .configure(http::fhir::routes)
            .default_service(web::to(http::not_found))
            .wrap(from_fn(http::gate::gate))
            .wrap(from_fn(http::middleware::observe))
            .wrap(TracingLogger::<http::middleware::RequestSpan>::new())
    })
    .on_connect(crate::tls::on_connect)
    .workers(workers)
    .shutdown_timeout(state.config.shutdown_timeout_secs)
    // A client has this long to send a request's head; bodies have their own limits
    // (`http::extract`).
    .client_request_timeout(Duration::from_secs(state.config.request_head_timeout_secs))
    .client_disconnect_timeout(Duration::from_secs(5))
    .keep_alive(Duration::from_secs(state.config.keep_alive_secs))
    // A client that closes its side is gone: the request is dropped, and with it any
    // database read still running for it (`store::read_control`).
    .h1_allow_half_closed(false);
    let server = match tls {
        Some(config) => server.listen_rustls_0_23(listener, config),
        None => server.listen(listener),
    }
    .map_err(ServeError::Listen)?;
    Ok(server.run())
}

/// The client MLLP messages are processed as (configured by `mllp_client_id`).
pub async fn mllp_caller(state: &AppState) -> Result<crate::auth::Caller, ServeError> {
    let id = state
        .config
        .mllp_client_id
        .ok_or_else(|| ServeError::Mllp("mllp_client_id is not set".into()))?;
    let row = state
        .store
        .read(move |tx| tx.client_by_id(id))
        .await
        .map_err(|e| ServeError::Mllp(e.to_string()))?
        .filter(|r| r.revoked_at.is_none())
        .ok_or_else(|| ServeError::Mllp(format!("client {id} does not exist or is revoked")))?;
    let caller = crate::auth::Caller::from_row(&row)
        .ok_or_else(|| ServeError::Mllp("the MLLP client has an unknown role".into()))?;
    crate::mllp::check_sender(caller).map_err(|_| {
        ServeError::Mllp(
            "the MLLP client must be an emr or pharmacy client bound to an institution".into(),
        )
    })
}

/// Starts the MLLP listener as configured; returns its address.
pub async fn start_mllp(
    state: Arc<AppState>,
    address: &str,
) -> Result<std::net::SocketAddr, ServeError> {
    let config = &state.config;
    let tls = crate::tls::mllp_server_config(config)
        .map_err(ServeError::Tls)?
        .map(Arc::new);
    let sender = if config.mllp_tls_client_ca.is_some() {
        crate::mllp::MllpSender::ByCertificate
    } else {
        crate::mllp::MllpSender::Configured(Box::new(mllp_caller(&state).await?))
    };
    let settings = crate::mllp::MllpSettings {
        max_frame_bytes: config.mllp_max_frame_bytes,
        idle_timeout: Duration::from_secs(config.mllp_idle_timeout_secs),
        max_connections: config.mllp_max_connections,
        max_buffered_bytes: config.mllp_max_buffered_bytes,
        tls,
    };
    crate::mllp::start(state.clone(), sender, address, settings)
        .await
        .map_err(ServeError::Listen)
}

/// Runs the gateway until SIGINT/SIGTERM, then finishes in-flight requests and queued
/// writes before returning.
pub async fn serve(state: Arc<AppState>) -> Result<(), ServeError> {
    crate::codec::fhir::schema::warm_up().map_err(ServeError::Schema)?;
    let listener = TcpListener::bind(&state.config.listen).map_err(ServeError::Listen)?;
    let address = listener.local_addr().map_err(ServeError::Listen)?;
    let scheme = if state.config.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(%address, %scheme, "kakari listening");
    let server = start(state.clone(), listener)?;
    if let Some(address) = state.config.mllp_listen.clone() {
        let bound = start_mllp(state.clone(), &address).await?;
        let tls = state.config.mllp_tls_cert.is_some() || state.config.mllp_tls_client_ca.is_some();
        tracing::info!(address = %bound, tls, "MLLP listening");
    }
    let delivery = if state.config.delivery_enabled {
        Some(crate::delivery::worker::spawn(state.clone())?)
    } else {
        None
    };
    let watch = crate::delivery::finding_watch::spawn(state.clone());
    let result = server.await.map_err(ServeError::Listen);
    // Whatever the worker had not recorded is delivered again after a restart; the watch's
    // marks stay until a round clears them.
    if let Some(worker) = delivery {
        worker.abort();
    }
    if let Some(watch) = watch {
        watch.abort();
    }
    tracing::info!("HTTP server stopped; flushing queued writes");
    state.store.shutdown();
    result
}
