//! `GET /api/socket`: the WebSocket a dashboard listens on; `GET /api/overlay/socket`: the one an
//! overlay (OBS browser source) listens on.
//!
//! * The dashboard's is authenticated by the session cookie before the upgrade (401 otherwise); a
//!   foreign `Origin` is refused (403) on both so another site cannot ride the cookie.
//! * The overlay's needs no cookie: its first frame `{"type":"join","key":…,"since":…?}` carries
//!   the overlay key (read by the page from its URL fragment, so it is in no request line and no
//!   log). A wrong key closes with 4001, a revoked one with 4003 "This overlay link was revoked" —
//!   also when the link is revoked while the overlay is connected. The key opens only its
//!   streamer's room, read-only; without a join within [`OVERLAY_JOIN_WITHIN`] the socket closes.
//! * After `joined` both get the streamer's filters (`{"type":"filters",…}`).
//! * `{"type":"join","streamerId":…,"since":…?}` joins the caller's own room only; with `since`
//!   the active log's messages after that id are replayed first, then live ones: the connection
//!   subscribes *before* reading the log and drops live messages the replay already sent, so
//!   there is no gap and no duplicate. `{"type":"leave"}` leaves.
//! * Outbound frames wait in a bounded queue ([`crate::realtime::rooms::OUTBOUND_QUEUE`]); a connection
//!   that falls that far behind is closed with 1013 and can rejoin with `since`.
//! * Ping every 30 s; a connection silent for 90 s is closed. Inbound text above 4 KiB or not
//!   JSON gets an error frame; after 5 such frames the connection is closed (1008). Frames above
//!   16 KiB end the connection at the protocol level.
//! * On shutdown every connection gets a close frame (1001).

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
// tokio's clock, so that tests can run the heartbeat on paused time.
use shm_layout::SlotEvent;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;
use warp::http::{HeaderMap, StatusCode};
use warp::{Filter, Rejection};

use crate::http::error::ApiError;
use crate::http::security::check_origin;
use crate::http::session::{authed, with_state, Authed};
use crate::realtime::rooms::{Backlog, Cut, Outbound, OUTBOUND_QUEUE};
use crate::realtime::upgrade::{websocket, Upgrade, WsStream};
use crate::state::State;
use crate::store::overlays::KeyLookup;

/// Largest inbound text frame handled; larger ones get an error frame.
pub const MAX_INBOUND: usize = 4 * 1024;
/// Hard protocol limit on inbound messages and frames (the connection fails above it).
const PROTOCOL_LIMIT: usize = 16 * 1024;
/// Initial read buffer per connection.
const READ_BUFFER: usize = 4 * 1024;
/// Outbound bytes gathered before a write to the socket (a flush writes the rest).
const WRITE_BATCH: usize = 8 * 1024;
/// Outbound bytes a connection's write buffer may hold.
const MAX_WRITE_BUFFER: usize = 1024 * 1024;
/// Ping interval.
pub const PING_EVERY: Duration = Duration::from_secs(30);
/// A connection silent this long is closed.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(90);
/// A write that cannot complete in this time means the peer stopped reading: drop it.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Invalid inbound frames tolerated before the connection is closed.
const MAX_ABUSE: u32 = 5;
/// The close reason for a connection whose queue held too many frames.
const TOO_MANY_FRAMES: &str =
    "you fell too far behind the chat (8192 frames queued); rejoin with `since` to catch up";
/// The close reason for a connection whose queue held too many bytes.
const TOO_MANY_BYTES: &str =
    "you fell too far behind the chat (your byte budget is queued); rejoin with `since` to catch up";
/// How long a cut-off connection may take to read what it has and its close frame.
const SLOW_CLOSE_LINGER: Duration = Duration::from_secs(60);
/// Messages replayed when `since` is not in the active log (e.g. it was archived meanwhile).
const REPLAY_WITHOUT_ANCHOR: usize = 500;
/// An overlay socket must join with its key this soon after opening.
pub const OVERLAY_JOIN_WITHIN: Duration = Duration::from_secs(10);
/// Close code and reason for an overlay key that opens nothing.
const KEY_UNKNOWN: (u16, &str) = (
    4001,
    "This overlay link is not valid; create a new one in the dashboard",
);
/// Close code and reason for a revoked overlay key.
const KEY_REVOKED: (u16, &str) = (4003, "This overlay link was revoked");

