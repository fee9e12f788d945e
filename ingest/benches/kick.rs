//! Benchmark placeholder for the kick connector (in progress).
fn main() {}
