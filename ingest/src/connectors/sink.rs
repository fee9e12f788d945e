//! Where a connector's events go: sanitised (the producer socket's rules, applied to platform
//! input), deduplicated by id, fanned out to every streamer that linked the channel (one slot per
//! streamer, same id), and written into the ring. A full ring or a held lock is retried — the
//! connector waits (and stops reading its platform, so TCP pushes back) rather than dropping chat.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use shm_layout::{retain_valid_emotes_in, ChatMessage, SlotEvent, MAX_PAYLOAD};
use tokio::sync::watch;

use super::{ConnectorMetrics, Dedupe, Links, StatusBoard};
use crate::normalize::{
    clean, is_amount_value, is_badge, normalise_color, MAX_BADGES, MAX_CHANNEL_CHARS, MAX_EMOTES,
    MAX_ID_CHARS, MAX_TEXT_CHARS, MAX_USER_CHARS,
};
use crate::writer::{Batch, Outcome, WriterHandle};

/// The connector's way into the ring. Cloning shares it.
#[derive(Clone)]
pub struct Sink {
    inner: Arc<Inner>,
}

struct Inner {
    writer: WriterHandle,
    links: watch::Receiver<Links>,
    dedupe: Mutex<Dedupe>,
    metrics: Arc<ConnectorMetrics>,
    status: StatusBoard,
}

/// What became of an emitted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emitted {
    /// Written for every streamer of the channel.
    Written,
    /// An id seen recently: dropped.
    Duplicate,
    /// Nobody links the channel (any more): dropped.
    Unlinked,
    /// Could not be made to fit a slot or has nothing to show: dropped and counted.
    Unusable,
}

impl Sink {
    /// A sink writing through `writer` for the channels in `links`.
    pub fn new(
        writer: WriterHandle,
        links: watch::Receiver<Links>,
        metrics: Arc<ConnectorMetrics>,
        status: StatusBoard,
    ) -> Sink {
        Sink {
            inner: Arc::new(Inner {
                writer,
                links,
                dedupe: Mutex::new(Dedupe::default()),
                metrics,
                status,
            }),
        }
    }

    /// Sanitises, deduplicates, fans out and writes one event of `channel`. Waits while the
    /// ring is full (retrying), so events of one connector stay in order and none is lost.
    pub async fn emit(&self, channel: &str, mut ev: SlotEvent) -> Emitted {
        let m = &self.inner.metrics;
        m.count_event(&ev);
        if let SlotEvent::Message(msg) = &mut ev {
            if !sanitise_fields(msg) {
                m.skipped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Emitted::Unusable;
            }
        }
        let mut streamers = match self.inner.links.borrow().get(channel) {
            Some(l) => l.streamers.clone(),
            None => return Emitted::Unlinked,
        };
        {
            // Deduplicated per streamer: one message can reach a streamer twice (a reconnect's
            // backfill; a Shared Chat read in two channels that streamer linked), but its copy
            // from another streamer's channel is still that streamer's first.
            let mut d = self.inner.dedupe.lock().unwrap_or_else(|e| e.into_inner());
            let id = ev.id();
            streamers.retain(|s| d.insert(delivery_key(id, *s)));
            if streamers.is_empty() {
                m.duplicates
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Emitted::Duplicate;
            }
        }
        let mut batch = Batch::default();
        for s in &streamers {
            ev.set_streamer_id(*s);
            let start = batch.bytes.len();
            ev.write_json(&mut batch.bytes);
            if batch.bytes.len() - start > MAX_PAYLOAD {
                batch.bytes.truncate(start);
                // Only the first copy can be too large (the copies differ only in the streamer
                // id): a message sheds what it can do without; an event is always small.
                let fitted = match &mut ev {
                    SlotEvent::Message(msg) => fit_slot(msg),
                    _ => false,
                };
                if !fitted {
                    m.skipped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(channel, "an event did not fit a ring slot and was dropped");
                    return Emitted::Unusable;
                }
                ev.write_json(&mut batch.bytes);
            }
            batch.push_end();
        }
        self.write(batch).await;
        self.inner.status.touch(channel, shm_layout::now_ms());
        Emitted::Written
    }

