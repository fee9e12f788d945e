//! CrossChat's gateway: the only process that talks HTTP and the only writer of the data directory.
//!
//! Where things live (one concern per folder; `tests/tests/module_cycles.rs` keeps them free of
//! import cycles):
//! * [`config`]: flags and `CROSSCHAT_*` variables
//! * [`http`]: the HTTP surface — the server loop, routes, request extractors (session cookie),
//!   the one error type, security headers and body limits, the embedded web UI
//! * [`realtime`]: the WebSocket handshake, connections and their protocol, rooms, every frame
//! * [`pump`]: the drain pump (a std thread: doorbell → peek → persist → push → commit), slot
//!   decoding and its stats
//! * [`store`]: the data directory (accounts, login sessions, stream sessions, chat logs — their
//!   append side and their readers —, channel links, overlay links, filters)
//! * [`channels`]: linked channels at run time: input normalisation, the sync with each ingest,
//!   states
//! * [`ingests`]: the client of the ingest producer sockets
//! * [`metrics`]: the Prometheus registry, metric handles and the scrape-time collector
//! * [`limits`]: the open-file budget (WebSockets leave a reserve for the logs)
//! * [`state`]: the shared state the routes hold
//!
//! `main.rs` only parses flags, sets up logging, binds the listener and calls [`run`].

pub mod channels;
pub mod config;
/// Property checks for the fuzz targets and their corpus replay (`fuzz/README.md`).
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod ingests;
pub mod limits;
pub mod metrics;
pub mod pump;
pub mod realtime;
pub mod state;
pub mod store;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use shm_layout::{Reader, Segment};
use tokio::net::TcpListener;

pub use config::Config;
use state::{AppState, State};
use store::{Store, StoreError};

