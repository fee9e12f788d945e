//! Kick's `App\Events\*` payloads → [`SlotEvent`]s. The same payloads travel in both feeds
//! (Centrifugo's `push.pub.data` and Pusher's frame): `{"event":"App\\Events\\…","data":…}` where
//! `data` is usually a JSON *string* holding the event object and sometimes the object itself.
//!
//! | event | becomes |
//! |---|---|
//! | `ChatMessageEvent` | a chat message (`type` `reply` → `replyTo`; inline `[emote:<id>:<name>]`) |
//! | `MessageDeletedEvent` | a delete of `message.id` |
//! | `UserBannedEvent` | a clear-user (`permanent` → no `until`; `expires_at` / `duration` min) |
//! | `ChatroomClearEvent` | a clear-chat |
//! | `SubscriptionEvent`, `GiftedSubscriptionsEvent` | a `membership` message with `systemText` |
//! | `KicksGifted` | a `paid` message, amount in `kicks` |
//! | anything else | skipped (the caller counts it) |

use std::borrow::Cow;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use shm_layout::event::moderation_uuid;
use shm_layout::{
    platform_message_uuid, Amount, ChatMessage, ClearChat, ClearUser, Delete, Emote, Kind,
    Platform, ReplyTo, SlotEvent,
};
use uuid::Uuid;

use crate::connectors::civil_time::parse_rfc3339_ms;

const P: Platform = Platform::Kick;

/// One `{"event":…,"data":…}` envelope (the `channel` is read by the feed).
#[derive(Debug, Deserialize)]
pub struct AppEvent<'a> {
    /// `App\Events\ChatMessageEvent`, `KicksGifted`, …
    #[serde(borrow)]
    pub event: Cow<'a, str>,
    /// The event object, as a JSON string or as the object itself.
    #[serde(borrow, default)]
    pub data: RawData<'a>,
}

/// An event's `data`: a JSON string to parse again, or an already parsed JSON value.
#[derive(Debug, Default)]
pub enum RawData<'a> {
    /// `"data":"{\"id\":…}"` (the usual form).
    Str(Cow<'a, str>),
    /// `"data":{"id":…}`.
    Json(serde_json::Value),
    /// Absent or `null`.
    #[default]
    None,
}

impl<'de: 'a, 'a> Deserialize<'de> for RawData<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = RawData<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON string or object")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(RawData::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(RawData::Str(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(RawData::Str(Cow::Owned(s)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(RawData::None)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(RawData::None)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let v = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawData::Json(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                let v = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(RawData::Json(v))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl RawData<'_> {
    /// Parses the event object out of it.
    fn parse<'s, T: Deserialize<'s>>(&'s self) -> Result<T, serde_json::Error> {
        match self {
            RawData::Str(s) => serde_json::from_str(s),
            RawData::Json(v) => T::deserialize(v),
            RawData::None => Err(de::Error::custom("the event has no data")),
        }
    }
}

/// A platform id that Kick sends as a number or a string.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IdStr(pub String);

impl<'de> Deserialize<'de> for IdStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IdStr;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an id (number or string)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IdStr, E> {
                Ok(IdStr(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IdStr, E> {
                Ok(IdStr(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IdStr, E> {
                Ok(IdStr(v.to_owned()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<IdStr, E> {
                Ok(IdStr::default())
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct ChatData<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow, default)]
    content: Cow<'a, str>,
    #[serde(borrow, default, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    created_at: Option<Cow<'a, str>>,
    #[serde(borrow)]
    sender: Sender<'a>,
    #[serde(borrow, default)]
    metadata: Option<Metadata<'a>>,
}

#[derive(Deserialize)]
struct Sender<'a> {
    #[serde(default)]
    id: IdStr,
    #[serde(borrow, default)]
    username: Cow<'a, str>,
    #[serde(borrow, default)]
    identity: Option<Identity<'a>>,
}

#[derive(Deserialize)]
struct Identity<'a> {
    #[serde(borrow, default)]
    color: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    badges: Vec<Badge<'a>>,
}

#[derive(Deserialize)]
struct Badge<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Metadata<'a> {
    #[serde(borrow, default)]
    original_sender: Option<Named<'a>>,
    #[serde(borrow, default)]
    original_message: Option<OriginalMessage<'a>>,
}

#[derive(Deserialize)]
struct Named<'a> {
    #[serde(default)]
    id: IdStr,
    #[serde(borrow, default)]
    username: Cow<'a, str>,
}

#[derive(Deserialize)]
struct OriginalMessage<'a> {
    #[serde(default)]
    id: IdStr,
    #[serde(borrow, default)]
    content: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Deleted {
    message: WithId,
}

#[derive(Deserialize)]
struct WithId {
    id: IdStr,
}

#[derive(Deserialize)]
struct Banned<'a> {
    #[serde(default)]
    id: IdStr,
    #[serde(borrow)]
    user: Named<'a>,
    #[serde(default)]
    permanent: bool,
    /// Minutes.
    #[serde(default)]
    duration: Option<f64>,
    #[serde(borrow, default)]
    expires_at: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Cleared {
    #[serde(default)]
    id: IdStr,
}

#[derive(Deserialize)]
struct Subscribed<'a> {
    #[serde(borrow, default)]
    username: Cow<'a, str>,
    #[serde(default)]
    months: Option<u32>,
}

#[derive(Deserialize)]
struct Gifted<'a> {
    #[serde(borrow, default)]
    gifter_username: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    gifted_usernames: Vec<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Kicks<'a> {
    #[serde(borrow, default)]
    sender: Option<Named<'a>>,
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    gift: Option<Gift<'a>>,
    #[serde(default)]
    gift_transaction_id: IdStr,
}

#[derive(Deserialize)]
struct Gift<'a> {
    #[serde(default)]
    amount: u64,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
}

