//! Turning one raw producer payload into a normalised [`ChatMessage`] (issue 4's rules, strict).
//!
//! A request line is `{"streamerId", "user", "text", "isVip"?, "isSub"?, "isMod"?, "color"?}`:
//! - `user` and `text`: C0 control characters (U+0000–U+001F) **and DEL (U+007F)** removed, then
//!   trimmed (Unicode white space); both must be non-empty after that; `user` at most 64 characters,
//!   `text` at most 1000 (characters, not bytes). Controls go first, so `"\u0001 ann"` is `"ann"`.
//! - `streamerId`: a string holding a UUID (any form `uuid` parses; written back hyphenated).
//! - `isVip`, `isSub`, `isMod`: booleans, default false. `color`: `#rgb` or `#rrggbb`, written back
//!   as lower-case `#rrggbb` — colours reach a browser's CSS, so nothing else passes.
//! - Optional fields (`isVip`, `isSub`, `isMod`, `color`) may be `null`, which means absent.
//! - Unknown fields are ignored (so are `id`, `platform` and `timestamp`: ingest sets those).
//!   A known field given twice is refused rather than silently resolved.
//! - Wrong types, invalid UTF-8, lines that are not JSON or not a JSON object are `invalid`, with a
//!   sentence naming the field where there is one.
//!
//! Parsing borrows strings from the line when they hold no escapes and skips unknown values
//! without building them, so a 300-byte request costs about a microsecond.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use shm_layout::{ChatMessage, Platform, MAX_PAYLOAD};
use uuid::Uuid;

/// Longest request line accepted, newline excluded; longer lines are refused `too_large`
/// without being buffered whole.
pub const MAX_LINE: usize = 64 * 1024;
/// Longest `user`, in characters, after normalisation.
pub const MAX_USER_CHARS: usize = 64;
/// Longest `text`, in characters, after normalisation.
pub const MAX_TEXT_CHARS: usize = 1000;

/// The reply codes of the protocol (defined once, in `shm_layout::protocol`, for both sides).
pub use shm_layout::protocol::ReplyCode as Code;

/// Why a request was refused: its code and a sentence for the producer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Refusal {
    /// The reply code.
    pub code: Code,
    /// The sentence sent back in the reply's `error` field.
    pub message: String,
}

impl Refusal {
    /// An `invalid` refusal with `message`.
    pub fn invalid(message: impl Into<String>) -> Refusal {
        Refusal {
            code: Code::Invalid,
            message: message.into(),
        }
    }

    /// The refusal for a request line over [`MAX_LINE`] bytes.
    pub fn line_too_long() -> Refusal {
        Refusal {
            code: Code::TooLarge,
            message: format!(
                "the request line is longer than {MAX_LINE} bytes and was discarded: send one chat message per line"
            ),
        }
    }
}

/// Parses and normalises one request line (without its newline) for `platform`, giving the
/// message the `id` and `timestamp` supplied.
pub fn normalise(
    line: &[u8],
    platform: Platform,
    id: Uuid,
    timestamp: u64,
) -> Result<ChatMessage, Refusal> {
    let raw = parse(line)?;
    if let Some(field) = raw.duplicate {
        return Err(Refusal::invalid(format!(
            "field \"{field}\" appears more than once: send it once"
        )));
    }
    let streamer = raw.streamer_id.ok_or_else(|| required("streamerId"))?;
    let streamer_id = parse_streamer_id(&streamer)?;
    let user = clean_field("user", raw.user, MAX_USER_CHARS)?;
    let text = clean_field("text", raw.text, MAX_TEXT_CHARS)?;
    let color = match raw.color {
        None => None,
        Some(c) => Some(normalise_color(&c).ok_or_else(|| {
            Refusal::invalid(
                "field \"color\" must be \"#rgb\" or \"#rrggbb\" in hexadecimal digits, like \"#1e90ff\"",
            )
        })?),
    };
    let mut msg = ChatMessage {
        is_vip: raw.is_vip.unwrap_or(false),
        is_sub: raw.is_sub.unwrap_or(false),
        is_mod: raw.is_mod.unwrap_or(false),
        color,
        is_owner: raw.is_owner.unwrap_or(false),
        ..ChatMessage::simple(id, streamer_id, platform, user, text, timestamp)
    };
    v2::apply(
        &mut msg,
        V2 {
            channel: raw.channel,
            platform_message_id: raw.platform_message_id,
            user_id: raw.user_id,
            kind: raw.kind,
            badges: raw.badges,
            emotes: raw.emotes,
            reply_to: raw.reply_to,
            amount: raw.amount,
            system_text: raw.system_text,
        },
    )?;
    Ok(msg)
}

