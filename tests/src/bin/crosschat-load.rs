//! `crosschat-load`: the end-to-end load driver. Starts the real stack (release binaries: one
//! gateway, three ingests) in a temporary directory, registers a streamer, opens S WebSocket
//! subscribers on its room, and offers messages at a fixed rate through the ingest sockets or the
//! HTTP producer routes. Prints delivered messages/s, loss, produce→receive latency percentiles and
//! the gateway's RSS.
//!
//! ```text
//! scripts/load --rate 1000 --duration 10            # socket producers, 1,000 msg/s
//! scripts/load --rate 0 --duration 10               # as fast as the producers can go
//! scripts/load --via http --rate 2000 --duration 10 # through POST /api/producers/{platform}
//! ```
//!
//! Every message carries its send time (µs since the epoch) in its text; a subscriber's receive
//! time minus that is the produce→receive latency. Loss = acknowledged messages that some
//! subscriber did not receive; duplicates are counted too.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const PLATFORMS: [&str; 3] = ["twitch", "youtube", "kick"];

#[derive(Debug, Clone)]
struct Args {
    rate: u64,
    duration: Duration,
    producers: usize,
    subscribers: usize,
    via_http: bool,
    fsync: String,
    bin_dir: PathBuf,
    text_len: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: crosschat-load [--rate N msg/s, 0 = unthrottled] [--duration SECS] [--producers P] \
         [--subscribers S] [--via socket|http] [--fsync cycle|never] [--text-len N] [--bin-dir DIR]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        rate: 1000,
        duration: Duration::from_secs(10),
        producers: 3,
        subscribers: 1,
        via_http: false,
        fsync: "cycle".into(),
        bin_dir: std::env::current_exe()
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf(),
        text_len: 200,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--rate" => a.rate = val().parse().unwrap_or_else(|_| usage()),
            "--duration" => {
                a.duration = Duration::from_secs_f64(val().parse().unwrap_or_else(|_| usage()))
            }
            "--producers" => a.producers = val().parse().unwrap_or_else(|_| usage()),
            "--subscribers" => a.subscribers = val().parse().unwrap_or_else(|_| usage()),
            "--via" => a.via_http = val() == "http",
            "--fsync" => a.fsync = val(),
            "--text-len" => a.text_len = val().parse().unwrap_or_else(|_| usage()),
            "--bin-dir" => a.bin_dir = PathBuf::from(val()),
            _ => usage(),
        }
    }
    a.producers = a.producers.max(1);
    a
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// The stack's processes; killed and cleaned up on drop.
struct Stack {
    children: Vec<Child>,
    gateway_pid: u32,
    shm: String,
    _dir: tempfile::TempDir,
    run_dir: PathBuf,
    base: String,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(c.id() as i32).unwrap(),
                rustix::process::Signal::TERM,
            );
        }
        for c in &mut self.children {
            let _ = c.wait();
        }
        let _ = shm_layout::remove(&self.shm);
    }
}

fn start_stack(args: &Args) -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run_dir = data.join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let shm = format!("/xchat-load-{}", std::process::id());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let common = |c: &mut Command| {
        c.env("CROSSCHAT_SHM_NAME", &shm)
            .env("CROSSCHAT_RUNTIME_DIR", &run_dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
    };
    let mut children = Vec::new();
    for p in PLATFORMS {
        let mut c = Command::new(args.bin_dir.join("ingest"));
        c.args(["--platform", p]);
        common(&mut c);
        children.push(c.spawn().expect("start ingest (build with scripts/load)"));
    }
    let mut c = Command::new(args.bin_dir.join("gateway"));
    c.args([
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--bcrypt-cost",
        "4",
        "--fsync",
        &args.fsync,
    ])
    .arg("--data-dir")
    .arg(&data);
    common(&mut c);
    let gw = c.spawn().expect("start gateway");
    let gateway_pid = gw.id();
    children.push(gw);
    let stack = Stack {
        children,
        gateway_pid,
        shm,
        _dir: dir,
        run_dir,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = ureq::get(&format!("{}/readyz", stack.base)).call().is_ok();
        let sockets = PLATFORMS
            .iter()
            .all(|p| stack.run_dir.join(format!("ingest-{p}.sock")).exists());
        if ready && sockets {
            return stack;
        }
        assert!(
            Instant::now() < deadline,
            "the stack did not become ready in 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|v| v.parse().unwrap_or(0)))
        })
        .unwrap_or(0)
}

/// Registers and logs in a fresh streamer; returns (user id, cookie header value).
fn login(base: &str) -> (String, String) {
    let username = format!("load{}", std::process::id());
    let body = serde_json::json!({ "username": username, "password": "load-test-pw" });
    ureq::post(&format!("{base}/api/auth/register"))
        .send_json(&body)
        .expect("register");
    let resp = ureq::post(&format!("{base}/api/auth/login"))
        .send_json(&body)
        .expect("login");
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("streamer_session="))
        .expect("session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let v: serde_json::Value = resp.into_body().read_json().unwrap();
    let id = v["user"]["id"].as_str().unwrap().to_string();
    ureq::post(&format!("{base}/api/stream/control"))
        .header("Cookie", &cookie)
        .send_json(serde_json::json!({ "action": "start" }))
        .expect("start stream");
    (id, cookie)
}

