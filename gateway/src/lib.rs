//! CrossChat's gateway: the only process that talks HTTP and the only writer of the data directory.
//!
//! Modules, one job each:
//! * [`config`]: flags and `CROSSCHAT_*` variables
//! * [`error`]: [`error::ApiError`] and the one `recover` turning every rejection into JSON
//! * [`security`]: security headers, the CSRF gate, the capped JSON body
//! * [`auth`]: names/passwords, bcrypt off the reactor, the session cookie and its filter
//! * [`throttle`]: failed-login counters
//! * [`store`]: the data directory (accounts, login sessions, chat logs, archives)
//! * [`producers`]: the client of the ingest producer sockets
//! * [`events`]: what routes announce to WebSocket rooms
//! * [`routes`]: the HTTP routes, composed in [`routes::routes`]
//! * [`state`]: the shared state
//! * [`ui`]: the embedded web UI (pages and assets)
//!
//! `main.rs` only parses flags, sets up logging, binds the listener and calls [`run`].

pub mod auth;
pub mod config;
pub mod error;
pub mod events;
pub mod producers;
pub mod routes;
pub mod security;
pub mod state;
pub mod store;
pub mod throttle;
pub mod ui;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use config::Config;
use state::{AppState, State};
use store::{Store, StoreError};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The data directory could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else at start-up.
    #[error("{0}")]
    Startup(String),
}

/// Opens the data directory and builds the shared state (blocking work runs off the reactor).
pub async fn build_state(config: &Config) -> Result<State, RunError> {
    let dir = config.data_dir.clone();
    let fsync = config.fsync;
    let store = tokio::task::spawn_blocking(move || Store::open(&dir, fsync))
        .await
        .map_err(|e| RunError::Startup(format!("opening the data directory panicked: {e}")))??;
    let cost = config.bcrypt_cost;
    let dummy_hash = tokio::task::spawn_blocking(move || {
        bcrypt::hash(hex::encode(rand::random::<[u8; 16]>()), cost)
    })
    .await
    .map_err(|e| RunError::Startup(format!("bcrypt panicked: {e}")))?
    .map_err(|e| RunError::Startup(format!("bcrypt failed: {e}")))?;
    Ok(Arc::new(AppState {
        store,
        throttle: throttle::LoginThrottle::new(),
        bcrypt_cost: config.bcrypt_cost,
        bcrypt_slots: tokio::sync::Semaphore::new(auth::bcrypt_slots()),
        dummy_hash,
        secure_cookies: config.secure_cookies,
        runtime_dir: config.runtime_dir.clone(),
        shm_name: config.shm_name.clone(),
        segment_mapped: Default::default(),
    }))
}

/// Runs the gateway on `listener` until `shutdown` resolves; in-flight requests then finish.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let state = build_state(&config).await?;
    let app = routes::routes(state.clone());
    let addr = listener
        .local_addr()
        .map_err(|e| RunError::Startup(format!("the listener has no address: {e}")))?;
    tracing::info!(%addr, data_dir = %config.data_dir.display(), accounts = state.store.users().len(), "gateway serving");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    warp::serve(app)
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    tracing::info!("gateway stopped");
    Ok(())
}
