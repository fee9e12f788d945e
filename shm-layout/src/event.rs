//! What one ring slot carries: a chat message or a moderation event.
//!
//! A message's JSON has no `type` field (so v1 payloads and logs read as they are); the three
//! moderation events carry `"type"`: `delete`, `clear_user`, `clear`. Every event has its own `id`
//! (the log's dedupe key, like a message's) and a `timestamp`. The log stays append-only: an event
//! is a tombstone line after the messages it hides.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::message::{platform_message_uuid, ChatMessage, Platform, ID_NAMESPACE};

/// A moderator deleted one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delete {
    /// This event's id: UUID v5 of `"<platform>:<channel>:delete:<platformMessageId>"`.
    pub id: Uuid,
    /// Whose room and log it goes to.
    pub streamer_id: Uuid,
    /// Where it happened.
    pub platform: Platform,
    /// The platform channel.
    pub channel: String,
    /// The deleted message's platform id.
    pub platform_message_id: String,
    /// Our id of the deleted message (see [`platform_message_uuid`]).
    pub target_id: Uuid,
    /// When, ms since the epoch.
    pub timestamp: u64,
}

/// A user was timed out or banned: their earlier messages are hidden.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClearUser {
    /// This event's id.
    pub id: Uuid,
    /// Whose room and log it goes to.
    pub streamer_id: Uuid,
    /// Where it happened.
    pub platform: Platform,
    /// The platform channel.
    pub channel: String,
    /// The platform's user id.
    pub user_id: String,
    /// The user's name.
    pub user: String,
    /// End of a timeout, ms since the epoch; absent for a permanent ban.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
    /// When, ms since the epoch.
    pub timestamp: u64,
}

/// A moderator cleared the whole chat of a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClearChat {
    /// This event's id.
    pub id: Uuid,
    /// Whose room and log it goes to.
    pub streamer_id: Uuid,
    /// Where it happened.
    pub platform: Platform,
    /// The platform channel.
    pub channel: String,
    /// When, ms since the epoch.
    pub timestamp: u64,
}

/// The payload of one slot (and one log line).
#[derive(Debug, Clone, PartialEq, Eq)]
// Messages are nearly every payload: boxing them to shrink the rare events would allocate each.
#[allow(clippy::large_enum_variant)]
pub enum SlotEvent {
    /// A chat message (no `type` field in JSON).
    Message(ChatMessage),
    /// `"type":"delete"`.
    Delete(Delete),
    /// `"type":"clear_user"`.
    ClearUser(ClearUser),
    /// `"type":"clear"`.
    Clear(ClearChat),
}

/// The `type` of a slot payload, read without building the rest.
#[derive(Deserialize)]
struct TypeOnly<'a> {
    #[serde(default, borrow, rename = "type")]
    kind: Option<std::borrow::Cow<'a, str>>,
}

/// The `type` field of a JSON object (None: it has none). A line without the bytes `"type"`
/// has no such key and is answered without parsing — messages, the hot path of the pump and the
/// producer socket, carry no `type`. A payload that is not an object is an error: serde would
/// read a struct from an array too (`["delete"]` as `{"type":"delete"}`), which no writer sends.
pub fn type_field(bytes: &[u8]) -> Result<Option<std::borrow::Cow<'_, str>>, serde_json::Error> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(<serde_json::Error as serde::de::Error>::custom(
            "a payload must be a JSON object",
        ));
    }
    if !bytes.windows(6).any(|w| w == b"\"type\"") {
        return Ok(None);
    }
    serde_json::from_slice::<TypeOnly<'_>>(bytes).map(|t| t.kind)
}

/// Which variant a payload is, from its `type` field alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// No `type` (or `"message"`): a chat message.
    Message,
    /// `delete`.
    Delete,
    /// `clear_user`.
    ClearUser,
    /// `clear`.
    Clear,
}

