//! The segment's byte layout: `#[repr(C)]` regions, no pointers, every offset asserted at compile
//! time.
//!
//! ```text
//! offset   size  region           field (type)
//! ------   ----  ---------------  -----------------------------------------------------------
//! 0x0000      8  header           magic        b"XCHATSHM" (stored last, Release)
//! 0x0008      4                   version      u32 = LAYOUT_VERSION
//! 0x000C      4                   slot_count   u32 = 256
//! 0x0010      4                   slot_size    u32 = 4096
//! 0x0014      4                   creator_pid  u32
//! 0x0018      8                   created_ms   u64 (ms since the Unix epoch)
//! 0x0020      8                   segment_size u64 = 1_052_672
//! 0x0028      8                   pid_ns       u64 (inode of the creator's pid namespace)
//! 0x0030     16                   (reserved, zero)
//! 0x0040     64  control: head    head         AtomicU64, next sequence to read (own cache line)
//! 0x0080     64  control: tail    tail         AtomicU64, next sequence to write (own cache line)
//! 0x00C0     64  lock             owner        AtomicU32, 0 = free, else the owner's pid
//! 0x00C4                          waiters      AtomicU32, writers sleeping on `owner`
//! 0x0100     64  wakeups          doorbell     AtomicU32, futex: writers ring it, the reader sleeps
//! 0x0104                          space        AtomicU32, futex: the reader bumps it after a commit
//! 0x0108                          space_waiters AtomicU32, writers sleeping on `space`
//! 0x010C                          reader_pid   AtomicU32, the claimed single reader (0 = none)
//! 0x0110                          reader_sleeping AtomicU32, 1 while the reader sleeps on `doorbell`
//! 0x0140     64  counters         enqueued, dequeued, rejected_full, rejected_too_large,
//!                                 lock_timeouts, lock_takeovers, max_depth (7 × AtomicU64)
//! 0x0180   3712  (reserved, zero, to the end of the header page)
//! 0x1000  1 MiB  slots            256 × 4096 bytes; slot = u32 LE payload length + ≤ 4092 bytes JSON
//! ```
//!
//! Total: one 4 KiB header page plus 256 slots = 1,052,672 bytes.

use std::mem::{align_of, offset_of, size_of};
use std::sync::atomic::{AtomicU32, AtomicU64};

/// `b"XCHATSHM"` read as a little-endian u64: the first word of every CrossChat segment.
pub const MAGIC: u64 = u64::from_le_bytes(*b"XCHATSHM");
/// The layout version this build speaks. Bump it on any change to this file's byte map.
pub const LAYOUT_VERSION: u32 = 1;
/// Number of slots in the ring.
pub const SLOT_COUNT: u32 = 256;
/// Size of one slot in bytes, the 4-byte length prefix included.
pub const SLOT_SIZE: u32 = 4096;
/// Bytes of the length prefix at the start of each slot.
pub const SLOT_LEN_PREFIX: usize = 4;
/// The largest payload one slot carries.
pub const MAX_PAYLOAD: usize = SLOT_SIZE as usize - SLOT_LEN_PREFIX;
/// Size of the header page (header, control words, lock, wake-up words, counters, reserved).
pub const HEADER_PAGE_SIZE: usize = 4096;
/// Offset of slot 0 from the start of the segment.
pub const SLOTS_OFFSET: usize = HEADER_PAGE_SIZE;
/// Size of the whole segment.
pub const SEGMENT_SIZE: usize = HEADER_PAGE_SIZE + SLOT_COUNT as usize * SLOT_SIZE as usize;

/// A value alone on its 64-byte cache line, so that the reader's `head` and the writers' `tail`
/// do not bounce one line between cores.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct CacheLine<T>(pub T);

/// Identity and geometry, written once by the creator.
///
/// `magic` is stored last with Release: a process that loads it with Acquire and finds [`MAGIC`]
/// sees every other field (and the zeroed control words) initialised.
#[repr(C)]
#[derive(Debug)]
pub struct Header {
    /// [`MAGIC`] once initialised, 0 before.
    pub magic: AtomicU64,
    /// [`LAYOUT_VERSION`] of the creator.
    pub version: AtomicU32,
    /// [`SLOT_COUNT`] of the creator.
    pub slot_count: u32,
    /// [`SLOT_SIZE`] of the creator.
    pub slot_size: u32,
    /// Pid of the process that created the segment.
    pub creator_pid: u32,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: u64,
    /// [`SEGMENT_SIZE`] of the creator.
    pub segment_size: u64,
    /// Inode of the creator's pid namespace: pids in the lock word mean something only inside it.
    pub pid_ns: u64,
    _reserved: [u8; 16],
}

