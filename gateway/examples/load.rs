//! Load driver for the whole stack: starts a gateway and three ingests (release binaries next to
//! this example), registers a streamer, opens S WebSocket subscribers on its room, and runs P
//! producers at a total rate R — through the ingests' producer sockets or through the gateway's
//! HTTP producer routes. Prints delivered messages/s, refusals, loss (acknowledged but never
//! received), produce→receive latency p50/p95/p99/max, and the gateway's RSS.
//!
//! ```text
//! cargo build --release -p gateway -p ingest --examples
//! target/release/examples/load --rate 1000 --duration 10
//! target/release/examples/load --rate 100000 --duration 10 --producers 4
//! target/release/examples/load --via http --rate 5000 --producers 16
//! target/release/examples/load --via ring --rate 1000     # the test writes the ring itself: gateway only
//! ```
//!
//! The workspace's `crosschat-load` (tests/) measures the same stack; this driver's subscriber does
//! as little as possible per frame (no `serde_json::Value` of the message, no growing `HashSet`
//! of string ids, whose rehash near 917k entries stalls a client long enough to be cut off with
//! 1013), so it shows what the gateway sustains rather than what the client does.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UnixStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser, Debug, Clone)]
#[command(about = "CrossChat end-to-end load driver")]
struct Args {
    /// Total messages per second over all producers.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Producer connections (spread over twitch, youtube, kick).
    #[arg(long, default_value_t = 3)]
    producers: usize,
    /// WebSocket subscribers on the streamer's room.
    #[arg(long, default_value_t = 1)]
    subscribers: usize,
    /// `socket` (the ingests' producer sockets), `http` (the gateway's producer routes) or `ring`
    /// (this process enqueues into the segment directly: the gateway alone).
    #[arg(long, default_value = "socket")]
    via: String,
    /// Passed to the gateway.
    #[arg(long, default_value = "cycle")]
    fsync: String,
    /// Passed to the gateway.
    #[arg(long, default_value_t = 50)]
    pump_interval_ms: u64,
    /// Directory holding the `gateway` and `ingest` binaries (default: next to this example).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
}

struct Stack {
    children: Vec<Child>,
    gateway_pid: u32,
    addr: String,
    run_dir: PathBuf,
    shm: String,
    _dir: tempfile::TempDir,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(format!("/dev/shm{}", self.shm));
    }
}

fn start_stack(args: &Args) -> Stack {
    let bin_dir = args.bin_dir.clone().unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap();
        exe.parent().unwrap().parent().unwrap().to_path_buf()
    });
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let shm = format!("/xchat-load-{}", std::process::id());
    let mut gw = Command::new(bin_dir.join("gateway"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--bcrypt-cost",
            "4",
            "--shm-name",
            &shm,
        ])
        .args(["--fsync", &args.fsync])
        .args(["--pump-interval-ms", &args.pump_interval_ms.to_string()])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--runtime-dir")
        .arg(&run_dir)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the gateway (build it with --release)");
    let stderr = gw.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut tx = Some(tx);
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(a) = line.strip_prefix("listening on http://") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(a.trim().to_string());
                }
            } else {
                eprintln!("gateway: {line}");
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("gateway address");
    let gateway_pid = gw.id();
    let mut children = vec![gw];
    for p in ["twitch", "youtube", "kick"] {
        children.push(
            Command::new(bin_dir.join("ingest"))
                .args(["--platform", p, "--shm-name", &shm])
                .arg("--runtime-dir")
                .arg(&run_dir)
                .env("RUST_LOG", "warn")
                .spawn()
                .expect("start an ingest"),
        );
    }
    Stack {
        children,
        gateway_pid,
        addr,
        run_dir,
        shm,
        _dir: dir,
    }
}

/// One HTTP/1.1 request on a keep-alive connection; returns (status, body).
async fn request(
    s: &mut BufReader<TcpStream>,
    method: &str,
    path: &str,
    cookie: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nCookie: {cookie}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.get_mut().write_all(req.as_bytes()).await?;
    let mut status = 0;
    let mut len = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if s.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if l.starts_with("HTTP/1.1 ") {
            status = l[9..12].parse().unwrap_or(0);
        } else if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            } else if k.eq_ignore_ascii_case("set-cookie") && path.ends_with("/login") {
                return Ok((status, v.trim().split(';').next().unwrap().to_string()));
            }
        }
    }
    let mut buf = vec![0; len];
    s.read_exact(&mut buf).await?;
    Ok((status, String::from_utf8_lossy(&buf).into_owned()))
}