impl SlotKind {
    /// Reads the `type` field of a JSON object without building its other values.
    pub fn of_json(bytes: &[u8]) -> Result<SlotKind, serde_json::Error> {
        Ok(match type_field(bytes)?.as_deref() {
            None | Some("message") => SlotKind::Message,
            Some("delete") => SlotKind::Delete,
            Some("clear_user") => SlotKind::ClearUser,
            Some("clear") => SlotKind::Clear,
            Some(other) => {
                return Err(<serde_json::Error as serde::de::Error>::custom(format!(
                    "unknown slot payload type \"{other}\""
                )))
            }
        })
    }
}

#[derive(Serialize)]
struct Tagged<'a, T> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(flatten)]
    body: &'a T,
}

impl SlotEvent {
    /// Its id (the dedupe key of the log).
    pub fn id(&self) -> Uuid {
        match self {
            SlotEvent::Message(m) => m.id,
            SlotEvent::Delete(e) => e.id,
            SlotEvent::ClearUser(e) => e.id,
            SlotEvent::Clear(e) => e.id,
        }
    }

    /// Whose room and log it goes to.
    pub fn streamer_id(&self) -> Uuid {
        match self {
            SlotEvent::Message(m) => m.streamer_id,
            SlotEvent::Delete(e) => e.streamer_id,
            SlotEvent::ClearUser(e) => e.streamer_id,
            SlotEvent::Clear(e) => e.streamer_id,
        }
    }

    /// Sets whose room and log it goes to (a connector fans one event out to every streamer
    /// that linked the channel).
    pub fn set_streamer_id(&mut self, streamer: Uuid) {
        match self {
            SlotEvent::Message(m) => m.streamer_id = streamer,
            SlotEvent::Delete(e) => e.streamer_id = streamer,
            SlotEvent::ClearUser(e) => e.streamer_id = streamer,
            SlotEvent::Clear(e) => e.streamer_id = streamer,
        }
    }

    /// Its timestamp, ms since the epoch.
    pub fn timestamp(&self) -> u64 {
        match self {
            SlotEvent::Message(m) => m.timestamp,
            SlotEvent::Delete(e) => e.timestamp,
            SlotEvent::ClearUser(e) => e.timestamp,
            SlotEvent::Clear(e) => e.timestamp,
        }
    }

    /// Appends its JSON (one line, no newline) to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        // Structs of strings, numbers and bools always serialise.
        let r = match self {
            SlotEvent::Message(m) => serde_json::to_writer(&mut *out, m),
            SlotEvent::Delete(e) => serde_json::to_writer(
                &mut *out,
                &Tagged {
                    kind: "delete",
                    body: e,
                },
            ),
            SlotEvent::ClearUser(e) => serde_json::to_writer(
                &mut *out,
                &Tagged {
                    kind: "clear_user",
                    body: e,
                },
            ),
            SlotEvent::Clear(e) => serde_json::to_writer(
                &mut *out,
                &Tagged {
                    kind: "clear",
                    body: e,
                },
            ),
        };
        r.expect("slot events always serialise");
    }

    /// Its JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write_json(&mut out);
        out
    }

    /// Parses a slot payload or log line (v1 and v2 messages, and the three events).
    pub fn from_json(bytes: &[u8]) -> Result<SlotEvent, serde_json::Error> {
        Ok(match SlotKind::of_json(bytes)? {
            SlotKind::Message => SlotEvent::Message(serde_json::from_slice(bytes)?),
            SlotKind::Delete => SlotEvent::Delete(serde_json::from_slice(bytes)?),
            SlotKind::ClearUser => SlotEvent::ClearUser(serde_json::from_slice(bytes)?),
            SlotKind::Clear => SlotEvent::Clear(serde_json::from_slice(bytes)?),
        })
    }
}

