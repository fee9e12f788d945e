//! Load driver for `ingest`: starts real release `ingest` processes on a fresh segment, drains the
//! ring from a reader thread, and drives N pipelining socket clients per process with ~300-byte
//! messages. Prints messages/s and the acknowledgement latency percentiles.
//!
//! ```text
//! cargo build --release -p ingest --bins --examples
//! cargo run --release -p ingest --example ingest-load -- --processes 1
//! cargo run --release -p ingest --example ingest-load -- --processes 3
//! ```

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use shm_layout::{Reader, Segment};

#[derive(Debug, Parser)]
#[command(about = "Drive real ingest processes with pipelined socket clients and report msg/s")]
struct Args {
    /// Ingest processes (1–3: twitch, youtube, kick), all on one segment.
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// Client connections per process.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Messages per client.
    #[arg(long, default_value_t = 250_000)]
    messages: usize,
    /// Requests in flight per client (sent, not yet acknowledged).
    #[arg(long, default_value_t = 512)]
    window: usize,
    /// Approximate request line size in bytes.
    #[arg(long, default_value_t = 300)]
    size: usize,
    /// The ingest binary (default: `ingest` next to this example's directory).
    #[arg(long)]
    binary: Option<PathBuf>,
}

const PLATFORMS: [&str; shm_layout::Platform::ALL.len()] = shm_layout::Platform::SLUGS;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// Removes the segment and the runtime directory when dropped, also on a panic.
struct Cleanup {
    seg: String,
    dir: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = shm_layout::remove(&self.seg);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Window {
    acked: AtomicU64,
    waiting: Mutex<bool>,
    cv: Condvar,
}

fn main() {
    let args = Args::parse();
    assert!((1..=3).contains(&args.processes), "--processes is 1 to 3");
    let binary = args.binary.clone().unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap();
        exe.parent().unwrap().parent().unwrap().join("ingest")
    });
    let seg_name = format!("/xchat-load-{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("xchat-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Declared before the processes, so dropped after them: they are stopped first.
    let _cleanup = Cleanup {
        seg: seg_name.clone(),
        dir: dir.clone(),
    };
    let seg = Arc::new(Segment::open_or_create(&seg_name).expect("create the segment"));

    let mut procs = Vec::new();
    let mut sockets = Vec::new();
    for p in &PLATFORMS[..args.processes] {
        let child = Command::new(&binary)
            .args(["--platform", p, "--shm-name", &seg_name, "--runtime-dir"])
            .arg(&dir)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        procs.push(Proc(child));
        sockets.push(dir.join(format!("ingest-{p}.sock")));
    }
    for s in &sockets {
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(s).is_err() {
            assert!(Instant::now() < deadline, "{} did not come up", s.display());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    // The reader: drains the ring as the gateway's pump would (without persisting).
    let stop = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicU64::new(0));
    let reader = std::thread::spawn({
        let (seg, stop, delivered) = (seg.clone(), stop.clone(), delivered.clone());
        move || {
            let mut reader = Reader::claim(seg).expect("claim the reader");
            let mut bytes = 0u64;
            loop {
                let stopping = stop.load(Ordering::Acquire);
                reader.wait_for_data(Duration::from_millis(10));
                let mut n = 0;
                let end = reader.peek(256, |_, r| {
                    bytes += r.map(|p| p.len()).unwrap_or(0) as u64;
                    n += 1;
                });
                reader.commit(end);
                delivered.fetch_add(n, Ordering::Relaxed);
                if stopping && reader.depth() == 0 {
                    return bytes;
                }
            }
        }
    });

    let pad = args.size.saturating_sub(110).max(1);
    let total = args.processes * args.clients * args.messages;
    println!(
        "ingest-load: {} process(es) × {} clients × {} messages, window {}, ~{} B/request",
        args.processes,
        args.clients,
        args.messages,
        args.window,
        line(0, 0, pad).len()
    );
    let started = Instant::now();
    let mut workers = Vec::new();
    for (pi, socket) in sockets.iter().enumerate() {
        for c in 0..args.clients {
            let socket = socket.clone();
            let (messages, window) = (args.messages, args.window);
            workers.push(std::thread::spawn(move || {
                client(&socket, pi * 100 + c, messages, window, pad)
            }));
        }
    }
    let mut latencies: Vec<u32> = Vec::with_capacity(total);
    let mut refused = 0;
    for w in workers {
        let (lat, r) = w.join().unwrap();
        latencies.extend(lat);
        refused += r;
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Release);
    let bytes = reader.join().unwrap();

    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let snap = seg.snapshot();
    println!(
        "{total} requests in {:.2} s: {:.0} msg/s ({refused} refused); ack latency p50 {} µs, p99 {} µs, max {} µs",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        latencies.last().unwrap()
    );
    println!(
        "reader took {} messages ({:.0} B average); counters {:?}",
        delivered.load(Ordering::Relaxed),
        bytes as f64 / delivered.load(Ordering::Relaxed).max(1) as f64,
        snap.counters
    );
    drop(procs);
}

fn line(client: usize, i: usize, pad: usize) -> String {
    format!(
        "{{\"streamerId\":\"6f1c2a4e-0b7d-4c55-9a51-2f9d3c1e8b70\",\"user\":\"viewer{client}\",\"text\":\"msg {i:08} {}\",\"isSub\":true,\"color\":\"#1e90ff\"}}\n",
        "x".repeat(pad)
    )
}

/// One pipelining client: a sender thread keeps up to `window` requests in flight, this thread
/// reads the replies. Returns per-message ack latencies (µs) and the refusal count.
fn client(
    socket: &std::path::Path,
    id: usize,
    messages: usize,
    window: usize,
    pad: usize,
) -> (Vec<u32>, usize) {
    let stream = UnixStream::connect(socket).unwrap();
    let mut w = stream.try_clone().unwrap();
    let win = Arc::new(Window {
        acked: AtomicU64::new(0),
        waiting: Mutex::new(false),
        cv: Condvar::new(),
    });
    let origin = Instant::now();
    let sent_at: Arc<Vec<AtomicU64>> = Arc::new((0..messages).map(|_| AtomicU64::new(0)).collect());
    let sender = std::thread::spawn({
        let (win, sent_at) = (win.clone(), sent_at.clone());
        move || {
            let template = line(id, 0, pad);
            let mut chunk = Vec::with_capacity(64 * template.len());
            let mut sent = 0usize;
            while sent < messages {
                let room = loop {
                    let room = window - (sent - win.acked.load(Ordering::Acquire) as usize);
                    if room > 0 {
                        break room;
                    }
                    let mut waiting = win.waiting.lock().unwrap();
                    *waiting = true;
                    if window > sent - win.acked.load(Ordering::Acquire) as usize {
                        *waiting = false;
                        continue;
                    }
                    let (mut g, _) = win
                        .cv
                        .wait_timeout(waiting, Duration::from_millis(5))
                        .unwrap();
                    *g = false;
                };
                let n = room.min(64).min(messages - sent);
                chunk.clear();
                let now = origin.elapsed().as_nanos() as u64;
                for i in sent..sent + n {
                    // Same length for every message: only the counter digits change.
                    let mut l = template.clone().into_bytes();
                    let digits = format!("{i:08}");
                    let at = l.windows(4).position(|w| w == b"msg ").unwrap() + 4;
                    l[at..at + 8].copy_from_slice(digits.as_bytes());
                    chunk.extend_from_slice(&l);
                    sent_at[i].store(now, Ordering::Relaxed);
                }
                w.write_all(&chunk).unwrap();
                sent += n;
            }
        }
    });
    let mut r = BufReader::with_capacity(64 * 1024, stream);
    let mut latencies = Vec::with_capacity(messages);
    let mut refused = 0;
    let mut reply = String::new();
    for i in 0..messages {
        reply.clear();
        r.read_line(&mut reply).unwrap();
        assert!(reply.ends_with('\n'), "connection closed early");
        if !reply.starts_with("{\"ok\":true") {
            refused += 1;
        }
        let now = origin.elapsed().as_nanos() as u64;
        latencies.push(((now - sent_at[i].load(Ordering::Relaxed)) / 1000) as u32);
        win.acked.store(i as u64 + 1, Ordering::Release);
        if *win.waiting.lock().unwrap() {
            win.cv.notify_one();
        }
    }
    sender.join().unwrap();
    (latencies, refused)
}
