//! Hostile machines and hostile clients against the real stack (issue 18): a full data directory,
//! a failing account write, a frozen gateway, an ingest frozen while it holds the segment's lock
//! word, and abusive WebSocket clients. Real processes, a real segment in /dev/shm, loopback
//! sockets; every test checks that nothing acknowledged is lost or duplicated and that every
//! refusal is an explicit answer.
//!
//! The subscriber that stops reading is covered by `stack_e2e`
//! (`a_subscriber_that_never_reads_is_closed_with_1013_and_others_keep_up`), not repeated here.
//!
//! The full-disk tests mount a small tmpfs and need root (CAP_SYS_ADMIN); elsewhere they print
//! "skipped: …" and pass.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crosschat_tests::client::{User, Ws};
use crosschat_tests::stack::{Stack, PLATFORMS};
use futures_util::{SinkExt, StreamExt};
use rustix::process::{Pid, Signal};
use serde_json::{json, Value};
use shm_layout::Segment;
use tokio_tungstenite::tungstenite::Message;

// ---------------------------------------------------------------------------------------------
// Producers: persistent connections to an ingest socket, one reply per line.

/// An ingest's answer to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    /// In the ring, with this id.
    Ack(String),
    /// Refused with this code (`queue_full`, `unavailable`, …).
    Refused(String),
}

/// One producer connection to an ingest socket.
struct Producer {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Producer {
    fn connect(socket: &Path) -> Producer {
        let writer = UnixStream::connect(socket).expect("ingest socket");
        // Longer than any wait the ingest may impose (a full ring, five lock attempts).
        writer
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let reader = BufReader::new(writer.try_clone().expect("clone"));
        Producer { reader, writer }
    }

    fn line(streamer: &str, user: &str, text: &str) -> String {
        json!({ "streamerId": streamer, "user": user, "text": text }).to_string()
    }

    /// Sends one message and reads its reply. No reply at all (EOF, timeout) is a test failure:
    /// it would be a silent drop.
    fn send(&mut self, streamer: &str, user: &str, text: &str) -> Reply {
        writeln!(self.writer, "{}", Producer::line(streamer, user, text)).expect("write a line");
        self.reply().expect("the ingest answered every line")
    }

    /// Reads one reply line; None when the connection ended.
    fn reply(&mut self) -> Option<Reply> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        Some(if v["ok"] == true {
            Reply::Ack(v["id"].as_str().expect("an id").to_owned())
        } else {
            let code = v["code"].as_str().expect("a refusal has a code");
            assert!(
                v["error"].as_str().is_some_and(|s| !s.is_empty()),
                "a refusal has a sentence: {v}"
            );
            Reply::Refused(code.to_owned())
        })
    }
}

/// What one producer thread saw: its acknowledged ids in order, and its refusals by code.
#[derive(Debug, Default)]
struct Tally {
    acked: Vec<String>,
    refused: HashMap<String, u64>,
    /// The quickest `queue_full` answer (from sending the line to the reply).
    fastest_full: Option<Duration>,
}

impl Tally {
    fn record(&mut self, r: Reply) {
        match r {
            Reply::Ack(id) => self.acked.push(id),
            Reply::Refused(code) => *self.refused.entry(code).or_default() += 1,
        }
    }

    fn refused(&self, code: &str) -> u64 {
        self.refused.get(code).copied().unwrap_or(0)
    }
}

