//! YouTube: one `liveChatMessages.list` response page of 200 items → normalised events (parse the
//! JSON, map every item, sanitise each message as the sink does). Target: ≥ 100,000 items/s on
//! one core. Run: `cargo bench -p ingest --bench youtube`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ingest::connectors::sink::sanitise;
use ingest::connectors::youtube::map::{self, Mapped};
use serde_json::Value;
use shm_layout::SlotEvent;

const ITEMS: usize = 200;

/// A 200-item page built from the real-format fixtures: mostly text, some members, moderators,
/// Super Chats and stickers, memberships, a few deletes and bans (about what a busy chat sends).
fn page() -> Vec<u8> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/youtube/");
    let read = |f: &str| -> Value {
        serde_json::from_slice(&std::fs::read(format!("{dir}{f}")).unwrap()).unwrap()
    };
    let mut pool: Vec<Value> = Vec::new();
    for f in ["list_page1.json", "list_page2.json"] {
        pool.extend(read(f)["items"].as_array().unwrap().iter().cloned());
    }
    let types = read("list_types.json")["items"].as_array().unwrap().clone();
    let mut items = Vec::with_capacity(ITEMS);
    for i in 0..ITEMS {
        let mut it = if i % 10 == 9 {
            types[i / 10 % types.len()].clone()
        } else {
            pool[i % pool.len()].clone()
        };
        it["id"] = Value::String(format!(
            "LCC.bench-{i:04}-CjgKDQoLRDlmcUZkdjVFTm8qJwoYVUNQc2ZNNHZ1dV9G"
        ));
        items.push(it);
    }
    let mut p = read("list_page1.json");
    p["items"] = Value::Array(items);
    serde_json::to_vec(&p).unwrap()
}

fn normalise(bytes: &[u8]) -> usize {
    let page = map::parse_page(bytes).expect("the page parses");
    let mut n = 0;
    for item in &page.items {
        if let Mapped::Event(mut ev) = map::map_item("D9fqFdv5ENo", item, 0) {
            if let SlotEvent::Message(m) = &mut ev {
                sanitise(m);
            }
            black_box(&ev);
            n += 1;
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let bytes = page();
    assert!(normalise(&bytes) >= ITEMS * 9 / 10);
    // A plain figure, printed for the README, besides criterion's own report.
    let rounds = 2_000;
    let t = Instant::now();
    for _ in 0..rounds {
        black_box(normalise(black_box(&bytes)));
    }
    let per_s = (rounds * ITEMS) as f64 / t.elapsed().as_secs_f64();
    println!(
        "youtube: {:.0} items/s on one core ({} KB page of {ITEMS} items, parse + map + sanitise)",
        per_s,
        bytes.len() / 1024
    );
    let mut g = c.benchmark_group("youtube");
    g.throughput(Throughput::Elements(ITEMS as u64));
    g.bench_function("page_200_items_to_events", |b| {
        b.iter(|| normalise(black_box(&bytes)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
