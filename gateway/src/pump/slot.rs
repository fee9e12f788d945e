//! A ring slot as the pump reads it: a message (kept as the slot's own bytes, checked to be
//! exactly a normalised message) or a moderation event.

use shm_layout::ChatMessage;
use uuid::Uuid;

use crate::realtime::rooms::Outbound;
use crate::store::logs::LogEntry;

/// A message taken from a slot: what the pump needs to persist and push it. Its JSON is the slot's
/// own bytes (the ingest's serialisation), checked to be exactly a [`ChatMessage`] — so the
/// pump neither re-serialises it for the log nor for the browsers.
#[derive(Debug, Clone)]
pub struct Pumped {
    /// Message id.
    pub id: Uuid,
    /// Its streamer.
    pub streamer_id: Uuid,
    /// The producer's timestamp, ms since the epoch (for the produce→persist latency).
    pub timestamp: u64,
    /// One line of JSON (no newline), valid UTF-8.
    pub json: bytes::Bytes,
    /// A moderation event (None: a chat message).
    pub event: Option<shm_layout::SlotEvent>,
}

impl LogEntry for Pumped {
    fn id(&self) -> Uuid {
        self.id
    }

    fn streamer(&self) -> Uuid {
        self.streamer_id
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.json);
    }

    fn is_message(&self) -> bool {
        self.event.is_none()
    }
}

/// The fields of a [`ChatMessage`], and nothing else: a payload with unknown fields is refused, so
/// the bytes stored and pushed verbatim are a normalised message. Strings are borrowed when they
/// have no escapes. Each field takes exactly the values `ChatMessage` reads back (an optional
/// `kind`, `isOwner`, `badges` or `emotes` may be absent, never `null`), or the log would keep a
/// line its readers skip.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)] // read only to validate
struct Strict<'a> {
    id: Uuid,
    streamer_id: Uuid,
    #[serde(borrow)]
    user: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    text: std::borrow::Cow<'a, str>,
    platform: shm_layout::Platform,
    timestamp: u64,
    is_vip: bool,
    is_sub: bool,
    is_mod: bool,
    #[serde(default, borrow)]
    color: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    kind: shm_layout::Kind,
    #[serde(default, borrow)]
    channel: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    platform_message_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    user_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    is_owner: bool,
    #[serde(default, borrow)]
    badges: Vec<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    emotes: Vec<shm_layout::Emote>,
    #[serde(default)]
    reply_to: Option<shm_layout::ReplyTo>,
    #[serde(default)]
    amount: Option<shm_layout::Amount>,
    #[serde(default, borrow)]
    system_text: Option<std::borrow::Cow<'a, str>>,
}

impl Pumped {
    /// Validates a slot's payload and keeps its bytes.
    pub fn from_slot(bytes: &[u8]) -> Result<Pumped, String> {
        if shm_layout::SlotKind::of_json(bytes).map_err(|e| e.to_string())?
            != shm_layout::SlotKind::Message
        {
            // A moderation event: small and rare, so parsed whole and written back as one line.
            let ev = shm_layout::SlotEvent::from_json(bytes).map_err(|e| e.to_string())?;
            return Ok(Pumped {
                id: ev.id(),
                streamer_id: ev.streamer_id(),
                timestamp: ev.timestamp(),
                json: bytes::Bytes::from(ev.to_json()),
                event: Some(ev),
            });
        }
        let s: Strict<'_> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let (id, streamer_id, timestamp) = (s.id, s.streamer_id, s.timestamp);
        let json = if bytes.iter().any(|&b| b == b'\n' || b == b'\r') {
            // Pretty-printed by some other writer: one line is needed, so re-serialise.
            let m = ChatMessage::from_json(bytes).map_err(|e| e.to_string())?;
            bytes::Bytes::from(m.to_json())
        } else {
            bytes::Bytes::copy_from_slice(bytes)
        };
        // Parsed JSON is UTF-8 throughout (serde_json checks string contents; the rest is ASCII).
        std::str::from_utf8(&json).map_err(|e| e.to_string())?;
        Ok(Pumped {
            id,
            streamer_id,
            timestamp,
            json,
            event: None,
        })
    }

