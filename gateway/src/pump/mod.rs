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

use crate::realtime::rooms::Outbound;
use crate::state::AppState;
use crate::store::logs::LogEntry;

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
    /// Set while persisting fails (a full or read-only disk): what `/readyz` says and the logs
    /// repeat once a minute.
    pub failing: std::sync::Mutex<Option<Failing>>,
}

/// The pump cannot persist: since when, why, and when that was last logged.
#[derive(Debug, Clone)]
pub struct Failing {
    /// The first failure of this run of failures.
    pub since: Instant,
    /// A sentence for operators: "the data directory is full", …
    pub problem: String,
    /// Failed attempts so far.
    pub attempts: u64,
    last_logged: Instant,
}

/// How often a persisting failure is logged again while it lasts.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(60);

impl PumpStats {
    /// What keeps the pump from persisting, if anything.
    pub fn problem(&self) -> Option<String> {
        self.failing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|f| f.problem.clone())
    }

    /// Records a failed attempt; logs the first one at once and then once a minute.
    fn failed(&self, e: &std::io::Error, retry_in: Duration) {
        self.persist_errors.fetch_add(1, Ordering::Relaxed);
        let problem = crate::store::describe_write_error(e);
        let now = Instant::now();
        let mut failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        let f = failing.get_or_insert_with(|| Failing {
            since: now,
            problem: problem.clone(),
            attempts: 0,
            last_logged: now,
        });
        f.attempts += 1;
        let changed = f.problem != problem;
        f.problem = problem;
        // The first failure, a new problem, and then once a minute.
        if f.attempts == 1 || changed || now.duration_since(f.last_logged) >= FAILURE_LOG_EVERY {
            f.last_logged = now;
            tracing::error!(
                problem = %f.problem,
                error = %e,
                failing_for_s = now.duration_since(f.since).as_secs(),
                attempts = f.attempts,
                retry_in_ms = retry_in.as_millis() as u64,
                "the pump cannot persist chat; messages wait in the ring (producers get queue_full once it is full) and nothing is lost; logged again every minute while it lasts"
            );
        }
    }

    /// Records a successful cycle; logs the recovery once.
    fn persisted_again(&self) {
        let mut failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = failing.take() {
            tracing::warn!(
                problem = %f.problem,
                failed_for_s = f.since.elapsed().as_secs(),
                attempts = f.attempts,
                "the pump persists again; everything that waited in the ring is being written"
            );
        }
    }
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

/// A message taken from a slot: what the pump needs to persist and push it. Its JSON is the slot's
/// own bytes (the ingest's serialisation), checked to be exactly a [`ChatMessage`] — so the
/// pump neither re-serialises it for the log nor for the browsers.
#[derive(Debug, Clone)]
pub struct Pumped {
    /// Message id.
    pub id: Uuid,
    /// Its streamer.
    pub streamer_id: Uuid,
    /// The producer's timestamp, ms since the epoch (for the produce→persist latency).
    pub timestamp: u64,
    /// One line of JSON (no newline), valid UTF-8.
    pub json: bytes::Bytes,
    /// A moderation event (None: a chat message).
    pub event: Option<shm_layout::SlotEvent>,
}

impl LogEntry for Pumped {
    fn id(&self) -> Uuid {
        self.id
    }

    fn streamer(&self) -> Uuid {
        self.streamer_id
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.json);
    }

    fn is_message(&self) -> bool {
        self.event.is_none()
    }
}

/// The fields of a [`ChatMessage`], and nothing else: a payload with unknown fields is refused, so
/// the bytes stored and pushed verbatim are a normalised message. Strings are borrowed when they
/// have no escapes. Each field takes exactly the values `ChatMessage` reads back (an optional
/// `kind`, `isOwner`, `badges` or `emotes` may be absent, never `null`), or the log would keep a
/// line its readers skip.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)] // read only to validate
struct Strict<'a> {
    id: Uuid,
    streamer_id: Uuid,
    #[serde(borrow)]
    user: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    text: std::borrow::Cow<'a, str>,
    platform: shm_layout::Platform,
    timestamp: u64,
    is_vip: bool,
    is_sub: bool,
    is_mod: bool,
    #[serde(default, borrow)]
    color: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    kind: shm_layout::Kind,
    #[serde(default, borrow)]
    channel: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    platform_message_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    user_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    is_owner: bool,
    #[serde(default, borrow)]
    badges: Vec<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    emotes: Vec<shm_layout::Emote>,
    #[serde(default)]
    reply_to: Option<shm_layout::ReplyTo>,
    #[serde(default)]
    amount: Option<shm_layout::Amount>,
    #[serde(default, borrow)]
    system_text: Option<std::borrow::Cow<'a, str>>,
}

