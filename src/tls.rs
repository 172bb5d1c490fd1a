//! TLS with rustls (TLS 1.2 and 1.3 only, ring provider): the server configuration from
//! `KAKARI_TLS_CERT` / `KAKARI_TLS_KEY` (PEM).

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Config;

/// The crypto provider kakari uses everywhere.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server TLS configuration, when TLS is configured.
pub fn server_config(config: &Config) -> Result<Option<ServerConfig>, String> {
    let (Some(cert_path), Some(key_path)) = (&config.tls_cert, &config.tls_key) else {
        return Ok(None);
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| format!("cannot read the certificate file: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot parse the certificate file: {e}"))?;
    if certs.is_empty() {
        return Err("the certificate file holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| format!("cannot read the private key: {e}"))?;
    let server = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not form a valid pair: {e}"))?;
    Ok(Some(server))
}
