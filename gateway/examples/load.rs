//! Load driver for the whole stack: starts a gateway and three ingests (release binaries next to
//! this example), registers a streamer, opens S WebSocket subscribers on its room, and runs P
//! producers at a total rate R — through the ingests' producer sockets or through the gateway's
//! HTTP producer routes. Prints delivered frames/s, refusals, loss (acknowledged but never
//! received), duplicates, produce→receive latency p50/p95/p99/max, and the gateway's CPU and RSS:
//! one line per subscriber up to 10 subscribers, and always one line over all of them (latencies
//! of every subscriber merged), then a `RESULT load key=value …` line for scripts.
//!
//! ```text
//! cargo build --release -p gateway -p ingest --examples
//! target/release/examples/load --rate 1000 --duration 10
//! target/release/examples/load --rate 1000 --subscribers 1000     # 1,000,000 frames/s
//! target/release/examples/load --rate 100000 --duration 10 --producers 4
//! target/release/examples/load --via http --rate 5000 --producers 16
//! target/release/examples/load --via ring --rate 1000     # the test writes the ring itself: gateway only
//! ```
//!
//! This driver's subscriber does as little as possible per frame (no JSON parse: the text is found
//! by substring; received sequence numbers are bits, latencies a fixed-size histogram; 8 KiB
//! socket buffers), so it shows what the gateway sustains rather than what the client does.

#[path = "common/mod.rs"]
mod common;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::sync::watch;

use common::crowd::{self, Crowd, Outcome};
use common::http::{self, Http};
use common::produce::{self, Counts, Paced};
use common::stack::{self, Stack, StackOpts};
use common::stats::{rss_kib, CpuMeter, Histogram};
use common::ws::{SocketKind, Target};

/// Subscribers up to which each gets its own report line.
const LINES_UP_TO: usize = 10;

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
    /// Which socket the subscribers open.
    #[arg(long, value_enum, default_value = "dashboard")]
    socket: SocketKind,
    /// Subscribers connecting at once.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
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
    bin_dir: Option<std::path::PathBuf>,
}

