//! One anonymous TMI connection serving up to 90 channels: handshake, paced JOINs with a
//! confirmation watchdog, PING/PONG both ways, RECONNECT with overlap (the new connection joins
//! before the old one is closed; the sink drops the overlap's duplicates by id), reconnect with
//! backoff, and every chat line mapped and written to the ring.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::map::{map, Mapped};
use super::parse::Line;
use super::timing::{JoinLimiter, Timing};
use super::transport::{ConnectError, Incoming, Transport};
use crate::connectors::{Backoff, ChannelState, ConnectorCtx};

/// What the pool asks of a connection.
#[derive(Debug, Clone)]
pub enum Cmd {
    /// Read this channel too.
    Join(String),
    /// Stop reading it.
    Part(String),
}

/// NOTICE `msg-id`s that refuse a JOIN, with what the streamer can do.
const REFUSALS: &[(&str, &str)] = &[
    (
        "msg_channel_suspended",
        "check the channel name; it may not exist or may be suspended",
    ),
    (
        "msg_concurrent_channel_limit_reached",
        "too many channels are read from this address; unlink some channels",
    ),
    ("msg_channel_blocked", "Twitch blocks reading this channel"),
    ("tos_ban", "the channel is banned from Twitch"),
];

const LIVE: &str = "reading chat";
const JOINING: &str = "joining the channel's chat";
const CONNECTING: &str = "connecting to Twitch chat";

#[derive(Debug, Default)]
struct JoinState {
    sent_at: Option<Instant>,
    tries: u32,
    confirmed: bool,
    failed: bool,
}

/// One open socket and what it has joined.
struct Session {
    t: Transport,
    nick: String,
    joins: HashMap<String, JoinState>,
    queue: VecDeque<String>,
    last_rx: Instant,
    ping_sent: Option<Instant>,
    opened: Instant,
}

impl Session {
    fn settled(&self) -> bool {
        self.queue.is_empty() && self.joins.values().all(|j| j.confirmed || j.failed)
    }
}

/// Why a session ended.
enum End {
    Stopped,
    Idle,
    Lost(String),
}

/// What the handling of a line asks for.
enum Flow {
    Go,
    Reconnect,
}

/// A connection task's state.
pub struct Conn {
    ctx: ConnectorCtx,
    timing: Arc<Timing>,
    limiter: Arc<JoinLimiter>,
    channels: BTreeSet<String>,
    cmds: mpsc::Receiver<Cmd>,
    cmds_open: bool,
    backoff: Backoff,
    last_warn: Option<Instant>,
}

fn nick() -> String {
    format!("justinfan{}", rand::rng().random_range(10_000u32..100_000))
}

impl Conn {
    /// A connection for `channels`, taking further orders from `cmds`.
    pub fn new(
        ctx: ConnectorCtx,
        timing: Arc<Timing>,
        limiter: Arc<JoinLimiter>,
        channels: BTreeSet<String>,
        cmds: mpsc::Receiver<Cmd>,
    ) -> Conn {
        let backoff = Backoff::new(timing.backoff_base, timing.backoff_max);
        Conn {
            ctx,
            timing,
            limiter,
            channels,
            cmds,
            cmds_open: true,
            backoff,
            last_warn: None,
        }
    }

    fn set_all(&self, state: ChannelState, detail: &str) {
        for c in &self.channels {
            self.ctx.status.set(c, state, detail);
        }
    }

