//! The pump and the WebSocket rooms, with the gateway running in process on a real listener and
//! the test writing into the segment the way an ingest does.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use shm_layout::{ChatMessage, Platform, Segment};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const JSON: (&str, &str) = ("Content-Type", "application/json");

/// A gateway running in this process.
struct Gw {
    addr: SocketAddr,
    shm: String,
    segment: Arc<Segment>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), gateway::RunError>>>,
}

impl Gw {
    async fn start(dir: &std::path::Path, extra: &[&str]) -> Gw {
        let cfg = config(dir, extra);
        let shm = cfg.shm_name.clone();
        let listener = gateway::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(gateway::run(cfg, listener, async move {
            let _ = rx.await;
        }));
        // The gateway creates the segment if needed; open it as an ingest would.
        let segment = loop {
            if let Ok(s) = Segment::open_existing(&shm) {
                break s;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        for _ in 0..200 {
            if try_http(addr, "GET", "/healthz", &[], "").await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Gw {
            addr,
            shm,
            segment: Arc::new(segment),
            stop: Some(tx),
            task: Some(task),
        }
    }

    async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .expect("the gateway stops within 10 s")
                .unwrap()
                .unwrap();
        }
    }

    /// Registers and logs in; returns (id, cookie header value).
    async fn account(&self, name: &str) -> (Uuid, String) {
        let body = format!(r#"{{"username":"{name}","password":"secret"}}"#);
        let (s, _, _) = http(self.addr, "POST", "/api/auth/register", &[JSON], &body).await;
        assert_eq!(s, 201);
        let (s, head, body) = http(self.addr, "POST", "/api/auth/login", &[JSON], &body).await;
        assert_eq!(s, 200);
        let cookie = head
            .lines()
            .find_map(|l| l.strip_prefix("set-cookie: "))
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let v: Value = serde_json::from_str(&body).unwrap();
        (v["user"]["id"].as_str().unwrap().parse().unwrap(), cookie)
    }

    async fn post(&self, path: &str, body: &str, cookie: &str) -> Value {
        let (s, _, text) = http(self.addr, "POST", path, &[JSON, ("Cookie", cookie)], body).await;
        assert!(s < 300, "{path}: {s} {text}");
        serde_json::from_str(&text).unwrap()
    }

    async fn get(&self, path: &str, cookie: &str) -> Value {
        let (s, _, text) = http(self.addr, "GET", path, &[("Cookie", cookie)], "").await;
        assert_eq!(s, 200, "{path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Writes a message into the ring as an ingest would, waiting for space.
    fn enqueue(&self, m: &ChatMessage) {
        self.enqueue_raw(&m.to_json());
    }

    fn enqueue_raw(&self, bytes: &[u8]) {
        for _ in 0..10_000 {
            match self.segment.try_enqueue(bytes, Duration::from_millis(100)) {
                Ok(_) => return,
                Err(shm_layout::EnqueueError::Full) => {
                    std::thread::sleep(Duration::from_micros(200))
                }
                Err(e) => panic!("enqueue: {e}"),
            }
        }
        panic!("the ring stayed full");
    }

    async fn ws(&self, cookie: &str) -> Ws {
        let mut req = format!("ws://{}/api/socket", self.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut().insert("cookie", cookie.parse().unwrap());
        tokio_tungstenite::connect_async(req)
            .await
            .expect("websocket")
            .0
    }
}

impl Drop for Gw {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = shm_layout::remove(&self.shm);
    }
}

fn msg(streamer: Uuid, platform: Platform, text: &str) -> ChatMessage {
    ChatMessage {
        is_vip: true,
        is_mod: true,
        color: Some("#112233".into()),
        ..ChatMessage::simple(
            Uuid::new_v4(),
            streamer,
            platform,
            "viewer",
            text,
            shm_layout::now_ms(),
        )
    }
}

/// The next text frame as JSON (skipping pings), within 5 s.
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame within 5 s")
            .expect("the socket is open")
            .expect("a frame");
        match m {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

async fn join(ws: &mut Ws, id: Uuid, since: Option<Uuid>) {
    let mut j = serde_json::json!({ "type": "join", "streamerId": id });
    if let Some(s) = since {
        j["since"] = Value::from(s.to_string());
    }
    ws.send(Message::text(j.to_string())).await.unwrap();
    let v = next_json(ws).await;
    assert_eq!(v["type"], "joined", "{v}");
    // The streamer's filters follow `joined`, before any replay.
    let v = next_json(ws).await;
    assert_eq!(v["type"], "filters", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_persisted_then_pushed_in_order_and_archived() {
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Gw::start(dir.path(), &[]).await;
    let (id, cookie) = gw.account("olga").await;
    gw.post("/api/stream/control", r#"{"action":"start"}"#, &cookie)
        .await;
    let mut ws = gw.ws(&cookie).await;
    join(&mut ws, id, None).await;

    let sent: Vec<_> = [Platform::Twitch, Platform::YouTube, Platform::Kick]
        .into_iter()
        .enumerate()
        .map(|(i, p)| msg(id, p, &format!("hello {i}")))
        .collect();
    for m in &sent {
        gw.enqueue(m);
    }
    for m in &sent {
        let v = next_json(&mut ws).await;
        assert_eq!(v["type"], "chat:message");
        let got: ChatMessage = serde_json::from_value(v["message"].clone()).unwrap();
        assert_eq!(&got, m, "every field, in order");
    }
    // Pushed only after persistence: it is already in the log.
    let log = gw.get("/api/messages", &cookie).await;
    assert_eq!(log["messages"].as_array().unwrap().len(), 3);

    let r = gw
        .post("/api/stream/control", r#"{"action":"end"}"#, &cookie)
        .await;
    assert_eq!(r["session"]["messageCount"], 3);
    let v = next_json(&mut ws).await;
    assert_eq!(v["type"], "stream");
    assert_eq!(v["status"], "ended");
    assert_eq!(v["session"]["messageCount"], 3);
    let (s, _, metrics) = http(gw.addr, "GET", "/metrics", &[], "").await;
    assert_eq!(s, 200);
    assert!(
        metrics.contains("crosschat_pump_persisted_total 3\n"),
        "{metrics}"
    );
    assert!(metrics.contains("crosschat_ring_depth 0\n"), "{metrics}");
    assert!(
        metrics.contains("crosschat_ws_subscribers 1\n"),
        "{metrics}"
    );
    let sid = r["session"]["id"].as_str().unwrap();
    let t = gw
        .get(&format!("/api/messages?session={sid}"), &cookie)
        .await;
    let got: Vec<ChatMessage> = serde_json::from_value(t["messages"].clone()).unwrap();
    assert_eq!(got, sent);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Gw::start(dir.path(), &[]).await;
    let (a, ca) = gw.account("pia").await;
    let (b, cb) = gw.account("quinn").await;
    let mut wa = gw.ws(&ca).await;
    let mut wb = gw.ws(&cb).await;
    // Joining the other streamer's room is refused with an error frame, not a join.
    wa.send(Message::text(format!(
        r#"{{"type":"join","streamerId":"{b}"}}"#
    )))
    .await
    .unwrap();
    let v = next_json(&mut wa).await;
    assert_eq!(v["type"], "error");
    assert!(v["error"].as_str().unwrap().contains("your own room"));
    join(&mut wa, a, None).await;
    join(&mut wb, b, None).await;
    gw.enqueue(&msg(a, Platform::Kick, "for pia"));
    gw.enqueue(&msg(b, Platform::Kick, "for quinn"));
    assert_eq!(next_json(&mut wa).await["message"]["text"], "for pia");
    assert_eq!(next_json(&mut wb).await["message"]["text"], "for quinn");
    // Nothing else arrives for either.
    assert!(tokio::time::timeout(Duration::from_millis(200), wa.next())
        .await
        .is_err());

    // No cookie, a forged cookie or a foreign Origin: refused before the upgrade.
    let upgrade = [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let (s, _, body) = http(gw.addr, "GET", "/api/socket", &upgrade, "").await;
    assert_eq!(s, 401, "{body}");
    let mut h = upgrade.to_vec();
    h.push(("Cookie", r#"streamer_session={"id":"x","username":"pia"}"#));
    assert_eq!(http(gw.addr, "GET", "/api/socket", &h, "").await.0, 401);
    let mut h = upgrade.to_vec();
    h.push(("Cookie", &ca));
    h.push(("Origin", "http://evil.example"));
    assert_eq!(http(gw.addr, "GET", "/api/socket", &h, "").await.0, 403);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejoin_with_since_gets_exactly_what_was_missed() {
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Gw::start(dir.path(), &[]).await;
    let (id, cookie) = gw.account("rosa").await;
    let mut ws = gw.ws(&cookie).await;
    join(&mut ws, id, None).await;
    let first = msg(id, Platform::Twitch, "before");
    gw.enqueue(&first);
    assert_eq!(
        next_json(&mut ws).await["message"]["id"],
        first.id.to_string()
    );
    drop(ws);

    let missed: Vec<_> = (0..100)
        .map(|i| msg(id, Platform::YouTube, &format!("missed {i}")))
        .collect();
    for m in &missed {
        gw.enqueue(m);
    }
    // Wait until the pump persisted them.
    for _ in 0..200 {
        if gw.segment.depth() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;

    // Rejoin while more keep arriving: replay, then live, no gap, no duplicate.
    let more: Vec<_> = (0..50)
        .map(|i| msg(id, Platform::Kick, &format!("live {i}")))
        .collect();
    let mut ws = gw.ws(&cookie).await;
    let writer = {
        let seg = gw.segment.clone();
        let more = more.clone();
        std::thread::spawn(move || {
            for m in &more {
                while seg
                    .try_enqueue(&m.to_json(), Duration::from_millis(100))
                    .is_err()
                {
                    std::thread::sleep(Duration::from_micros(100));
                }
            }
        })
    };
    join(&mut ws, id, Some(first.id)).await;
    let mut got = Vec::new();
    while got.len() < 150 {
        let v = next_json(&mut ws).await;
        assert_eq!(v["type"], "chat:message", "{v}");
        got.push(
            v["message"]["id"]
                .as_str()
                .unwrap()
                .parse::<Uuid>()
                .unwrap(),
        );
    }
    writer.join().unwrap();
    let want: Vec<Uuid> = missed.iter().chain(&more).map(|m| m.id).collect();
    assert_eq!(got, want);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), ws.next())
            .await
            .is_err(),
        "no duplicate follows"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_batch_is_logged_once_and_junk_never_stops_the_pump() {
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Gw::start(dir.path(), &[]).await;
    let (id, cookie) = gw.account("sara").await;
    gw.stop().await;
    let shm = gw.shm.clone();

    // While no gateway runs: five messages wait in the ring, and the first three are already in
    // the log — as if a gateway persisted them and died before committing.
    let batch: Vec<_> = (0..5)
        .map(|i| msg(id, Platform::Twitch, &format!("m{i}")))
        .collect();
    for m in &batch {
        gw.enqueue(m);
    }
    {
        let cfg = config(dir.path(), &[]);
        let state = gateway::build_state(&cfg).await.unwrap();
        assert!(state.store.persist_batch(&batch[..3]).failed.is_none());
    }
    // Junk in the ring: a payload that is not a message, and a message for a made-up streamer.
    gw.enqueue_raw(b"not json at all");
    let stranger = Uuid::new_v4();
    gw.enqueue(&msg(stranger, Platform::Kick, "nobody's"));
    let after = msg(id, Platform::Kick, "after the junk");
    gw.enqueue(&after);

    let mut gw2 = Gw::start(dir.path(), &["--shm-name", &shm]).await;
    for _ in 0..300 {
        if gw2.segment.depth() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_, cookie2) = (id, cookie);
    let body = r#"{"username":"sara","password":"secret"}"#;
    let (_, head, _) = http(gw2.addr, "POST", "/api/auth/login", &[JSON], body).await;
    let cookie2 = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .map(|c| c.split(';').next().unwrap().to_string())
        .unwrap_or(cookie2);
    let log = gw2.get("/api/messages", &cookie2).await;
    let got: Vec<ChatMessage> = serde_json::from_value(log["messages"].clone()).unwrap();
    let want: Vec<ChatMessage> = batch.iter().cloned().chain([after]).collect();
    assert_eq!(
        got, want,
        "each message exactly once, in order, junk skipped"
    );
    let data = dir.path().join("data");
    assert!(
        !data
            .join(format!("chat-history-{stranger}.ndjson"))
            .exists(),
        "no file for a made-up streamer"
    );
    gw2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_error_frames_then_a_close() {
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Gw::start(dir.path(), &[]).await;
    let (_, cookie) = gw.account("tara").await;
    let mut ws = gw.ws(&cookie).await;
    ws.send(Message::text("hello?")).await.unwrap();
    let v = next_json(&mut ws).await;
    assert_eq!(v["type"], "error");
    assert!(v["error"].as_str().unwrap().contains("join"));
    ws.send(Message::text("x".repeat(5000))).await.unwrap();
    let v = next_json(&mut ws).await;
    assert!(v["error"].as_str().unwrap().contains("4 KiB"), "{v}");
    ws.send(Message::text(
        r#"{"type":"join","streamerId":"x","since":"../users.json"}"#,
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "error");
    for _ in 0..3 {
        ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    }
    // Abuse 5 → closed with 1008.
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Close(Some(f)))) => {
                assert_eq!(u16::from(f.code), 1008);
                break;
            }
            Some(Ok(Message::Text(_))) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_sends_every_socket_a_close_frame() {
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Gw::start(dir.path(), &[]).await;
    let (id, cookie) = gw.account("uma").await;
    let mut ws = gw.ws(&cookie).await;
    join(&mut ws, id, None).await;
    let started = std::time::Instant::now();
    gw.stop().await;
    println!(
        "gateway with one live socket stopped in {:?}",
        started.elapsed()
    );
    match tokio::time::timeout(Duration::from_secs(2), ws.next())
        .await
        .unwrap()
    {
        Some(Ok(Message::Close(Some(f)))) => assert_eq!(u16::from(f.code), 1001),
        other => panic!("expected close 1001, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_is_closed_with_1013_and_others_keep_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Gw::start(dir.path(), &["--fsync", "never"]).await;
    let (id, cookie) = gw.account("vera").await;
    let mut slow = gw.ws(&cookie).await;
    join(&mut slow, id, None).await;
    let mut fast = gw.ws(&cookie).await;
    join(&mut fast, id, None).await;

    // Enough traffic to fill the socket buffers and then the 8192-frame queue: ~1 KiB frames.
    let total = 40_000;
    let text = "y".repeat(900);
    let writer = {
        let seg = gw.segment.clone();
        std::thread::spawn(move || {
            for i in 0..total {
                let m = msg(id, Platform::Twitch, &format!("{i} {text}"));
                while seg
                    .try_enqueue(&m.to_json(), Duration::from_millis(100))
                    .is_err()
                {
                    std::thread::sleep(Duration::from_micros(100));
                }
            }
        })
    };
    let mut n = 0;
    while n < total {
        let v = next_json(&mut fast).await;
        assert_eq!(v["type"], "chat:message");
        n += 1;
    }
    writer.join().unwrap();
    // The slow one now reads: what it had buffered, then a 1013 close.
    let mut got = 0;
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(15), slow.next())
            .await
            .expect("close within 15 s")
        {
            Some(Ok(Message::Text(_))) => got += 1,
            Some(Ok(Message::Close(Some(f)))) => break u16::from(f.code),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?} after {got} frames"),
        }
    };
    assert_eq!(code, 1013);
    let (_, _, metrics) = http(gw.addr, "GET", "/metrics", &[], "").await;
    assert!(
        metrics.contains("crosschat_ws_slow_closed_total 1\n"),
        "{metrics}"
    );
    assert!(got < total, "the slow one was cut off ({got} of {total})");
    println!("slow subscriber got {got} of {total} frames before its 1013 close");
    gw.stop().await;
}

/// The value of the sample line `series` (metric name with its labels, exactly as exposed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .map(|v| v.trim().parse().expect("a number"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_exposed_and_move_with_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Gw::start(dir.path(), &["--fsync", "cycle"]).await;
    let (id, cookie) = gw.account("mira").await;
    gw.post("/api/stream/control", r#"{"action":"start"}"#, &cookie)
        .await;
    // Every series is exposed from the start (histograms with a zero count), so each one can be
    // compared before and after.
    let scrape = |addr| async move {
        let (s, head, text) = http(addr, "GET", "/metrics", &[], "").await;
        assert_eq!(s, 200);
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/openmetrics-text"),
            "{head}"
        );
        text
    };
    let before = scrape(gw.addr).await;
    let v = |text: &str, series: &str| {
        sample(text, series).unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
    };
    let names = [
        "crosschat_segment_enqueued_total",
        "crosschat_segment_dequeued_total",
        "crosschat_segment_rejected_full_total",
        "crosschat_segment_rejected_too_large_total",
        "crosschat_segment_lock_timeouts_total",
        "crosschat_segment_lock_takeovers_total",
        "crosschat_segment_max_depth",
        "crosschat_ring_depth",
        "crosschat_ring_head",
        "crosschat_ring_tail",
        "crosschat_pump_batches_total",
        "crosschat_pump_persisted_total",
        "crosschat_pump_duplicates_total",
        "crosschat_pump_unknown_streamer_total",
        "crosschat_pump_bad_payloads_total",
        "crosschat_pump_batch_size_count",
        "crosschat_pump_cycle_seconds_count",
        "crosschat_store_fsync_seconds_count",
        "crosschat_produce_to_persist_seconds_count",
        "crosschat_ws_connections",
        "crosschat_ws_subscribers",
        "crosschat_ws_frames_sent_total",
        "crosschat_ws_slow_closed_total",
        "crosschat_login_failures_total",
        "crosschat_login_throttled_total",
    ];
    for n in names {
        v(&before, n);
    }
    assert!(before.contains("# TYPE crosschat_pump_cycle_seconds histogram"));
    assert!(before.contains("# TYPE crosschat_http_requests counter"));
    assert!(before.contains("crosschat_pump_cycle_seconds_bucket{le=\"+Inf\"}"));

    // Traffic: failed logins up to the throttle, a WebSocket joined to the room, messages
    // through the segment and the pump (pushed to that socket).
    let bad = r#"{"username":"mira","password":"wrong-password"}"#;
    let mut throttled = false;
    for _ in 0..10 {
        let (s, _, _) = http(gw.addr, "POST", "/api/auth/login", &[JSON], bad).await;
        assert!(s == 401 || s == 429, "{s}");
        if s == 429 {
            throttled = true;
            break;
        }
    }
    assert!(
        throttled,
        "the throttle answers 429 after repeated failures"
    );
    let mut ws = gw.ws(&cookie).await;
    join(&mut ws, id, None).await;
    let during = scrape(gw.addr).await;
    assert_eq!(v(&during, "crosschat_ws_connections"), 1.0);
    assert_eq!(v(&during, "crosschat_ws_subscribers"), 1.0);
    let sent: Vec<_> = (0..5)
        .map(|i| msg(id, Platform::Twitch, &format!("metrics {i}")))
        .collect();
    for m in &sent {
        gw.enqueue(m);
    }
    for _ in &sent {
        assert_eq!(next_json(&mut ws).await["type"], "chat:message");
    }
    gw.get("/api/messages", &cookie).await;
    // The pump pushes before it commits and counts its cycle: wait until the batch-size sum
    // (observed last in a cycle) covers the five messages.
    let mut after = scrape(gw.addr).await;
    for _ in 0..250 {
        let b = v(&before, "crosschat_pump_batch_size_sum");
        if v(&after, "crosschat_pump_batch_size_sum") >= b + 5.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        after = scrape(gw.addr).await;
    }

    let grew = |series: &str, by: f64| {
        let (a, b) = (v(&before, series), v(&after, series));
        assert!(b >= a + by, "{series}: {a} → {b}, expected +{by}\n{after}");
    };
    grew("crosschat_segment_enqueued_total", 5.0);
    grew("crosschat_segment_dequeued_total", 5.0);
    grew("crosschat_ring_tail", 5.0);
    grew("crosschat_ring_head", 5.0);
    assert_eq!(v(&after, "crosschat_ring_depth"), 0.0);
    grew("crosschat_pump_persisted_total", 5.0);
    grew("crosschat_pump_batches_total", 1.0);
    grew("crosschat_pump_batch_size_count", 1.0);
    grew("crosschat_pump_batch_size_sum", 5.0);
    grew("crosschat_pump_cycle_seconds_count", 1.0);
    grew("crosschat_store_fsync_seconds_count", 1.0);
    grew("crosschat_produce_to_persist_seconds_count", 5.0);
    // joined + 5 messages.
    grew("crosschat_ws_frames_sent_total", 6.0);
    grew("crosschat_login_failures_total", 5.0);
    grew("crosschat_login_throttled_total", 1.0);
    assert!(
        v(
            &after,
            "crosschat_http_requests_total{route=\"/api/auth/login\",status=\"401\"}"
        ) >= 5.0
    );
    assert_eq!(
        v(
            &after,
            "crosschat_http_requests_total{route=\"/api/auth/login\",status=\"429\"}"
        ),
        1.0
    );
    assert!(
        v(
            &after,
            "crosschat_http_requests_total{route=\"/api/messages\",status=\"200\"}"
        ) >= 1.0
    );
    assert!(
        v(
            &after,
            "crosschat_http_requests_total{route=\"/api/socket\",status=\"101\"}"
        ) >= 1.0
    );
    // The scrape before was counted (logged after it was answered).
    assert!(
        v(
            &after,
            "crosschat_http_requests_total{route=\"/metrics\",status=\"200\"}"
        ) >= 2.0
    );
    // Unknown paths fold into one series: the label set stays bounded.
    let (s, _, _) = http(gw.addr, "GET", "/no/such/path/123", &[], "").await;
    assert_eq!(s, 404);
    let last = scrape(gw.addr).await;
    assert!(
        v(
            &last,
            "crosschat_http_requests_total{route=\"other\",status=\"404\"}"
        ) >= 1.0
    );
    assert!(
        !last.contains("/no/such/path"),
        "raw paths never become labels"
    );

    drop(ws);
    for _ in 0..100 {
        let t = scrape(gw.addr).await;
        if v(&t, "crosschat_ws_connections") == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(v(&scrape(gw.addr).await, "crosschat_ws_connections"), 0.0);
    gw.stop().await;
}
