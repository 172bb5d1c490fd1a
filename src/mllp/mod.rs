//! The MLLP listener: HL7 v2 over TCP (or TLS) with the standard framing
//! (`0x0B` message `0x1C 0x0D`), one acknowledgement per frame, sent only after the message
//! was durably stored.
//!
//! Who sends: on plain MLLP (and TLS without client certificates) every message is
//! processed as the client configured in `mllp_client_id` (an `emr` or `pharmacy` client
//! whose institution is the sender). With `mllp_tls_client_ca`, every connection must
//! present a client certificate, and its SHA-256 fingerprint names the client exactly as
//! for HTTPS mTLS (`auth::Authenticator`): each sending system is its own client. A frame
//! from a certificate that is not registered to an active emr/pharmacy client is answered
//! AR with the reason and the connection closed.
//!
//! Limits: many connections at once (up to `mllp_max_connections`); a connection idle for
//! `mllp_idle_timeout_secs` is closed; a frame larger than `mllp_max_frame_bytes` is
//! refused and the connection closed (its end cannot be found reliably); the unfinished
//! frames of all connections together stay under `mllp_max_buffered_bytes` (`budget`).
//! Frames are found incrementally (`framer`): each byte is looked at once.

pub mod budget;
pub mod framer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::app::AppState;
use crate::auth::{Caller, Role};
use crate::codec::hl7v2::{self, Charset, Rejected};
use crate::error::{ErrorCode, Issue, Problem};
use crate::service::Ctx;
use crate::service::hl7;
use crate::tls::PeerCertificate;

pub use budget::BufferBudget;
pub use framer::{CR, END, Framer, START, frame, next_frame};

/// Listener settings.
#[derive(Clone)]
pub struct MllpSettings {
    pub max_frame_bytes: usize,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// Most bytes of unfinished frames over all connections.
    pub max_buffered_bytes: usize,
    /// TLS (with or without client certificates); plain TCP when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for MllpSettings {
    fn default() -> Self {
        Self {
            max_frame_bytes: 16 * 1024 * 1024,
            idle_timeout: Duration::from_secs(300),
            max_connections: 256,
            max_buffered_bytes: 64 * 1024 * 1024,
            tls: None,
        }
    }
}

/// Whom the messages of a connection are filed as.
#[derive(Debug, Clone)]
pub enum MllpSender {
    /// Every connection is this client (`mllp_client_id`).
    Configured(Box<Caller>),
    /// Each connection is the client its certificate is registered to.
    ByCertificate,
}

/// Binds and serves until the runtime stops. Returns the bound address.
pub async fn start(
    state: Arc<AppState>,
    sender: MllpSender,
    address: &str,
    settings: MllpSettings,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(address).await?;
    let local = listener.local_addr()?;
    let permits = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let budget = BufferBudget::new(settings.max_buffered_bytes);
    let acceptor = settings.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    actix_web::rt::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                tracing::warn!("MLLP connection refused: too many connections");
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let connection = Connection {
                state: state.clone(),
                sender: sender.clone(),
                settings: settings.clone(),
                budget: budget.clone(),
            };
            let acceptor = acceptor.clone();
            actix_web::rt::spawn(async move {
                match acceptor {
                    None => connection.serve(stream, None).await,
                    Some(acceptor) => {
                        let handshake = tokio::time::timeout(
                            connection.settings.idle_timeout,
                            acceptor.accept(stream),
                        );
                        match handshake.await {
                            Ok(Ok(tls)) => {
                                let certificate = tls
                                    .get_ref()
                                    .1
                                    .peer_certificates()
                                    .and_then(|c| c.first())
                                    .map(|c| PeerCertificate::of(c.as_ref()));
                                connection.serve(tls, certificate).await;
                            }
                            Ok(Err(_)) | Err(_) => {
                                tracing::info!("MLLP TLS handshake failed or timed out");
                            }
                        }
                    }
                }
                drop(permit);
            });
        }
    });
    Ok(local)
}

/// One accepted connection.
struct Connection {
    state: Arc<AppState>,
    sender: MllpSender,
    settings: MllpSettings,
    budget: Arc<BufferBudget>,
}

