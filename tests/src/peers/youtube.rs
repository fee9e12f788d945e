//! A loopback YouTube Data API v3: `videos`, `search`, `channels` and `liveChat/messages` under
//! [`BASE_PATH`] on 127.0.0.1, served by a small hand-written HTTP/1.1 responder (one request per
//! connection, `Connection: close`) so that faults are easy to inject: slow answers, bodies cut
//! short, Google's JSON error bodies.
//!
//! Scripted state: videos (scheduled → live → ended), handles → channel ids, which video a
//! channel is live with, and per chat the pages of items. Chat pages follow Google's
//! continuation rule: no `pageToken` → everything so far (history); `pageToken=p<n>` → what came
//! after the n-th page; every answer carries the next token and `pollingIntervalMillis`.
//! Quota is counted per request (videos/channels 1, search 100, chat 5) against an optional
//! daily limit that answers `403 quotaExceeded`; every request is recorded (path, decoded query,
//! time) so tests can assert pacing, tokens and where the key went.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The API's path prefix (as in `https://www.googleapis.com/youtube/v3`).
pub const BASE_PATH: &str = "/youtube/v3";

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// When it arrived.
    pub at: Instant,
    /// The path after [`BASE_PATH`]: `videos`, `search`, `channels`, `liveChat/messages`.
    pub path: String,
    /// The raw request target (path and query, still encoded).
    pub target: String,
    /// The decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Every header line, raw.
    pub headers: Vec<String>,
}

impl Request {
    /// A query parameter's decoded value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A fault served instead of (or around) the next matching answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// This status with this JSON body (see [`google_error`]).
    Status(u16, Value),
    /// Wait this long, then answer normally.
    Slow(Duration),
    /// Send the headers and half of the real body, then close.
    Cut,
    /// `200` with a body that is not JSON.
    Garbage,
}

/// Where a video stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Video {
    /// Scheduled: `liveStreamingDetails` without `activeLiveChatId`.
    Scheduled,
    /// Live with this chat id.
    Live(String),
    /// Ended: `actualEndTime` set, no chat id.
    Ended,
    /// An uploaded video without `liveStreamingDetails`.
    Upload,
}

/// How a chat ends once its pages are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatEnd {
    /// A page with `offlineAt`.
    Offline,
    /// `403 liveChatEnded`.
    Ended403,
    /// `404 liveChatNotFound`.
    NotFound404,
    /// A page with one `chatEndedEvent` item.
    ChatEndedEvent,
}

#[derive(Default)]
struct Chat {
    pages: Vec<Vec<Value>>,
    end: Option<ChatEnd>,
}

struct State {
    key: Option<String>,
    videos: HashMap<String, Video>,
    handles: HashMap<String, String>,
    live_on_channel: HashMap<String, String>,
    chats: HashMap<String, Chat>,
    faults: VecDeque<(String, Fault)>,
    polling_interval_ms: u64,
    quota_used: u64,
    quota_limit: Option<u64>,
    requests: Vec<Request>,
}

/// The running peer; stops when dropped.
pub struct YoutubePeer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for YoutubePeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Google's JSON error body: `{"error":{"code","message","errors":[{"message","domain","reason"}]}}`.
pub fn google_error(code: u16, reason: &str, message: &str) -> Value {
    let domain = match reason {
        "quotaExceeded" => "youtube.quota",
        "liveChatEnded" | "liveChatNotFound" | "liveChatDisabled" | "rateLimitExceeded" => {
            "youtube.liveChat"
        }
        _ => "global",
    };
    json!({"error": {"code": code, "message": message,
        "errors": [{"message": message, "domain": domain, "reason": reason}]}})
}

/// A `textMessageEvent` item.
pub fn text_item(id: &str, author: &str, text: &str) -> Value {
    json!({"kind": "youtube#liveChatMessage", "etag": "e", "id": id,
        "snippet": {"type": "textMessageEvent", "liveChatId": "chat", "authorChannelId": author_id(author),
            "publishedAt": "2026-01-15T20:08:08.479833+00:00", "hasDisplayContent": true,
            "displayMessage": text, "textMessageDetails": {"messageText": text}},
        "authorDetails": {"channelId": author_id(author), "channelUrl": "http://www.youtube.com/channel/x",
            "displayName": author, "profileImageUrl": "https://yt3.ggpht.com/x=s88",
            "isVerified": false, "isChatOwner": false, "isChatSponsor": false, "isChatModerator": false}})
}

fn author_id(name: &str) -> String {
    let mut id: String = format!("UC{name}")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    while id.len() < 24 {
        id.push('0');
    }
    id.truncate(24);
    id
}

/// Units one request costs.
pub fn cost(path: &str) -> u64 {
    match path {
        "search" => 100,
        "liveChat/messages" => 5,
        _ => 1,
    }
}

