//! The subscribers of one run: connected through a gate (at most so many at a time), counting
//! into per-subscriber counters the driver sums while it waits for delivery.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::Message;

use super::tally::{Kind, Tally};
use super::ws::{open_and_join, source_for, OpenError, Target};

/// One subscriber's counter on its own cache line, so that subscribers on different worker
/// threads do not bounce one line between the cores at every frame.
#[derive(Default)]
#[repr(align(64))]
struct Counter(AtomicU64);

/// Totals shared by the subscribers of one run.
pub struct Progress {
    /// Subscribers that received `joined`.
    pub joined: AtomicU64,
    /// Subscribers that could not join.
    pub failed: AtomicU64,
    /// First receipts of driver messages, per subscriber.
    received: Box<[Counter]>,
}

impl Progress {
    /// Counters for `n` subscribers.
    pub fn new(n: usize) -> Progress {
        Progress {
            joined: Default::default(),
            failed: Default::default(),
            received: (0..n).map(|_| Counter::default()).collect(),
        }
    }

    /// Subscriber `i` received a message for the first time.
    pub fn received_one(&self, i: usize) {
        self.received[i].0.fetch_add(1, Relaxed);
    }

    /// First receipts over all subscribers.
    pub fn received(&self) -> u64 {
        self.received.iter().map(|c| c.0.load(Relaxed)).sum()
    }

    /// Waits until every one of `n` subscribers has joined or given up; returns how many joined.
    pub async fn settled(&self, n: usize) -> u64 {
        use Relaxed;
        while (self.joined.load(Relaxed) + self.failed.load(Relaxed)) < n as u64 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.joined.load(Relaxed)
    }
}

/// What one subscriber ends with.
pub struct Outcome {
    /// What it received.
    pub tally: Tally,
    /// Why it could not join, if it could not.
    pub failed: Option<OpenError>,
    /// How its socket ended before the run stopped it (`closed 1013: …`), if it did.
    pub ended: Option<String>,
}

/// What the subscribers of one run share.
pub struct Crowd {
    /// Where they connect.
    pub target: Target,
    /// How many there are (their source addresses depend on it).
    pub n: usize,
    /// Connects at most this many at a time.
    pub gate: Semaphore,
    /// Producers whose sequence numbers they count.
    pub producers: usize,
    /// The instant the producers' stamps count from.
    pub clock: Instant,
    /// Their counters.
    pub progress: Progress,
    /// Turns true when the run is over.
    pub stop: watch::Receiver<bool>,
}

impl Crowd {
    /// `n` subscribers of `target`, connecting `limit` at a time.
    pub fn new(
        target: Target,
        n: usize,
        limit: usize,
        producers: usize,
        clock: Instant,
        stop: watch::Receiver<bool>,
    ) -> Arc<Crowd> {
        Arc::new(Crowd {
            target,
            n,
            gate: Semaphore::new(limit.max(1)),
            producers,
            clock,
            progress: Progress::new(n),
            stop,
        })
    }

    /// Spawns every subscriber; returns their tasks.
    pub fn spawn(self: &Arc<Crowd>) -> Vec<tokio::task::JoinHandle<Outcome>> {
        (0..self.n)
            .map(|i| tokio::spawn(subscribe(i, self.clone())))
            .collect()
    }

    /// Opens and joins subscriber `i` through the gate (60 s at most).
    pub async fn join(&self, i: usize, tally: &mut Tally) -> Result<super::ws::Ws, OpenError> {
        let _permit = self.gate.acquire().await.expect("the gate stays open");
        let source = source_for(i, self.n);
        let joined = open_and_join(
            &self.target,
            source,
            None,
            Duration::from_secs(60),
            tally,
            self.clock,
        )
        .await;
        match joined {
            Ok(_) => self.progress.joined.fetch_add(1, Relaxed),
            Err(_) => self.progress.failed.fetch_add(1, Relaxed),
        };
        joined
    }
}

/// Subscriber `i`: joins through the gate, then counts frames until the run stops or the socket
/// ends.
pub async fn subscribe(i: usize, crowd: Arc<Crowd>) -> Outcome {
    let mut stop = crowd.stop.clone();
    let mut tally = Tally::new(crowd.producers);
    let mut ws = match crowd.join(i, &mut tally).await {
        Ok(ws) => ws,
        Err(e) => {
            return Outcome {
                tally,
                failed: Some(e),
                ended: None,
            }
        }
    };
    let mut ended = None;
    loop {
        let m = tokio::select! {
            m = ws.next() => m,
            _ = stop.changed() => {
                // A clean close, so that the gateway's log shows no resets.
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                break;
            }
        };
        match m {
            Some(Ok(Message::Text(f))) => {
                if tally.frame(&f, crowd.clock) == Kind::Chat {
                    crowd.progress.received_one(i);
                }
            }
            Some(Ok(Message::Close(c))) => {
                ended = Some(match c {
                    Some(c) => format!("closed {}: {}", u16::from(c.code), c.reason),
                    None => "closed without a code".into(),
                });
                break;
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                ended = Some(format!("socket error: {e}"));
                break;
            }
            None => {
                ended = Some("connection ended without a close frame".into());
                break;
            }
        }
    }
    Outcome {
        tally,
        failed: None,
        ended,
    }
}

/// Counts of `OpenError::kind`s, most frequent first, as `kind ×n, …`.
pub fn error_summary<'a>(errors: impl IntoIterator<Item = &'a OpenError>) -> String {
    let mut by: std::collections::HashMap<String, u64> = Default::default();
    for e in errors {
        *by.entry(e.kind()).or_default() += 1;
    }
    let mut v: Vec<_> = by.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    if v.is_empty() {
        return "none".into();
    }
    v.iter()
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
