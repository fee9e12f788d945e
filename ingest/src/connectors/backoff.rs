//! Reconnect delays: 1 s doubling to 60 s, with ±25 % jitter so that many connections dropped at
//! once do not come back at once, reset once a connection has stayed healthy for a minute.

use std::time::{Duration, Instant};

use rand::RngExt;

/// First delay.
pub const BASE: Duration = Duration::from_secs(1);
/// Largest delay.
pub const MAX: Duration = Duration::from_secs(60);
/// A connection healthy this long resets the delay.
pub const HEALTHY: Duration = Duration::from_secs(60);

/// The reconnect schedule of one connection.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
    connected_at: Option<Instant>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(BASE, MAX)
    }
}

impl Backoff {
    /// A schedule from `base` doubling to `max`.
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff {
            base,
            max,
            attempt: 0,
            connected_at: None,
        }
    }

    /// Failed attempts since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Call when a connection is up (joined): starts the healthy-minute clock.
    pub fn connected(&mut self) {
        self.connected_at = Some(Instant::now());
    }

    /// The delay before the next attempt, without jitter (for sentences and tests).
    pub fn nominal(&self) -> Duration {
        let shift = self.attempt.min(16);
        self.base.saturating_mul(1u32 << shift).min(self.max)
    }

    /// Call when a connection failed or dropped: returns how long to wait before the next try.
    pub fn next_delay(&mut self) -> Duration {
        if let Some(at) = self.connected_at.take() {
            if at.elapsed() >= HEALTHY {
                self.attempt = 0;
            }
        }
        let nominal = self.nominal();
        self.attempt = self.attempt.saturating_add(1);
        let ms = nominal.as_millis() as u64;
        let jitter = rand::rng().random_range(0..=ms / 2);
        Duration::from_millis(ms - ms / 4 + jitter).min(self.max + self.max / 4)
    }

    /// Forgets failures (e.g. after a clean, deliberate reconnect).
    pub fn reset(&mut self) {
        self.attempt = 0;
        self.connected_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_with_bounded_jitter() {
        let mut b = Backoff::default();
        let mut nominal = Vec::new();
        for _ in 0..9 {
            let n = b.nominal();
            let d = b.next_delay();
            assert!(d >= n - n / 4 && d <= n + n / 4, "{d:?} vs {n:?}");
            nominal.push(n.as_secs());
        }
        assert_eq!(nominal, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        b.reset();
        assert_eq!(b.nominal(), BASE);
    }

    #[test]
    fn a_short_connection_does_not_reset() {
        let mut b = Backoff::default();
        b.next_delay();
        b.next_delay();
        b.connected();
        b.next_delay();
        assert_eq!(b.attempt(), 3);
    }
}