#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    acked: AtomicU64,
    refused: Mutex<HashMap<String, u64>>,
}

fn platform(i: usize) -> &'static str {
    ["twitch", "youtube", "kick"][i % 3]
}

/// A producer on an ingest socket: writes what its schedule says is due each millisecond, in one
/// write, and reads the replies on the other half. Returns each acknowledged seq.
async fn socket_producer(
    run_dir: PathBuf,
    idx: usize,
    streamer: String,
    rate: f64,
    (base, start): (Instant, Instant),
    until: Instant,
    counts: Arc<Counts>,
) -> Vec<u64> {
    let path = run_dir.join(format!("ingest-{}.sock", platform(idx)));
    let stream = UnixStream::connect(&path).await.expect("ingest socket");
    let (r, mut w) = stream.into_split();
    let reader_counts = counts.clone();
    let reader = tokio::spawn(async move {
        let mut lines = BufReader::new(r).lines();
        let mut acked = Vec::new();
        let mut seq = 0u64;
        while let Ok(Some(l)) = lines.next_line().await {
            let v: serde_json::Value = serde_json::from_str(&l).unwrap();
            if v["ok"] == true {
                acked.push(seq);
                reader_counts.acked.fetch_add(1, Relaxed);
            } else {
                let code = v["code"].as_str().unwrap_or("?").to_string();
                *reader_counts
                    .refused
                    .lock()
                    .unwrap()
                    .entry(code)
                    .or_default() += 1;
            }
            seq += 1;
        }
        acked
    });
    let mut sent = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut buf = Vec::new();
    while Instant::now() < until {
        tick.tick().await;
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        buf.clear();
        while sent < due {
            let t = base.elapsed().as_nanos() as u64;
            buf.extend_from_slice(
                format!(
                    r#"{{"streamerId":"{streamer}","user":"load{idx}","text":"{idx}:{sent}:{t}"}}"#
                )
                .as_bytes(),
            );
            buf.push(b'\n');
            sent += 1;
        }
        if !buf.is_empty() {
            w.write_all(&buf).await.expect("write to ingest");
        }
    }
    counts.sent.fetch_add(sent, Relaxed);
    w.shutdown().await.ok();
    reader.await.unwrap()
}