/// The v2 fields of a request, before validation.
struct V2<'a> {
    channel: Option<Str<'a>>,
    platform_message_id: Option<Str<'a>>,
    user_id: Option<Str<'a>>,
    kind: Option<Str<'a>>,
    badges: Option<Vec<String>>,
    emotes: Option<Vec<EmoteIn>>,
    reply_to: Option<ReplyIn>,
    amount: Option<AmountIn>,
    system_text: Option<Str<'a>>,
}

/// Validation of the v2 fields (issue 12): each refusal names its field and says what is wanted.
mod v2 {
    use super::*;
    use shm_layout::{code_point_slice, platform_message_uuid, Amount, Emote, Kind, ReplyTo};

    /// Longest `channel`, in characters.
    pub const MAX_CHANNEL_CHARS: usize = 100;
    /// Longest platform or user id, in characters.
    pub const MAX_ID_CHARS: usize = 128;
    /// Most badges per message.
    pub const MAX_BADGES: usize = 16;
    /// Most emotes per message.
    pub const MAX_EMOTES: usize = 128;

    pub(super) fn apply(m: &mut ChatMessage, v: V2<'_>) -> Result<(), Refusal> {
        if let Some(c) = v.channel {
            m.channel = Some(short_field("channel", &c, MAX_CHANNEL_CHARS)?);
        }
        if let Some(p) = v.platform_message_id {
            m.platform_message_id = Some(short_field("platformMessageId", &p, MAX_ID_CHARS)?);
        }
        if let Some(u) = v.user_id {
            m.user_id = Some(short_field("userId", &u, MAX_ID_CHARS)?);
        }
        if let (Some(c), Some(p)) = (&m.channel, &m.platform_message_id) {
            // The platform's id names the message: delivered twice, it is logged once.
            m.id = platform_message_uuid(m.platform, c, p);
        }
        if let Some(k) = v.kind {
            m.kind = Kind::from_name(&k).ok_or_else(|| {
                Refusal::invalid(format!("field \"kind\" must be {}", expected("kind")))
            })?;
        }
        if let Some(badges) = v.badges {
            if badges.len() > MAX_BADGES {
                return Err(Refusal::invalid(format!(
                    "field \"badges\" has {} entries, at most {MAX_BADGES} are allowed",
                    badges.len()
                )));
            }
            if let Some(bad) = badges.iter().find(|b| !is_badge(b)) {
                return Err(Refusal::invalid(format!(
                    "badge {bad:?} is not a short word: badges are 1–32 of a-z, 0-9, '_' and '-', like \"moderator\""
                )));
            }
            m.badges = badges;
        }
        if let Some(emotes) = v.emotes {
            if emotes.len() > MAX_EMOTES {
                return Err(Refusal::invalid(format!(
                    "field \"emotes\" has {} entries, at most {MAX_EMOTES} are allowed",
                    emotes.len()
                )));
            }
            let mut out: Vec<Emote> = Vec::with_capacity(emotes.len());
            for e in emotes {
                let (start, end) = (
                    e.start.min(u32::MAX as u64) as u32,
                    e.end.min(u32::MAX as u64) as u32,
                );
                let slice = code_point_slice(&m.text, start, end).ok_or_else(|| {
                    Refusal::invalid(format!(
                        "emote {:?} covers code points {}..{}, outside the text ({} code points): \"start\" and \"end\" are a half-open range of code points of the normalised \"text\"",
                        e.id, e.start, e.end, m.text.chars().count()
                    ))
                })?;
                let id = short_field("emotes[].id", &e.id, MAX_ID_CHARS)?;
                let name = match e.name {
                    Some(n) if n != slice => {
                        return Err(Refusal::invalid(format!(
                            "emote {id:?} is named {n:?} but its range covers {slice:?}: the range must cover the emote's name in \"text\""
                        )))
                    }
                    _ => slice.to_owned(),
                };
                if out.iter().any(|o| start < o.end && o.start < end) {
                    return Err(Refusal::invalid(format!(
                        "emote {id:?} overlaps another emote's range"
                    )));
                }
                out.push(Emote {
                    id,
                    name,
                    start,
                    end,
                });
            }
            out.sort_by_key(|e| e.start);
            m.emotes = out;
        }
        if let Some(r) = v.reply_to {
            let platform_message_id = short_field(
                "replyTo.platformMessageId",
                &r.platform_message_id,
                MAX_ID_CHARS,
            )?;
            let user = short_field("replyTo.user", &r.user, MAX_USER_CHARS)?;
            let text = clean(&r.text);
            let text: String = text.chars().take(MAX_TEXT_CHARS).collect();
            m.reply_to = Some(ReplyTo {
                platform_message_id,
                user,
                text,
            });
        }
        if let Some(a) = v.amount {
            let value = a.value.trim();
            if !is_amount_value(value) {
                return Err(Refusal::invalid(
                    "field \"amount.value\" must be a decimal number as a string, like \"2.00\"",
                ));
            }
            let currency = a.currency.as_deref().map(str::trim).unwrap_or("");
            if currency.is_empty() {
                return Err(Refusal::invalid(
                    "field \"amount\" needs a \"currency\": an ISO code like \"EUR\", or \"bits\" / \"kicks\"",
                ));
            }
            if currency.len() > 8 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(Refusal::invalid(
                    "field \"amount.currency\" must be 1–8 letters, like \"EUR\" or \"bits\"",
                ));
            }
            let display = match a.display.as_deref().map(|d| clean(d).into_owned()) {
                Some(d) if !d.is_empty() => d.chars().take(32).collect(),
                _ => format!("{value} {currency}"),
            };
            m.amount = Some(Amount {
                value: value.to_owned(),
                currency: currency.to_owned(),
                display,
            });
        }
        if let Some(t) = v.system_text {
            let t = clean(&t);
            if !t.is_empty() {
                if t.chars().count() > MAX_TEXT_CHARS {
                    return Err(Refusal::invalid(format!(
                        "field \"systemText\" is longer than {MAX_TEXT_CHARS} characters"
                    )));
                }
                m.system_text = Some(t.into_owned());
            }
        }
        Ok(())
    }

    /// A short single-line field: controls removed, trimmed, 1–`max` characters.
    pub fn short_field(field: &str, value: &str, max: usize) -> Result<String, Refusal> {
        let v = clean(value);
        if v.is_empty() {
            return Err(Refusal::invalid(format!(
                "field \"{field}\" is empty after trimming and removing control characters"
            )));
        }
        // Fast path: a string no longer in bytes than the limit is no longer in characters.
        if v.len() > max {
            let n = v.chars().count();
            if n > max {
                return Err(Refusal::invalid(format!(
                    "field \"{field}\" is {n} characters long, at most {max} are allowed"
                )));
            }
        }
        Ok(v.into_owned())
    }
}