/// The WebSocket route.
pub fn routes(
    state: State,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let dashboard = warp::path!("api" / "socket")
        .and(warp::get())
        .and(warp::header::headers_cloned())
        .and_then(|headers: HeaderMap| async move {
            check_origin(&headers).map_err(warp::reject::custom)
        })
        .untuple_one()
        .and(authed(state.clone()))
        .and(websocket())
        .and(with_state(state.clone()))
        .and_then(|a: Authed, ws: Upgrade, state: State| {
            upgrade(Who::Streamer(a.user.id), ws, state)
        });
    let overlay = warp::path!("api" / "overlay" / "socket")
        .and(warp::get())
        .and(warp::header::headers_cloned())
        .and_then(|headers: HeaderMap| async move {
            check_origin(&headers).map_err(warp::reject::custom)
        })
        .untuple_one()
        .and(websocket())
        .and(with_state(state))
        .and_then(|ws: Upgrade, state: State| upgrade(Who::Overlay(None), ws, state));
    dashboard.or(overlay).unify()
}

async fn upgrade(who: Who, ws: Upgrade, state: State) -> Result<warp::reply::Response, Rejection> {
    if state.ws_connections.load(Ordering::Relaxed) >= state.ws_max_connections {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The gateway has too many live connections; retry in a minute.",
        )
        .retry_after(60)
        .into());
    }
    Ok(ws.on_upgrade(socket_config(), move |socket| {
        connection(socket, who, state)
    }))
}

/// A command a client may send on either socket.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Inbound {
    /// `{"type":"join","streamerId"?,"key"?,"since"?}`: enter a room, replaying after `since`.
    #[serde(rename_all = "camelCase")]
    Join {
        /// The dashboard's room (its own id); an overlay may repeat its streamer's id.
        #[serde(default)]
        streamer_id: Option<String>,
        /// An overlay's key.
        #[serde(default)]
        key: Option<String>,
        /// The id of the last message the client has: replay what followed it.
        #[serde(default)]
        since: Option<String>,
    },
    /// `{"type":"leave"}`: leave the room.
    Leave,
}

/// Reads one inbound text frame as a command, or gives the sentence of the error frame that
/// answers it (a frame above [`MAX_INBOUND`] bytes, or not one of the [`Inbound`] commands).
/// Pure, so it can be fuzzed: the connection calls it for every text frame.
pub fn parse_inbound(text: &str) -> Result<Inbound, String> {
    if text.len() > MAX_INBOUND {
        return Err("That frame is larger than 4 KiB; frames are small JSON commands.".into());
    }
    serde_json::from_str(text).map_err(|e| {
        format!("That frame is not a command this socket understands ({e}); send {{\"type\":\"join\",\"streamerId\":\"<your id>\",\"since\":\"<message id>\"}} (an overlay: {{\"type\":\"join\",\"key\":\"<overlay key>\"}}) or {{\"type\":\"leave\"}}.")
    })
}

/// Buffers fitted to chat: inbound frames are small JSON commands, so a 4 KiB read buffer (grown
/// for the rare larger frame, up to [`PROTOCOL_LIMIT`]) instead of tungstenite's 128 KiB, which it
/// zero-fills on the first read — that alone was ~128 KiB resident per idle connection. Outbound
/// frames are gathered up to 8 KiB per write; the write buffer may hold up to 1 MiB (a large
/// filters frame) before a write fails.
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BATCH)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(Some(PROTOCOL_LIMIT))
        .max_frame_size(Some(PROTOCOL_LIMIT))
}

fn close_frame(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
}

fn error_frame(sentence: &str) -> Message {
    Message::text(json!({ "type": "error", "error": sentence }).to_string())
}

