//! The few OS facilities the segment needs, over `rustix`: shared futex wait/wake, process
//! liveness and identity, wall-clock milliseconds.
//!
//! `nix` has no futex API and `raw_sync`'s mutex is not robust to a killed holder, so the lock word,
//! the doorbell and the space word are plain `AtomicU32`s in the segment driven by these futex calls.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use rustix::io::Errno;
use rustix::thread::futex;

/// Why a futex wait returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// Woken by a `wake`, or the word no longer held the expected value, or a signal came.
    Woken,
    /// The timeout passed.
    TimedOut,
}

/// Sleeps while `word == expected`, at most `timeout`.
///
/// The futex is *shared* (no `FUTEX_PRIVATE_FLAG`): the kernel keys it by the physical page, so a
/// wake from another process that maps the same segment reaches this waiter.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) -> WaitOutcome {
    let ts = futex::Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    match futex::wait(word, futex::Flags::empty(), expected, Some(&ts)) {
        Err(Errno::TIMEDOUT) => WaitOutcome::TimedOut,
        // EAGAIN (value changed), EINTR (signal) and success all mean "look again".
        _ => WaitOutcome::Woken,
    }
}

/// Wakes up to `count` waiters sleeping on `word` in any process.
pub fn futex_wake(word: &AtomicU32, count: u32) {
    // An error here can only be EFAULT/EINVAL for a bad address, which a reference rules out.
    let _ = futex::wake(word, futex::Flags::empty(), count);
}

/// This process's pid as stored in the lock word.
pub fn current_pid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

/// Whether `pid` names a live process in this pid namespace.
///
/// `kill(pid, 0)`: success or EPERM (it exists but belongs to another user) mean alive; only ESRCH
/// means dead. Any doubt answers "alive": a false "alive" costs a lock timeout, a false "dead" would
/// let two writers into the ring.
pub fn pid_alive(pid: u32) -> bool {
    let Some(p) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    !matches!(rustix::process::test_kill_process(p), Err(Errno::SRCH))
}

/// Inode of this process's pid namespace (`/proc/self/ns/pid`), or 0 when it cannot be read.
pub fn pid_namespace() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/pid")
        .map(|m| m.ino())
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
