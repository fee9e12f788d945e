//! Loopback Kick peers, all on 127.0.0.1:0:
//! - an HTTP server playing both the website (`GET /api/v2/channels/<slug>`: 200 JSON, the
//!   Cloudflare 403 page, or a hang) and the realtime API (`POST …/auth/connection` → a token,
//!   `POST …/channels/<id>/chat/connection` → the websocket URL), counting calls and client ids;
//! - a websocket server for both feeds (`/connection/websocket` for Centrifugo, `/app/<key>` for
//!   Pusher) that refuses an upgrade without `Origin: https://kick.com` (403) and hands each
//!   accepted connection to the test as a [`WsConn`], which scripts the protocol: read what the
//!   client sent, send frames (pushes, `{}` pings, batched lines), close with a code.
//!
//! The HTTP side is hand-written (a request line, headers, a `Content-Length` body) so a test can
//! make it hang or answer anything.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// How the website answers a channel lookup.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// 200 with the channel object.
    Ok {
        /// `id`.
        channel_id: u64,
        /// `chatroom.id`.
        chatroom_id: u64,
    },
    /// 403 with Cloudflare's "Just a moment..." page.
    Cloudflare,
    /// Never answers (the client's timeout fires).
    Hang,
    /// 404.
    NotFound,
}

/// What the peers saw, for assertions.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Slugs looked up, in order.
    pub lookups: Vec<String>,
    /// `client_id` of each token request, in order.
    pub token_clients: Vec<String>,
    /// (channel id, client id) of each connection request.
    pub connection_calls: Vec<(u64, String)>,
    /// Websocket upgrades refused for a wrong or missing Origin.
    pub refused_origin: u32,
    /// Side feeds (`chatroom_<id>`, `channel_<id>`) subscribed, in order. The peer confirms
    /// them itself, so a test's connection sees only the chat feeds (`chatrooms.<id>.v2`).
    pub side_subscribes: Vec<String>,
    /// Side feeds unsubscribed, in order.
    pub side_unsubscribes: Vec<String>,
}

#[derive(Default)]
struct Shared {
    lookups: HashMap<String, Lookup>,
    seen: Seen,
    token_status: Option<u16>,
}

/// The running peers. Dropping it stops nothing by itself; the tasks end with the runtime.
pub struct KickPeer {
    /// `--kick-web-url`.
    pub web_url: String,
    /// `--kick-realtime-api-url`.
    pub api_url: String,
    /// The Centrifugo websocket URL the connection call hands out.
    pub ws_url: String,
    /// `--kick-pusher-url`.
    pub pusher_url: String,
    shared: Arc<Mutex<Shared>>,
    conns: tokio::sync::Mutex<mpsc::Receiver<WsConn>>,
}

/// The Cloudflare challenge page (fixture-shaped).
pub const CLOUDFLARE_PAGE: &str = "<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title></head><body><noscript>Enable JavaScript and cookies to continue</noscript><script>window._cf_chl_opt={cType:'managed'}</script></body></html>";

impl KickPeer {
    /// Starts both servers on the current tokio runtime.
    pub async fn start() -> std::io::Result<KickPeer> {
        let http = TcpListener::bind("127.0.0.1:0").await?;
        let ws = TcpListener::bind("127.0.0.1:0").await?;
        let (http_addr, ws_addr) = (http.local_addr()?, ws.local_addr()?);
        let ws_url = format!("ws://{ws_addr}/connection/websocket");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(http_loop(http, shared.clone(), ws_url.clone()));
        tokio::spawn(ws_loop(ws, shared.clone(), tx));
        Ok(KickPeer {
            web_url: format!("http://{http_addr}"),
            api_url: format!("http://{http_addr}"),
            ws_url,
            pusher_url: format!("ws://{ws_addr}/app/32cbd69e4b950bf97679?protocol=7&client=js&version=8.4.0&flash=false"),
            shared,
            conns: tokio::sync::Mutex::new(rx),
        })
    }

    /// Sets how the lookup of `slug` answers (unknown slugs: 404).
    pub fn set_lookup(&self, slug: &str, l: Lookup) {
        self.shared
            .lock()
            .unwrap()
            .lookups
            .insert(slug.to_owned(), l);
    }

