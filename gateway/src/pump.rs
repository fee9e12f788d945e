//! The drain pump: a dedicated std thread that empties the ring into the data directory and the
//! WebSocket rooms.
//!
//! One cycle: sleep on the segment's doorbell (futex) for at most `--pump-interval-ms` — a writer
//! rings it when its publish made the ring non-empty or passed half full, so light traffic moves in
//! about a millisecond — then peek the queued batch (at most `--pump-max-batch`), persist it (one
//! append per streamer, `fdatasync` with `--fsync cycle`), push what was newly persisted to the
//! rooms, and only then commit `head`. A crash before the commit makes the next pump meet the same
//! messages again; the store's id dedupe keeps the log exactly-once.
//!
//! The thread blocks (futex, fsync) so it stays off the async reactor, and it never takes the
//! lock word: committing `head` is a single atomic store by the single reader.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use shm_layout::{ChatMessage, Reader};
use uuid::Uuid;

use crate::rooms::Outbound;
use crate::state::AppState;

/// What the pump has done since start (for `/metrics` and logs).
#[derive(Debug, Default)]
pub struct PumpStats {
    /// Cycles that found messages.
    pub batches: AtomicU64,
    /// Messages newly written to a log.
    pub persisted: AtomicU64,
    /// Messages met again after a crash and skipped.
    pub duplicates: AtomicU64,
    /// Messages for streamers without an account (not persisted).
    pub unknown_streamer: AtomicU64,
    /// Slots whose payload did not parse (skipped).
    pub bad_payloads: AtomicU64,
    /// Cycles whose persistence failed (retried, not committed).
    pub persist_errors: AtomicU64,
    /// Size of the last non-empty batch.
    pub last_batch: AtomicU64,
}

/// Pump settings.
#[derive(Debug, Clone, Copy)]
pub struct PumpConfig {
    /// The longest sleep between cycles.
    pub interval: Duration,
    /// Most messages per cycle.
    pub max_batch: usize,
}

/// The running pump.
pub struct Pump {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Pump {
    /// Starts the pump thread; it owns the reader claim until it stops.
    pub fn spawn(reader: Reader, state: Arc<AppState>, cfg: PumpConfig) -> std::io::Result<Pump> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("pump".into())
            .spawn(move || run(reader, &state, cfg, &flag))?;
        Ok(Pump {
            stop,
            thread: Some(thread),
        })
    }

    /// Asks the pump to finish its cycle and stop, and waits for it (at most one interval plus
    /// one batch's persistence).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// `{"type":"chat:message","message":{…}}`.
pub fn chat_frame(m: &ChatMessage) -> Outbound {
    let json = String::from_utf8(m.to_json()).expect("serde_json writes UTF-8");
    Outbound::Chat {
        id: m.id,
        frame: format!(r#"{{"type":"chat:message","message":{json}}}"#).into(),
    }
}

fn run(mut reader: Reader, state: &AppState, cfg: PumpConfig, stop: &AtomicBool) {
    let stats = &state.pump_stats;
    let max = if cfg.max_batch == 0 {
        usize::MAX
    } else {
        cfg.max_batch
    };
    let mut backoff = Duration::from_millis(50);
    let mut msgs: Vec<ChatMessage> = Vec::new();
    tracing::info!(
        interval_ms = cfg.interval.as_millis() as u64,
        max_batch = cfg.max_batch,
        "pump started"
    );
    while !stop.load(Ordering::Relaxed) {
        if !reader.wait_for_data(cfg.interval) {
            continue;
        }
        let started = Instant::now();
        msgs.clear();
        let mut bad = 0u64;
        let end = reader.peek(max, |seq, slot| match slot {
            Ok(bytes) => match ChatMessage::from_json(bytes) {
                Ok(m) => msgs.push(m),
                Err(e) => {
                    bad += 1;
                    tracing::warn!(seq, error = %e, "skipping a ring slot whose payload is not a chat message");
                }
            },
            Err(e) => {
                bad += 1;
                tracing::warn!(seq, error = %e, "skipping a corrupt ring slot");
            }
        });
        let report = state.store.persist_batch(&msgs);
        // Push only what is now on disk, grouped per room, in ring order.
        let mut rooms: Vec<(Uuid, Vec<Outbound>)> = Vec::new();
        for m in &report.persisted {
            let frame = chat_frame(m);
            match rooms.iter_mut().find(|(s, _)| *s == m.streamer_id) {
                Some((_, v)) => v.push(frame),
                None => rooms.push((m.streamer_id, vec![frame])),
            }
        }
        for (streamer, frames) in &rooms {
            state.rooms.publish(*streamer, frames);
        }
        stats
            .persisted
            .fetch_add(report.persisted.len() as u64, Ordering::Relaxed);
        stats
            .duplicates
            .fetch_add(report.duplicates as u64, Ordering::Relaxed);
        stats
            .unknown_streamer
            .fetch_add(report.unknown_streamer as u64, Ordering::Relaxed);
        if let Some(e) = report.failed {
            stats.persist_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, retry_in_ms = backoff.as_millis() as u64, "the pump could not persist a batch; it stays in the ring");
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(2));
            continue;
        }
        backoff = Duration::from_millis(50);
        // Everything in [head, end) is persisted (or deliberately skipped): give the slots back.
        reader.commit(end);
        stats.bad_payloads.fetch_add(bad, Ordering::Relaxed);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.last_batch.store(msgs.len() as u64, Ordering::Relaxed);
        tracing::debug!(
            messages = msgs.len(),
            persisted = report.persisted.len(),
            took_us = started.elapsed().as_micros() as u64,
            "pump cycle"
        );
    }
    tracing::info!("pump stopped");
}
