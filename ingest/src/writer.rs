//! The ring writer: one dedicated OS thread that enqueues batches of normalised messages.
//!
//! `Segment::enqueue_wait` blocks (a futex wait while the lock word is taken or the ring is full),
//! so it must never run on a tokio worker: connections hand their batches to this thread through a
//! bounded channel and get the outcomes back through a oneshot, in the batch's order. One thread
//! is enough: writers serialise on the lock word anyway, and a single thread never contends with
//! itself for it.
//!
//! Policy (the reference worker's, see [`WritePolicy`]): the lock is tried with a 1500 ms timeout
//! up to 5 times with a random 20–70 ms sleep between attempts, then the message is `unavailable`;
//! a full ring is waited on until `--full-wait-ms` after the request was read, then `queue_full`.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::RngExt;
use shm_layout::{EnqueueError, Segment};
use tokio::sync::{mpsc, oneshot};

/// How the writer treats a taken lock and a full ring.
#[derive(Debug, Clone)]
pub struct WritePolicy {
    /// Timeout of one lock attempt.
    pub lock_timeout: Duration,
    /// Lock attempts per message before `unavailable`.
    pub lock_attempts: u32,
    /// Random sleep between lock attempts, in ms.
    pub retry_sleep_ms: RangeInclusive<u64>,
    /// How long a message may wait for space in a full ring, counted from when it was read.
    pub full_wait: Duration,
}

impl Default for WritePolicy {
    fn default() -> Self {
        WritePolicy {
            lock_timeout: Duration::from_millis(1500),
            lock_attempts: 5,
            retry_sleep_ms: 20..=70,
            full_wait: Duration::from_millis(2000),
        }
    }
}

/// What happened to one message of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Published in the ring.
    Enqueued,
    /// The ring stayed full until the message's deadline.
    Full,
    /// The lock word could not be taken in any attempt.
    Unavailable,
    /// Larger than a slot (normalisation checks this first, so this is a safety net).
    TooLarge,
}

/// Serialised messages to enqueue, in order, and (after the writer) their outcomes.
#[derive(Debug, Default)]
pub struct Batch {
    /// The payloads, back to back.
    pub bytes: Vec<u8>,
    /// End offset in `bytes` of each payload.
    pub ends: Vec<usize>,
    /// One outcome per payload, filled in by the writer.
    pub outcomes: Vec<Outcome>,
    /// When the batch's lines were read: the ring-full deadline counts from here.
    pub read_at: Option<Instant>,
}

impl Batch {
    /// Payloads in the batch.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the batch holds no payload.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Marks the end of the payload just appended to `bytes`.
    pub fn push_end(&mut self) {
        self.ends.push(self.bytes.len());
    }

    fn payloads(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(s, e)| &self.bytes[s..e])
    }
}

struct Job {
    batch: Batch,
    done: oneshot::Sender<Batch>,
}

/// A cloneable handle that submits batches to the writer thread. The thread ends when every
/// handle is dropped.
#[derive(Debug, Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("len", &self.batch.len())
            .finish()
    }
}

/// Batches waiting for the writer thread. Bounded, so that a stalled ring stops connections from
/// reading (backpressure to the producers) instead of growing memory; 64 batches of up to a few
/// hundred messages each is far more than the 256-slot ring drains in one pump tick.
const QUEUE_BATCHES: usize = 64;

impl WriterHandle {
    /// Starts the writer thread for `seg`.
    pub fn spawn(
        seg: Arc<Segment>,
        policy: WritePolicy,
    ) -> std::io::Result<(WriterHandle, JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(QUEUE_BATCHES);
        let thread = std::thread::Builder::new()
            .name("ring-writer".into())
            .spawn(move || run(&seg, &policy, rx))?;
        Ok((WriterHandle { tx }, thread))
    }

    /// Queues `batch`; the returned receiver yields it back with its outcomes. If the writer is
    /// gone the receiver reports an error (the caller answers `unavailable`).
    pub async fn submit(&self, batch: Batch) -> oneshot::Receiver<Batch> {
        let (done, rx) = oneshot::channel();
        // A send error means the writer thread is gone; dropping `done` tells the receiver.
        let _ = self.tx.send(Job { batch, done }).await;
        rx
    }
}

fn run(seg: &Segment, policy: &WritePolicy, mut rx: mpsc::Receiver<Job>) {
    let mut rng = rand::rng();
    while let Some(Job { mut batch, done }) = rx.blocking_recv() {
        let deadline = batch.read_at.unwrap_or_else(Instant::now) + policy.full_wait;
        let mut outcomes = std::mem::take(&mut batch.outcomes);
        outcomes.clear();
        // Once the lock has failed every attempt for one message, the rest of its batch (read at
        // the same moment) is answered `unavailable` too rather than waiting 5 × 1500 ms each.
        let mut lock_down = false;
        for payload in batch.payloads() {
            let outcome = if lock_down {
                Outcome::Unavailable
            } else {
                // A panic inside the segment code (a bug) must not kill the only writer thread
                // and with it every later message: answer this one `unavailable` and go on.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    enqueue(seg, policy, payload, deadline, &mut rng)
                }))
                .unwrap_or_else(|_| {
                    tracing::error!("enqueueing a message panicked; it was answered unavailable");
                    Outcome::Unavailable
                })
            };
            lock_down |= outcome == Outcome::Unavailable;
            outcomes.push(outcome);
        }
        batch.outcomes = outcomes;
        // The connection may have gone away meanwhile; its messages are in the ring regardless.
        let _ = done.send(batch);
    }
}

fn enqueue(
    seg: &Segment,
    policy: &WritePolicy,
    payload: &[u8],
    deadline: Instant,
    rng: &mut rand::rngs::ThreadRng,
) -> Outcome {
    for attempt in 1..=policy.lock_attempts {
        match seg.enqueue_wait(payload, policy.lock_timeout, deadline) {
            Ok(_) => return Outcome::Enqueued,
            Err(EnqueueError::Full) => return Outcome::Full,
            Err(EnqueueError::TooLarge { .. }) => return Outcome::TooLarge,
            Err(EnqueueError::Lock(timeout)) => {
                tracing::debug!(
                    attempt,
                    owner = timeout.owner,
                    "the segment's lock word stayed held"
                );
                if attempt < policy.lock_attempts {
                    let ms = rng.random_range(policy.retry_sleep_ms.clone());
                    std::thread::sleep(Duration::from_millis(ms));
                }
            }
        }
    }
    Outcome::Unavailable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_payloads_split_at_their_ends() {
        let mut b = Batch::default();
        for p in [&b"one"[..], b"", b"three"] {
            b.bytes.extend_from_slice(p);
            b.push_end();
        }
        let got: Vec<&[u8]> = b.payloads().collect();
        assert_eq!(got, vec![&b"one"[..], b"", b"three"]);
        assert_eq!(b.len(), 3);
    }
}
