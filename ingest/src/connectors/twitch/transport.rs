//! The byte pipes IRC lines travel through: `irc://host:port` (plain TCP), `ircs://host:port`
//! (TLS, rustls with the bundled webpki roots: nothing is fetched at run time), `ws://` and
//! `wss://` (one or more `\r\n`-separated lines per text frame). [`Transport::next_line`] is
//! cancel-safe, so a connection can `select!` on it next to its timers.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest line kept; a longer one is skipped whole (Twitch's lines are a few KiB; a 64 KiB line
/// still passes).
pub const MAX_LINE: usize = 256 * 1024;

/// What the server sent next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// One line, without its `\r\n` (invalid UTF-8 replaced).
    Line(String),
    /// A line longer than [`MAX_LINE`] was skipped.
    TooLong,
}

/// A plain or TLS TCP stream.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A connected IRC transport.
pub enum Transport {
    /// Plain or TLS TCP: lines end with `\n` (a read may hold several or cut one).
    Tcp {
        /// The stream.
        stream: Box<dyn Stream>,
        /// Bytes read and not yet returned as lines.
        buf: Vec<u8>,
        /// Skipping the rest of an over-long line.
        skipping: bool,
    },
    /// WebSocket: text frames of one or more lines.
    Ws {
        /// The socket.
        ws: Box<WebSocketStream<MaybeTlsStream<TcpStream>>>,
        /// Lines of the last frames not yet returned.
        pending: VecDeque<Incoming>,
    },
}

/// Why a connection could not be opened. The `Display` is a sentence for the channel's detail.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not one of the four supported forms.
    #[error(
        "the Twitch IRC address {0:?} is not a ws://, wss://, irc:// or ircs:// URL with a host"
    )]
    BadUrl(String),
    /// TCP, TLS or the WebSocket handshake failed.
    #[error("could not connect to Twitch chat: {0}")]
    Io(String),
    /// It took too long.
    #[error("connecting to Twitch chat timed out")]
    Timeout,
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots =
                rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

impl Transport {
    /// Opens `url` within `timeout`.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Transport, ConnectError> {
        tokio::time::timeout(timeout, Self::open(url))
            .await
            .map_err(|_| ConnectError::Timeout)?
    }

    async fn open(url: &str) -> Result<Transport, ConnectError> {
        let parsed = url::Url::parse(url).map_err(|_| ConnectError::BadUrl(url.into()))?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| ConnectError::BadUrl(url.into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let io_err = |e: &dyn std::fmt::Display| ConnectError::Io(e.to_string());
        match parsed.scheme() {
            "ws" | "wss" => {
                let config = WebSocketConfig::default()
                    .max_message_size(Some(4 * MAX_LINE))
                    .max_frame_size(Some(4 * MAX_LINE));
                let connector = (parsed.scheme() == "wss")
                    .then(|| tokio_tungstenite::Connector::Rustls(tls_config()));
                let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(
                    url,
                    Some(config),
                    true,
                    connector,
                )
                .await
                .map_err(|e| io_err(&e))?;
                Ok(Transport::Ws {
                    ws: Box::new(ws),
                    pending: VecDeque::new(),
                })
            }
            "irc" | "ircs" => {
                let tls = parsed.scheme() == "ircs";
                let port = parsed.port().unwrap_or(if tls { 6697 } else { 6667 });
                let tcp = TcpStream::connect((host.as_str(), port))
                    .await
                    .map_err(|e| io_err(&e))?;
                let _ = tcp.set_nodelay(true);
                let stream: Box<dyn Stream> = if tls {
                    let name = rustls::pki_types::ServerName::try_from(host.clone())
                        .map_err(|_| ConnectError::BadUrl(url.into()))?;
                    let tls = tokio_rustls::TlsConnector::from(tls_config())
                        .connect(name, tcp)
                        .await
                        .map_err(|e| io_err(&e))?;
                    Box::new(tls)
                } else {
                    Box::new(tcp)
                };
                Ok(Transport::Tcp {
                    stream,
                    buf: Vec::with_capacity(16 * 1024),
                    skipping: false,
                })
            }
            _ => Err(ConnectError::BadUrl(url.into())),
        }
    }

    /// The next line; `None` when the server closed the connection. Cancel-safe: bytes already
    /// read stay buffered for the next call.
    pub async fn next_line(&mut self) -> io::Result<Option<Incoming>> {
        match self {
            Transport::Tcp {
                stream,
                buf,
                skipping,
            } => loop {
                if let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                    let was_skipping = std::mem::replace(skipping, false);
                    let mut line: Vec<u8> = buf.drain(..=nl).collect();
                    if was_skipping {
                        return Ok(Some(Incoming::TooLong));
                    }
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    if line.is_empty() {
                        continue;
                    }
                    return Ok(Some(Incoming::Line(into_string(line))));
                }
                if buf.len() > MAX_LINE {
                    buf.clear();
                    *skipping = true;
                }
                let mut chunk = [0u8; 16 * 1024];
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    // A line cut by the close is incomplete: dropped, never half-parsed.
                    buf.clear();
                    return Ok(None);
                }
                buf.extend_from_slice(&chunk[..n]);
            },
            Transport::Ws { ws, pending } => loop {
                if let Some(l) = pending.pop_front() {
                    return Ok(Some(l));
                }
                let text = match ws.next().await {
                    None => return Ok(None),
                    Some(Err(e)) => return Err(io::Error::other(e)),
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                    Some(Ok(Message::Close(_))) => return Ok(None),
                    Some(Ok(_)) => continue, // ping/pong frames: tungstenite answers pings
                };
                for l in text.split('\n') {
                    let l = l.strip_suffix('\r').unwrap_or(l);
                    if l.len() > MAX_LINE {
                        pending.push_back(Incoming::TooLong);
                    } else if !l.is_empty() {
                        pending.push_back(Incoming::Line(l.to_owned()));
                    }
                }
            },
        }
    }

    /// Sends one line (the `\r\n` is added for TCP; a WebSocket frame carries it without).
    pub async fn send_line(&mut self, line: &str) -> io::Result<()> {
        match self {
            Transport::Tcp { stream, .. } => {
                let mut bytes = Vec::with_capacity(line.len() + 2);
                bytes.extend_from_slice(line.as_bytes());
                bytes.extend_from_slice(b"\r\n");
                stream.write_all(&bytes).await?;
                stream.flush().await
            }
            Transport::Ws { ws, .. } => ws
                .send(Message::text(line.to_owned()))
                .await
                .map_err(io::Error::other),
        }
    }

    /// Closes politely (best effort, bounded by the caller).
    pub async fn close(&mut self) {
        match self {
            Transport::Tcp { stream, .. } => {
                let _ = stream.shutdown().await;
            }
            Transport::Ws { ws, .. } => {
                let _ = SinkExt::close(&mut **ws).await;
            }
        }
    }
}

fn into_string(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}
