//! The normalised chat message (model v2): the payload of one ring slot.
//!
//! Ingest produces it, the gateway persists it and pushes it to browsers. The JSON field names are
//! the reference system's (`streamerId`, `isVip`, …) so that browser code keeps its shape; the v2
//! fields (`kind`, `channel`, `platformMessageId`, `userId`, `isOwner`, `badges`, `emotes`,
//! `replyTo`, `amount`, `systemText`) are omitted when absent, so a v1 payload is a valid v2 one.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::platform::Platform;

/// What kind of chat line a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An ordinary chat message.
    #[default]
    Chat,
    /// Twitch `/me`: the text without the `\x01ACTION` markers.
    Action,
    /// A paid message: Super Chat / Super Sticker, bits, Kicks.
    Paid,
    /// A subscription, resub, gifted subs, member milestone.
    Membership,
    /// A raid, announcement or other platform notice.
    System,
}

impl Kind {
    /// Every kind, in the order metrics list them.
    pub const ALL: [Kind; 5] = [
        Kind::Chat,
        Kind::Action,
        Kind::Paid,
        Kind::Membership,
        Kind::System,
    ];

    /// The kind's JSON name (`chat`, `action`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Chat => "chat",
            Kind::Action => "action",
            Kind::Paid => "paid",
            Kind::Membership => "membership",
            Kind::System => "system",
        }
    }

    /// Parses a JSON name.
    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One emote inside a message's text. Unknown fields are refused (in all three nested types): a
/// slot is kept and pushed verbatim, so what it carries must be exactly the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Emote {
    /// The platform's emote id (used to build the image URL).
    pub id: String,
    /// The emote's name: the text it replaces, and the fallback shown when no image loads.
    pub name: String,
    /// First code point of the emote in `text` (inclusive).
    pub start: u32,
    /// One past its last code point (exclusive).
    pub end: u32,
}

/// The message a reply answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplyTo {
    /// The parent's platform message id.
    pub platform_message_id: String,
    /// The parent's author.
    pub user: String,
    /// The parent's text (possibly cut by the platform).
    pub text: String,
}

/// What a paid message paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Amount {
    /// Decimal value as a string (`"2.00"`; bits: `"100"`), never a float.
    pub value: String,
    /// ISO 4217 code, or `"bits"` / `"kicks"`.
    pub currency: String,
    /// The platform's own display string (`"€2.00"`, `"100 bits"`).
    pub display: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One normalised chat message, exactly as it travels through a slot and lands in the logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    /// UUID v5 of `<platform>:<channel>:<platformMessageId>` when the platform gives an id (see
    /// [`platform_message_uuid`]), else a fresh UUID v4; the gateway deduplicates by it.
    pub id: Uuid,
    /// The account the message belongs to (room `streamer:{streamerId}`).
    pub streamer_id: Uuid,
    /// The chatter's display name, trimmed, 1–64 characters.
    pub user: String,
    /// The message text, trimmed, 1–1000 characters.
    pub text: String,
    /// The platform of the ingest process that normalised it.
    pub platform: Platform,
    /// Milliseconds since the Unix epoch (the platform's time when it gives one).
    pub timestamp: u64,
    /// The chatter is a VIP.
    pub is_vip: bool,
    /// The chatter is a subscriber (or a channel member on YouTube).
    pub is_sub: bool,
    /// The chatter is a moderator.
    pub is_mod: bool,
    /// Validated lower-case `#rrggbb`, when the chatter has a colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// What kind of line this is (absent in v1 payloads: `chat`).
    #[serde(default)]
    pub kind: Kind,
    /// The platform channel it came from (Twitch login, Kick slug, YouTube video id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The platform's own message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_message_id: Option<String>,
    /// The platform's user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The channel's owner/broadcaster wrote it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub is_owner: bool,
    /// Badge names as the platform gives them, in its order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub badges: Vec<String>,
    /// Emotes, with half-open code-point ranges validated against `text`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emotes: Vec<Emote>,
    /// The message this one replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<ReplyTo>,
    /// What a paid message paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    /// The platform's own sentence for membership/system events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_text: Option<String>,
}