/// A producer thread per platform writing `text(i)` for `streamer` every `every` until `stop`;
/// returns each platform's tally.
fn steady_producers(
    stack: &Stack,
    streamer: &str,
    every: Duration,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Tally>> {
    PLATFORMS
        .iter()
        .map(|platform| {
            let socket = stack.ingest_socket(platform);
            let (streamer, stop) = (streamer.to_owned(), stop.clone());
            std::thread::spawn(move || {
                let mut p = Producer::connect(&socket);
                let mut t = Tally::default();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    let r = p.send(&streamer, platform, &format!("{platform} {i}"));
                    if r == Reply::Refused("queue_full".into()) {
                        let took = sent.elapsed();
                        t.fastest_full = Some(t.fastest_full.map_or(took, |f| f.min(took)));
                    }
                    t.record(r);
                    i += 1;
                    std::thread::sleep(every);
                }
                t
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A subscriber that never gives up: rejoins with `since` after every close.

/// Chat message ids a dashboard socket received, in arrival order.
struct Subscriber {
    ids: Arc<Mutex<Vec<String>>>,
    rejoins: Arc<AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

/// Opens the dashboard socket and sends `join`; None if the gateway did not upgrade in time.
async fn try_join(u: &User, since: Option<&str>) -> Option<Ws> {
    let mut ws = tokio::time::timeout(Duration::from_secs(5), u.try_socket())
        .await
        .ok()??;
    let mut join = json!({ "type": "join", "streamerId": u.id });
    if let Some(s) = since {
        join["since"] = json!(s);
    }
    ws.send(Message::text(join.to_string())).await.ok()?;
    Some(ws)
}

impl Subscriber {
    fn spawn(u: Arc<User>) -> Subscriber {
        let ids = Arc::new(Mutex::new(Vec::new()));
        let rejoins = Arc::new(AtomicU32::new(0));
        let (ids2, rejoins2) = (ids.clone(), rejoins.clone());
        let task = tokio::spawn(async move {
            let mut last: Option<String> = None;
            loop {
                let Some(mut ws) = try_join(&u, last.as_deref()).await else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    let Message::Text(t) = msg else {
                        if msg.is_close() {
                            break;
                        }
                        continue;
                    };
                    let v: Value = serde_json::from_str(t.as_str()).expect("JSON frames");
                    if v["type"] == "chat:message" {
                        let id = v["message"]["id"].as_str().expect("an id").to_owned();
                        ids2.lock().unwrap().push(id.clone());
                        last = Some(id);
                    }
                }
                rejoins2.fetch_add(1, Ordering::Relaxed);
            }
        });
        Subscriber { ids, rejoins, task }
    }

    /// Waits until the socket joined (its first frame may be long in coming on a busy machine).
    async fn wait_joined(base: &str, want: i64) {
        wait_for("the subscriber to join", Duration::from_secs(10), || {
            metric(base, "crosschat_ws_subscribers") >= want as f64
        })
        .await;
    }

    fn ids(&self) -> Vec<String> {
        self.ids.lock().unwrap().clone()
    }

    /// Waits until at least `n` messages arrived (or `timeout`), then returns them.
    async fn wait_for_count(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        while self.ids.lock().unwrap().len() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // A little longer, so that a duplicate arriving late is seen.
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.ids()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every acknowledged id exactly once in `delivered`, each producer's in its sending order, and
/// nothing else.
fn assert_exactly_once_in_order(what: &str, acked: &[&Vec<String>], delivered: &[String]) {
    let mut count: HashMap<&str, u32> = HashMap::new();
    for id in delivered {
        *count.entry(id.as_str()).or_default() += 1;
    }
    let dups = count.values().filter(|&&n| n > 1).count();
    assert_eq!(dups, 0, "{what}: {dups} messages delivered more than once");
    for (p, ids) in acked.iter().enumerate() {
        let missing = ids
            .iter()
            .filter(|id| !count.contains_key(id.as_str()))
            .count();
        assert_eq!(
            missing,
            0,
            "{what}: {missing} of {} acknowledged messages of producer {p} missing",
            ids.len()
        );
        let mine: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
        let order: Vec<&str> = delivered
            .iter()
            .map(String::as_str)
            .filter(|id| mine.contains(id))
            .collect();
        assert!(
            order.iter().copied().eq(ids.iter().map(String::as_str)),
            "{what}: producer {p}'s messages out of order"
        );
    }
    let total: usize = acked.iter().map(|v| v.len()).sum();
    assert_eq!(delivered.len(), total, "{what}: unexpected extra messages");
}

/// The active log's ids, oldest first (through the API, as a dashboard reads it).
fn logged_ids(u: &User) -> Vec<String> {
    let (status, v) = u.get("/api/messages?limit=5000");
    assert_eq!(status, 200, "{v}");
    v["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].as_str().expect("an id").to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Gateway probes.

/// A metric's value from `/metrics` (a counter's `_total` sample when it has one); with
/// `labels`, the sample carrying all of them. 0 when absent.
fn metric_labeled(base: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = crosschat_tests::client::metrics_text(base);
    for candidate in [format!("{name}_total"), name.to_owned()] {
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(candidate.as_str()) else {
                continue;
            };
            if !(rest.starts_with(' ') || rest.starts_with('{')) {
                continue;
            }
            let (labels_part, value) = rest.rsplit_once(' ').expect("a sample");
            if labels
                .iter()
                .all(|(k, v)| labels_part.contains(&format!("{k}=\"{v}\"")))
            {
                return value.trim().parse().expect("a number");
            }
        }
    }
    0.0
}

fn metric(base: &str, name: &str) -> f64 {
    metric_labeled(base, name, &[])
}

/// `/readyz`: status, body, and how long it took.
fn readyz(base: &str) -> (u16, Value, Duration) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let started = Instant::now();
    let mut r = agent
        .get(&format!("{base}/readyz"))
        .call()
        .expect("/readyz answers");
    let took = started.elapsed();
    let status = r.status().as_u16();
    (
        status,
        r.body_mut().read_json().unwrap_or(Value::Null),
        took,
    )
}

async fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn count_lines(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

// ---------------------------------------------------------------------------------------------
// Signals.

fn send_signal(pid: u32, sig: Signal) {
    let pid = Pid::from_raw(pid as i32).expect("a pid");
    rustix::process::kill_process(pid, sig).expect("signal");
}

/// Whether every thread of `pid` is stopped (state `T`).
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|t| {
        std::fs::read_to_string(t.path().join("stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, r)| r.starts_with('T')))
            .unwrap_or(true) // a thread that just ended
    })
}

/// SIGSTOPs a process and waits until all its threads are stopped; SIGCONTs it on drop, so a
/// failing test leaves nothing frozen for the stack's clean-up.
struct Frozen {
    pid: u32,
    thawed: bool,
}

impl Frozen {
    fn freeze(pid: u32) -> Frozen {
        send_signal(pid, Signal::STOP);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !all_threads_stopped(pid) {
            assert!(Instant::now() < deadline, "pid {pid} did not stop");
            std::thread::sleep(Duration::from_micros(200));
        }
        Frozen { pid, thawed: false }
    }

    fn thaw(mut self) {
        send_signal(self.pid, Signal::CONT);
        self.thawed = true;
    }

    /// The process was killed (and reaped): its pid must not be signalled again.
    fn killed(mut self) {
        self.thawed = true;
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if !self.thawed {
            let _ = rustix::process::kill_process(
                Pid::from_raw(self.pid as i32).expect("a pid"),
                Signal::CONT,
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A small tmpfs for the data directory.

/// A tmpfs mounted on a fresh temporary directory; unmounted (lazily, so a process still holding
/// files in it cannot keep it) and removed on drop, also when the test fails.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `2m`); Err with the reason when this machine does not let us.
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::Builder::new()
            .prefix("crosschat-tmpfs-")
            .tempdir()
            .map_err(|e| format!("no temporary directory: {e}"))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mounting a tmpfs is not allowed here ({}; euid {})",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim(),
                rustix::process::geteuid().as_raw()
            ));
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Changes the size in place (no unmount: the gateway keeps its open files).
    fn resize(&self, size: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.path())
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "remount: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Writes a file of zeros until the file system is full; returns its path.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut f = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0u8; 64 * 1024];
        loop {
            if let Err(e) = f.write_all(&chunk).and_then(|_| f.sync_all()) {
                assert_eq!(
                    e.raw_os_error(),
                    Some(rustix::io::Errno::NOSPC.raw_os_error()),
                    "filling stops at ENOSPC: {e}"
                );
                return path;
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// Mounts a tmpfs or prints why the test is skipped.
fn tmpfs_or_skip(size: &str) -> Option<Tmpfs> {
    match Tmpfs::mount(size) {
        Ok(t) => Some(t),
        Err(why) => {
            println!("skipped: {why}");
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 1. The data directory fills up.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_data_dir_refuses_with_queue_full_says_why_and_loses_nothing_once_space_returns() {
    let Some(fs) = tmpfs_or_skip("2m") else {
        return;
    };
    let stack = Stack::start_with_data_dir(fs.path());
    let base = stack.base_url.clone();
    let gateway_pid = stack.gateway_pid();
    let u = Arc::new(User::register(&base, "fillup"));
    let sub = Subscriber::spawn(u.clone());
    Subscriber::wait_joined(&base, 1).await;

    // Each producer sends ~3 KB messages on one connection until the ring has refused it twice
    // (the pump cannot persist, so the ring fills and stays full). 2 MiB hold ~600 of them.
    let text = "€".repeat(990);
    let producers: Vec<_> = PLATFORMS
        .iter()
        .map(|platform| {
            let (socket, id, text) = (stack.ingest_socket(platform), u.id.clone(), text.clone());
            std::thread::spawn(move || {
                let mut p = Producer::connect(&socket);
                let mut t = Tally::default();
                for i in 0..5000 {
                    let r = p.send(&id, platform, &format!("{i} {text}"));
                    if let Reply::Refused(code) = &r {
                        assert_eq!(code, "queue_full", "the only refusal a full disk causes");
                    }
                    t.record(r);
                    if t.refused("queue_full") >= 2 {
                        return t;
                    }
                }
                panic!("{platform}: 5000 messages and the ring never filled");
            })
        })
        .collect();
    let tallies: Vec<Tally> = producers.into_iter().map(|h| h.join().unwrap()).collect();
    let acked: Vec<&Vec<String>> = tallies.iter().map(|t| &t.acked).collect();
    let total: usize = acked.iter().map(|v| v.len()).sum();
    println!(
        "acknowledged {total} ({:?}), 2 queue_full each",
        acked.iter().map(|v| v.len()).collect::<Vec<_>>()
    );

    // The gateway says why, and logs it once — not per message, not per retry.
    let (status, body, _) = readyz(&base);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["dataDir"], false, "{body}");
    assert_eq!(body["problem"], "the data directory is full", "{body}");
    assert!(metric(&base, "crosschat_pump_persist_errors") >= 1.0);
    assert_eq!(
        metric(&base, "crosschat_ring_depth"),
        256.0,
        "the unpersisted messages wait in the ring"
    );
    let delivered_while_full = sub.ids().len();
    assert!(
        delivered_while_full < total,
        "only what was persisted is pushed"
    );
    // Let a few more pump retries happen before counting log lines.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let retries = metric(&base, "crosschat_pump_persist_errors");
    assert!(retries >= 3.0, "the pump retried: {retries}");
    let log = stack.gateway_log();
    assert_eq!(
        count_lines(&log, "the pump cannot persist chat"),
        1,
        "one line for the failure while it lasts (< 1 min):\n{log}"
    );
    let per_retry = count_lines(&log, "could not append to a chat log");
    assert_eq!(
        per_retry, 0,
        "{retries} failed retries, {per_retry} 'could not append' lines: the store logs every retry\n{log}"
    );

    // Space returns: no restart, everything acknowledged lands exactly once, in order.
    fs.resize("64m");
    wait_for(
        "/readyz 200 after space returned",
        Duration::from_secs(15),
        || readyz(&base).0 == 200,
    )
    .await;
    let pid = gateway_pid.expect("the gateway runs");
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the gateway lives");
    assert!(
        !state.rsplit_once(") ").unwrap().1.starts_with('Z'),
        "the same gateway process, never restarted"
    );
    let delivered = sub.wait_for_count(total, Duration::from_secs(30)).await;
    assert_exactly_once_in_order("subscriber", &acked, &delivered);
    assert_exactly_once_in_order("log", &acked, &logged_ids(&u));
    let log = stack.gateway_log();
    assert_eq!(count_lines(&log, "the pump persists again"), 1, "{log}");
    assert_eq!(
        count_lines(&log, "the pump cannot persist chat"),
        1,
        "{log}"
    );
    assert_eq!(readyz(&base).1["problem"], Value::Null);
    println!(
        "full disk: {delivered_while_full} pushed while full, {total} after; {retries} failed pump cycles logged once; subscriber rejoins {}",
        sub.rejoins.load(Ordering::Relaxed)
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Account and session writes on a full disk.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_and_session_writes_on_a_full_disk_fail_the_request_and_keep_the_old_files() {
    let Some(fs) = tmpfs_or_skip("1m") else {
        return;
    };
    let stack = Stack::start_with_data_dir(fs.path());
    let base = stack.base_url.clone();
    let ann = User::register(&base, "ann");
    let read = |name: &str| std::fs::read(fs.path().join(name)).expect(name);
    let (users_before, sessions_before) = (read("users.json"), read("sessions.json"));

    let filler = fs.fill();
    let (status, body, _) = readyz(&base);
    assert_eq!(
        (status, body["problem"].as_str()),
        (503, Some("the data directory is full")),
        "{body}"
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |path: &str, body: Value| -> (u16, Value) {
        let mut r = agent
            .post(&format!("{base}{path}"))
            .send_json(&body)
            .expect("an answer");
        (
            r.status().as_u16(),
            r.body_mut().read_json().unwrap_or(Value::Null),
        )
    };
    let bob = json!({ "username": "bob", "password": "correct horse" });
    let (status, body) = post("/api/auth/register", bob.clone());
    assert!(status >= 500, "register on a full disk: {status} {body}");
    assert!(
        body["error"].as_str().is_some_and(|s| s.len() > 10),
        "{body}"
    );
    let ann_login = json!({ "username": "ann", "password": "correct horse" });
    let (status, body) = post("/api/auth/login", ann_login.clone());
    assert!(status >= 500, "login on a full disk: {status} {body}");
    assert!(
        body["error"].as_str().is_some_and(|s| s.len() > 10),
        "{body}"
    );
    // A write that changes users.json through another route fails the same way.
    let (status, body) = ann.post("/api/stream/control", json!({ "action": "start" }));
    assert!(
        status >= 500,
        "stream start on a full disk: {status} {body}"
    );

    // The files are the old ones, whole.
    assert_eq!(read("users.json"), users_before, "users.json untouched");
    assert_eq!(
        read("sessions.json"),
        sessions_before,
        "sessions.json untouched"
    );
    for name in ["users.json", "sessions.json"] {
        serde_json::from_slice::<Value>(&read(name)).expect("valid JSON");
    }
    let leftovers: Vec<(String, u64)> = std::fs::read_dir(fs.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    println!("temporary files left by the failed writes (bytes): {leftovers:?}");
    // The old session still works; the failed login left no usable session behind.
    assert_eq!(ann.get("/api/auth/me").0, 200);

    // Space returns: the refused name was never taken, and the new writes are whole.
    std::fs::remove_file(&filler).expect("remove the filler");
    let (status, body) = post("/api/auth/register", bob);
    assert_eq!(status, 201, "the failed register left no trace: {body}");
    let bob = User::register(&base, "bob2");
    assert_eq!(bob.get("/api/auth/me").0, 200);
    assert_eq!(post("/api/auth/login", ann_login).0, 200);
    let users: Value = serde_json::from_slice(&read("users.json")).expect("valid JSON");
    let text = users.to_string();
    assert!(text.contains("\"bob\"") && text.contains("\"bob2\"") && text.contains("\"ann\""));
    serde_json::from_slice::<Value>(&read("sessions.json")).expect("valid JSON");
    assert_eq!(readyz(&base).0, 200);
}

// ---------------------------------------------------------------------------------------------
// 3. A frozen gateway.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_frozen_10s_under_three_producers_refuses_with_queue_full_and_loses_nothing() {
    let stack = Stack::start();
    let base = stack.base_url.clone();
    let u = Arc::new(User::register(&base, "frozen"));
    let sub = Subscriber::spawn(u.clone());
    Subscriber::wait_joined(&base, 1).await;
    let gateway = stack.gateway_pid().expect("the gateway runs");

    let stop = Arc::new(AtomicBool::new(false));
    let producers = steady_producers(&stack, &u.id, Duration::from_millis(10), &stop);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let frozen = Frozen::freeze(gateway);
    let frozen_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    frozen.thaw();
    println!("gateway frozen for {:?}", frozen_at.elapsed());
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let tallies: Vec<Tally> = producers.into_iter().map(|h| h.join().unwrap()).collect();

    for (t, platform) in tallies.iter().zip(PLATFORMS) {
        assert!(
            t.refused("queue_full") >= 1,
            "{platform} got queue_full: {:?}",
            t.refused
        );
        assert_eq!(
            t.refused.values().sum::<u64>(),
            t.refused("queue_full"),
            "{platform}: no other refusal"
        );
        let fastest = t.fastest_full.expect("timed");
        assert!(
            fastest >= Duration::from_millis(1900),
            "{platform}: queue_full only after the 2 s wait, not at once: {fastest:?}"
        );
    }
    let refused: u64 = tallies.iter().map(|t| t.refused("queue_full")).sum();
    let rejected_full = metric(&base, "crosschat_segment_rejected_full");
    let lock_timeouts = metric(&base, "crosschat_segment_lock_timeouts");
    assert_eq!(
        rejected_full, refused as f64,
        "the segment counts every queue_full"
    );
    let acked: Vec<&Vec<String>> = tallies.iter().map(|t| &t.acked).collect();
    let total: usize = acked.iter().map(|v| v.len()).sum();
    let delivered = sub.wait_for_count(total, Duration::from_secs(30)).await;
    assert_exactly_once_in_order("subscriber", &acked, &delivered);
    assert_exactly_once_in_order("log", &acked, &logged_ids(&u));
    println!(
        "gateway SIGSTOP 10 s: acknowledged {total}, queue_full {refused} (rejected_full {rejected_full}, lock_timeouts {lock_timeouts}), subscriber rejoins {}",
        sub.rejoins.load(Ordering::Relaxed)
    );
}

// ---------------------------------------------------------------------------------------------
// 4. An ingest frozen while it holds the lock word.

/// Floods `socket` with messages for a streamer that has no account (the pump reads and drops
/// them, so the log stays small), 64 lines per write, until `stop` or the ingest goes away.
fn flood(socket: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut p = Producer::connect(&socket);
        let nobody = uuid::Uuid::new_v4().to_string();
        let batch: String = (0..64)
            .map(|i| {
                Producer::line(&nobody, "flood", &format!("flood {i} {}", "x".repeat(400))) + "\n"
            })
            .collect();
        let mut sent = 0;
        while !stop.load(Ordering::Relaxed) {
            if p.writer.write_all(batch.as_bytes()).is_err() {
                break;
            }
            for _ in 0..64 {
                match p.reply() {
                    Some(_) => sent += 1,
                    None => return sent, // killed
                }
            }
        }
        sent
    })
}

/// SIGSTOPs `pid` at random moments until the segment's lock word names it (and, with
/// `queued`, published messages wait in the ring for the reader); returns the frozen process and
/// how many tries it took.
fn freeze_holding_the_lock(
    seg: &Segment,
    pid: u32,
    queued: bool,
    within: Duration,
) -> (Frozen, u32) {
    let deadline = Instant::now() + within;
    let mut tries = 0;
    loop {
        tries += 1;
        let frozen = Frozen::freeze(pid);
        let s = seg.snapshot();
        if s.lock_owner == Some(pid) && (!queued || s.length > 0) {
            return (frozen, tries);
        }
        frozen.thaw();
        assert!(
            Instant::now() < deadline,
            "ingest {pid} was never caught holding the lock word in {tries} tries"
        );
        std::thread::sleep(Duration::from_micros(
            200 + u64::from(rand::random::<u16>() % 2000),
        ));
    }
}

/// Sends `n` messages to each platform's ingest (one connection each); all must be acknowledged.
fn round(stack: &Stack, streamer: &str, n: usize, label: &str, acked: &mut [Vec<String>]) {
    for (p, platform) in PLATFORMS.iter().enumerate() {
        let mut prod = Producer::connect(&stack.ingest_socket(platform));
        for i in 0..n {
            match prod.send(streamer, platform, &format!("{label} {i}")) {
                Reply::Ack(id) => acked[p].push(id),
                other => panic!("{platform} {label} {i}: {other:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_frozen_holding_the_lock_times_out_other_writers_never_the_reader() {
    let mut stack = Stack::start();
    let base = stack.base_url.clone();
    let u = Arc::new(User::register(&base, "locked"));
    let sub = Subscriber::spawn(u.clone());
    Subscriber::wait_joined(&base, 1).await;
    let seg = Segment::open_existing(stack.shm_name()).expect("the stack's segment");
    let mut acked: Vec<Vec<String>> = vec![Vec::new(); PLATFORMS.len()];
    round(&stack, &u.id, 20, "before", &mut acked);
    let frozen_one = "twitch";
    let pid = stack.ingest_pid(frozen_one);

    // Run 1: freeze it holding the lock, then SIGCONT.
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = flood(stack.ingest_socket(frozen_one), stop.clone());
    let started = Instant::now();
    let (frozen, tries) = freeze_holding_the_lock(&seg, pid, true, Duration::from_secs(30));
    let queued = seg.depth();
    println!(
        "caught ingest {pid} holding the lock word after {tries} tries ({:?}) with {queued} messages queued",
        started.elapsed(),
    );
    let timeouts_before = seg.snapshot().counters["lock_timeouts"];
    // The other writers: each message waits out five lock attempts, then `unavailable`.
    let others: Vec<_> = PLATFORMS
        .iter()
        .filter(|p| **p != frozen_one)
        .map(|platform| {
            let (socket, id) = (stack.ingest_socket(platform), u.id.clone());
            std::thread::spawn(move || {
                let t = Instant::now();
                let r = Producer::connect(&socket).send(&id, platform, "while locked");
                (r, t.elapsed())
            })
        })
        .collect();
    // Meanwhile the reader drains what was published and the gateway answers at once.
    let mut slowest = Duration::ZERO;
    while others.iter().any(|h| !h.is_finished()) {
        let (status, body, took) = readyz(&base);
        assert_eq!(status, 200, "{body}");
        slowest = slowest.max(took);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        seg.depth(),
        0,
        "the pump drained the {queued} queued messages with the lock held"
    );
    assert_eq!(seg.snapshot().lock_owner, Some(pid), "still held");
    for h in others {
        let (r, took) = h.join().unwrap();
        assert_eq!(r, Reply::Refused("unavailable".into()), "after {took:?}");
        assert!(
            took >= Duration::from_secs(5),
            "five lock attempts: {took:?}"
        );
    }
    let timeouts = seg.snapshot().counters["lock_timeouts"] - timeouts_before;
    assert!(
        timeouts >= 10,
        "five timeouts per refused message, counted: {timeouts}"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "/readyz took {slowest:?} with the lock held"
    );
    frozen.thaw();
    stop.store(true, Ordering::Relaxed);
    let flooded = flooder.join().unwrap();
    round(&stack, &u.id, 20, "after sigcont", &mut acked);
    println!(
        "run 1: flood {flooded} messages, {timeouts} lock timeouts, /readyz at most {slowest:?}"
    );

    // Run 2: freeze it holding the lock, then SIGKILL: the next writer takes the lock over.
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = flood(stack.ingest_socket(frozen_one), stop.clone());
    let (frozen, tries) = freeze_holding_the_lock(&seg, pid, false, Duration::from_secs(30));
    println!("caught it again after {tries} tries");
    let takeovers_before = seg.snapshot().counters["lock_takeovers"];
    stack.kill_ingest(frozen_one);
    frozen.killed();
    stop.store(true, Ordering::Relaxed);
    flooder.join().unwrap();
    let t = Instant::now();
    for (p, platform) in PLATFORMS.iter().enumerate() {
        if *platform == frozen_one {
            continue;
        }
        match Producer::connect(&stack.ingest_socket(platform)).send(&u.id, platform, "after kill")
        {
            Reply::Ack(id) => acked[p].push(id),
            other => panic!("{platform} after the holder died: {other:?}"),
        }
    }
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "the dead holder's lock was taken over at once, not waited out: {took:?}"
    );
    assert_eq!(
        seg.snapshot().counters["lock_takeovers"],
        takeovers_before + 1,
        "one takeover, counted"
    );
    stack.start_ingest(frozen_one);
    round(&stack, &u.id, 20, "after sigkill", &mut acked);

    // The ring is intact: everything acknowledged arrived once, in order; nothing was torn.
    let acked_refs: Vec<&Vec<String>> = acked.iter().collect();
    let total: usize = acked.iter().map(Vec::len).sum();
    let delivered = sub.wait_for_count(total, Duration::from_secs(20)).await;
    assert_exactly_once_in_order("subscriber", &acked_refs, &delivered);
    assert_exactly_once_in_order("log", &acked_refs, &logged_ids(&u));
    let s = seg.snapshot();
    assert_eq!(s.lock_owner, None);
    assert_eq!(s.length, 0);
    assert_eq!(s.counters["enqueued"], s.tail, "enqueued matches the tail");
    assert_eq!(
        metric(&base, "crosschat_pump_bad_payloads"),
        0.0,
        "no torn slot"
    );
    println!("ring after both runs: {s:?}");
}

// ---------------------------------------------------------------------------------------------
// 5. Abusive WebSocket clients.

/// Sleeps while `sent` frames are ahead of `per_s` since `started` (the timer's millisecond
/// granularity turns this into bursts of ~`per_s / 1000`, the same rate on average).
async fn pace(started: Instant, sent: u64, per_s: u32) {
    let due = started + Duration::from_secs(1) * (sent as u32) / per_s;
    if let Some(wait) = due.checked_duration_since(Instant::now()) {
        if wait >= Duration::from_millis(1) {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Opens an authenticated socket and sends garbage text frames at ~`per_s` until the gateway
/// closes it; returns the close code and the frames sent.
async fn garbage_client(u: &User, per_s: u32) -> (Option<u16>, u64) {
    let (mut sink, mut stream) = u.socket().await.split();
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = sent.clone();
    let writer = tokio::spawn(async move {
        let started = Instant::now();
        for n in 1.. {
            let frame = format!("garbage {n} }}{{ not json");
            if sink.send(Message::text(frame)).await.is_err() {
                return;
            }
            counter.store(n, Ordering::Relaxed);
            pace(started, n, per_s).await;
        }
    });
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
            Ok(Some(Ok(Message::Close(Some(f))))) => break Some(u16::from(f.code)),
            Ok(Some(Ok(_))) => continue,
            _ => break None,
        }
    };
    writer.abort();
    let _ = writer.await;
    (code, sent.load(Ordering::Relaxed))
}

/// Opens an authenticated socket and, for `how_long`, sends `per_s` well-formed but pointless
/// frames a second (joins of another streamer's room: each answered with an error frame, none
/// counted as abuse) while reading the answers; returns (frames sent, error frames received,
/// whether the gateway closed it).
async fn pointless_client(u: &User, per_s: u32, how_long: Duration) -> (u64, u64, bool) {
    let (mut sink, mut stream) = u.socket().await.split();
    let reader = tokio::spawn(async move {
        let (mut errors, mut closed) = (0u64, false);
        while let Some(Ok(m)) = stream.next().await {
            closed |= m.is_close();
            errors += u64::from(m.to_text().is_ok_and(|t| t.contains(r#""type":"error""#)));
        }
        (errors, closed)
    });
    let frame = json!({ "type": "join", "streamerId": uuid::Uuid::new_v4() }).to_string();
    let started = Instant::now();
    let mut sent = 0u64;
    while started.elapsed() < how_long {
        if sink.send(Message::text(frame.clone())).await.is_err() {
            break;
        }
        sent += 1;
        pace(started, sent, per_s).await;
    }
    let _ = sink.close().await;
    let (errors, closed) = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .expect("the gateway ends the closed socket")
        .unwrap();
    (sent, errors, closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_floods_and_cookieless_upgrades_leave_other_subscribers_whole() {
    let stack = Stack::start();
    let base = stack.base_url.clone();
    let u = Arc::new(User::register(&base, "abused"));
    let sub = Subscriber::spawn(u.clone());
    Subscriber::wait_joined(&base, 1).await;
    let stop = Arc::new(AtomicBool::new(false));
    let producers = steady_producers(&stack, &u.id, Duration::from_millis(5), &stop);

    // A client blasting garbage at 10,000 frames/s, reconnecting each time it is closed.
    let started = Instant::now();
    let (mut conns, mut frames) = (0, 0);
    while started.elapsed() < Duration::from_secs(3) {
        let (code, sent) = garbage_client(&u, 10_000).await;
        assert_eq!(code, Some(1008), "closed as a policy violation");
        conns += 1;
        frames += sent;
    }
    let garbage_for = started.elapsed();
    let healthz = Instant::now();
    ureq::get(&format!("{base}/healthz"))
        .call()
        .expect("healthz");
    let healthz = healthz.elapsed();

    // Well-formed but pointless frames are answered, not closed: the connection's own task does
    // the work, so the flood costs its sender and nobody else.
    let (pointless, answered, _) = pointless_client(&u, 10_000, Duration::from_secs(2)).await;
    assert!(
        pointless > 10_000 && answered == pointless,
        "sent {pointless}, answered {answered}"
    );

    // 1,000 upgrades without a cookie, 50 at a time: 401 each, nothing kept.
    let url = format!("{}/api/socket", base.replace("http://", "ws://"));
    let refused = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (url, refused) = (url.clone(), refused.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                match tokio_tungstenite::connect_async(url.as_str()).await {
                    Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                        assert_eq!(r.status().as_u16(), 401);
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    other => panic!("a cookieless upgrade: {:?}", other.map(|(_, r)| r)),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(refused.load(Ordering::Relaxed), 1000);
    let counted = metric_labeled(
        &base,
        "crosschat_http_requests",
        &[("route", "/api/socket"), ("status", "401")],
    );
    assert_eq!(counted, 1000.0, "every refused upgrade is counted");
    assert_eq!(
        metric(&base, "crosschat_ws_closed_invalid_total"),
        conns as f64,
        "every connection closed for garbage is counted"
    );
    wait_for(
        "only the legitimate subscriber to stay connected",
        Duration::from_secs(10),
        || metric(&base, "crosschat_ws_connections") == 1.0,
    )
    .await;

    stop.store(true, Ordering::Relaxed);
    let tallies: Vec<Tally> = producers.into_iter().map(|h| h.join().unwrap()).collect();
    let acked: Vec<&Vec<String>> = tallies.iter().map(|t| &t.acked).collect();
    let total: usize = acked.iter().map(|v| v.len()).sum();
    for t in &tallies {
        assert!(t.refused.is_empty(), "{:?}", t.refused);
    }
    let delivered = sub.wait_for_count(total, Duration::from_secs(20)).await;
    assert_exactly_once_in_order("subscriber", &acked, &delivered);
    assert_eq!(
        sub.rejoins.load(Ordering::Relaxed),
        0,
        "the legitimate socket was never closed"
    );
    assert!(
        healthz < Duration::from_secs(1),
        "/healthz took {healthz:?} right after the flood"
    );
    println!(
        "garbage: {conns} connections, {frames} frames in {:?}, each closed 1008; /healthz {healthz:?} after; pointless joins: {pointless} sent, {answered} answered; {total} messages delivered once",
        garbage_for
    );
}