impl Pumped {
    /// Validates a slot's payload and keeps its bytes.
    pub fn from_slot(bytes: &[u8]) -> Result<Pumped, String> {
        if shm_layout::SlotKind::of_json(bytes).map_err(|e| e.to_string())?
            != shm_layout::SlotKind::Message
        {
            // A moderation event: small and rare, so parsed whole and written back as one line.
            let ev = shm_layout::SlotEvent::from_json(bytes).map_err(|e| e.to_string())?;
            return Ok(Pumped {
                id: ev.id(),
                streamer_id: ev.streamer_id(),
                timestamp: ev.timestamp(),
                json: bytes::Bytes::from(ev.to_json()),
                event: Some(ev),
            });
        }
        let s: Strict<'_> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let (id, streamer_id, timestamp) = (s.id, s.streamer_id, s.timestamp);
        let json = if bytes.iter().any(|&b| b == b'\n' || b == b'\r') {
            // Pretty-printed by some other writer: one line is needed, so re-serialise.
            let m = ChatMessage::from_json(bytes).map_err(|e| e.to_string())?;
            bytes::Bytes::from(m.to_json())
        } else {
            bytes::Bytes::copy_from_slice(bytes)
        };
        // Parsed JSON is UTF-8 throughout (serde_json checks string contents; the rest is ASCII).
        std::str::from_utf8(&json).map_err(|e| e.to_string())?;
        Ok(Pumped {
            id,
            streamer_id,
            timestamp,
            json,
            event: None,
        })
    }

    /// The frame pushed to the room.
    pub fn frame(&self) -> Outbound {
        if let Some(f) = self
            .event
            .as_ref()
            .and_then(crate::realtime::frames::moderation_frame)
        {
            return f;
        }
        // Checked in `from_slot`.
        crate::realtime::frames::chat_frame_around(
            self.id,
            std::str::from_utf8(&self.json).unwrap_or("{}"),
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use shm_layout::Platform;

    fn sample() -> ChatMessage {
        ChatMessage {
            is_sub: true,
            color: Some("#abcdef".into()),
            ..ChatMessage::simple(
                Uuid::new_v4(),
                Uuid::new_v4(),
                Platform::YouTube,
                "ann \"the\" viewer",
                "héllo\\n <b>",
                7,
            )
        }
    }

    #[test]
    fn slot_bytes_are_kept_verbatim_when_they_are_a_chat_message() {
        let m = sample();
        let bytes = m.to_json();
        let p = Pumped::from_slot(&bytes).unwrap();
        assert_eq!(&p.json[..], &bytes[..]);
        assert_eq!((p.id, p.streamer_id), (m.id, m.streamer_id));
        let Outbound::Logged { frame, .. } = p.frame() else {
            panic!()
        };
        let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(v["type"], "chat:message");
        assert_eq!(
            serde_json::from_value::<ChatMessage>(v["message"].clone()).unwrap(),
            m
        );
    }

    #[test]
    fn other_payloads_are_refused_or_normalised() {
        let m = sample();
        let mut v: serde_json::Value = serde_json::from_slice(&m.to_json()).unwrap();
        v["extra"] = "<script>".into();
        assert!(Pumped::from_slot(v.to_string().as_bytes()).is_err());
        assert!(Pumped::from_slot(b"not json").is_err());
        assert!(Pumped::from_slot(br#"{"id":"x"}"#).is_err());
        // Found by fuzzing (gateway_pump_slot): `null` where ChatMessage has a default was kept
        // verbatim, and the log's readers then skipped the line.
        for field in ["kind", "isOwner", "badges", "emotes"] {
            let mut v: serde_json::Value = serde_json::from_slice(&m.to_json()).unwrap();
            v[field] = serde_json::Value::Null;
            assert!(
                Pumped::from_slot(v.to_string().as_bytes()).is_err(),
                "{field}: null"
            );
        }
        let pretty = serde_json::to_vec_pretty(&m).unwrap();
        let p = Pumped::from_slot(&pretty).unwrap();
        assert!(!p.json.contains(&b'\n'));
        assert_eq!(ChatMessage::from_json(&p.json).unwrap(), m);
    }
}
