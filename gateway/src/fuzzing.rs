//! Property checks over raw input bytes, shared by the `cargo fuzz` targets (`fuzz/`) and the
//! stable-toolchain replay of their corpora (`tests/fuzz_replay.rs`): the gateway's parsers of
//! outside input — the WebSocket client frames, the JSON bodies of every route (the filters
//! with their normalisation) and the ring slot as the pump decodes it.
//!
//! Each check feeds its input through the functions the product uses and panics when a stated
//! property does not hold; refusing an input is fine (that is the parser's job), a panic inside
//! the product is a bug. Not part of the API: hidden from the docs.

use std::collections::HashMap;

use serde_json::Value;
use shm_layout::fuzzing::Target;
use shm_layout::{ChatMessage, Platform, SlotEvent, SlotKind};
use uuid::Uuid;

use crate::http::body::parse_json_body;
use crate::http::routes::auth::Credentials;
use crate::http::routes::channels::LinkBody;
use crate::http::routes::overlays::{label, CreateBody, HideBody};
use crate::http::routes::producers::ProducerBody;
use crate::http::routes::stream::Control;
use crate::http::session::{
    validate_password, validate_username, MAX_PASSWORD_BYTES, MIN_PASSWORD_BYTES,
};
use crate::ingests::IngestRequest;
use crate::pump::Pumped;
use crate::realtime::frames::filters_frame;
use crate::realtime::rooms::Outbound;
use crate::realtime::socket::{parse_inbound, Inbound, MAX_INBOUND};
use crate::store::filters::{
    Filters, MAX_BLOCKED_USERS, MAX_BOTS, MAX_ENTRY_CHARS, MAX_HIGHLIGHT_WORDS,
};
use crate::store::overlays::MAX_LABEL_CHARS;

/// The targets of this crate: name (= the `fuzz/fuzz_targets/<name>.rs` file and the
/// `fuzz/corpus/<name>/` directory) and check. Every name starts with [`PREFIX`].
pub const TARGETS: &[Target] = &[
    ("gateway_ws_inbound", ws_inbound),
    ("gateway_http_body", http_body),
    ("gateway_filters", filters),
    ("gateway_pump_slot", pump_slot),
];

/// What the names of this crate's targets start with (the other crates' replays leave them to
/// this one).
pub const PREFIX: &str = "gateway_";

/// One text frame a client sends on `/api/socket` or `/api/overlay/socket`, through
/// [`parse_inbound`] (tungstenite hands over only UTF-8 text, so other bytes are skipped). An
/// accepted frame is at most 4 KiB and one of the known commands, the one its `type` names (or,
/// in serde's sequence form, its first element), with the fields it carries; a refused one gets
/// a sentence, the size one exactly when it is over 4 KiB.
pub fn ws_inbound(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let cmd = match parse_inbound(text) {
        Err(sentence) => {
            assert!(!sentence.is_empty());
            // (The other refusal quotes serde's error, which may quote the frame: compare starts.)
            assert_eq!(
                sentence.starts_with("That frame is larger than 4 KiB"),
                text.len() > MAX_INBOUND,
                "{sentence}"
            );
            return;
        }
        Ok(cmd) => cmd,
    };
    assert!(text.len() <= MAX_INBOUND, "accepted {} bytes", text.len());
    let v: Value = serde_json::from_str(text).expect("an accepted frame is JSON");
    assert!(v.is_object() || v.is_array(), "accepted {v} as a command");
    let name = field(&v, "type", 0).and_then(Value::as_str);
    match cmd {
        Inbound::Leave => assert_eq!(name, Some("leave")),
        Inbound::Join {
            streamer_id,
            key,
            since,
        } => {
            assert_eq!(name, Some("join"));
            for (value, k, i) in [
                (&streamer_id, "streamerId", 1),
                (&key, "key", 2),
                (&since, "since", 3),
            ] {
                let want = match field(&v, k, i) {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.as_str()),
                    Some(other) => panic!("`{k}` {other} accepted as a string"),
                };
                assert_eq!(value.as_deref(), want, "{k}");
            }
            // What the connection does next with them (must refuse, not panic).
            let _ = streamer_id.map(|s| Uuid::parse_str(s.trim()));
            let _ = since.map(|s| Uuid::parse_str(&s));
        }
    }
}

/// A field of a command: by name in the object form, by position in serde's sequence form of an
/// enum tagged `type` (`["join", streamerId, key, since]`).
fn field<'a>(v: &'a Value, name: &str, position: usize) -> Option<&'a Value> {
    match v {
        Value::Object(o) => o.get(name),
        Value::Array(a) => a.get(position),
        _ => None,
    }
}

