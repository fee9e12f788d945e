//! Command-line flags, each also a `CROSSCHAT_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::store::FsyncPolicy;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The gateway's configuration.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "gateway",
    version,
    about = "CrossChat gateway: HTTP API, drain pump, WebSocket rooms and web UI",
    long_about = "CrossChat gateway: serves the HTTP API, WebSocket rooms and web UI, owns the data \
directory, and drains the shared-memory ring that the ingest processes fill.\n\n\
On start it prints `listening on http://ADDR` to stderr. It stops gracefully on SIGTERM/SIGINT. \
Every flag can also be given as the environment variable named in brackets."
)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port; see the `listening on` line).
    #[arg(long, env = "CROSSCHAT_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// The data directory (accounts, sessions, chat logs). Only one gateway may use it at a time.
    #[arg(long, env = "CROSSCHAT_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Name of the POSIX shared-memory segment shared with the ingest processes.
    #[arg(long, env = "CROSSCHAT_SHM_NAME", default_value = "/crosschat")]
    pub shm_name: String,

    /// Directory holding the ingest sockets (`ingest-<platform>.sock`).
    #[arg(long, env = "CROSSCHAT_RUNTIME_DIR", default_value = "./data/run")]
    pub runtime_dir: PathBuf,

    /// bcrypt cost for new password hashes (4–31; each step doubles the time).
    #[arg(long, env = "CROSSCHAT_BCRYPT_COST", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(4..=31))]
    pub bcrypt_cost: u32,

    /// Mark the session cookie `Secure` (set this when serving behind HTTPS).
    #[arg(long, env = "CROSSCHAT_SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// Log format.
    #[arg(long, env = "CROSSCHAT_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// How often the pump drains the ring when no doorbell wakes it, in milliseconds.
    #[arg(long, env = "CROSSCHAT_PUMP_INTERVAL_MS", default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub pump_interval_ms: u64,

    /// Most messages the pump takes per cycle (0 = the whole ring).
    #[arg(long, env = "CROSSCHAT_PUMP_MAX_BATCH", default_value_t = 0)]
    pub pump_max_batch: usize,

    /// When chat logs are flushed: `cycle` (fdatasync before messages are pushed or the ring is
    /// committed) or `never`.
    #[arg(long, env = "CROSSCHAT_FSYNC", value_enum, default_value = "cycle")]
    pub fsync: FsyncPolicy,

    /// Most live WebSocket connections (dashboards and overlays); more get 503. Each idle one
    /// costs ~11 KiB of memory and one file descriptor: the gateway raises its soft open-file
    /// limit to the hard one and caps this at that limit minus 1,024 kept for the chat logs.
    #[arg(long, env = "CROSSCHAT_WS_MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub ws_max_connections: u64,

    /// Bytes of frames one WebSocket connection may have queued before it is cut off as too slow
    /// (1013; it rejoins with `since`).
    #[arg(long, env = "CROSSCHAT_WS_QUEUE_BYTES", default_value_t = 2 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(64 * 1024..=256 * 1024 * 1024))]
    pub ws_queue_bytes: u64,
}
