//! Counting what a subscriber receives without parsing JSON: a substring search finds the frame
//! type, the message id and the driver's stamp in the text.

use std::time::Instant;

use super::stats::{Histogram, SeqSet};

/// What a text frame was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A chat message from a driver's producer, first receipt.
    Chat,
    /// A chat message received before.
    Duplicate,
    /// `joined`.
    Joined,
    /// `{"type":"error",…}`.
    Error,
    /// Anything else (filters, stream events, chat not from a driver).
    Other,
}

/// The head of every chat frame (the gateway's frames module writes it before the message's
/// stored bytes).
const CHAT_HEAD: &str = r#"{"type":"chat:message""#;

/// The string value after `key` (e.g. `"id":"`), up to the next quote.
fn value_after<'a>(frame: &'a str, key: &str) -> Option<&'a str> {
    let start = frame.find(key)? + key.len();
    let len = frame[start..].find('"')?;
    Some(&frame[start..start + len])
}

/// A driver's message text `producer:seq:nanos[ padding]` → (producer, seq, nanos).
pub fn stamp(text: &str) -> Option<(usize, u64, u64)> {
    let head = text.split(' ').next()?;
    let mut parts = head.split(':');
    let p = parts.next()?.parse().ok()?;
    let s = parts.next()?.parse().ok()?;
    let t = parts.next()?.parse().ok()?;
    Some((p, s, t))
}

/// What one subscriber received: per producer the sequence numbers, produce→receive latencies,
/// the last message id (to rejoin with `since`) and when something new last arrived.
pub struct Tally {
    /// Per producer.
    pub got: Vec<SeqSet>,
    /// Produce→receive latency of first receipts, in µs.
    pub latency: Histogram,
    /// Chat frames received (duplicates included).
    pub chat: u64,
    /// `error` frames received.
    pub errors: u64,
    /// The id of the newest chat message received.
    pub last_id: Option<String>,
    /// When a chat message was last received for the first time.
    pub last_new: Option<Instant>,
}

impl Tally {
    /// Nothing received yet from `producers` producers.
    pub fn new(producers: usize) -> Tally {
        Tally {
            got: vec![SeqSet::default(); producers],
            latency: Histogram::default(),
            chat: 0,
            errors: 0,
            last_id: None,
            last_new: None,
        }
    }

    /// Distinct driver messages received.
    pub fn distinct(&self) -> u64 {
        self.got.iter().map(|g| g.distinct).sum()
    }

    /// Receipts of a message already received.
    pub fn duplicates(&self) -> u64 {
        self.got.iter().map(|g| g.duplicates).sum()
    }

    /// Counts one text frame; `clock` is the instant the producers' nanosecond stamps count from.
    pub fn frame(&mut self, f: &str, clock: Instant) -> Kind {
        // The gateway writes the head first; the search is a fallback should that order change.
        let chat = f.starts_with(CHAT_HEAD) || f.contains(r#""type":"chat:message""#);
        if !chat {
            return if f.contains(r#""type":"joined""#) {
                Kind::Joined
            } else if f.contains(r#""type":"error""#) {
                self.errors += 1;
                Kind::Error
            } else {
                Kind::Other
            };
        }
        let Some((p, seq, t0)) = value_after(f, r#""text":""#).and_then(stamp) else {
            return Kind::Other;
        };
        let Some(set) = self.got.get_mut(p) else {
            return Kind::Other;
        };
        self.chat += 1;
        if !set.insert(seq) {
            return Kind::Duplicate;
        }
        let now = clock.elapsed().as_nanos() as u64;
        self.latency.record(now.saturating_sub(t0) / 1000);
        self.last_new = Some(Instant::now());
        if let Some(id) = value_after(f, r#""id":""#) {
            match &mut self.last_id {
                Some(last) => {
                    last.clear();
                    last.push_str(id);
                }
                None => self.last_id = Some(id.to_string()),
            }
        }
        Kind::Chat
    }
}
