//! One Centrifugo session (Kick's current feed, client protocol v2 in JSON):
//! token → websocket URL → `{"connect":{"token":…,"name":"js"},"id":1}` → one
//! `{"subscribe":{"channel":"chatrooms.<id>.v2"},"id":N}` per linked channel, all on one
//! connection → pushes. An empty `{}` is the server's ping (answered `{}`); one frame can hold
//! several replies, one per line. Unsubscribe pushes are answered by subscribing again;
//! disconnects end the session as ordinary (reconnect with backoff) or terminal (3500–3999,
//! 4500–4999: ban, bad token, connection limit).

use std::borrow::Cow;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::de::IgnoredAny;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use super::feed::{
    deliver, feed_confirmed, feed_failed, feed_joining, parse_error, ConnGuard, End, FeedRole, Subs,
};
use super::map::AppEvent;
use super::realtime_api::{self, ApiError};
use super::{Resolved, Timing};
use crate::connectors::{Backoff, ChannelState, ConnectorCtx};

/// Largest websocket message accepted (a larger one drops the connection, then reconnects).
pub const MAX_MESSAGE: usize = 1 << 20;
/// Largest single reply line handled (a longer one is counted and skipped).
pub const MAX_LINE: usize = 256 * 1024;

/// One reply or push line.
#[derive(Debug, Default, Deserialize)]
pub struct Reply<'a> {
    /// The command id it answers.
    #[serde(default)]
    pub id: Option<u64>,
    /// An asynchronous push.
    #[serde(borrow, default)]
    pub push: Option<Push<'a>>,
    /// A command's error.
    #[serde(borrow, default)]
    pub error: Option<ErrorBody<'a>>,
    /// The connect result.
    #[serde(default)]
    pub connect: Option<ConnectResult>,
    /// A subscribe result.
    #[serde(default)]
    pub subscribe: Option<IgnoredAny>,
    /// An unsubscribe result.
    #[serde(default)]
    pub unsubscribe: Option<IgnoredAny>,
    /// A refresh result.
    #[serde(default)]
    pub refresh: Option<IgnoredAny>,
    /// A disconnect (older servers send it at the top level).
    #[serde(borrow, default)]
    pub disconnect: Option<Code<'a>>,
}

/// A push.
#[derive(Debug, Default, Deserialize)]
pub struct Push<'a> {
    /// The feed it belongs to.
    #[serde(borrow, default)]
    pub channel: Option<Cow<'a, str>>,
    /// A publication.
    #[serde(borrow, default, rename = "pub")]
    pub publication: Option<Publication<'a>>,
    /// The server ended a subscription.
    #[serde(borrow, default)]
    pub unsub: Option<Code<'a>>,
    /// The server ends the connection.
    #[serde(borrow, default)]
    pub disconnect: Option<Code<'a>>,
}

/// A publication: its `data` is Kick's `{"event":…,"data":…}`.
#[derive(Debug, Deserialize)]
pub struct Publication<'a> {
    /// The event.
    #[serde(borrow)]
    pub data: AppEvent<'a>,
}

/// A code and reason (unsub, disconnect).
#[derive(Debug, Default, Deserialize)]
pub struct Code<'a> {
    /// The code.
    #[serde(default)]
    pub code: u32,
    /// Why.
    #[serde(borrow, default)]
    pub reason: Cow<'a, str>,
}

/// A command error.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody<'a> {
    /// The code (101 unauthorized, 109 token expired, …).
    #[serde(default)]
    pub code: u32,
    /// The message.
    #[serde(borrow, default)]
    pub message: Cow<'a, str>,
}

/// The connect result fields used.
#[derive(Debug, Default, Deserialize)]
pub struct ConnectResult {
    /// The server's ping interval, s.
    #[serde(default)]
    pub ping: Option<u64>,
    /// Whether the connection expires unless refreshed.
    #[serde(default)]
    pub expires: bool,
    /// Seconds until it expires.
    #[serde(default)]
    pub ttl: Option<u64>,
}

impl Reply<'_> {
    /// `{}`: the server's ping.
    pub fn is_ping(&self) -> bool {
        self.id.is_none()
            && self.push.is_none()
            && self.error.is_none()
            && self.connect.is_none()
            && self.subscribe.is_none()
            && self.unsubscribe.is_none()
            && self.refresh.is_none()
            && self.disconnect.is_none()
    }
}

/// Whether a disconnect or close code is terminal (ban, bad token, connection limit).
pub fn is_terminal(code: u32) -> bool {
    (3500..4000).contains(&code) || (4500..5000).contains(&code)
}

