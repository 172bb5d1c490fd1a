//! MLLP against a hostile or unusual sender (issue 10, §2 and §4): an extra leading start
//! byte is tolerated; unfinished frames of all connections share one memory budget (a
//! connection over it is answered AR `mllp.busy` and closed, the others go on); a large
//! frame sent in small pieces is found; over TLS, each sender is the client its
//! certificate is registered to.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::support::{TestApp, TestDb};
use crate::tls::{create_client, pki};

const CLINIC: &str = "1311234567";

fn message(control: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|EMR|CLINIC|KAKARI|GW|20240402080000||ADT^A08^ADT_A01|{control}|P|2.5||||||UNICODE UTF-8\r\
         EVN||20240402080000\rPID|0001||P7001^^^^PI||試験^次郎||19700101|M\rPV1|0001|O\r"
    )
    .into_bytes()
}

/// Reads one acknowledgement frame (`None` when the connection closes first).
async fn read_ack<S: AsyncRead + Unpin>(stream: &mut S) -> Option<String> {
    let mut framer = kakari::mllp::Framer::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(payload) = framer.next_frame() {
            return Some(String::from_utf8_lossy(&payload).into_owned());
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => framer.push(&chunk[..n]),
        }
    }
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> Option<String> {
    stream.write_all(bytes).await.ok()?;
    read_ack(stream).await
}

/// MSA-1 of an acknowledgement.
fn msa(ack: &str) -> &str {
    ack.split('\r')
        .find(|s| s.starts_with("MSA|"))
        .and_then(|s| s.split('|').nth(1))
        .unwrap_or("")
}

crate::on_both_databases_async!(an_extra_leading_start_byte_is_tolerated);

async fn an_extra_leading_start_byte_is_tolerated(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let address = app.start_mllp(CLINIC).await;
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut doubled = vec![kakari::mllp::START];
    doubled.extend(kakari::mllp::frame(&message("LEAD-1")));
    let ack = send(&mut stream, &doubled).await.unwrap();
    assert_eq!(msa(&ack), "AA", "{ack}");
    // The same message again is a duplicate of the stored one, not another.
    let ack = send(&mut stream, &kakari::mllp::frame(&message("LEAD-1")))
        .await
        .unwrap();
    assert_eq!(msa(&ack), "AA", "{ack}");
}

#[actix_web::test]
async fn unfinished_frames_share_one_budget() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let address = app
        .start_mllp_with(CLINIC, |s| {
            s.max_frame_bytes = 64 * 1024;
            s.max_buffered_bytes = 100 * 1024;
        })
        .await;
    // Two senders each hold 40 KiB of an unfinished frame: within the budget.
    let mut first = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut second = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut partial = vec![kakari::mllp::START];
    partial.extend(std::iter::repeat_n(b'A', 40 * 1024));
    first.write_all(&partial).await.unwrap();
    second.write_all(&partial).await.unwrap();
    // A third would take the total past 100 KiB: AR `mllp.busy`, connection closed.
    let mut third = tokio::net::TcpStream::connect(address).await.unwrap();
    let ack = send(&mut third, &partial)
        .await
        .expect("an AR before closing");
    assert_eq!(msa(&ack), "AR", "{ack}");
    assert!(ack.contains("mllp.busy"), "{ack}");
    let mut rest = Vec::new();
    let _ = third.read_to_end(&mut rest).await;
    // The second sender gives up; the first finishes its frame and is answered (the frame
    // is not HL7, so AR, but read whole and answered: nothing was cut off).
    drop(second);
    let ack = send(&mut first, &[kakari::mllp::END, kakari::mllp::CR])
        .await
        .unwrap();
    assert_eq!(msa(&ack), "AR", "{ack}");
    assert!(!ack.contains("mllp.busy"), "{ack}");
    // The budget is free again: a new sender's message is stored.
    let mut fourth = tokio::net::TcpStream::connect(address).await.unwrap();
    let ack = send(&mut fourth, &kakari::mllp::frame(&message("BUDGET-1")))
        .await
        .unwrap();
    assert_eq!(msa(&ack), "AA", "{ack}");
}

