//! Soak driver for the whole stack (`scripts/soak --minutes N`): a gateway and three ingests
//! (release binaries next to this example) run for N minutes while
//!
//! * three producers, one per ingest socket, alternate bursts at the ring's limit with light
//!   traffic, with moderation events (`delete`, `clear_user`) mixed in ([`producer`]);
//! * the gateway is restarted every `--restart-every-s` (SIGTERM; every `--kill-every`-th time
//!   SIGKILL), on the same address and data directory, while the ingests keep running;
//! * a few dashboard subscribers resume with `since` after every close; one of them is slow (it
//!   stops reading for a while in each burst, so the gateway cuts it off with 1013)
//!   ([`subscriber`]);
//! * the RSS of every process is sampled every `--rss-every-s` and each process's pid watched.
//!
//! At the end it checks ([`verify`]) that every acknowledged message is in the room (at every
//! subscriber) and in the log exactly once, in per-producer order, and every acknowledged
//! moderation event too; that no process died or restarted except the deliberate gateway
//! restarts; and that each process's RSS stayed flat after the first minute ([`procs::judge`]).
//! It prints the figures and the RSS series, then `RESULT soak ok=true|false …`, and exits 1 on
//! any failure.

#[path = "../common/mod.rs"]
mod common;
mod procs;
mod producer;
mod subscriber;
mod verify;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::sync::watch;

use common::http::{self, Http};
use common::stack::{Stack, StackOpts, PLATFORMS};
use common::ws::{SocketKind, Target};
use procs::RssSeries;
use producer::{Acked, Plan};

#[derive(Parser, Debug, Clone)]
#[command(
    about = "CrossChat soak: the whole stack under bursts, restarts and resuming subscribers"
)]
struct Args {
    /// Minutes of traffic.
    #[arg(long, default_value_t = 30.0)]
    minutes: f64,
    /// Seconds between deliberate gateway restarts (0: none).
    #[arg(long, default_value_t = 120)]
    restart_every_s: u64,
    /// Every this many-th restart is a SIGKILL instead of a SIGTERM (0: never).
    #[arg(long, default_value_t = 2)]
    kill_every: u64,
    /// Seconds the gateway stays down at a restart.
    #[arg(long, default_value_t = 2)]
    down_s: u64,
    /// Dashboard subscribers (each resumes with `since`).
    #[arg(long, default_value_t = 3)]
    subscribers: usize,
    /// How many of them are slow (stop reading in each burst).
    #[arg(long, default_value_t = 1)]
    slow_subscribers: usize,
    /// Seconds a slow subscriber stops reading, once per burst.
    #[arg(long, default_value_t = 15)]
    slow_pause_s: u64,
    /// Seconds of each burst. Short: at the ring's limit the stack moves ~100,000+ messages a
    /// second, ~30 MB of log each second.
    #[arg(long, default_value_t = 2)]
    burst_s: u64,
    /// Seconds of light traffic between bursts.
    #[arg(long, default_value_t = 58)]
    light_s: u64,
    /// Messages per second per producer in light traffic.
    #[arg(long, default_value_t = 20.0)]
    light_rate: f64,
    /// Unanswered requests a producer keeps in flight in a burst (the ring has 256 slots).
    #[arg(long, default_value_t = 1024)]
    burst_window: usize,
    /// A `delete` of an earlier message after every this many messages per producer (0: none).
    #[arg(long, default_value_t = 50)]
    delete_every: u64,
    /// A `clear_user` after every this many messages per producer (0: none).
    #[arg(long, default_value_t = 500)]
    clear_user_every: u64,
    /// Seconds between RSS samples.
    #[arg(long, default_value_t = 10)]
    rss_every_s: u64,
    /// Seconds after the start (and after a gateway restart) whose RSS samples are not judged.
    #[arg(long, default_value_t = 60)]
    rss_warmup_s: u64,
    /// Allowed RSS growth over the reference minute, percent.
    #[arg(long, default_value_t = 25.0)]
    rss_tolerance_pct: f64,
    /// Allowed RSS growth on top of the percentage, MiB.
    #[arg(long, default_value_t = 8)]
    rss_slack_mib: u64,
    /// Fail on a moderation frame a subscriber receives more than once (also after a resume).
    #[arg(long)]
    strict_events: bool,
    /// Seconds to wait after the producers stop for every subscriber to have everything.
    #[arg(long, default_value_t = 120)]
    drain_s: u64,
    /// Directory holding the `gateway` and `ingest` binaries (default: next to this example).
    #[arg(long)]
    bin_dir: Option<std::path::PathBuf>,
}