    /// Makes the token call answer this status (None: 200 with a token).
    pub fn set_token_status(&self, status: Option<u16>) {
        self.shared.lock().unwrap().token_status = status;
    }

    /// What the peers saw so far.
    pub fn seen(&self) -> Seen {
        self.shared.lock().unwrap().seen.clone()
    }

    /// The next accepted websocket connection (None after `timeout`).
    pub async fn accept(&self, timeout: Duration) -> Option<WsConn> {
        let mut rx = self.conns.lock().await;
        tokio::time::timeout(timeout, rx.recv())
            .await
            .ok()
            .flatten()
    }
}

async fn http_loop(l: TcpListener, shared: Arc<Mutex<Shared>>, ws_url: String) {
    while let Ok((s, _)) = l.accept().await {
        tokio::spawn(http_conn(s, shared.clone(), ws_url.clone()));
    }
}

async fn http_conn(mut s: TcpStream, shared: Arc<Mutex<Shared>>, ws_url: String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 64 * 1024 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len.min(1 << 20) {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body: Value = serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or(Value::Null);
    let mut parts = head.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("").to_owned(),
    );
    let (status, ctype, answer) = route(method, &path, &body, &shared, &ws_url);
    if status == 0 {
        // Hang: hold the connection open without answering.
        tokio::time::sleep(Duration::from_secs(60)).await;
        return;
    }
    let reason = match status {
        200 => "OK",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Error",
    };
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
    let _ = s.write_all(resp.as_bytes()).await;
    let _ = s.shutdown().await;
}

