//! TLS, client certificates and per-client limits against a running gateway. Certificates
//! are made at test time with rcgen (a server CA, a client CA, server and client
//! certificates); clients are reqwest and plain rustls on the ring provider.
//!
//! Covered: HTTPS works; TLS 1.2 and 1.3 are negotiated and nothing older (a hand-written
//! TLS 1.1 ClientHello is refused with an alert); plain HTTP on the TLS port fails; a
//! registered certificate authenticates its client without a bearer token; an unknown
//! certificate, a token of another client, and a bound client's token without its
//! certificate are refused with their codes; `required` refuses handshakes without a
//! certificate; an expired token is refused; rate limits give 429 with `Retry-After`;
//! size limits give 413 (declared and chunked bodies).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use serde_json::{Value, json};

use crate::support::{ADMIN_TOKEN, TestApp, TestDb};
use kakari::config::ClientAuth;

struct Ca {
    cert: rcgen::Certificate,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).unwrap();
    Ca {
        cert,
        issuer: Issuer::new(params, key),
    }
}

/// A leaf certificate and its key.
pub(crate) struct Leaf {
    der: CertificateDer<'static>,
    pem: String,
    key: KeyPair,
}

fn leaf(ca: &Ca, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("client"),
    );
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    Leaf {
        der: cert.der().clone(),
        pem: cert.pem(),
        key,
    }
}

impl Leaf {
    fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()))
    }

    pub(crate) fn sha256(&self) -> String {
        kakari::tls::fingerprint_hex(self.der.as_ref())
    }
}

/// The certificates of one test.
pub(crate) struct Pki {
    _dir: tempfile::TempDir,
    server_ca: Ca,
    pub(crate) cert_path: PathBuf,
    pub(crate) key_path: PathBuf,
    pub(crate) client_ca_path: PathBuf,
    client_ca: Ca,
}

pub(crate) fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = ca("kakari test server CA");
    let client_ca = ca("kakari test client CA");
    let server = leaf(
        &server_ca,
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let cert_path = dir.path().join("server.pem");
    let key_path = dir.path().join("server.key");
    let client_ca_path = dir.path().join("client-ca.pem");
    std::fs::write(&cert_path, &server.pem).unwrap();
    std::fs::write(&key_path, server.key.serialize_pem()).unwrap();
    std::fs::write(&client_ca_path, client_ca.cert.pem()).unwrap();
    Pki {
        _dir: dir,
        server_ca,
        cert_path,
        key_path,
        client_ca_path,
        client_ca,
    }
}

impl Pki {
    pub(crate) fn client_cert(&self, name: &str) -> Leaf {
        leaf(
            &self.client_ca,
            &[name],
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }

    /// A rustls client configuration trusting the server CA, offering `versions`.
    pub(crate) fn client_config(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
        identity: Option<&Leaf>,
    ) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.server_ca.cert.der().clone()).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(kakari::tls::provider())
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots);
        match identity {
            Some(leaf) => builder
                .with_client_auth_cert(vec![leaf.der.clone()], leaf.key_der())
                .unwrap(),
            None => builder.with_no_client_auth(),
        }
    }

    fn http(&self, identity: Option<&Leaf>) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_backend_preconfigured(self.client_config(kakari::tls::PROTOCOL_VERSIONS, identity))
            .build()
            .unwrap()
    }
}

async fn spawn_tls(pki: &Pki, client_auth: Option<ClientAuth>) -> TestApp {
    let (cert, key, ca) = (
        pki.cert_path.clone(),
        pki.key_path.clone(),
        pki.client_ca_path.clone(),
    );
    TestApp::spawn_with(TestDb::sqlite(), move |c| {
        c.tls_cert = Some(cert);
        c.tls_key = Some(key);
        if let Some(mode) = client_auth {
            c.tls_client_ca = Some(ca);
            c.tls_client_auth = mode;
        }
    })
    .await
}

fn port(app: &TestApp) -> u16 {
    app.base.rsplit(':').next().unwrap().parse().unwrap()
}

