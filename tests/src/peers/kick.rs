//! Loopback kick peer (in progress).