impl YoutubePeer {
    /// Starts the peer on 127.0.0.1:0.
    pub async fn start() -> YoutubePeer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the youtube peer");
        let addr = listener.local_addr().expect("peer address");
        let state = Arc::new(Mutex::new(State {
            key: None,
            videos: HashMap::new(),
            handles: HashMap::new(),
            live_on_channel: HashMap::new(),
            chats: HashMap::new(),
            faults: VecDeque::new(),
            polling_interval_ms: 100,
            quota_used: 0,
            quota_limit: None,
            requests: Vec::new(),
        }));
        let st = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, st.clone()));
            }
        });
        YoutubePeer { addr, state, task }
    }

    fn st(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The base URL to give the connector (`--youtube-api-url`).
    pub fn base_url(&self) -> String {
        format!("http://{}{BASE_PATH}", self.addr)
    }

    /// Requires this key (`400` with Google's "API key not valid" body otherwise).
    pub fn require_key(&self, key: &str) {
        self.st().key = Some(key.to_owned());
    }

    /// Sets a video's state.
    pub fn set_video(&self, video_id: &str, v: Video) {
        self.st().videos.insert(video_id.to_owned(), v);
    }

    /// `channels.list?forHandle=` answers this channel id for the handle (with or without `@`).
    pub fn set_handle(&self, handle: &str, channel_id: &str) {
        let h = handle.trim_start_matches('@').to_ascii_lowercase();
        self.st().handles.insert(h, channel_id.to_owned());
    }

    /// `search.list?eventType=live` finds this video on the channel (None: not live).
    pub fn set_channel_live(&self, channel_id: &str, video_id: Option<&str>) {
        let mut st = self.st();
        match video_id {
            Some(v) => st
                .live_on_channel
                .insert(channel_id.to_owned(), v.to_owned()),
            None => st.live_on_channel.remove(channel_id),
        };
    }

    /// Appends a page of items to a chat (created if new).
    pub fn push_page(&self, chat_id: &str, items: Vec<Value>) {
        self.st()
            .chats
            .entry(chat_id.to_owned())
            .or_default()
            .pages
            .push(items);
    }

    /// Ends a chat: once its pages are read, readers get `how`.
    pub fn end_chat(&self, chat_id: &str, how: ChatEnd) {
        self.st().chats.entry(chat_id.to_owned()).or_default().end = Some(how);
    }

    /// The `pollingIntervalMillis` of chat pages (default 100).
    pub fn set_polling_interval(&self, ms: u64) {
        self.st().polling_interval_ms = ms;
    }

    /// Queues a fault for the next request whose path starts with `path` (`""`: any).
    pub fn fault(&self, path: &str, f: Fault) {
        self.st().faults.push_back((path.to_owned(), f));
    }

    /// A daily limit: requests beyond it get `403 quotaExceeded` (None: unlimited).
    pub fn set_quota_limit(&self, limit: Option<u64>) {
        self.st().quota_limit = limit;
    }

    /// Starts a new quota day.
    pub fn reset_quota(&self) {
        self.st().quota_used = 0;
    }

    /// Units spent (requests answered within the limit).
    pub fn quota_used(&self) -> u64 {
        self.st().quota_used
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.st().requests.clone()
    }

    /// The requests to one path.
    pub fn requests_to(&self, path: &str) -> Vec<Request> {
        self.st()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits (polling every 10 ms) until `f` holds for the requests so far; false on timeout.
    pub async fn wait_for(&self, timeout: Duration, f: impl Fn(&[Request]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if f(&self.st().requests) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn serve(mut sock: TcpStream, state: Arc<Mutex<State>>) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 16 * 1024 {
            return;
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let headers: Vec<String> = lines.map(str::to_owned).collect();
    let target = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let path = path
        .strip_prefix(BASE_PATH)
        .unwrap_or(path)
        .trim_start_matches('/')
        .to_owned();
    let query: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    let req = Request {
        at: Instant::now(),
        path,
        target: target.clone(),
        query,
        headers,
    };
    let (fault, status, body) = {
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        st.requests.push(req.clone());
        let fault = st
            .faults
            .iter()
            .position(|(p, _)| req.path.starts_with(p.as_str()))
            .and_then(|i| st.faults.remove(i))
            .map(|(_, f)| f);
        let (status, body) = match &fault {
            Some(Fault::Status(code, body)) => (*code, body.to_string()),
            Some(Fault::Garbage) => (200, "{\"items\": [ not json".to_owned()),
            _ => answer(&mut st, &req),
        };
        (fault, status, body)
    };
    if let Some(Fault::Slow(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = sock.write_all(head.as_bytes()).await;
    let body = body.as_bytes();
    let body = if matches!(fault, Some(Fault::Cut)) {
        &body[..body.len() / 2]
    } else {
        body
    };
    let _ = sock.write_all(body).await;
    let _ = sock.flush().await;
    let _ = sock.shutdown().await;
}

/// The scripted answer to a request (and its quota).
fn answer(st: &mut State, req: &Request) -> (u16, String) {
    if let Some(key) = &st.key {
        if req.param("key") != Some(key.as_str()) {
            let body = json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                "errors": [{"message": "API key not valid. Please pass a valid API key.", "domain": "global", "reason": "badRequest"}],
                "status": "INVALID_ARGUMENT"}});
            return (400, body.to_string());
        }
    }
    let units = cost(&req.path);
    if let Some(limit) = st.quota_limit {
        if st.quota_used + units > limit {
            let e = google_error(
                403,
                "quotaExceeded",
                "The request cannot be completed because you have exceeded your <a href=\"/youtube/v3/getting-started#quota\">quota</a>.",
            );
            return (403, e.to_string());
        }
    }
    st.quota_used += units;
    match req.path.as_str() {
        "videos" => {
            let id = req.param("id").unwrap_or("");
            let items = match st.videos.get(id) {
                None => vec![],
                Some(v) => {
                    let details = match v {
                        Video::Scheduled => {
                            Some(json!({"scheduledStartTime": "2030-08-01T10:00:00Z"}))
                        }
                        Video::Live(chat) => {
                            Some(json!({"actualStartTime": "2026-01-15T19:00:00Z",
                            "scheduledStartTime": "2026-01-15T19:00:00Z", "concurrentViewers": "5290",
                            "activeLiveChatId": chat}))
                        }
                        Video::Ended => Some(json!({"actualStartTime": "2026-01-15T19:00:00Z",
                            "actualEndTime": "2026-01-15T21:00:00Z", "scheduledStartTime": "2026-01-15T19:00:00Z"})),
                        Video::Upload => None,
                    };
                    let mut item = json!({"kind": "youtube#video", "etag": "v", "id": id});
                    if let Some(d) = details {
                        item["liveStreamingDetails"] = d;
                    }
                    vec![item]
                }
            };
            let n = items.len();
            (
                200,
                json!({"kind": "youtube#videoListResponse", "etag": "l", "items": items,
                "pageInfo": {"totalResults": n, "resultsPerPage": n}})
                .to_string(),
            )
        }
        "channels" => {
            let h = req
                .param("forHandle")
                .unwrap_or("")
                .trim_start_matches('@')
                .to_ascii_lowercase();
            let items: Vec<Value> = st
                .handles
                .get(&h)
                .map(|id| json!({"kind": "youtube#channel", "etag": "c", "id": id}))
                .into_iter()
                .collect();
            let n = items.len();
            (
                200,
                json!({"kind": "youtube#channelListResponse", "etag": "c", "items": items,
                "pageInfo": {"totalResults": n, "resultsPerPage": 5}})
                .to_string(),
            )
        }
        "search" => {
            let ch = req.param("channelId").unwrap_or("");
            let items: Vec<Value> = st
                .live_on_channel
                .get(ch)
                .map(|v| {
                    json!({"kind": "youtube#searchResult", "etag": "s",
                    "id": {"kind": "youtube#video", "videoId": v}})
                })
                .into_iter()
                .collect();
            let n = items.len();
            (
                200,
                json!({"kind": "youtube#searchListResponse", "etag": "s", "regionCode": "US",
                "items": items, "pageInfo": {"totalResults": n, "resultsPerPage": 5}})
                .to_string(),
            )
        }
        "liveChat/messages" => chat_page(st, req),
        _ => (404, google_error(404, "notFound", "Not Found").to_string()),
    }
}

fn chat_page(st: &mut State, req: &Request) -> (u16, String) {
    let interval = st.polling_interval_ms;
    let id = req.param("liveChatId").unwrap_or("");
    let Some(chat) = st.chats.get_mut(id) else {
        let m = "The live chat that you are trying to retrieve cannot be found. Check the value of the requests liveChatId parameter to ensure that it is correct.";
        return (404, google_error(404, "liveChatNotFound", m).to_string());
    };
    let from = match req.param("pageToken") {
        None => 0,
        Some(t) => match t.strip_prefix('p').and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => {
                return (
                    400,
                    google_error(400, "pageTokenInvalid", "The page token is invalid.").to_string(),
                )
            }
        },
    };
    let len = chat.pages.len();
    let mut items: Vec<Value> = chat
        .pages
        .get(from..)
        .unwrap_or(&[])
        .iter()
        .flatten()
        .cloned()
        .collect();
    let next = format!("p{}", len.max(from));
    let mut page = json!({"kind": "youtube#liveChatMessageListResponse", "etag": "p",
        "nextPageToken": next, "pollingIntervalMillis": interval});
    if items.is_empty() {
        match chat.end {
            Some(ChatEnd::Ended403) => {
                return (403, google_error(403, "liveChatEnded", "The live chat is no longer live.").to_string())
            }
            Some(ChatEnd::NotFound404) => {
                let m = "The live chat that you are trying to retrieve cannot be found.";
                return (404, google_error(404, "liveChatNotFound", m).to_string());
            }
            Some(ChatEnd::Offline) => page["offlineAt"] = json!("2026-01-15T21:00:00.000Z"),
            Some(ChatEnd::ChatEndedEvent) => items.push(json!({"kind": "youtube#liveChatMessage", "etag": "e",
                "id": format!("LCC.ended.{id}"),
                "snippet": {"type": "chatEndedEvent", "liveChatId": id, "publishedAt": "2026-01-15T21:00:00Z",
                    "hasDisplayContent": false}})),
            None => {}
        }
    }
    let n = items.len();
    page["pageInfo"] = json!({"totalResults": n, "resultsPerPage": n});
    page["items"] = Value::Array(items);
    (200, page.to_string())
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