/// A producer over HTTP: one keep-alive connection, requests back to back on its schedule.
async fn http_producer(
    addr: String,
    idx: usize,
    cookie: String,
    rate: f64,
    (base, start): (Instant, Instant),
    until: Instant,
    counts: Arc<Counts>,
) -> Vec<u64> {
    let mut s = BufReader::new(TcpStream::connect(&addr).await.unwrap());
    let path = format!("/api/producers/{}", platform(idx));
    let mut acked = Vec::new();
    let mut sent = 0u64;
    while Instant::now() < until {
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        if sent >= due {
            tokio::time::sleep(Duration::from_micros(200)).await;
            continue;
        }
        let t = base.elapsed().as_nanos() as u64;
        let body = format!(r#"{{"user":"load{idx}","text":"{idx}:{sent}:{t}"}}"#);
        let (status, text) = request(&mut s, "POST", &path, &cookie, &body)
            .await
            .unwrap();
        if status == 202 {
            acked.push(sent);
            counts.acked.fetch_add(1, Relaxed);
        } else {
            *counts
                .refused
                .lock()
                .unwrap()
                .entry(format!("{status} {text}"))
                .or_default() += 1;
        }
        sent += 1;
    }
    counts.sent.fetch_add(sent, Relaxed);
    acked
}

/// What one subscriber saw: per producer, which seqs arrived (and how often), and latencies (µs).
struct Seen {
    got: Vec<Vec<u8>>,
    latencies: Vec<u32>,
    last: Instant,
}

async fn subscriber(
    addr: String,
    cookie: String,
    streamer: String,
    producers: usize,
    start: Instant,
    ready: tokio::sync::mpsc::Sender<()>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Seen {
    let mut req = format!("ws://{addr}/api/socket")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("websocket");
    ws.send(Message::text(format!(
        r#"{{"type":"join","streamerId":"{streamer}"}}"#
    )))
    .await
    .unwrap();
    let mut seen = Seen {
        got: vec![Vec::new(); producers],
        latencies: Vec::new(),
        last: Instant::now(),
    };
    let mut stop = stop;
    let mut joined = false;
    loop {
        let m = tokio::select! {
            m = ws.next() => m,
            _ = stop.changed() => break,
        };
        let Some(Ok(m)) = m else {
            eprintln!("subscriber: socket ended: {m:?}");
            break;
        };
        let Message::Text(t) = m else { continue };
        let now = start.elapsed().as_nanos() as u64;
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        if v["type"] == "joined" && !joined {
            joined = true;
            let _ = ready.send(()).await;
            continue;
        }
        if v["type"] != "chat:message" {
            continue;
        }
        let text = v["message"]["text"].as_str().unwrap();
        let mut parts = text.split(':');
        let (Some(p), Some(s), Some(t0)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (p, s, t0): (usize, usize, u64) =
            (p.parse().unwrap(), s.parse().unwrap(), t0.parse().unwrap());
        let g = &mut seen.got[p];
        if g.len() <= s {
            g.resize(s + 1, 0);
        }
        g[s] = g[s].saturating_add(1);
        seen.latencies
            .push(((now.saturating_sub(t0)) / 1000) as u32);
        seen.last = Instant::now();
    }
    seen
}

fn rss_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1).map(|v| v.parse().unwrap_or(0)))
        })
        .unwrap_or(0)
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let stack = start_stack(&args);
    let addr = stack.addr.clone();
    // Wait for the ingest sockets.
    for p in 0..3 {
        let path = stack.run_dir.join(format!("ingest-{}.sock", platform(p)));
        for _ in 0..400 {
            if path.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    let mut c = BufReader::new(TcpStream::connect(&addr).await.unwrap());
    let creds = r#"{"username":"loadtest","password":"secret-pw"}"#;
    let (s, _) = request(&mut c, "POST", "/api/auth/register", "", creds)
        .await
        .unwrap();
    assert_eq!(s, 201);
    let (s, cookie) = request(&mut c, "POST", "/api/auth/login", "", creds)
        .await
        .unwrap();
    assert_eq!(s, 200);
    let (_, me) = request(&mut c, "GET", "/api/auth/me", &cookie, "")
        .await
        .unwrap();
    let me: serde_json::Value = serde_json::from_str(&me).unwrap();
    let streamer = me["user"]["id"].as_str().unwrap().to_string();
    let (s, _) = request(
        &mut c,
        "POST",
        "/api/stream/control",
        &cookie,
        r#"{"action":"start"}"#,
    )
    .await
    .unwrap();
    assert_eq!(s, 200);

    let start = Instant::now();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(args.subscribers);
    let subs: Vec<_> = (0..args.subscribers)
        .map(|_| {
            tokio::spawn(subscriber(
                addr.clone(),
                cookie.clone(),
                streamer.clone(),
                args.producers,
                start,
                ready_tx.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    for _ in 0..args.subscribers {
        ready_rx.recv().await;
    }
    let rss_before = rss_kb(stack.gateway_pid, "VmRSS:");
    let load_start = Instant::now();
    let until = load_start + Duration::from_secs(args.duration);
    let counts = Arc::new(Counts::default());
    let per = args.rate as f64 / args.producers as f64;
    let producers: Vec<_> = (0..args.producers)
        .map(|i| {
            let counts = counts.clone();
            if args.via == "ring" {
                let shm = stack.shm.clone();
                let streamer = streamer.clone();
                let base = start;
                tokio::task::spawn_blocking(move || {
                    let seg = shm_layout::Segment::open_existing(&shm).unwrap();
                    let mut sent = 0u64;
                    let mut acked = Vec::new();
                    while Instant::now() < until {
                        std::thread::sleep(Duration::from_micros(500));
                        let due = (load_start.elapsed().as_secs_f64() * per) as u64;
                        while sent < due {
                            let t = base.elapsed().as_nanos() as u64;
                            let m = shm_layout::ChatMessage::simple(
                                uuid::Uuid::new_v4(),
                                streamer.parse().unwrap(),
                                shm_layout::Platform::Kick,
                                "r",
                                format!("{i}:{sent}:{t}"),
                                0,
                            );
                            if seg
                                .try_enqueue(&m.to_json(), Duration::from_millis(100))
                                .is_ok()
                            {
                                acked.push(sent);
                                counts.acked.fetch_add(1, Relaxed);
                            }
                            sent += 1;
                        }
                    }
                    counts.sent.fetch_add(sent, Relaxed);
                    acked
                })
            } else if args.via == "http" {
                tokio::spawn(http_producer(
                    addr.clone(),
                    i,
                    cookie.clone(),
                    per,
                    (start, load_start),
                    until,
                    counts,
                ))
            } else {
                tokio::spawn(socket_producer(
                    stack.run_dir.clone(),
                    i,
                    streamer.clone(),
                    per,
                    (start, load_start),
                    until,
                    counts,
                ))
            }
        })
        .collect();
    let mut rss_peak = rss_before;
    let sampler = {
        let pid = stack.gateway_pid;
        tokio::spawn(async move {
            let mut peak = 0;
            loop {
                peak = peak.max(rss_kb(pid, "VmRSS:"));
                tokio::time::sleep(Duration::from_millis(100)).await;
                if Instant::now() > until + Duration::from_secs(5) {
                    return peak;
                }
            }
        })
    };
    let mut acked: Vec<Vec<u64>> = Vec::new();
    for p in producers {
        acked.push(p.await.unwrap());
    }
    let produced_for = load_start.elapsed();
    let total_acked: usize = acked.iter().map(Vec::len).sum();
    // Let the subscribers drain: stop when every acknowledged message arrived, or after 10 s.
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, m) = request(&mut c, "GET", "/metrics", &cookie, "")
            .await
            .unwrap();
        let persisted: u64 = m
            .lines()
            .find_map(|l| l.strip_prefix("crosschat_pump_persisted_total "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if persisted as usize >= total_acked || Instant::now() > drain_deadline {
            tokio::time::sleep(Duration::from_millis(500)).await;
            break;
        }
    }
    let _ = stop_tx.send(true);
    rss_peak = rss_peak.max(sampler.await.unwrap());
    let rss_after = rss_kb(stack.gateway_pid, "VmRSS:");

    let secs = produced_for.as_secs_f64();
    println!(
        "rate {} msg/s via {} · {} producers · {} subscribers · fsync {} · pump {} ms · {:.1} s",
        args.rate,
        args.via,
        args.producers,
        args.subscribers,
        args.fsync,
        args.pump_interval_ms,
        secs
    );
    println!(
        "sent {} · acknowledged {} ({:.0}/s) · refused {:?}",
        counts.sent.load(Relaxed),
        total_acked,
        total_acked as f64 / secs,
        counts.refused.lock().unwrap()
    );
    for (i, s) in subs.into_iter().enumerate() {
        let mut seen = s.await.unwrap();
        let mut lost = 0usize;
        let mut dup = 0usize;
        let mut received = 0usize;
        for (p, seqs) in acked.iter().enumerate() {
            for &q in seqs {
                match seen.got[p].get(q as usize).copied().unwrap_or(0) {
                    0 => lost += 1,
                    1 => received += 1,
                    _ => {
                        received += 1;
                        dup += 1
                    }
                }
            }
        }
        seen.latencies.sort_unstable();
        let span = seen.last.duration_since(load_start).as_secs_f64().max(secs);
        println!(
            "subscriber {i}: received {received} ({:.0} msg/s) · lost {lost} · duplicated {dup} · latency ms p50 {:.2} p95 {:.2} p99 {:.2} max {:.2}",
            received as f64 / span,
            pct(&seen.latencies, 0.50),
            pct(&seen.latencies, 0.95),
            pct(&seen.latencies, 0.99),
            pct(&seen.latencies, 1.0),
        );
    }
    println!(
        "gateway RSS: {} KiB before · {} KiB peak · {} KiB after",
        rss_before, rss_peak, rss_after
    );
    let (_, m) = request(&mut c, "GET", "/metrics", &cookie, "")
        .await
        .unwrap();
    for l in m.lines().filter(|l| !l.starts_with('#')) {
        if l.contains("pump_batches")
            || l.contains("pump_persisted")
            || l.contains("rejected")
            || l.contains("max_depth")
            || l.contains("slow_closed")
        {
            println!("  {l}");
        }
    }
    drop(stack);
}
