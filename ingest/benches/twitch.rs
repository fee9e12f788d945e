//! Benchmark placeholder for the twitch connector (in progress).
fn main() {}
