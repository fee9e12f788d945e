//! The client side of an ingest's producer socket (`<runtime-dir>/ingest-<platform>.sock`):
//! newline-delimited JSON, one reply line per request line, in order.
//!
//! Connections are pooled ([`IngestPool`]); a stale one (the ingest restarted) is detected when
//! the write fails and replaced, and a written request is never retried. Every exchange is
//! bounded by a timeout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shm_layout::protocol::ReplyCode;
use shm_layout::Platform;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use uuid::Uuid;

/// How long a request to an ingest may take, connect to reply. Above ingest's slowest honest
/// answer: `unavailable` after 5 lock attempts of 1500 ms with up to 70 ms between (≈ 7.8 s), and
/// `queue_full` after `--full-wait-ms` (2 s by default). Giving up earlier would answer "not
/// running" for a message that may still land in the ring.
pub const INGEST_TIMEOUT: Duration = Duration::from_secs(10);
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

/// Idle connections kept per platform.
const MAX_IDLE: usize = 32;

type Conn = BufReader<UnixStream>;

/// A small pool of idle connections to each ingest: a connection that answered cleanly is reused
/// for the next request, so a burst of simulator posts does not pay a connect (and the ingest a
/// connection set-up) per message. Bounded to [`MAX_IDLE`] per platform.
pub struct IngestPool {
    runtime_dir: PathBuf,
    idle: [std::sync::Mutex<Vec<Conn>>; Platform::ALL.len()],
}

/// How one exchange failed.
enum Failure {
    /// Nothing reached the ingest (connect or write failed): safe to retry.
    NotSent(std::io::Error),
    /// The request was written but no reply came: the message may or may not be queued.
    NoReply(std::io::Error),
    /// The reply line does not parse.
    Garbage(String),
}

impl IngestPool {
    /// An empty pool for the sockets in `runtime_dir`.
    pub fn new(runtime_dir: &Path) -> IngestPool {
        IngestPool {
            runtime_dir: runtime_dir.to_owned(),
            idle: Default::default(),
        }
    }

    fn take(&self, platform: Platform) -> Option<Conn> {
        self.idle[platform.index()]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
    }

    fn give_back(&self, platform: Platform, conn: Conn) {
        let mut idle = self.idle[platform.index()]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// Sends one message to a platform's ingest and returns its verdict. A pooled connection that
    /// turns out dead before the request was written (the ingest restarted) is replaced by a
    /// fresh one; once a request was written it is never sent twice.
    pub async fn send(&self, platform: Platform, req: &IngestRequest<'_>) -> IngestOutcome {
        let path = socket_path(&self.runtime_dir, platform);
        // Serialising strings, bools and a UUID cannot fail.
        let mut line = serde_json::to_vec(req).expect("request serialises");
        line.push(b'\n');
        let attempt = async {
            if let Some(conn) = self.take(platform) {
                match exchange(conn, &line).await {
                    Err((Failure::NotSent(_), _)) => {} // stale: fall through to a fresh one
                    other => return other,
                }
            }
            let conn = UnixStream::connect(&path)
                .await
                .map_err(|e| (Failure::NotSent(e), None))?;
            exchange(BufReader::new(conn), &line).await
        };
        match tokio::time::timeout(INGEST_TIMEOUT, attempt).await {
            Ok(Ok((reply, conn))) => {
                self.give_back(platform, conn);
                classify(reply)
            }
            Ok(Err((Failure::Garbage(g), _))) => IngestOutcome::Protocol(g),
            Ok(Err((Failure::NotSent(e) | Failure::NoReply(e), _))) => {
                tracing::debug!(socket = %path.display(), error = %e, "ingest socket unusable");
                IngestOutcome::NotRunning(e.to_string())
            }
            Err(_) => IngestOutcome::NotRunning(format!(
                "no answer within {} s",
                INGEST_TIMEOUT.as_secs()
            )),
        }
    }
}

/// One request line out, one reply line back; the connection is returned for reuse on success.
async fn exchange(mut conn: Conn, line: &[u8]) -> Result<(Reply, Conn), (Failure, Option<Conn>)> {
    if let Err(e) = conn.get_mut().write_all(line).await {
        return Err((Failure::NotSent(e), None));
    }
    let mut reply = String::new();
    match (&mut conn).take(MAX_REPLY).read_line(&mut reply).await {
        Ok(0) => {
            return Err((
                Failure::NoReply(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the ingest closed the connection without answering",
                )),
                None,
            ))
        }
        Ok(_) => {}
        Err(e) => return Err((Failure::NoReply(e), None)),
    }
    match serde_json::from_str(reply.trim_end()) {
        Ok(r) => Ok((r, conn)),
        Err(e) => Err((
            Failure::Garbage(format!("{e}: {:?}", reply.trim_end())),
            None,
        )),
    }
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
    match r.code.as_deref().and_then(ReplyCode::from_wire) {
        Some(ReplyCode::Invalid) => IngestOutcome::Invalid(sentence),
        Some(ReplyCode::TooLarge) => IngestOutcome::TooLarge(sentence),
        Some(ReplyCode::QueueFull) => IngestOutcome::QueueFull(sentence),
        Some(ReplyCode::Unavailable) => IngestOutcome::NotRunning(sentence),
        None => IngestOutcome::Protocol(format!("unknown code {:?}: {sentence}", r.code)),
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