/// Creates a client through the admin API (over `http`); returns its id and token.
pub(crate) async fn create_client(
    app: &TestApp,
    http: &reqwest::Client,
    body: Value,
) -> (i64, String) {
    let resp = http
        .post(app.url("/admin/clients"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let created: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "{created}");
    (
        created["id"].as_i64().unwrap(),
        created["token"].as_str().unwrap().to_owned(),
    )
}

async fn status_and_code(resp: reqwest::Response) -> (u16, String, Option<String>) {
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|h| h.to_str().unwrap().to_owned());
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (status, crate::support::error_code(&body), retry)
}

/// Handshakes with plain rustls over a blocking socket; the negotiated version.
fn handshake(
    port: u16,
    config: rustls::ClientConfig,
) -> Result<rustls::ProtocolVersion, std::io::Error> {
    std::thread::spawn(move || {
        let mut conn = rustls::ClientConnection::new(
            Arc::new(config),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let mut sock = TcpStream::connect(("127.0.0.1", port))?;
        // A safety net against a hung test, not a timing assertion.
        sock.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
        while conn.is_handshaking() {
            conn.complete_io(&mut sock)?;
        }
        // TLS 1.3 reports a refused client certificate only after the handshake: make
        // a request and read the answer.
        let mut stream = rustls::Stream::new(&mut conn, &mut sock);
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        if !answer.starts_with(b"HTTP/1.1 200") {
            return Err(std::io::Error::other("no 200 answer"));
        }
        Ok(conn.protocol_version().unwrap())
    })
    .join()
    .unwrap()
}

#[actix_web::test]
async fn https_speaks_tls_1_2_and_1_3_and_nothing_older() {
    let pki = pki();
    let app = spawn_tls(&pki, None).await;
    assert!(app.base.starts_with("https://"));
    let http = pki.http(None);
    let resp = http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // The API works over TLS.
    let (status, clients) = {
        let resp = http
            .get(app.url("/admin/clients"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 200, "{clients}");

    // Each supported version is negotiated when it is the only one offered.
    let port = port(&app);
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let negotiated = handshake(port, pki.client_config(&[version], None)).unwrap();
        assert_eq!(negotiated, version.version);
    }

    // A TLS 1.1 ClientHello is answered with an alert, never a ServerHello.
    let answer = std::thread::spawn(move || {
        let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
        sock.write_all(&tls11_client_hello()).unwrap();
        let mut buf = [0u8; 7];
        let n = sock.read(&mut buf).unwrap_or(0);
        buf[..n].to_vec()
    })
    .join()
    .unwrap();
    assert!(
        answer.is_empty() || answer[0] == 0x15,
        "TLS 1.1 must be refused with an alert, got {answer:02x?}"
    );
    assert_ne!(answer.first(), Some(&0x16), "no ServerHello for TLS 1.1");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP must fail on the TLS port");
}

/// A TLS 1.1 ClientHello (record version 3.2, client version 3.2, RSA/AES-CBC suites,
/// no supported_versions extension).
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02];
    body.extend_from_slice(&[0x42; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x04, 0x00, 0x2f, 0x00, 0x35]); // cipher suites
    body.extend_from_slice(&[0x01, 0x00]); // compression: null
    let mut handshake = vec![0x01, 0x00];
    handshake.extend_from_slice(&(body.len() as u16).to_be_bytes());
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x02];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

