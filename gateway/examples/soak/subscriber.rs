//! A dashboard subscriber that resumes: after every close — 1001 from a stopping gateway, a reset
//! from a killed one, 1013 when it fell too far behind — it reconnects (retrying while the gateway
//! is down) and joins with `since` = the newest chat message it has. It records every close (when,
//! code, reason, how much it had), what it received per producer (first receipts, duplicates,
//! first receipts out of order) and the moderation frames by key.
//!
//! A slow one stops reading for a while once per burst, so that the gateway cuts it off with 1013:
//! the case of the load run that lost 71,630 of 120,000 messages at a client that did not resume.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::common::stats::SeqSet;
use crate::common::tally::{stamp, Tally};
use crate::common::ws::{open_and_join, Target};
use crate::producer::Plan;

/// One close of the subscriber's socket.
#[derive(Debug, Clone)]
pub struct Close {
    /// Seconds since the run started.
    pub at_s: f64,
    /// The close code, when a close frame came.
    pub code: Option<u16>,
    /// Its reason, or what ended the connection.
    pub reason: String,
    /// Distinct driver messages received before it.
    pub had: u64,
}

/// What one producer's messages did at this subscriber.
#[derive(Clone, Default)]
pub struct Seen {
    /// First receipts.
    pub got: SeqSet,
    /// The last first receipt's sequence number.
    pub last: Option<u64>,
    /// First receipts that came after a later one (per-producer order broken).
    pub out_of_order: u64,
}

/// Everything one subscriber ends with.
pub struct Record {
    /// Its index.
    pub idx: usize,
    /// Whether it was a slow one.
    pub slow: bool,
    /// Per producer.
    pub seen: Vec<Seen>,
    /// Moderation frames by key (`delete:<platform id>`, `clear_user:<user id>`): receipts, and
    /// the connection (0 the first, then one more per resume) of the last one.
    pub events: HashMap<String, (u32, u64)>,
    /// Moderation frames received again on a later connection: the resume's replay carries the
    /// tombstones after `since`, a chat message's id, so those received between that message and
    /// the close come again.
    pub events_again_after_resume: u64,
    /// Moderation frames received twice on one resumed connection: a tombstone persisted while
    /// the replay read the log comes both in the replay and live (the live queue drops only the
    /// chat messages the replay sent).
    pub events_twice_resumed: u64,
    /// Moderation frames received twice on the first connection (no replay): never expected.
    pub events_twice_live: u64,
    /// Every close, in order.
    pub closes: Vec<Close>,
    /// Joins after the first (each with `since`).
    pub resumes: u64,
    /// Failed attempts to open and join, by kind.
    pub failed_joins: HashMap<String, u64>,
    /// `error` frames received.
    pub errors: u64,
    /// Times it stopped reading on purpose.
    pub pauses: u64,
}

impl Record {
    /// Distinct driver messages received.
    pub fn distinct(&self) -> u64 {
        self.seen.iter().map(|s| s.got.distinct).sum()
    }
}

/// How a subscriber runs.
pub struct Opts {
    /// Its index.
    pub idx: usize,
    /// Stop reading this long once per burst (a slow subscriber), or never.
    pub pause: Option<Duration>,
    /// When bursts are.
    pub plan: Plan,
    /// Where to connect.
    pub target: Target,
    /// The instant the producers' stamps count from.
    pub clock: Instant,
    /// The start of the run.
    pub start: Instant,
    /// Distinct driver messages received (for the driver's progress and drain).
    pub progress: Arc<AtomicU64>,
    /// Counts subscribers that have a chat message id to resume from.
    pub anchored: Arc<AtomicU64>,
    /// Turns true once the producers have stopped (no more pauses).
    pub producing_done: watch::Receiver<bool>,
    /// Turns true when the run is over.
    pub stop: watch::Receiver<bool>,
    /// Set once joined the first time.
    pub joined: Arc<AtomicU64>,
}

/// The string value after `key` (e.g. `"id":"`), up to the next quote.
fn value_after<'a>(frame: &'a str, key: &str) -> Option<&'a str> {
    let start = frame.find(key)? + key.len();
    let len = frame[start..].find('"')?;
    Some(&frame[start..start + len])
}