    /// The frame pushed to the room.
    pub fn frame(&self) -> Outbound {
        if let Some(f) = self
            .event
            .as_ref()
            .and_then(crate::realtime::frames::moderation_frame)
        {
            return f;
        }
        // Checked in `from_slot`.
        crate::realtime::frames::chat_frame_around(
            self.id,
            std::str::from_utf8(&self.json).unwrap_or("{}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shm_layout::Platform;

    fn sample() -> ChatMessage {
        ChatMessage {
            is_sub: true,
            color: Some("#abcdef".into()),
            ..ChatMessage::simple(
                Uuid::new_v4(),
                Uuid::new_v4(),
                Platform::YouTube,
                "ann \"the\" viewer",
                "héllo\\n <b>",
                7,
            )
        }
    }

    #[test]
    fn slot_bytes_are_kept_verbatim_when_they_are_a_chat_message() {
        let m = sample();
        let bytes = m.to_json();
        let p = Pumped::from_slot(&bytes).unwrap();
        assert_eq!(&p.json[..], &bytes[..]);
        assert_eq!((p.id, p.streamer_id), (m.id, m.streamer_id));
        let Outbound::Logged { frame, .. } = p.frame() else {
            panic!()
        };
        let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(v["type"], "chat:message");
        assert_eq!(
            serde_json::from_value::<ChatMessage>(v["message"].clone()).unwrap(),
            m
        );
    }

    #[test]
    fn other_payloads_are_refused_or_normalised() {
        let m = sample();
        let mut v: serde_json::Value = serde_json::from_slice(&m.to_json()).unwrap();
        v["extra"] = "<script>".into();
        assert!(Pumped::from_slot(v.to_string().as_bytes()).is_err());
        assert!(Pumped::from_slot(b"not json").is_err());
        assert!(Pumped::from_slot(br#"{"id":"x"}"#).is_err());
        // Found by fuzzing (gateway_pump_slot): `null` where ChatMessage has a default was kept
        // verbatim, and the log's readers then skipped the line.
        for field in ["kind", "isOwner", "badges", "emotes"] {
            let mut v: serde_json::Value = serde_json::from_slice(&m.to_json()).unwrap();
            v[field] = serde_json::Value::Null;
            assert!(
                Pumped::from_slot(v.to_string().as_bytes()).is_err(),
                "{field}: null"
            );
        }
        // Found by fuzzing (gateway_pump_slot): an unknown field inside an emote, the reply or
        // the amount was kept verbatim — a number such as 1e4009 then reached browsers as
        // Infinity and made the frame unreadable to a strict JSON parser.
        for (path, value) in [
            (
                "emotes",
                serde_json::json!([{"id": "25", "name": "Kappa", "start": 0, "end": 1, "x": 1e300}]),
            ),
            (
                "replyTo",
                serde_json::json!({"platformMessageId": "p", "user": "u", "text": "t", "x": 1}),
            ),
            (
                "amount",
                serde_json::json!({"value": "1", "currency": "EUR", "display": "€1", "x": 1}),
            ),
        ] {
            let mut v: serde_json::Value = serde_json::from_slice(&m.to_json()).unwrap();
            v[path] = value;
            assert!(
                Pumped::from_slot(v.to_string().as_bytes()).is_err(),
                "an unknown field in {path}"
            );
            // The same without the unknown field is kept.
            let known = if path == "emotes" {
                &mut v[path][0]
            } else {
                &mut v[path]
            };
            known.as_object_mut().unwrap().remove("x");
            assert!(
                Pumped::from_slot(v.to_string().as_bytes()).is_ok(),
                "{path}"
            );
        }
        let pretty = serde_json::to_vec_pretty(&m).unwrap();
        let p = Pumped::from_slot(&pretty).unwrap();
        assert!(!p.json.contains(&b'\n'));
        assert_eq!(ChatMessage::from_json(&p.json).unwrap(), m);
    }
}