/// One request body of a JSON route, through [`parse_json_body`] and the route's own checks.
/// Input: a byte choosing the route (register/login, stream control, link a channel, make an
/// overlay link, hide on overlay, a producer), then the body. A refused body is a 400 with a
/// sentence; what a route accepts keeps its stated bounds (names and passwords, channels,
/// labels), normalising is idempotent, and the producer line the gateway writes to an ingest is
/// one line carrying the caller's id and exactly the body's fields.
pub fn http_body(data: &[u8]) {
    let Some((&route, body)) = data.split_first() else {
        return;
    };
    match route % 6 {
        0 => credentials(body),
        1 => {
            if let Some(c) = parsed::<Control>(body) {
                // The route's only check is the action's value.
                let _ = matches!(c.action.as_str(), "start" | "end");
            }
        }
        2 => link(body),
        3 => overlay_label(body),
        4 => {
            if let Some(h) = parsed::<HideBody>(body) {
                let _ = Uuid::parse_str(h.id.trim());
            }
        }
        _ => producer(body),
    }
}

/// Parses a body as the route does; a refusal must be a 400 with a sentence naming the body.
fn parsed<T: serde::de::DeserializeOwned>(body: &[u8]) -> Option<T> {
    match parse_json_body::<T>(body) {
        Ok(t) => Some(t),
        Err(e) => {
            assert_eq!(e.status.as_u16(), 400);
            assert!(e.message.starts_with("The request body "), "{}", e.message);
            None
        }
    }
}

fn credentials(body: &[u8]) {
    let Some(c) = parsed::<Credentials>(body) else {
        return;
    };
    if validate_username(&c.username).is_ok() {
        assert!((3..=32).contains(&c.username.len()), "{:?}", c.username);
        assert!(
            c.username
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            "{:?}",
            c.username
        );
    }
    match validate_password(&c.password) {
        Ok(()) => assert!((MIN_PASSWORD_BYTES..=MAX_PASSWORD_BYTES).contains(&c.password.len())),
        Err(e) => assert!(!e.message.is_empty()),
    }
}

fn link(body: &[u8]) {
    let Some(b) = parsed::<LinkBody>(body) else {
        return;
    };
    let Some(platform) = Platform::from_slug(&b.platform) else {
        return;
    };
    match shm_layout::links::normalise(platform, &b.channel) {
        Err(sentence) => assert!(!sentence.is_empty()),
        Ok(channel) => {
            assert!(
                !channel.is_empty()
                    && channel.len() <= 64
                    && channel.bytes().all(|c| c.is_ascii_graphic() && c != b'/'),
                "{platform}: {:?} normalised to {channel:?}",
                b.channel
            );
            assert_eq!(
                shm_layout::links::normalise(platform, &channel).as_deref(),
                Ok(channel.as_str()),
                "normalising is idempotent"
            );
        }
    }
}

fn overlay_label(body: &[u8]) {
    let Some(b) = parsed::<CreateBody>(body) else {
        return;
    };
    match label(b) {
        Err(e) => assert!(!e.message.is_empty()),
        Ok(l) => {
            let n = l.chars().count();
            assert!((1..=MAX_LABEL_CHARS).contains(&n), "{l:?}");
            assert!(l.trim() == l && !l.chars().any(char::is_control), "{l:?}");
            let again = label(CreateBody {
                label: Some(l.clone()),
            });
            assert_eq!(again.ok().as_deref(), Some(l.as_str()), "idempotent");
        }
    }
}

/// The caller's id in the producer checks.
const CALLER: Uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);

fn producer(body: &[u8]) {
    let Some(b) = parsed::<ProducerBody>(body) else {
        return;
    };
    let req = IngestRequest {
        streamer_id: CALLER,
        user: &b.user,
        text: &b.text,
        is_vip: b.is_vip,
        is_sub: b.is_sub,
        is_mod: b.is_mod,
        color: b.color.as_deref(),
    };
    // What `IngestPool::send` writes, before its newline.
    let line = serde_json::to_vec(&req).expect("request serialises");
    assert!(
        !line.contains(&b'\n') && !line.contains(&b'\r'),
        "the producer line is one line"
    );
    let v: Value = serde_json::from_slice(&line).expect("the producer line is JSON");
    let mut want = serde_json::json!({
        "streamerId": CALLER,
        "user": b.user,
        "text": b.text,
        "isVip": b.is_vip,
        "isSub": b.is_sub,
        "isMod": b.is_mod,
    });
    if let Some(c) = &b.color {
        want["color"] = c.as_str().into();
    }
    assert_eq!(
        v, want,
        "the line carries the caller's id and the body's fields only"
    );
}

