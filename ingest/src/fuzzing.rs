//! Property checks over raw input bytes, shared by the `cargo fuzz` targets (`fuzz/`) and the
//! stable-toolchain replay of their corpora (`tests/fuzz_replay.rs`): the producer line and
//! every connector's parser of platform input. The ring-side checks (slot payload, segment
//! header, emote ranges) are `shm_layout::fuzzing`'s.
//!
//! Each check feeds its input through the functions the product uses and panics when a stated
//! property does not hold; refusing an input is fine, a panic inside the product is a bug.
//! Not part of the API: hidden from the docs.

use std::borrow::Cow;

use shm_layout::fuzzing::{assert_stable_json, assert_valid_emotes, Target};
use shm_layout::{ChatMessage, Platform, SlotEvent, MAX_PAYLOAD};
use uuid::Uuid;

use crate::connectors::kick::map::{map_event, render_emotes, AppEvent, RawData};
use crate::connectors::kick::{centrifugo, lookup, pusher};
use crate::connectors::sink::sanitise;
use crate::connectors::twitch::map::{map as map_twitch, Mapped as TwitchMapped};
use crate::connectors::twitch::parse::{unescape, Line};
use crate::connectors::youtube::api::error_from_body;
use crate::connectors::youtube::map::{map_item, micros_to_decimal, parse_page, Mapped};
use crate::normalize::is_badge;
use crate::normalize::{self, Code, MAX_BADGES, MAX_EMOTES, MAX_TEXT_CHARS, MAX_USER_CHARS};
use crate::request::{classify, Request};

/// The targets of this crate: name (= the `fuzz/fuzz_targets/<name>.rs` file and the
/// `fuzz/corpus/<name>/` directory) and check.
pub const TARGETS: &[Target] = &[
    ("producer_line", producer_line),
    ("twitch_irc", twitch_irc),
    ("kick_centrifugo", kick_centrifugo),
    ("kick_pusher", kick_pusher),
    ("kick_event", kick_event),
    ("kick_emotes", kick_emotes),
    ("kick_lookup", kick_lookup),
    ("youtube_response", youtube_response),
    ("youtube_micros", youtube_micros),
];

/// The clock the checks stamp events with (fixed, so a replay is deterministic).
const NOW: u64 = 1_750_000_000_000;
/// The channel connector events are mapped for.
const CHANNEL: &str = "somechannel";

/// One producer request line, as `conn` handles it, on every platform: a refusal has a
/// sentence; an accepted message has its emote ranges inside its text (code points) and either
/// encodes to at most [`MAX_PAYLOAD`] bytes, which read back as the same message, or is refused
/// `too_large`; an accepted event fits a slot and reads back the same.
pub fn producer_line(line: &[u8]) {
    if line.len() > normalize::MAX_LINE {
        return; // refused before classification (`Refusal::line_too_long`)
    }
    for platform in Platform::ALL {
        match classify(line, platform, NOW) {
            Err(r) => assert!(!r.message.is_empty()),
            Ok(Request::Control(c)) => {
                let _ = format!("{c:?}");
            }
            Ok(Request::Event(ev)) => {
                let json = ev.to_json();
                assert!(
                    json.len() <= MAX_PAYLOAD,
                    "an accepted event is {} bytes, over a slot",
                    json.len()
                );
                assert_stable_json(&ev);
            }
            Ok(Request::Message) => match normalize::normalise(line, platform, Uuid::nil(), NOW) {
                Err(r) => {
                    assert_eq!(r.code, Code::Invalid, "{r}");
                    assert!(!r.message.is_empty());
                }
                Ok(m) => {
                    assert_eq!(m.platform, platform);
                    assert_valid_emotes(&m.text, &m.emotes, true);
                    let mut out = b"prefix".to_vec();
                    match normalize::encode(&m, &mut out) {
                        Ok(()) => {
                            let json = &out[6..];
                            assert!(json.len() <= MAX_PAYLOAD, "{} bytes", json.len());
                            let back = SlotEvent::from_json(json)
                                .expect("what ingest writes, the pump reads");
                            assert_eq!(back, SlotEvent::Message(m.clone()));
                        }
                        Err(r) => {
                            assert_eq!(r.code, Code::TooLarge, "{r}");
                            assert_eq!(out, b"prefix", "a refused encode leaves nothing behind");
                            assert!(m.to_json().len() > MAX_PAYLOAD);
                        }
                    }
                }
            },
        }
    }
}