    /// Writes a batch, retrying the payloads the ring refused (full, lock unavailable).
    async fn write(&self, mut batch: Batch) {
        let mut delay = Duration::from_millis(50);
        loop {
            batch.read_at = Some(std::time::Instant::now());
            let done = match self.inner.writer.submit(batch).await.await {
                Ok(b) => b,
                Err(_) => {
                    tracing::error!("the ring writer is gone; an event was not written");
                    return;
                }
            };
            let mut retry = Batch::default();
            let mut start = 0;
            for (end, outcome) in done.ends.iter().zip(&done.outcomes) {
                if matches!(outcome, Outcome::Full | Outcome::Unavailable) {
                    retry.bytes.extend_from_slice(&done.bytes[start..*end]);
                    retry.push_end();
                }
                start = *end;
            }
            if retry.is_empty() {
                return;
            }
            self.inner
                .metrics
                .ring_retries
                .fetch_add(retry.len() as u64, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(
                waiting = retry.len(),
                "the ring is full or locked; the connector waits and retries (no chat is dropped)"
            );
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
            batch = retry;
        }
    }
}

/// Applies the producer socket's rules to a platform message: control characters out, trimmed,
/// `user` 1–64 and `text` 1–1000 characters (longer text is cut, not refused: it is someone
/// else's chat), colour validated, emotes checked against the final text, badges bounded, ids
/// whole or dropped, a decimal amount — and then made to fit a slot ([`fit_slot`]). Returns false
/// when nothing is left to show.
pub fn sanitise(m: &mut ChatMessage) -> bool {
    sanitise_fields(m) && fit_slot(m)
}

/// [`sanitise`] without the slot fit, which the sink does only for a message whose encoding
/// turns out too large (serialising every message twice would cost the hot path).
fn sanitise_fields(m: &mut ChatMessage) -> bool {
    clean_in_place(&mut m.user);
    if m.user.is_empty() {
        // The fallback is platform input too: cleaned like the name it stands in for.
        m.user = clean(m.user_id.as_deref().unwrap_or("")).into_owned();
    }
    cut(&mut m.user, MAX_USER_CHARS);
    if m.user.is_empty() {
        return false;
    }
    // Removing characters or trimming moves code-point offsets: emote ranges that no longer
    // cover their names are dropped below (connectors send clean text).
    clean_in_place(&mut m.text);
    if m.text.is_empty() {
        if let Some(st) = &m.system_text {
            m.text = clean(st).into_owned();
        }
    }
    cut(&mut m.text, MAX_TEXT_CHARS);
    if m.text.is_empty() {
        return false;
    }
    m.color = m.color.as_deref().and_then(normalise_color);
    m.badges.retain(|b| is_badge(b));
    m.badges.truncate(MAX_BADGES);
    m.emotes.truncate(MAX_EMOTES);
    retain_valid_emotes_in(&m.text, &mut m.emotes);
    if let Some(st) = &mut m.system_text {
        clean_in_place(st);
        cut(st, MAX_TEXT_CHARS);
    }
    if m.system_text.as_deref() == Some("") {
        m.system_text = None;
    }
    if let Some(r) = &mut m.reply_to {
        clean_in_place(&mut r.user);
        cut(&mut r.user, MAX_USER_CHARS);
        clean_in_place(&mut r.text);
        cut(&mut r.text, 200);
    }
    if m.reply_to
        .as_ref()
        .is_some_and(|r| !is_id(&r.platform_message_id) || r.user.is_empty())
    {
        m.reply_to = None;
    }
    // Ids are kept whole or not at all (a cut id names something else); names are cut.
    if let Some(c) = &mut m.channel {
        clean_in_place(c);
        cut(c, MAX_CHANNEL_CHARS);
    }
    if m.channel.as_deref() == Some("") {
        m.channel = None;
    }
    if !m.platform_message_id.as_deref().is_none_or(is_id) {
        m.platform_message_id = None;
    }
    if !m.user_id.as_deref().is_none_or(is_id) {
        m.user_id = None;
    }
    m.emotes.retain(|e| is_id(&e.id));
    if let Some(a) = &m.amount {
        if !is_amount_value(&a.value)
            || !(1..=8).contains(&a.currency.len())
            || !a.currency.bytes().all(|b| b.is_ascii_alphabetic())
        {
            m.amount = None;
        }
    }
    if let Some(a) = &mut m.amount {
        clean_in_place(&mut a.display);
        cut(&mut a.display, 32);
        if a.display.is_empty() {
            a.display = format!("{} {}", a.value, a.currency);
        }
    }
    true
}

/// Makes a message fit a ring slot by shedding what the chat line can do without, in this order:
/// emote images (the UI shows their names), the reply's quoted text, the system text, badges,
/// then the end of the text (as much as is over). False only when no text would be left.
fn fit_slot(m: &mut ChatMessage) -> bool {
    let fits = |m: &ChatMessage| m.to_json().len() <= MAX_PAYLOAD;
    if fits(m) {
        return true;
    }
    m.emotes.clear();
    if fits(m) {
        return true;
    }
    if let Some(r) = &mut m.reply_to {
        r.text.clear();
    }
    m.system_text = None;
    m.badges.clear();
    while !fits(m) {
        let over = m.to_json().len() - MAX_PAYLOAD;
        // Drop as many characters from the end as make up the excess in JSON bytes.
        let (mut bytes, mut chars) = (0, 0);
        for c in m.text.chars().rev() {
            if bytes >= over {
                break;
            }
            bytes += c.len_utf8() + usize::from(c == '"' || c == '\\');
            chars += 1;
        }
        let keep = m.text.chars().count().saturating_sub(chars.max(1));
        if keep == 0 {
            return false;
        }
        cut(&mut m.text, keep);
        if m.text.is_empty() {
            return false;
        }
    }
    true
}

/// An id as the producer socket takes it: 1–128 characters, no control characters or spaces
/// at the ends.
fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_ID_CHARS && s.trim() == s && !s.chars().any(|c| c.is_control())
}