impl Delete {
    /// A delete of `platform_message_id` in `channel`, with its derived ids.
    pub fn new(
        streamer_id: Uuid,
        platform: Platform,
        channel: &str,
        platform_message_id: &str,
        timestamp: u64,
    ) -> Delete {
        let key = format!("{}:{channel}:delete:{platform_message_id}", platform.slug());
        Delete {
            id: Uuid::new_v5(&ID_NAMESPACE, key.as_bytes()),
            streamer_id,
            platform,
            channel: channel.to_owned(),
            platform_message_id: platform_message_id.to_owned(),
            target_id: platform_message_uuid(platform, channel, platform_message_id),
            timestamp,
        }
    }
}

/// The id of a clear-user or clear-chat event that the platform identifies only by its time:
/// UUID v5 of `"<platform>:<channel>:<what>:<timestamp>"`, so the same notice seen twice (two
/// ingests, a reconnect) is one tombstone.
pub fn moderation_uuid(platform: Platform, channel: &str, what: &str, timestamp: u64) -> Uuid {
    let key = format!("{}:{channel}:{what}:{timestamp}", platform.slug());
    Uuid::new_v5(&ID_NAMESPACE, key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_objects_have_a_type() {
        // Found by fuzzing (slot_payload): serde reads a struct from an array, so `["type"]`
        // had the `type` "type" while a generic parse found none.
        for not_object in [
            &br#"["type"]"#[..],
            br#"["delete","x"]"#,
            b"  7",
            b"\"type\"",
            b"",
        ] {
            assert!(type_field(not_object).is_err(), "{not_object:?}");
            assert!(SlotKind::of_json(not_object).is_err());
            assert!(SlotEvent::from_json(not_object).is_err());
        }
        assert_eq!(
            type_field(br#" {"type":"clear"}"#).unwrap().as_deref(),
            Some("clear")
        );
        assert_eq!(type_field(br#"{"user":"a"}"#).unwrap(), None);
    }

    #[test]
    fn events_round_trip_with_their_type() {
        let sid = Uuid::new_v4();
        let d = SlotEvent::Delete(Delete::new(sid, Platform::Twitch, "chan", "abc", 5));
        let json = d.to_json();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["type"], "delete");
        assert_eq!(v["platformMessageId"], "abc");
        assert_eq!(
            v["targetId"],
            platform_message_uuid(Platform::Twitch, "chan", "abc").to_string()
        );
        assert_eq!(SlotEvent::from_json(&json).unwrap(), d);

        let c = SlotEvent::ClearUser(ClearUser {
            id: Uuid::new_v4(),
            streamer_id: sid,
            platform: Platform::Kick,
            channel: "k".into(),
            user_id: "7".into(),
            user: "bob".into(),
            until: None,
            timestamp: 9,
        });
        let v: serde_json::Value = serde_json::from_slice(&c.to_json()).unwrap();
        assert_eq!(v["type"], "clear_user");
        assert!(v.get("until").is_none());
        assert_eq!(SlotEvent::from_json(&c.to_json()).unwrap(), c);

        let mut x = SlotEvent::Clear(ClearChat {
            id: Uuid::new_v4(),
            streamer_id: sid,
            platform: Platform::YouTube,
            channel: "v".into(),
            timestamp: 1,
        });
        assert_eq!(SlotEvent::from_json(&x.to_json()).unwrap(), x);
        let other = Uuid::new_v4();
        x.set_streamer_id(other);
        assert_eq!(x.streamer_id(), other);
    }

    #[test]
    fn messages_have_no_type_and_unknown_types_are_refused() {
        let m = ChatMessage::simple(Uuid::nil(), Uuid::nil(), Platform::Kick, "a", "b", 1);
        let e = SlotEvent::Message(m.clone());
        let v: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert!(v.get("type").is_none());
        assert_eq!(SlotEvent::from_json(&m.to_json()).unwrap(), e);
        assert!(SlotEvent::from_json(br#"{"type":"explode"}"#).is_err());
        assert!(SlotEvent::from_json(b"[1]").is_err());
    }
}
