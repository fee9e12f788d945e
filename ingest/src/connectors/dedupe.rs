//! A bounded set of recently seen ids: an id seen again within `ttl` is a duplicate (a
//! reconnect's overlap, a backfill, a RECONNECT's second connection). Memory is bounded by
//! `capacity`; the oldest ids go first.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use uuid::Uuid;

/// Default capacity: well above 10 minutes of a busy channel set (1,000 msg/s would need 600k; a
/// busy real chat is a few hundred messages a minute).
pub const DEFAULT_CAPACITY: usize = 200_000;
/// Default time an id is remembered.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

/// The bounded id set.
#[derive(Debug)]
pub struct Dedupe {
    set: HashSet<Uuid>,
    order: VecDeque<(Instant, Uuid)>,
    capacity: usize,
    ttl: Duration,
}

impl Default for Dedupe {
    fn default() -> Self {
        Dedupe::new(DEFAULT_CAPACITY, DEFAULT_TTL)
    }
}

impl Dedupe {
    /// A set of at most `capacity` ids, each kept at most `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Dedupe {
        Dedupe {
            set: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// Records `id`; returns false when it was already there (a duplicate).
    pub fn insert(&mut self, id: Uuid) -> bool {
        let now = Instant::now();
        while let Some(&(at, old)) = self.order.front() {
            if self.order.len() >= self.capacity || now.duration_since(at) > self.ttl {
                self.order.pop_front();
                self.set.remove(&old);
            } else {
                break;
            }
        }
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back((now, id));
        true
    }

    /// Ids remembered.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_seen_and_memory_is_bounded() {
        let mut d = Dedupe::new(3, Duration::from_secs(60));
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
        assert!(d.insert(ids[0]));
        assert!(!d.insert(ids[0]));
        for id in &ids[1..] {
            assert!(d.insert(*id));
        }
        assert!(d.len() <= 3);
        assert!(d.insert(ids[0]), "the oldest id was forgotten at capacity");
    }

    #[test]
    fn ids_expire() {
        let mut d = Dedupe::new(10, Duration::from_millis(1));
        let id = Uuid::new_v4();
        d.insert(id);
        std::thread::sleep(Duration::from_millis(5));
        assert!(d.insert(id));
    }
}
