//! The API key's daily quota: units spent today, the reset at midnight Pacific time, and how fast
//! the chats may be polled so that what is left lasts a span: `--youtube-quota-hours` (6 h by
//! default), or until the reset when that comes sooner.
//!
//! Why a rolling span and not the whole day: a stream is a few hours, not 24. Spreading 10,000
//! units over the rest of the Pacific day polls a chat every ~43 s at the start of that day — a
//! chat nobody can follow — while most of the budget is never used. Spread over 6 h, the first
//! polls are every ~11 s; as the units dwindle, the interval grows (what is left always lasts 6 h
//! more), so the chat slows down instead of stopping before the reset.
//!
//! Pacific time is computed without a time-zone database: US rules (daylight time from the second
//! Sunday of March 02:00 to the first Sunday of November 02:00) are all Google's reset needs.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::connectors::civil_time::{civil_from_days, days_from_civil};

/// Units one call costs (the Data API's published costs).
pub mod cost {
    /// `videos.list`.
    pub const VIDEOS: u64 = 1;
    /// `channels.list`.
    pub const CHANNELS: u64 = 1;
    /// `search.list` (legacy table: 100 units; about 100 calls a day either way).
    pub const SEARCH: u64 = 100;
    /// `liveChatMessages.list`.
    pub const CHAT: u64 = 5;
}

/// Wall-clock time in ms since the Unix epoch; injectable so tests can stand just before a reset.
pub trait Clock: Send + Sync {
    /// Now, ms since the epoch (UTC).
    fn now_ms(&self) -> u64;
}

/// The system clock, optionally shifted (a test-only offset).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock {
    /// Added to the system time, ms (may be negative).
    pub offset_ms: i64,
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        (shm_layout::now_ms() as i64)
            .saturating_add(self.offset_ms)
            .max(0) as u64
    }
}

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// Day number of the `n`-th Sunday (1-based) of a month.
fn nth_sunday(y: i64, m: u32, n: i64) -> i64 {
    let first = days_from_civil(y, m, 1);
    // 1970-01-01 was a Thursday: weekday 0 = Sunday ⇒ (days + 4) mod 7.
    let wd = (first + 4).rem_euclid(7);
    first + (7 - wd) % 7 + 7 * (n - 1)
}

/// The UTC instants (ms) daylight time starts and ends in `year`, Pacific.
fn dst_bounds_ms(year: i64) -> (i64, i64) {
    // 02:00 PST = 10:00 UTC; 02:00 PDT = 09:00 UTC.
    let start = nth_sunday(year, 3, 2) * DAY_MS + 10 * HOUR_MS;
    let end = nth_sunday(year, 11, 1) * DAY_MS + 9 * HOUR_MS;
    (start, end)
}

/// Pacific time's offset from UTC at a UTC instant: −7 h (PDT) or −8 h (PST), in ms.
pub fn pacific_offset_ms(utc_ms: u64) -> i64 {
    let t = utc_ms as i64;
    let (year, _, _) = civil_from_days(t.div_euclid(DAY_MS));
    let (start, end) = dst_bounds_ms(year);
    if (start..end).contains(&t) {
        -7 * HOUR_MS
    } else {
        -8 * HOUR_MS
    }
}

/// The UTC instant (ms) of the next midnight in Pacific time after `utc_ms`.
pub fn next_pacific_midnight_ms(utc_ms: u64) -> u64 {
    let local = utc_ms as i64 + pacific_offset_ms(utc_ms);
    let next_day = local.div_euclid(DAY_MS) + 1;
    // Transitions happen at 02:00 local, so the offset at that midnight is the one in force the
    // evening before it: 02:00 UTC is 18:00/19:00 Pacific of the previous day.
    let offset = pacific_offset_ms((next_day * DAY_MS + 2 * HOUR_MS) as u64);
    (next_day * DAY_MS - offset) as u64
}

/// `HH:MM` of a UTC instant.
pub fn utc_hh_mm(utc_ms: u64) -> String {
    let m = (utc_ms / 60_000) % 1440;
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// The daily budget of one API key, shared by every channel of the process.
#[derive(Clone)]
pub struct Quota {
    inner: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
    /// Chats being polled now (the budget is shared between them).
    active: Arc<AtomicUsize>,
}

struct State {
    daily: u64,
    /// The least time the units left must last (the reset ends it sooner).
    span: Duration,
    used: u64,
    resets_at: u64,
}

/// Why a call may not be made now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted {
    /// When the quota resets (UTC ms).
    pub resets_at: u64,
}

