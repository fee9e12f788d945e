//! Fan-out benchmarks of the gateway's WebSocket rooms (issue 17), against the real stack
//! (release gateway + three ingests in a temporary directory). Each scenario prints what it
//! measured and a `RESULT <scenario> key=value …` line for `scripts/fanout`; none asserts a time,
//! but each exits 1 when a subscriber lost or duplicated a message.
//!
//! ```text
//! cargo build --release -p gateway -p ingest --bins --examples
//! target/release/examples/fanout idle --subscribers 10000 [--socket overlay]
//! target/release/examples/fanout slow [--rate 300 --duration 20 --text-bytes 3500]
//! target/release/examples/fanout storm --subscribers 10000
//! ```
//!
//! * `idle`: N subscribers joined to one room, no traffic: the gateway's RSS before and 2 s after
//!   (total and per connection), then one message and the time until all N have it.
//! * `slow`: normal subscribers and one that joins and never reads, under ~3.5 KiB messages:
//!   when the slow one leaves the room and its socket, the close code and reason it finally reads,
//!   the normal ones' loss, duplicates and latency, and the gateway's log and metrics about it.
//! * `storm`: N subscribers receiving; the gateway is stopped (SIGTERM) and started again on the
//!   same address and data directory while the producers go on writing to the ingests; every
//!   subscriber retries every 100–200 ms and rejoins with `since` = the last id it saw. Reports the
//!   time from `/healthz` answering until all have rejoined and have every acknowledged message.
//!
//! The driver raises its open-file limit to the hard limit (the gateway inherits it), connects at
//! most `--connect-concurrency` subscribers at a time, and spreads more than 5,000 of them over
//! the source addresses 127.0.0.2, 127.0.0.3, … (see `common::ws::PER_SOURCE`).

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use common::crowd::{error_summary, Crowd, Outcome, Progress};
use common::http::{self, Http};
use common::produce::{self, Counts, Paced};
use common::stack::{self, Stack, StackOpts};
use common::stats::{rss_kib, Histogram};
use common::tally::{Kind, Tally};
use common::ws::{self, OpenError, SocketKind, Target};

#[derive(Parser)]
#[command(
    about = "CrossChat fan-out benchmarks: idle memory, a slow subscriber, a reconnect storm"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// N joined subscribers, no traffic: memory per connection, then one message to all.
    Idle {
        /// Subscribers.
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        #[command(flatten)]
        common: Common,
    },
    /// Normal subscribers and one that never reads, under large messages.
    Slow {
        /// Subscribers that read.
        #[arg(long, default_value_t = 10)]
        normal: usize,
        /// Messages per second (over three producers).
        #[arg(long, default_value_t = 300)]
        rate: u64,
        /// Seconds of traffic.
        #[arg(long, default_value_t = 20)]
        duration: u64,
        /// Bytes of each message's text (the ingest allows 1000 characters and a 4092-byte
        /// message: at most ~3,800).
        #[arg(long, default_value_t = 3500)]
        text_bytes: usize,
        /// Seconds after the traffic to wait (still not reading) for the gateway to cut the slow
        /// one, before reading what it was sent.
        #[arg(long, default_value_t = 15)]
        grace: u64,
        #[command(flatten)]
        common: Common,
    },
    /// A gateway restart under N subscribers: every one reconnects and rejoins with `since`.
    Storm {
        /// Subscribers.
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        /// Messages per second (over three producers), before and while the gateway is down.
        #[arg(long, default_value_t = 50)]
        rate: u64,
        /// Seconds of traffic before the gateway is stopped.
        #[arg(long, default_value_t = 2)]
        before: u64,
        /// Seconds the gateway stays down (the producers go on; the ring holds 256 messages).
        #[arg(long, default_value_t = 2)]
        down: u64,
        #[command(flatten)]
        common: Common,
    },
}

/// Flags every scenario takes.
#[derive(clap::Args, Clone)]
struct Common {
    /// Which socket the subscribers open.
    #[arg(long, value_enum, default_value = "dashboard")]
    socket: SocketKind,
    /// Subscribers connecting at once (the gateway's listen backlog is 1024).
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    /// Directory holding the `gateway` and `ingest` binaries (default: next to this example).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
}

