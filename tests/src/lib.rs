//! CrossChat's test kit, used by every test crate of the workspace and by the gateway's load
//! drivers, and the end-to-end tests that start the real built binaries.
//!
//! The pieces every harness needs:
//! * [`segment`]: a unique shared-memory segment name, unlinked on drop (also on panic)
//! * [`dirs`]: a temporary directory with the stack's `data/` and `run/` layout
//! * [`process`]: the built binaries, a free port, readiness polling, the gateway's `listening on`
//!   line, SIGTERM-then-SIGKILL
//! * [`ingest_socket`]: a client of an ingest's producer socket
//! * [`http`]: hand-written HTTP/1.1 (one-shot and keep-alive)
//! * [`client`]: a logged-in streamer over HTTP and WebSocket, frame helpers
//!
//! Built on them, for the end-to-end tests:
//! * [`stack`]: the gateway and three ingest processes in a temporary directory, with a unique
//!   segment name, cleaned up on drop
//! * [`peers`]: loopback Twitch, Kick and YouTube peers speaking the platforms' protocols
//! * [`browser`]: headless Chromium over WebDriver, and page helpers for the browser tests

pub mod browser;
pub mod client;
pub mod dirs;
pub mod http;
pub mod ingest_socket;
pub mod peers;
pub mod process;
pub mod segment;
pub mod stack;