impl Quota {
    /// A fresh budget of `daily` units, reset by `clock`, paced to last at least `span`.
    pub fn new(daily: u64, span: Duration, clock: Arc<dyn Clock>) -> Quota {
        let resets_at = next_pacific_midnight_ms(clock.now_ms());
        Quota {
            inner: Arc::new(Mutex::new(State {
                daily,
                span,
                used: 0,
                resets_at,
            })),
            clock,
            active: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Now, by the quota's clock.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.clock.now_ms();
        if now >= s.resets_at {
            s.used = 0;
            s.resets_at = next_pacific_midnight_ms(now);
        }
        s
    }

    /// Takes `units` for one call, or says when the budget allows calls again.
    pub fn spend(&self, units: u64) -> Result<(), Exhausted> {
        let mut s = self.state();
        if s.used + units > s.daily {
            return Err(Exhausted {
                resets_at: s.resets_at,
            });
        }
        s.used += units;
        Ok(())
    }

    /// Google said the quota is used up: no calls until the reset.
    pub fn exhaust(&self) -> Exhausted {
        let mut s = self.state();
        s.used = s.daily;
        Exhausted {
            resets_at: s.resets_at,
        }
    }

    /// Takes over a count kept from an earlier run (see [`super::quota_file`]): `used` units,
    /// unless their reset at `resets_at` has passed. Never lowers the count.
    pub fn restore(&self, used: u64, resets_at: u64) {
        let mut s = self.state();
        if resets_at > self.clock.now_ms() {
            s.used = s.used.max(used.min(s.daily));
        }
    }

    /// (units used today, units left, UTC ms of the reset).
    pub fn usage(&self) -> (u64, u64, u64) {
        let s = self.state();
        (s.used, s.daily.saturating_sub(s.used), s.resets_at)
    }

    /// Registers one chat being polled until the returned guard drops.
    pub fn poller(&self) -> ActivePoller {
        self.active.fetch_add(1, Relaxed);
        ActivePoller(self.active.clone())
    }

    /// The poll interval of one chat: at least `base`, and long enough that the units left,
    /// shared by every chat polled now, last the span (or until the reset, when sooner).
    pub fn pace(&self, base: Duration) -> Pace {
        let (left, until_reset, span) = {
            let s = self.state();
            let now = self.clock.now_ms();
            (
                s.daily.saturating_sub(s.used),
                s.resets_at.saturating_sub(now),
                s.span.as_millis() as u64,
            )
        };
        let chats = self.active.load(Relaxed).max(1) as u64;
        let calls_left = left / cost::CHAT;
        let until = if until_reset <= span {
            PaceLimit::Reset
        } else {
            PaceLimit::Span(Duration::from_millis(span))
        };
        let over = until_reset.min(span);
        let Some(wait) = over.saturating_mul(chats).checked_div(calls_left) else {
            // Nothing left: the next call can only be after the reset.
            return Pace {
                wait: base.max(Duration::from_millis(until_reset)),
                slowed: Some(PaceLimit::Reset),
            };
        };
        let wait = Duration::from_millis(wait);
        Pace {
            wait: base.max(wait),
            slowed: (wait > base).then_some(until),
        }
    }
}

/// How long to wait before the next poll of a chat, and why it is slower than asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// The wait.
    pub wait: Duration,
    /// Set when the quota, not the platform or the floor, set the wait.
    pub slowed: Option<PaceLimit>,
}

/// What the units left are spread over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaceLimit {
    /// The rest of the Pacific day.
    Reset,
    /// The span (`--youtube-quota-hours`), which ends before the reset.
    Span(Duration),
}

impl Pace {
    /// "every 11 s to make the quota last 6 h more", "every 5 s".
    pub fn sentence(&self, human: impl Fn(Duration) -> String) -> String {
        match self.slowed {
            None => format!("every {}", human(self.wait)),
            Some(PaceLimit::Reset) => format!(
                "every {} to make the quota last until midnight Pacific",
                human(self.wait)
            ),
            Some(PaceLimit::Span(d)) => format!(
                "every {} to make the quota last {} more",
                human(self.wait),
                human(d)
            ),
        }
    }
}

/// Counts a chat as polled while alive.
pub struct ActivePoller(Arc<AtomicUsize>);

impl Drop for ActivePoller {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    struct Fixed(AtomicU64);
    impl Clock for Fixed {
        fn now_ms(&self) -> u64 {
            self.0.load(Relaxed)
        }
    }

    fn utc(y: i64, m: u32, d: u32, h: i64, min: i64) -> u64 {
        (days_from_civil(y, m, d) * DAY_MS + h * HOUR_MS + min * 60_000) as u64
    }

