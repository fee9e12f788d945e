//! Login throttling: failures counted per username (case-insensitive) and per client address in a
//! bounded in-memory map, fixed 15-minute windows.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins allowed per username in one window.
pub const MAX_FAILURES_PER_USER: u32 = 5;
/// Failed logins allowed per client address in one window (higher: several people may share one).
pub const MAX_FAILURES_PER_ADDR: u32 = 30;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Keys remembered at most; beyond this, expired and then the oldest entries are dropped, so a
/// flood of made-up usernames cannot grow memory.
pub const MAX_KEYS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    since: Instant,
}

/// What to throttle on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// A lower-cased username.
    User(String),
    /// A client address (IP), or `"unknown"`.
    Addr(String),
}

impl Key {
    fn limit(&self) -> u32 {
        match self {
            Key::User(_) => MAX_FAILURES_PER_USER,
            Key::Addr(_) => MAX_FAILURES_PER_ADDR,
        }
    }
}

/// The throttle.
#[derive(Default)]
pub struct LoginThrottle {
    map: Mutex<HashMap<Key, Entry>>,
}

impl LoginThrottle {
    /// A new, empty throttle.
    pub fn new() -> LoginThrottle {
        LoginThrottle::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(retry_after)` when any key is over its limit.
    pub fn check(&self, keys: &[Key]) -> Result<(), Duration> {
        let now = Instant::now();
        let map = self.lock();
        let mut wait = Duration::ZERO;
        for k in keys {
            if let Some(e) = map.get(k) {
                let age = now.duration_since(e.since);
                if age < WINDOW && e.failures >= k.limit() {
                    wait = wait.max(WINDOW - age);
                }
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait)
        }
    }

    /// Counts one failure against every key.
    pub fn fail(&self, keys: &[Key]) {
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() + keys.len() > MAX_KEYS {
            map.retain(|_, e| now.duration_since(e.since) < WINDOW);
            while map.len() + keys.len() > MAX_KEYS {
                let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, e)| e.since)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                map.remove(&oldest);
            }
        }
        for k in keys {
            let e = map.entry(k.clone()).or_insert(Entry {
                failures: 0,
                since: now,
            });
            if now.duration_since(e.since) >= WINDOW {
                *e = Entry {
                    failures: 0,
                    since: now,
                };
            }
            e.failures += 1;
        }
    }

    /// Forgets a key's failures (a successful login clears its username).
    pub fn clear(&self, key: &Key) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_the_username_only() {
        let t = LoginThrottle::new();
        let ann = [Key::User("ann".into()), Key::Addr("1.2.3.4".into())];
        for _ in 0..MAX_FAILURES_PER_USER {
            assert!(t.check(&ann).is_ok());
            t.fail(&ann);
        }
        let wait = t.check(&ann).unwrap_err();
        assert!(wait > Duration::from_secs(14 * 60));
        assert!(t
            .check(&[Key::User("bob".into()), Key::Addr("1.2.3.4".into())])
            .is_ok());
        t.clear(&ann[0]);
        assert!(t.check(&ann).is_ok());
    }

    #[test]
    fn the_map_stays_bounded() {
        let t = LoginThrottle::new();
        for i in 0..(MAX_KEYS + 50) {
            t.fail(&[Key::User(format!("u{i}"))]);
        }
        assert!(t.lock().len() <= MAX_KEYS);
    }
}