/// The lock word that serialises writers, and the count of writers sleeping on it.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct LockLine {
    /// 0 when free, else the owner's pid.
    pub owner: AtomicU32,
    /// Writers inside a futex wait on `owner`; `release` skips the wake syscall when 0.
    pub waiters: AtomicU32,
}

/// Futex words for sleeping without polling.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct Wakeups {
    /// Bumped by a writer whose publish made the ring non-empty or crossed half full.
    pub doorbell: AtomicU32,
    /// Bumped by the reader after a commit when writers wait for space.
    pub space: AtomicU32,
    /// Writers inside a futex wait on `space`.
    pub space_waiters: AtomicU32,
    /// Pid of the process that claimed the reader role, 0 when none.
    pub reader_pid: AtomicU32,
    /// 1 while the reader is inside a futex wait on `doorbell`: writers skip the wake syscall
    /// otherwise, so a busy reader costs writers no syscalls.
    pub reader_sleeping: AtomicU32,
}

/// Operator-visible counters; every refusal is counted here.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct Counters {
    /// Messages published into the ring.
    pub enqueued: AtomicU64,
    /// Messages committed by the reader.
    pub dequeued: AtomicU64,
    /// Enqueues refused because the ring stayed full.
    pub rejected_full: AtomicU64,
    /// Enqueues refused because the payload exceeded [`MAX_PAYLOAD`].
    pub rejected_too_large: AtomicU64,
    /// Lock acquisitions that gave up on a live owner.
    pub lock_timeouts: AtomicU64,
    /// Locks taken over from a dead owner.
    pub lock_takeovers: AtomicU64,
    /// The highest ring depth a publish has produced.
    pub max_depth: AtomicU64,
}

/// The header page: everything but the slots.
#[repr(C, align(4096))]
#[derive(Debug)]
pub struct HeaderPage {
    /// Identity and geometry.
    pub header: Header,
    /// Next sequence the reader will read.
    pub head: CacheLine<AtomicU64>,
    /// Next sequence a writer will write; `tail - head` is the depth.
    pub tail: CacheLine<AtomicU64>,
    /// The writers' lock word.
    pub lock: LockLine,
    /// Futex words.
    pub wakeups: Wakeups,
    /// Counters.
    pub counters: Counters,
}

/// One ring slot: a little-endian payload length, then the payload.
#[repr(C)]
#[derive(Debug)]
pub struct Slot {
    /// Payload length, little-endian; at most [`MAX_PAYLOAD`].
    pub len: [u8; SLOT_LEN_PREFIX],
    /// UTF-8 JSON of one [`crate::ChatMessage`], `len` bytes used.
    pub payload: [u8; MAX_PAYLOAD],
}

/// The whole segment as it lies in memory.
#[repr(C)]
#[derive(Debug)]
pub struct SegmentLayout {
    /// The header page.
    pub page: HeaderPage,
    /// The ring's slots; slot index = sequence % [`SLOT_COUNT`].
    pub slots: [Slot; SLOT_COUNT as usize],
}

/// Documented offsets, asserted below and exported for tests and `crosschat-shm inspect`.
pub mod offsets {
    /// `magic`.
    pub const MAGIC: usize = 0x0000;
    /// `version`.
    pub const VERSION: usize = 0x0008;
    /// `slot_count`.
    pub const SLOT_COUNT: usize = 0x000C;
    /// `slot_size`.
    pub const SLOT_SIZE: usize = 0x0010;
    /// `creator_pid`.
    pub const CREATOR_PID: usize = 0x0014;
    /// `created_ms`.
    pub const CREATED_MS: usize = 0x0018;
    /// `segment_size`.
    pub const SEGMENT_SIZE: usize = 0x0020;
    /// `pid_ns`.
    pub const PID_NS: usize = 0x0028;
    /// `head`.
    pub const HEAD: usize = 0x0040;
    /// `tail`.
    pub const TAIL: usize = 0x0080;
    /// The lock word.
    pub const LOCK_OWNER: usize = 0x00C0;
    /// Writers waiting on the lock word.
    pub const LOCK_WAITERS: usize = 0x00C4;
    /// The doorbell futex word.
    pub const DOORBELL: usize = 0x0100;
    /// The space futex word.
    pub const SPACE: usize = 0x0104;
    /// Writers waiting for space.
    pub const SPACE_WAITERS: usize = 0x0108;
    /// The claimed reader's pid.
    pub const READER_PID: usize = 0x010C;
    /// 1 while the reader sleeps on the doorbell.
    pub const READER_SLEEPING: usize = 0x0110;
    /// The first counter (`enqueued`); the others follow at 8-byte steps in documented order.
    pub const COUNTERS: usize = 0x0140;
    /// Slot 0.
    pub const SLOTS: usize = 0x1000;
}

