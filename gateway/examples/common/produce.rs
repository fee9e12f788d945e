//! Producers on the ingests' Unix sockets: a paced one that writes what its schedule says is
//! due each millisecond in one write and reads the replies on the other half, and a one-shot.
//! Texts are `producer:seq:nanos[ padding]`, which subscribers read back without parsing JSON.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::watch;

/// Totals over all producers.
#[derive(Default)]
pub struct Counts {
    /// Requests written.
    pub sent: AtomicU64,
    /// `{"ok":true}` replies.
    pub acked: AtomicU64,
    /// Refusals by code.
    pub refused: Mutex<HashMap<String, u64>>,
}

/// The ingest platform producer `idx` writes to.
pub fn platform(idx: usize) -> &'static str {
    super::stack::PLATFORMS[idx % super::stack::PLATFORMS.len()]
}

/// A text padding that makes a message's text about `bytes` long within the ingest's limits
/// (≤ 1000 characters, normalised message ≤ 4092 bytes): 4-byte characters, topped up with ASCII.
pub fn padding(bytes: usize) -> String {
    const CHARS: usize = 960; // leaves room for the `producer:seq:nanos ` stamp
    let bytes = bytes.min(3 * CHARS + CHARS); // what 960 characters can hold at most
                                              // n4 four-byte characters and n1 ASCII: 4·n4 + n1 = bytes, n4 + n1 ≤ CHARS.
    let n4 = bytes.saturating_sub(CHARS).div_ceil(3).min(CHARS);
    let n1 = bytes.saturating_sub(4 * n4).min(CHARS - n4);
    let mut s = String::with_capacity(bytes);
    s.extend(std::iter::repeat_n('\u{1F600}', n4));
    s.extend(std::iter::repeat_n('x', n1));
    s
}

/// One paced producer.
pub struct Paced {
    /// Its index (the text's first field, and which ingest it writes to).
    pub idx: usize,
    /// The streamer the messages are for.
    pub streamer: String,
    /// Messages per second.
    pub rate: f64,
    /// Text after the stamp (may be empty).
    pub pad: Arc<str>,
    /// The instant the nanosecond stamps count from (shared with the subscribers).
    pub clock: Instant,
    /// Messages to send in all (stop after them), if bounded: a count, not a time, so that a
    /// busy runtime that wakes the producer late still sends exactly `rate × duration`.
    pub total: Option<u64>,
}

impl Paced {
    /// Runs from now until `stop` turns true or `total` are sent; returns the acknowledged
    /// sequence numbers.
    pub async fn run(
        self,
        socket: &Path,
        mut stop: watch::Receiver<bool>,
        counts: Arc<Counts>,
    ) -> Vec<u64> {
        let stream = UnixStream::connect(socket).await.expect("ingest socket");
        let (r, mut w) = stream.into_split();
        let reader_counts = counts.clone();
        let reader = tokio::spawn(async move {
            let mut lines = BufReader::new(r).lines();
            let mut acked = Vec::new();
            let mut seq = 0u64;
            while let Ok(Some(l)) = lines.next_line().await {
                // `{"ok":true,"id":…}` or `{"ok":false,"code":"…",…}`
                if l.starts_with(r#"{"ok":true"#) {
                    acked.push(seq);
                    reader_counts.acked.fetch_add(1, Relaxed);
                } else {
                    let v: serde_json::Value = serde_json::from_str(&l).unwrap_or_default();
                    let code = v["code"].as_str().unwrap_or("?").to_string();
                    *reader_counts
                        .refused
                        .lock()
                        .unwrap()
                        .entry(code)
                        .or_default() += 1;
                }
                seq += 1;
            }
            acked
        });
        let start = Instant::now();
        let (idx, streamer, pad) = (self.idx, &self.streamer, &*self.pad);
        let sep = if pad.is_empty() { "" } else { " " };
        let mut sent = 0u64;
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        let mut buf = Vec::new();
        let total = self.total.unwrap_or(u64::MAX);
        while !*stop.borrow_and_update() && sent < total {
            tick.tick().await;
            let due = ((start.elapsed().as_secs_f64() * self.rate) as u64).min(total);
            buf.clear();
            while sent < due {
                let t = self.clock.elapsed().as_nanos() as u64;
                buf.extend_from_slice(
                    format!(
                        r#"{{"streamerId":"{streamer}","user":"load{idx}","text":"{idx}:{sent}:{t}{sep}{pad}"}}"#
                    )
                    .as_bytes(),
                );
                buf.push(b'\n');
                sent += 1;
            }
            if !buf.is_empty() {
                w.write_all(&buf).await.expect("write to ingest");
            }
        }
        counts.sent.fetch_add(sent, Relaxed);
        w.shutdown().await.ok();
        reader.await.unwrap()
    }
}

/// A watch that turns true after `d`.
pub fn stop_after(d: Duration) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        tokio::time::sleep(d).await;
        let _ = tx.send(true);
    });
    rx
}

/// Writes one message and waits for its reply: `Ok(id)` or `Err(reply)`.
pub async fn produce_one(socket: &Path, streamer: &str, text: &str) -> Result<String, String> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|e| e.to_string())?;
    let (r, mut w) = stream.into_split();
    let line = format!(r#"{{"streamerId":"{streamer}","user":"bench","text":"{text}"}}"#);
    w.write_all(format!("{line}\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let reply = BufReader::new(r)
        .lines()
        .next_line()
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&reply).map_err(|_| reply.clone())?;
    match (v["ok"].as_bool(), v["id"].as_str()) {
        (Some(true), Some(id)) => Ok(id.to_string()),
        _ => Err(reply),
    }
}