/// A started stack with a streamer and where its subscribers connect.
struct Bench {
    stack: Stack,
    http: Http,
    target: Target,
    clock: Instant,
}

impl Bench {
    /// Raises the file limit, starts the stack sized for `n` sockets, registers a streamer and
    /// (for overlay sockets) makes an overlay link.
    async fn start(c: &Common, n: usize, rust_log: &str) -> Bench {
        let (soft, hard) = stack::raise_nofile();
        println!("open files: soft limit {soft}, hard limit {hard} (this process and the gateway)");
        if n as u64 + 64 > hard {
            println!(
                "bound: {n} sockets need {n} descriptors in this process and {n} in the gateway; \
                 the hard RLIMIT_NOFILE is {hard} (raising it needs CAP_SYS_RESOURCE or a higher \
                 limit from whoever starts this), so at most ~{} can connect",
                hard.saturating_sub(64)
            );
        }
        let mut opts = StackOpts {
            bin_dir: c.bin_dir.clone(),
            rust_log: rust_log.into(),
            ..StackOpts::default()
        };
        if opts.allow_ws_connections(n) {
            println!("gateway: --ws-max-connections {}", n + 1000);
        } else if n > 10_000 {
            println!("bound: this gateway has no --ws-max-connections and refuses sockets beyond 10,000 (503)");
        }
        let stack = Stack::start(opts).await;
        let mut http = Http::connect(&stack.addr).await.unwrap();
        let me = http::streamer(&mut http, "fanout").await;
        let key = match c.socket {
            SocketKind::Overlay => Some(http::overlay_key(&mut http, &me.cookie).await),
            SocketKind::Dashboard => None,
        };
        let target = Target {
            addr: stack.addr.clone(),
            kind: c.socket,
            cookie: me.cookie,
            streamer: me.id,
            key,
        };
        Bench {
            stack,
            http,
            target,
            clock: Instant::now(),
        }
    }

    /// `n` subscribers (joined at most `limit` at a time) counting `producers`' messages.
    fn crowd(
        &self,
        n: usize,
        limit: usize,
        producers: usize,
        stop: &watch::Receiver<bool>,
    ) -> Arc<Crowd> {
        Crowd::new(
            self.target.clone(),
            n,
            limit,
            producers,
            self.clock,
            stop.clone(),
        )
    }

    /// Three paced producers at `rate` msg/s in total, until `stop`.
    fn producers(
        &self,
        rate: u64,
        pad: &str,
        stop: &watch::Receiver<bool>,
        counts: &Arc<Counts>,
    ) -> Vec<tokio::task::JoinHandle<Vec<u64>>> {
        let pad: Arc<str> = pad.into();
        (0..3)
            .map(|i| {
                let p = Paced {
                    idx: i,
                    streamer: self.target.streamer.clone(),
                    rate: rate as f64 / 3.0,
                    pad: pad.clone(),
                    clock: self.clock,
                    total: None,
                };
                let socket = self.stack.socket(produce::platform(i));
                let (stop, counts) = (stop.clone(), counts.clone());
                tokio::spawn(async move { p.run(&socket, stop, counts).await })
            })
            .collect()
    }

    async fn metrics(&mut self) -> String {
        if let Ok(m) = self.http.metrics().await {
            return m;
        }
        // The keep-alive connection may have died with a restarted gateway.
        match Http::connect(&self.stack.addr).await {
            Ok(h) => {
                self.http = h;
                self.http.metrics().await.unwrap_or_default()
            }
            Err(_) => String::new(),
        }
    }
}