fn ended(code: u32, reason: &str) -> End {
    let why = if reason.is_empty() {
        format!("Kick closed the chat connection (code {code})")
    } else {
        format!(
            "Kick closed the chat connection (code {code}: {})",
            short(reason)
        )
    };
    if is_terminal(code) {
        End::Terminal(why)
    } else {
        End::Ordinary(why)
    }
}

fn short(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(80).collect()
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a websocket the way the kick.com page does (Origin and Referer of https://kick.com).
pub async fn open(url: &str) -> Result<Ws, String> {
    let mut req = url
        .into_client_request()
        .map_err(|e| format!("a bad websocket URL ({e})"))?;
    let h = req.headers_mut();
    h.insert("Origin", HeaderValue::from_static("https://kick.com"));
    h.insert("Referer", HeaderValue::from_static("https://kick.com/"));
    h.insert(
        "User-Agent",
        HeaderValue::from_static("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"),
    );
    let cfg = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(15),
        tokio_tungstenite::connect_async_with_config(req, Some(cfg), true),
    )
    .await
    .map_err(|_| "could not open Kick's chat websocket (no answer in 15 s)".to_string())?
    .map_err(|e| format!("could not open Kick's chat websocket ({e})"))?;
    Ok(ws)
}

async fn send(ws: &mut Ws, text: String) -> Result<(), End> {
    ws.send(Message::text(text))
        .await
        .map_err(|e| End::Ordinary(format!("the chat connection failed ({e})")))
}

fn api_end(e: ApiError) -> End {
    End::Ordinary(e.to_string())
}

/// Runs one session until it ends.
pub async fn session(
    ctx: &ConnectorCtx,
    t: &Timing,
    resolved: &mut watch::Receiver<Resolved>,
    client_id: Uuid,
    backoff: &mut Backoff,
) -> End {
    let set = resolved.borrow_and_update().clone();
    for slug in set.keys() {
        ctx.status
            .set(slug, ChannelState::Connecting, "connecting to Kick's chat");
    }
    let api = ctx.endpoints.kick_realtime_api_url.clone();
    let token = match realtime_api::token(&api, client_id, t.http_timeout).await {
        Ok(tok) => tok,
        Err(e) => return api_end(e),
    };
    let Some(channel_id) = set.values().map(|i| i.channel_id).find(|c| *c != 0) else {
        return End::Fatal(
            "no channel id to ask Kick for a chat connection; paste the channel id".into(),
        );
    };
    let url = match realtime_api::connection_url(&api, client_id, channel_id, t.http_timeout).await
    {
        Ok(u) => u,
        Err(e) => return api_end(e),
    };
    let mut ws = match open(&url).await {
        Ok(ws) => ws,
        Err(e) => return End::Ordinary(e),
    };
    let _guard = ConnGuard::new(ctx);
    let connect =
        serde_json::json!({"connect": {"token": token, "name": "js"}, "id": 1}).to_string();
    drop(token);
    if let Err(e) = send(&mut ws, connect).await {
        return e;
    }
    let result = match await_connect(ctx, &mut ws, t).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    backoff.connected();
    let silence = t
        .silence
        .unwrap_or_else(|| Duration::from_secs(result.ping.unwrap_or(25) + 10));
    let refresh_every = t.token_refresh.or_else(|| {
        result.expires.then(|| {
            Duration::from_millis(result.ttl.unwrap_or(2700) * 800).max(Duration::from_secs(1))
        })
    });
    let mut s = State {
        subs: Subs::default(),
        pending: Default::default(),
        next_id: 2,
    };
    if let Err(e) = s.sync(ctx, t, &mut ws, &set).await {
        return e;
    }
    let mut last_rx = Instant::now();
    let mut next_refresh = refresh_every.map(|d| Instant::now() + d);
    let mut refreshing: Option<JoinHandle<Result<String, ApiError>>> = None;
    loop {
        let deadline = s.subs.next_deadline();
        tokio::select! {
            msg = ws.next() => {
                last_rx = Instant::now();
                let text = match msg {
                    None => return End::Ordinary("Kick closed the chat connection".into()),
                    Some(Err(e)) => return End::Ordinary(format!("the chat connection failed ({e})")),
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(frame))) => {
                        return match frame {
                            Some(f) => ended(u16::from(f.code).into(), &f.reason),
                            None => End::Ordinary("Kick closed the chat connection".into()),
                        };
                    }
                    Some(Ok(Message::Binary(_))) => {
                        parse_error(ctx, "a binary frame on the JSON feed");
                        continue;
                    }
                    Some(Ok(_)) => continue, // ping/pong frames: answered by the library
                };
                if let Some(end) = s.frame(ctx, t, &mut ws, text.as_str()).await {
                    return end;
                }
            }
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(last_rx + silence)) => {
                return End::Ordinary(format!("Kick's chat went silent for {} s", silence.as_secs().max(1)));
            }
            _ = sleep_opt(deadline) => {
                if let Err(e) = s.overdue(ctx, t, &mut ws).await {
                    return e;
                }
            }
            _ = sleep_opt(next_refresh), if refreshing.is_none() => {
                let api = api.clone();
                let timeout = t.http_timeout;
                refreshing = Some(tokio::spawn(async move { realtime_api::token(&api, client_id, timeout).await }));
                next_refresh = None;
            }
            r = async { refreshing.as_mut().expect("guarded").await }, if refreshing.is_some() => {
                refreshing = None;
                match r {
                    Ok(Ok(tok)) => {
                        let id = s.id();
                        let cmd = serde_json::json!({"refresh": {"token": tok}, "id": id}).to_string();
                        if let Err(e) = send(&mut ws, cmd).await {
                            return e;
                        }
                        next_refresh = refresh_every.map(|d| Instant::now() + d);
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(platform = "kick", "could not refresh the connection token: {e}; trying again in 30 s");
                        next_refresh = Some(Instant::now() + Duration::from_secs(30));
                    }
                    Err(_) => next_refresh = Some(Instant::now() + Duration::from_secs(30)),
                }
            }
            r = resolved.changed() => {
                if r.is_err() {
                    return End::Stopped;
                }
                let set = resolved.borrow_and_update().clone();
                if set.is_empty() {
                    let _ = ws.close(None).await;
                    return End::Now("no Kick channel is linked any more".into());
                }
                if let Err(e) = s.sync(ctx, t, &mut ws, &set).await {
                    return e;
                }
            }
            _ = ctx.stopped() => {
                let _ = ws.close(None).await;
                return End::Stopped;
            }
        }
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

