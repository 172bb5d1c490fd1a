//! The MLLP listener: HL7 v2 over TCP with the standard framing
//! (`0x0B` message `0x1C 0x0D`), one acknowledgement per frame, sent only after the message
//! was durably stored.
//!
//! MLLP carries no credentials: every message on the listener is processed as the client
//! configured in `mllp_client_id` (an `emr` or `pharmacy` client whose institution is the
//! sender). Many connections are served at once (up to `mllp_max_connections`); a
//! connection idle for `mllp_idle_timeout_secs` is closed; a frame larger than
//! `mllp_max_frame_bytes` is refused and the connection closed (its end cannot be found
//! reliably).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::app::AppState;
use crate::auth::Caller;
use crate::codec::hl7v2::{self, Charset, Rejected};
use crate::error::{ErrorCode, Issue};
use crate::service::Ctx;
use crate::service::hl7;

pub const START: u8 = 0x0b;
pub const END: u8 = 0x1c;
pub const CR: u8 = 0x0d;

/// Wraps a payload in MLLP framing.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 3);
    out.push(START);
    out.extend_from_slice(payload);
    out.extend_from_slice(&[END, CR]);
    out
}

/// Finds the first complete frame in `buffer`: `(payload range, bytes consumed)`.
/// Bytes before a start byte are discarded (noise between frames).
pub fn next_frame(buffer: &[u8]) -> Option<(std::ops::Range<usize>, usize)> {
    let start = buffer.iter().position(|&b| b == START)?;
    let rest = buffer.get(start + 1..)?;
    let end = rest.windows(2).position(|w| w == [END, CR])?;
    Some((start + 1..start + 1 + end, start + 1 + end + 2))
}

/// Listener settings.
#[derive(Debug, Clone)]
pub struct MllpSettings {
    pub max_frame_bytes: usize,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Binds and serves until the runtime stops. Returns the bound address.
pub async fn start(
    state: Arc<AppState>,
    caller: Caller,
    address: &str,
    settings: MllpSettings,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(address).await?;
    let local = listener.local_addr()?;
    let permits = Arc::new(Semaphore::new(settings.max_connections.max(1)));
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
            let (state, caller, settings) = (state.clone(), caller.clone(), settings.clone());
            actix_web::rt::spawn(async move {
                serve_connection(state, caller, stream, settings).await;
                drop(permit);
            });
        }
    });
    Ok(local)
}

async fn serve_connection(
    state: Arc<AppState>,
    caller: Caller,
    mut stream: TcpStream,
    settings: MllpSettings,
) {
    let _ = stream.set_nodelay(true);
    let mut buffer: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        while let Some((payload, consumed)) = next_frame(&buffer) {
            let message = buffer[payload].to_vec();
            buffer.drain(..consumed);
            let ctx = Ctx {
                caller: caller.clone(),
                request_id: uuid::Uuid::new_v4().to_string(),
            };
            let reply = match hl7::receive(&state, &ctx, &message).await {
                Ok(reply) => reply.bytes,
                Err(problem) => {
                    // Not stored (client misconfigured): AR for each message, MSA-2 its own
                    // MSH-10.
                    tracing::error!(code = %problem.code, "MLLP message not stored");
                    let issue =
                        problem.issues.first().cloned().unwrap_or_else(|| {
                            Issue::error(problem.code, "MSH", problem.code.title())
                        });
                    hl7::refuse_all(&message, issue)
                }
            };
            if stream.write_all(&frame(&reply)).await.is_err() {
                return;
            }
        }
        if buffer.len() > settings.max_frame_bytes {
            tracing::warn!(
                bytes = buffer.len(),
                "MLLP frame too large; connection closed"
            );
            let rejected = Rejected {
                issues: vec![Issue::error(
                    ErrorCode::Hl7TooLarge,
                    "frame",
                    "the frame exceeds the size limit",
                )],
                charset: Charset::Ascii,
            };
            let ack =
                hl7v2::reject_unreadable(&rejected, "KAKARI-MLLP", time::OffsetDateTime::now_utc());
            let _ = stream.write_all(&frame(&ack.to_bytes())).await;
            return;
        }
        match tokio::time::timeout(settings.idle_timeout, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
            Ok(Ok(n)) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_found_across_noise_and_partial_input() {
        let mut buffer = b"noise".to_vec();
        buffer.extend(frame(b"MSH|a"));
        buffer.extend(&frame(b"MSH|b")[..4]);
        let (range, consumed) = next_frame(&buffer).unwrap();
        assert_eq!(&buffer[range], b"MSH|a");
        let rest = &buffer[consumed..];
        assert!(next_frame(rest).is_none());
        assert!(next_frame(b"").is_none());
        assert!(next_frame(&[START, b'x', END]).is_none());
    }
}
