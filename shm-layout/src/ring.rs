//! The ring: many writers (serialised by the lock word), one reader, crash-consistent.
//!
//! `head` and `tail` are monotonically increasing u64 sequence numbers; slot = seq % 256 and the
//! depth is `tail - head` (never above 256). Every state change becomes visible through one atomic
//! store: a writer publishes a whole slot with a Release store of `tail`, the reader gives slots
//! back with a Release store of `head` after it has persisted them (at-least-once: a reader killed
//! before its commit meets the same messages again).
//!
//! Sleeping never polls: the reader sleeps on the `doorbell` futex word, which a writer rings when
//! its publish made the ring non-empty or took it past half full (and wakes only when the reader
//! actually sleeps); a writer facing a full ring sleeps on the `space` word, which the reader bumps
//! after a commit when writers wait.

use std::sync::atomic::fence;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{ClaimError, EnqueueError, SlotError};
use crate::layout::{MAX_PAYLOAD, SLOT_COUNT};
use crate::lock::LockWord;
use crate::segment::Segment;
use crate::sys;

const CAPACITY: u64 = SLOT_COUNT as u64;
const HALF: u64 = CAPACITY / 2;
/// Longest single sleep waiting for space: bounds the wait if the reader dies without a wake.
const SPACE_POLL: Duration = Duration::from_millis(50);

fn slot_index(seq: u64) -> usize {
    (seq % CAPACITY) as usize
}