    /// Runs until shutdown or until the pool drops it with no channels left.
    pub async fn run(mut self) {
        loop {
            if self.ctx.is_stopping() || (self.channels.is_empty() && !self.cmds_open) {
                return;
            }
            self.set_all(ChannelState::Connecting, CONNECTING);
            let opened = tokio::select! {
                s = self.open() => s,
                _ = self.ctx.stopped() => return,
            };
            let reason = match opened {
                Ok(session) => {
                    self.ctx.metrics.connections.fetch_add(1, Relaxed);
                    let end = self.drive(session).await;
                    self.ctx.metrics.connections.fetch_sub(1, Relaxed);
                    match end {
                        End::Stopped => return,
                        End::Idle => return,
                        End::Lost(why) => why,
                    }
                }
                Err(e) => e.to_string(),
            };
            self.ctx.metrics.reconnects.fetch_add(1, Relaxed);
            let delay = self.backoff.next_delay();
            let detail = format!(
                "{reason}; reconnecting in {} s (attempt {})",
                delay.as_secs_f64().ceil().max(1.0) as u64,
                self.backoff.attempt()
            );
            tracing::warn!(platform = "twitch", "{detail}");
            self.set_all(ChannelState::Connecting, &detail);
            let until = tokio::time::Instant::now() + delay;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => break,
                    _ = self.ctx.stopped() => return,
                    cmd = self.cmds.recv(), if self.cmds_open => self.apply(cmd, None),
                }
            }
        }
    }

    /// Connects and sends the handshake; every channel is queued for a JOIN.
    async fn open(&self) -> Result<Session, ConnectError> {
        let t = Transport::connect(
            &self.ctx.endpoints.twitch_irc_url,
            self.timing.connect_timeout,
        )
        .await?;
        self.start_session(t).await
    }

    async fn start_session(&self, mut t: Transport) -> Result<Session, ConnectError> {
        let nick = nick();
        for l in [
            "CAP REQ :twitch.tv/tags twitch.tv/commands".to_owned(),
            format!("NICK {nick}"),
        ] {
            t.send_line(&l)
                .await
                .map_err(|e| ConnectError::Io(e.to_string()))?;
        }
        let now = Instant::now();
        Ok(Session {
            t,
            nick,
            joins: self
                .channels
                .iter()
                .map(|c| (c.clone(), JoinState::default()))
                .collect(),
            queue: self.channels.iter().cloned().collect(),
            last_rx: now,
            ping_sent: None,
            opened: now,
        })
    }

    /// Applies a pool order to the channel set and the open sessions.
    fn apply(&mut self, cmd: Option<Cmd>, sessions: Option<[Option<&mut Session>; 2]>) {
        let Some(cmd) = cmd else {
            self.cmds_open = false;
            return;
        };
        match &cmd {
            Cmd::Join(c) => {
                if self.channels.insert(c.clone()) {
                    self.ctx.status.set(c, ChannelState::Connecting, JOINING);
                }
            }
            Cmd::Part(c) => {
                self.channels.remove(c);
            }
        }
        for s in sessions.into_iter().flatten().flatten() {
            match &cmd {
                Cmd::Join(c) => {
                    if !s.joins.contains_key(c) {
                        s.joins.insert(c.clone(), JoinState::default());
                        s.queue.push_back(c.clone());
                    }
                }
                Cmd::Part(c) => {
                    s.joins.remove(c);
                    s.queue.retain(|q| q != c);
                }
            }
        }
    }

    /// Reads one session (and, during a RECONNECT, its successor) until it ends.
    async fn drive(&mut self, first: Session) -> End {
        let mut cur: Option<Session> = Some(first);
        let mut next: Option<Session> = None;
        let mut switching: Option<JoinHandle<Result<Transport, ConnectError>>> = None;
        let mut tick = tokio::time::interval(self.timing.tick());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.pump_joins(cur.as_mut(), true).await;
            self.pump_joins(next.as_mut(), false).await;
            // The successor takes over once its JOINs are settled (or the join timeout passed):
            // only then is the old connection closed, so nothing sent meanwhile is missed.
            if next.as_ref().is_some_and(|n| {
                n.settled() || n.opened.elapsed() >= self.timing.join_timeout || cur.is_none()
            }) {
                if let Some(mut old) = cur.take() {
                    let _ = tokio::time::timeout(Duration::from_millis(500), old.t.close()).await;
                }
                cur = next.take();
                tracing::info!(
                    platform = "twitch",
                    "switched to the new connection after RECONNECT"
                );
            }
            if cur.is_none() && next.is_none() && switching.is_none() {
                return End::Lost("Twitch closed the connection after asking to reconnect".into());
            }
            let event = tokio::select! {
                r = next_line(cur.as_mut()) => Ev::Line(true, r),
                r = next_line(next.as_mut()) => Ev::Line(false, r),
                r = wait_switch(&mut switching) => Ev::Switched(r),
                cmd = self.cmds.recv(), if self.cmds_open => Ev::Cmd(cmd),
                _ = tick.tick() => Ev::Tick,
                _ = self.ctx.stopped() => Ev::Stop,
            };
            match event {
                Ev::Stop => {
                    for s in [cur.as_mut(), next.as_mut()].into_iter().flatten() {
                        let _ = tokio::time::timeout(Duration::from_millis(500), s.t.close()).await;
                    }
                    return End::Stopped;
                }
                Ev::Cmd(cmd) => {
                    let part = match &cmd {
                        Some(Cmd::Part(c)) => Some(c.clone()),
                        _ => None,
                    };
                    self.apply(cmd, Some([cur.as_mut(), next.as_mut()]));
                    if let Some(c) = part {
                        for s in [cur.as_mut(), next.as_mut()].into_iter().flatten() {
                            let _ = s.t.send_line(&format!("PART #{c}")).await;
                        }
                    }
                    if self.channels.is_empty() && !self.cmds_open {
                        return End::Idle;
                    }
                }
                Ev::Line(is_cur, r) => {
                    let next_was_none = next.is_none();
                    let slot = if is_cur { &mut cur } else { &mut next };
                    let Some(s) = slot.as_mut() else { continue };
                    let closed = match r {
                        Some(Ok(Some(Incoming::Line(line)))) => {
                            s.last_rx = Instant::now();
                            if let Flow::Reconnect = self.handle_line(s, &line).await {
                                if is_cur && next_was_none && switching.is_none() {
                                    tracing::info!(
                                        platform = "twitch",
                                        "Twitch asked to reconnect; joining on a new connection first"
                                    );
                                    let url = self.ctx.endpoints.twitch_irc_url.clone();
                                    let timeout = self.timing.connect_timeout;
                                    switching = Some(tokio::spawn(async move {
                                        Transport::connect(&url, timeout).await
                                    }));
                                }
                            }
                            None
                        }
                        Some(Ok(Some(Incoming::TooLong))) => {
                            s.last_rx = Instant::now();
                            self.parse_error("a line longer than 256 KiB");
                            None
                        }
                        Some(Ok(None)) | None => Some("Twitch closed the connection".to_owned()),
                        Some(Err(e)) => Some(format!("the connection to Twitch chat failed ({e})")),
                    };
                    if let Some(why) = closed {
                        *slot = None;
                        if is_cur && next_was_none && switching.is_none() {
                            return End::Lost(why);
                        }
                    }
                }
                Ev::Switched(r) => {
                    switching = None;
                    let s = match r {
                        Ok(t) => self.start_session(t).await,
                        Err(e) => Err(e),
                    };
                    match s {
                        Ok(s) => next = Some(s),
                        Err(e) => {
                            tracing::warn!(platform = "twitch", "after RECONNECT: {e}");
                            if cur.is_none() {
                                return End::Lost(e.to_string());
                            }
                        }
                    }
                }
                Ev::Tick => {
                    if let Some(why) = self.watchdogs(cur.as_mut()).await {
                        if next.is_none() {
                            return End::Lost(why);
                        }
                        cur = None;
                    }
                    if self.watchdogs(next.as_mut()).await.is_some() {
                        next = None;
                    }
                }
            }
        }
    }

    /// Sends the JOINs the rate limit allows now.
    async fn pump_joins(&mut self, s: Option<&mut Session>, current: bool) {
        let Some(s) = s else { return };
        while let Some(c) = s.queue.front().cloned() {
            if self.limiter.try_acquire().is_err() {
                return;
            }
            s.queue.pop_front();
            let Some(j) = s.joins.get_mut(&c) else {
                continue;
            };
            j.sent_at = Some(Instant::now());
            j.tries += 1;
            if s.t.send_line(&format!("JOIN #{c}")).await.is_err() {
                return; // the read side reports the broken connection
            }
            if current && !j.confirmed {
                let live = self
                    .ctx
                    .status
                    .get(&c)
                    .is_some_and(|st| st.state == ChannelState::Live);
                if !live {
                    self.ctx.status.set(&c, ChannelState::Connecting, JOINING);
                }
            }
        }
    }

    /// Silence → our PING; no PONG in time → the session is dead (returned as a sentence).
    /// Unconfirmed JOINs are sent again, then given up with an `error`.
    async fn watchdogs(&mut self, s: Option<&mut Session>) -> Option<String> {
        let s = s?;
        let now = Instant::now();
        match s.ping_sent {
            Some(at) if now.duration_since(at) >= self.timing.pong_timeout => {
                return Some(format!(
                    "Twitch stopped answering (no PONG within {} s)",
                    self.timing.pong_timeout.as_secs().max(1)
                ));
            }
            None if now.duration_since(s.last_rx) >= self.timing.silence => {
                s.ping_sent = Some(now);
                let _ = s.t.send_line("PING :tmi.twitch.tv").await;
            }
            _ => {}
        }
        for (c, j) in s.joins.iter_mut() {
            let overdue = j
                .sent_at
                .is_some_and(|t| now.duration_since(t) >= self.timing.join_timeout);
            if j.confirmed || j.failed || !overdue {
                continue;
            }
            if j.tries >= self.timing.join_tries {
                j.failed = true;
                self.ctx.status.set(
                    c,
                    ChannelState::Error,
                    format!(
                        "Twitch never confirmed joining #{c} after {} tries; check the channel \
                         name, or unlink it and link it again",
                        j.tries
                    ),
                );
            } else {
                j.sent_at = None;
                s.queue.push_back(c.clone());
            }
        }
        None
    }

    /// Handles one server line.
    async fn handle_line(&mut self, s: &mut Session, raw: &str) -> Flow {
        let line = match Line::parse(raw) {
            Ok(l) => l,
            Err(_) => {
                self.parse_error("a line that is not IRC");
                return Flow::Go;
            }
        };
        match line.command {
            "PING" => {
                let arg = line.param(0).unwrap_or("tmi.twitch.tv");
                let _ = s.t.send_line(&format!("PONG :{arg}")).await;
            }
            "PONG" => s.ping_sent = None,
            "RECONNECT" => return Flow::Reconnect,
            "JOIN" => {
                let ours = line.nick().is_some_and(|n| n.eq_ignore_ascii_case(&s.nick));
                match line.channel() {
                    Some(c) if ours => self.confirm(s, &c),
                    _ => {
                        self.ctx.metrics.skipped.fetch_add(1, Relaxed);
                    }
                }
            }
            "ROOMSTATE" => {
                if let Some(c) = line.channel() {
                    self.confirm(s, &c);
                }
            }
            "NOTICE" => {
                let id = line.tag("msg-id").unwrap_or("");
                let refusal = REFUSALS.iter().find(|(k, _)| *k == id);
                match (refusal, line.channel()) {
                    (Some((_, hint)), Some(c)) if s.joins.contains_key(&c) => {
                        let said = line.param(1).unwrap_or("").trim();
                        if let Some(j) = s.joins.get_mut(&c) {
                            j.failed = true;
                            j.confirmed = false;
                        }
                        self.ctx.status.set(
                            &c,
                            ChannelState::Error,
                            format!("Twitch refused to join #{c}: {said} ({hint})"),
                        );
                    }
                    _ => {
                        self.ctx.metrics.skipped.fetch_add(1, Relaxed);
                    }
                }
            }
            "CAP" => {}
            cmd if cmd.bytes().all(|b| b.is_ascii_digit()) => {} // welcome and NAMES numerics
            _ => match map(&line) {
                Ok(Mapped::Event { channel, event }) => {
                    self.ctx.sink.emit(&channel, event).await;
                }
                Ok(Mapped::Skipped) => {
                    self.ctx.metrics.skipped.fetch_add(1, Relaxed);
                }
                Err(e) => self.parse_error(&format!("a {} line ({e:?})", line.command)),
            },
        }
        Flow::Go
    }

    fn confirm(&mut self, s: &mut Session, c: &str) {
        let Some(j) = s.joins.get_mut(c) else { return };
        if j.confirmed || !self.channels.contains(c) {
            return;
        }
        j.confirmed = true;
        j.failed = false;
        self.backoff.connected();
        self.ctx.status.set(c, ChannelState::Live, LIVE);
    }

    /// Counts an unusable line; warns at most every 10 s per connection.
    fn parse_error(&mut self, what: &str) {
        self.ctx.metrics.parse_errors.fetch_add(1, Relaxed);
        if self
            .last_warn
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
        {
            self.last_warn = Some(Instant::now());
            tracing::warn!(
                platform = "twitch",
                "skipped {what} from Twitch (counted in parse errors)"
            );
        }
    }
}

enum Ev {
    Line(bool, Option<std::io::Result<Option<Incoming>>>),
    Switched(Result<Transport, ConnectError>),
    Cmd(Option<Cmd>),
    Tick,
    Stop,
}

async fn next_line(s: Option<&mut Session>) -> Option<std::io::Result<Option<Incoming>>> {
    match s {
        Some(s) => Some(s.t.next_line().await),
        None => std::future::pending().await,
    }
}

async fn wait_switch(
    h: &mut Option<JoinHandle<Result<Transport, ConnectError>>>,
) -> Result<Transport, ConnectError> {
    match h {
        Some(h) => match h.await {
            Ok(r) => r,
            Err(e) => Err(ConnectError::Io(e.to_string())),
        },
        None => std::future::pending().await,
    }
}
