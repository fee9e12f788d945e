//! Loopback youtube peer (in progress).