#[actix_web::test]
async fn a_registered_certificate_authenticates_its_client() {
    let pki = pki();
    let app = spawn_tls(&pki, Some(ClientAuth::Optional)).await;
    let admin = pki.http(None);
    let emr_cert = pki.client_cert("emr.clinic.example");
    let (emr_id, emr_token) = create_client(
        &app,
        &admin,
        json!({"name": "clinic EMR", "role": "emr", "facility": "1311234567",
               "certificate_sha256": emr_cert.sha256().to_uppercase()}),
    )
    .await;
    let (_, other_token) = create_client(
        &app,
        &admin,
        json!({"name": "other EMR", "role": "emr", "facility": "1312345678"}),
    )
    .await;

    // The certificate alone authenticates: no bearer token.
    let with_cert = pki.http(Some(&emr_cert));
    let resp = with_cert
        .get(app.url("/fhir/Observation?patient=Patient/none"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // ... as the registered client (the audit trail names it).
    let (_, page) = {
        let resp = admin
            .get(app.url("/admin/audit?action=search"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.json::<Value>().await.unwrap())
    };
    assert_eq!(page["entries"][0]["client"], emr_id, "{page}");
    // Its own token over its own certificate is fine too.
    let resp = with_cert
        .get(app.url("/fhir/Observation?patient=Patient/none"))
        .bearer_auth(&emr_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Another client's token over this certificate's connection: refused.
    let resp = with_cert
        .get(app.url("/fhir/Observation?patient=Patient/none"))
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap();
    let (status, code, _) = status_and_code(resp).await;
    assert_eq!((status, code.as_str()), (401, "auth.certificate_mismatch"));
    // The bound client's token without its certificate: refused.
    let resp = admin
        .get(app.url("/fhir/Observation?patient=Patient/none"))
        .bearer_auth(&emr_token)
        .send()
        .await
        .unwrap();
    let (status, code, _) = status_and_code(resp).await;
    assert_eq!((status, code.as_str()), (401, "auth.certificate_required"));
    // Other clients keep using bearer tokens without certificates (optional mode).
    let resp = admin
        .get(app.url("/fhir/Observation?patient=Patient/none"))
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // A certificate from the client CA that no client is registered with: refused, with
    // or without a token; the refusal is audited as denied.
    let stranger = pki.client_cert("stranger.example");
    let unknown = pki.http(Some(&stranger));
    for token in [None, Some(other_token.as_str())] {
        let mut req = unknown.get(app.url("/fhir/Observation?patient=Patient/none"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let (status, code, _) = status_and_code(req.send().await.unwrap()).await;
        assert_eq!((status, code.as_str()), (401, "auth.certificate_unknown"));
    }
    let resp = admin
        .get(app.url("/admin/audit?outcome=denied"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let denied: Value = resp.json().await.unwrap();
    let details: Vec<&str> = denied["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains("auth.certificate_unknown")),
        "{details:?}"
    );
    // Public endpoints stay public for an unregistered certificate.
    assert_eq!(
        unknown
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // A certificate from another CA does not get through the handshake.
    let foreign_ca = ca("someone else's CA");
    let foreign = leaf(
        &foreign_ca,
        &["foreign.example"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    assert!(
        pki.http(Some(&foreign))
            .get(app.url("/healthz"))
            .send()
            .await
            .is_err()
    );

    // Registering a certificate twice, or a malformed fingerprint: clear 422s.
    for fingerprint in [emr_cert.sha256(), "not-hex".to_owned()] {
        let resp = admin
            .post(app.url("/admin/clients"))
            .bearer_auth(ADMIN_TOKEN)
            .json(
                &json!({"name": "dup", "role": "emr", "facility": "1311234567",
                          "certificate_sha256": fingerprint}),
            )
            .send()
            .await
            .unwrap();
        let (status, code, _) = status_and_code(resp).await;
        assert_eq!((status, code.as_str()), (422, "request.invalid_body"));
    }
}

#[actix_web::test]
async fn required_client_auth_refuses_handshakes_without_a_certificate() {
    let pki = pki();
    let app = spawn_tls(&pki, Some(ClientAuth::Required)).await;
    let port = port(&app);
    // Without a certificate no request gets an answer, whichever version is offered.
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(pki.client_config(&[version], None))
            .build()
            .unwrap();
        assert!(
            client.get(app.url("/healthz")).send().await.is_err(),
            "{:?} without a certificate must fail",
            version.version
        );
    }
    let cert = pki.client_cert("admin-tool.example");
    // The handshake with a CA-signed certificate succeeds (the client is not registered,
    // so only public endpoints answer).
    assert_eq!(
        handshake(
            port,
            pki.client_config(&[&rustls::version::TLS13], Some(&cert))
        )
        .unwrap(),
        rustls::ProtocolVersion::TLSv1_3
    );
    assert!(
        pki.http(None)
            .get(app.url("/healthz"))
            .send()
            .await
            .is_err()
    );
    let resp = pki
        .http(Some(&cert))
        .get(app.url("/admin/clients"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let (status, code, _) = status_and_code(resp).await;
    assert_eq!((status, code.as_str()), (401, "auth.certificate_unknown"));
}

#[actix_web::test]
async fn rate_and_size_limits_are_enforced_per_client() {
    let app = TestApp::spawn_with(TestDb::sqlite(), |c| {
        c.rate_limit_per_second = 1000;
        c.rate_burst = 1000;
    })
    .await;
    let http = app.http.clone();
    let (_, slow) = create_client(
        &app,
        &http,
        json!({"name": "slow", "role": "emr", "facility": "1311234567",
               "rate_limit_per_second": 1, "rate_burst": 2}),
    )
    .await;
    let (_, fast) = create_client(
        &app,
        &http,
        json!({"name": "fast", "role": "emr", "facility": "1312345678"}),
    )
    .await;
    // At one request a second with a burst of two, twenty back-to-back requests cannot
    // all pass (that would take well over ten seconds); the first two always do.
    let mut statuses = Vec::new();
    let mut refusal = None;
    for _ in 0..20 {
        let resp = app
            .get(&slow, "/fhir/Observation?patient=Patient/none")
            .await;
        let (status, code, retry) = status_and_code(resp).await;
        statuses.push(status);
        if status == 429 {
            refusal = Some((code, retry));
            break;
        }
    }
    assert_eq!(&statuses[..2], &[200, 200], "{statuses:?}");
    let (code, retry) = refusal.expect("the rate limit refused a request");
    assert_eq!(code, "request.rate_limited");
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!(retry >= 1);
    // Another client has its own bucket (the server default is generous).
    for _ in 0..5 {
        let resp = app
            .get(&fast, "/fhir/Observation?patient=Patient/none")
            .await;
        assert_eq!(resp.status(), 200);
    }

    // Size: a client limited to 2 KiB.
    let (_, small) = create_client(
        &app,
        &http,
        json!({"name": "small", "role": "emr", "facility": "1311234567",
               "max_request_bytes": 2048}),
    )
    .await;
    let big = json!({"resourceType": "Bundle", "type": "batch", "entry": [],
                     "padding": "x".repeat(4096)});
    let resp = app.post_fhir(&small, "/fhir", &big).await;
    let (status, code, _) = status_and_code(resp).await;
    assert_eq!((status, code.as_str()), (413, "request.body_too_large"));
    // The same body is fine for a client without a limit of its own (it gets past the
    // gate; the bundle itself is then judged on its merits).
    let resp = app.post_fhir(&fast, "/fhir", &big).await;
    assert_ne!(resp.status(), 413);
    // A chunked body (no Content-Length) is cut off while it streams in.
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let small_token = small.clone();
    let head = std::thread::spawn(move || {
        let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut request = format!(
            "POST /fhir HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {small_token}\r\n\
             Content-Type: application/fhir+json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
        for _ in 0..4 {
            request.extend_from_slice(b"400\r\n");
            request.extend_from_slice(&[b' '; 0x400]);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
        let _ = sock.write_all(&request);
        let mut answer = Vec::new();
        let _ = sock.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .join()
    .unwrap();
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(head.contains("request.body_too_large"), "{head}");

    // Token expiry is enforced.
    let (_, expired) = create_client(
        &app,
        &http,
        json!({"name": "expired", "role": "emr", "facility": "1311234567",
               "expires_at": 1_000}),
    )
    .await;
    let resp = app
        .get(&expired, "/fhir/Observation?patient=Patient/none")
        .await;
    let (status, code, _) = status_and_code(resp).await;
    assert_eq!((status, code.as_str()), (401, "auth.invalid_token"));
}