async fn await_connect(ctx: &ConnectorCtx, ws: &mut Ws, t: &Timing) -> Result<ConnectResult, End> {
    let deadline = tokio::time::Instant::now() + t.subscribe_timeout;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .map_err(|_| End::Ordinary("Kick's chat did not answer the connect".into()))?;
        let text = match msg {
            None => return Err(End::Ordinary("Kick closed the chat connection".into())),
            Some(Err(e)) => return Err(End::Ordinary(format!("the chat connection failed ({e})"))),
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(Some(f)))) => {
                return Err(ended(u16::from(f.code).into(), &f.reason))
            }
            Some(Ok(Message::Close(None))) => {
                return Err(End::Ordinary("Kick closed the chat connection".into()))
            }
            Some(Ok(_)) => continue,
        };
        for line in text.as_str().split('\n').filter(|l| !l.trim().is_empty()) {
            let Ok(r) = serde_json::from_str::<Reply>(line) else {
                parse_error(ctx, "a reply line that is not JSON");
                continue;
            };
            if r.is_ping() {
                send(ws, "{}".into()).await?;
            } else if r.id == Some(1) {
                if let Some(e) = r.error {
                    let why = format!(
                        "Kick refused the chat connection (error {}: {})",
                        e.code,
                        short(&e.message)
                    );
                    // 101 unauthorized: a bad token is terminal; 109 token expired: a new one will do.
                    return Err(if e.code == 101 {
                        End::Terminal(why)
                    } else {
                        End::Ordinary(why)
                    });
                }
                return Ok(r.connect.unwrap_or_default());
            } else if let Some(d) = r.disconnect.or(r.push.and_then(|p| p.disconnect)) {
                return Err(ended(d.code, &d.reason));
            }
        }
    }
}

struct State {
    subs: Subs,
    /// Command id → feed of a subscribe sent.
    pending: std::collections::HashMap<u64, String>,
    next_id: u64,
}

impl State {
    fn id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    async fn subscribe(
        &mut self,
        t: &Timing,
        ws: &mut Ws,
        feed: &str,
        slug: &str,
        role: FeedRole,
    ) -> Result<(), End> {
        let id = self.id();
        self.pending.insert(id, feed.to_owned());
        self.subs.sent(feed, slug, role, t.subscribe_timeout);
        let cmd = serde_json::json!({"subscribe": {"channel": feed}, "id": id}).to_string();
        send(ws, cmd).await
    }

