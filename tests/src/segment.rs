//! A shared-memory segment name no other test or run uses, unlinked when its guard is dropped —
//! also when the test panics, since unwinding drops it — so that tests run in parallel and leave
//! nothing behind in /dev/shm (a segment outlives its processes by design).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use shm_layout::Segment;

/// `/xchat-<tag>-<pid>-<n>`: unique within this process (a counter) and across processes (the
/// pid). `tag` says which harness made it when one is found left over.
pub fn unique_name(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "/xchat-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A unique segment name, unlinked on drop. The segment itself is created by whoever opens the
/// name first (the test through [`UniqueSegment::open`], or a process started with it).
#[derive(Debug)]
pub struct UniqueSegment {
    /// The name, e.g. for `--shm-name` (read it; the guard unlinks this name).
    pub name: String,
}

impl UniqueSegment {
    /// A fresh name from [`unique_name`]; any leftover object of that name is removed first.
    pub fn new(tag: &str) -> UniqueSegment {
        let name = unique_name(tag);
        let _ = shm_layout::remove(&name);
        UniqueSegment { name }
    }

    /// Guards a name chosen elsewhere (e.g. one derived from a test's directory, so that a
    /// restart on that directory finds the same segment): unlinked on drop like any other.
    pub fn adopt(name: String) -> UniqueSegment {
        UniqueSegment { name }
    }

    /// The name, e.g. for `--shm-name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The object's path in /dev/shm, for raw byte checks.
    pub fn path(&self) -> String {
        format!("/dev/shm{}", self.name)
    }

    /// Opens (creating it when absent) the segment, as an ingest does.
    pub fn open(&self) -> Arc<Segment> {
        Arc::new(Segment::open_or_create(&self.name).expect("open the test segment"))
    }
}

impl Drop for UniqueSegment {
    fn drop(&mut self) {
        let _ = shm_layout::remove(&self.name);
    }
}