/// What the subscribers saw.
#[derive(Default)]
struct Received {
    latencies_us: Vec<u64>,
    ids: HashSet<String>,
    duplicates: u64,
}

async fn subscriber(
    base: String,
    cookie: String,
    user: String,
    out: Arc<Mutex<Received>>,
    joined: Arc<AtomicU64>,
    delivered: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    capacity: usize,
) {
    let mut req = format!("{}/api/socket", base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert("Cookie", cookie.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("websocket");
    ws.send(Message::text(
        serde_json::json!({"type":"join","streamerId":user}).to_string(),
    ))
    .await
    .unwrap();
    // Sized up front: a set rehashing a million ids mid-run stalls this client for 100 ms+, long
    // enough for the gateway to cut it off as a slow subscriber (1013).
    let mut local = Received {
        latencies_us: Vec::with_capacity(capacity),
        ids: HashSet::with_capacity(capacity),
        duplicates: 0,
    };
    loop {
        let msg = match tokio::time::timeout(Duration::from_millis(200), ws.next()).await {
            Err(_) if stop.load(Ordering::Relaxed) => break,
            Err(_) => continue,
            Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(msg))) => msg,
        };
        let Message::Text(t) = msg else { continue };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(t.as_str()) else {
            continue;
        };
        match v["type"].as_str() {
            Some("joined") => {
                joined.fetch_add(1, Ordering::SeqCst);
            }
            Some("chat:message") => {
                let recv = now_us();
                let m = &v["message"];
                let id = m["id"].as_str().unwrap_or_default().to_string();
                let sent: u64 = m["text"]
                    .as_str()
                    .unwrap_or("")
                    .split(' ')
                    .nth(2)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(recv);
                local.latencies_us.push(recv.saturating_sub(sent));
                if !local.ids.insert(id) {
                    local.duplicates += 1;
                }
                delivered.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
    let mut o = out.lock().unwrap();
    o.latencies_us.extend(local.latencies_us);
    o.duplicates += local.duplicates;
    if o.ids.is_empty() {
        o.ids = local.ids;
    } else {
        // Count loss against the intersection: a message counts as delivered when every
        // subscriber got it.
        o.ids.retain(|id| local.ids.contains(id));
    }
}

/// Offers messages through one ingest socket at `rate` msg/s (0 = unthrottled), pipelined: a
/// reader thread collects acknowledgements. Returns the acknowledged ids and the refusal count.
fn socket_producer(
    args: Args,
    sock: PathBuf,
    user: String,
    rate: u64,
    idx: usize,
) -> (Vec<String>, u64, u64) {
    let stream = UnixStream::connect(&sock).expect("connect ingest socket");
    let reader = stream.try_clone().unwrap();
    let acks = std::thread::spawn(move || {
        let mut ids = Vec::new();
        let mut refused = 0u64;
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if v["ok"] == true {
                ids.push(v["id"].as_str().unwrap().to_string());
            } else {
                refused += 1;
            }
        }
        (ids, refused)
    });
    let mut w = std::io::BufWriter::with_capacity(64 * 1024, &stream);
    let pad = "x".repeat(args.text_len);
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < args.duration {
        if rate > 0 {
            // Send what the schedule says is due, then sleep ~1 ms.
            let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
            while sent < due {
                let line = serde_json::json!({"streamerId": user, "user": format!("p{idx}"), "text": format!("load {sent} {} {pad}", now_us()), "isSub": true, "color": "#aabbcc"});
                writeln!(w, "{line}").unwrap();
                sent += 1;
            }
            w.flush().unwrap();
            std::thread::sleep(Duration::from_millis(1));
        } else {
            for _ in 0..64 {
                let line = serde_json::json!({"streamerId": user, "user": format!("p{idx}"), "text": format!("load {sent} {} {pad}", now_us()), "isSub": true, "color": "#aabbcc"});
                writeln!(w, "{line}").unwrap();
                sent += 1;
            }
            w.flush().unwrap();
        }
    }
    w.flush().unwrap();
    drop(w);
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let (ids, refused) = acks.join().unwrap();
    (ids, refused, sent)
}

/// Offers messages through `POST /api/producers/{platform}`, one request at a time per producer.
fn http_producer(
    args: Args,
    base: String,
    cookie: String,
    platform: &str,
    rate: u64,
    idx: usize,
) -> (Vec<String>, u64, u64) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{base}/api/producers/{platform}");
    let pad = "x".repeat(args.text_len);
    let (mut ids, mut refused, mut sent) = (Vec::new(), 0u64, 0u64);
    let start = Instant::now();
    while start.elapsed() < args.duration {
        if rate > 0 {
            let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
            if sent >= due {
                std::thread::sleep(Duration::from_micros(200));
                continue;
            }
        }
        let body = serde_json::json!({"user": format!("h{idx}"), "text": format!("load {sent} {} {pad}", now_us()), "isSub": true, "color": "#aabbcc"});
        sent += 1;
        match agent.post(&url).header("Cookie", &cookie).send_json(&body) {
            Ok(mut r) if r.status() == 202 => {
                let v: serde_json::Value = r.body_mut().read_json().unwrap();
                ids.push(v["id"].as_str().unwrap().to_string());
            }
            _ => refused += 1,
        }
    }
    (ids, refused, sent)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() {
    let args = parse_args();
    let stack = start_stack(&args);
    let (user, cookie) = login(&stack.base);
    let rss_start = rss_kib(stack.gateway_pid);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let received = Arc::new(Mutex::new(Received::default()));
    let joined = Arc::new(AtomicU64::new(0));
    let delivered = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let capacity = if args.rate == 0 {
        4_000_000
    } else {
        (args.rate as f64 * args.duration.as_secs_f64() * 1.1) as usize
    };
    let subs: Vec<_> = (0..args.subscribers)
        .map(|_| {
            rt.spawn(subscriber(
                stack.base.clone(),
                cookie.clone(),
                user.clone(),
                received.clone(),
                joined.clone(),
                delivered.clone(),
                stop.clone(),
                capacity,
            ))
        })
        .collect();
    let t0 = Instant::now();
    while joined.load(Ordering::SeqCst) < args.subscribers as u64 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "subscribers did not join"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    let per_rate = args.rate / args.producers as u64;
    let started = Instant::now();
    let producers: Vec<_> = (0..args.producers)
        .map(|i| {
            let (a, u, c, b) = (
                args.clone(),
                user.clone(),
                cookie.clone(),
                stack.base.clone(),
            );
            let platform = PLATFORMS[i % 3];
            let sock = stack.run_dir.join(format!("ingest-{platform}.sock"));
            std::thread::spawn(move || {
                if a.via_http {
                    http_producer(a, b, c, platform, per_rate, i)
                } else {
                    socket_producer(a, sock, u, per_rate, i)
                }
            })
        })
        .collect();
    let mut acked: Vec<String> = Vec::new();
    let (mut refused, mut sent) = (0u64, 0u64);
    let mut peak_rss = 0;
    for p in producers {
        let (ids, r, s) = p.join().unwrap();
        acked.extend(ids);
        refused += r;
        sent += s;
        peak_rss = peak_rss.max(rss_kib(stack.gateway_pid));
    }
    let produce_time = started.elapsed();
    // Let the last messages arrive: until every subscriber has every acknowledged one, or 10 s.
    let expected = acked.len() as u64 * args.subscribers as u64;
    let wait_until = Instant::now() + Duration::from_secs(10);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < wait_until {
        std::thread::sleep(Duration::from_millis(20));
        peak_rss = peak_rss.max(rss_kib(stack.gateway_pid));
    }
    let deliver_time = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for s in subs {
            let _ = s.await;
        }
    });
    let rss_end = rss_kib(stack.gateway_pid);
    let r = received.lock().unwrap();
    let lost = acked.iter().filter(|id| !r.ids.contains(*id)).count();
    let mut lat = r.latencies_us.clone();
    lat.sort_unstable();
    let delivered = acked.len() - lost;
    let snap = shm_layout::Segment::open_existing(&stack.shm).map(|s| s.snapshot());
    println!("crosschat-load: via {}, offered rate {} msg/s ({}), {} producers, {} subscribers, fsync {}, text {} B",
        if args.via_http { "HTTP" } else { "ingest socket" },
        args.rate, if args.rate == 0 { "unthrottled" } else { "throttled" },
        args.producers, args.subscribers, args.fsync, args.text_len);
    println!("sent {sent}, acknowledged {}, refused {refused}, delivered to every subscriber {delivered}, lost {lost}, duplicates {}", acked.len(), r.duplicates);
    println!(
        "throughput: {:.0} msg/s delivered (producing took {:.2} s, last delivery at {:.2} s)",
        delivered as f64 / deliver_time.as_secs_f64(),
        produce_time.as_secs_f64(),
        deliver_time.as_secs_f64()
    );
    println!(
        "produce->receive latency ms: p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}  (n = {})",
        percentile(&lat, 0.50),
        percentile(&lat, 0.95),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
        lat.len()
    );
    println!("gateway RSS KiB: start {rss_start}, peak {peak_rss}, end {rss_end}");
    if let Ok(s) = snap {
        println!(
            "segment: max_depth {}, rejected_full {}, lock_timeouts {}",
            s.counters["max_depth"], s.counters["rejected_full"], s.counters["lock_timeouts"]
        );
    }
    drop(r);
    drop(stack);
    if lost > 0 {
        std::process::exit(1);
    }
}