// Compile-time proof that the structs lie exactly as the byte map above says.
const _: () = {
    use offsets as o;
    assert!(offset_of!(Header, magic) == o::MAGIC);
    assert!(offset_of!(Header, version) == o::VERSION);
    assert!(offset_of!(Header, slot_count) == o::SLOT_COUNT);
    assert!(offset_of!(Header, slot_size) == o::SLOT_SIZE);
    assert!(offset_of!(Header, creator_pid) == o::CREATOR_PID);
    assert!(offset_of!(Header, created_ms) == o::CREATED_MS);
    assert!(offset_of!(Header, segment_size) == o::SEGMENT_SIZE);
    assert!(offset_of!(Header, pid_ns) == o::PID_NS);
    assert!(size_of::<Header>() == 64);
    assert!(offset_of!(HeaderPage, head) == o::HEAD);
    assert!(offset_of!(HeaderPage, tail) == o::TAIL);
    assert!(offset_of!(HeaderPage, lock) == o::LOCK_OWNER);
    assert!(offset_of!(HeaderPage, lock) + offset_of!(LockLine, waiters) == o::LOCK_WAITERS);
    assert!(offset_of!(HeaderPage, wakeups) == o::DOORBELL);
    assert!(offset_of!(HeaderPage, wakeups) + offset_of!(Wakeups, space) == o::SPACE);
    assert!(
        offset_of!(HeaderPage, wakeups) + offset_of!(Wakeups, space_waiters) == o::SPACE_WAITERS
    );
    assert!(offset_of!(HeaderPage, wakeups) + offset_of!(Wakeups, reader_pid) == o::READER_PID);
    assert!(
        offset_of!(HeaderPage, wakeups) + offset_of!(Wakeups, reader_sleeping)
            == o::READER_SLEEPING
    );
    assert!(offset_of!(HeaderPage, counters) == o::COUNTERS);
    assert!(size_of::<Counters>() == 64);
    assert!(size_of::<HeaderPage>() == HEADER_PAGE_SIZE);
    assert!(align_of::<HeaderPage>() == 4096);
    assert!(size_of::<Slot>() == SLOT_SIZE as usize);
    assert!(offset_of!(SegmentLayout, slots) == o::SLOTS);
    assert!(o::SLOTS == SLOTS_OFFSET);
    assert!(size_of::<SegmentLayout>() == SEGMENT_SIZE);
    assert!(SEGMENT_SIZE == 1_052_672);
    // Sequence numbers map to slots by `seq % SLOT_COUNT`; a power of two keeps that a mask.
    assert!(SLOT_COUNT.is_power_of_two());
};

/// Names of the counters in the order they lie in memory (and in `inspect --json`).
pub const COUNTER_NAMES: [&str; 7] = [
    "enqueued",
    "dequeued",
    "rejected_full",
    "rejected_too_large",
    "lock_timeouts",
    "lock_takeovers",
    "max_depth",
];

impl Counters {
    /// The counters as (name, value) pairs, in memory order.
    pub fn read_all(&self) -> [(&'static str, u64); 7] {
        use std::sync::atomic::Ordering::Relaxed;
        // Relaxed: counters are statistics; no other memory is published through them.
        let v = [
            self.enqueued.load(Relaxed),
            self.dequeued.load(Relaxed),
            self.rejected_full.load(Relaxed),
            self.rejected_too_large.load(Relaxed),
            self.lock_timeouts.load(Relaxed),
            self.lock_takeovers.load(Relaxed),
            self.max_depth.load(Relaxed),
        ];
        std::array::from_fn(|i| (COUNTER_NAMES[i], v[i]))
    }
}