pub use v2::{short_field, MAX_BADGES, MAX_CHANNEL_CHARS, MAX_EMOTES, MAX_ID_CHARS};

/// An `amount.value`: a decimal number as a string ("2.00"), at most 24 characters.
pub fn is_amount_value(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 24
        && v.bytes().filter(|&b| b == b'.').count() <= 1
        && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && v.bytes().next().is_some_and(|b| b.is_ascii_digit())
}

/// Appends `msg`'s slot JSON to `out`; refuses `too_large` (leaving `out` as it was) when it is
/// over a slot's [`MAX_PAYLOAD`] bytes.
pub fn encode(msg: &ChatMessage, out: &mut Vec<u8>) -> Result<(), Refusal> {
    let start = out.len();
    // Serialising a struct of strings, numbers and bools into a Vec cannot fail.
    serde_json::to_writer(&mut *out, msg).expect("ChatMessage always serialises");
    let len = out.len() - start;
    if len > MAX_PAYLOAD {
        out.truncate(start);
        return Err(Refusal {
            code: Code::TooLarge,
            message: format!(
                "the normalised message is {len} bytes, a ring slot holds at most {MAX_PAYLOAD}: shorten \"text\""
            ),
        });
    }
    Ok(())
}

/// The `streamerId` of a request, or the refusal every request type gives for a bad one.
pub fn parse_streamer_id(s: &str) -> Result<Uuid, Refusal> {
    Uuid::try_parse(s).map_err(|_| {
        Refusal::invalid(
            "field \"streamerId\" must be a UUID, like \"6f1c2a4e-0b7d-4c55-9a51-2f9d3c1e8b70\"",
        )
    })
}