/// A producer over HTTP: one keep-alive connection, requests back to back on its schedule.
async fn http_producer(
    addr: String,
    idx: usize,
    cookie: String,
    rate: f64,
    clock: Instant,
    stop: watch::Receiver<bool>,
    counts: Arc<Counts>,
) -> Vec<u64> {
    let mut h = Http::connect(&addr).await.unwrap();
    let path = format!("/api/producers/{}", produce::platform(idx));
    let start = Instant::now();
    let mut acked = Vec::new();
    let mut sent = 0u64;
    while !*stop.borrow() {
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        if sent >= due {
            tokio::time::sleep(Duration::from_micros(200)).await;
            continue;
        }
        let t = clock.elapsed().as_nanos() as u64;
        let body = format!(r#"{{"user":"load{idx}","text":"{idx}:{sent}:{t}"}}"#);
        let r = h.request("POST", &path, &cookie, &body).await.unwrap();
        if r.status == 202 {
            acked.push(sent);
            counts.acked.fetch_add(1, Relaxed);
        } else {
            *counts
                .refused
                .lock()
                .unwrap()
                .entry(format!("{} {}", r.status, r.body))
                .or_default() += 1;
        }
        sent += 1;
    }
    counts.sent.fetch_add(sent, Relaxed);
    acked
}

/// A producer that enqueues into the segment itself (the gateway alone is measured).
fn ring_producer(
    shm: String,
    idx: usize,
    streamer: String,
    rate: f64,
    clock: Instant,
    until: Instant,
    counts: Arc<Counts>,
) -> Vec<u64> {
    let seg = shm_layout::Segment::open_existing(&shm).unwrap();
    let start = Instant::now();
    let mut sent = 0u64;
    let mut acked = Vec::new();
    while Instant::now() < until {
        std::thread::sleep(Duration::from_micros(500));
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        while sent < due {
            let t = clock.elapsed().as_nanos() as u64;
            let m = shm_layout::ChatMessage::simple(
                uuid::Uuid::new_v4(),
                streamer.parse().unwrap(),
                shm_layout::Platform::Kick,
                "r",
                format!("{idx}:{sent}:{t}"),
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
}

/// Lost and duplicated messages of one subscriber, against what the producers had acknowledged.
fn losses(o: &Outcome, acked: &[Vec<u64>]) -> (u64, u64) {
    let mut lost = 0;
    for (p, seqs) in acked.iter().enumerate() {
        lost += seqs
            .iter()
            .filter(|&&q| !o.tally.got[p].contains(q))
            .count() as u64;
    }
    (lost, o.tally.duplicates())
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let (_, hard) = stack::raise_nofile();
    if args.subscribers as u64 + 64 > hard {
        eprintln!(
            "note: {} subscribers need as many open files here and in the gateway; the hard limit is {hard}",
            args.subscribers
        );
    }
    let mut opts = StackOpts {
        bin_dir: args.bin_dir.clone(),
        fsync: args.fsync.clone(),
        pump_interval_ms: args.pump_interval_ms,
        ..StackOpts::default()
    };
    if args.subscribers + 100 > 10_000 && !opts.allow_ws_connections(args.subscribers) {
        eprintln!(
            "note: this gateway has no --ws-max-connections: it holds at most 10,000 sockets"
        );
    }
    let stack = Stack::start(opts).await;
    let mut h = Http::connect(&stack.addr).await.unwrap();
    let me = http::streamer(&mut h, "loadtest").await;
    let key = match args.socket {
        SocketKind::Overlay => Some(http::overlay_key(&mut h, &me.cookie).await),
        SocketKind::Dashboard => None,
    };
    let target = Target {
        addr: stack.addr.clone(),
        kind: args.socket,
        cookie: me.cookie.clone(),
        streamer: me.id.clone(),
        key,
    };

    let clock = Instant::now();
    let (stop_subs, subs_stop) = watch::channel(false);
    let crowd = Crowd::new(
        target,
        args.subscribers,
        args.connect_concurrency,
        args.producers,
        clock,
        subs_stop,
    );
    let subs = crowd.spawn();
    let connecting = Instant::now();
    let joined = crowd.progress.settled(args.subscribers).await;
    eprintln!(
        "{joined} of {} subscribers joined in {:.1} s",
        args.subscribers,
        connecting.elapsed().as_secs_f64()
    );

    let rss_before = rss_kib(stack.gateway_pid());
    let gateway_cpu = CpuMeter::start(stack.gateway_pid());
    let driver_cpu = CpuMeter::start(std::process::id());
    let load_start = Instant::now();
    let duration = Duration::from_secs(args.duration);
    let until = load_start + duration;
    let counts = Arc::new(Counts::default());
    let per = args.rate as f64 / args.producers as f64;
    let producers: Vec<_> = (0..args.producers)
        .map(|i| {
            let counts = counts.clone();
            match args.via.as_str() {
                "ring" => {
                    let (shm, streamer) = (stack.shm.clone(), me.id.clone());
                    tokio::task::spawn_blocking(move || {
                        ring_producer(shm, i, streamer, per, clock, until, counts)
                    })
                }
                "http" => tokio::spawn(http_producer(
                    stack.addr.clone(),
                    i,
                    me.cookie.clone(),
                    per,
                    clock,
                    produce::stop_after(duration),
                    counts,
                )),
                _ => {
                    let socket = stack.socket(produce::platform(i));
                    let p = Paced {
                        idx: i,
                        streamer: me.id.clone(),
                        rate: per,
                        pad: "".into(),
                        clock,
                        total: Some((per * duration.as_secs_f64()).round() as u64),
                    };
                    // The count ends it; the time is a safety net for a stalled ingest.
                    let stop = produce::stop_after(duration * 3 + Duration::from_secs(10));
                    tokio::spawn(async move { p.run(&socket, stop, counts).await })
                }
            }
        })
        .collect();
    let (stop_sampler, mut sampler_stop) = watch::channel(false);
    let sampler = {
        let pid = stack.gateway_pid();
        tokio::spawn(async move {
            let mut peak = 0;
            while !*sampler_stop.borrow_and_update() {
                peak = peak.max(rss_kib(pid));
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = sampler_stop.changed() => {}
                }
            }
            peak
        })
    };
    let mut acked: Vec<Vec<u64>> = Vec::new();
    for p in producers {
        acked.push(p.await.unwrap());
    }
    let produced_for = load_start.elapsed();
    let total_acked: u64 = acked.iter().map(|a| a.len() as u64).sum();
    // Let the subscribers drain: stop when every joined subscriber has every acknowledged
    // message, when nothing arrived for 3 s, or after 60 s.
    let want = total_acked * joined;
    let drain_deadline = Instant::now() + Duration::from_secs(60);
    let (mut last, mut last_change) = (u64::MAX, Instant::now());
    loop {
        let got = crowd.progress.received();
        if got >= want || Instant::now() > drain_deadline {
            break;
        }
        if got != last {
            (last, last_change) = (got, Instant::now());
        } else if last_change.elapsed() > Duration::from_secs(3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let gateway_cpu = gateway_cpu.percent();
    let driver_cpu = driver_cpu.percent();
    let _ = stop_subs.send(true);
    let _ = stop_sampler.send(true);
    let rss_peak = sampler.await.unwrap().max(rss_before);
    let rss_after = rss_kib(stack.gateway_pid());

    let secs = produced_for.as_secs_f64();
    println!(
        "rate {} msg/s via {} · {} producers · {} {} subscribers · fsync {} · pump {} ms · {:.1} s",
        args.rate,
        args.via,
        args.producers,
        args.subscribers,
        args.socket,
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
    let mut outcomes = Vec::with_capacity(subs.len());
    for s in subs {
        outcomes.push(s.await.unwrap());
    }
    let failed: Vec<_> = outcomes.iter().filter_map(|o| o.failed.as_ref()).collect();
    if !failed.is_empty() {
        println!(
            "{} subscribers could not join: {}",
            failed.len(),
            crowd::error_summary(failed.iter().copied())
        );
    }
    let mut all = Histogram::default();
    let (mut lost, mut dup, mut received) = (0u64, 0u64, 0u64);
    let mut min_received = u64::MAX;
    let mut last_new = load_start;
    let mut ended = 0usize;
    for (i, o) in outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| o.failed.is_none())
    {
        let (l, d) = losses(o, &acked);
        let r = o.tally.distinct();
        (lost, dup, received) = (lost + l, dup + d, received + r);
        min_received = min_received.min(r);
        all.merge(&o.tally.latency);
        last_new = last_new.max(o.tally.last_new.unwrap_or(load_start));
        if let Some(e) = &o.ended {
            ended += 1;
            if ended <= 5 {
                println!("subscriber {i}: {e}");
            }
        }
        if args.subscribers <= LINES_UP_TO {
            let span = o.tally.last_new.map_or(secs, |t| {
                t.duration_since(load_start).as_secs_f64().max(secs)
            });
            println!(
                "subscriber {i}: received {r} ({:.0} msg/s) · lost {l} · duplicated {d} · latency ms {}",
                r as f64 / span,
                o.tally.latency.summary()
            );
        }
    }
    if ended > 5 {
        println!("… {ended} subscribers' sockets ended before the run did");
    }
    if min_received == u64::MAX {
        min_received = 0;
    }
    let span = last_new.duration_since(load_start).as_secs_f64().max(secs);
    let fps = received as f64 / span;
    println!(
        "all {joined} subscribers: delivered {fps:.0} frames/s · min received {min_received} of {total_acked} · lost {lost} · duplicated {dup} · latency ms {} · gateway CPU {gateway_cpu:.0} % · driver CPU {driver_cpu:.0} %",
        all.summary()
    );
    println!(
        "gateway RSS: {} KiB before · {} KiB peak · {} KiB after",
        rss_before, rss_peak, rss_after
    );
    let m = h.metrics().await.unwrap_or_default();
    for l in http::metric_lines(
        &m,
        &[
            "pump_batches",
            "pump_persisted",
            "rejected",
            "max_depth",
            "slow_closed",
            "kicked",
        ],
    ) {
        println!("  {l}");
    }
    println!(
        "RESULT load subscribers={} joined={joined} rate={} via={} duration_s={secs:.1} acked={total_acked} delivered_fps={fps:.0} min_received={min_received} lost={lost} dup={dup} p50_ms={:.2} p95_ms={:.2} p99_ms={:.2} max_ms={:.2} gateway_cpu_pct={gateway_cpu:.0} driver_cpu_pct={driver_cpu:.0} rss_before_kib={rss_before} rss_peak_kib={rss_peak} failed_joins={} ended_early={ended}",
        args.subscribers,
        args.rate,
        args.via,
        all.ms(0.50),
        all.ms(0.95),
        all.ms(0.99),
        all.ms(1.0),
        failed.len(),
    );
    drop(stack);
    if lost > 0 || dup > 0 || !failed.is_empty() {
        std::process::exit(1);
    }
}