/// Maps one event of `channel` (the linked slug). `Ok(None)`: a well-formed event CrossChat does
/// not show (counted as skipped). `Err`: a payload that does not parse (counted as a parse error).
/// `now` is the receive time, used when the event carries none.
pub fn map_event(
    channel: &str,
    ev: &AppEvent<'_>,
    now: u64,
) -> Result<Option<SlotEvent>, serde_json::Error> {
    let name = ev.event.rsplit('\\').next().unwrap_or(&ev.event);
    Ok(Some(match name {
        "ChatMessageEvent" => SlotEvent::Message(chat(channel, ev.data.parse()?, now)),
        "MessageDeletedEvent" => {
            let d: Deleted = ev.data.parse()?;
            if d.message.id.0.is_empty() {
                return Err(de::Error::custom("a delete without a message id"));
            }
            SlotEvent::Delete(Delete::new(Uuid::nil(), P, channel, &d.message.id.0, now))
        }
        "UserBannedEvent" => SlotEvent::ClearUser(banned(channel, ev.data.parse()?, now)),
        "ChatroomClearEvent" => {
            let c: Cleared = ev.data.parse().unwrap_or(Cleared {
                id: IdStr::default(),
            });
            let id = if c.id.0.is_empty() {
                moderation_uuid(P, channel, "clear", now)
            } else {
                moderation_uuid(P, channel, &format!("clear:{}", c.id.0), 0)
            };
            SlotEvent::Clear(ClearChat {
                id,
                streamer_id: Uuid::nil(),
                platform: P,
                channel: channel.to_owned(),
                timestamp: now,
            })
        }
        "SubscriptionEvent" => {
            let s: Subscribed = ev.data.parse()?;
            let sentence = match s.months {
                Some(m) if m > 1 => format!("{} subscribed for {m} months", s.username),
                _ => format!("{} subscribed", s.username),
            };
            let key = format!("sub:{}:{}", s.username, s.months.unwrap_or(1));
            SlotEvent::Message(notice(
                channel,
                &s.username,
                sentence,
                Kind::Membership,
                &key,
                now,
            ))
        }
        "GiftedSubscriptionsEvent" => {
            let g: Gifted = ev.data.parse()?;
            let gifter = g
                .gifter_username
                .as_deref()
                .filter(|u| !u.is_empty())
                .unwrap_or("Anonymous");
            let n = g.gifted_usernames.len();
            let sentence = if n == 1 {
                format!(
                    "{gifter} gifted a subscription to {}",
                    g.gifted_usernames[0]
                )
            } else {
                format!("{gifter} gifted {n} subscriptions")
            };
            let key = format!("gift:{gifter}:{}", g.gifted_usernames.join(","));
            SlotEvent::Message(notice(
                channel,
                gifter,
                sentence,
                Kind::Membership,
                &key,
                now,
            ))
        }
        "KicksGifted" => {
            let k: Kicks = ev.data.parse()?;
            let gift = k
                .gift
                .ok_or_else(|| <serde_json::Error as de::Error>::custom("Kicks without a gift"))?;
            let (user, user_id) = match &k.sender {
                Some(s) if !s.username.is_empty() => (s.username.as_ref(), Some(s.id.0.clone())),
                _ => ("Anonymous", None),
            };
            let display = match gift.name.as_deref() {
                Some(n) if !n.is_empty() => format!("{} Kicks ({n})", gift.amount),
                _ => format!("{} Kicks", gift.amount),
            };
            let sentence = format!("{user} sent {display}");
            let key = if k.gift_transaction_id.0.is_empty() {
                format!("kicks:{user}:{}:{now}", gift.amount)
            } else {
                format!("kicks:{}", k.gift_transaction_id.0)
            };
            let mut m = notice(channel, user, sentence, Kind::Paid, &key, now);
            if let Some(text) = k
                .message
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
            {
                m.text = text.to_owned();
            }
            m.user_id = user_id.filter(|u| !u.is_empty());
            m.amount = Some(Amount {
                value: gift.amount.to_string(),
                currency: "kicks".into(),
                display,
            });
            SlotEvent::Message(m)
        }
        _ => return Ok(None),
    }))
}

