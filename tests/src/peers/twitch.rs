//! A loopback Twitch IRC (TMI) server for the connector's tests: plain TCP and WebSocket
//! listeners on `127.0.0.1:0`, a scripted handshake taken from the real-format fixture
//! `handshake_ok.irc` (CAP ACK, 001…376, JOIN echo, NAMES, ROOMSTATE), and everything a test
//! needs to misbehave like Twitch does: raw writes (several lines at once, a line cut in two, a
//! line cut and then the connection closed), RECONNECT, PINGs ignored (silence), JOINs never
//! confirmed (ghost), NOTICE refusals, duplicates, garbage and 64 KiB lines. It records what the
//! client sent (NICK, CAP, JOINs, PONGs) with timestamps, so tests can assert pacing and rejoins.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// The fixtures directory (`ingest/tests/fixtures/twitch`).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ingest/tests/fixtures/twitch")
}

/// A fixture's lines (without `\r\n`).
pub fn fixture_lines(name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(fixtures_dir().join(name))
        .unwrap_or_else(|e| panic!("read fixture {name}: {e}"));
    text.split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// How the peer confirms a JOIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// The JOIN echo only.
    Echo,
    /// ROOMSTATE only.
    Roomstate,
    /// Echo, NAMES and ROOMSTATE, as Twitch does.
    Both,
}

/// What the peer does on its own.
#[derive(Debug, Clone)]
pub struct Script {
    /// How JOINs are confirmed.
    pub confirm: Confirm,
    /// Answer the client's PINGs with PONG (false: silence).
    pub answer_pings: bool,
    /// Channels whose JOIN is never confirmed.
    pub ghost: HashSet<String>,
    /// Channels refused with a NOTICE of this `msg-id` (from `notice_refusals.irc`).
    pub refuse: HashMap<String, String>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            confirm: Confirm::Both,
            answer_pings: true,
            ghost: HashSet::new(),
            refuse: HashMap::new(),
        }
    }
}

/// A line the client sent.
#[derive(Debug, Clone)]
pub struct Received {
    /// Which connection (0-based, in accept order, TCP and WebSocket alike).
    pub conn: usize,
    /// When it arrived.
    pub at: Instant,
    /// The line, without `\r\n`.
    pub line: String,
}

enum Out {
    Raw(String),
    Close,
}

struct ConnInfo {
    tx: mpsc::UnboundedSender<Out>,
    nick: String,
    joined: Vec<String>,
    open: bool,
}

#[derive(Default)]
struct State {
    script: Script,
    conns: Vec<ConnInfo>,
    received: Vec<Received>,
}

type Shared = Arc<Mutex<State>>;

/// The running peer; its listeners and connections stop when it is dropped.
pub struct TwitchPeer {
    state: Shared,
    tcp: SocketAddr,
    ws: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for TwitchPeer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for c in &st.conns {
            let _ = c.tx.send(Out::Close);
        }
    }
}

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

impl TwitchPeer {
    /// Binds both listeners on 127.0.0.1:0 and serves with `script`.
    pub async fn start(script: Script) -> TwitchPeer {
        let state: Shared = Arc::new(Mutex::new(State {
            script,
            ..State::default()
        }));
        let tcp_l = TcpListener::bind("127.0.0.1:0").await.expect("bind tcp");
        let ws_l = TcpListener::bind("127.0.0.1:0").await.expect("bind ws");
        let (tcp, ws) = (tcp_l.local_addr().unwrap(), ws_l.local_addr().unwrap());
        let s1 = state.clone();
        let t1 = tokio::spawn(async move {
            while let Ok((sock, _)) = tcp_l.accept().await {
                tokio::spawn(serve_tcp(s1.clone(), sock));
            }
        });
        let s2 = state.clone();
        let t2 = tokio::spawn(async move {
            while let Ok((sock, _)) = ws_l.accept().await {
                tokio::spawn(serve_ws(s2.clone(), sock));
            }
        });
        TwitchPeer {
            state,
            tcp,
            ws,
            tasks: vec![t1, t2],
        }
    }

    /// `irc://127.0.0.1:<port>`.
    pub fn irc_url(&self) -> String {
        format!("irc://{}", self.tcp)
    }

