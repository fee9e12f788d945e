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

/// The digits at the start of `s` as a number, and what follows them.
fn number(s: &[u8]) -> Option<(u64, &[u8])> {
    let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || n > 19 {
        return None;
    }
    let v = s[..n]
        .iter()
        .fold(0u64, |v, d| v * 10 + u64::from(d - b'0'));
    Some((v, &s[n..]))
}

/// A driver's message text `producer:seq:nanos[ padding]` → (producer, seq, nanos); `text` may
/// run on past the stamp (to the end of the frame).
pub fn stamp(text: &str) -> Option<(usize, u64, u64)> {
    let (p, rest) = number(text.as_bytes())?;
    let (s, rest) = number(rest.strip_prefix(b":")?)?;
    let (t, _) = number(rest.strip_prefix(b":")?)?;
    Some((p as usize, s, t))
}

/// The message id and the text (running on to the end of the frame) of a chat frame, read at
/// the offsets where the gateway writes them: `{"type":"chat:message","message":{"id":"<36>",
/// "streamerId":"<36>","user":"<no quote>","text":"…` — a prefix compare and one byte search,
/// where searching the frame for each key cost the driver a third of its time at 1M frames/s.
fn chat_fields(f: &str) -> Option<(&str, &str)> {
    let rest = f.strip_prefix(r#"{"type":"chat:message","message":{"id":""#)?;
    let id = rest.get(..36)?;
    let rest = rest.get(36..)?.strip_prefix(r#"","streamerId":""#)?;
    let rest = rest.get(36..)?.strip_prefix(r#"","user":""#)?;
    let end = rest.find('"')?;
    let text = rest[end..].strip_prefix(r#"","text":""#)?;
    Some((id, text))
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
        // The fast path, else a search for each key (should the field order change).
        let (id, text) = match chat_fields(f) {
            Some((id, text)) => (Some(id), Some(text)),
            None => (value_after(f, r#""id":""#), value_after(f, r#""text":""#)),
        };
        let Some((p, seq, t0)) = text.and_then(stamp) else {
            return Kind::Other;
        };
        let Some(set) = self.got.get_mut(p) else {
            return Kind::Other;
        };
        self.chat += 1;
        if !set.insert(seq) {
            return Kind::Duplicate;
        }
        // One clock read per frame (it was a tenth of the driver's time with two).
        let now = Instant::now();
        let ns = now.duration_since(clock).as_nanos() as u64;
        self.latency.record(ns.saturating_sub(t0) / 1000);
        self.last_new = Some(now);
        if let Some(id) = id {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_and_the_search_read_the_same_fields() {
        let f = r#"{"type":"chat:message","message":{"id":"0b5e6f1c-3c39-4c55-9a43-0c1f2a7e9d10","streamerId":"5d1c0f5e-8e0b-4a7e-9a43-0c1f2a7e9d11","user":"load1","text":"1:42:1234567 pad","platform":"twitch"}}"#;
        let (id, text) = chat_fields(f).expect("the gateway's field order");
        assert_eq!(Some(id), value_after(f, r#""id":""#));
        assert_eq!(stamp(text), Some((1, 42, 1234567)));
        assert_eq!(
            stamp(value_after(f, r#""text":""#).unwrap()),
            Some((1, 42, 1234567))
        );
        // Another order still counts, through the search.
        let g = r#"{"type":"chat:message","message":{"text":"2:7:99","id":"x"}}"#;
        let mut t = Tally::new(3);
        assert_eq!(t.frame(g, Instant::now()), Kind::Chat);
        assert_eq!(t.frame(g, Instant::now()), Kind::Duplicate);
        assert_eq!(t.last_id.as_deref(), Some("x"));
    }
}