/// An AR for a frame whose messages could not be read (too large, over the budget).
fn refusal_ack(code: ErrorCode, message: &str) -> Vec<u8> {
    let rejected = Rejected {
        issues: vec![Issue::error(code, "frame", message)],
        charset: Charset::Ascii,
    };
    let ack = hl7v2::reject_unreadable(&rejected, "KAKARI-MLLP", time::OffsetDateTime::now_utc());
    frame(&ack.to_bytes())
}

impl Connection {
    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
        self,
        mut stream: S,
        certificate: Option<PeerCertificate>,
    ) {
        let mut framer = Framer::new();
        let mut share = self.budget.share();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            while let Some(message) = framer.next_frame() {
                // The frame being processed still counts until it is answered.
                share.hold(framer.buffered() + message.len());
                let (reply, keep_open) = self.answer(&message, certificate.as_ref()).await;
                drop(message);
                share.hold(framer.buffered());
                if stream.write_all(&frame(&reply)).await.is_err() || !keep_open {
                    return;
                }
            }
            if framer.buffered() > self.settings.max_frame_bytes {
                tracing::warn!(
                    bytes = framer.buffered(),
                    "MLLP frame too large; connection closed"
                );
                let ack = refusal_ack(ErrorCode::Hl7TooLarge, "the frame exceeds the size limit");
                let _ = stream.write_all(&ack).await;
                return;
            }
            match tokio::time::timeout(self.settings.idle_timeout, stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                Ok(Ok(n)) => {
                    framer.push(&chunk[..n]);
                    if !share.hold(framer.buffered()) {
                        tracing::warn!(
                            held = self.budget.used(),
                            "MLLP buffer budget exhausted; connection refused"
                        );
                        drop(framer);
                        share.hold(0);
                        let ack = refusal_ack(
                            ErrorCode::MllpBusy,
                            "the gateway holds too many unfinished frames; send again later",
                        );
                        let _ = stream.write_all(&ack).await;
                        let _ = stream.shutdown().await;
                        return;
                    }
                }
            }
        }
    }

    /// The acknowledgement of one frame, and whether the connection stays open.
    async fn answer(
        &self,
        message: &[u8],
        certificate: Option<&PeerCertificate>,
    ) -> (Vec<u8>, bool) {
        let caller = match self.caller(certificate).await {
            Ok(caller) => caller,
            Err(problem) => {
                tracing::warn!(code = %problem.code, "MLLP sender not accepted; connection closed");
                return (hl7::refuse_all(message, first_issue(&problem)), false);
            }
        };
        let ctx = Ctx {
            caller,
            request_id: uuid::Uuid::new_v4().to_string(),
        };
        match hl7::receive(&self.state, &ctx, message).await {
            Ok(reply) => (reply.bytes, true),
            Err(problem) => {
                // Not stored (client misconfigured): AR for each message, MSA-2 its own
                // MSH-10.
                tracing::error!(code = %problem.code, "MLLP message not stored");
                (hl7::refuse_all(message, first_issue(&problem)), true)
            }
        }
    }

    /// The client the frames of this connection are filed as (looked up per frame, so a
    /// revoked client stops at its next message).
    async fn caller(&self, certificate: Option<&PeerCertificate>) -> Result<Caller, Problem> {
        match &self.sender {
            MllpSender::Configured(caller) => Ok(caller.as_ref().clone()),
            MllpSender::ByCertificate => {
                let certificate = certificate.ok_or_else(|| {
                    Problem::new(
                        ErrorCode::CertificateRequired,
                        "MSH",
                        "MLLP senders present a client certificate",
                    )
                })?;
                let caller = self
                    .state
                    .auth
                    .authenticate_request(None, Some(certificate))
                    .await?
                    .caller;
                check_sender(caller)
            }
        }
    }
}

fn first_issue(problem: &Problem) -> Issue {
    problem
        .issues
        .first()
        .cloned()
        .unwrap_or_else(|| Issue::error(problem.code, "MSH", problem.code.title()))
}

/// MLLP senders are EMRs and pharmacies bound to their institution.
pub fn check_sender(caller: Caller) -> Result<Caller, Problem> {
    match (caller.role, &caller.facility) {
        (Role::Emr | Role::Pharmacy, Some(_)) => Ok(caller),
        _ => Err(Problem::new(
            ErrorCode::Forbidden,
            "MSH",
            "MLLP senders are emr or pharmacy clients bound to an institution",
        )),
    }
}