    /// `ws://127.0.0.1:<port>`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.ws)
    }

    /// Changes the script for what follows.
    pub fn script(&self, f: impl FnOnce(&mut Script)) {
        f(&mut lock(&self.state).script);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        lock(&self.state).conns.len()
    }

    /// Whether connection `conn` is still open.
    pub fn is_open(&self, conn: usize) -> bool {
        lock(&self.state).conns.get(conn).is_some_and(|c| c.open)
    }

    /// The channels connection `conn` has joined (confirmed or ghost).
    pub fn joined(&self, conn: usize) -> Vec<String> {
        lock(&self.state)
            .conns
            .get(conn)
            .map(|c| c.joined.clone())
            .unwrap_or_default()
    }

    /// Everything the clients sent.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.state).received.clone()
    }

    /// The JOINs the clients sent: (connection, when, channel), one per channel of a list.
    pub fn joins(&self) -> Vec<(usize, Instant, String)> {
        self.received()
            .into_iter()
            .filter_map(|r| {
                let list = r.line.strip_prefix("JOIN ")?.to_owned();
                Some(
                    list.split(',')
                        .map(|c| (r.conn, r.at, c.trim().trim_start_matches('#').to_owned()))
                        .collect::<Vec<_>>(),
                )
            })
            .flatten()
            .collect()
    }

    /// Writes `text` as is on connection `conn` (TCP: raw bytes, so lines may be cut or
    /// batched; WebSocket: one text frame).
    pub fn send_raw(&self, conn: usize, text: &str) {
        if let Some(c) = lock(&self.state).conns.get(conn) {
            let _ = c.tx.send(Out::Raw(text.to_owned()));
        }
    }

    /// Writes each line with `\r\n`, all in one write (one frame).
    pub fn send_lines(&self, conn: usize, lines: &[&str]) {
        let mut text = String::new();
        for l in lines {
            text.push_str(l);
            text.push_str("\r\n");
        }
        self.send_raw(conn, &text);
    }

    /// Sends `line` on the newest open connection that joined `channel`; returns which.
    pub fn send_to_channel(&self, channel: &str, line: &str) -> Option<usize> {
        let st = lock(&self.state);
        let (i, c) = st
            .conns
            .iter()
            .enumerate()
            .rev()
            .find(|(_, c)| c.open && c.joined.iter().any(|j| j == channel))?;
        let _ = c.tx.send(Out::Raw(format!("{line}\r\n")));
        Some(i)
    }

    /// Closes connection `conn` (after what was queued before).
    pub fn close(&self, conn: usize) {
        if let Some(c) = lock(&self.state).conns.get(conn) {
            let _ = c.tx.send(Out::Close);
        }
    }

    /// Waits until `f` holds (polling every 5 ms), or panics after `timeout` with `what`.
    pub async fn wait(&self, timeout: Duration, what: &str, f: impl Fn(&TwitchPeer) -> bool) {
        let deadline = Instant::now() + timeout;
        while !f(self) {
            assert!(Instant::now() < deadline, "timed out waiting for: {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Registers a connection; returns its id and the queue its writer drains.
fn register(state: &Shared) -> (usize, mpsc::UnboundedReceiver<Out>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut st = lock(state);
    st.conns.push(ConnInfo {
        tx,
        nick: String::new(),
        joined: Vec::new(),
        open: true,
    });
    (st.conns.len() - 1, rx)
}

fn closed(state: &Shared, id: usize) {
    if let Some(c) = lock(state).conns.get_mut(id) {
        c.open = false;
    }
}

/// What the server answers to one client line.
fn respond(state: &Shared, id: usize, line: &str) -> Vec<String> {
    let mut st = lock(state);
    st.received.push(Received {
        conn: id,
        at: Instant::now(),
        line: line.to_owned(),
    });
    let script = st.script.clone();
    let mut out = Vec::new();
    let handshake = fixture_lines("handshake_ok.irc");
    let join_at = handshake
        .iter()
        .position(|l| l.contains(" JOIN "))
        .unwrap_or(handshake.len());
    let conn = &mut st.conns[id];
    if line.starts_with("CAP REQ") {
        out.push(handshake[0].clone());
    } else if let Some(nick) = line.strip_prefix("NICK ") {
        conn.nick = nick.trim().to_owned();
        out.extend(
            handshake[1..join_at]
                .iter()
                .map(|l| l.replace("justinfan12345", &conn.nick)),
        );
    } else if let Some(list) = line.strip_prefix("JOIN ") {
        for ch in list.split(',') {
            let ch = ch.trim().trim_start_matches('#').to_owned();
            if let Some(id) = script.refuse.get(&ch) {
                if let Some(notice) = fixture_lines("notice_refusals.irc")
                    .into_iter()
                    .find(|l| l.contains(&format!("msg-id={id} ")))
                {
                    out.push(notice.replace("{channel}", &ch));
                }
                continue;
            }
            conn.joined.push(ch.clone());
            if script.ghost.contains(&ch) {
                continue;
            }
            for l in &handshake[join_at..] {
                let is_echo = l.contains(" JOIN ");
                let is_room = l.contains(" ROOMSTATE ");
                let wanted = match script.confirm {
                    Confirm::Both => true,
                    Confirm::Echo => !is_room,
                    Confirm::Roomstate => !is_echo,
                };
                if wanted {
                    out.push(
                        l.replace("justinfan12345", &conn.nick)
                            .replace("{channel}", &ch),
                    );
                }
            }
        }
    } else if let Some(list) = line.strip_prefix("PART ") {
        for ch in list.split(',') {
            let ch = ch.trim().trim_start_matches('#');
            conn.joined.retain(|j| j != ch);
        }
    } else if let Some(arg) = line.strip_prefix("PING") {
        if script.answer_pings {
            let arg = arg.trim().trim_start_matches(':');
            out.push(format!(":tmi.twitch.tv PONG tmi.twitch.tv :{arg}"));
        }
    }
    out
}

fn queue_lines(state: &Shared, id: usize, lines: Vec<String>) {
    if lines.is_empty() {
        return;
    }
    let mut text = String::new();
    for l in lines {
        text.push_str(&l);
        text.push_str("\r\n");
    }
    if let Some(c) = lock(state).conns.get(id) {
        let _ = c.tx.send(Out::Raw(text));
    }
}

async fn serve_tcp(state: Shared, sock: TcpStream) {
    let _ = sock.set_nodelay(true);
    let (id, mut rx) = register(&state);
    let (r, mut w) = sock.into_split();
    let writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            match out {
                Out::Raw(t) => {
                    if w.write_all(t.as_bytes()).await.is_err() {
                        break;
                    }
                }
                Out::Close => break,
            }
        }
        let _ = w.shutdown().await;
    });
    let mut lines = BufReader::new(r).lines();
    let reader = async {
        while let Ok(Some(line)) = lines.next_line().await {
            let line = line.trim_end_matches('\r').to_owned();
            let out = respond(&state, id, &line);
            queue_lines(&state, id, out);
        }
    };
    tokio::select! {
        _ = reader => {}
        _ = writer => {}
    }
    closed(&state, id);
}

async fn serve_ws(state: Shared, sock: TcpStream) {
    let Ok(ws) = tokio_tungstenite::accept_async(sock).await else {
        return;
    };
    let (id, mut rx) = register(&state);
    let (mut sink, mut stream) = ws.split();
    let writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            match out {
                Out::Raw(t) => {
                    if sink.send(Message::text(t)).await.is_err() {
                        break;
                    }
                }
                Out::Close => {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
            }
        }
        let _ = sink.close().await;
    });
    let reader = async {
        while let Some(Ok(msg)) = stream.next().await {
            let text = match msg {
                Message::Text(t) => t.to_string(),
                Message::Close(_) => break,
                _ => continue,
            };
            let mut out = Vec::new();
            for l in text.split("\r\n").filter(|l| !l.is_empty()) {
                out.extend(respond(&state, id, l));
            }
            queue_lines(&state, id, out);
        }
    };
    tokio::select! {
        _ = reader => {}
        _ = writer => {}
    }
    closed(&state, id);
}