    /// Subscribes and unsubscribes so the session serves exactly `set`.
    async fn sync(
        &mut self,
        ctx: &ConnectorCtx,
        t: &Timing,
        ws: &mut Ws,
        set: &Resolved,
    ) -> Result<(), End> {
        let (add, remove) = self.subs.plan(set);
        for feed in remove {
            self.subs.map.remove(&feed);
            self.pending.retain(|_, f| *f != feed);
            let id = self.id();
            let cmd = serde_json::json!({"unsubscribe": {"channel": feed}, "id": id}).to_string();
            send(ws, cmd).await?;
        }
        for (feed, slug, role) in add {
            feed_joining(ctx, &slug, role);
            self.subscribe(t, ws, &feed, &slug, role).await?;
        }
        Ok(())
    }

    /// Retries a subscribe the server did not confirm once, then reports the feed.
    async fn overdue(&mut self, ctx: &ConnectorCtx, t: &Timing, ws: &mut Ws) -> Result<(), End> {
        for (feed, slug, role) in self.subs.retry_overdue(ctx, Instant::now()) {
            self.subscribe(t, ws, &feed, &slug, role).await?;
        }
        Ok(())
    }

    /// Handles one frame: one or more reply lines.
    async fn frame(
        &mut self,
        ctx: &ConnectorCtx,
        t: &Timing,
        ws: &mut Ws,
        text: &str,
    ) -> Option<End> {
        for line in text.split('\n') {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if line.len() > MAX_LINE {
                parse_error(ctx, "an oversized reply line");
                continue;
            }
            let r: Reply = match serde_json::from_str(line) {
                Ok(r) => r,
                Err(e) => {
                    parse_error(ctx, &format!("a reply line that does not parse ({e})"));
                    continue;
                }
            };
            if let Err(e) = self.reply(ctx, t, ws, r).await {
                return Some(e);
            }
        }
        None
    }

    async fn reply(
        &mut self,
        ctx: &ConnectorCtx,
        t: &Timing,
        ws: &mut Ws,
        r: Reply<'_>,
    ) -> Result<(), End> {
        if r.is_ping() {
            return send(ws, "{}".into()).await;
        }
        if let Some(d) = r.disconnect {
            return Err(ended(d.code, &d.reason));
        }
        if let Some(id) = r.id {
            let feed = self.pending.remove(&id);
            match (feed, r.error) {
                (Some(f), None) => {
                    if let Some(sub) = self.subs.confirm(&f) {
                        feed_confirmed(ctx, sub);
                    }
                }
                (Some(f), Some(e)) => {
                    if let Some(sub) = self.subs.map.get_mut(&f) {
                        sub.deadline = None;
                        let why = format!(
                            "Kick refused joining this chat (error {}: {}); check the chatroom id",
                            e.code,
                            short(&e.message)
                        );
                        feed_failed(ctx, sub, &f, &why);
                    }
                }
                (None, Some(e)) => {
                    tracing::warn!(
                        platform = "kick",
                        code = e.code,
                        "Kick answered a command with an error: {}",
                        short(&e.message)
                    );
                }
                (None, None) => {}
            }
            return Ok(());
        }
        let Some(push) = r.push else { return Ok(()) };
        if let Some(d) = push.disconnect {
            return Err(ended(d.code, &d.reason));
        }
        let feed = push.channel.as_deref().unwrap_or("");
        let Some(sub) = self.subs.map.get(feed) else {
            ctx.metrics
                .skipped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(());
        };
        let (slug, role) = (sub.slug.clone(), sub.role);
        if let Some(u) = push.unsub {
            tracing::info!(platform = "kick", channel = %slug, feed, code = u.code, "Kick ended the subscription; subscribing again");
            if role == FeedRole::Chat {
                ctx.status.set(
                    &slug,
                    ChannelState::Connecting,
                    "Kick ended the subscription; joining again",
                );
            }
            self.subscribe(t, ws, feed, &slug, role).await?;
            return Ok(());
        }
        if let Some(p) = push.publication {
            deliver(ctx, &slug, &p.data).await;
        }
        Ok(())
    }
}

/// Decodes one frame into the publications it holds (benchmarks and fuzzing: the session does
/// the same line by line). Returns the events mapped for `slug`.
pub fn decode_frame(
    slug: &str,
    text: &str,
    now: u64,
) -> Vec<Result<Option<shm_layout::SlotEvent>, serde_json::Error>> {
    let mut out = Vec::new();
    for line in text.split('\n').map(str::trim).filter(|l| !l.is_empty()) {
        match serde_json::from_str::<Reply>(line) {
            Ok(r) => {
                if let Some(p) = r.push.and_then(|p| p.publication) {
                    out.push(super::map::map_event(slug, &p.data, now));
                }
            }
            Err(e) => out.push(Err(e)),
        }
    }
    out
}
