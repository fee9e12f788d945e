//! Test clients of the gateway: a logged-in streamer over HTTP (ureq) and WebSocket
//! (tokio-tungstenite), and helpers that read frames with deadlines.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A WebSocket client connection.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A logged-in streamer.
pub struct User {
    /// The gateway's base URL.
    pub base: String,
    /// `streamer_session=…`.
    pub cookie: String,
    /// The account id.
    pub id: String,
    /// The HTTP agent.
    pub agent: ureq::Agent,
}

impl User {
    /// See the name.
    pub fn register(base: &str, name: &str) -> User {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let body = json!({ "username": name, "password": "correct horse" });
        let r = agent
            .post(&format!("{base}/api/auth/register"))
            .send_json(&body)
            .unwrap();
        assert_eq!(r.status(), 201);
        let mut r = agent
            .post(&format!("{base}/api/auth/login"))
            .send_json(&body)
            .unwrap();
        assert_eq!(r.status(), 200);
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("streamer_session="))
            .expect("a session cookie")
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let v: Value = r.body_mut().read_json().unwrap();
        let id = v["user"]["id"].as_str().unwrap().to_string();
        User {
            base: base.into(),
            cookie,
            id,
            agent,
        }
    }

    /// See the name.
    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let mut r = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .send_json(&body)
            .unwrap();
        (
            r.status().as_u16(),
            r.body_mut().read_json().unwrap_or(Value::Null),
        )
    }

    /// See the name.
    pub fn get(&self, path: &str) -> (u16, Value) {
        let mut r = self
            .agent
            .get(&format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .call()
            .unwrap();
        (
            r.status().as_u16(),
            r.body_mut().read_json().unwrap_or(Value::Null),
        )
    }

    /// See the name.
    pub async fn socket(&self) -> Ws {
        self.try_socket().await.expect("websocket upgrade")
    }

    /// The dashboard socket with the session cookie; None when the upgrade failed (the gateway
    /// is down or refused it).
    pub async fn try_socket(&self) -> Option<Ws> {
        let url = format!("{}/api/socket", self.base.replace("http://", "ws://"));
        let mut req = url.into_client_request().ok()?;
        req.headers_mut()
            .insert("Cookie", self.cookie.parse().ok()?);
        Some(tokio_tungstenite::connect_async(req).await.ok()?.0)
    }

    /// Opens a socket and joins `room`; returns the socket and the server's first answer.
    /// See the name.
    pub async fn join(&self, room: &str, since: Option<&str>) -> (Ws, Value) {
        let mut ws = self.socket().await;
        let mut join = json!({ "type": "join", "streamerId": room });
        if let Some(s) = since {
            join["since"] = json!(s);
        }
        ws.send(Message::text(join.to_string())).await.unwrap();
        let first = next_json(&mut ws, Duration::from_secs(10))
            .await
            .expect("an answer to join");
        (ws, first)
    }
}

/// The gateway's `/metrics` text (no login needed).
pub fn metrics_text(base: &str) -> String {
    ureq::get(&format!("{base}/metrics"))
        .call()
        .expect("/metrics")
        .body_mut()
        .read_to_string()
        .expect("metrics text")
}

/// The next JSON text frame, skipping pings; None on timeout or close.
pub async fn next_json(ws: &mut Ws, timeout: Duration) -> Option<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                return Some(serde_json::from_str(t.as_str()).unwrap())
            }
            Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) | Err(_) => return None,
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// Collects `n` chat messages from the socket (failing after `timeout`).
pub async fn chat_messages(ws: &mut Ws, n: usize, timeout: Duration) -> Vec<Value> {
    let mut got = Vec::new();
    let deadline = Instant::now() + timeout;
    while got.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let v = next_json(ws, left)
            .await
            .unwrap_or_else(|| panic!("only {} of {n} messages arrived", got.len()));
        if v["type"] == "chat:message" {
            got.push(v["message"].clone());
        }
    }
    got
}

/// Nothing more arrives within `quiet`.
pub async fn assert_quiet(ws: &mut Ws, quiet: Duration) {
    while let Some(v) = next_json(ws, quiet).await {
        assert_ne!(v["type"], "chat:message", "unexpected extra message {v}");
    }
}

impl User {
    /// DELETE with the session cookie and a same-host Origin.
    pub fn delete(&self, path: &str) -> (u16, Value) {
        let mut r = self
            .agent
            .delete(&format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .header("Content-Type", "application/json")
            .call()
            .unwrap();
        (
            r.status().as_u16(),
            r.body_mut().read_json().unwrap_or(Value::Null),
        )
    }
}

/// The next frame of type `kind` (skipping others), within `timeout`.
pub async fn next_of_type(ws: &mut Ws, kind: &str, timeout: Duration) -> Option<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let v = next_json(ws, left).await?;
        if v["type"] == kind {
            return Some(v);
        }
    }
}

impl User {
    /// PUT a JSON body with the session cookie.
    pub fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let mut r = self
            .agent
            .put(&format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .send_json(&body)
            .unwrap();
        (
            r.status().as_u16(),
            r.body_mut().read_json().unwrap_or(Value::Null),
        )
    }
}

/// Opens an overlay socket (no cookie) on the gateway at `base`.
pub async fn overlay_socket(base: &str) -> Ws {
    let url = format!("{}/api/overlay/socket", base.replace("http://", "ws://"));
    tokio_tungstenite::connect_async(url)
        .await
        .expect("overlay websocket upgrade")
        .0
}

/// Opens an overlay socket and sends `join` (the key, and `since` and `streamerId` when given);
/// returns the socket for the caller to read the answer.
pub async fn overlay_join(base: &str, key: &str, since: Option<&str>, room: Option<&str>) -> Ws {
    let mut ws = overlay_socket(base).await;
    let mut join = json!({ "type": "join", "key": key });
    if let Some(s) = since {
        join["since"] = json!(s);
    }
    if let Some(r) = room {
        join["streamerId"] = json!(r);
    }
    ws.send(Message::text(join.to_string())).await.unwrap();
    ws
}

/// Reads until the server closes the socket: its close code and reason (None when the connection
/// ended without a close frame or `timeout` passed). Text frames on the way are skipped.
pub async fn close_of(ws: &mut Ws, timeout: Duration) -> Option<(u16, String)> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(f))))) => {
                return Some((u16::from(f.code), f.reason.to_string()))
            }
            Ok(Some(Ok(Message::Close(None)))) | Ok(Some(Err(_))) | Ok(None) | Err(_) => {
                return None
            }
            Ok(Some(Ok(_))) => continue,
        }
    }
}
