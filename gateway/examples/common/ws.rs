//! Opening subscribers: a dashboard or overlay socket with small buffers (so that 10,000 of them
//! cost the driver little), from a chosen loopback source address, joined to the room.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::tally::{Kind, Tally};

/// A subscriber's socket.
pub type Ws = WebSocketStream<TcpStream>;

/// Connections per loopback source address before the next one is used. One source address
/// has ~28,000 ephemeral ports (32768–60999) towards one gateway address, but `connect` looks
/// for a free one among the even ports first (~14,000) and the search grows costly as they fill
/// (measured: 15,000 sockets from one address took 7–13 s of kernel time to connect, most of it
/// in the port search), so a few thousand per address keeps the driver's cost flat.
pub const PER_SOURCE: usize = 5_000;

/// Which socket a subscriber opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SocketKind {
    /// `/api/socket` with the session cookie, joined by `streamerId`.
    Dashboard,
    /// `/api/overlay/socket`, joined by an overlay key.
    Overlay,
}

impl SocketKind {
    /// `dashboard` or `overlay`, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SocketKind::Dashboard => "dashboard",
            SocketKind::Overlay => "overlay",
        }
    }
}

impl std::fmt::Display for SocketKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where and how subscribers connect and join.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port` of the gateway.
    pub addr: String,
    /// Dashboard or overlay.
    pub kind: SocketKind,
    /// The streamer's session cookie (dashboard sockets).
    pub cookie: String,
    /// The room.
    pub streamer: String,
    /// The overlay key (overlay sockets).
    pub key: Option<String>,
}

impl Target {
    /// The join command, with `since` when resuming.
    pub fn join_frame(&self, since: Option<&str>) -> String {
        let since = since.map_or(String::new(), |s| format!(r#","since":"{s}""#));
        match (self.kind, &self.key) {
            (SocketKind::Overlay, Some(key)) => {
                format!(r#"{{"type":"join","key":"{key}"{since}}}"#)
            }
            _ => format!(
                r#"{{"type":"join","streamerId":"{}"{since}}}"#,
                self.streamer
            ),
        }
    }
}

/// Why a subscriber could not open or join.
#[derive(Debug)]
pub enum OpenError {
    /// The TCP connect failed (refused while the gateway is down, out of ports or files…).
    Connect(std::io::Error),
    /// The upgrade was refused with this HTTP status (503: too many connections).
    Status(u16),
    /// The WebSocket handshake or the join failed otherwise.
    Ws(String),
    /// The socket closed before `joined`, with this code and reason.
    Closed(Option<(u16, String)>),
    /// No `joined` in time.
    Timeout,
}

impl OpenError {
    /// A short label to count errors by.
    pub fn kind(&self) -> String {
        match self {
            // EMFILE and friends have no stable kind: their OS text says more.
            OpenError::Connect(e) if e.raw_os_error().is_some() => format!("connect: {e}"),
            OpenError::Connect(e) => format!("connect: {}", e.kind()),
            OpenError::Status(s) => format!("upgrade refused: HTTP {s}"),
            OpenError::Ws(e) => format!("websocket: {e}"),
            OpenError::Closed(Some((c, _))) => format!("closed {c} before joined"),
            OpenError::Closed(None) => "closed before joined".into(),
            OpenError::Timeout => "no joined in time".into(),
        }
    }
}

/// Small client buffers: tungstenite's defaults (a 128 KiB read buffer, allocated eagerly) would
/// make the driver, not the gateway, the memory hog. It also zero-fills the free part of the read
/// buffer before every read (6 % of the driver's time at 1M frames/s with 8 KiB), so 4 KiB: a
/// frame that does not fit (≤ ~3.8 KiB here) is read in two.
pub fn client_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
}

/// The source address of subscriber `i` of `n`: the default one up to [`PER_SOURCE`]
/// subscribers, else spread over 127.0.0.2, 127.0.0.3, … (all of 127/8 is loopback on Linux);
/// such a socket is bound to the address before it connects.
pub fn source_for(i: usize, n: usize) -> Option<Ipv4Addr> {
    let sources = n.div_ceil(PER_SOURCE);
    (sources > 1).then(|| Ipv4Addr::new(127, 0, 0, 2 + (i % sources) as u8))
}

/// Opens the socket (TCP from `source`, then the upgrade) without joining.
pub async fn open(t: &Target, source: Option<Ipv4Addr>) -> Result<Ws, OpenError> {
    let to: SocketAddr = t.addr.parse().expect("the gateway address");
    let sock = TcpSocket::new_v4().map_err(OpenError::Connect)?;
    if let Some(ip) = source {
        sock.bind(SocketAddr::from((ip, 0)))
            .map_err(OpenError::Connect)?;
    }
    let tcp = sock.connect(to).await.map_err(OpenError::Connect)?;
    tcp.set_nodelay(true).map_err(OpenError::Connect)?;
    let path = match t.kind {
        SocketKind::Dashboard => "/api/socket",
        SocketKind::Overlay => "/api/overlay/socket",
    };
    let mut req = format!("ws://{}{path}", t.addr)
        .into_client_request()
        .expect("a valid request");
    if t.kind == SocketKind::Dashboard {
        req.headers_mut()
            .insert("cookie", t.cookie.parse().expect("a cookie header"));
    }
    use tokio_tungstenite::tungstenite::Error;
    match tokio_tungstenite::client_async_with_config(req, tcp, Some(client_config())).await {
        Ok((ws, _)) => Ok(ws),
        Err(Error::Http(r)) => Err(OpenError::Status(r.status().as_u16())),
        Err(Error::Io(e)) => Err(OpenError::Connect(e)),
        Err(e) => Err(OpenError::Ws(e.to_string())),
    }
}

/// Opens the socket and joins (with `since` when resuming), within `limit`; frames before
/// `joined` are counted into `tally` (there are none but errors in practice).
pub async fn open_and_join(
    t: &Target,
    source: Option<Ipv4Addr>,
    since: Option<&str>,
    limit: Duration,
    tally: &mut Tally,
    clock: Instant,
) -> Result<Ws, OpenError> {
    let go = async {
        let mut ws = open(t, source).await?;
        ws.send(Message::text(t.join_frame(since)))
            .await
            .map_err(|e| OpenError::Ws(e.to_string()))?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(f))) => {
                    if tally.frame(&f, clock) == Kind::Joined {
                        return Ok(ws);
                    }
                }
                Some(Ok(Message::Close(c))) => {
                    return Err(OpenError::Closed(
                        c.map(|c| (u16::from(c.code), c.reason.to_string())),
                    ))
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(OpenError::Ws(e.to_string())),
                None => return Err(OpenError::Closed(None)),
            }
        }
    };
    tokio::time::timeout(limit, go)
        .await
        .unwrap_or(Err(OpenError::Timeout))
}
