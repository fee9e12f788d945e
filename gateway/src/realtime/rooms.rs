//! WebSocket rooms: `streamer:{id}` → the connections that joined it.
//!
//! Every connection has a bounded outbound queue: at most [`OUTBOUND_QUEUE`] frames and at most
//! its byte budget (`--ws-queue-bytes`, 2 MiB by default: a frame can be 4 KiB, so a count alone
//! would let a stalled reader hold 32 MiB). Publishing never blocks and never grows memory past
//! that: a subscriber over either bound is removed from the room and told (through its
//! [`Backlog`]) to close with 1013 — it can rejoin with `since` and miss nothing, and the others
//! lose nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, Notify};
/// Reference-counted UTF-8: every subscriber's frame is the same bytes, handed to tungstenite
/// without a copy.
pub use tokio_tungstenite::tungstenite::Utf8Bytes;
use uuid::Uuid;

/// Frames queued per connection before it counts as too slow. The queue holds pointers to frames
/// shared by the room. That is 8 s behind at 1,000 msg/s and ~80 ms at 100,000 msg/s: with 1024
/// a scheduling or disk hiccup of ~10 ms at high rates cut off subscribers that were keeping up.
pub const OUTBOUND_QUEUE: usize = 8192;

/// The default byte budget of a connection's queue.
pub const DEFAULT_QUEUE_BYTES: usize = 2 * 1024 * 1024;

/// A frame on its way to a browser: serialised once, shared by every subscriber of the room.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// The frame of a log line — a chat message or a moderation event. Its id lets a joining
    /// connection drop what its replay (read from the log) already sent.
    Logged {
        /// The message's or the event's id.
        id: Uuid,
        /// `{"type":"chat:message","message":{…}}`, `{"type":"chat:delete",…}`, ….
        frame: Utf8Bytes,
    },
    /// Any other frame (stream, channel status, filters, overlay:hide): never replayed.
    Event(Utf8Bytes),
}

impl Outbound {
    /// The frame's text.
    pub fn frame(&self) -> &Utf8Bytes {
        match self {
            Outbound::Logged { frame, .. } | Outbound::Event(frame) => frame,
        }
    }
}

/// Why a subscriber was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Cut {
    /// Its queue held [`OUTBOUND_QUEUE`] frames.
    Frames = 1,
    /// Its queue held more bytes than its budget.
    Bytes = 2,
}

/// What a connection's queue holds, shared by the room (which adds) and the connection (which
/// takes away), and the room's way to tell the connection it was cut off.
#[derive(Debug, Default)]
pub struct Backlog {
    bytes: AtomicUsize,
    cut: AtomicU8,
    kick: Notify,
}

impl Backlog {
    /// A new, empty backlog.
    pub fn new() -> Arc<Backlog> {
        Arc::default()
    }

    /// The connection has written `bytes` of its queued frames to the socket.
    pub fn release(&self, bytes: usize) {
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Bytes queued right now.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Resolves when the room cut this connection off, with the reason.
    pub async fn cut_off(&self) -> Cut {
        self.kick.notified().await;
        self.reason().unwrap_or(Cut::Frames)
    }

    /// Why it was cut off, if it was.
    pub fn reason(&self) -> Option<Cut> {
        match self.cut.load(Ordering::Relaxed) {
            1 => Some(Cut::Frames),
            2 => Some(Cut::Bytes),
            _ => None,
        }
    }

    fn cut(&self, why: Cut) {
        self.cut.store(why as u8, Ordering::Relaxed);
        self.kick.notify_one();
    }
}

/// One joined connection.
struct Subscriber {
    id: u64,
    tx: mpsc::Sender<Outbound>,
    backlog: Arc<Backlog>,
}

/// All rooms.
pub struct Rooms {
    rooms: Mutex<HashMap<Uuid, Vec<Subscriber>>>,
    next_id: AtomicU64,
    /// The byte budget of each connection's queue.
    queue_bytes: usize,
    /// Subscribers cut off for being too slow, since start.
    pub kicked: AtomicU64,
    /// Of those, the ones cut off by the byte budget.
    pub kicked_bytes: AtomicU64,
}

impl Default for Rooms {
    fn default() -> Self {
        Rooms::new(DEFAULT_QUEUE_BYTES)
    }
}

impl Rooms {
    /// No rooms yet; each connection may queue `queue_bytes`.
    pub fn new(queue_bytes: usize) -> Rooms {
        Rooms {
            rooms: Mutex::default(),
            next_id: AtomicU64::new(0),
            queue_bytes,
            kicked: AtomicU64::new(0),
            kicked_bytes: AtomicU64::new(0),
        }
    }