/// Counts a live connection for its lifetime.
struct Live(State);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.ws_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a connection loop ended.
enum End {
    /// The peer closed or vanished; nothing more to send.
    Gone,
    /// Close with this code and reason.
    Close(u16, &'static str),
}

/// Who is on the other end.
#[derive(Debug, Clone, Copy)]
enum Who {
    /// A logged-in streamer's dashboard: their own room only.
    Streamer(Uuid),
    /// An overlay: `None` until it joins with a valid key, then the streamer and the link.
    Overlay(Option<(Uuid, Uuid)>),
}

struct Conn {
    who: Who,
    state: State,
    sink: futures_util::stream::SplitSink<WsStream, Message>,
    /// The current subscription: its id and queue.
    sub: Option<(u64, mpsc::Receiver<Outbound>)>,
    /// What the current subscription's queue holds, and the room's way to cut it off.
    backlog: Arc<Backlog>,
    /// Ids sent by the last replay that may still come through the live queue.
    replayed: Option<HashSet<Uuid>>,
    abuse: u32,
}

async fn connection(socket: WsStream, who: Who, state: State) {
    state.ws_connections.fetch_add(1, Ordering::Relaxed);
    let _live = Live(state.clone());
    let mut shutdown = state.shutdown.subscribe();
    // Only overlays listen for revocations (and must join in time).
    let overlay = matches!(who, Who::Overlay(_));
    let mut revoked = overlay.then(|| state.overlay_revoked.subscribe());
    let join_by = overlay.then(|| Instant::now() + OVERLAY_JOIN_WITHIN);
    let (sink, mut stream) = socket.split();
    let mut c = Conn {
        who,
        state: state.clone(),
        sink,
        sub: None,
        backlog: Backlog::new(),
        replayed: None,
        abuse: 0,
    };
    let mut last_seen = Instant::now();
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    let end = loop {
        if *shutdown.borrow() {
            break End::Close(1001, "the gateway is shutting down; reconnect in a moment");
        }
        tokio::select! {
            inbound = stream.next() => match inbound {
                Some(Ok(msg)) => {
                    last_seen = Instant::now();
                    if msg.is_close() {
                        break End::Gone;
                    }
                    if let Err(end) = c.inbound(msg).await {
                        break end;
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(who = ?c.who, error = %e, "websocket read failed");
                    c.state.metrics.ws_closed_invalid.inc();
                    break End::Close(1009, "that frame was too large or malformed");
                }
                None => break End::Gone,
            },
            out = next_outbound(&mut c.sub) => match out {
                Some(first) => {
                    if let Err(end) = c.deliver(first).await {
                        break end;
                    }
                }
                None => c.sub = None,
            },
            why = c.backlog.cut_off() => {
                break c.cut_off(why);
            }
            gone = next_revocation(&mut revoked) => {
                if c.revoked_by(gone) {
                    break End::Close(KEY_REVOKED.0, KEY_REVOKED.1);
                }
            }
            _ = until(join_by), if !c.joined_overlay() => {
                break End::Close(KEY_UNKNOWN.0, "An overlay must send {\"type\":\"join\",\"key\":…} first");
            }
            _ = ping.tick() => {
                if last_seen.elapsed() >= SILENCE_LIMIT {
                    break End::Close(1000, "no answer for 90 s");
                }
                if c.send(Message::Ping(Default::default())).await.is_err() {
                    break End::Gone;
                }
            }
            _ = shutdown.changed() => {}
        }
    };
    c.leave();
    if let End::Close(code, reason) = end {
        // A slow peer gets a minute to read what it has and then its close frame, so that it
        // learns why; everyone else a second.
        let wait = if code == 1013 {
            SLOW_CLOSE_LINGER
        } else {
            Duration::from_secs(1)
        };
        let _ = tokio::time::timeout(wait, c.sink.send(close_frame(code, reason))).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), c.sink.close()).await;
        tracing::debug!(who = ?c.who, code, reason, "websocket closed by the gateway");
    }
}

/// The next revoked link id; pending for ever for a dashboard (or once the channel is gone).
async fn next_revocation(
    rx: &mut Option<tokio::sync::broadcast::Receiver<Uuid>>,
) -> Result<Uuid, tokio::sync::broadcast::error::RecvError> {
    match rx {
        Some(r) => match r.recv().await {
            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                *rx = None;
                std::future::pending().await
            }
            other => other,
        },
        None => std::future::pending().await,
    }
}