fn required(field: &str) -> Refusal {
    Refusal::invalid(format!("field \"{field}\" is required"))
}

/// Removes C0 controls and DEL, trims, and checks non-empty and the character limit.
fn clean_field(
    field: &'static str,
    value: Option<Str<'_>>,
    max_chars: usize,
) -> Result<String, Refusal> {
    let value = value.ok_or_else(|| required(field))?;
    short_field(field, &value, max_chars)
}

fn is_control(c: char) -> bool {
    c < '\u{20}' || c == '\u{7f}'
}

/// C0 controls and DEL removed, then Unicode white space trimmed.
pub fn clean(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        let kept: String = s.chars().filter(|&c| !is_control(c)).collect();
        Cow::Owned(kept.trim().to_owned())
    } else {
        Cow::Borrowed(s.trim())
    }
}

/// `#rgb` / `#rrggbb` (any case) → lower-case `#rrggbb`; anything else → None.
pub fn normalise_color(c: &str) -> Option<String> {
    let hex = c.strip_prefix('#')?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = String::with_capacity(7);
    out.push('#');
    match hex.len() {
        3 => {
            for b in hex.bytes() {
                let l = b.to_ascii_lowercase() as char;
                out.push(l);
                out.push(l);
            }
        }
        6 => out.extend(hex.bytes().map(|b| b.to_ascii_lowercase() as char)),
        _ => return None,
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Parsing: a hand-written map visitor so that every type error names its field.

/// A string borrowed from the request line when it has no escapes, owned otherwise.
#[derive(Debug)]
enum Str<'a> {
    Borrowed(&'a str),
    Owned(String),
}

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Str::Borrowed(s) => s,
            Str::Owned(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str::Owned(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Str<'de>, E> {
                Ok(Str::Owned(v))
            }
        }
        d.deserialize_str(V)
    }
}

#[derive(Debug, Default)]
struct Raw<'a> {
    streamer_id: Option<Str<'a>>,
    user: Option<Str<'a>>,
    text: Option<Str<'a>>,
    is_vip: Option<bool>,
    is_sub: Option<bool>,
    is_mod: Option<bool>,
    color: Option<Str<'a>>,
    channel: Option<Str<'a>>,
    platform_message_id: Option<Str<'a>>,
    user_id: Option<Str<'a>>,
    kind: Option<Str<'a>>,
    is_owner: Option<bool>,
    badges: Option<Vec<String>>,
    emotes: Option<Vec<EmoteIn>>,
    reply_to: Option<ReplyIn>,
    amount: Option<AmountIn>,
    system_text: Option<Str<'a>>,
    duplicate: Option<&'static str>,
}

/// An emote as a producer sends it: the name may be left out (it is the text it covers).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmoteIn {
    id: String,
    #[serde(default)]
    name: Option<String>,
    start: u64,
    end: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ReplyIn {
    platform_message_id: String,
    user: String,
    #[serde(default)]
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AmountIn {
    value: String,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    display: Option<String>,
}

/// The visitor records the field whose value it is reading, so that a type error from
/// `serde_json` (which knows only a line and column) can be turned into a sentence naming it.
struct PayloadSeed<'c> {
    field: &'c Cell<Option<&'static str>>,
}

impl<'de> DeserializeSeed<'de> for PayloadSeed<'_> {
    type Value = Raw<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Raw<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

fn put<T>(slot: &mut Option<T>, v: Option<T>, field: &'static str, dup: &mut Option<&'static str>) {
    if slot.is_some() && dup.is_none() {
        *dup = Some(field);
    }
    if v.is_some() {
        *slot = v;
    }
}

