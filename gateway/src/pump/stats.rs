//! What the pump has done since start: counters for `/metrics`, and the persisting failure
//! `/readyz` and the logs report.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What the pump has done since start (for `/metrics` and logs).
#[derive(Debug, Default)]
pub struct PumpStats {
    /// Cycles that found messages.
    pub batches: AtomicU64,
    /// Messages newly written to a log.
    pub persisted: AtomicU64,
    /// Messages met again after a crash and skipped.
    pub duplicates: AtomicU64,
    /// Messages for streamers without an account (not persisted).
    pub unknown_streamer: AtomicU64,
    /// Slots whose payload did not parse (skipped).
    pub bad_payloads: AtomicU64,
    /// Cycles whose persistence failed (retried, not committed).
    pub persist_errors: AtomicU64,
    /// Size of the last non-empty batch.
    pub last_batch: AtomicU64,
    /// Set while persisting fails (a full or read-only disk): what `/readyz` says and the logs
    /// repeat once a minute.
    pub failing: std::sync::Mutex<Option<Failing>>,
}

/// The pump cannot persist: since when, why, and when that was last logged.
#[derive(Debug, Clone)]
pub struct Failing {
    /// The first failure of this run of failures.
    pub since: Instant,
    /// A sentence for operators: "the data directory is full", …
    pub problem: String,
    /// Failed attempts so far.
    pub attempts: u64,
    last_logged: Instant,
}

/// How often a persisting failure is logged again while it lasts.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(60);

impl PumpStats {
    /// What keeps the pump from persisting, if anything.
    pub fn problem(&self) -> Option<String> {
        self.failing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|f| f.problem.clone())
    }

    /// Records a failed attempt; logs the first one at once and then once a minute.
    pub(super) fn failed(&self, e: &std::io::Error, retry_in: Duration) {
        self.persist_errors.fetch_add(1, Ordering::Relaxed);
        let problem = crate::store::describe_write_error(e);
        let now = Instant::now();
        let mut failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        let f = failing.get_or_insert_with(|| Failing {
            since: now,
            problem: problem.clone(),
            attempts: 0,
            last_logged: now,
        });
        f.attempts += 1;
        let changed = f.problem != problem;
        f.problem = problem;
        // The first failure, a new problem, and then once a minute.
        if f.attempts == 1 || changed || now.duration_since(f.last_logged) >= FAILURE_LOG_EVERY {
            f.last_logged = now;
            tracing::error!(
                problem = %f.problem,
                error = %e,
                failing_for_s = now.duration_since(f.since).as_secs(),
                attempts = f.attempts,
                retry_in_ms = retry_in.as_millis() as u64,
                "the pump cannot persist chat; messages wait in the ring (producers get queue_full once it is full) and nothing is lost; logged again every minute while it lasts"
            );
        }
    }

    /// Records a successful cycle; logs the recovery once.
    pub(super) fn persisted_again(&self) {
        let mut failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = failing.take() {
            tracing::warn!(
                problem = %f.problem,
                failed_for_s = f.since.elapsed().as_secs(),
                attempts = f.attempts,
                "the pump persists again; everything that waited in the ring is being written"
            );
        }
    }
}