/// Why the gateway could not start, or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The data directory could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The shared-memory segment could not be mapped or created.
    #[error("cannot map the segment {name}: {source}")]
    Segment {
        /// The segment's name.
        name: String,
        /// Why.
        #[source]
        source: shm_layout::OpenError,
    },
    /// Another live gateway already drains the segment.
    #[error(transparent)]
    ReaderTaken(#[from] shm_layout::ClaimError),
    /// Hashing the start-up dummy password failed.
    #[error("bcrypt failed: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
    /// The pump thread could not be started.
    #[error("cannot start the pump thread: {0}")]
    PumpThread(#[source] std::io::Error),
    /// The listener has no local address.
    #[error("the listener has no address: {0}")]
    Listener(#[source] std::io::Error),
    /// A start-up or stop task panicked (`what` names it).
    #[error("{what} panicked: {source}")]
    Panicked {
        /// The task.
        what: &'static str,
        /// The join error.
        #[source]
        source: tokio::task::JoinError,
    },
}

fn panicked(what: &'static str) -> impl FnOnce(tokio::task::JoinError) -> RunError {
    move |source| RunError::Panicked { what, source }
}

/// Binds the HTTP listener. `TCP_NODELAY` is set on the listening socket, which Linux copies to
/// every accepted connection: warp leaves Nagle on, and a WebSocket frame written while the
/// previous one is unacknowledged then waits for the browser's delayed ACK — up to 40 ms on the
/// live feed (measured: p95 30 ms at 1,000 msg/s before, under 1 ms after).
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // What TcpListener::bind does on Unix: restart without waiting out TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Opens the data directory and builds the shared state (blocking work runs off the reactor).
pub async fn build_state(config: &Config) -> Result<State, RunError> {
    let dir = config.data_dir.clone();
    let fsync = config.fsync;
    let store = tokio::task::spawn_blocking(move || Store::open(&dir, fsync))
        .await
        .map_err(panicked("opening the data directory"))??;
    let cost = config.bcrypt_cost;
    let dummy_hash = tokio::task::spawn_blocking(move || {
        bcrypt::hash(hex::encode(rand::random::<[u8; 16]>()), cost)
    })
    .await
    .map_err(panicked("bcrypt"))??;
    // The metrics read the state at scrape time, so they hold it weakly.
    let open_files = limits::raise_open_file_limit();
    let ws_max_connections = limits::websocket_cap(config.ws_max_connections, open_files);
    if ws_max_connections < config.ws_max_connections {
        tracing::warn!(
            wanted = config.ws_max_connections,
            allowed = ws_max_connections,
            open_file_limit = open_files,
            reserved = limits::RESERVED_FDS,
            "fewer WebSocket connections than --ws-max-connections: the open-file limit must also cover the chat logs; raise LimitNOFILE / ulimit -n"
        );
    }
    Ok(Arc::new_cyclic(|weak| {
        let mut metrics = metrics::Metrics::new(store.logs().fsync_seconds());
        metrics.register_collector(Box::new(metrics::collector::LiveCollector::new(
            weak.clone(),
        )));
        AppState {
            metrics,
            store,
            throttle: http::throttle::LoginThrottle::new(),
            bcrypt_cost: config.bcrypt_cost,
            bcrypt_slots: tokio::sync::Semaphore::new(http::session::bcrypt_slots()),
            dummy_hash,
            secure_cookies: config.secure_cookies,
            runtime_dir: config.runtime_dir.clone(),
            ingest: ingests::IngestPool::new(&config.runtime_dir),
            shm_name: config.shm_name.clone(),
            segment: Default::default(),
            rooms: realtime::rooms::Rooms::new(config.ws_queue_bytes as usize),
            ws_max_connections: ws_max_connections as usize,
            pump_stats: Default::default(),
            ws_connections: Default::default(),
            channels: Default::default(),
            overlay_revoked: tokio::sync::broadcast::channel(64).0,
            shutdown: tokio::sync::watch::channel(false).0,
        }
    }))
}

/// Maps the segment (creating it if no ingest has yet), claims the reader role and starts the
/// pump. Refuses when another live gateway drains the segment.
pub async fn start_pump(state: &State, config: &Config) -> Result<pump::Pump, RunError> {
    let name = config.shm_name.clone();
    let segment = tokio::task::spawn_blocking(move || Segment::open_or_create(&name))
        .await
        .map_err(panicked("opening the segment"))?
        .map_err(|e| RunError::Segment {
            name: config.shm_name.clone(),
            source: e,
        })?;
    let segment = Arc::new(segment);
    let reader = Reader::claim(segment.clone())?;
    let _ = state.segment.set(segment);
    let cfg = pump::PumpConfig {
        interval: Duration::from_millis(config.pump_interval_ms),
        max_batch: config.pump_max_batch,
    };
    pump::Pump::spawn(reader, state.clone(), cfg).map_err(RunError::PumpThread)
}

/// How long a stop waits for WebSocket connections to take their close frames.
const WS_DRAIN: Duration = Duration::from_secs(2);

/// Runs the gateway on `listener` until `shutdown` resolves: then it stops accepting, lets
/// in-flight requests finish, sends every WebSocket a close frame (waiting at most 2 s), and stops
/// the pump after its current cycle.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let state = build_state(&config).await?;
    let pump = start_pump(&state, &config).await?;
    for platform in shm_layout::Platform::ALL {
        tokio::spawn(channels::sync::run(state.clone(), platform));
    }
    let app = http::routes::routes(state.clone());
    let addr = listener.local_addr().map_err(RunError::Listener)?;
    tracing::info!(%addr, data_dir = %config.data_dir.display(), segment = %config.shm_name, accounts = state.store.users().len(), "gateway serving");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    let st = state.clone();
    let signal = async move {
        shutdown.await;
        // The graceful stop does not wait for upgraded connections: tell them ourselves.
        st.shutdown.send_replace(true);
    };
    http::server::serve(warp::service(app), listener, signal).await;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    let deadline = tokio::time::Instant::now() + WS_DRAIN;
    while state
        .ws_connections
        .load(std::sync::atomic::Ordering::Relaxed)
        > 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::task::spawn_blocking(move || pump.stop())
        .await
        .map_err(panicked("the pump"))?;
    tracing::info!("gateway stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn accepted_connections_inherit_nodelay() {
        let listener = super::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        assert!(
            server.nodelay().unwrap(),
            "Nagle must be off on accepted sockets"
        );
    }
}
