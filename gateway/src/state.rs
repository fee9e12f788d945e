//! The state every route shares.

use std::path::PathBuf;
use std::sync::Arc;

use crate::store::Store;
use crate::throttle::LoginThrottle;

/// Shared, immutable-after-start state (interior mutability lives inside each part).
pub struct AppState {
    /// The data directory.
    pub store: Store,
    /// Failed-login counters.
    pub throttle: LoginThrottle,
    /// bcrypt cost for new hashes.
    pub bcrypt_cost: u32,
    /// Bounds concurrent bcrypt work (see [`crate::auth::bcrypt_slots`]).
    pub bcrypt_slots: tokio::sync::Semaphore,
    /// A hash of a random password made at start with the same cost: an unknown username is
    /// verified against it, so it costs as much time as a wrong password.
    pub dummy_hash: String,
    /// Add `Secure` to cookies.
    pub secure_cookies: bool,
    /// Where the ingest sockets live (`ingest-<platform>.sock`).
    pub runtime_dir: PathBuf,
    /// The shared-memory segment's name (for `/readyz`).
    pub shm_name: String,
    /// Set once the segment is mapped.
    pub segment_mapped: std::sync::atomic::AtomicBool,
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
}

impl AppState {
    /// The segment's state for `/readyz`.
    pub fn segment_report(&self) -> SegmentReport {
        SegmentReport {
            name: self.shm_name.clone(),
            mapped: self
                .segment_mapped
                .load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}