impl ChatMessage {
    /// A plain v1-style chat message with every v2 field absent.
    pub fn simple(
        id: Uuid,
        streamer_id: Uuid,
        platform: Platform,
        user: impl Into<String>,
        text: impl Into<String>,
        timestamp: u64,
    ) -> ChatMessage {
        ChatMessage {
            id,
            streamer_id,
            user: user.into(),
            text: text.into(),
            platform,
            timestamp,
            is_vip: false,
            is_sub: false,
            is_mod: false,
            color: None,
            kind: Kind::Chat,
            channel: None,
            platform_message_id: None,
            user_id: None,
            is_owner: false,
            badges: Vec::new(),
            emotes: Vec::new(),
            reply_to: None,
            amount: None,
            system_text: None,
        }
    }

    /// Serialises the message to the JSON bytes a slot carries.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising a struct of strings, numbers and bools cannot fail.
        serde_json::to_vec(self).expect("ChatMessage always serialises")
    }

    /// Parses slot bytes back into a message.
    pub fn from_json(bytes: &[u8]) -> Result<ChatMessage, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// The namespace of CrossChat's UUID v5 ids (a fixed random UUID: changing it would change every
/// derived id and break deduplication across an upgrade).
pub const ID_NAMESPACE: Uuid = Uuid::from_bytes([
    0x4b, 0x1d, 0x8e, 0x53, 0x6c, 0x2f, 0x4a, 0x0e, 0x9d, 0x37, 0x51, 0x0a, 0xc2, 0x8f, 0x13, 0x6e,
]);

/// The id of a platform message: UUID v5 of `"<platform>:<channel>:<platformMessageId>"`, so the
/// same message delivered twice (a reconnect's backfill, two ingests, a crash before the pump's
/// commit) has the same id and is logged once.
pub fn platform_message_uuid(platform: Platform, channel: &str, platform_message_id: &str) -> Uuid {
    let key = format!("{}:{channel}:{platform_message_id}", platform.slug());
    Uuid::new_v5(&ID_NAMESPACE, key.as_bytes())
}

/// Same as [`retain_valid_emotes`], also dropping emotes whose `name` is not the text they cover
/// (ranges that pointed into text that has since changed).
pub fn retain_valid_emotes_in(text: &str, emotes: &mut Vec<Emote>) -> usize {
    let before = emotes.len();
    retain_valid_emotes(text, emotes);
    emotes.retain(|e| code_point_slice(text, e.start, e.end) == Some(e.name.as_str()));
    before - emotes.len()
}

/// Keeps the emotes whose half-open code-point range lies inside `text`, is not empty and does not
/// overlap an earlier kept one; sorts them by start. Returns how many were dropped.
pub fn retain_valid_emotes(text: &str, emotes: &mut Vec<Emote>) -> usize {
    let len = text.chars().count() as u64;
    let before = emotes.len();
    emotes.retain(|e| e.start < e.end && (e.end as u64) <= len);
    emotes.sort_by_key(|e| (e.start, e.end));
    let mut last_end = 0u32;
    emotes.retain(|e| {
        if e.start < last_end {
            return false;
        }
        last_end = e.end;
        true
    });
    before - emotes.len()
}

