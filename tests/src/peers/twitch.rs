//! Loopback twitch peer (in progress).
