//! Real processes on a real /dev/shm object: many writer processes, one reader, crashes.
//!
//! Child processes are this test binary re-executed on one `#[ignore]`d role function, told what
//! to do through environment variables (`XCHAT_ROLE`, `XCHAT_SHM`, …).

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{check_payload, make_payload, TestSegment};
use shm_layout::{EnqueueError, Reader, Segment};

const LOCK_TIMEOUT: Duration = Duration::from_millis(1500);

fn spawn_role(role: &str, shm: &str, env: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        role,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("XCHAT_ROLE", role)
    .env("XCHAT_SHM", shm)
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn child role")
}

/// Reads the child's stdout until a line contains `marker`; returns the line from the marker on
/// (the test harness prints `test role_x ... ` before the role's first line).
fn wait_for_line(child: &mut Child, marker: &str) -> String {
    let out = child.stdout.as_mut().unwrap();
    let mut reader = BufReader::new(out);
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "child exited before printing {marker}"
        );
        if let Some(at) = line.find(marker) {
            return line[at..].trim().to_string();
        }
    }
}

fn env_u64(k: &str) -> u64 {
    std::env::var(k).unwrap().parse().unwrap()
}

fn is_role(role: &str) -> bool {
    std::env::var("XCHAT_ROLE").as_deref() == Ok(role)
}

/// Role: write `XCHAT_COUNT` self-checking messages as writer `XCHAT_WRITER`; exit 0 only if
/// every one was accepted (waiting for space when full, never a lock timeout).
#[test]
#[ignore = "child role, spawned by the tests below"]
fn role_writer() {
    if !is_role("role_writer") {
        return;
    }
    let seg = Segment::open_or_create(&std::env::var("XCHAT_SHM").unwrap()).unwrap();
    let writer = env_u64("XCHAT_WRITER") as u32;
    let count = env_u64("XCHAT_COUNT");
    println!("started");
    for seq in 0..count {
        let p = make_payload(writer, seq, (seq as usize * 7919) % 600);
        let deadline = Instant::now() + Duration::from_secs(30);
        match seg.enqueue_wait(&p, LOCK_TIMEOUT, deadline) {
            Ok(_) => {}
            Err(e @ EnqueueError::Lock(_)) => panic!("writer {writer} met a lock timeout: {e}"),
            Err(e) => panic!("writer {writer} message {seq}: {e}"),
        }
    }
}

/// Role: take the lock word and hold it until killed.
#[test]
#[ignore = "child role, spawned by the tests below"]
fn role_lock_holder() {
    if !is_role("role_lock_holder") {
        return;
    }
    let seg = Segment::open_or_create(&std::env::var("XCHAT_SHM").unwrap()).unwrap();
    let guard = seg.lock_word().acquire(Duration::from_secs(1)).unwrap();
    println!("holding");
    std::thread::sleep(Duration::from_secs(60));
    drop(guard);
}

/// Role: claim the reader, peek a batch, announce its size, and wait to be killed before committing.
#[test]
#[ignore = "child role, spawned by the tests below"]
fn role_reader_dies_before_commit() {
    if !is_role("role_reader_dies_before_commit") {
        return;
    }
    let seg = Arc::new(Segment::open_existing(&std::env::var("XCHAT_SHM").unwrap()).unwrap());
    let mut reader = Reader::claim(seg).unwrap();
    let mut n = 0;
    reader.peek(usize::MAX, |_, slot| {
        slot.unwrap();
        n += 1;
    });
    println!("peeked {n}");
    std::thread::sleep(Duration::from_secs(60));
}

/// Drains until `total` messages arrived; checks exactly-once, per-writer order and integrity.
fn drain_and_check(reader: &mut Reader, writers: u32, total: u64, give_up: Duration) {
    let mut next: HashMap<u32, u64> = (0..writers).map(|w| (w, 0)).collect();
    let mut received = 0u64;
    let deadline = Instant::now() + give_up;
    while received < total {
        assert!(
            Instant::now() < deadline,
            "only {received} of {total} messages arrived"
        );
        reader.wait_for_data(Duration::from_millis(50));
        let end = reader.peek(usize::MAX, |seq, slot| {
            let (w, s) = check_payload(slot.unwrap_or_else(|e| panic!("slot {seq}: {e}")));
            let expected = next.get_mut(&w).expect("known writer");
            assert_eq!(
                s, *expected,
                "writer {w}: got message {s}, expected {expected}"
            );
            *expected += 1;
            received += 1;
        });
        reader.commit(end);
    }
    assert_eq!(received, total);
}

#[test]
fn four_writer_processes_one_reader_exactly_once_in_order() {
    const WRITERS: u32 = 4;
    const PER_WRITER: u64 = 50_000;
    let t = TestSegment::new("xproc");
    let seg = Arc::new(Segment::open_or_create(&t.name).unwrap());
    let mut reader = Reader::claim(seg.clone()).unwrap();
    let mut children: Vec<Child> = (0..WRITERS)
        .map(|w| {
            spawn_role(
                "role_writer",
                &t.name,
                &[
                    ("XCHAT_WRITER", w.to_string()),
                    ("XCHAT_COUNT", PER_WRITER.to_string()),
                ],
            )
        })
        .collect();
    let started = Instant::now();
    drain_and_check(
        &mut reader,
        WRITERS,
        WRITERS as u64 * PER_WRITER,
        Duration::from_secs(300),
    );
    for c in &mut children {
        assert!(c.wait().unwrap().success(), "a writer process failed");
    }
    let snap = seg.snapshot();
    println!(
        "4 x {PER_WRITER} messages across processes in {:?}; max_depth {}, rejected_full {}",
        started.elapsed(),
        snap.counters["max_depth"],
        snap.counters["rejected_full"]
    );
    assert_eq!(snap.counters["enqueued"], WRITERS as u64 * PER_WRITER);
    assert_eq!(snap.counters["dequeued"], WRITERS as u64 * PER_WRITER);
    assert_eq!(snap.counters["lock_timeouts"], 0);
    assert_eq!(snap.length, 0);
}

