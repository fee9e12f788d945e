//! Line framing in-process: requests split into tiny fragments across reads, the 64 KiB boundary
//! exactly, over-long lines streamed through, a final line without a newline.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use ingest::conn::{self, ConnCtx};
use ingest::normalize::MAX_LINE;
use ingest::writer::{WritePolicy, WriterHandle};
use shm_layout::{Platform, Reader};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A valid request padded (with an unknown field) to exactly `len` bytes.
fn padded(len: usize) -> Vec<u8> {
    let head = format!(r#"{{"streamerId":"{SID}","user":"pad","text":"t","x":""#);
    let tail = r#""}"#;
    let fill = len - head.len() - tail.len();
    let mut v = head.into_bytes();
    v.extend(std::iter::repeat_n(b'a', fill));
    v.extend(tail.as_bytes());
    assert_eq!(v.len(), len);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragments_boundaries_and_long_lines() {
    let seg = SegGuard::new("ingest");
    let segment = seg.open();
    let (writer, thread) = WriterHandle::spawn(segment.clone(), WritePolicy::default()).unwrap();
    let ctx = ConnCtx {
        platform: Platform::Twitch,
        writer,
        stats: Arc::default(),
        full_wait_ms: 2000,
        control: Arc::new(ingest::control::ControlPlane::new(false)),
    };

    let mut input = Vec::new();
    let mut expect: Vec<Option<&str>> = Vec::new();
    for (line, e) in [
        (message("a", "first").into_bytes(), None),
        (padded(MAX_LINE), None),
        (padded(MAX_LINE + 1), Some("too_large")),
        (vec![b'z'; 5 * MAX_LINE], Some("too_large")),
        (b"{}".to_vec(), Some("invalid")),
        (message("b", "after the long ones").into_bytes(), None),
        (b"\r".to_vec(), Some("invalid")),
    ] {
        input.extend(line);
        input.push(b'\n');
        expect.push(e);
    }
    // A final request without a newline, answered at end of input.
    input.extend(message("c", "last, no newline").into_bytes());
    expect.push(None);

    let (client, server) = tokio::io::duplex(1024);
    let (server_r, server_w) = tokio::io::split(server);
    let (mut client_r, mut client_w) = tokio::io::split(client);
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let serving = tokio::spawn(async move { conn::serve(server_r, server_w, &ctx, stop_rx).await });
    let feeding = tokio::spawn(async move {
        // Fragments of 1..=7 bytes, then big chunks: boundaries land everywhere.
        let mut pos = 0;
        let mut k = 0;
        while pos < input.len() {
            let n = if pos < 4096 {
                1 + k % 7
            } else {
                3000 + k % 1000
            };
            let end = (pos + n).min(input.len());
            client_w.write_all(&input[pos..end]).await.unwrap();
            pos = end;
            k += 1;
        }
        client_w.shutdown().await.unwrap();
    });
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(60), client_r.read_to_string(&mut out))
        .await
        .expect("replies arrive")
        .unwrap();
    feeding.await.unwrap();
    let tally = serving.await.unwrap();

    let replies: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(replies.len(), expect.len(), "{out}");
    let mut ids = Vec::new();
    for (r, e) in replies.iter().zip(&expect) {
        match e {
            None => ids.push(ok_id(r)),
            Some(code) => assert_refused(r, code, ""),
        }
    }
    assert_eq!(tally.accepted, 4);
    assert_eq!(tally.refused_total(), 4);

    let mut reader = Reader::claim(segment).unwrap();
    let got: Vec<String> = drain_now(&mut reader)
        .iter()
        .map(|m| m.id.to_string())
        .collect();
    assert_eq!(got, ids);
    drop(reader);
    tokio::task::spawn_blocking(move || thread.join().unwrap())
        .await
        .unwrap();
}
