//! What a request line is: a chat message (no `type`, or `"type":"message"`), one of the three
//! moderation events (`delete`, `clear_user`, `clear`), or a control line from the gateway
//! (`channels`, `status`). Message lines without a `"type"` key skip the classification parse.

use serde::Deserialize;
use shm_layout::event::{ClearChat, ClearUser, Delete, SlotEvent};
use shm_layout::Platform;
use uuid::Uuid;

use crate::normalize::{
    parse_streamer_id, short_field, Refusal, MAX_CHANNEL_CHARS, MAX_ID_CHARS, MAX_USER_CHARS,
};

/// The classes of request lines.
#[derive(Debug)]
// An event is a few hundred bytes and lives for one line: boxing it would cost an allocation each.
#[allow(clippy::large_enum_variant)]
pub enum Request {
    /// A chat message: parsed by [`crate::normalize::normalise`].
    Message,
    /// A moderation event, validated.
    Event(SlotEvent),
    /// A control line from the gateway.
    Control(Control),
}

/// Control lines of the gateway (one definition, shared with the gateway's client).
pub use shm_layout::protocol::Control;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeleteIn {
    #[serde(rename = "type")]
    _kind: String,
    streamer_id: String,
    channel: String,
    platform_message_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ClearUserIn {
    #[serde(rename = "type")]
    _kind: String,
    streamer_id: String,
    channel: String,
    user_id: String,
    user: String,
    #[serde(default)]
    until: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ClearIn {
    #[serde(rename = "type")]
    _kind: String,
    streamer_id: String,
    channel: String,
}

fn invalid(what: &str, e: serde_json::Error) -> Refusal {
    let msg = e.to_string();
    // serde's sentence ends in " at line 1 column N": the position says nothing on one line.
    let msg = msg.split(" at line ").next().unwrap_or(&msg);
    Refusal::invalid(format!("the {what} is invalid: {msg}"))
}

/// Classifies a request line and, for events and control lines, parses and validates it.
/// `now` stamps events (ms since the epoch).
pub fn classify(line: &[u8], platform: Platform, now: u64) -> Result<Request, Refusal> {
    // A line with no "type" key is a message, answered without a parse (type_field's fast path).
    let kind = match shm_layout::event::type_field(line) {
        Ok(t) => t,
        // Not an object (or not JSON): let the message parser say so with its sentences.
        Err(_) => return Ok(Request::Message),
    };
    match kind.as_deref() {
        None | Some("message") => Ok(Request::Message),
        Some("delete") => {
            let d: DeleteIn = serde_json::from_slice(line).map_err(|e| invalid("delete event", e))?;
            let channel = short_field("channel", &d.channel, MAX_CHANNEL_CHARS)?;
            let pmid = short_field("platformMessageId", &d.platform_message_id, MAX_ID_CHARS)?;
            Ok(Request::Event(SlotEvent::Delete(Delete::new(
                parse_streamer_id(&d.streamer_id)?,
                platform,
                &channel,
                &pmid,
                now,
            ))))
        }
        Some("clear_user") => {
            let c: ClearUserIn =
                serde_json::from_slice(line).map_err(|e| invalid("clear_user event", e))?;
            Ok(Request::Event(SlotEvent::ClearUser(ClearUser {
                id: Uuid::new_v4(),
                streamer_id: parse_streamer_id(&c.streamer_id)?,
                platform,
                channel: short_field("channel", &c.channel, MAX_CHANNEL_CHARS)?,
                user_id: short_field("userId", &c.user_id, MAX_ID_CHARS)?,
                user: short_field("user", &c.user, MAX_USER_CHARS)?,
                until: c.until,
                timestamp: now,
            })))
        }
        Some("clear") => {
            let c: ClearIn = serde_json::from_slice(line).map_err(|e| invalid("clear event", e))?;
            Ok(Request::Event(SlotEvent::Clear(ClearChat {
                id: Uuid::new_v4(),
                streamer_id: parse_streamer_id(&c.streamer_id)?,
                platform,
                channel: short_field("channel", &c.channel, MAX_CHANNEL_CHARS)?,
                timestamp: now,
            })))
        }
        Some(kind @ ("channels" | "status")) => {
            let what = if kind == "channels" {
                "channels line"
            } else {
                "status line"
            };
            let c: Control = serde_json::from_slice(line).map_err(|e| invalid(what, e))?;
            Ok(Request::Control(c))
        }
        Some(other) => Err(Refusal::invalid(format!(
            "unknown request type {other:?}: send a message (no \"type\"), or \"delete\", \"clear_user\", \"clear\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "6f1c2a4e-0b7d-4c55-9a51-2f9d3c1e8b70";

    #[test]
    fn messages_take_the_fast_path() {
        let line = format!(r#"{{"streamerId":"{SID}","user":"a","text":"type"}}"#);
        assert!(matches!(
            classify(line.as_bytes(), Platform::Kick, 1),
            Ok(Request::Message)
        ));
        let line = format!(r#"{{"type":"message","streamerId":"{SID}","user":"a","text":"x"}}"#);
        assert!(matches!(
            classify(line.as_bytes(), Platform::Kick, 1),
            Ok(Request::Message)
        ));
    }

    #[test]
    fn events_are_validated() {
        let line = format!(
            r#"{{"type":"delete","streamerId":"{SID}","channel":"c","platformMessageId":"m1"}}"#
        );
        let Ok(Request::Event(SlotEvent::Delete(d))) =
            classify(line.as_bytes(), Platform::Twitch, 7)
        else {
            panic!("a delete")
        };
        assert_eq!(
            d.target_id,
            shm_layout::platform_message_uuid(Platform::Twitch, "c", "m1")
        );
        assert_eq!(d.timestamp, 7);
        let line = format!(
            r#"{{"type":"clear_user","streamerId":"{SID}","channel":"c","userId":"9","user":"bob","until":99}}"#
        );
        let Ok(Request::Event(SlotEvent::ClearUser(c))) =
            classify(line.as_bytes(), Platform::Twitch, 7)
        else {
            panic!("a clear_user")
        };
        assert_eq!((c.user.as_str(), c.until), ("bob", Some(99)));
        let line = format!(r#"{{"type":"clear","streamerId":"{SID}","channel":"c"}}"#);
        assert!(matches!(
            classify(line.as_bytes(), Platform::Twitch, 7),
            Ok(Request::Event(SlotEvent::Clear(_)))
        ));

        for (line, needle) in [
            (
                format!(r#"{{"type":"delete","streamerId":"{SID}","channel":"c"}}"#),
                "missing field `platformMessageId`",
            ),
            (
                r#"{"type":"delete","streamerId":"nope","channel":"c","platformMessageId":"m"}"#
                    .to_string(),
                "streamerId",
            ),
            (
                format!(r#"{{"type":"clear","streamerId":"{SID}","channel":" "}}"#),
                "\"channel\" is empty",
            ),
            (
                format!(r#"{{"type":"clear","streamerId":"{SID}","channel":"c","x":1}}"#),
                "unknown field `x`",
            ),
            (
                format!(r#"{{"type":"explode","streamerId":"{SID}"}}"#),
                "unknown request type",
            ),
        ] {
            let err = classify(line.as_bytes(), Platform::Twitch, 7).expect_err(&line);
            assert!(err.message.contains(needle), "{line}: {}", err.message);
        }
    }

    #[test]
    fn control_lines_parse() {
        let line = format!(
            r#"{{"type":"channels","channels":[{{"channel":"a","streamers":["{SID}"],"chatroomId":5}}]}}"#
        );
        let Ok(Request::Control(Control::Channels { channels: c })) =
            classify(line.as_bytes(), Platform::Kick, 1)
        else {
            panic!("channels")
        };
        assert_eq!(c[0].chatroom_id, Some(5));
        assert!(matches!(
            classify(br#"{"type":"status"}"#, Platform::Kick, 1),
            Ok(Request::Control(Control::Status))
        ));
    }
}
