//! Helpers shared by the shm-layout integration tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

/// A unique segment name that is unlinked when dropped, so tests run in parallel and leave
/// nothing behind in /dev/shm.
pub struct TestSegment {
    pub name: String,
}

impl TestSegment {
    pub fn new(tag: &str) -> TestSegment {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        TestSegment {
            name: format!("/xchat-test-{tag}-{}-{n}", std::process::id()),
        }
    }

    /// Path of the object in /dev/shm, for raw byte checks.
    pub fn path(&self) -> String {
        format!("/dev/shm{}", self.name)
    }
}

impl Drop for TestSegment {
    fn drop(&mut self) {
        let _ = shm_layout::remove(&self.name);
    }
}

/// FNV-1a over the bytes: a checksum carried inside test payloads.
pub fn checksum(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c9dc5u32, |h, b| {
        (h ^ *b as u32).wrapping_mul(0x01000193)
    })
}

/// A self-checking payload: `writer seq len checksum|filler`.
pub fn make_payload(writer: u32, seq: u64, filler_len: usize) -> Vec<u8> {
    let filler: Vec<u8> = (0..filler_len)
        .map(|i| b'a' + ((i as u64 + seq) % 26) as u8)
        .collect();
    let mut p = format!("{writer} {seq} {} {}|", filler.len(), checksum(&filler)).into_bytes();
    p.extend_from_slice(&filler);
    p
}

/// Checks a payload made by [`make_payload`]; returns (writer, seq).
pub fn check_payload(p: &[u8]) -> (u32, u64) {
    let bar = p
        .iter()
        .position(|b| *b == b'|')
        .expect("payload has a '|'");
    let head = std::str::from_utf8(&p[..bar]).expect("header is UTF-8");
    let f: Vec<&str> = head.split(' ').collect();
    let filler = &p[bar + 1..];
    assert_eq!(
        f[2].parse::<usize>().unwrap(),
        filler.len(),
        "torn payload {head}"
    );
    assert_eq!(
        f[3].parse::<u32>().unwrap(),
        checksum(filler),
        "corrupt payload {head}"
    );
    (f[0].parse().unwrap(), f[1].parse().unwrap())
}