fn chat(channel: &str, d: ChatData<'_>, now: u64) -> ChatMessage {
    let (text, emotes) = render_emotes(&d.content);
    let ts = d
        .created_at
        .as_deref()
        .and_then(parse_rfc3339_ms)
        .unwrap_or(now);
    let id = platform_message_uuid(P, channel, &d.id);
    let mut m = ChatMessage::simple(id, Uuid::nil(), P, d.sender.username, text, ts);
    m.emotes = emotes;
    m.channel = Some(channel.to_owned());
    m.platform_message_id = Some(d.id.into_owned());
    m.user_id = Some(d.sender.id.0).filter(|s| !s.is_empty());
    if let Some(identity) = d.sender.identity {
        m.color = identity
            .color
            .map(Cow::into_owned)
            .filter(|c| !c.is_empty());
        for b in identity.badges {
            match b.kind.as_ref() {
                "broadcaster" => m.is_owner = true,
                "moderator" => m.is_mod = true,
                "vip" => m.is_vip = true,
                "subscriber" | "og" | "founder" => m.is_sub = true,
                _ => {}
            }
            m.badges.push(b.kind.into_owned());
        }
    }
    if d.kind.as_deref() == Some("reply") {
        if let Some(meta) = d.metadata {
            if let Some(orig) = meta.original_message.filter(|o| !o.id.0.is_empty()) {
                let (orig_text, _) = render_emotes(&orig.content);
                m.reply_to = Some(ReplyTo {
                    platform_message_id: orig.id.0,
                    user: meta
                        .original_sender
                        .map(|s| s.username.into_owned())
                        .unwrap_or_default(),
                    text: orig_text,
                });
            }
        }
    }
    m
}

fn banned(channel: &str, b: Banned<'_>, now: u64) -> ClearUser {
    let until = if b.permanent {
        None
    } else {
        b.expires_at
            .as_deref()
            .and_then(parse_rfc3339_ms)
            .or_else(|| {
                b.duration
                    .filter(|d| *d > 0.0)
                    .map(|d| now + (d * 60_000.0) as u64)
            })
    };
    let id = if b.id.0.is_empty() {
        moderation_uuid(P, channel, &format!("clear_user:{}", b.user.id.0), now)
    } else {
        moderation_uuid(
            P,
            channel,
            &format!("clear_user:{}:{}", b.user.id.0, b.id.0),
            0,
        )
    };
    ClearUser {
        id,
        streamer_id: Uuid::nil(),
        platform: P,
        channel: channel.to_owned(),
        user_id: b.user.id.0,
        user: b.user.username.into_owned(),
        until,
        timestamp: now,
    }
}

/// A membership or paid notice: `systemText` is the sentence, and the text too (a notice has no
/// chat line of its own). Kick gives these no id: the id is derived from their content, so the
/// same notice delivered twice (a reconnect) is written once.
fn notice(
    channel: &str,
    user: &str,
    sentence: String,
    kind: Kind,
    key: &str,
    ts: u64,
) -> ChatMessage {
    let mut m = ChatMessage::simple(
        platform_message_uuid(P, channel, key),
        Uuid::nil(),
        P,
        user,
        sentence.clone(),
        ts,
    );
    m.kind = kind;
    m.channel = Some(channel.to_owned());
    m.system_text = Some(sentence);
    m
}