    /// The byte budget of each connection's queue.
    pub fn queue_bytes(&self) -> usize {
        self.queue_bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Vec<Subscriber>>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a connection to a streamer's room; returns its subscription id.
    pub fn join(&self, streamer: Uuid, tx: mpsc::Sender<Outbound>, backlog: Arc<Backlog>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock()
            .entry(streamer)
            .or_default()
            .push(Subscriber { id, tx, backlog });
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
    /// cannot take them all is cut off (removed and told to close with 1013).
    pub fn publish(&self, streamer: Uuid, frames: &[Outbound]) {
        if frames.is_empty() {
            return;
        }
        let mut rooms = self.lock();
        let Some(subs) = rooms.get_mut(&streamer) else {
            return;
        };
        // Counted once per publish, and before the frames are queued: a connection that writes
        // them at once then never releases bytes it was not yet charged for.
        let batch_bytes: usize = frames.iter().map(|f| f.frame().len()).sum();
        subs.retain(|s| {
            let queued = s.backlog.bytes.fetch_add(batch_bytes, Ordering::Relaxed) + batch_bytes;
            if queued > self.queue_bytes {
                return self.cut_off(s, Cut::Bytes);
            }
            for f in frames {
                match s.tx.try_send(f.clone()) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => return self.cut_off(s, Cut::Frames),
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

    /// Counts a subscriber cut off and tells it why; false, to drop it from the room.
    fn cut_off(&self, s: &Subscriber, why: Cut) -> bool {
        self.kicked.fetch_add(1, Ordering::Relaxed);
        if why == Cut::Bytes {
            self.kicked_bytes.fetch_add(1, Ordering::Relaxed);
        }
        s.backlog.cut(why);
        false
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
        let rooms = Rooms::default();
        let room = Uuid::new_v4();
        let (slow_tx, _slow_rx) = mpsc::channel(2);
        let slow = Backlog::new();
        let (fast_tx, mut fast_rx) = mpsc::channel(16);
        rooms.join(room, slow_tx, slow.clone());
        rooms.join(room, fast_tx, Backlog::new());
        let frame = Outbound::Event("{}".into());
        for _ in 0..3 {
            rooms.publish(room, std::slice::from_ref(&frame));
        }
        // The slow one was told to go, once, and is out of the room; the fast one has all three.
        let why = tokio::time::timeout(std::time::Duration::from_secs(1), slow.cut_off())
            .await
            .expect("kicked");
        assert_eq!(why, Cut::Frames);
        assert_eq!(rooms.subscribers(), 1);
        for _ in 0..3 {
            assert!(fast_rx.try_recv().is_ok());
        }
        assert_eq!(rooms.kicked.load(Ordering::Relaxed), 1);
        // Another room is untouched.
        rooms.publish(Uuid::new_v4(), &[frame]);
        assert!(fast_rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_byte_budget_cuts_a_reader_of_big_frames_before_its_frame_count_does() {
        let rooms = Rooms::new(10_000);
        let room = Uuid::new_v4();
        let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
        let slow = Backlog::new();
        rooms.join(room, tx, slow.clone());
        let (fast_tx, mut fast_rx) = mpsc::channel(OUTBOUND_QUEUE);
        let fast = Backlog::new();
        rooms.join(room, fast_tx, fast.clone());
        let big = Outbound::Event("x".repeat(4000).into());
        // Two 4 kB frames fit; the fast reader takes each at once, the slow one none.
        for _ in 0..2 {
            rooms.publish(room, std::slice::from_ref(&big));
            let f = fast_rx.try_recv().unwrap();
            fast.release(f.frame().len());
        }
        assert_eq!(slow.bytes(), 8000);
        assert_eq!(slow.reason(), None);
        // The third would make 12 kB: cut off by bytes, with 2 frames queued of 8192 allowed.
        rooms.publish(room, std::slice::from_ref(&big));
        assert_eq!(slow.cut_off().await, Cut::Bytes);
        assert_eq!(rooms.subscribers(), 1);
        assert_eq!(rooms.kicked_bytes.load(Ordering::Relaxed), 1);
        assert!(fast_rx.try_recv().is_ok(), "the fast one got the third");
        assert_eq!(rx.len(), 2);
    }
}