/// Sleeps until `deadline`, or for ever without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn next_outbound(sub: &mut Option<(u64, mpsc::Receiver<Outbound>)>) -> Option<Outbound> {
    match sub {
        Some((_, rx)) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Conn {
    /// The end of a connection the room cut off, logged once with why.
    fn cut_off(&self, why: Cut) -> End {
        tracing::info!(
            who = ?self.who,
            reason = ?why,
            queued_bytes = self.backlog.bytes(),
            budget_bytes = self.state.rooms.queue_bytes(),
            "cut off a WebSocket subscriber that fell behind (closing with 1013)"
        );
        match why {
            Cut::Frames => End::Close(1013, TOO_MANY_FRAMES),
            Cut::Bytes => End::Close(1013, TOO_MANY_BYTES),
        }
    }

    /// The room this connection may be in: the streamer's own, or the overlay key's streamer.
    fn room(&self) -> Option<Uuid> {
        match self.who {
            Who::Streamer(id) => Some(id),
            Who::Overlay(joined) => joined.map(|(streamer, _)| streamer),
        }
    }

    /// An overlay that has joined with a valid key (dashboards count as joined).
    fn joined_overlay(&self) -> bool {
        !matches!(self.who, Who::Overlay(None))
    }

    /// Whether news of a revocation ends this overlay (a missed one is checked in the store).
    fn revoked_by(&self, news: Result<Uuid, tokio::sync::broadcast::error::RecvError>) -> bool {
        let Who::Overlay(Some((_, mine))) = self.who else {
            return false;
        };
        match news {
            Ok(id) => id == mine,
            Err(_) => self.state.store.overlays().is_revoked(mine),
        }
    }

    /// Sends one frame, bounded by [`WRITE_TIMEOUT`].
    async fn send(&mut self, msg: Message) -> Result<(), End> {
        // Counted before the write, so a peer that has read the frame always finds it counted.
        if msg.is_text() {
            self.state.metrics.ws_frames_sent.inc();
        }
        match tokio::time::timeout(WRITE_TIMEOUT, self.sink.send(msg)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(End::Gone),
        }
    }

    /// Writes `first` and whatever else is queued right now, then flushes once.
    async fn deliver(&mut self, first: Outbound) -> Result<(), End> {
        let mut batch = vec![first];
        if let Some((_, rx)) = self.sub.as_mut() {
            while batch.len() < 256 {
                match rx.try_recv() {
                    Ok(o) => batch.push(o),
                    Err(_) => break,
                }
            }
        }
        // Released from the byte budget once written: a peer stuck mid-batch still holds it.
        let batch_bytes: usize = batch.iter().map(|o| o.frame().len()).sum();
        // Counted locally and added once per batch (before the flush, so a peer that has read
        // the frames always finds them counted), not per frame.
        let frames_sent = &self.state.metrics.ws_frames_sent;
        let write = async {
            let mut sent = 0u64;
            for o in batch {
                let frame = match o {
                    Outbound::Logged { id, frame } => {
                        if let Some(seen) = &self.replayed {
                            if seen.contains(&id) {
                                continue;
                            }
                            // Live order is log order: from here on nothing was replayed.
                            self.replayed = None;
                        }
                        frame
                    }
                    Outbound::Event(frame) => frame,
                };
                self.sink.feed(Message::Text(frame)).await?;
                sent += 1;
            }
            frames_sent.inc_by(sent);
            self.sink.flush().await
        };
        let backlog = self.backlog.clone();
        tokio::select! {
            r = tokio::time::timeout(WRITE_TIMEOUT, write) => match r {
                Ok(Ok(())) => {
                    backlog.release(batch_bytes);
                    Ok(())
                }
                _ => Err(End::Gone),
            },
            // Cut off while this write waits on a peer that stopped reading.
            why = backlog.cut_off() => Err(self.cut_off(why)),
        }
    }

    async fn abuse(&mut self, sentence: &str) -> Result<(), End> {
        self.abuse += 1;
        if self.abuse >= MAX_ABUSE {
            self.state.metrics.ws_closed_invalid.inc();
            return Err(End::Close(1008, "too many invalid frames"));
        }
        self.send(error_frame(sentence)).await
    }

    async fn inbound(&mut self, msg: Message) -> Result<(), End> {
        if msg.is_ping() || msg.is_pong() {
            return Ok(()); // tungstenite answers pings itself
        }
        let Message::Text(text) = &msg else {
            return self
                .abuse(
                    "Send JSON text frames, e.g. {\"type\":\"join\",\"streamerId\":\"<your id>\"}.",
                )
                .await;
        };
        let cmd = match parse_inbound(text) {
            Ok(c) => c,
            Err(s) => return self.abuse(&s).await,
        };
        match cmd {
            Inbound::Leave => {
                self.leave();
                self.send(Message::text(r#"{"type":"left"}"#)).await
            }
            Inbound::Join {
                streamer_id,
                key,
                since,
            } => {
                let Some(room) = self.admit(streamer_id.as_deref(), key.as_deref()).await? else {
                    return Ok(());
                };
                self.join(room, since.as_deref()).await
            }
        }
    }

    fn leave(&mut self) {
        if let Some((id, _)) = self.sub.take() {
            if let Some(room) = self.room() {
                self.state.rooms.leave(room, id);
            }
        }
        self.replayed = None;
    }

    /// The room a join may enter: `Ok(None)` after an error frame, `Err` to close (a bad key).
    async fn admit(
        &mut self,
        streamer_id: Option<&str>,
        key: Option<&str>,
    ) -> Result<Option<Uuid>, End> {
        let asked = streamer_id.map(|s| Uuid::parse_str(s.trim()).ok());
        match self.who {
            Who::Streamer(me) => {
                if asked != Some(Some(me)) {
                    self.send(error_frame(
                        "You can only join your own room: use the id from /api/auth/me as streamerId.",
                    ))
                    .await?;
                    return Ok(None);
                }
                Ok(Some(me))
            }
            Who::Overlay(_) => {
                let Some(key) = key else {
                    self.abuse("An overlay joins with its key: {\"type\":\"join\",\"key\":\"<the key from the overlay link>\"}.")
                        .await?;
                    return Ok(None);
                };
                let (streamer, overlay) = match self.state.store.overlays().lookup(key.trim()) {
                    KeyLookup::Valid { streamer, overlay } => (streamer, overlay),
                    KeyLookup::Revoked => return Err(End::Close(KEY_REVOKED.0, KEY_REVOKED.1)),
                    KeyLookup::Unknown => {
                        self.state.metrics.overlay_key_refused.inc();
                        return Err(End::Close(KEY_UNKNOWN.0, KEY_UNKNOWN.1));
                    }
                };
                if asked.is_some_and(|a| a != Some(streamer)) {
                    self.send(error_frame(
                        "This overlay link opens only its own streamer's chat.",
                    ))
                    .await?;
                    return Ok(None);
                }
                // Leave a previous room under the previous identity before taking the new one.
                self.leave();
                self.who = Who::Overlay(Some((streamer, overlay)));
                let st = self.state.clone();
                tokio::task::spawn_blocking(move || st.store.overlays().touch(overlay));
                Ok(Some(streamer))
            }
        }
    }

    async fn join(&mut self, room: Uuid, since: Option<&str>) -> Result<(), End> {
        let since = match since.map(Uuid::parse_str) {
            None => None,
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => {
                return self
                    .send(error_frame(
                        "`since` must be the id of a message you already have (a UUID).",
                    ))
                    .await
            }
        };
        // Subscribe first, then read the log: whatever is persisted meanwhile comes through the
        // queue, and the replayed ids let us drop the overlap.
        self.leave();
        let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
        self.backlog = Backlog::new();
        let id = self.state.rooms.join(room, tx, self.backlog.clone());
        self.sub = Some((id, rx));
        self.send(Message::text(
            json!({ "type": "joined", "streamerId": room }).to_string(),
        ))
        .await?;
        let filters = crate::realtime::frames::filters_frame(&self.state.store.filters().get(room));
        if let Outbound::Event(f) = filters {
            self.send(Message::Text(f)).await?;
        }
        let Some(since) = since else {
            return Ok(());
        };
        // Stream the replay from the log through a small channel: memory stays bounded however
        // far behind the client is.
        let (tx, mut rx) = mpsc::channel::<SlotEvent>(256);
        let st = self.state.clone();
        let reader = tokio::task::spawn_blocking(move || {
            st.store
                .replay_since(room, since, REPLAY_WITHOUT_ANCHOR, |m| {
                    tx.blocking_send(m).is_ok()
                })
        });
        // Only the last OUTBOUND_QUEUE replayed ids can also be in the live queue (a longer overlap
        // would have overflowed it), so only those are kept.
        let mut recent: VecDeque<Uuid> = VecDeque::new();
        let mut n = 0usize;
        while let Some(m) = rx.recv().await {
            let frame = match crate::realtime::frames::slot_frame(&m) {
                Outbound::Logged { id, frame } => {
                    if recent.len() == OUTBOUND_QUEUE {
                        recent.pop_front();
                    }
                    recent.push_back(id);
                    frame
                }
                Outbound::Event(frame) => frame,
            };
            n += 1;
            let write = async {
                self.sink.feed(Message::Text(frame)).await?;
                if n.is_multiple_of(256) {
                    self.state.metrics.ws_frames_sent.inc_by(256);
                    self.sink.flush().await?;
                }
                Ok::<(), tokio_tungstenite::tungstenite::Error>(())
            };
            if !matches!(tokio::time::timeout(WRITE_TIMEOUT, write).await, Ok(Ok(()))) {
                return Err(End::Gone);
            }
        }
        self.state.metrics.ws_frames_sent.inc_by((n % 256) as u64);
        if !matches!(
            tokio::time::timeout(WRITE_TIMEOUT, self.sink.flush()).await,
            Ok(Ok(()))
        ) {
            return Err(End::Gone);
        }
        if !matches!(reader.await, Ok(Ok(()))) {
            return self
                .send(error_frame(
                    "The chat log could not be read for the replay; rejoin to try again.",
                ))
                .await;
        }
        let ids: HashSet<Uuid> = recent.into_iter().collect();
        self.replayed = Some(ids);
        Ok(())
    }
}
