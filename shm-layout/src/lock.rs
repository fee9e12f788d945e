//! The lock word: a cross-process writer lock that survives a killed holder.
//!
//! The word is 0 when free and holds the owner's pid when taken. `acquire` compare-exchanges 0 → own
//! pid; under contention it spins briefly, then sleeps in a shared futex wait on the word. A waiter
//! whose wait timed out (a live holder never keeps the lock that long: critical sections are a
//! copy of at most 4 KiB) asks the kernel whether the owner still lives (`kill(pid, 0)`); if it is
//! gone (ESRCH) the waiter takes the lock over with a compare-exchange from that pid to its own.
//!
//! # Why a takeover is safe
//! The lock protects no multi-step invariant: a holder writes a slot that lies *outside* the
//! published range `[head, tail)` and then publishes it with one Release store of `tail`. Killed
//! before that store, it published nothing (the next holder overwrites the half-written slot);
//! killed after it, the message is whole. Counters are single atomic adds. So whatever instruction
//! a holder died at, the ring is consistent and the next holder may simply carry on.
//!
//! # Pid reuse and pid namespaces
//! A recycled pid makes a dead owner look alive ("false alive"): waiters then time out (counted in
//! `lock_timeouts`) and callers retry; it never corrupts the ring, because only a "dead" verdict lets
//! anyone in. The kernel hands out pids in increasing order up to `pid_max` (4,194,304 on 64-bit),
//! and a waiter checks within milliseconds of the crash, so reuse inside that window is not a
//! practical case; `crosschat-shm inspect` shows `lock_owner` and `lock_owner_alive` for an operator
//! who meets it. A pid from *another* pid namespace could look dead while its owner lives ("false
//! dead"), which would be unsafe — so the segment records its creator's pid namespace and refuses
//! to be opened from another one ([`crate::OpenError::PidNamespaceMismatch`]).

use std::sync::atomic::Ordering::{Acquire, Relaxed, SeqCst};
use std::time::{Duration, Instant};

use crate::error::LockTimeout;
use crate::layout::{Counters, LockLine};
use crate::sys::{self, WaitOutcome};

/// Compare-exchange attempts spent spinning before the first futex wait.
const SPIN_LIMIT: u32 = 100;
/// `sched_yield` attempts after spinning, before the first futex wait.
const YIELD_LIMIT: u32 = 8;
/// Longest single futex sleep: after it the owner's liveness is checked.
const LIVENESS_POLL: Duration = Duration::from_millis(2);

/// A handle on the segment's lock word.
#[derive(Debug, Clone, Copy)]
pub struct LockWord<'a> {
    line: &'a LockLine,
    counters: &'a Counters,
    me: u32,
}

/// Proof of holding the lock; releases on drop.
#[derive(Debug)]
pub struct LockGuard<'a> {
    lock: LockWord<'a>,
}

impl<'a> LockWord<'a> {
    /// Wraps the segment's lock line for the process whose pid is `me`.
    pub fn new(line: &'a LockLine, counters: &'a Counters, me: u32) -> LockWord<'a> {
        LockWord { line, counters, me }
    }

    /// Takes the lock if it is free right now (a load first, so that waiters do not pull the line
    /// exclusive with failing compare-exchanges).
    fn try_take(&self) -> Option<LockGuard<'a>> {
        let owner = &self.line.owner;
        // Acquire on success: what the previous holder wrote before its release (slot bytes, tail)
        // is visible to us.
        (owner.load(Relaxed) == 0 && owner.compare_exchange(0, self.me, Acquire, Relaxed).is_ok())
            .then_some(LockGuard { lock: *self })
    }

    /// Takes the lock, waiting at most `timeout` for a live owner; takes it over from a dead one.
    pub fn acquire(&self, timeout: Duration) -> Result<LockGuard<'a>, LockTimeout> {
        let owner = &self.line.owner;
        for _ in 0..SPIN_LIMIT {
            if let Some(guard) = self.try_take() {
                return Ok(guard);
            }
            std::hint::spin_loop();
        }
        // With more runnable processes than cores the holder may be descheduled: give it the core
        // a few times before paying for a futex sleep.
        for _ in 0..YIELD_LIMIT {
            std::thread::yield_now();
            if let Some(guard) = self.try_take() {
                return Ok(guard);
            }
        }
        let deadline = Instant::now() + timeout;
        let mut suspect_dead = false;
        loop {
            let current = owner.load(Acquire);
            if current == 0 {
                if let Some(guard) = self.try_take() {
                    return Ok(guard);
                }
                continue;
            }
            if suspect_dead && current != self.me && !sys::pid_alive(current) {
                // From that exact dead pid to ours: if another waiter took it over first, the
                // exchange fails and we go round again.
                if owner
                    .compare_exchange(current, self.me, Acquire, Relaxed)
                    .is_ok()
                {
                    self.counters.lock_takeovers.fetch_add(1, Relaxed);
                    return Ok(LockGuard { lock: *self });
                }
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                self.counters.lock_timeouts.fetch_add(1, Relaxed);
                return Err(LockTimeout { owner: current });
            }
            // SeqCst on `waiters` and in `release`'s store/load: either the releaser sees us
            // counted and wakes us, or our futex wait sees the word changed and returns at once.
            self.line.waiters.fetch_add(1, SeqCst);
            let outcome = sys::futex_wait(owner, current, (deadline - now).min(LIVENESS_POLL));
            self.line.waiters.fetch_sub(1, SeqCst);
            suspect_dead = outcome == WaitOutcome::TimedOut;
        }
    }

    /// The current owner's pid, if taken.
    pub fn owner(&self) -> Option<u32> {
        match self.line.owner.load(Relaxed) {
            0 => None,
            pid => Some(pid),
        }
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let line = self.lock.line;
        // Release (within SeqCst): our slot write and `tail` store happen-before the next holder's
        // Acquire. Exchange from our own pid only: never free a lock someone else holds.
        let _ = line
            .owner
            .compare_exchange(self.lock.me, 0, SeqCst, Relaxed);
        if line.waiters.load(SeqCst) > 0 {
            sys::futex_wake(&line.owner, 1);
        }
    }
}
