//! A point-in-time view of a segment for operators, `/readyz` and `/metrics`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;

use serde::Serialize;

use crate::segment::Segment;
use crate::sys;

/// What `crosschat-shm inspect --json` prints. Values are read one by one (not atomically as a
/// whole), which is what a monitoring view needs.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// Segment name.
    pub name: String,
    /// Layout version.
    pub version: u32,
    /// Slots in the ring.
    pub slot_count: u32,
    /// Bytes per slot.
    pub slot_size: u32,
    /// Next sequence to read.
    pub head: u64,
    /// Next sequence to write.
    pub tail: u64,
    /// Queued messages (`tail - head`).
    pub length: u64,
    /// Pid holding the lock word, if any.
    pub lock_owner: Option<u32>,
    /// Whether that pid is alive (null when free).
    pub lock_owner_alive: Option<bool>,
    /// Pid of the claimed reader (the gateway), if any.
    pub reader_pid: Option<u32>,
    /// Whether that reader is alive (null when none).
    pub reader_alive: Option<bool>,
    /// Pid of the creator.
    pub creator_pid: u32,
    /// Creation time, ms since the epoch.
    pub created_ms: u64,
    /// Every counter by name.
    pub counters: BTreeMap<&'static str, u64>,
}

fn nonzero(v: u32) -> Option<u32> {
    (v != 0).then_some(v)
}

impl Segment {
    /// Reads a [`Snapshot`].
    pub fn snapshot(&self) -> Snapshot {
        let p = self.page();
        let h = &p.header;
        // Relaxed everywhere: statistics; head before tail so that length never underflows.
        let head = p.head.0.load(Relaxed);
        let tail = p.tail.0.load(Relaxed);
        let lock_owner = nonzero(p.lock.owner.load(Relaxed));
        let reader_pid = nonzero(p.wakeups.reader_pid.load(Relaxed));
        Snapshot {
            name: self.name().to_string(),
            version: h.version.load(Relaxed),
            slot_count: h.slot_count,
            slot_size: h.slot_size,
            head,
            tail,
            length: tail.saturating_sub(head),
            lock_owner,
            lock_owner_alive: lock_owner.map(sys::pid_alive),
            reader_pid,
            reader_alive: reader_pid.map(sys::pid_alive),
            creator_pid: h.creator_pid,
            created_ms: h.created_ms,
            counters: p.counters.read_all().into_iter().collect(),
        }
    }
}