impl Segment {
    /// A handle on the lock word for this process.
    pub fn lock_word(&self) -> LockWord<'_> {
        let page = self.page();
        LockWord::new(&page.lock, &page.counters, self.pid())
    }

    /// Queued messages right now (`tail - head`).
    pub fn depth(&self) -> u64 {
        let page = self.page();
        // Relaxed: a statistic; head is loaded first so the difference never underflows.
        let head = page.head.0.load(Relaxed);
        page.tail.0.load(Relaxed).saturating_sub(head)
    }

    /// Enqueues one payload if there is room now. Counts `rejected_full` / `rejected_too_large`
    /// on refusal. Returns the message's sequence number.
    pub fn try_enqueue(&self, payload: &[u8], lock_timeout: Duration) -> Result<u64, EnqueueError> {
        let result = self.enqueue_once(payload, lock_timeout);
        if result == Err(EnqueueError::Full) {
            self.page().counters.rejected_full.fetch_add(1, Relaxed);
        }
        result
    }

    /// Enqueues one payload, sleeping (futex, no polling) while the ring is full, until
    /// `deadline`. A lock timeout is returned at once: the caller decides whether to retry.
    pub fn enqueue_wait(
        &self,
        payload: &[u8],
        lock_timeout: Duration,
        deadline: Instant,
    ) -> Result<u64, EnqueueError> {
        let page = self.page();
        let w = &page.wakeups;
        loop {
            let space_seen = w.space.load(SeqCst);
            match self.enqueue_once(payload, lock_timeout) {
                Err(EnqueueError::Full) => {}
                other => return other,
            }
            let now = Instant::now();
            if now >= deadline {
                page.counters.rejected_full.fetch_add(1, Relaxed);
                return Err(EnqueueError::Full);
            }
            // SeqCst pairs with `Reader::commit` (head store, then waiters load): either the reader
            // sees us waiting and bumps `space`, or we see its new head here and do not sleep.
            w.space_waiters.fetch_add(1, SeqCst);
            if page
                .tail
                .0
                .load(SeqCst)
                .saturating_sub(page.head.0.load(SeqCst))
                >= CAPACITY
            {
                sys::futex_wait(&w.space, space_seen, (deadline - now).min(SPACE_POLL));
            }
            w.space_waiters.fetch_sub(1, SeqCst);
        }
    }

    fn enqueue_once(&self, payload: &[u8], lock_timeout: Duration) -> Result<u64, EnqueueError> {
        let page = self.page();
        if payload.len() > MAX_PAYLOAD {
            page.counters.rejected_too_large.fetch_add(1, Relaxed);
            return Err(EnqueueError::TooLarge { len: payload.len() });
        }
        let guard = self.lock_word().acquire(lock_timeout)?;
        // Acquire: after a takeover from a dead holder no lock release ordered its tail store
        // before us, so synchronise with that Release store directly.
        let tail = page.tail.0.load(Acquire);
        // Acquire: pairs with the reader's Release commit, so it has finished copying the slot we
        // are about to overwrite.
        let head = page.head.0.load(Acquire);
        if tail - head >= CAPACITY {
            return Err(EnqueueError::Full);
        }
        let slot = self.slot_ptr(slot_index(tail));
        // SAFETY: slot `tail % 256` lies outside the published range [head, tail) (depth < 256),
        // so the reader does not read it, and we hold the lock word, so no other writer writes it.
        // The payload is at most MAX_PAYLOAD bytes, the slot's payload capacity.
        unsafe {
            (&raw mut (*slot).len).write((payload.len() as u32).to_le_bytes());
            std::ptr::copy_nonoverlapping(
                payload.as_ptr(),
                (&raw mut (*slot).payload).cast::<u8>(),
                payload.len(),
            );
        }
        // The publish. SeqCst (a Release at least): the slot bytes above become visible with it;
        // the total order also pairs with the head load below and the reader's sleep protocol.
        page.tail.0.store(tail + 1, SeqCst);
        // `enqueued` always equals `tail`: a plain store under the lock instead of a second
        // read-modify-write on the hot path (a holder killed here leaves it one behind until the
        // next publish sets it right again).
        page.counters.enqueued.store(tail + 1, Relaxed);
        drop(guard);

        // Re-read head after publishing: if the reader committed meanwhile and went to sleep,
        // it could not have seen our tail, and then this load sees its commit (depth 1).
        let depth = (tail + 1).saturating_sub(page.head.0.load(SeqCst));
        let max = &page.counters.max_depth;
        if depth > max.load(Relaxed) {
            max.fetch_max(depth, Relaxed);
        }
        if depth == 1 || depth == HALF + 1 {
            self.ring_doorbell();
        }
        Ok(tail)
    }

    /// Rings the doorbell when the reader sleeps on it: bumps the futex word and wakes it. A busy
    /// reader costs the writer one load, no read-modify-write and no syscall.
    fn ring_doorbell(&self) {
        let w = &self.page().wakeups;
        // SeqCst pairs with `Reader::wait_for_data`, which stores `reader_sleeping` before it loads
        // the doorbell and tail: either we see it sleeping here, or it sees our tail publish.
        if w.reader_sleeping.load(SeqCst) != 0 {
            w.doorbell.fetch_add(1, SeqCst);
            sys::futex_wake(&w.doorbell, u32::MAX);
        }
    }

    /// Copies queued messages `[head, head + max)` without consuming them (operator tools; any
    /// process, beside a live reader and live writers).
    ///
    /// This may race: while a slot is copied the claimed reader can commit past it and a writer
    /// can then reuse it, so the copy may be torn (a length from one message, bytes from another).
    /// The race is harmless and detected: the copy never leaves the slot or `buf` whatever length
    /// it reads, and `head` is read again after the copy; a slot whose sequence is then below
    /// `head` may have been rewritten, so it is skipped (not passed to `f`), never shown torn.
    pub fn peek_unclaimed(&self, max: usize, mut f: impl FnMut(u64, Result<&[u8], SlotError>)) {
        let page = self.page();
        let head = page.head.0.load(Acquire);
        // Acquire: pairs with each writer's publish of tail, making the slot bytes visible.
        let tail = page.tail.0.load(Acquire);
        let mut buf = Vec::with_capacity(MAX_PAYLOAD);
        for seq in head..tail.min(head.saturating_add(max as u64)) {
            // SAFETY: `seq` was in the published range when head and tail were loaded above; the
            // caller-side check of the contract's case 2 follows right below.
            let r = unsafe { self.copy_slot(seq, &mut buf) };
            // The fence keeps the copy's loads before the head load below (a plain Acquire load
            // would not stop earlier loads from moving after it). A writer reuses slot `seq` only
            // after it has seen head > seq, so if head still is <= seq here the copy is whole.
            fence(Acquire);
            if page.head.0.load(Relaxed) > seq {
                continue;
            }
            f(seq, r.map(|()| buf.as_slice()));
        }
    }

    /// Copies slot `seq` into `buf` (cleared first). A length above `MAX_PAYLOAD` (a corrupt or,
    /// in case 2 below, torn slot) is refused with [`SlotError`] before anything is copied.
    ///
    /// # Safety
    /// `seq` must have been in the published range `[head, tail)` as loaded by the caller, tail
    /// with Acquire (which makes the writer's bytes visible: its Release store of tail came after
    /// them). Then one of:
    /// 1. The caller is the segment's single claimed reader ([`Reader::peek`]). Only it moves
    ///    `head`, and a writer reuses slot `seq` only for sequence `seq + 256`, which needs
    ///    `head > seq`; so until this reader commits past `seq` no one writes the slot and the copy
    ///    is exactly the published message.
    /// 2. Any other caller ([`Segment::peek_unclaimed`]): the claimed reader may commit past `seq`
    ///    during the copy and a writer may rewrite the slot under it. The caller must then treat
    ///    the copy as possibly torn and discard it unless `head <= seq` when re-read after the copy
    ///    (behind an Acquire fence).
    ///
    /// Memory safety holds in both cases: the copy reads at most `MAX_PAYLOAD` bytes inside slot
    /// `seq` (the length is checked first) into `buf`, which has room for them, and any byte
    /// pattern is a valid `u8`.
    unsafe fn copy_slot(&self, seq: u64, buf: &mut Vec<u8>) -> Result<(), SlotError> {
        let slot = self.slot_ptr(slot_index(seq));
        buf.clear();
        buf.reserve(MAX_PAYLOAD);
        // SAFETY: the slot lies inside the mapping (`slot_ptr`). By the caller's contract the bytes
        // were published before the caller's Acquire load of tail, and either nobody writes the
        // slot during this copy (case 1) or the caller discards a copy that raced with a writer
        // (case 2). The reads go through raw pointers into shared memory, creating no reference
        // that would claim the bytes unchanging. `len` is checked against MAX_PAYLOAD, which `buf`
        // has room for, before it sizes the copy; `set_len` then covers exactly the bytes written.
        unsafe {
            let len = u32::from_le_bytes((&raw const (*slot).len).read());
            if len as usize > MAX_PAYLOAD {
                return Err(SlotError { seq, len });
            }
            std::ptr::copy_nonoverlapping(
                (&raw const (*slot).payload).cast::<u8>(),
                buf.as_mut_ptr(),
                len as usize,
            );
            buf.set_len(len as usize);
        }
        Ok(())
    }
}

