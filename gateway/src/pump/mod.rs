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
//!
//! [`slot`] decodes what a slot holds; [`stats`] counts what the pump did.

pub mod slot;
pub mod stats;

pub use slot::Pumped;
pub use stats::PumpStats;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use shm_layout::Reader;
use uuid::Uuid;

use crate::realtime::rooms::Outbound;
use crate::state::AppState;

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

fn run(mut reader: Reader, state: &AppState, cfg: PumpConfig, stop: &AtomicBool) {
    let stats = &state.pump_stats;
    let metrics = &state.metrics;
    let max = if cfg.max_batch == 0 {
        usize::MAX
    } else {
        cfg.max_batch
    };
    let mut backoff = Duration::from_millis(50);
    let mut msgs: Vec<Pumped> = Vec::new();
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
            Ok(bytes) => match Pumped::from_slot(bytes) {
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
            let frame = m.frame();
            match rooms.iter_mut().find(|(s, _)| *s == m.streamer_id) {
                Some((_, v)) => v.push(frame),
                None => rooms.push((m.streamer_id, vec![frame])),
            }
        }
        for (streamer, frames) in &rooms {
            state.rooms.publish(*streamer, frames);
        }
        // Produce→persist latency, observed per persisted message (not per batch): one
        // uncontended histogram lock each, small next to parsing the message, and it gives the
        // real distribution rather than only each batch's oldest message.
        if !report.persisted.is_empty() {
            let now_ms = shm_layout::now_ms();
            for m in &report.persisted {
                // A producer clock ahead of ours counts as 0, not as a negative latency.
                metrics
                    .produce_to_persist_seconds
                    .observe(now_ms.saturating_sub(m.timestamp) as f64 / 1000.0);
            }
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
            stats.failed(&e, backoff);
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(2));
            continue;
        }
        backoff = Duration::from_millis(50);
        stats.persisted_again();
        // Everything in [head, end) is persisted (or deliberately skipped): give the slots back.
        reader.commit(end);
        stats.bad_payloads.fetch_add(bad, Ordering::Relaxed);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.last_batch.store(msgs.len() as u64, Ordering::Relaxed);
        // Once per cycle, not per message. The batch size goes last: once its sum covers a
        // message, everything else about that message's cycle is already counted.
        metrics
            .pump_cycle_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics.pump_batch_size.observe(msgs.len() as f64);
        tracing::debug!(
            messages = msgs.len(),
            persisted = report.persisted.len(),
            took_us = started.elapsed().as_micros() as u64,
            "pump cycle"
        );
    }
    tracing::info!("pump stopped");
}
