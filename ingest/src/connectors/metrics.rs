//! Per-platform connector counters. Ingest reports a snapshot with every channel status reply;
//! the gateway exposes them on `/metrics` labelled by platform.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

pub use shm_layout::protocol::MetricsSnapshot;
use shm_layout::{Kind, SlotEvent};

/// Live counters (relaxed atomics: each is a plain tally, nothing is ordered by them).
#[derive(Debug, Default)]
pub struct ConnectorMetrics {
    /// Platform connections open now.
    pub connections: AtomicI64,
    /// Connections opened again after a drop, a RECONNECT or a watchdog.
    pub reconnects: AtomicU64,
    /// Lines/frames/items that could not be parsed (skipped).
    pub parse_errors: AtomicU64,
    /// Well-formed input of a kind the connector does not map (skipped).
    pub skipped: AtomicU64,
    /// Events dropped as duplicates of an id seen recently.
    pub duplicates: AtomicU64,
    /// Ring writes retried because the ring was full or its lock unavailable.
    pub ring_retries: AtomicU64,
    /// Connector task restarts after a panic.
    pub panics: AtomicU64,
    /// Events received, by kind: chat, action, paid, membership, system, delete, clear_user, clear.
    pub events: [AtomicU64; 8],
    /// Quota units spent today (YouTube).
    pub quota_used: AtomicU64,
    /// Quota units left today (YouTube).
    pub quota_left: AtomicU64,
    /// Quota units per day (YouTube; 0: no quota).
    pub quota_daily: AtomicU64,
}

/// The names of [`ConnectorMetrics::events`], in order.
pub const EVENT_KINDS: [&str; 8] = [
    "chat",
    "action",
    "paid",
    "membership",
    "system",
    "delete",
    "clear_user",
    "clear",
];

impl ConnectorMetrics {
    /// Counts one received event by its kind.
    pub fn count_event(&self, ev: &SlotEvent) {
        let i = match ev {
            SlotEvent::Message(m) => match m.kind {
                Kind::Chat => 0,
                Kind::Action => 1,
                Kind::Paid => 2,
                Kind::Membership => 3,
                Kind::System => 4,
            },
            SlotEvent::Delete(_) => 5,
            SlotEvent::ClearUser(_) => 6,
            SlotEvent::Clear(_) => 7,
        };
        self.events[i].fetch_add(1, Relaxed);
    }

    /// A copy for the status reply.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            connections: self.connections.load(Relaxed).max(0) as u64,
            reconnects: self.reconnects.load(Relaxed),
            parse_errors: self.parse_errors.load(Relaxed),
            skipped: self.skipped.load(Relaxed),
            duplicates: self.duplicates.load(Relaxed),
            ring_retries: self.ring_retries.load(Relaxed),
            panics: self.panics.load(Relaxed),
            events: EVENT_KINDS
                .iter()
                .zip(&self.events)
                .map(|(k, v)| ((*k).to_owned(), v.load(Relaxed)))
                .collect(),
            quota_used: self.quota_used.load(Relaxed),
            quota_left: self.quota_left.load(Relaxed),
            quota_daily: self.quota_daily.load(Relaxed),
        }
    }
}