/// What a connector hands its sink. A message's emote ranges lie inside its text and are named
/// by the text they cover; after `sanitise` (if it keeps the message) the producer socket's
/// bounds hold for user, text, colour, badges and emotes; the event written reads back the same.
pub fn connector_event(mut ev: SlotEvent) {
    if let SlotEvent::Message(m) = &mut ev {
        assert_valid_emotes(&m.text, &m.emotes, true);
        if !sanitise(m) {
            return;
        }
        assert_sanitised(m);
    }
    assert_stable_json(&ev);
}

fn assert_sanitised(m: &ChatMessage) {
    let clean = |s: &str| !s.chars().any(|c| c < ' ' || c == '\u{7f}') && s.trim() == s;
    for (field, value, max) in [
        ("user", &m.user, MAX_USER_CHARS),
        ("text", &m.text, MAX_TEXT_CHARS),
    ] {
        let n = value.chars().count();
        assert!((1..=max).contains(&n), "{field} has {n} characters");
        assert!(clean(value), "{field} {value:?} is not clean");
    }
    if let Some(c) = &m.color {
        assert_eq!(normalize::normalise_color(c).as_deref(), Some(c.as_str()));
    }
    assert!(m.badges.len() <= MAX_BADGES && m.badges.iter().all(|b| is_badge(b)));
    assert!(m.emotes.len() <= MAX_EMOTES);
    assert_valid_emotes(&m.text, &m.emotes, true);
    if let Some(st) = &m.system_text {
        assert!(!st.is_empty() && clean(st) && st.chars().count() <= MAX_TEXT_CHARS);
    }
    // What the socket would also take: bounded ids and names, a decimal amount, and a slot.
    let id_ok = |s: &str| !s.is_empty() && s.len() <= normalize::MAX_ID_CHARS && clean(s);
    assert!(m.platform_message_id.as_deref().is_none_or(id_ok));
    assert!(m.user_id.as_deref().is_none_or(id_ok));
    assert!(m.emotes.iter().all(|e| id_ok(&e.id)));
    if let Some(c) = &m.channel {
        assert!(!c.is_empty() && clean(c) && c.chars().count() <= normalize::MAX_CHANNEL_CHARS);
    }
    if let Some(a) = &m.amount {
        assert!(normalize::is_amount_value(&a.value), "{a:?}");
        assert!((1..=8).contains(&a.currency.len()) && !a.display.is_empty());
    }
    let len = m.to_json().len();
    assert!(
        len <= shm_layout::MAX_PAYLOAD,
        "a sanitised message of {len} bytes"
    );
}

/// Twitch IRC: the input's lines as the transport cuts them, each parsed and, for the commands
/// the connector maps, mapped (see [`connector_event`]).
pub fn twitch_irc(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for raw in text.split('\n') {
        let Ok(line) = Line::parse(raw) else { continue };
        assert!(!line.command.is_empty());
        assert!(line.command.bytes().all(|b| b.is_ascii_alphanumeric()));
        for (k, v) in line.tags() {
            assert!(line.tag(k).is_some());
            let _ = unescape(v);
        }
        let _ = (line.nick(), line.params());
        match map_twitch(&line) {
            Ok(TwitchMapped::Event { channel, event }) => {
                assert_eq!(Some(channel), line.channel());
                connector_event(event);
            }
            Ok(TwitchMapped::Skipped) | Err(_) => {}
        }
    }
}

/// Kick's Centrifugo feed: one websocket frame (one or more reply lines).
pub fn kick_centrifugo(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for ev in centrifugo::decode_frame(CHANNEL, &text, NOW)
        .into_iter()
        .flatten()
        .flatten()
    {
        connector_event(ev);
    }
}