/// Replaces every inline `[emote:<id>:<name>]` of `content` by `<name>` and records where each
/// name lands, as half-open code-point ranges of the returned text. Control characters are
/// dropped and the text trimmed here (not later), so the ranges stay right.
pub fn render_emotes(content: &str) -> (String, Vec<Emote>) {
    let mut text = String::with_capacity(content.len());
    let mut emotes = Vec::new();
    let mut chars = 0u32; // code points written to `text`
    let mut rest = content;
    while let Some(at) = rest.find("[emote:") {
        chars += push_plain(&mut text, &rest[..at]);
        let tail = &rest[at + 7..];
        match parse_emote(tail) {
            Some((id, name, used)) => {
                let n = name.chars().count() as u32;
                emotes.push(Emote {
                    id: id.to_owned(),
                    name: name.to_owned(),
                    start: chars,
                    end: chars + n,
                });
                text.push_str(name);
                chars += n;
                rest = &tail[used..];
            }
            None => {
                chars += push_plain(&mut text, "[emote:");
                rest = tail;
            }
        }
    }
    push_plain(&mut text, rest);
    // Trim, moving the ranges with the text.
    let lead = text.len() - text.trim_start().len();
    if lead > 0 {
        let lead_chars = text[..lead].chars().count() as u32;
        text.drain(..lead);
        for e in &mut emotes {
            e.start -= lead_chars;
            e.end -= lead_chars;
        }
    }
    let keep = text.trim_end().len();
    text.truncate(keep);
    (text, emotes)
}

/// Appends `s` without control characters; returns the code points appended.
fn push_plain(out: &mut String, s: &str) -> u32 {
    if s.bytes().all(|b| b >= 0x20 && b != 0x7f) && s.is_ascii() {
        out.push_str(s);
        return s.len() as u32;
    }
    let mut n = 0;
    for c in s.chars().filter(|c| !c.is_control()) {
        out.push(c);
        n += 1;
    }
    n
}

/// `<digits>:<name>]…` → (id, name, bytes used). The name is 1–100 bytes without `[`, control
/// characters or white space: Kick's emote names are single words, and a name with white space
/// at either end would be cut by the trim of the text, leaving its range outside the text (or,
/// at the start, a range that cannot move left: the subtraction overflowed).
fn parse_emote(tail: &str) -> Option<(&str, &str, usize)> {
    let colon = tail.find(':')?;
    let id = &tail[..colon];
    if id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let after = &tail[colon + 1..];
    let close = after.find(']')?;
    let name = &after[..close];
    if name.is_empty()
        || name.len() > 100
        || name
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '[')
    {
        return None;
    }
    Some((id, name, colon + 1 + close + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shm_layout::code_point_slice;

    #[test]
    fn emotes_become_names_with_code_point_ranges() {
        let (t, e) = render_emotes("👉 [emote:1:Kappa] ok [emote:22:café]!");
        assert_eq!(t, "👉 Kappa ok café!");
        assert_eq!(e.len(), 2);
        for em in &e {
            assert_eq!(
                code_point_slice(&t, em.start, em.end),
                Some(em.name.as_str())
            );
        }
        assert_eq!((e[0].start, e[0].end, e[0].id.as_str()), (2, 7, "1"));
    }

    #[test]
    fn broken_emote_markup_stays_text_and_trim_moves_ranges() {
        let (t, e) = render_emotes("  [emote:x:y] [emote:5:Z]\u{1} [emote:9:");
        assert_eq!(t, "[emote:x:y] Z [emote:9:");
        assert_eq!(e.len(), 1);
        assert_eq!(code_point_slice(&t, e[0].start, e[0].end), Some("Z"));
    }

    #[test]
    fn emote_names_with_white_space_stay_text() {
        // Fuzzing (kick_emotes, kick_event): a blank name at the end left its range outside the
        // trimmed text; at the start, moving the ranges left by the trimmed blanks overflowed.
        for content in [
            "[emote:37226:KEKW] hi [emote:1: ]",
            "[emote:3989851: sho]w you",
        ] {
            let (t, e) = render_emotes(content);
            for em in &e {
                assert_eq!(
                    code_point_slice(&t, em.start, em.end),
                    Some(em.name.as_str()),
                    "{content:?}"
                );
            }
        }
        let (t, e) = render_emotes("[emote:3989851: sho]w you");
        assert_eq!((t.as_str(), e.len()), ("[emote:3989851: sho]w you", 0));
        let (t, e) = render_emotes("[emote:37226:KEKW] hi [emote:1: ]");
        assert_eq!((t.as_str(), e.len()), ("KEKW hi [emote:1: ]", 1));
    }

    #[test]
    fn unknown_events_are_skipped_and_garbage_is_an_error() {
        let ev: AppEvent =
            serde_json::from_str(r#"{"event":"App\\Events\\PollUpdateEvent","data":"{}"}"#)
                .unwrap();
        assert!(map_event("c", &ev, 1).unwrap().is_none());
        let ev: AppEvent =
            serde_json::from_str(r#"{"event":"App\\Events\\ChatMessageEvent","data":"{nope"}"#)
                .unwrap();
        assert!(map_event("c", &ev, 1).is_err());
    }
}