fn route(
    method: &str,
    path: &str,
    body: &Value,
    shared: &Mutex<Shared>,
    ws_url: &str,
) -> (u16, &'static str, String) {
    let json = "application/json";
    let mut sh = shared.lock().unwrap();
    if let (Some(slug), "GET") = (path.strip_prefix("/api/v2/channels/"), method) {
        sh.seen.lookups.push(slug.to_owned());
        return match sh.lookups.get(slug).cloned().unwrap_or(Lookup::NotFound) {
            Lookup::Ok { channel_id, chatroom_id } => (
                200,
                json,
                serde_json::json!({"id": channel_id, "slug": slug, "user_id": 1, "chatroom": {"id": chatroom_id, "channel_id": channel_id, "slow_mode": false}, "livestream": null}).to_string(),
            ),
            Lookup::Cloudflare => (403, "text/html; charset=UTF-8", CLOUDFLARE_PAGE.to_owned()),
            Lookup::Hang => (0, json, String::new()),
            Lookup::NotFound => (404, json, r#"{"message":"Not found"}"#.to_owned()),
        };
    }
    if method == "POST" && path == "/api/v1/realtime/auth/connection" {
        let client = body["client_id"].as_str().unwrap_or("").to_owned();
        sh.seen.token_clients.push(client);
        if let Some(st) = sh.token_status {
            return (st, json, r#"{"message":"error"}"#.into());
        }
        let n = sh.seen.token_clients.len();
        return (
            200,
            json,
            format!(r#"{{"data":{{"token":"eyJ.test-token-{n}.sig"}},"message":"success"}}"#),
        );
    }
    if let Some(rest) = path.strip_prefix("/api/v1/realtime/channels/") {
        if let (Some(id), "POST") = (rest.strip_suffix("/chat/connection"), method) {
            let client = body["client"]["id"].as_str().unwrap_or("").to_owned();
            sh.seen
                .connection_calls
                .push((id.parse().unwrap_or(0), client));
            let answer = serde_json::json!({"data": {"connections": [{"credentials": {"url": ws_url}, "provider": "centrifugo"}], "mode": "websocket"}, "message": "success"});
            return (200, json, answer.to_string());
        }
    }
    (404, json, r#"{"message":"Not found"}"#.into())
}

/// What the test sends down an accepted websocket.
#[derive(Debug)]
pub enum Out {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
    /// A close frame with a code and reason, then the end.
    Close(u16, String),
    /// Drop the TCP connection without a close frame.
    Drop,
}

/// One accepted websocket connection, scripted by the test.
pub struct WsConn {
    /// The request path (`/connection/websocket`, `/app/<key>?…`).
    pub path: String,
    /// The `Origin` header it came with.
    pub origin: String,
    tx: mpsc::Sender<Out>,
    rx: mpsc::Receiver<String>,
}

impl WsConn {
    /// Sends a text frame.
    pub async fn send(&self, text: impl Into<String>) {
        let _ = self.tx.send(Out::Text(text.into())).await;
    }

    /// Sends a binary frame.
    pub async fn send_binary(&self, bytes: Vec<u8>) {
        let _ = self.tx.send(Out::Binary(bytes)).await;
    }

    /// Closes with `code` and `reason`.
    pub async fn close(&self, code: u16, reason: &str) {
        let _ = self.tx.send(Out::Close(code, reason.to_owned())).await;
    }

    /// Drops the TCP connection.
    pub async fn drop_tcp(&self) {
        let _ = self.tx.send(Out::Drop).await;
    }

    /// The next text frame the client sent (None: closed or `timeout`).
    pub async fn recv(&mut self, timeout: Duration) -> Option<String> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next frame the client sent, as JSON, skipping the ones `skip` says to.
    pub async fn recv_json_where(
        &mut self,
        timeout: Duration,
        want: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let t = self.recv(left).await?;
            if let Ok(v) = serde_json::from_str::<Value>(&t) {
                if want(&v) {
                    return Some(v);
                }
            }
        }
    }

    /// Centrifugo: waits for the connect command, answers it; returns the token sent.
    pub async fn centrifugo_connect(&mut self, reply_extra: Value) -> Option<String> {
        let v = self
            .recv_json_where(Duration::from_secs(5), |v| v.get("connect").is_some())
            .await?;
        let mut connect = serde_json::json!({"client": "c0ffee00-0000-4000-8000-000000000001", "version": "6.9.2 PRO", "ttl": 2700, "ping": 25, "pong": true});
        if let (Some(obj), Some(extra)) = (connect.as_object_mut(), reply_extra.as_object()) {
            for (k, val) in extra {
                obj.insert(k.clone(), val.clone());
            }
        }
        self.send(serde_json::json!({"id": v["id"], "connect": connect}).to_string())
            .await;
        v["connect"]["token"].as_str().map(str::to_owned)
    }

    /// Centrifugo: answers the next `n` subscribe commands; returns their channels.
    pub async fn centrifugo_subscribes(&mut self, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            let Some(v) = self
                .recv_json_where(Duration::from_secs(5), |v| v.get("subscribe").is_some())
                .await
            else {
                break;
            };
            self.send(serde_json::json!({"id": v["id"], "subscribe": {}}).to_string())
                .await;
            out.push(v["subscribe"]["channel"].as_str().unwrap_or("").to_owned());
        }
        out.sort();
        out
    }

    /// Pusher: greets, answers the next `n` subscribes; returns their channels.
    pub async fn pusher_handshake(&mut self, n: usize) -> Vec<String> {
        self.send(r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"123456.7890123\",\"activity_timeout\":120}"}"#).await;
        let mut out = Vec::new();
        while out.len() < n {
            let Some(v) = self
                .recv_json_where(Duration::from_secs(5), |v| v["event"] == "pusher:subscribe")
                .await
            else {
                break;
            };
            let ch = v["data"]["channel"].as_str().unwrap_or("").to_owned();
            self.send(serde_json::json!({"event": "pusher_internal:subscription_succeeded", "data": "{}", "channel": ch}).to_string()).await;
            out.push(ch);
        }
        out.sort();
        out
    }
}

async fn ws_loop(l: TcpListener, shared: Arc<Mutex<Shared>>, conns: mpsc::Sender<WsConn>) {
    while let Ok((s, _)) = l.accept().await {
        let shared = shared.clone();
        let conns = conns.clone();
        tokio::spawn(async move {
            let info: Arc<Mutex<(String, String)>> = Arc::default();
            let cb_info = info.clone();
            let cb_shared = shared.clone();
            // tungstenite's handshake callback type fixes the large `ErrorResponse` error.
            #[allow(clippy::result_large_err)]
            let callback = move |req: &Request,
                                 resp: Response|
                  -> Result<Response, ErrorResponse> {
                let origin = req
                    .headers()
                    .get("origin")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                *cb_info.lock().unwrap() = (req.uri().to_string(), origin.clone());
                if origin != "https://kick.com" {
                    cb_shared.lock().unwrap().seen.refused_origin += 1;
                    let mut e = ErrorResponse::new(Some("origin not allowed".into()));
                    *e.status_mut() = tokio_tungstenite::tungstenite::http::StatusCode::FORBIDDEN;
                    return Err(e);
                }
                Ok(resp)
            };
            let Ok(ws) = tokio_tungstenite::accept_hdr_async(s, callback).await else {
                return;
            };
            let (path, origin) = info.lock().unwrap().clone();
            let (out_tx, mut out_rx) = mpsc::channel::<Out>(256);
            let (in_tx, in_rx) = mpsc::channel::<String>(1024);
            if conns
                .send(WsConn {
                    path,
                    origin,
                    tx: out_tx,
                    rx: in_rx,
                })
                .await
                .is_err()
            {
                return;
            }
            let (mut sink, mut stream) = ws.split();
            loop {
                tokio::select! {
                    out = out_rx.recv() => match out {
                        Some(Out::Text(t)) => { if sink.send(Message::text(t)).await.is_err() { return } }
                        Some(Out::Binary(b)) => { if sink.send(Message::binary(b)).await.is_err() { return } }
                        Some(Out::Close(code, reason)) => {
                            let _ = sink.send(Message::Close(Some(CloseFrame { code: CloseCode::from(code), reason: reason.into() }))).await;
                            // Let the client see it before the socket goes.
                            let _ = tokio::time::timeout(Duration::from_secs(1), stream.next()).await;
                            return;
                        }
                        Some(Out::Drop) | None => return,
                    },
                    msg = stream.next() => match msg {
                        Some(Ok(Message::Text(t))) => {
                            match side_feed_command(&t) {
                                Some(SideFeed::Subscribe(feed, reply)) => {
                                    shared.lock().unwrap().seen.side_subscribes.push(feed);
                                    if sink.send(Message::text(reply)).await.is_err() { return }
                                }
                                Some(SideFeed::Unsubscribe(feed)) => {
                                    shared.lock().unwrap().seen.side_unsubscribes.push(feed);
                                }
                                None => { let _ = in_tx.try_send(t.to_string()); }
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => return,
                    },
                }
            }
        });
    }
}

/// A client command about a side feed (`chatroom_<id>`, `channel_<id>`), which the peer answers
/// itself.
enum SideFeed {
    /// The feed, and the confirmation to send.
    Subscribe(String, String),
    /// The feed.
    Unsubscribe(String),
}

fn side_feed_command(text: &str) -> Option<SideFeed> {
    let v: Value = serde_json::from_str(text).ok()?;
    let is_side = |f: &str| f.starts_with("chatroom_") || f.starts_with("channel_");
    // Centrifugo: {"subscribe":{"channel":…},"id":N} / {"unsubscribe":…}.
    if let Some(feed) = v["subscribe"]["channel"].as_str().filter(|f| is_side(f)) {
        let reply = serde_json::json!({"id": v["id"], "subscribe": {}}).to_string();
        return Some(SideFeed::Subscribe(feed.to_owned(), reply));
    }
    if let Some(feed) = v["unsubscribe"]["channel"].as_str().filter(|f| is_side(f)) {
        return Some(SideFeed::Unsubscribe(feed.to_owned()));
    }
    // Pusher: {"event":"pusher:subscribe","data":{"channel":…}}.
    let feed = v["data"]["channel"].as_str().filter(|f| is_side(f))?;
    match v["event"].as_str()? {
        "pusher:subscribe" => {
            let reply = serde_json::json!({"event": "pusher_internal:subscription_succeeded", "data": "{}", "channel": feed}).to_string();
            Some(SideFeed::Subscribe(feed.to_owned(), reply))
        }
        "pusher:unsubscribe" => Some(SideFeed::Unsubscribe(feed.to_owned())),
        _ => None,
    }
}

/// The peers' address, for tests that want to aim a client elsewhere.
pub fn addr_of(url: &str) -> Option<SocketAddr> {
    url.split("://").nth(1)?.split('/').next()?.parse().ok()
}
