//! The client side of an ingest's producer socket (`<runtime-dir>/ingest-<platform>.sock`):
//! newline-delimited JSON, one reply line per request line, in order.
//!
//! One connection per request: simple, and a dead or restarted ingest never leaves a stale
//! pooled connection behind. Every step is bounded by a timeout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shm_layout::Platform;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use uuid::Uuid;

/// How long a request to an ingest may take, connect to reply.
pub const INGEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest reply line accepted.
const MAX_REPLY: u64 = 8 * 1024;

/// The socket path of a platform's ingest.
pub fn socket_path(runtime_dir: &Path, platform: Platform) -> PathBuf {
    runtime_dir.join(format!("ingest-{}.sock", platform.slug()))
}

/// One request line.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestRequest<'a> {
    /// Always the session user's id, never a client's value.
    pub streamer_id: Uuid,
    /// Chatter name.
    pub user: &'a str,
    /// Message text.
    pub text: &'a str,
    /// Badges.
    pub is_vip: bool,
    /// Badges.
    pub is_sub: bool,
    /// Badges.
    pub is_mod: bool,
    /// `#rrggbb`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
struct Reply {
    ok: bool,
    #[serde(default)]
    id: Option<Uuid>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// What the ingest said, or why it could not be asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Queued in the ring under this id.
    Accepted(Uuid),
    /// `invalid`: the ingest's sentence.
    Invalid(String),
    /// `too_large`: the ingest's sentence.
    TooLarge(String),
    /// `queue_full`: the ring is full.
    QueueFull(String),
    /// `unavailable`, no socket, refused, or no answer in time.
    NotRunning(String),
    /// The reply made no sense.
    Protocol(String),
}

/// Sends one message to a platform's ingest and returns its verdict.
pub async fn send(
    runtime_dir: &Path,
    platform: Platform,
    req: &IngestRequest<'_>,
) -> IngestOutcome {
    let path = socket_path(runtime_dir, platform);
    match tokio::time::timeout(INGEST_TIMEOUT, exchange(&path, req)).await {
        Ok(Ok(Ok(reply))) => classify(reply),
        Ok(Ok(Err(garbage))) => IngestOutcome::Protocol(garbage),
        Ok(Err(e)) => {
            tracing::debug!(socket = %path.display(), error = %e, "ingest socket unusable");
            IngestOutcome::NotRunning(e.to_string())
        }
        Err(_) => {
            IngestOutcome::NotRunning(format!("no answer within {} s", INGEST_TIMEOUT.as_secs()))
        }
    }
}

/// `Err` when the socket is unusable; `Ok(Err(_))` when the reply line does not parse.
async fn exchange(path: &Path, req: &IngestRequest<'_>) -> std::io::Result<Result<Reply, String>> {
    let mut stream = UnixStream::connect(path).await?;
    // Serialising strings, bools and a UUID cannot fail.
    let mut line = serde_json::to_vec(req).expect("request serialises");
    line.push(b'\n');
    stream.write_all(&line).await?;
    let mut reader = BufReader::new(stream).take(MAX_REPLY);
    let mut reply = String::new();
    reader.read_line(&mut reply).await?;
    if reply.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the ingest closed the connection without answering",
        ));
    }
    Ok(serde_json::from_str(reply.trim_end()).map_err(|e| format!("{e}: {:?}", reply.trim_end())))
}

fn classify(r: Reply) -> IngestOutcome {
    if r.ok {
        return match r.id {
            Some(id) => IngestOutcome::Accepted(id),
            None => IngestOutcome::Protocol("an ok reply without an id".into()),
        };
    }
    let sentence = r
        .error
        .unwrap_or_else(|| "the ingest refused the message".into());
    match r.code.as_deref() {
        Some("invalid") => IngestOutcome::Invalid(sentence),
        Some("too_large") => IngestOutcome::TooLarge(sentence),
        Some("queue_full") => IngestOutcome::QueueFull(sentence),
        Some("unavailable") => IngestOutcome::NotRunning(sentence),
        other => IngestOutcome::Protocol(format!("unknown code {other:?}: {sentence}")),
    }
}

/// Whether a platform's ingest accepts connections on its socket (for `/readyz`).
pub async fn probe(runtime_dir: &Path, platform: Platform) -> bool {
    let path = socket_path(runtime_dir, platform);
    matches!(
        tokio::time::timeout(Duration::from_millis(250), UnixStream::connect(&path)).await,
        Ok(Ok(_))
    )
}
