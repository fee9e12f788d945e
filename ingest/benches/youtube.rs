//! Benchmark placeholder for the youtube connector (in progress).
fn main() {}
