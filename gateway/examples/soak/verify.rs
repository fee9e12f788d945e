//! The end-of-run checks: every acknowledged message exactly once and in per-producer order in the
//! room (at every subscriber) and in the log (the active chat log file, read line by line); every
//! acknowledged moderation event once in the log and at every subscriber.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::Path;

use uuid::Uuid;

use crate::common::stats::SeqSet;
use crate::common::tally::stamp;
use crate::producer::Acked;
use crate::subscriber::Record;

/// What one place (a subscriber or the log) holds of what was acknowledged.
#[derive(Debug, Default, Clone)]
pub struct Holding {
    /// Acknowledged messages missing.
    pub missing: u64,
    /// Receipts or lines of a message beyond its first.
    pub duplicates: u64,
    /// First receipts out of per-producer order.
    pub out_of_order: u64,
    /// Driver messages present that were never acknowledged.
    pub unacked: u64,
    /// Acknowledged events missing.
    pub events_missing: u64,
    /// Events present more than once (receipts beyond the first).
    pub events_duplicated: u64,
}

impl Holding {
    /// Whether every acknowledged message is there exactly once, in order, and every event.
    pub fn messages_ok(&self) -> bool {
        self.missing == 0 && self.duplicates == 0 && self.out_of_order == 0 && self.unacked == 0
    }
}

/// The acknowledged sequence numbers of each producer, as sets.
pub fn acked_sets(acked: &[Acked]) -> Vec<SeqSet> {
    acked
        .iter()
        .map(|a| {
            let mut s = SeqSet::default();
            for (seq, _) in &a.messages {
                s.insert(*seq);
            }
            s
        })
        .collect()
}

/// The event keys every subscriber should have seen (`delete:<platform id>`,
/// `clear_user:<user id>`).
pub fn event_keys(acked: &[Acked]) -> HashSet<String> {
    acked
        .iter()
        .flat_map(|a| {
            a.deletes
                .iter()
                .map(|(k, _)| format!("delete:{k}"))
                .chain(a.clears.iter().map(|(k, _)| format!("clear_user:{k}")))
        })
        .collect()
}

/// Compares a subscriber's record with what was acknowledged.
pub fn room(rec: &Record, acked: &[Acked], events: &HashSet<String>) -> Holding {
    let mut h = Holding::default();
    for (p, a) in acked.iter().enumerate() {
        let seen = &rec.seen[p];
        let missing = count_missing(a, &seen.got);
        h.missing += missing;
        h.duplicates += seen.got.duplicates;
        h.out_of_order += seen.out_of_order;
        // Distinct receipts beyond the acknowledged messages received.
        h.unacked += seen
            .got
            .distinct
            .saturating_sub(a.messages.len() as u64 - missing);
    }
    for k in events {
        match rec.events.get(k) {
            None => h.events_missing += 1,
            Some(&(n, _)) => h.events_duplicated += u64::from(n.saturating_sub(1)),
        }
    }
    h
}

fn count_missing(a: &Acked, got: &SeqSet) -> u64 {
    a.messages
        .iter()
        .filter(|(seq, _)| !got.contains(*seq))
        .count() as u64
}

/// What the log file holds, and its size.
pub struct LogFigures {
    /// The comparison.
    pub holding: Holding,
    /// Lines read.
    pub lines: u64,
    /// Message lines.
    pub messages: u64,
    /// Tombstone lines.
    pub events: u64,
    /// Bytes.
    pub bytes: u64,
}

/// Reads the active log at `path` and compares it with what was acknowledged.
pub fn log(path: &Path, acked: &[Acked], sets: &[SeqSet]) -> std::io::Result<LogFigures> {
    let file = std::fs::File::open(path)?;
    let bytes = file.metadata()?.len();
    let mut got: Vec<SeqSet> = vec![SeqSet::default(); acked.len()];
    let mut last: Vec<Option<u64>> = vec![None; acked.len()];
    let mut h = Holding::default();
    let event_ids: HashSet<Uuid> = acked
        .iter()
        .flat_map(|a| a.deletes.iter().chain(&a.clears).map(|(_, id)| *id))
        .collect();
    let mut event_lines: HashMap<Uuid, u32> = HashMap::new();
    let (mut lines, mut messages, mut events) = (0u64, 0u64, 0u64);
    for line in std::io::BufReader::with_capacity(1 << 20, file).lines() {
        let line = line?;
        lines += 1;
        if line.starts_with(r#"{"type":"#) {
            events += 1;
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if let Some(id) = v["id"].as_str().and_then(|s| Uuid::parse_str(s).ok()) {
                *event_lines.entry(id).or_default() += 1;
            }
            continue;
        }
        messages += 1;
        let text = line
            .find(r#""text":""#)
            .map(|i| &line[i + 8..])
            .and_then(|t| t.split('"').next());
        let Some((p, seq, _)) = text.and_then(stamp) else {
            continue; // the anchor
        };
        let Some(set) = got.get_mut(p) else { continue };
        if set.insert(seq) {
            if last[p].is_some_and(|l| seq < l) {
                h.out_of_order += 1;
            }
            last[p] = Some(last[p].map_or(seq, |l| l.max(seq)));
            if !sets[p].contains(seq) {
                h.unacked += 1;
            }
        }
    }
    for (p, a) in acked.iter().enumerate() {
        h.missing += count_missing(a, &got[p]);
        h.duplicates += got[p].duplicates;
    }
    for id in &event_ids {
        match event_lines.get(id) {
            None => h.events_missing += 1,
            Some(&n) => h.events_duplicated += u64::from(n.saturating_sub(1)),
        }
    }
    Ok(LogFigures {
        holding: h,
        lines,
        messages,
        events,
        bytes,
    })
}