/// Waits until `progress.received` reaches `want`, nothing arrived for `quiet`, or `limit`.
async fn drain(progress: &Progress, want: u64, quiet: Duration, limit: Duration) {
    let deadline = Instant::now() + limit;
    let (mut last, mut changed) = (u64::MAX, Instant::now());
    loop {
        let got = progress.received();
        if got >= want || Instant::now() > deadline {
            return;
        }
        if got != last {
            (last, changed) = (got, Instant::now());
        } else if changed.elapsed() > quiet {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Loss (acknowledged, never received) and duplicates of one tally.
fn losses(t: &Tally, acked: &[Vec<u64>]) -> (u64, u64) {
    let lost = acked
        .iter()
        .enumerate()
        .map(|(p, seqs)| seqs.iter().filter(|&&q| !t.got[p].contains(q)).count() as u64)
        .sum();
    (lost, t.duplicates())
}

/// A value for a `RESULT` line: no spaces.
fn word(s: &str) -> String {
    s.replace(' ', "_")
}

async fn idle(c: Common, n: usize) -> bool {
    let mut b = Bench::start(&c, n, "warn").await;
    let pid = b.stack.gateway_pid();
    let rss_before = rss_kib(pid);
    let (stop_tx, stop) = watch::channel(false);
    let t = Instant::now();
    let crowd = b.crowd(n, c.connect_concurrency, 1, &stop);
    let subs = crowd.spawn();
    let joined = crowd.progress.settled(n).await;
    let join_s = t.elapsed().as_secs_f64();
    println!(
        "{joined} of {n} {} subscribers joined in {join_s:.1} s",
        c.socket.name()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib(pid);
    let m = b.metrics().await;
    let gauge = |name| http::metric(&m, name).unwrap_or(f64::NAN);
    let per_conn = (rss_after.saturating_sub(rss_before)) as f64 / joined.max(1) as f64;
    println!(
        "gateway RSS: {rss_before} KiB before · {rss_after} KiB 2 s after all joined ({:.1} MiB) · {per_conn:.1} KiB per connection · its gauges: {} connections, {} subscribers",
        rss_after as f64 / 1024.0,
        gauge("crosschat_ws_connections"),
        gauge("crosschat_ws_subscribers"),
    );
    println!("driver RSS: {} KiB", rss_kib(std::process::id()));

    // One message to all of them.
    let stamp = b.clock.elapsed().as_nanos() as u64;
    let produced = produce::produce_one(
        &b.stack.socket("twitch"),
        &b.target.streamer,
        &format!("0:0:{stamp}"),
    )
    .await;
    if let Err(e) = &produced {
        println!("the message was refused: {e}");
    }
    drain(
        &crowd.progress,
        joined,
        Duration::from_secs(10),
        Duration::from_secs(60),
    )
    .await;
    let _ = stop_tx.send(true);
    let mut outcomes = Vec::with_capacity(n);
    for s in subs {
        outcomes.push(s.await.unwrap());
    }
    let failed: Vec<&OpenError> = outcomes.iter().filter_map(|o| o.failed.as_ref()).collect();
    let ok: Vec<&Outcome> = outcomes.iter().filter(|o| o.failed.is_none()).collect();
    let mut lat = Histogram::default();
    for o in &ok {
        lat.merge(&o.tally.latency);
    }
    let got = ok.iter().filter(|o| o.tally.distinct() > 0).count() as u64;
    let lost = joined - got;
    let dup: u64 = ok.iter().map(|o| o.tally.duplicates()).sum();
    let ended: Vec<&String> = ok.iter().filter_map(|o| o.ended.as_ref()).collect();
    // The time until all have it, when all have it.
    let all = if got == joined && got > 0 {
        format!("{:.3}", lat.ms(1.0) / 1000.0)
    } else {
        "never".to_string()
    };
    println!(
        "one message: {got} of {joined} received it · all had it after {} (p50 {:.1} ms, p99 {:.1} ms) · lost {lost} · duplicated {dup}",
        if all == "never" { all.clone() } else { format!("{all} s") },
        lat.ms(0.5),
        lat.ms(0.99),
    );
    if !failed.is_empty() {
        println!(
            "{} could not join: {}",
            failed.len(),
            error_summary(failed.iter().copied())
        );
    }
    if !ended.is_empty() {
        println!("{} sockets ended early, first: {}", ended.len(), ended[0]);
    }
    println!(
        "RESULT idle socket={} subscribers={n} joined={joined} failed={} join_s={join_s:.1} rss_before_kib={rss_before} rss_after_kib={rss_after} per_conn_kib={per_conn:.1} all_received_s={all} p50_ms={:.1} lost={lost} dup={dup} errors={}",
        c.socket,
        failed.len(),
        lat.ms(0.5),
        word(&error_summary(failed.iter().copied())),
    );
    lost == 0 && dup == 0 && produced.is_ok()
}

/// What the poller saw of the gateway while the slow scenario ran.
#[derive(Default, Clone)]
struct Watch {
    /// Seconds into the load when the room had fewer subscribers than at the start.
    left_room: Option<f64>,
    /// Seconds into the load when the gateway had fewer sockets than at the start.
    closed: Option<f64>,
    rss_peak: u64,
}

async fn slow(
    c: Common,
    normal: usize,
    rate: u64,
    duration: u64,
    text_bytes: usize,
    grace: u64,
) -> bool {
    // The close is logged at debug level by the connection (ws.rs, later realtime/).
    let mut b = Bench::start(
        &c,
        normal + 1,
        "warn,gateway::ws=debug,gateway::realtime=debug",
    )
    .await;
    let pid = b.stack.gateway_pid();
    let (stop_tx, stop) = watch::channel(false);
    let crowd = b.crowd(normal, c.connect_concurrency, 3, &stop);
    let subs = crowd.spawn();
    let joined = crowd.progress.settled(normal).await;
    let mut slow_tally = Tally::new(3);
    let mut slow_ws = ws::open_and_join(
        &b.target,
        None,
        None,
        Duration::from_secs(10),
        &mut slow_tally,
        b.clock,
    )
    .await
    .expect("the slow subscriber joins");
    println!("{joined} normal subscribers and 1 slow one joined");
    let rss_before = rss_kib(pid);
    let pad = produce::padding(text_bytes);

    // Watch the room and the sockets from the gateway's metrics while the load runs.
    let load_start = Instant::now();
    let (watch_tx, mut watch_stop) = watch::channel(false);
    let seen = Arc::new(std::sync::Mutex::new(Watch::default()));
    let poller = {
        let addr = b.stack.addr.clone();
        let start_subs = (joined + 1) as f64;
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut h = Http::connect(&addr).await.unwrap();
            while !*watch_stop.borrow_and_update() {
                let m = h.metrics().await.unwrap_or_default();
                let at = load_start.elapsed().as_secs_f64();
                let subs = http::metric(&m, "crosschat_ws_subscribers").unwrap_or(start_subs);
                let conns = http::metric(&m, "crosschat_ws_connections").unwrap_or(start_subs);
                {
                    let mut w = seen.lock().unwrap();
                    if subs < start_subs && w.left_room.is_none() {
                        w.left_room = Some(at);
                    }
                    if conns < start_subs && w.closed.is_none() {
                        w.closed = Some(at);
                    }
                    w.rss_peak = w.rss_peak.max(rss_kib(pid));
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = watch_stop.changed() => {}
                }
            }
        })
    };
    let counts = Arc::new(Counts::default());
    let producers = b.producers(
        rate,
        &pad,
        &produce::stop_after(Duration::from_secs(duration)),
        &counts,
    );
    let mut acked = Vec::new();
    for p in producers {
        acked.push(p.await.unwrap());
    }
    let total: u64 = acked.iter().map(|a| a.len() as u64).sum();
    drain(
        &crowd.progress,
        total * joined,
        Duration::from_secs(3),
        Duration::from_secs(30),
    )
    .await;
    // Give the gateway `grace` more seconds to cut the slow one (still not reading) before the
    // normal subscribers leave, which the poller would take for the slow one's departure.
    let grace_until = Instant::now() + Duration::from_secs(grace);
    while seen.lock().unwrap().closed.is_none() && Instant::now() < grace_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = watch_tx.send(true);
    poller.await.unwrap();
    let w = std::mem::take(&mut *seen.lock().unwrap());
    let _ = stop_tx.send(true);
    let mut lat = Histogram::default();
    let (mut lost, mut dup) = (0, 0);
    let mut ended = Vec::new();
    for s in subs {
        let o = s.await.unwrap();
        let (l, d) = losses(&o.tally, &acked);
        (lost, dup) = (lost + l, dup + d);
        lat.merge(&o.tally.latency);
        ended.extend(o.ended);
    }

    // Now read what the slow one was sent, to its end.
    // Up to 60 s, and 5 s after the last frame: a socket still in the room sends nothing more.
    let (mut frames, mut bytes) = (0u64, 0u64);
    let mut end = String::from("still open: nothing more for 5 s");
    let read_until = Instant::now() + Duration::from_secs(60);
    let mut close = None;
    loop {
        let left = read_until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left.min(Duration::from_secs(5)), slow_ws.next()).await {
            Err(_) => break,
            Ok(Some(Ok(Message::Text(f)))) => {
                bytes += f.len() as u64;
                if slow_tally.frame(&f, b.clock) != Kind::Other {
                    frames += 1;
                }
            }
            Ok(Some(Ok(Message::Close(cf)))) => {
                close = cf.map(|cf| (u16::from(cf.code), cf.reason.to_string()));
                end = match &close {
                    Some((code, reason)) => format!("close frame {code} \"{reason}\""),
                    None => "close frame without a code".into(),
                };
                break;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => {
                end = format!("no close frame: {e}");
                break;
            }
            Ok(None) => {
                end = "no close frame: the connection ended".into();
                break;
            }
        }
    }
    let refused = counts.refused.lock().unwrap().clone();
    println!(
        "traffic: {rate} msg/s for {duration} s · text {text_bytes} B · acknowledged {total} · refused {refused:?}"
    );
    let at = |t: Option<f64>| t.map_or("never".into(), |t| format!("{t:.1} s"));
    println!(
        "slow subscriber: left the room at {} · socket closed at {} (from the start of the traffic; watched until {grace} s after it) · then read {frames} frames ({:.1} MiB, {} B per frame) · {end}",
        at(w.left_room),
        at(w.closed),
        bytes as f64 / 1048576.0,
        bytes.checked_div(frames).unwrap_or(0),
    );
    println!(
        "{joined} normal subscribers: lost {lost} · duplicated {dup} · latency ms {}{}",
        lat.summary(),
        if ended.is_empty() {
            String::new()
        } else {
            format!(" · sockets ended: {ended:?}")
        }
    );
    println!(
        "gateway RSS: {rss_before} KiB before the load · {} KiB peak",
        w.rss_peak.max(rss_before)
    );
    let log = b
        .stack
        .log_lines(&["1013", "slow", "too far", "kick", "behind"]);
    println!("gateway log about it ({} lines):", log.len());
    for l in log.iter().take(10) {
        println!("  {l}");
    }
    let m = b.metrics().await;
    println!("gateway metrics:");
    // `kick` alone would match every `platform="kick"` line.
    for l in http::metric_lines(&m, &["slow", "kicked", "ws_"]) {
        println!("  {l}");
    }
    let kicked = http::metric(&m, "crosschat_ws_slow_closed_total").unwrap_or(f64::NAN);
    println!(
        "RESULT slow normal={joined} rate={rate} duration_s={duration} text_bytes={text_bytes} frame_bytes={} acked={total} left_room_s={} closed_s={} close_code={} close_reason={} slow_frames_read={frames} lost={lost} dup={dup} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} rss_before_kib={rss_before} rss_peak_kib={} slow_closed_metric={kicked} log_lines={}",
        bytes.checked_div(frames).unwrap_or(0),
        w.left_room.map_or("never".into(), |t| format!("{t:.1}")),
        w.closed.map_or("never".into(), |t| format!("{t:.1}")),
        close.as_ref().map_or("none".into(), |c| c.0.to_string()),
        word(&close.as_ref().map_or(end.clone(), |c| c.1.clone())),
        lat.ms(0.5),
        lat.ms(0.99),
        lat.ms(1.0),
        w.rss_peak.max(rss_before),
        log.len(),
    );
    lost == 0 && dup == 0
}

/// What one storm subscriber went through.
struct Resumed {
    tally: Tally,
    /// Failed attempts: when each began, and why it failed.
    errors: Vec<(Instant, OpenError)>,
    /// How each of its sockets ended.
    ends: Vec<String>,
    /// When it last joined.
    joined_at: Option<Instant>,
    /// Whether the very first join failed.
    never_joined: bool,
}

/// Subscriber `i`, reconnecting: after its socket ends it retries every 100–200 ms until it has
/// joined again, with `since` = the newest message id it has. Counts its rejoins in `rejoined`.
async fn resuming(i: usize, crowd: Arc<Crowd>, rejoined: Arc<AtomicU64>) -> Resumed {
    let mut stop = crowd.stop.clone();
    let mut r = Resumed {
        tally: Tally::new(crowd.producers),
        errors: Vec::new(),
        ends: Vec::new(),
        joined_at: None,
        never_joined: false,
    };
    // The first join goes through the gate like any bench's; the rejoins all at once.
    let mut ws = match crowd.join(i, &mut r.tally).await {
        Ok(ws) => ws,
        Err(e) => {
            r.errors.push((Instant::now(), e));
            r.never_joined = true;
            return r;
        }
    };
    let (t, source, clock) = (&crowd.target, ws::source_for(i, crowd.n), crowd.clock);
    r.joined_at = Some(Instant::now());
    let mut attempt = 0usize;
    loop {
        // Read until the socket ends or the run stops.
        let end = loop {
            let m = tokio::select! {
                m = ws.next() => m,
                _ = stop.changed() => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    return r;
                }
            };
            match m {
                Some(Ok(Message::Text(f))) => {
                    if r.tally.frame(&f, clock) == Kind::Chat {
                        crowd.progress.received_one(i);
                    }
                }
                Some(Ok(Message::Close(c))) => {
                    break c.map_or("close without a code".into(), |c| {
                        format!("close {}", u16::from(c.code))
                    })
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break format!("error: {e}"),
                None => break "ended without a close".into(),
            }
        };
        r.ends.push(end);
        // Reconnect until joined again.
        ws = loop {
            let since = r.tally.last_id.clone();
            let started = Instant::now();
            match ws::open_and_join(
                t,
                source,
                since.as_deref(),
                Duration::from_secs(10),
                &mut r.tally,
                clock,
            )
            .await
            {
                Ok(ws) => break ws,
                // Counted by when the attempt began: one begun while the gateway was down may
                // be seen failing only after it is back.
                Err(e) => r.errors.push((started, e)),
            }
            attempt += 1;
            // 100–200 ms, spread over subscribers and attempts.
            let ms = 100 + ((i * 7919 + attempt * 104_729) % 101) as u64;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
                _ = stop.changed() => return r,
            }
        };
        r.joined_at = Some(Instant::now());
        rejoined.fetch_add(1, Relaxed);
    }
}

async fn storm(c: Common, n: usize, rate: u64, before: u64, down: u64) -> bool {
    let mut b = Bench::start(&c, n, "warn").await;
    let (stop_tx, stop) = watch::channel(false);
    let crowd = b.crowd(n, c.connect_concurrency, 3, &stop);
    let rejoined = Arc::new(AtomicU64::new(0));
    let subs: Vec<_> = (0..n)
        .map(|i| tokio::spawn(resuming(i, crowd.clone(), rejoined.clone())))
        .collect();
    let joined = crowd.progress.settled(n).await;
    println!("{joined} of {n} subscribers joined; producing {rate} msg/s");

    let counts = Arc::new(Counts::default());
    let (prod_tx, prod_stop) = watch::channel(false);
    let producers = b.producers(rate, "", &prod_stop, &counts);
    tokio::time::sleep(Duration::from_secs(before)).await;
    let stopped_at = Instant::now();
    let stop_took = b.stack.stop_gateway().await;
    println!(
        "gateway stopped (SIGTERM) in {:.2} s; down for {down} s while the producers go on",
        stop_took.as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(down)).await;
    let _ = prod_tx.send(true);
    let mut acked = Vec::new();
    for p in producers {
        acked.push(p.await.unwrap());
    }
    let total: u64 = acked.iter().map(|a| a.len() as u64).sum();
    let spawned = Instant::now();
    tokio::task::block_in_place(|| b.stack.restart_gateway());
    while !http::healthy(&b.stack.addr).await {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let healthy = Instant::now();
    let to_health = healthy.duration_since(spawned).as_secs_f64();
    println!("gateway restarted: /healthz answers {to_health:.2} s after the start; {total} messages acknowledged in all");
    // Everyone rejoined and has every acknowledged message (or 120 s).
    let want = total * joined;
    let deadline = healthy + Duration::from_secs(120);
    while (crowd.progress.received() < want || rejoined.load(Relaxed) < joined)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let waited = healthy.elapsed().as_secs_f64();
    let m = b.metrics().await;
    let _ = stop_tx.send(true);
    let mut rs = Vec::with_capacity(n);
    for s in subs {
        rs.push(s.await.unwrap());
    }
    let since = |t: Instant| t.saturating_duration_since(healthy).as_secs_f64();
    let mut rejoined_s: f64 = 0.0;
    let mut complete_s: f64 = 0.0;
    let (mut lost, mut dup, mut with_loss, mut with_dup, mut error_frames) = (0, 0, 0, 0, 0);
    let (mut errors_down, mut errors_up) = (Vec::new(), Vec::new());
    let mut ends: std::collections::BTreeMap<String, u64> = Default::default();
    let mut not_rejoined = 0;
    for r in &rs {
        for (at, e) in &r.errors {
            if *at < healthy {
                errors_down.push(e)
            } else {
                errors_up.push(e)
            }
        }
        if r.never_joined {
            continue;
        }
        for e in &r.ends {
            *ends.entry(e.clone()).or_default() += 1;
        }
        let (l, d) = losses(&r.tally, &acked);
        lost += l;
        dup += d;
        with_loss += (l > 0) as u64;
        with_dup += (d > 0) as u64;
        error_frames += r.tally.errors;
        match r.joined_at {
            Some(t) if t > stopped_at => {
                rejoined_s = rejoined_s.max(since(t));
                if l == 0 {
                    complete_s = complete_s.max(since(t.max(r.tally.last_new.unwrap_or(t))));
                }
            }
            _ => not_rejoined += 1,
        }
    }
    println!(
        "storm: {joined} subscribers · all rejoined {rejoined_s:.2} s after /healthz answered · all had every message {complete_s:.2} s after (waited {waited:.1} s) · not rejoined {not_rejoined}"
    );
    println!(
        "lost {lost} (subscribers with loss {with_loss}) · duplicated {dup} (subscribers with duplicates {with_dup}) · error frames {error_frames}"
    );
    println!("how the sockets ended at the stop: {ends:?}");
    println!(
        "failed attempts while down ({}): {}",
        errors_down.len(),
        error_summary(errors_down.iter().copied())
    );
    println!(
        "failed attempts begun after /healthz answered ({}): {}",
        errors_up.len(),
        error_summary(errors_up.iter().copied())
    );
    for l in http::metric_lines(&m, &["ws_connections", "ws_subscribers", "slow"]) {
        println!("  {l}");
    }
    println!(
        "RESULT storm socket={} subscribers={n} joined={joined} acked={total} stop_s={:.2} restart_to_healthz_s={to_health:.2} rejoined_s={rejoined_s:.2} complete_s={complete_s:.2} not_rejoined={not_rejoined} errors_after={} errors_while_down={} lost={lost} dup={dup} error_frames={error_frames} error_kinds={}",
        c.socket,
        stop_took.as_secs_f64(),
        errors_up.len(),
        errors_down.len(),
        word(&error_summary(errors_up.iter().copied())),
    );
    // Errors are reported, not failed on: a refused SYN that a retry fixes is a figure.
    lost == 0 && dup == 0 && not_rejoined == 0
}

#[tokio::main]
async fn main() -> ExitCode {
    let ok = match Cli::parse().scenario {
        Scenario::Idle {
            subscribers,
            common,
        } => idle(common, subscribers).await,
        Scenario::Slow {
            normal,
            rate,
            duration,
            text_bytes,
            grace,
            common,
        } => slow(common, normal, rate, duration, text_bytes, grace).await,
        Scenario::Storm {
            subscribers,
            rate,
            before,
            down,
            common,
        } => storm(common, subscribers, rate, before, down).await,
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