/// The text of code points `start..end` (half-open) of `text`, or None when out of range.
pub fn code_point_slice(text: &str, start: u32, end: u32) -> Option<&str> {
    if start >= end {
        return None;
    }
    let mut indices = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()));
    let s = indices.nth(start as usize)?;
    let e = indices.nth((end - start - 1) as usize)?;
    Some(&text[s..e])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ChatMessage {
        let mut m =
            ChatMessage::simple(Uuid::nil(), Uuid::nil(), Platform::YouTube, "ann", "hi", 1);
        m.is_vip = true;
        m.is_mod = true;
        m.color = Some("#aabbcc".into());
        m
    }

    #[test]
    fn json_uses_the_reference_field_names() {
        let m = sample();
        let v: serde_json::Value = serde_json::from_slice(&m.to_json()).unwrap();
        for key in [
            "id",
            "streamerId",
            "user",
            "text",
            "platform",
            "timestamp",
            "isVip",
            "isSub",
            "isMod",
            "color",
            "kind",
        ] {
            assert!(v.get(key).is_some(), "missing {key} in {v}");
        }
        for absent in [
            "channel",
            "platformMessageId",
            "userId",
            "isOwner",
            "badges",
            "emotes",
            "replyTo",
            "amount",
            "systemText",
        ] {
            assert!(v.get(absent).is_none(), "{absent} should be omitted in {v}");
        }
        assert_eq!(v["platform"], "YouTube");
        assert_eq!(v["kind"], "chat");
        assert_eq!(ChatMessage::from_json(&m.to_json()).unwrap(), m);
    }

    #[test]
    fn v1_payloads_still_read() {
        let v1 = br##"{"id":"00000000-0000-0000-0000-000000000000","streamerId":"00000000-0000-0000-0000-000000000000","user":"ann","text":"hi","platform":"YouTube","timestamp":1,"isVip":true,"isSub":false,"isMod":true,"color":"#aabbcc"}"##;
        assert_eq!(ChatMessage::from_json(v1).unwrap(), sample());
    }

    #[test]
    fn v2_fields_round_trip_with_their_json_names() {
        let mut m = sample();
        m.kind = Kind::Paid;
        m.channel = Some("chan".into());
        m.platform_message_id = Some("abc".into());
        m.user_id = Some("42".into());
        m.is_owner = true;
        m.badges = vec!["broadcaster".into()];
        m.emotes = vec![Emote {
            id: "25".into(),
            name: "Kappa".into(),
            start: 0,
            end: 5,
        }];
        m.reply_to = Some(ReplyTo {
            platform_message_id: "p".into(),
            user: "bob".into(),
            text: "yo".into(),
        });
        m.amount = Some(Amount {
            value: "2.00".into(),
            currency: "EUR".into(),
            display: "€2.00".into(),
        });
        m.system_text = Some("x subscribed".into());
        let v: serde_json::Value = serde_json::from_slice(&m.to_json()).unwrap();
        assert_eq!(v["replyTo"]["platformMessageId"], "p");
        assert_eq!(v["amount"]["display"], "€2.00");
        assert_eq!(v["systemText"], "x subscribed");
        assert_eq!(v["isOwner"], true);
        assert_eq!(v["emotes"][0]["end"], 5);
        assert_eq!(ChatMessage::from_json(&m.to_json()).unwrap(), m);
    }

    #[test]
    fn platform_ids_are_stable_and_distinct() {
        let a = platform_message_uuid(Platform::Twitch, "chan", "x");
        assert_eq!(a, platform_message_uuid(Platform::Twitch, "chan", "x"));
        assert_eq!(a.get_version_num(), 5);
        assert_ne!(a, platform_message_uuid(Platform::Kick, "chan", "x"));
        assert_ne!(a, platform_message_uuid(Platform::Twitch, "chan2", "x"));
    }

    #[test]
    fn emote_ranges_are_code_points_and_bad_ones_are_dropped() {
        let text = "👉 <3 👉 <3";
        assert_eq!(code_point_slice(text, 2, 4), Some("<3"));
        assert_eq!(code_point_slice(text, 7, 9), Some("<3"));
        assert_eq!(code_point_slice(text, 7, 10), None);
        assert_eq!(code_point_slice(text, 3, 3), None);
        let e = |s, e| Emote {
            id: "1".into(),
            name: "<3".into(),
            start: s,
            end: e,
        };
        let mut emotes = vec![e(7, 9), e(2, 4), e(3, 5), e(8, 20), e(5, 5)];
        assert_eq!(retain_valid_emotes(text, &mut emotes), 3);
        assert_eq!(emotes, vec![e(2, 4), e(7, 9)]);
    }
}