#[actix_web::test]
async fn a_large_frame_in_small_pieces_is_found() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let address = app
        .start_mllp_with(CLINIC, |s| s.max_frame_bytes = 8 * 1024 * 1024)
        .await;
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    // A valid message padded with a 4 MiB NTE comment, sent in 1 KiB pieces.
    let mut payload = message("LARGE-1");
    payload.extend(b"NTE|1||");
    payload.extend(std::iter::repeat_n(b'x', 4 * 1024 * 1024));
    payload.push(b'\r');
    let framed = kakari::mllp::frame(&payload);
    for piece in framed.chunks(1024) {
        stream.write_all(piece).await.unwrap();
    }
    let ack = read_ack(&mut stream).await.unwrap();
    assert_ne!(msa(&ack), "", "{ack}");
    assert!(!ack.contains("hl7.too_large"), "{ack}");
}

#[actix_web::test]
async fn over_tls_each_sender_is_its_certificate_s_client() {
    let pki = pki();
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let http = reqwest::Client::new();
    // Two sending systems of two institutions, each registered with its certificate.
    let clinic = pki.client_cert("clinic-emr");
    let pharmacy = pki.client_cert("pharmacy-system");
    let (clinic_id, _) = create_client(
        &app,
        &http,
        json!({"name": "clinic", "role": "emr", "facility": CLINIC, "certificate_sha256": clinic.sha256()}),
    )
    .await;
    let (pharmacy_id, _) = create_client(
        &app,
        &http,
        json!({"name": "pharmacy", "role": "pharmacy", "facility": "1341234567", "certificate_sha256": pharmacy.sha256()}),
    )
    .await;
    let config = kakari::config::Config {
        mllp_tls_client_ca: Some(pki.client_ca_path.clone()),
        tls_cert: Some(pki.cert_path.clone()),
        tls_key: Some(pki.key_path.clone()),
        ..(*app.state.config).clone()
    };
    let tls = kakari::tls::mllp_server_config(&config)
        .unwrap()
        .map(Arc::new);
    let settings = kakari::mllp::MllpSettings {
        tls,
        ..kakari::mllp::MllpSettings::default()
    };
    let address = kakari::mllp::start(
        app.state.clone(),
        kakari::mllp::MllpSender::ByCertificate,
        "127.0.0.1:0",
        settings,
    )
    .await
    .unwrap();
    let connect = |identity| {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(
            pki.client_config(kakari::tls::PROTOCOL_VERSIONS, identity),
        ));
        async move {
            let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
            connector
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
        }
    };
    for (leaf, control) in [(&clinic, "TLS-C-1"), (&pharmacy, "TLS-P-1")] {
        let mut stream = connect(Some(leaf)).await.unwrap();
        let ack = send(&mut stream, &kakari::mllp::frame(&message(control)))
            .await
            .unwrap();
        assert_eq!(msa(&ack), "AA", "{control}: {ack}");
    }
    // Each message is filed as its sender's client.
    let db = app.db().url().trim_start_matches("sqlite://").to_owned();
    let filed = |control: &str| -> i64 {
        rusqlite::Connection::open(&db)
            .unwrap()
            .query_row(
                "SELECT client_id FROM messages WHERE control_id = ?",
                [control],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(filed("TLS-C-1"), clinic_id);
    assert_eq!(filed("TLS-P-1"), pharmacy_id);
    // A certificate of the right CA that no client is registered with: AR, then closed.
    let stranger = pki.client_cert("stranger");
    let mut stream = connect(Some(&stranger)).await.unwrap();
    let ack = send(&mut stream, &kakari::mllp::frame(&message("TLS-X-1")))
        .await
        .unwrap();
    assert_eq!(msa(&ack), "AR", "{ack}");
    assert!(ack.contains("auth.certificate_unknown"), "{ack}");
    assert!(read_ack(&mut stream).await.is_none());
    // No certificate: the handshake (or the first read after it, in TLS 1.3) fails.
    let refused = match connect(None).await {
        Err(_) => true,
        Ok(mut stream) => send(&mut stream, &kakari::mllp::frame(&message("TLS-N-1")))
            .await
            .is_none(),
    };
    assert!(refused, "a connection without a certificate was served");
}
