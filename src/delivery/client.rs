//! The outbound HTTP client: reqwest on rustls with the ring provider and the platform's
//! trust store, a resolver that refuses non-public addresses, no redirects, no proxies,
//! a timeout per request. Nothing else in kakari makes outbound HTTP requests.

use std::sync::Arc;
use std::time::Duration;

use rustls_platform_verifier::BuilderVerifierExt;

use super::endpoint::CheckedResolver;

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("delivery client: {0}")]
pub struct ClientError(String);

/// Builds the delivery client.
pub fn build(timeout: Duration, allow_loopback: bool) -> Result<reqwest::Client, ClientError> {
    let tls = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError(e.to_string()))?
        .with_platform_verifier()
        .map_err(|e| ClientError(e.to_string()))?
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .dns_resolver(Arc::new(CheckedResolver { allow_loopback }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("kakari/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ClientError(e.to_string()))
}
