//! Twitch: one IRC line → a normalised message (parse tags/prefix/command, map every field:
//! v5 id, badges, booleans, colour, emote ranges named by code points). Target ≥ 500,000
//! PRIVMSG lines/s on one core, with tags and emotes. A second figure adds what the sink does
//! next (sanitising and the slot JSON).
//!
//! `cargo bench -p ingest --bench twitch` (prints the figures after criterion's report).

use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use ingest::connectors::sink::sanitise;
use ingest::connectors::twitch::map::{map, Mapped};
use ingest::connectors::twitch::parse::Line;
use shm_layout::SlotEvent;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/twitch/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("fixture");
    text.split("\r\n").next().unwrap().to_owned()
}

/// The realistic mix: the 9-emote randers line, the emoji line (non-ASCII path) and a reply.
fn lines() -> Vec<String> {
    [
        "privmsg_emotes.irc",
        "privmsg_emote_after_emoji.irc",
        "privmsg_reply.irc",
    ]
    .iter()
    .map(|f| fixture(f))
    .collect()
}

fn normalise(line: &str) -> SlotEvent {
    match map(&Line::parse(line).expect("parses")).expect("maps") {
        Mapped::Event { event, .. } => event,
        Mapped::Skipped => unreachable!("a PRIVMSG"),
    }
}

fn full(line: &str, out: &mut Vec<u8>) -> usize {
    let mut ev = normalise(line);
    if let SlotEvent::Message(m) = &mut ev {
        assert!(sanitise(m));
    }
    out.clear();
    ev.write_json(out);
    out.len()
}

fn bench(c: &mut Criterion) {
    let ls = lines();
    let mut g = c.benchmark_group("twitch");
    g.throughput(Throughput::Elements(ls.len() as u64));
    g.bench_function("irc line -> normalised message", |b| {
        b.iter(|| {
            for l in &ls {
                std::hint::black_box(normalise(std::hint::black_box(l)));
            }
        })
    });
    let mut out = Vec::with_capacity(4096);
    g.bench_function("+ sanitise + slot JSON", |b| {
        b.iter(|| {
            for l in &ls {
                std::hint::black_box(full(std::hint::black_box(l), &mut out));
            }
        })
    });
    g.finish();
}

/// Lines per second over ~2 s, one thread.
fn rate(f: &mut dyn FnMut(&str)) -> f64 {
    let ls = lines();
    let (mut n, start) = (0u64, Instant::now());
    while start.elapsed() < Duration::from_secs(2) {
        for _ in 0..1000 {
            for l in &ls {
                f(l);
                n += 1;
            }
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

criterion_group!(benches, bench);

fn main() {
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
    let parse_map = rate(&mut |l| {
        std::hint::black_box(normalise(l));
    });
    let mut out = Vec::with_capacity(4096);
    let with_sink = rate(&mut |l| {
        std::hint::black_box(full(l, &mut out));
    });
    println!(
        "twitch: {:.0} PRIVMSG lines/s (IRC line -> normalised message, tags + emotes; target >= 500,000)",
        parse_map
    );
    println!("twitch: {with_sink:.0} lines/s including sanitise + slot JSON");
}