/// One deliberate gateway restart.
struct Restart {
    at_s: f64,
    signal: &'static str,
    old_pid: u32,
    new_pid: u32,
    stop_took: Duration,
    /// The slow-cut counter of the stopped gateway, from its `/metrics` just before.
    slow_closed: Option<f64>,
}

/// Failures found while the run goes on.
#[derive(Default)]
struct Watch {
    failures: Vec<String>,
}

impl Watch {
    fn fail(&mut self, s: String) {
        eprintln!("soak: FAILURE: {s}");
        self.failures.push(s);
    }
}

/// Checks that the ingests are the ones started and the gateway is the one last started.
fn check_pids(w: &mut Watch, at_s: f64, ingests: &[u32], gateway: u32) {
    let now = procs::children_named("ingest");
    if now != ingests {
        w.fail(format!(
            "at {at_s:.0} s the ingests are {now:?}, not the {ingests:?} started (one died or restarted by itself)"
        ));
    }
    if !procs::alive(gateway) {
        w.fail(format!(
            "at {at_s:.0} s the gateway (pid {gateway}) is not running, and nothing stopped it"
        ));
    }
}

/// The slow-subscriber cut counter of the running gateway.
async fn slow_closed(addr: &str) -> Option<f64> {
    let mut h = Http::connect(addr).await.ok()?;
    let text = tokio::time::timeout(Duration::from_secs(2), h.metrics())
        .await
        .ok()?
        .ok()?;
    Some(
        http::metric_lines(&text, &["crosschat_ws_slow_closed_total"])
            .iter()
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum(),
    )
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let ok = run(args).await;
    std::process::exit(if ok { 0 } else { 1 });
}

