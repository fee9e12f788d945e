//! The state every route shares.

use std::path::PathBuf;
use std::sync::Arc;

use crate::http::throttle::LoginThrottle;
use crate::store::Store;

/// Shared, immutable-after-start state (interior mutability lives inside each part).
pub struct AppState {
    /// The data directory.
    pub store: Store,
    /// Failed-login counters.
    pub throttle: LoginThrottle,
    /// bcrypt cost for new hashes.
    pub bcrypt_cost: u32,
    /// Bounds concurrent bcrypt work (see [`crate::http::session::bcrypt_slots`]).
    pub bcrypt_slots: tokio::sync::Semaphore,
    /// A hash of a random password made at start with the same cost: an unknown username is
    /// verified against it, so it costs as much time as a wrong password.
    pub dummy_hash: String,
    /// Add `Secure` to cookies.
    pub secure_cookies: bool,
    /// Where the ingest sockets live (`ingest-<platform>.sock`).
    pub runtime_dir: PathBuf,
    /// Pooled connections to the ingest sockets.
    pub ingest: crate::ingests::IngestPool,
    /// The shared-memory segment's name (for `/readyz`).
    pub shm_name: String,
    /// The shared-memory segment, once mapped.
    pub segment: std::sync::OnceLock<Arc<shm_layout::Segment>>,
    /// WebSocket rooms.
    pub rooms: crate::realtime::rooms::Rooms,
    /// What the pump has done.
    pub pump_stats: crate::pump::stats::PumpStats,
    /// Most live WebSocket connections (`--ws-max-connections`).
    pub ws_max_connections: usize,
    /// Live WebSocket connections.
    pub ws_connections: std::sync::atomic::AtomicUsize,
    /// The metrics registry and handles (`GET /metrics`).
    pub metrics: crate::metrics::Metrics,
    /// Linked channels' states and the per-platform sync wake-ups.
    pub channels: crate::channels::Hub,
    /// The id of every overlay link revoked: overlays connected with it close at once.
    pub overlay_revoked: tokio::sync::broadcast::Sender<uuid::Uuid>,
    /// Flipped to `true` when the gateway stops: WebSocket connections send a close frame.
    pub shutdown: tokio::sync::watch::Sender<bool>,
}

/// The handle routes hold.
pub type State = Arc<AppState>;

/// The segment as `/readyz` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SegmentReport {
    /// The segment's name.
    pub name: String,
    /// Whether the gateway has it mapped.
    pub mapped: bool,
    /// Messages queued in the ring right now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depth: Option<u64>,
}

impl AppState {
    /// The segment's state for `/readyz`.
    pub fn segment_report(&self) -> SegmentReport {
        SegmentReport {
            name: self.shm_name.clone(),
            mapped: self.segment.get().is_some(),
            depth: self.segment.get().map(|s| s.depth()),
        }
    }
}