impl<'de> Visitor<'de> for PayloadSeed<'_> {
    type Value = Raw<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw<'de>, A::Error> {
        let mut raw = Raw::default();
        while let Some(key) = map.next_key::<Str<'de>>()? {
            let field: &'static str = match &*key {
                "streamerId" => "streamerId",
                "user" => "user",
                "text" => "text",
                "isVip" => "isVip",
                "isSub" => "isSub",
                "isMod" => "isMod",
                "color" => "color",
                "channel" => "channel",
                "platformMessageId" => "platformMessageId",
                "userId" => "userId",
                "kind" => "kind",
                "isOwner" => "isOwner",
                "badges" => "badges",
                "emotes" => "emotes",
                "replyTo" => "replyTo",
                "amount" => "amount",
                "systemText" => "systemText",
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            self.field.set(Some(field));
            let dup = &mut raw.duplicate;
            match field {
                "streamerId" => put(&mut raw.streamer_id, Some(map.next_value()?), field, dup),
                "user" => put(&mut raw.user, Some(map.next_value()?), field, dup),
                "text" => put(&mut raw.text, Some(map.next_value()?), field, dup),
                "isVip" => put(&mut raw.is_vip, map.next_value()?, field, dup),
                "isSub" => put(&mut raw.is_sub, map.next_value()?, field, dup),
                "isMod" => put(&mut raw.is_mod, map.next_value()?, field, dup),
                "isOwner" => put(&mut raw.is_owner, map.next_value()?, field, dup),
                "channel" => put(&mut raw.channel, map.next_value()?, field, dup),
                "platformMessageId" => {
                    put(&mut raw.platform_message_id, map.next_value()?, field, dup)
                }
                "userId" => put(&mut raw.user_id, map.next_value()?, field, dup),
                "kind" => put(&mut raw.kind, map.next_value()?, field, dup),
                "badges" => put(&mut raw.badges, map.next_value()?, field, dup),
                "emotes" => put(&mut raw.emotes, map.next_value()?, field, dup),
                "replyTo" => put(&mut raw.reply_to, map.next_value()?, field, dup),
                "amount" => put(&mut raw.amount, map.next_value()?, field, dup),
                "systemText" => put(&mut raw.system_text, map.next_value()?, field, dup),
                _ => put(&mut raw.color, map.next_value()?, field, dup),
            }
            self.field.set(None);
        }
        Ok(raw)
    }
}

fn expected(field: &str) -> &'static str {
    match field {
        "streamerId" => "a string holding a UUID",
        "user" | "text" => "a string",
        "color" => "a string like \"#1e90ff\" (or null)",
        "channel" | "platformMessageId" | "userId" | "systemText" => "a string (or null)",
        "kind" => "one of \"chat\", \"action\", \"paid\", \"membership\", \"system\" (or null)",
        "badges" => "an array of badge names like [\"moderator\", \"subscriber\"] (or null)",
        "emotes" => "an array of {\"id\", \"name\"?, \"start\", \"end\"} with code-point offsets into \"text\" (or null)",
        "replyTo" => "an object {\"platformMessageId\", \"user\", \"text\"} (or null)",
        "amount" => "an object {\"value\": \"2.00\", \"currency\": \"EUR\", \"display\"?: \"€2.00\"} (or null)",
        _ => "true or false (or null)",
    }
}

fn parse(line: &[u8]) -> Result<Raw<'_>, Refusal> {
    let text = std::str::from_utf8(line).map_err(|e| {
        Refusal::invalid(format!(
            "the request line is not valid UTF-8 (bad byte at offset {}): send UTF-8 JSON",
            e.valid_up_to()
        ))
    })?;
    if text.trim().is_empty() {
        return Err(Refusal::invalid(
            "the request line is empty: send one JSON object per line",
        ));
    }
    let field = Cell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let result = PayloadSeed { field: &field }
        .deserialize(&mut de)
        .and_then(|raw| de.end().map(|()| raw));
    result.map_err(|e| match (e.classify(), field.get()) {
        (serde_json::error::Category::Data, Some(f)) => {
            Refusal::invalid(format!("field \"{f}\" must be {}", expected(f)))
        }
        (serde_json::error::Category::Data, None) => Refusal::invalid(
            "the request must be a JSON object, like {\"streamerId\": \"…\", \"user\": \"…\", \"text\": \"…\"}",
        ),
        _ => Refusal::invalid(format!("the request line is not valid JSON ({e})")),
    })
}

