//! The real binary: start-up line, a taken port, graceful stop, SIGKILL while writing, and
//! `/healthz` latency while logins run.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use crosschat_tests::process::listening_address;
use crosschat_tests::segment::UniqueSegment;

/// A gateway process and the address it printed.
struct Gateway {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One segment per test directory (a restart on the same directory reuses it).
fn shm_name(dir: &Path) -> String {
    let leaf = dir.file_name().unwrap().to_string_lossy().replace('.', "");
    format!("/xchat-gwproc-{}-{leaf}", std::process::id())
}

fn spawn(dir: &Path, extra: &[&str]) -> Gateway {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["--listen", "127.0.0.1:0"])
        .args(if extra.contains(&"--bcrypt-cost") {
            &[][..]
        } else {
            &["--bcrypt-cost", "4"][..]
        })
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--runtime-dir")
        .arg(dir.join("run"))
        .args(["--shm-name", &shm_name(dir)])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let addr = listening_address(stderr, Duration::from_secs(20), |_| {})
        .expect("the gateway prints `listening on http://ADDR`");
    Gateway {
        child,
        addr: addr.parse().unwrap(),
    }
}

async fn wait_healthy(addr: SocketAddr) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            let (status, _, _) = http(addr, "GET", "/healthz", &[], "").await;
            if status == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("gateway at {addr} never became healthy");
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

#[test]
fn a_taken_port_is_a_one_line_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["--listen", &taken.local_addr().unwrap().to_string()])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot listen on"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test]
async fn sigterm_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let _unlink = UniqueSegment::adopt(shm_name(dir.path()));
    let mut gw = spawn(dir.path(), &[]);
    wait_healthy(gw.addr).await;
    let pid = rustix::process::Pid::from_raw(gw.child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = gw.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_writing_leaves_every_file_loadable() {
    let dir = tempfile::tempdir().unwrap();
    let _unlink = UniqueSegment::adopt(shm_name(dir.path()));
    let gw = spawn(dir.path(), &[]);
    wait_healthy(gw.addr).await;
    let addr = gw.addr;

    // Four writers register and log in as fast as they can; record every acknowledged account.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..4 {
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let name = format!("w{w}u{i}");
                i += 1;
                let body = format!(r#"{{"username":"{name}","password":"secret"}}"#);
                let Ok(Ok((s, _, _))) = tokio::time::timeout(
                    Duration::from_secs(2),
                    try_http(addr, "POST", "/api/auth/register", &[JSON], &body),
                )
                .await
                else {
                    break; // the gateway was killed
                };
                if s == 201 {
                    acked.push(name);
                } else {
                    break;
                }
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    drop(gw); // SIGKILL mid-write
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap_or_default());
    }
    assert!(
        acked.len() > 5,
        "the writers got going ({} accounts)",
        acked.len()
    );

    for f in ["users.json", "sessions.json"] {
        let p = dir.path().join("data").join(f);
        if p.exists() {
            let bytes = std::fs::read(&p).unwrap();
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .unwrap_or_else(|e| panic!("{f}: {e}"));
        }
    }
    let gw = spawn(dir.path(), &[]);
    wait_healthy(gw.addr).await;
    for name in &acked {
        let body = format!(r#"{{"username":"{name}","password":"secret"}}"#);
        let (s, _, text) = http(gw.addr, "POST", "/api/auth/login", &[JSON], &body).await;
        assert_eq!(s, 200, "acknowledged account {name} lost: {text}");
    }
    println!("{} acknowledged accounts all survived SIGKILL", acked.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_while_twenty_logins_run() {
    let dir = tempfile::tempdir().unwrap();
    let _unlink = UniqueSegment::adopt(shm_name(dir.path()));
    // A realistic cost, so that the logins are real work.
    let gw = spawn(dir.path(), &["--bcrypt-cost", "10"]);
    wait_healthy(gw.addr).await;
    let addr = gw.addr;
    let body = r#"{"username":"nina","password":"secret"}"#;
    let (s, _, _) = http(addr, "POST", "/api/auth/register", &[JSON], body).await;
    assert_eq!(s, 201);

    let logins: Vec<_> = (0..20)
        .map(|_| {
            tokio::spawn(
                async move { http(addr, "POST", "/api/auth/login", &[JSON], body).await.0 },
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut worst = Duration::ZERO;
    let mut samples = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let (s, _, _) = http(addr, "GET", "/healthz", &[], "").await;
        let took = t.elapsed();
        assert_eq!(s, 200);
        worst = worst.max(took);
        samples.push(took);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let login_start = Instant::now();
    for l in logins {
        assert_eq!(l.await.unwrap(), 200);
    }
    samples.sort();
    println!(
        "healthz while 20 bcrypt-10 logins ran: median {:?}, worst {:?} (logins finished {:?} later)",
        samples[samples.len() / 2],
        worst,
        login_start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_messages_flow_loses_and_duplicates_nothing() {
    use shm_layout::{ChatMessage, Platform, Segment};
    use uuid::Uuid;

    let dir = tempfile::tempdir().unwrap();
    let shm = shm_name(dir.path());
    let _unlink = UniqueSegment::adopt(shm.clone());
    let gw = spawn(dir.path(), &[]);
    wait_healthy(gw.addr).await;
    let body = r#"{"username":"wendy","password":"secret"}"#;
    let (s, _, text) = http(gw.addr, "POST", "/api/auth/register", &[JSON], body).await;
    assert_eq!(s, 201);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let id: Uuid = v["user"]["id"].as_str().unwrap().parse().unwrap();

    // The test is the ingest: every successful enqueue is an acknowledged message.
    let seg = std::sync::Arc::new(Segment::open_or_create(&shm).unwrap());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (seg, stop) = (seg.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut acked = Vec::new();
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let m = ChatMessage::simple(
                    Uuid::new_v4(),
                    id,
                    Platform::Kick,
                    "viewer",
                    format!("message {i}"),
                    i,
                );
                if seg
                    .try_enqueue(&m.to_json(), Duration::from_millis(100))
                    .is_ok()
                {
                    acked.push(m.id);
                    i += 1;
                } else {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            acked
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(gw); // SIGKILL while the pump persists
    tokio::time::sleep(Duration::from_millis(100)).await;
    let gw = spawn(dir.path(), &[]);
    wait_healthy(gw.addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acked = writer.join().unwrap();
    for _ in 0..500 {
        if seg.depth() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(seg.depth(), 0, "the restarted pump drained the ring");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = std::fs::read_to_string(
        dir.path()
            .join("data")
            .join(format!("chat-history-{id}.ndjson")),
    )
    .unwrap();
    let logged: Vec<Uuid> = log
        .lines()
        .map(|l| serde_json::from_str::<ChatMessage>(l).unwrap().id)
        .collect();
    assert_eq!(
        logged.len(),
        acked.len(),
        "every acknowledged message once (no more, no fewer)"
    );
    assert_eq!(logged, acked, "in order");
    println!(
        "{} messages acknowledged across a gateway SIGKILL: all logged exactly once",
        acked.len()
    );
    drop(gw);
}
