//! Counting replies: per connection (for `--stdin`'s summary) and per process (for the periodic
//! refusal warning, so that a flood of bad input costs one log line a second, not one a message).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::normalize::Code;

/// Replies given on one connection (or on stdin).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Messages written into the ring.
    pub accepted: u64,
    /// Refusals, indexed by [`Code::index`].
    pub refused: [u64; 4],
}

impl Tally {
    /// All refusals.
    pub fn refused_total(&self) -> u64 {
        self.refused.iter().sum()
    }

    /// Adds another tally.
    pub fn add(&mut self, other: &Tally) {
        self.accepted += other.accepted;
        for (a, b) in self.refused.iter_mut().zip(other.refused) {
            *a += b;
        }
    }

    /// `accepted N, refused M (invalid a, too_large b, queue_full c, unavailable d)`.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = Code::ALL
            .iter()
            .map(|c| format!("{} {}", c.as_str(), self.refused[c.index()]))
            .collect();
        format!(
            "accepted {}, refused {} ({})",
            self.accepted,
            self.refused_total(),
            parts.join(", ")
        )
    }
}

/// Process-wide reply counters, shared by every connection.
#[derive(Debug, Default)]
pub struct Stats {
    accepted: AtomicU64,
    refused: [AtomicU64; 4],
}

impl Stats {
    /// Adds one connection's replies of one batch. Relaxed: plain statistics.
    pub fn record(&self, t: &Tally) {
        if t.accepted != 0 {
            self.accepted.fetch_add(t.accepted, Relaxed);
        }
        for (a, &b) in self.refused.iter().zip(&t.refused) {
            if b != 0 {
                a.fetch_add(b, Relaxed);
            }
        }
    }

    /// The totals so far.
    pub fn totals(&self) -> Tally {
        Tally {
            accepted: self.accepted.load(Relaxed),
            refused: std::array::from_fn(|i| self.refused[i].load(Relaxed)),
        }
    }

    /// Every `period`, logs one warning if anything was refused during it (with the counts per
    /// code). Runs until the task is dropped.
    pub async fn report_refusals(&self, period: Duration) {
        let mut last = self.totals();
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let now = self.totals();
            let d: [u64; 4] = std::array::from_fn(|i| now.refused[i] - last.refused[i]);
            let refused: u64 = d.iter().sum();
            if refused > 0 {
                tracing::warn!(
                    refused,
                    accepted = now.accepted - last.accepted,
                    invalid = d[Code::Invalid.index()],
                    too_large = d[Code::TooLarge.index()],
                    queue_full = d[Code::QueueFull.index()],
                    unavailable = d[Code::Unavailable.index()],
                    period_ms = period.as_millis() as u64,
                    "refused {refused} requests in the last {} ms",
                    period.as_millis()
                );
            }
            last = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lists_every_code() {
        let mut t = Tally {
            accepted: 3,
            refused: [1, 0, 2, 0],
        };
        t.add(&Tally {
            accepted: 1,
            refused: [0, 1, 0, 0],
        });
        assert_eq!(
            t.summary(),
            "accepted 4, refused 4 (invalid 1, too_large 1, queue_full 2, unavailable 0)"
        );
        let s = Stats::default();
        s.record(&t);
        s.record(&t);
        assert_eq!(s.totals().accepted, 8);
        assert_eq!(s.totals().refused_total(), 8);
    }
}
