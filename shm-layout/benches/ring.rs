//! Ring benchmarks: uncontended enqueue + peek/commit, 3 writer processes contending, and the
//! machine's 4 KiB memcpy for scale.
//!
//! `cargo bench -p shm-layout --bench ring`. The contended case re-executes this binary as writer
//! processes (`XCHAT_BENCH_ROLE=writer`).

use std::hint::black_box;
use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use shm_layout::{Reader, Segment};

const LOCK_TIMEOUT: Duration = Duration::from_millis(1500);
const WRITERS: u64 = 3;

/// A ~300-byte message like the ones ingest writes.
fn message() -> Vec<u8> {
    let m = r##"{"id":"6f1c2f7e-9b1e-4c55-8d0f-2f3b8f0c9a11","streamerId":"0d7a2c6e-5b8f-4a3e-9c1d-7e6f5a4b3c2d","user":"night_owl_42","text":"that last round was unreal, how did you even pull that off?! gg","platform":"Twitch","timestamp":1795425657896,"isVip":false,"isSub":true,"isMod":false,"color":"#8a2be2"}"##;
    let mut v = m.as_bytes().to_vec();
    v.resize(300, b' ');
    v
}

fn shm_name(tag: &str) -> String {
    format!("/xchat-bench-{tag}-{}", std::process::id())
}

fn writer_role() {
    let name = std::env::var("XCHAT_SHM").unwrap();
    let count: u64 = std::env::var("XCHAT_COUNT").unwrap().parse().unwrap();
    let seg = Segment::open_existing(&name).unwrap();
    let payload = message();
    let mut line = String::new();
    println!("ready");
    std::io::stdin().lock().read_line(&mut line).unwrap();
    for _ in 0..count {
        seg.enqueue_wait(
            &payload,
            LOCK_TIMEOUT,
            Instant::now() + Duration::from_secs(30),
        )
        .expect("writer enqueue");
    }
}

fn uncontended(c: &mut Criterion) {
    let name = shm_name("solo");
    let seg = Arc::new(Segment::open_or_create(&name).unwrap());
    let mut reader = Reader::claim(seg.clone()).unwrap();
    let payload = message();
    let mut g = c.benchmark_group("ring");
    g.throughput(Throughput::Elements(1));
    g.bench_function("uncontended enqueue+peek+commit 300B", |b| {
        b.iter(|| {
            seg.try_enqueue(black_box(&payload), LOCK_TIMEOUT).unwrap();
            let mut n = 0;
            let end = reader.peek(1, |_, s| n += black_box(s.unwrap()).len());
            reader.commit(end);
            n
        })
    });
    g.finish();
    drop(reader);
    let _ = shm_layout::remove(&name);
}

fn memcpy(c: &mut Criterion) {
    let src = vec![7u8; 4096];
    let mut dst = vec![0u8; 4096];
    let mut g = c.benchmark_group("memcpy");
    g.throughput(Throughput::Bytes(4096));
    g.bench_function("4KiB", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&mut dst);
        })
    });
    g.finish();
}

fn contended(c: &mut Criterion) {
    let name = shm_name("contended");
    let seg = Arc::new(Segment::open_or_create(&name).unwrap());
    let mut reader = Reader::claim(seg.clone()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut g = c.benchmark_group("ring");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    g.bench_function("3 writer processes, 1 reader, 300B", |b| {
        b.iter_custom(|iters| {
            let per = iters.div_ceil(WRITERS).max(1);
            let mut kids: Vec<_> = (0..WRITERS)
                .map(|_| {
                    Command::new(&exe)
                        .env("XCHAT_BENCH_ROLE", "writer")
                        .env("XCHAT_SHM", &name)
                        .env("XCHAT_COUNT", per.to_string())
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .spawn()
                        .unwrap()
                })
                .collect();
            for k in &mut kids {
                let mut l = String::new();
                std::io::BufReader::new(k.stdout.as_mut().unwrap())
                    .read_line(&mut l)
                    .unwrap();
            }
            let start = Instant::now();
            for k in &mut kids {
                k.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
            }
            let total = per * WRITERS;
            let mut got = 0;
            while got < total {
                reader.wait_for_data(Duration::from_millis(50));
                let end = reader.peek(usize::MAX, |_, s| {
                    black_box(s.unwrap());
                    got += 1;
                });
                reader.commit(end);
            }
            let elapsed = start.elapsed();
            for k in &mut kids {
                k.wait().unwrap();
            }
            // Scale to the requested iteration count.
            elapsed.mul_f64(iters as f64 / total as f64)
        })
    });
    g.finish();
    drop(reader);
    let _ = shm_layout::remove(&name);
}

fn main() {
    if std::env::var("XCHAT_BENCH_ROLE").as_deref() == Ok("writer") {
        writer_role();
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    memcpy(&mut c);
    uncontended(&mut c);
    contended(&mut c);
    c.final_summary();
}