    #[test]
    fn pacific_midnight_follows_daylight_time() {
        // Winter: midnight PST = 08:00 UTC.
        assert_eq!(
            next_pacific_midnight_ms(utc(2026, 1, 15, 12, 0)),
            utc(2026, 1, 16, 8, 0)
        );
        // Summer: midnight PDT = 07:00 UTC.
        assert_eq!(
            next_pacific_midnight_ms(utc(2026, 7, 1, 6, 59)),
            utc(2026, 7, 1, 7, 0)
        );
        assert_eq!(
            next_pacific_midnight_ms(utc(2026, 7, 1, 7, 0)),
            utc(2026, 7, 2, 7, 0)
        );
        // 2026: DST starts Sun 8 March, ends Sun 1 November.
        assert_eq!(pacific_offset_ms(utc(2026, 3, 8, 9, 59)), -8 * HOUR_MS);
        assert_eq!(pacific_offset_ms(utc(2026, 3, 8, 10, 0)), -7 * HOUR_MS);
        assert_eq!(pacific_offset_ms(utc(2026, 11, 1, 8, 59)), -7 * HOUR_MS);
        assert_eq!(pacific_offset_ms(utc(2026, 11, 1, 9, 0)), -8 * HOUR_MS);
        // The midnight that starts the switch day is still standard / daylight time.
        assert_eq!(
            next_pacific_midnight_ms(utc(2026, 3, 7, 12, 0)),
            utc(2026, 3, 8, 8, 0)
        );
        assert_eq!(
            next_pacific_midnight_ms(utc(2026, 3, 8, 12, 0)),
            utc(2026, 3, 9, 7, 0)
        );
        assert_eq!(
            next_pacific_midnight_ms(utc(2026, 10, 31, 12, 0)),
            utc(2026, 11, 1, 7, 0)
        );
        assert_eq!(
            next_pacific_midnight_ms(utc(2026, 11, 1, 12, 0)),
            utc(2026, 11, 2, 8, 0)
        );
        assert_eq!(utc_hh_mm(utc(2026, 11, 2, 8, 0)), "08:00");
    }

    const DAY: Duration = Duration::from_secs(24 * 3600);

    #[test]
    fn spends_resets_and_paces() {
        let clock = Arc::new(Fixed(AtomicU64::new(utc(2026, 1, 15, 8, 0))));
        let q = Quota::new(100, DAY, clock.clone());
        assert_eq!(q.usage().2, utc(2026, 1, 16, 8, 0));
        for _ in 0..20 {
            q.spend(cost::CHAT).unwrap();
        }
        assert_eq!(
            q.spend(1),
            Err(Exhausted {
                resets_at: utc(2026, 1, 16, 8, 0)
            })
        );
        clock.0.store(utc(2026, 1, 16, 8, 0), Relaxed);
        assert_eq!(q.usage(), (0, 100, utc(2026, 1, 17, 8, 0)));
        // 100 units = 20 lists for 24 h: one every 72 min, far slower than 5 s.
        let _p = q.poller();
        let five = Duration::from_secs(5);
        assert_eq!(q.pace(five).wait, Duration::from_secs(72 * 60));
        assert_eq!(q.pace(five).slowed, Some(PaceLimit::Reset));
        let _p2 = q.poller();
        assert_eq!(q.pace(five).wait, Duration::from_secs(144 * 60));
        // A day's budget at 10,000 units spread over the whole day: 43.2 s at its start, 5 s
        // near its end.
        let q = Quota::new(10_000, DAY, clock.clone());
        assert_eq!(q.pace(five).wait, Duration::from_millis(43_200));
        // Over the default 6 h span: 10.8 s, and the sentence says why.
        let q6 = Quota::new(10_000, Duration::from_secs(6 * 3600), clock.clone());
        let p = q6.pace(five);
        assert_eq!(p.wait, Duration::from_millis(10_800));
        assert_eq!(
            p.sentence(|d| format!("{} s", d.as_secs())),
            "every 10 s to make the quota last 21600 s more"
        );
        // Half the units gone: the interval doubles (what is left still lasts 6 h).
        for _ in 0..1000 {
            q6.spend(cost::CHAT).unwrap();
        }
        assert_eq!(q6.pace(five).wait, Duration::from_millis(21_600));
        // 2 h before the reset, the reset ends the span: 5,000 units over 2 h is 7.2 s.
        clock.0.store(utc(2026, 1, 17, 6, 0), Relaxed);
        let p = q6.pace(five);
        assert_eq!(
            (p.wait, p.slowed),
            (Duration::from_millis(7_200), Some(PaceLimit::Reset))
        );
        assert_eq!(
            p.sentence(|d| format!("{} ms", d.as_millis())),
            "every 7200 ms to make the quota last until midnight Pacific"
        );
        // The full day's budget 2 h before the reset: the 5 s floor, not slowed.
        assert_eq!(q.pace(five).slowed, None);
        assert_eq!(q.pace(five).wait, five);
        // A fast platform interval is still floored by the base.
        assert_eq!(
            q.pace(Duration::from_secs(30)).wait,
            Duration::from_secs(30)
        );
        q.exhaust();
        assert_eq!(q.usage().1, 0);
        assert_eq!(q.pace(five).wait, Duration::from_secs(2 * 3600));
    }
}
