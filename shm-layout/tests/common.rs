//! What the shm-layout integration tests share beyond the workspace's test kit: self-checking
//! payloads.
#![allow(dead_code)]

/// The kit's unique segment name, unlinked when dropped, so tests run in parallel and leave
/// nothing behind in /dev/shm.
pub use crosschat_tests::segment::UniqueSegment as TestSegment;

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