/// Runs until `stop`; returns what it saw.
pub async fn run(o: Opts, producers: usize) -> Record {
    let mut rec = Record {
        idx: o.idx,
        slow: o.pause.is_some(),
        seen: vec![Seen::default(); producers],
        events: HashMap::new(),
        events_again_after_resume: 0,
        events_twice_resumed: 0,
        events_twice_live: 0,
        closes: Vec::new(),
        resumes: 0,
        failed_joins: HashMap::new(),
        errors: 0,
        pauses: 0,
    };
    let mut stop = o.stop.clone();
    let mut since: Option<String> = None;
    let mut first = true;
    let mut paused_in: Option<u64> = None;
    let mut scratch = Tally::new(0);
    'connect: while !*stop.borrow() {
        let ws = open_and_join(
            &o.target,
            None,
            since.as_deref(),
            Duration::from_secs(10),
            &mut scratch,
            o.clock,
        )
        .await;
        let mut ws = match ws {
            Ok(ws) => ws,
            Err(e) => {
                *rec.failed_joins.entry(e.kind()).or_default() += 1;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
        };
        if first {
            o.joined.fetch_add(1, Relaxed);
            first = false;
        } else {
            rec.resumes += 1;
        }
        loop {
            if let Some(pause) = o.pause {
                let now = Instant::now();
                let period = o.plan.period_index(now);
                let into_burst = o.plan.bursting(now)
                    && now.duration_since(o.plan.start).as_secs_f64()
                        % (o.plan.burst + o.plan.light).as_secs_f64()
                        >= 1.0;
                if into_burst && paused_in != Some(period) && !*o.producing_done.borrow() {
                    paused_in = Some(period);
                    rec.pauses += 1;
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
            let m = tokio::select! {
                m = ws.next() => m,
                _ = stop.changed() => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    break 'connect;
                }
            };
            let ended = match m {
                Some(Ok(Message::Text(f))) => {
                    let had = since.is_some();
                    frame(&mut rec, &f, &mut since, &o.progress);
                    if !had && since.is_some() {
                        o.anchored.fetch_add(1, Relaxed);
                    }
                    continue;
                }
                Some(Ok(Message::Close(c))) => match c {
                    Some(c) => (Some(u16::from(c.code)), c.reason.to_string()),
                    None => (None, "a close frame without a code".into()),
                },
                Some(Ok(_)) => continue,
                Some(Err(e)) => (None, format!("socket error: {e}")),
                None => (None, "the connection ended without a close frame".into()),
            };
            rec.closes.push(Close {
                at_s: o.start.elapsed().as_secs_f64(),
                code: ended.0,
                reason: ended.1,
                had: rec.distinct(),
            });
            // Answer a close frame, then resume.
            let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
            continue 'connect;
        }
    }
    rec
}

/// Counts one text frame; keeps the newest chat message id in `since`.
fn frame(rec: &mut Record, f: &str, since: &mut Option<String>, progress: &AtomicU64) {
    if f.starts_with(r#"{"type":"chat:message""#) {
        // The message's own id is the first `"id"` of the frame (the gateway writes the stored
        // message right after the head, and a message's JSON starts with its id).
        if let Some(id) = value_after(f, r#""id":""#) {
            match since {
                Some(s) => {
                    s.clear();
                    s.push_str(id);
                }
                None => *since = Some(id.to_string()),
            }
        }
        let Some((p, seq, _)) = value_after(f, r#""text":""#).and_then(stamp) else {
            return; // the anchor message
        };
        let Some(s) = rec.seen.get_mut(p) else {
            return;
        };
        if s.got.insert(seq) {
            if s.last.is_some_and(|l| seq < l) {
                s.out_of_order += 1;
            }
            s.last = Some(s.last.map_or(seq, |l| l.max(seq)));
            progress.fetch_add(1, Relaxed);
        }
    } else if f.contains(r#""type":"chat:delete""#) {
        let key = value_after(f, r#""platformMessageId":""#).unwrap_or("?");
        event(rec, format!("delete:{key}"));
    } else if f.contains(r#""type":"chat:clear_user""#) {
        let key = value_after(f, r#""userId":""#).unwrap_or("?");
        event(rec, format!("clear_user:{key}"));
    } else if f.contains(r#""type":"error""#) {
        rec.errors += 1;
    }
}

/// Counts a moderation frame on the current connection.
fn event(rec: &mut Record, key: String) {
    let conn = rec.resumes;
    let e = rec.events.entry(key).or_insert((0, conn));
    if e.0 > 0 {
        match (e.1 == conn, conn) {
            (false, _) => rec.events_again_after_resume += 1,
            (true, 0) => rec.events_twice_live += 1,
            (true, _) => rec.events_twice_resumed += 1,
        }
    }
    *e = (e.0 + 1, conn);
}
