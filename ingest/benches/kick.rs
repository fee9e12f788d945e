//! Kick: one Centrifugo frame → a normalised, sanitised message ready for the ring (parse the
//! reply line, parse the event's `data` string, render inline emotes, badges, v5 id, then the
//! sink's sanitising and the slot JSON). Target ≥ 200,000 ChatMessageEvents/s on one core.
//!
//! `cargo bench -p ingest --bench kick` (prints the figure after criterion's report).

use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use ingest::connectors::kick::centrifugo::decode_frame;
use ingest::connectors::sink::sanitise;
use shm_layout::SlotEvent;

fn frame(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/kick/centrifugo/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path)
        .expect("fixture")
        .trim_end()
        .to_owned()
}

/// Decode + map + sanitise + serialise one frame; returns the slot bytes written.
fn one(frame: &str, out: &mut Vec<u8>) -> usize {
    let mut n = 0;
    for ev in decode_frame("chan", frame, 1) {
        if let Ok(Some(mut ev)) = ev {
            if let SlotEvent::Message(m) = &mut ev {
                assert!(sanitise(m));
            }
            out.clear();
            ev.write_json(out);
            n += out.len();
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let plain = frame("push_chat_message.json");
    let emotes = frame("push_chat_moderator.json");
    let mut out = Vec::with_capacity(1024);
    let mut g = c.benchmark_group("kick_frame_to_message");
    g.throughput(Throughput::Elements(1));
    g.bench_function("plain", |b| {
        b.iter(|| one(std::hint::black_box(&plain), &mut out))
    });
    g.bench_function("emotes_badges", |b| {
        b.iter(|| one(std::hint::black_box(&emotes), &mut out))
    });
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    // The figure for the README: a mix of both frames on this thread for ~2 s, per wall-clock
    // second and per second of this thread's CPU time (the machine may be shared: the CPU-time
    // figure is what one core does).
    let frames = [
        frame("push_chat_message.json"),
        frame("push_chat_moderator.json"),
    ];
    let mut out = Vec::with_capacity(1024);
    let (start, cpu0) = (Instant::now(), thread_cpu());
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        for _ in 0..1000 {
            std::hint::black_box(one(&frames[(n & 1) as usize], &mut out));
            n += 1;
        }
    }
    let wall = n as f64 / start.elapsed().as_secs_f64();
    let cpu = thread_cpu()
        .zip(cpu0)
        .map(|(b, a)| n as f64 / (b - a).max(1e-3));
    println!(
        "kick: {wall:.0} ChatMessageEvents/s wall-clock, {} per CPU-second of one core (frame → sanitised slot JSON; target ≥ 200000)",
        cpu.map_or("?".into(), |c| format!("{c:.0}"))
    );
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}

/// This thread's CPU time in seconds (utime + stime from /proc, 10 ms ticks).
fn thread_cpu() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
