//! WebSocket rooms: `streamer:{id}` → the connections that joined it.
//!
//! Every connection has a bounded outbound queue ([`OUTBOUND_QUEUE`] frames). Publishing never
//! blocks and never grows memory: a subscriber whose queue is full is removed from the room and
//! told (through its `kick`) to close with 1013 — it can rejoin with `since` and miss nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, Notify};
use uuid::Uuid;

/// Frames queued per connection before it counts as too slow. The queue holds pointers to frames
/// shared by the room, so its memory is bounded by ~8192 × 500 B ≈ 4 MiB even when the frames are
/// the only copies left. That is 8 s behind at 1,000 msg/s and ~80 ms at 100,000 msg/s: with 1024
/// a scheduling or disk hiccup of ~10 ms at high rates cut off subscribers that were keeping up.
pub const OUTBOUND_QUEUE: usize = 8192;

/// A frame on its way to a browser: serialised once, shared by every subscriber of the room.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A chat message (its id lets a joining connection drop what its replay already sent).
    Chat {
        /// The message id.
        id: Uuid,
        /// `{"type":"chat:message","message":{…}}`.
        frame: Arc<str>,
    },
    /// Any other frame (stream started/ended).
    Event(Arc<str>),
}

/// One joined connection.
struct Subscriber {
    id: u64,
    tx: mpsc::Sender<Outbound>,
    kick: Arc<Notify>,
}

/// All rooms.
#[derive(Default)]
pub struct Rooms {
    rooms: Mutex<HashMap<Uuid, Vec<Subscriber>>>,
    next_id: AtomicU64,
    /// Subscribers cut off for being too slow, since start.
    pub kicked: AtomicU64,
}

impl Rooms {
    /// No rooms yet.
    pub fn new() -> Rooms {
        Rooms::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Vec<Subscriber>>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a connection to a streamer's room; returns its subscription id.
    pub fn join(&self, streamer: Uuid, tx: mpsc::Sender<Outbound>, kick: Arc<Notify>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock()
            .entry(streamer)
            .or_default()
            .push(Subscriber { id, tx, kick });
        id
    }

    /// Removes a subscription (no-op when already gone).
    pub fn leave(&self, streamer: Uuid, sub: u64) {
        let mut rooms = self.lock();
        if let Some(subs) = rooms.get_mut(&streamer) {
            subs.retain(|s| s.id != sub);
            if subs.is_empty() {
                rooms.remove(&streamer);
            }
        }
    }

    /// Queues frames for every subscriber of a room, without blocking. A subscriber whose queue
    /// cannot take them all is kicked (removed and told to close with 1013).
    pub fn publish(&self, streamer: Uuid, frames: &[Outbound]) {
        if frames.is_empty() {
            return;
        }
        let mut rooms = self.lock();
        let Some(subs) = rooms.get_mut(&streamer) else {
            return;
        };
        subs.retain(|s| {
            for f in frames {
                match s.tx.try_send(f.clone()) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        self.kicked.fetch_add(1, Ordering::Relaxed);
                        s.kick.notify_one();
                        return false;
                    }
                    // The connection is gone; its cleanup will find nothing to remove.
                    Err(mpsc::error::TrySendError::Closed(_)) => return false,
                }
            }
            true
        });
        if subs.is_empty() {
            rooms.remove(&streamer);
        }
    }

    /// Connections joined to some room right now.
    pub fn subscribers(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_kicks_only_that_subscriber() {
        let rooms = Rooms::new();
        let room = Uuid::new_v4();
        let (slow_tx, _slow_rx) = mpsc::channel(2);
        let slow_kick = Arc::new(Notify::new());
        let (fast_tx, mut fast_rx) = mpsc::channel(16);
        rooms.join(room, slow_tx, slow_kick.clone());
        rooms.join(room, fast_tx, Arc::new(Notify::new()));
        let frame = Outbound::Event("{}".into());
        for _ in 0..3 {
            rooms.publish(room, std::slice::from_ref(&frame));
        }
        // The slow one was told to go, once, and is out of the room; the fast one has all three.
        tokio::time::timeout(std::time::Duration::from_secs(1), slow_kick.notified())
            .await
            .expect("kicked");
        assert_eq!(rooms.subscribers(), 1);
        for _ in 0..3 {
            assert!(fast_rx.try_recv().is_ok());
        }
        assert_eq!(rooms.kicked.load(Ordering::Relaxed), 1);
        // Another room is untouched.
        rooms.publish(Uuid::new_v4(), &[frame]);
        assert!(fast_rx.try_recv().is_err());
    }
}