/// [`clean`] without a copy when the string is already clean.
fn clean_in_place(s: &mut String) {
    let cleaned = clean(s);
    if cleaned.len() != s.len() {
        *s = cleaned.into_owned();
    }
}

/// Cuts `s` to at most `max_chars` characters (then trims the end), in place.
fn cut(s: &mut String, max_chars: usize) {
    // A string no longer in bytes than the limit is no longer in characters: no walk needed.
    if s.len() <= max_chars {
        return;
    }
    if let Some((i, _)) = s.char_indices().nth(max_chars) {
        s.truncate(i);
        let end = s.trim_end().len();
        s.truncate(end);
    }
}

/// The dedupe key of one event delivered to one streamer. XOR keeps it a single 128-bit key with
/// no hashing on the hot path: event ids are v5 hashes or v4 random, streamer ids v4 random, so
/// two different pairs meet only by a 2^-122 chance.
fn delivery_key(id: uuid::Uuid, streamer: uuid::Uuid) -> uuid::Uuid {
    uuid::Uuid::from_u128(id.as_u128() ^ streamer.as_u128())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shm_layout::{Emote, Platform};
    use uuid::Uuid;

    fn msg(user: &str, text: &str) -> ChatMessage {
        ChatMessage::simple(Uuid::nil(), Uuid::nil(), Platform::Twitch, user, text, 1)
    }

    #[test]
    fn a_message_too_big_for_a_slot_sheds_emote_images_then_text_and_fits() {
        // 1,000 four-byte characters, 128 emotes with 128-character ids: far over a slot.
        let text: String = "😀".repeat(MAX_TEXT_CHARS);
        let mut m = msg("viewer", &text);
        m.emotes = (0..MAX_EMOTES as u32)
            .map(|i| Emote {
                id: format!("{i:0>128}"),
                name: "😀".into(),
                start: i,
                end: i + 1,
            })
            .collect();
        m.channel = Some("c".repeat(300));
        m.user_id = Some("id\u{0}with a NUL".into());
        m.platform_message_id = Some("x".repeat(MAX_ID_CHARS + 1));
        m.amount = Some(shm_layout::Amount {
            value: "12,00".into(),
            currency: "EUR".into(),
            display: "€12,00".into(),
        });
        assert!(m.to_json().len() > 4 * MAX_PAYLOAD);
        assert!(sanitise(&mut m));
        assert!(m.to_json().len() <= MAX_PAYLOAD, "{}", m.to_json().len());
        assert!(m.emotes.is_empty(), "emote images go first");
        assert!(m.text.chars().count() > 900, "most of the text stays");
        assert_eq!(
            m.channel.as_deref().map(|c| c.chars().count()),
            Some(MAX_CHANNEL_CHARS)
        );
        assert_eq!(
            (m.user_id.as_deref(), m.platform_message_id.as_deref()),
            (None, None)
        );
        assert!(m.amount.is_none(), "not a decimal amount");
    }

    #[test]
    fn a_message_that_fits_keeps_its_emotes_and_a_good_amount() {
        let mut m = msg("viewer", "Kappa hi");
        m.emotes = vec![Emote {
            id: "25".into(),
            name: "Kappa".into(),
            start: 0,
            end: 5,
        }];
        m.amount = Some(shm_layout::Amount {
            value: "2.00".into(),
            currency: "EUR".into(),
            display: " ".into(),
        });
        assert!(sanitise(&mut m));
        assert_eq!(m.emotes.len(), 1);
        assert_eq!(m.amount.unwrap().display, "2.00 EUR");
    }

    #[test]
    fn platform_text_is_cleaned_and_bounded() {
        let mut m = msg(" ann\u{1}", &"x".repeat(1500));
        m.color = Some("#ABC".into());
        m.badges = vec!["moderator".into(), "<b>".into(), "Sub Scriber".into()];
        assert!(sanitise(&mut m));
        assert_eq!(m.user, "ann");
        assert_eq!(m.text.chars().count(), MAX_TEXT_CHARS);
        assert_eq!(m.color.as_deref(), Some("#aabbcc"));
        assert_eq!(m.badges, vec!["moderator".to_string()]);
    }

    #[test]
    fn empty_lines_fall_back_or_are_unusable() {
        let mut m = msg("", "hi");
        m.user_id = Some("42".into());
        assert!(sanitise(&mut m));
        assert_eq!(m.user, "42");
        let mut m = msg("ann", " ");
        m.system_text = Some("ann subscribed".into());
        assert!(sanitise(&mut m));
        assert_eq!(m.text, "ann subscribed");
        assert!(!sanitise(&mut msg("ann", "\u{1} ")));
        // Fuzzing (twitch_irc): the fallback to the user id kept its control characters.
        let mut m = msg("\u{1}", "hi");
        m.user_id = Some(" 86\u{0}08\u{1b}28 ".into());
        assert!(sanitise(&mut m));
        assert_eq!(m.user, "860828");
        let mut m = msg("", "hi");
        m.user_id = Some("\u{0}".into());
        assert!(!sanitise(&mut m), "nothing left to name the author");
    }

    #[test]
    fn emote_ranges_outside_the_text_are_dropped() {
        let mut m = msg("ann", "Kappa hi");
        m.emotes = vec![
            Emote {
                id: "1".into(),
                name: "Kappa".into(),
                start: 0,
                end: 5,
            },
            Emote {
                id: "2".into(),
                name: "x".into(),
                start: 6,
                end: 99,
            },
        ];
        assert!(sanitise(&mut m));
        assert_eq!(m.emotes.len(), 1);
    }
}
