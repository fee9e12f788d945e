//! The file-descriptor budget. Every WebSocket is a descriptor, and so is every chat log, archive
//! and JSON file the pump and the routes open. At the process's open-file limit the pump could no
//! longer open a log and chat would stop being persisted (seen with 19,983 sockets under a 20,000
//! limit), so WebSockets get the limit minus a reserve, and refuse the rest with 503.

use rustix::process::{getrlimit, setrlimit, Resource};

/// Descriptors kept for everything that is not a WebSocket: logs, archives, JSON files, the
/// listener, HTTP requests in flight, the ingest sockets.
pub const RESERVED_FDS: u64 = 1024;

/// Raises the soft open-file limit to the hard one (as a service manager's `LimitNOFILE=` would)
/// and returns the soft limit now in force (None when unlimited).
pub fn raise_open_file_limit() -> Option<u64> {
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current != lim.maximum {
        let wanted = rustix::process::Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        };
        if setrlimit(Resource::Nofile, wanted).is_ok() {
            lim = getrlimit(Resource::Nofile);
        }
    }
    lim.current
}

/// The WebSocket cap: `wanted` (`--ws-max-connections`), but never past `open_files` minus
/// [`RESERVED_FDS`].
pub fn websocket_cap(wanted: u64, open_files: Option<u64>) -> u64 {
    match open_files {
        Some(limit) => wanted.min(limit.saturating_sub(RESERVED_FDS)).max(1),
        None => wanted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websockets_leave_a_reserve_of_descriptors() {
        assert_eq!(websocket_cap(10_000, Some(1_048_576)), 10_000);
        assert_eq!(websocket_cap(51_000, Some(20_000)), 20_000 - RESERVED_FDS);
        assert_eq!(websocket_cap(10_000, None), 10_000);
        assert_eq!(websocket_cap(10_000, Some(100)), 1);
    }
}
