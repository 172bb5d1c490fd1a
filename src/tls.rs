//! TLS with rustls (TLS 1.2 and 1.3 only, ring provider): the server configuration from
//! `KAKARI_TLS_CERT` / `KAKARI_TLS_KEY` (PEM), and optional client-certificate
//! authentication (mTLS) against the CAs in `KAKARI_TLS_CLIENT_CA`; the same for the MLLP
//! listener (`KAKARI_MLLP_TLS_CERT` / `KEY`, `KAKARI_MLLP_TLS_CLIENT_CA`).
//!
//! The client certificate a connection presented is handed to requests as a
//! [`PeerCertificate`] (its SHA-256 fingerprint) through actix's `on_connect` hook
//! ([`on_connect`]) and read back with `HttpRequest::conn_data`. Which client a
//! certificate belongs to is decided by the request gate (`http::gate`), not here.

use std::any::Any;
use std::sync::Arc;

use actix_web::dev::Extensions;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use sha2::{Digest, Sha256};

use crate::config::{ClientAuth, Config};

/// The protocol versions kakari speaks: TLS 1.3 and TLS 1.2, nothing older.
pub const PROTOCOL_VERSIONS: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The crypto provider kakari uses everywhere.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificate the client of a TLS connection presented (verified against the client
/// CA by rustls during the handshake).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// Lower-case hex SHA-256 of the end-entity certificate (DER).
    pub sha256_hex: String,
}

impl PeerCertificate {
    pub fn of(der: &[u8]) -> Self {
        Self {
            sha256_hex: fingerprint_hex(der),
        }
    }
}

/// Lower-case hex SHA-256 of DER bytes: the fingerprint clients are registered with
/// (`openssl x509 -noout -fingerprint -sha256` prints the same digits with colons).
pub fn fingerprint_hex(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Normalises a fingerprint as operators write it (`AB:CD:…`, `abcd…`, spaces) to 64
/// lower-case hex digits; `None` when it is not a SHA-256 fingerprint.
pub fn normalise_fingerprint(text: &str) -> Option<String> {
    let hex: String = text
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// actix `on_connect` hook: records the client certificate of a TLS connection in the
/// connection's data.
pub fn on_connect(connection: &dyn Any, data: &mut Extensions) {
    type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
    if let Some(tls) = connection.downcast_ref::<Tls>() {
        let (_, session) = tls.get_ref();
        if let Some(first) = session.peer_certificates().and_then(|c| c.first()) {
            data.insert(PeerCertificate::of(first.as_ref()));
        }
    }
}

fn read_certificates(
    path: &std::path::Path,
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read the {what} file: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot parse the {what} file: {e}"))?;
    if certs.is_empty() {
        return Err(format!("the {what} file holds no certificate"));
    }
    Ok(certs)
}

/// The server TLS configuration, when TLS is configured.
pub fn server_config(config: &Config) -> Result<Option<ServerConfig>, String> {
    let (Some(cert_path), Some(key_path)) = (&config.tls_cert, &config.tls_key) else {
        return Ok(None);
    };
    build(
        cert_path,
        key_path,
        config.tls_client_ca.as_deref(),
        config.tls_client_auth,
    )
    .map(Some)
}

/// The MLLP listener's TLS configuration, when MLLP runs over TLS: its own certificate
/// (`mllp_tls_cert`, `mllp_tls_key`), or the HTTPS one when only `mllp_tls_client_ca` is
/// set. With a client CA every MLLP connection must present a certificate.
pub fn mllp_server_config(config: &Config) -> Result<Option<ServerConfig>, String> {
    let (cert_path, key_path) = match (&config.mllp_tls_cert, &config.mllp_tls_key) {
        (Some(cert), Some(key)) => (cert, key),
        _ => match (
            &config.mllp_tls_client_ca,
            &config.tls_cert,
            &config.tls_key,
        ) {
            (Some(_), Some(cert), Some(key)) => (cert, key),
            (Some(_), _, _) => {
                return Err("mllp_tls_client_ca needs a certificate: mllp_tls_cert/mllp_tls_key or tls_cert/tls_key".into());
            }
            (None, _, _) => return Ok(None),
        },
    };
    build(
        cert_path,
        key_path,
        config.mllp_tls_client_ca.as_deref(),
        ClientAuth::Required,
    )
    .map(Some)
}

fn build(
    cert_path: &std::path::Path,
    key_path: &std::path::Path,
    client_ca: Option<&std::path::Path>,
    client_auth: ClientAuth,
) -> Result<ServerConfig, String> {
    let certs = read_certificates(cert_path, "certificate")?;
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| format!("cannot read the private key: {e}"))?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .map_err(|e| e.to_string())?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca_path) => {
            let mut roots = RootCertStore::empty();
            for ca in read_certificates(ca_path, "client CA")? {
                roots
                    .add(ca)
                    .map_err(|e| format!("a client CA certificate is not usable: {e}"))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            let verifier = match client_auth {
                ClientAuth::Optional => verifier.allow_unauthenticated(),
                ClientAuth::Required => verifier,
            };
            let verifier = verifier
                .build()
                .map_err(|e| format!("cannot build the client certificate verifier: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not form a valid pair: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tls_1_2_and_1_3_are_offered() {
        let versions: Vec<_> = PROTOCOL_VERSIONS.iter().map(|v| v.version).collect();
        assert_eq!(
            versions,
            vec![
                rustls::ProtocolVersion::TLSv1_3,
                rustls::ProtocolVersion::TLSv1_2
            ]
        );
    }

    #[test]
    fn fingerprints_are_normalised() {
        let hex = fingerprint_hex(b"certificate");
        assert_eq!(hex.len(), 64);
        let colons: String = hex
            .as_bytes()
            .chunks(2)
            .map(|p| std::str::from_utf8(p).unwrap().to_ascii_uppercase())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(normalise_fingerprint(&colons), Some(hex.clone()));
        assert_eq!(normalise_fingerprint(&hex[..60]), None);
        assert_eq!(normalise_fingerprint(&"zz".repeat(32)), None);
    }
}
