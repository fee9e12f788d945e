//! The connector's intervals and limits, and the shared JOIN rate limiter. The defaults are
//! Twitch's; tests shorten them in-process ([`Timing`] passed to `run_with`) or, for a real
//! `ingest` process, with test-only variables `CROSSCHAT_TWITCH_TEST_<NAME>_MS`.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Intervals and limits of the Twitch connector.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Silence (no line at all) before we send our own PING. Twitch: 60 s.
    pub silence: Duration,
    /// How long we wait for the PONG before reconnecting. 10 s.
    pub pong_timeout: Duration,
    /// How long a JOIN may stay unconfirmed (no echo, no ROOMSTATE) before it is sent again.
    pub join_timeout: Duration,
    /// JOINs sent for one channel before it is `error`.
    pub join_tries: u32,
    /// The JOIN rate window (20 JOINs per 10 s for a regular account).
    pub join_window: Duration,
    /// JOINs allowed per window, across all connections.
    pub joins_per_window: usize,
    /// Channels per connection (another connection is opened beyond).
    pub channels_per_connection: usize,
    /// Timeout of one connection attempt (TCP + TLS + WebSocket handshake).
    pub connect_timeout: Duration,
    /// First reconnect delay (doubling to `backoff_max`).
    pub backoff_base: Duration,
    /// Largest reconnect delay.
    pub backoff_max: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            silence: Duration::from_secs(60),
            pong_timeout: Duration::from_secs(10),
            join_timeout: Duration::from_secs(10),
            join_tries: 3,
            join_window: Duration::from_secs(10),
            joins_per_window: 20,
            channels_per_connection: 90,
            connect_timeout: Duration::from_secs(10),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }
}

impl Timing {
    /// The defaults, with test-only overrides from the environment:
    /// `CROSSCHAT_TWITCH_TEST_SILENCE_MS`, `…_PONG_TIMEOUT_MS`, `…_JOIN_TIMEOUT_MS`,
    /// `…_JOIN_WINDOW_MS`, `…_CONNECT_TIMEOUT_MS`, `…_BACKOFF_BASE_MS`. Not for production use.
    pub fn from_env() -> Timing {
        let mut t = Timing::default();
        let ms = |name: &str| -> Option<Duration> {
            std::env::var(format!("CROSSCHAT_TWITCH_TEST_{name}_MS"))
                .ok()?
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|v| *v > 0)
                .map(Duration::from_millis)
        };
        if let Some(d) = ms("SILENCE") {
            t.silence = d;
        }
        if let Some(d) = ms("PONG_TIMEOUT") {
            t.pong_timeout = d;
        }
        if let Some(d) = ms("JOIN_TIMEOUT") {
            t.join_timeout = d;
        }
        if let Some(d) = ms("JOIN_WINDOW") {
            t.join_window = d;
        }
        if let Some(d) = ms("CONNECT_TIMEOUT") {
            t.connect_timeout = d;
        }
        if let Some(d) = ms("BACKOFF_BASE") {
            t.backoff_base = d;
            t.backoff_max = t.backoff_max.max(d);
        }
        t
    }

    /// How often a connection checks its watchdogs: a tenth of the shortest deadline, 10 ms–1 s.
    pub fn tick(&self) -> Duration {
        (self.silence.min(self.pong_timeout).min(self.join_timeout) / 10)
            .clamp(Duration::from_millis(10), Duration::from_secs(1))
    }
}

/// At most `max` JOINs in any `window`, shared by every connection of the process (Twitch counts
/// them per account — for anonymous logins, per address).
#[derive(Debug)]
pub struct JoinLimiter {
    window: Duration,
    max: usize,
    sent: Mutex<VecDeque<Instant>>,
}

impl JoinLimiter {
    /// A limiter of `max` per `window`.
    pub fn new(max: usize, window: Duration) -> JoinLimiter {
        JoinLimiter {
            window,
            max: max.max(1),
            sent: Mutex::new(VecDeque::new()),
        }
    }

    /// Takes a JOIN slot now, or says when one frees up.
    pub fn try_acquire(&self) -> Result<(), Instant> {
        let now = Instant::now();
        let mut q = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
        if q.len() < self.max {
            q.push_back(now);
            Ok(())
        } else {
            Err(q[0] + self.window)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_allows_max_per_window() {
        let l = JoinLimiter::new(3, Duration::from_millis(50));
        for _ in 0..3 {
            l.try_acquire().unwrap();
        }
        let at = l.try_acquire().unwrap_err();
        assert!(at > Instant::now());
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        assert!(l.try_acquire().is_ok());
    }
}