#[test]
fn writer_killed_holding_the_lock_is_taken_over_within_one_timeout() {
    let t = TestSegment::new("crash");
    let seg = Arc::new(Segment::open_or_create(&t.name).unwrap());
    let mut reader = Reader::claim(seg.clone()).unwrap();
    let mut holder = spawn_role("role_lock_holder", &t.name, &[]);
    wait_for_line(&mut holder, "holding");
    let holder_pid = holder.id();
    assert_eq!(seg.snapshot().lock_owner, Some(holder_pid));

    let mut writers: Vec<Child> = (0..2)
        .map(|w| {
            spawn_role(
                "role_writer",
                &t.name,
                &[
                    ("XCHAT_WRITER", w.to_string()),
                    ("XCHAT_COUNT", "2000".into()),
                ],
            )
        })
        .collect();
    for w in &mut writers {
        wait_for_line(w, "started");
    }
    // The writers are now blocked on the held lock. Kill its holder the hard way.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        seg.depth(),
        0,
        "nothing can be enqueued while the lock is held"
    );
    let killed_at = Instant::now();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(holder_pid as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    holder.wait().unwrap();

    drain_and_check(&mut reader, 2, 4000, Duration::from_secs(60));
    for w in &mut writers {
        // A writer that met a lock timeout panics and exits non-zero.
        assert!(
            w.wait().unwrap().success(),
            "a writer met a lock timeout after the kill"
        );
    }
    let snap = seg.snapshot();
    println!(
        "writers carried on after the kill; all delivered {:?} after it",
        killed_at.elapsed()
    );
    assert!(
        snap.counters["lock_takeovers"] >= 1,
        "takeover counted: {:?}",
        snap.counters
    );
    assert_eq!(snap.counters["lock_timeouts"], 0);
    assert_eq!(snap.lock_owner, None);
}

#[test]
fn reader_killed_between_peek_and_commit_loses_nothing() {
    let t = TestSegment::new("rcrash");
    let seg = Arc::new(Segment::open_or_create(&t.name).unwrap());
    for seq in 0..100 {
        seg.try_enqueue(&make_payload(0, seq, 50), LOCK_TIMEOUT)
            .unwrap();
    }
    let mut child = spawn_role("role_reader_dies_before_commit", &t.name, &[]);
    assert_eq!(wait_for_line(&mut child, "peeked"), "peeked 100");
    // While the child lives, its claim stands.
    let err = Reader::claim(seg.clone()).unwrap_err();
    assert_eq!(err.pid, child.id());
    child.kill().unwrap();
    child.wait().unwrap();

    let mut reader = Reader::claim(seg.clone()).expect("a dead reader's claim is taken over");
    drain_and_check(&mut reader, 1, 100, Duration::from_secs(10));
    assert_eq!(seg.snapshot().counters["dequeued"], 100);
}

#[test]
fn full_ring_refuses_then_accepts_after_a_drain() {
    let t = TestSegment::new("full");
    let seg = Arc::new(Segment::open_or_create(&t.name).unwrap());
    for seq in 0..256 {
        seg.try_enqueue(&make_payload(0, seq, 10), LOCK_TIMEOUT)
            .unwrap();
    }
    assert_eq!(seg.try_enqueue(b"x", LOCK_TIMEOUT), Err(EnqueueError::Full));
    let waited = Instant::now();
    let r = seg.enqueue_wait(
        b"x",
        LOCK_TIMEOUT,
        Instant::now() + Duration::from_millis(100),
    );
    assert_eq!(r, Err(EnqueueError::Full));
    assert!(
        waited.elapsed() >= Duration::from_millis(100),
        "waited until the deadline"
    );
    assert_eq!(seg.snapshot().counters["rejected_full"], 2);

    // A writer waiting for space is woken by the reader's commit.
    let seg2 = seg.clone();
    let waiter = std::thread::spawn(move || {
        seg2.enqueue_wait(
            &make_payload(0, 256, 10),
            LOCK_TIMEOUT,
            Instant::now() + Duration::from_secs(20),
        )
    });
    std::thread::sleep(Duration::from_millis(50));
    let mut reader = Reader::claim(seg.clone()).unwrap();
    let end = reader.peek(10, |_, s| {
        s.unwrap();
    });
    reader.commit(end);
    assert!(waiter.join().unwrap().is_ok());
    assert_eq!(seg.depth(), 256 - 10 + 1);
}

#[test]
fn doorbell_wakes_a_sleeping_reader() {
    let t = TestSegment::new("bell");
    let seg = Arc::new(Segment::open_or_create(&t.name).unwrap());
    let reader = Reader::claim(seg.clone()).unwrap();
    assert!(
        !reader.wait_for_data(Duration::from_millis(10)),
        "empty ring: timed out"
    );
    let seg2 = seg.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        seg2.try_enqueue(b"ding", LOCK_TIMEOUT).unwrap();
    });
    // Woken by the doorbell long before this generous timeout.
    assert!(reader.wait_for_data(Duration::from_secs(30)));
    writer.join().unwrap();
}