async fn run(args: Args) -> bool {
    let mut w = Watch::default();
    let opts = StackOpts {
        bin_dir: args.bin_dir.clone(),
        // The cut of a slow subscriber is logged at info by the socket module.
        rust_log: "warn,gateway::realtime::socket=info".into(),
        ..StackOpts::default()
    };
    let mut stack = Stack::start(opts).await;
    let mut http = Http::connect(&stack.addr).await.expect("the gateway");
    let streamer = http::streamer(&mut http, "soak").await;
    let ingests = procs::children_named("ingest");
    assert_eq!(ingests.len(), 3, "three ingests running: {ingests:?}");
    let mut gateway_pid = stack.gateway_pid();
    println!(
        "soak: stack up at {} (gateway pid {gateway_pid}, ingest pids {ingests:?}, data {})",
        stack.addr,
        stack.data_dir().display()
    );

    // Subscribers first, so that the first join (without `since`) misses nothing.
    let clock = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = watch::channel(false);
    let joined = Arc::new(AtomicU64::new(0));
    let anchored = Arc::new(AtomicU64::new(0));
    let progress: Vec<Arc<AtomicU64>> = (0..args.subscribers).map(|_| Arc::default()).collect();
    let start = Instant::now();
    let plan = Plan {
        start,
        burst: Duration::from_secs(args.burst_s),
        light: Duration::from_secs(args.light_s),
        light_rate: args.light_rate,
        window: args.burst_window,
        delete_every: args.delete_every,
        clear_user_every: args.clear_user_every,
    };
    let target = Target {
        addr: stack.addr.clone(),
        kind: SocketKind::Dashboard,
        cookie: streamer.cookie.clone(),
        streamer: streamer.id.clone(),
        key: None,
    };
    let subs: Vec<_> = (0..args.subscribers)
        .map(|i| {
            let o = subscriber::Opts {
                idx: i,
                pause: (i < args.slow_subscribers).then(|| Duration::from_secs(args.slow_pause_s)),
                plan: plan.clone(),
                target: target.clone(),
                clock,
                start,
                progress: progress[i].clone(),
                anchored: anchored.clone(),
                producing_done: done_rx.clone(),
                stop: stop_rx.clone(),
                joined: joined.clone(),
            };
            tokio::spawn(subscriber::run(o, PLATFORMS.len()))
        })
        .collect();
    wait_for(
        &joined,
        args.subscribers as u64,
        Duration::from_secs(30),
        "joined",
    )
    .await;
    // One message every subscriber has before the traffic: its `since` from the first close on.
    let anchor =
        common::produce::produce_one(&stack.socket("twitch"), &streamer.id, "anchor").await;
    assert!(anchor.is_ok(), "the anchor message: {anchor:?}");
    wait_for(
        &anchored,
        args.subscribers as u64,
        Duration::from_secs(30),
        "anchored",
    )
    .await;

    // Producers, one per ingest.
    let live = Arc::new(producer::Live::default());
    let (prod_tx, prod_rx) = watch::channel(false);
    let prods: Vec<_> = PLATFORMS
        .iter()
        .enumerate()
        .map(|(p, slug)| {
            let platform = shm_layout::Platform::from_slug(slug).expect("a platform");
            tokio::spawn(producer::run(
                p,
                platform,
                stack.socket(slug),
                streamer.id.clone(),
                plan.clone(),
                clock,
                prod_rx.clone(),
                live.clone(),
            ))
        })
        .collect();

    let names = [
        "gateway",
        "ingest-twitch",
        "ingest-youtube",
        "ingest-kick",
        "driver",
    ];
    let mut rss = RssSeries::new(&names);
    let mut gateway_starts: Vec<f64> = Vec::new();
    let mut restarts: Vec<Restart> = Vec::new();
    let total = Duration::from_secs_f64(args.minutes * 60.0);
    let mut next_rss = Duration::ZERO;
    let mut next_restart = Duration::from_secs(args.restart_every_s);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // Acknowledgements and seconds in bursts and in light traffic; each interval between two
    // ticks (longer across a restart) counts by its middle.
    let (mut last_acked, mut last_tick) = (0u64, Instant::now());
    let (mut burst, mut light) = ((0u64, 0f64), (0u64, 0f64));
    let driver = std::process::id();
    while start.elapsed() < total {
        tick.tick().await;
        let t = start.elapsed();
        let acked = live.acked.load(Relaxed);
        let delta = acked - last_acked;
        last_acked = acked;
        let now = Instant::now();
        let dt = now - last_tick;
        if plan.bursting(last_tick + dt / 2) {
            burst = (burst.0 + delta, burst.1 + dt.as_secs_f64());
        } else {
            light = (light.0 + delta, light.1 + dt.as_secs_f64());
        }
        last_tick = now;
        if t >= next_rss {
            next_rss += Duration::from_secs(args.rss_every_s);
            let pids = [gateway_pid, ingests[0], ingests[1], ingests[2], driver];
            rss.sample(t.as_secs_f64(), &pids);
            check_pids(&mut w, t.as_secs_f64(), &ingests, gateway_pid);
            let got: Vec<u64> = progress.iter().map(|p| p.load(Relaxed)).collect();
            println!(
                "soak: {:>5.0} s {} acked {acked} refused {} subscribers {got:?} gateway {} MiB",
                t.as_secs_f64(),
                if plan.bursting(Instant::now()) {
                    "burst"
                } else {
                    "light"
                },
                live.refused.load(Relaxed),
                rss.rows.last().map_or(0, |r| r.1[0]) / 1024,
            );
        }
        if args.restart_every_s > 0 && t >= next_restart {
            next_restart += Duration::from_secs(args.restart_every_s);
            let n = restarts.len() as u64 + 1;
            let kill = args.kill_every > 0 && n.is_multiple_of(args.kill_every);
            check_pids(&mut w, t.as_secs_f64(), &ingests, gateway_pid);
            let slow = slow_closed(&stack.addr).await;
            let old = gateway_pid;
            if kill {
                if let Some(pid) = rustix::process::Pid::from_raw(old as i32) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
            // Reaps a killed gateway; stops (SIGTERM) and waits for a running one.
            let stop_took = stack.stop_gateway().await;
            tokio::time::sleep(Duration::from_secs(args.down_s)).await;
            stack.restart_gateway();
            gateway_pid = stack.gateway_pid();
            gateway_starts.push(start.elapsed().as_secs_f64());
            let signal = if kill { "SIGKILL" } else { "SIGTERM" };
            println!(
                "soak: {:>5.0} s gateway restart #{n} ({signal}): pid {old} → {gateway_pid}, stop took {stop_took:?}",
                t.as_secs_f64()
            );
            restarts.push(Restart {
                at_s: t.as_secs_f64(),
                signal,
                old_pid: old,
                new_pid: gateway_pid,
                stop_took,
                slow_closed: slow,
            });
        }
    }

    // Stop producing; every reply comes back; then every subscriber should catch up.
    let traffic_s = start.elapsed().as_secs_f64();
    prod_tx.send_replace(true);
    let mut acked: Vec<Acked> = Vec::new();
    for p in prods {
        acked.push(p.await.expect("a producer"));
    }
    done_tx.send_replace(true);
    let total_acked: u64 = acked.iter().map(|a| a.messages.len() as u64).sum();
    let drain_from = Instant::now();
    while drain_from.elapsed() < Duration::from_secs(args.drain_s)
        && progress.iter().any(|p| p.load(Relaxed) < total_acked)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drained_in = drain_from.elapsed();
    // The log is complete once the pump has persisted what the subscribers got; one more sample.
    let final_slow = slow_closed(&stack.addr).await;
    let t = start.elapsed().as_secs_f64();
    rss.sample(
        t,
        &[gateway_pid, ingests[0], ingests[1], ingests[2], driver],
    );
    check_pids(&mut w, t, &ingests, gateway_pid);
    stop_tx.send_replace(true);
    let mut records = Vec::new();
    for s in subs {
        records.push(s.await.expect("a subscriber"));
    }

    // ---- checks -------------------------------------------------------------------------------
    let sets = verify::acked_sets(&acked);
    let events = verify::event_keys(&acked);
    let log_path = stack
        .data_dir()
        .join(format!("chat-history-{}.ndjson", streamer.id));
    let log = verify::log(&log_path, &acked, &sets).expect("reading the chat log");

    println!("\n## Soak: {:.1} minutes of traffic", traffic_s / 60.0);
    println!(
        "plan: bursts {} s (window {} per producer) / light {} s at {} msg/s per producer; delete every {}, clear_user every {} messages; gateway restart every {} s (every {}th SIGKILL), down {} s; {} subscribers ({} slow, pausing {} s per burst)",
        args.burst_s, args.burst_window, args.light_s, args.light_rate, args.delete_every,
        args.clear_user_every, args.restart_every_s, args.kill_every, args.down_s,
        args.subscribers, args.slow_subscribers, args.slow_pause_s
    );
    println!("\n### Producers");
    println!("| producer | sent | acked | refused | deletes acked | clear_user acked | events sent | wrong ids |");
    println!("|---|---|---|---|---|---|---|---|");
    for (p, a) in acked.iter().enumerate() {
        println!(
            "| {p} ({}) | {} | {} | {:?} | {} | {} | {} | {} |",
            PLATFORMS[p],
            a.sent,
            a.messages.len(),
            a.refused,
            a.deletes.len(),
            a.clears.len(),
            a.events_sent,
            a.wrong_ids
        );
        if a.wrong_ids > 0 {
            w.fail(format!(
                "producer {p}: {} acknowledged ids are not the derived ones",
                a.wrong_ids
            ));
        }
    }
    println!(
        "acked {total_acked} messages: {:.0} msg/s in bursts ({:.0} s), {:.0} msg/s in light traffic ({:.0} s)",
        burst.0 as f64 / burst.1.max(1.0),
        burst.1,
        light.0 as f64 / light.1.max(1.0),
        light.1
    );

    println!("\n### Gateway restarts");
    println!("| # | at (s) | signal | pid | stop took | slow cuts counted by that gateway |");
    println!("|---|---|---|---|---|---|");
    for (i, r) in restarts.iter().enumerate() {
        println!(
            "| {} | {:.0} | {} | {} → {} | {:.2} s | {} |",
            i + 1,
            r.at_s,
            r.signal,
            r.old_pid,
            r.new_pid,
            r.stop_took.as_secs_f64(),
            r.slow_closed.map_or("?".into(), |v| v.to_string())
        );
    }
    let mut pids = vec![restarts.first().map_or(gateway_pid, |r| r.old_pid)];
    pids.extend(restarts.iter().map(|r| r.new_pid));
    println!(
        "pids: ingests {ingests:?} throughout (checked every {} s and at each restart); gateway {} (each change a deliberate restart)",
        args.rss_every_s,
        pids.iter().map(u32::to_string).collect::<Vec<_>>().join(" → ")
    );
    println!(
        "last gateway's slow cuts: {}",
        final_slow.map_or("?".into(), |v| v.to_string())
    );

    println!("\n### Room (every subscriber) and log");
    println!("| where | distinct | missing | duplicates | out of order | not acked | events missing | event repeats | closes (code ×n) | resumes |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in &records {
        let h = verify::room(r, &acked, &events);
        let mut codes: std::collections::BTreeMap<String, u64> = Default::default();
        for c in &r.closes {
            *codes
                .entry(c.code.map_or("none".into(), |c| c.to_string()))
                .or_default() += 1;
        }
        println!(
            "| subscriber {}{} | {} | {} | {} | {} | {} | {} | {} | {:?} | {} |",
            r.idx,
            if r.slow { " (slow)" } else { "" },
            r.distinct(),
            h.missing,
            h.duplicates,
            h.out_of_order,
            h.unacked,
            h.events_missing,
            h.events_duplicated,
            codes,
            r.resumes
        );
        let strict = if args.strict_events {
            r.events_again_after_resume + r.events_twice_resumed
        } else {
            0
        };
        if !h.messages_ok() || h.events_missing > 0 || r.events_twice_live > 0 || strict > 0 {
            w.fail(format!(
                "subscriber {}: {} missing, {} duplicates, {} out of order, {} not acked, {} events missing, {} events twice on its first connection, {} repeated after resumes (failing with --strict-events)",
                r.idx, h.missing, h.duplicates, h.out_of_order, h.unacked, h.events_missing, r.events_twice_live, strict
            ));
        }
    }
    let lh = &log.holding;
    println!(
        "| log ({} lines, {} messages, {} tombstones, {:.1} MiB) | {} | {} | {} | {} | {} | {} | {} | — | — |",
        log.lines,
        log.messages,
        log.events,
        log.bytes as f64 / (1 << 20) as f64,
        sets.iter().map(|s| s.distinct).sum::<u64>() - lh.missing,
        lh.missing,
        lh.duplicates,
        lh.out_of_order,
        lh.unacked,
        lh.events_missing,
        lh.events_duplicated
    );
    if !lh.messages_ok() || lh.events_missing > 0 || lh.events_duplicated > 0 {
        w.fail(format!(
            "log: {} missing, {} duplicates, {} out of order, {} not acked, {} events missing, {} events twice",
            lh.missing, lh.duplicates, lh.out_of_order, lh.unacked, lh.events_missing, lh.events_duplicated
        ));
    }
    println!(
        "event repeats (moderation frames only; messages are never repeated): again on the next connection, from the replay after `since` (a chat message's id, so tombstones received after it come again) {}; twice on one resumed connection, in the replay and live (the resume drops only live chat messages the replay sent) {}; twice on a first connection {} — clients apply them idempotently; --strict-events fails the run on any",
        records.iter().map(|r| r.events_again_after_resume).sum::<u64>(),
        records.iter().map(|r| r.events_twice_resumed).sum::<u64>(),
        records.iter().map(|r| r.events_twice_live).sum::<u64>()
    );
    println!(
        "drained in {:.1} s after the producers stopped",
        drained_in.as_secs_f64()
    );

    println!("\n### Closes and resumes");
    for r in &records {
        for c in &r.closes {
            let missed = total_acked.saturating_sub(c.had);
            println!(
                "subscriber {} at {:.0} s: {} \"{}\" after {} messages; without a resume it would have missed {missed} acknowledged messages",
                r.idx,
                c.at_s,
                c.code.map_or("no close frame".into(), |c| c.to_string()),
                c.reason,
                c.had
            );
        }
        if !r.failed_joins.is_empty() {
            println!(
                "subscriber {}: failed attempts to rejoin {:?}",
                r.idx, r.failed_joins
            );
        }
        if r.pauses > 0 {
            println!("subscriber {} paused reading {} times", r.idx, r.pauses);
        }
    }
    let cuts = stack.log_lines(&["cut off a WebSocket subscriber"]);
    println!("gateway log: {} slow-subscriber cuts", cuts.len());
    for l in cuts.iter().take(5) {
        println!("  {l}");
    }
    let bad = stack.log_lines(&["panicked", " ERROR "]);
    if !bad.is_empty() {
        println!("gateway log: {} error lines, e.g. {}", bad.len(), bad[0]);
    }

    println!("\n### RSS (MiB) every {} s", args.rss_every_s);
    print!("{}", rss.table());
    let restarts_s = vec![gateway_starts.clone(), vec![], vec![], vec![], vec![]];
    let verdicts = procs::judge(
        &rss,
        &restarts_s,
        args.rss_warmup_s as f64,
        60.0,
        args.rss_tolerance_pct / 100.0,
        args.rss_slack_mib * 1024,
    );
    println!(
        "flat = every sample from the second minute on (skipping {} s after each gateway start) ≤ the largest of the first judged minute × {:.2} + {} MiB",
        args.rss_warmup_s,
        1.0 + args.rss_tolerance_pct / 100.0,
        args.rss_slack_mib
    );
    for v in &verdicts {
        let judged = v.name != "driver";
        println!(
            "rss {}: reference {:.1} MiB, later max {:.1} MiB, limit {:.1} MiB, {} samples judged: {}",
            v.name,
            v.baseline as f64 / 1024.0,
            v.later as f64 / 1024.0,
            v.limit as f64 / 1024.0,
            v.samples,
            match (judged, v.later == 0, v.ok()) {
                (false, _, _) => "not judged (the driver keeps what it received)",
                (true, true, _) => "too few samples to judge",
                (true, false, true) => "flat",
                (true, false, false) => "GREW",
            }
        );
        if judged && v.later > 0 && !v.ok() {
            w.fail(format!(
                "{} RSS grew from {:.1} to {:.1} MiB (limit {:.1})",
                v.name,
                v.baseline as f64 / 1024.0,
                v.later as f64 / 1024.0,
                v.limit as f64 / 1024.0
            ));
        }
    }

    let ok = w.failures.is_empty();
    println!(
        "\nRESULT soak ok={ok} minutes={:.1} acked={total_acked} log_lines={} restarts={} subscribers={} failures={}",
        traffic_s / 60.0,
        log.lines,
        restarts.len(),
        records.len(),
        w.failures.len()
    );
    for f in &w.failures {
        println!("FAILED: {f}");
    }
    drop(stack);
    ok
}

/// Waits until `counter` reaches `n` (panics after `limit`, naming `what`).
async fn wait_for(counter: &AtomicU64, n: u64, limit: Duration, what: &str) {
    let t = Instant::now();
    while counter.load(Relaxed) < n {
        assert!(
            t.elapsed() < limit,
            "only {} of {n} subscribers {what} within {limit:?}",
            counter.load(Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