/// A badge name: 1–32 of `[a-z0-9_-]` (a mark in the UI, never free text).
pub fn is_badge(b: &str) -> bool {
    (1..=32).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "6f1c2a4e-0b7d-4c55-9a51-2f9d3c1e8b70";

    fn norm(line: &str) -> Result<ChatMessage, Refusal> {
        normalise(line.as_bytes(), Platform::Kick, Uuid::nil(), 42)
    }

    fn refusal(line: &str) -> Refusal {
        norm(line).expect_err(line)
    }

    fn ok(user: &str, text: &str, extra: &str) -> ChatMessage {
        let line = format!(
            r#"{{"streamerId":"{SID}","user":{},"text":{}{extra}}}"#,
            serde_json::to_string(user).unwrap(),
            serde_json::to_string(text).unwrap()
        );
        norm(&line).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    #[test]
    fn a_minimal_payload_gets_defaults_and_the_process_platform() {
        let line = format!(
            r#"{{"streamerId":"{SID}","user":"ann","text":"hi","platform":"Twitch","id":"x","timestamp":1}}"#
        );
        let m = normalise(line.as_bytes(), Platform::YouTube, Uuid::max(), 1234).unwrap();
        assert_eq!(
            m.platform,
            Platform::YouTube,
            "platform comes from the process"
        );
        assert_eq!(m.id, Uuid::max(), "id comes from ingest");
        assert_eq!(m.timestamp, 1234, "timestamp comes from ingest");
        assert_eq!(m.streamer_id, Uuid::parse_str(SID).unwrap());
        assert_eq!((m.user.as_str(), m.text.as_str()), ("ann", "hi"));
        assert!(!m.is_vip && !m.is_sub && !m.is_mod);
        assert_eq!(m.color, None);
    }

    #[test]
    fn flags_and_colour_are_taken() {
        let m = ok(
            "a",
            "b",
            r##","isVip":true,"isSub":false,"isMod":true,"color":"#A1b2C3""##,
        );
        assert!(m.is_vip && !m.is_sub && m.is_mod);
        assert_eq!(m.color.as_deref(), Some("#a1b2c3"));
        let m = ok("a", "b", r##","color":"#F0a""##);
        assert_eq!(m.color.as_deref(), Some("#ff00aa"));
        let m = ok("a", "b", r#","isVip":null,"color":null"#);
        assert!(!m.is_vip);
        assert_eq!(m.color, None);
    }

    #[test]
    fn bad_colours_are_invalid() {
        for c in [
            "red",
            "#12",
            "#1234",
            "#12345",
            "#1234567",
            "#ggg",
            "123456",
            "",
            " #123",
            "#123 ",
            "#12345g",
            "url(x)",
            "#\u{ff11}23",
        ] {
            let line = format!(
                r#"{{"streamerId":"{SID}","user":"a","text":"b","color":{}}}"#,
                serde_json::to_string(c).unwrap()
            );
            let r = refusal(&line);
            assert_eq!(r.code, Code::Invalid, "{c:?}");
            assert!(r.message.contains("\"color\""), "{c:?}: {}", r.message);
        }
        let r = refusal(&format!(
            r#"{{"streamerId":"{SID}","user":"a","text":"b","color":123}}"#
        ));
        assert!(
            r.message.contains("\"color\" must be a string"),
            "{}",
            r.message
        );
    }

    #[test]
    fn user_and_text_are_cleaned_and_trimmed() {
        let m = ok("  \u{1}ann\u{7f} \t", "\u{0}  hello\u{1b}[31m world \n", "");
        assert_eq!(m.user, "ann");
        assert_eq!(m.text, "hello[31m world");
        // Interior controls (including tab and newline) are removed, not replaced.
        let m = ok("a\tb", "x\ny\rz", "");
        assert_eq!((m.user.as_str(), m.text.as_str()), ("ab", "xyz"));
        // Non-ASCII white space is trimmed too; other Unicode is kept.
        let m = ok("\u{3000}Zoë\u{a0}", "🎉 ok 🎉", "");
        assert_eq!((m.user.as_str(), m.text.as_str()), ("Zoë", "🎉 ok 🎉"));
    }

    #[test]
    fn empty_after_cleaning_is_invalid() {
        for (user, text, field) in [
            ("", "x", "user"),
            ("  \u{1}\u{7f} ", "x", "user"),
            ("a", "", "text"),
            ("a", "\n\t \u{2003}", "text"),
        ] {
            let line = format!(
                r#"{{"streamerId":"{SID}","user":{},"text":{}}}"#,
                serde_json::to_string(user).unwrap(),
                serde_json::to_string(text).unwrap()
            );
            let r = refusal(&line);
            assert_eq!(r.code, Code::Invalid);
            assert_eq!(
                r.message,
                format!(
                    "field \"{field}\" is empty after trimming and removing control characters"
                )
            );
        }
    }

    #[test]
    fn length_limits_count_characters_not_bytes() {
        let m = ok(&"é".repeat(64), &"🎉".repeat(1000), "");
        assert_eq!(m.user.chars().count(), 64);
        assert_eq!(m.text.chars().count(), 1000);
        // Padding that cleaning removes does not count.
        ok(&format!("  {}  ", "a".repeat(64)), "x", "");

        let line = format!(
            r#"{{"streamerId":"{SID}","user":"{}","text":"x"}}"#,
            "é".repeat(65)
        );
        assert_eq!(
            refusal(&line).message,
            "field \"user\" is 65 characters long, at most 64 are allowed"
        );
        let line = format!(
            r#"{{"streamerId":"{SID}","user":"a","text":"{}"}}"#,
            "a".repeat(1001)
        );
        let r = refusal(&line);
        assert_eq!(r.code, Code::Invalid);
        assert_eq!(
            r.message,
            "field \"text\" is 1001 characters long, at most 1000 are allowed"
        );
    }

    #[test]
    fn streamer_id_must_be_a_uuid() {
        let m = ok("a", "b", "");
        assert_eq!(m.streamer_id.to_string(), SID);
        // Other spellings uuid accepts are normalised to the hyphenated form.
        let line = format!(
            r#"{{"streamerId":"{}","user":"a","text":"b"}}"#,
            SID.replace('-', "").to_uppercase()
        );
        assert_eq!(norm(&line).unwrap().streamer_id.to_string(), SID);
        for bad in [r#""""#, r#""not-a-uuid""#, r#""6f1c2a4e-0b7d-4c55-9a51""#] {
            let r = refusal(&format!(r#"{{"streamerId":{bad},"user":"a","text":"b"}}"#));
            assert_eq!(r.code, Code::Invalid);
            assert!(
                r.message.starts_with("field \"streamerId\" must be a UUID"),
                "{}",
                r.message
            );
        }
        let r = refusal(r#"{"streamerId":7,"user":"a","text":"b"}"#);
        assert_eq!(
            r.message,
            "field \"streamerId\" must be a string holding a UUID"
        );
    }

    #[test]
    fn required_fields_are_named() {
        for (line, field) in [
            (r#"{"user":"a","text":"b"}"#.to_string(), "streamerId"),
            (format!(r#"{{"streamerId":"{SID}","text":"b"}}"#), "user"),
            (format!(r#"{{"streamerId":"{SID}","user":"a"}}"#), "text"),
        ] {
            assert_eq!(
                refusal(&line).message,
                format!("field \"{field}\" is required")
            );
        }
    }

    #[test]
    fn wrong_types_name_the_field() {
        for (extra, field, want) in [
            (r#","isVip":"yes""#, "isVip", "true or false (or null)"),
            (r#","isSub":1"#, "isSub", "true or false (or null)"),
            (r#","isMod":[]"#, "isMod", "true or false (or null)"),
        ] {
            let line = format!(r#"{{"streamerId":"{SID}","user":"a","text":"b"{extra}}}"#);
            let r = refusal(&line);
            assert_eq!(r.code, Code::Invalid);
            assert_eq!(r.message, format!("field \"{field}\" must be {want}"));
        }
        for (line, field) in [
            (
                format!(r#"{{"streamerId":"{SID}","user":5,"text":"b"}}"#),
                "user",
            ),
            (
                format!(r#"{{"streamerId":"{SID}","user":null,"text":"b"}}"#),
                "user",
            ),
            (
                format!(r#"{{"streamerId":"{SID}","user":"a","text":{{}}}}"#),
                "text",
            ),
        ] {
            assert_eq!(
                refusal(&line).message,
                format!("field \"{field}\" must be a string")
            );
        }
    }

    #[test]
    fn unknown_fields_are_ignored_and_duplicates_refused() {
        let m = ok(
            "a",
            "b",
            r#","badge":{"deep":[1,2,{"x":null}]},"emotes":[],"n":1.5"#,
        );
        assert_eq!(m.text, "b");
        let line = format!(r#"{{"streamerId":"{SID}","user":"a","user":"b","text":"c"}}"#);
        assert_eq!(
            refusal(&line).message,
            "field \"user\" appears more than once: send it once"
        );
    }

    #[test]
    fn not_json_not_an_object_and_bad_utf8_are_invalid() {
        for line in ["hello", "{", r#"{"user":"a""#, "{} {}", r#"{"user":"a",}"#] {
            let r = refusal(line);
            assert_eq!(r.code, Code::Invalid, "{line}");
            assert!(
                r.message.starts_with("the request line is not valid JSON"),
                "{line}: {}",
                r.message
            );
        }
        for line in ["[]", "\"x\"", "42", "null", "true"] {
            let r = refusal(line);
            assert_eq!(r.code, Code::Invalid, "{line}");
            assert!(
                r.message.starts_with("the request must be a JSON object"),
                "{line}: {}",
                r.message
            );
        }
        for line in ["", "   ", "\r"] {
            assert_eq!(
                refusal(line).message,
                "the request line is empty: send one JSON object per line"
            );
        }
        let mut bytes = format!(r#"{{"streamerId":"{SID}","user":"a","text":""#).into_bytes();
        bytes.extend([0xff, 0xfe]);
        bytes.extend(br#""}"#);
        let r = normalise(&bytes, Platform::Kick, Uuid::nil(), 0).unwrap_err();
        assert_eq!(r.code, Code::Invalid);
        assert!(
            r.message.starts_with("the request line is not valid UTF-8"),
            "{}",
            r.message
        );
    }

    #[test]
    fn escaped_strings_are_decoded() {
        let line = format!(r#"{{"streamerId":"{SID}","user":"\u0041nn","text":"say \"hi\"\\"}}"#);
        let m = norm(&line).unwrap();
        assert_eq!((m.user.as_str(), m.text.as_str()), ("Ann", "say \"hi\"\\"));
    }

    #[test]
    fn encode_refuses_messages_over_a_slot() {
        let m = ok("a", "b", "");
        let mut out = b"prefix".to_vec();
        encode(&m, &mut out).unwrap();
        assert_eq!(ChatMessage::from_json(&out[6..]).unwrap(), m);

        // 1000 four-byte characters are legal text but do not fit a 4092-byte slot.
        let big = ok(&"🎉".repeat(64), &"🎉".repeat(1000), "");
        let mut out = b"prefix".to_vec();
        let r = encode(&big, &mut out).unwrap_err();
        assert_eq!(r.code, Code::TooLarge);
        assert!(
            r.message.contains("a ring slot holds at most 4092"),
            "{}",
            r.message
        );
        assert_eq!(out, b"prefix", "nothing is left behind");

        // Quotes double in size when escaped: 1000 of them still fit.
        let quotes = ok("a", &"\"".repeat(1000), "");
        encode(&quotes, &mut Vec::new()).unwrap();
    }

    #[test]
    fn colour_normalisation_table() {
        assert_eq!(normalise_color("#abc").as_deref(), Some("#aabbcc"));
        assert_eq!(normalise_color("#ABCDEF").as_deref(), Some("#abcdef"));
        assert_eq!(normalise_color("#000").as_deref(), Some("#000000"));
        assert_eq!(normalise_color("abc"), None);
        assert_eq!(normalise_color("#"), None);
    }
}
