//! The documented byte map is true: values written through the API appear at the documented
//! offsets of the real /dev/shm object.

mod common;

use std::time::Duration;

use common::TestSegment;
use shm_layout::layout::{offsets, COUNTER_NAMES};
use shm_layout::{Segment, SEGMENT_SIZE};

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

#[test]
fn documented_offsets_hold_in_the_real_object() {
    let t = TestSegment::new("map");
    let seg = Segment::open_or_create(&t.name).unwrap();
    assert!(seg.created());
    seg.try_enqueue(b"hello", Duration::from_secs(1)).unwrap();
    seg.try_enqueue(b"world!", Duration::from_secs(1)).unwrap();

    let bytes = std::fs::read(t.path()).unwrap();
    assert_eq!(bytes.len(), SEGMENT_SIZE);
    assert_eq!(&bytes[offsets::MAGIC..offsets::MAGIC + 8], b"XCHATSHM");
    assert_eq!(u32_at(&bytes, offsets::VERSION), 1);
    assert_eq!(u32_at(&bytes, offsets::SLOT_COUNT), 256);
    assert_eq!(u32_at(&bytes, offsets::SLOT_SIZE), 4096);
    assert_eq!(u32_at(&bytes, offsets::CREATOR_PID), std::process::id());
    let created = u64_at(&bytes, offsets::CREATED_MS);
    assert!(created > 1_600_000_000_000 && created <= shm_layout::now_ms());
    assert_eq!(u64_at(&bytes, offsets::SEGMENT_SIZE), 1_052_672);
    assert_eq!(u64_at(&bytes, offsets::HEAD), 0);
    assert_eq!(u64_at(&bytes, offsets::TAIL), 2);
    assert_eq!(u32_at(&bytes, offsets::LOCK_OWNER), 0, "lock released");
    // Counters in documented order: enqueued first, max_depth last.
    assert_eq!(COUNTER_NAMES[0], "enqueued");
    assert_eq!(u64_at(&bytes, offsets::COUNTERS), 2);
    assert_eq!(u64_at(&bytes, offsets::COUNTERS + 6 * 8), 2, "max_depth");
    // Slot 0 and slot 1: u32 LE length, then the payload.
    assert_eq!(u32_at(&bytes, offsets::SLOTS), 5);
    assert_eq!(&bytes[offsets::SLOTS + 4..offsets::SLOTS + 9], b"hello");
    assert_eq!(u32_at(&bytes, offsets::SLOTS + 4096), 6);
    assert_eq!(
        &bytes[offsets::SLOTS + 4096 + 4..offsets::SLOTS + 4096 + 10],
        b"world!"
    );
}

#[test]
fn lock_word_holds_the_owner_pid_while_taken() {
    let t = TestSegment::new("lockmap");
    let seg = Segment::open_or_create(&t.name).unwrap();
    let guard = seg.lock_word().acquire(Duration::from_secs(1)).unwrap();
    let bytes = std::fs::read(t.path()).unwrap();
    assert_eq!(u32_at(&bytes, offsets::LOCK_OWNER), std::process::id());
    assert_eq!(seg.snapshot().lock_owner, Some(std::process::id()));
    drop(guard);
    let bytes = std::fs::read(t.path()).unwrap();
    assert_eq!(u32_at(&bytes, offsets::LOCK_OWNER), 0);
}

#[test]
fn readme_byte_map_matches_the_constants() {
    // The README's byte map is what operators read: every documented offset must appear in it.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md at the workspace root");
    for (label, off) in [
        ("magic", offsets::MAGIC),
        ("version", offsets::VERSION),
        ("slot_count", offsets::SLOT_COUNT),
        ("slot_size", offsets::SLOT_SIZE),
        ("creator_pid", offsets::CREATOR_PID),
        ("created_ms", offsets::CREATED_MS),
        ("head", offsets::HEAD),
        ("tail", offsets::TAIL),
        ("doorbell", offsets::DOORBELL),
        ("counters", offsets::COUNTERS),
        ("slots", offsets::SLOTS),
    ] {
        let needle = format!("0x{off:04X}");
        let line = readme
            .lines()
            .find(|l| l.contains(&needle) && l.contains(label))
            .unwrap_or_else(|| panic!("README byte map lacks a line with {needle} and {label}"));
        assert!(line.contains(label));
    }
}