/// The single reader of a segment (the gateway's pump). Releases its claim on drop.
#[derive(Debug)]
pub struct Reader {
    seg: Arc<Segment>,
    me: u32,
    buf: Vec<u8>,
}

impl Reader {
    /// Claims the reader role. Refused while another live process holds it; a dead reader's claim
    /// is taken over (its uncommitted batch is then read again).
    pub fn claim(seg: Arc<Segment>) -> Result<Reader, ClaimError> {
        let me = seg.pid();
        let word = &seg.page().wakeups.reader_pid;
        loop {
            let current = word.load(Acquire);
            let free = current == 0 || (current != me && !sys::pid_alive(current));
            if !free {
                return Err(ClaimError { pid: current });
            }
            // Acquire: the previous reader's commits (Release stores of head) are visible.
            if word.compare_exchange(current, me, Acquire, Relaxed).is_ok() {
                return Ok(Reader {
                    seg,
                    me,
                    buf: Vec::with_capacity(MAX_PAYLOAD),
                });
            }
        }
    }

    /// The segment this reader drains.
    pub fn segment(&self) -> &Arc<Segment> {
        &self.seg
    }

    /// Sleeps until the ring holds a message or `timeout` passes; true when a message is queued.
    pub fn wait_for_data(&self, timeout: Duration) -> bool {
        let page = self.seg.page();
        let w = &page.wakeups;
        // SeqCst throughout: see `Segment::ring_doorbell`.
        w.reader_sleeping.store(1, SeqCst);
        let rung = w.doorbell.load(SeqCst);
        let queued = page.tail.0.load(SeqCst) != page.head.0.load(SeqCst);
        if !queued && !timeout.is_zero() {
            sys::futex_wait(&w.doorbell, rung, timeout);
        }
        w.reader_sleeping.store(0, SeqCst);
        page.tail.0.load(Acquire) != page.head.0.load(Relaxed)
    }

    /// Copies up to `max` queued messages, oldest first, into `f` as `(seq, payload)`. Consumes
    /// nothing: call [`Reader::commit`] with the returned end sequence once they are persisted.
    pub fn peek(&mut self, max: usize, mut f: impl FnMut(u64, Result<&[u8], SlotError>)) -> u64 {
        let page = self.seg.page();
        // Relaxed would do for head (only we store it) but Acquire also covers a taken-over claim.
        let head = page.head.0.load(Acquire);
        // Acquire: pairs with each writer's publish of tail, making the slot bytes visible.
        let tail = page.tail.0.load(Acquire);
        let end = tail.min(head.saturating_add(max as u64));
        for seq in head..end {
            // SAFETY: contract case 1: this is the claimed single reader and `seq` is in the
            // [head, tail) just loaded (tail with Acquire); only our own commit frees the slot.
            let r = unsafe { self.seg.copy_slot(seq, &mut self.buf) };
            f(seq, r.map(|()| self.buf.as_slice()));
        }
        end
    }

    /// Gives slots `[head, end)` back to the writers (one Release store of `head`), and wakes
    /// writers that wait for space. Never blocks.
    pub fn commit(&mut self, end: u64) {
        let page = self.seg.page();
        let head = page.head.0.load(Relaxed);
        let tail = page.tail.0.load(Acquire);
        assert!(
            head <= end && end <= tail,
            "commit({end}) outside the queued range [{head}, {tail}]"
        );
        if end == head {
            return;
        }
        // The commit. SeqCst (a Release at least): our copies of these slots happen-before any
        // writer's reuse of them; the total order pairs with `enqueue_wait`'s waiter count.
        page.head.0.store(end, SeqCst);
        // `dequeued` always equals `head`, and only the reader writes it: a plain store.
        page.counters.dequeued.store(end, Relaxed);
        let w = &page.wakeups;
        if w.space_waiters.load(SeqCst) > 0 {
            w.space.fetch_add(1, SeqCst);
            sys::futex_wake(&w.space, u32::MAX);
        }
    }

    /// Queued messages right now.
    pub fn depth(&self) -> u64 {
        self.seg.depth()
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let _ = self
            .seg
            .page()
            .wakeups
            .reader_pid
            .compare_exchange(self.me, 0, Release, Relaxed);
    }
}