/// `PUT /api/filters`: the body through [`parse_json_body`] and [`Filters::normalised`]. Normalised
/// filters are within their limits (list lengths, 1–64 characters an entry, trimmed, no control
/// characters, no case-insensitive duplicates), keep the input's entries in order (first
/// spelling wins), are idempotent (normalising twice gives the same), and what is saved to
/// `filters.json` and pushed in the `filters` frame reads back the same.
pub fn filters(data: &[u8]) {
    let Some(f) = parsed::<Filters>(data) else {
        return;
    };
    let n = match f.clone().normalised() {
        Err(e) => {
            assert!(
                ["blockedUsers", "bots", "highlightWords"]
                    .iter()
                    .any(|field| e.0.contains(field)),
                "{e}"
            );
            return;
        }
        Ok(n) => n,
    };
    assert_eq!(n.hide_commands, f.hide_commands);
    for (field, given, kept, max) in [
        (
            "blockedUsers",
            &f.blocked_users,
            &n.blocked_users,
            MAX_BLOCKED_USERS,
        ),
        ("bots", &f.bots, &n.bots, MAX_BOTS),
        (
            "highlightWords",
            &f.highlight_words,
            &n.highlight_words,
            MAX_HIGHLIGHT_WORDS,
        ),
    ] {
        assert!(kept.len() <= max, "{field}: {} entries", kept.len());
        let mut seen = std::collections::HashSet::new();
        for e in kept {
            let chars = e.chars().count();
            assert!((1..=MAX_ENTRY_CHARS).contains(&chars), "{field}: {e:?}");
            assert!(e.trim() == e, "{field}: {e:?} is not trimmed");
            assert!(!e.chars().any(char::is_control), "{field}: {e:?}");
            assert!(seen.insert(e.to_lowercase()), "{field}: {e:?} twice");
        }
        // Kept entries are the first spelling of each, in the input's order.
        let mut first = Vec::new();
        let mut lower = std::collections::HashSet::new();
        for g in given {
            if lower.insert(g.trim().to_lowercase()) {
                first.push(g.trim());
            }
        }
        assert_eq!(
            kept.iter().map(String::as_str).collect::<Vec<_>>(),
            first,
            "{field}"
        );
    }
    assert_eq!(
        n.clone().normalised().as_ref(),
        Ok(&n),
        "normalising twice gives the same"
    );
    // `FilterStore::put` writes the map pretty-printed; `load` reads it back.
    let saved = serde_json::to_vec_pretty(&HashMap::from([(CALLER, n.clone())]))
        .expect("filters serialise");
    let loaded: HashMap<Uuid, Filters> = serde_json::from_slice(&saved).expect("filters load");
    assert_eq!(loaded.get(&CALLER), Some(&n));
    let frame: Value = serde_json::from_str(filters_frame(&n).frame().as_str())
        .expect("the filters frame is JSON");
    assert_eq!(frame["type"], "filters");
    let pushed: Filters = serde_json::from_value(frame["filters"].clone()).expect("pushed filters");
    assert_eq!(pushed, n);
}

/// The id of a log line, as the log store reads it for dedupe and `since`.
#[derive(serde::Deserialize)]
struct IdOnly {
    id: Uuid,
}

/// A ring slot's payload as the pump decodes it ([`Pumped::from_slot`]). An accepted message is
/// kept as one line of UTF-8 JSON that the log's readers read back as the same message (its id
/// for dedupe and `since`, not taken for a moderation line), and its frame is
/// `{"type":"chat:message","message":<that message>}`; an accepted moderation event is kept as
/// its own encoding and pushed as its `chat:*` frame. A refusal has a sentence.
pub fn pump_slot(data: &[u8]) {
    let p = match Pumped::from_slot(data) {
        Err(e) => {
            assert!(!e.is_empty());
            return;
        }
        Ok(p) => p,
    };
    assert!(
        !p.json.contains(&b'\n') && !p.json.contains(&b'\r'),
        "a log line is one line"
    );
    let text = std::str::from_utf8(&p.json).expect("the kept bytes are UTF-8");
    let frame = p.frame();
    let f: Value = serde_json::from_str(frame.frame().as_str()).expect("the frame is JSON");
    match &p.event {
        None => {
            let m = ChatMessage::from_json(&p.json).unwrap_or_else(|e| {
                panic!("the pump keeps {text:?}, which the log cannot read back: {e}")
            });
            assert_eq!(
                (m.id, m.streamer_id, m.timestamp),
                (p.id, p.streamer_id, p.timestamp)
            );
            assert_eq!(
                ChatMessage::from_json(data).ok().as_ref(),
                Some(&m),
                "kept as sent"
            );
            assert_eq!(
                SlotKind::of_json(&p.json).ok(),
                Some(SlotKind::Message),
                "not an event line"
            );
            let id = serde_json::from_slice::<IdOnly>(&p.json).map(|i| i.id).ok();
            assert_eq!(id, Some(p.id), "the log finds its id");
            let Outbound::Logged { id, .. } = frame else {
                panic!("a message's frame is a chat frame")
            };
            assert_eq!(id, p.id);
            assert_eq!(f["type"], "chat:message");
            let pushed: ChatMessage =
                serde_json::from_value(f["message"].clone()).expect("the frame holds a message");
            assert_eq!(pushed, m);
        }
        Some(ev) => {
            assert!(!matches!(ev, SlotEvent::Message(_)));
            assert_eq!(&p.json[..], &ev.to_json()[..]);
            assert_eq!(SlotEvent::from_json(&p.json).as_ref().ok(), Some(ev));
            assert_eq!(
                (ev.id(), ev.streamer_id(), ev.timestamp()),
                (p.id, p.streamer_id, p.timestamp)
            );
            assert!(
                matches!(frame, Outbound::Logged { id, .. } if id == ev.id()),
                "a moderation frame carries its event's id, so a resume drops it once replayed"
            );
            let t = f["type"].as_str().unwrap_or("");
            assert!(
                ["chat:delete", "chat:clear_user", "chat:clear"].contains(&t),
                "{f}"
            );
        }
    }
}
