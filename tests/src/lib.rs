//! Helpers for CrossChat's end-to-end tests, which start the real built binaries.
//!
//! * [`stack`]: the gateway and three ingest processes in a temporary directory, with a unique
//!   segment name, cleaned up on drop
//! * [`client`]: a logged-in streamer over HTTP and WebSocket, frame helpers
//! * [`peers`]: loopback Twitch, Kick and YouTube peers speaking the platforms' protocols
//! * [`browser`]: headless Chromium over WebDriver, and page helpers for the browser tests

pub mod browser;
pub mod client;
pub mod peers;
pub mod stack;