/// Kick's legacy Pusher feed: one websocket frame.
pub fn kick_pusher(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match pusher::decode(&text) {
        Ok(pusher::Incoming::Event { event, .. }) => {
            if let Ok(Some(ev)) = map_event(CHANNEL, &event, NOW) {
                connector_event(ev);
            }
        }
        Ok(pusher::Incoming::Error { message, .. }) => {
            assert!(message.chars().count() <= 80 && !message.chars().any(char::is_control));
        }
        Ok(_) | Err(_) => {}
    }
}

/// The `App\Events\*` names `map_event` knows, and one it does not.
const KICK_EVENTS: [&str; 8] = [
    "ChatMessageEvent",
    "MessageDeletedEvent",
    "UserBannedEvent",
    "ChatroomClearEvent",
    "SubscriptionEvent",
    "GiftedSubscriptionsEvent",
    "KicksGifted",
    "PinnedMessageCreatedEvent",
];

/// One Kick event's `data`, without the frame around it. Input: a byte choosing the event name
/// (low bits) and the form of `data` (bit 7: a JSON object rather than a JSON string), then the
/// event object's JSON.
pub fn kick_event(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let name = KICK_EVENTS[usize::from(sel) % KICK_EVENTS.len()];
    let body = String::from_utf8_lossy(body);
    let data = if sel & 0x80 != 0 {
        match serde_json::from_str(&body) {
            Ok(v) => RawData::Json(v),
            Err(_) => return,
        }
    } else {
        RawData::Str(Cow::Borrowed(&body))
    };
    let ev = AppEvent {
        event: Cow::Owned(format!("App\\Events\\{name}")),
        data,
    };
    if let Ok(Some(ev)) = map_event(CHANNEL, &ev, NOW) {
        connector_event(ev);
    }
}

/// Kick's inline emotes (`[emote:<id>:<name>]`) → text and code-point ranges: every range lies
/// inside the text and is named by what it covers; the text is trimmed and has no controls.
pub fn kick_emotes(data: &[u8]) {
    let content = String::from_utf8_lossy(data);
    let (text, emotes) = render_emotes(&content);
    assert_valid_emotes(&text, &emotes, true);
    assert_eq!(text.trim(), text, "the text is trimmed");
    assert!(!text.chars().any(char::is_control), "{text:?} has controls");
}

/// Kick's channel lookup answer. Input: a byte choosing the HTTP status, then the body.
pub fn kick_lookup(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let status = [200, 200, 200, 404, 403, 429, 503, 500][usize::from(sel) % 8];
    let body = String::from_utf8_lossy(body);
    match lookup::parse(CHANNEL, status, &body) {
        Ok(_) => assert_eq!(status, 200),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// A YouTube Data API answer: as a `liveChatMessages.list` page (every item mapped, see
/// [`connector_event`]) and as an error body.
pub fn youtube_response(data: &[u8]) {
    if let Ok(page) = parse_page(data) {
        for item in &page.items {
            if let Mapped::Event(ev) = map_item(CHANNEL, item, NOW) {
                connector_event(ev);
            }
        }
    }
    let e = error_from_body(403, data);
    assert!(!e.describe().is_empty());
}

/// `amountMicros` → a decimal string: exact (integer part and six-digit fraction give back the
/// micros), at least two and at most six decimals, and a value the producer socket accepts.
pub fn youtube_micros(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let parsed = s.trim().parse::<u64>().ok();
    let Some(v) = micros_to_decimal(&s) else {
        assert_eq!(parsed, None, "{s:?} is a number of micros");
        return;
    };
    let m = parsed.expect("a decimal comes from a number");
    let (int, frac) = v.split_once('.').expect("a decimal point");
    assert!((2..=6).contains(&frac.len()), "{v}");
    assert!(frac.len() == 2 || !frac.ends_with('0'), "{v}");
    let back = int.parse::<u64>().expect("integer part") * 1_000_000
        + format!("{frac:0<6}").parse::<u64>().expect("fraction");
    assert_eq!(back, m, "{v}");
    // The producer socket's rule for `amount.value`.
    assert!(v.len() <= 24 && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
}
