//! Every WebSocket frame the gateway pushes to a room, built in one place:
//! `chat:message`, `chat:delete`, `chat:clear_user`, `chat:clear`, `channel:status`, `stream`,
//! `filters` and `overlay:hide`.

use serde::Serialize;
use serde_json::json;
use shm_layout::{ChatMessage, SlotEvent};
use uuid::Uuid;

use crate::realtime::rooms::Outbound;

/// `{"type":"chat:message","message":{…}}` for a message read back from a log.
pub fn chat_frame(m: &ChatMessage) -> Outbound {
    let json = String::from_utf8(m.to_json()).expect("serde_json writes UTF-8");
    chat_frame_around(m.id, &json)
}

/// `{"type":"chat:message","message":<json>}` around a message's JSON, without re-serialising.
pub fn chat_frame_around(id: Uuid, json: &str) -> Outbound {
    const HEAD: &str = r#"{"type":"chat:message","message":"#;
    let mut f = String::with_capacity(HEAD.len() + json.len() + 1);
    f.push_str(HEAD);
    f.push_str(json);
    f.push('}');
    Outbound::Logged {
        id,
        frame: f.into(),
    }
}

/// The frame of any log line: a message, or a moderation event.
pub fn slot_frame(ev: &SlotEvent) -> Outbound {
    match ev {
        SlotEvent::Message(m) => chat_frame(m),
        other => moderation_frame(other).expect("not a message"),
    }
}

/// `chat:delete` / `chat:clear_user` / `chat:clear` for a moderation event (None for a message).
pub fn moderation_frame(ev: &SlotEvent) -> Option<Outbound> {
    let v = match ev {
        SlotEvent::Message(_) => return None,
        SlotEvent::Delete(d) => json!({
            "type": "chat:delete",
            "platform": d.platform,
            "channel": d.channel,
            "ids": [d.target_id],
            "platformMessageId": d.platform_message_id,
            "at": d.timestamp,
        }),
        SlotEvent::ClearUser(c) => {
            let mut v = json!({
                "type": "chat:clear_user",
                "platform": c.platform,
                "channel": c.channel,
                "userId": c.user_id,
                "user": c.user,
                "at": c.timestamp,
            });
            if let Some(u) = c.until {
                v["until"] = u.into();
            }
            v
        }
        SlotEvent::Clear(c) => json!({
            "type": "chat:clear",
            "platform": c.platform,
            "channel": c.channel,
            "at": c.timestamp,
        }),
    };
    Some(Outbound::Logged {
        id: ev.id(),
        frame: v.to_string().into(),
    })
}

/// `{"type":"stream","status":…,"session":{…}}`.
pub fn stream_frame<S: Serialize>(status: &str, session: &S) -> Outbound {
    Outbound::Event(
        json!({ "type": "stream", "status": status, "session": session })
            .to_string()
            .into(),
    )
}

/// `{"type":"channel:status",…}` with the same fields as `GET /api/channels`.
pub fn channel_status_frame<S: Serialize>(channel: &S) -> Outbound {
    let mut v = serde_json::to_value(channel).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("type".into(), "channel:status".into());
    }
    Outbound::Event(v.to_string().into())
}

/// `{"type":"filters","filters":{…}}`: a streamer's filters, sent after `joined` and on change.
pub fn filters_frame(filters: &crate::store::filters::Filters) -> Outbound {
    Outbound::Event(
        json!({ "type": "filters", "filters": filters })
            .to_string()
            .into(),
    )
}

/// `{"type":"overlay:hide","id":…}`: take one message off the streamer's overlays.
pub fn overlay_hide_frame(id: Uuid) -> Outbound {
    Outbound::Event(
        json!({ "type": "overlay:hide", "id": id })
            .to_string()
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use shm_layout::{Delete, Platform};

    #[test]
    fn moderation_frames_name_our_ids() {
        let d = SlotEvent::Delete(Delete::new(Uuid::nil(), Platform::Twitch, "c", "m", 5));
        let Some(Outbound::Logged { id, frame: f }) = moderation_frame(&d) else {
            panic!()
        };
        assert_eq!(
            id,
            d.id(),
            "the event's id, to drop it from a resume once replayed"
        );
        let v: serde_json::Value = serde_json::from_str(&f).unwrap();
        assert_eq!(v["type"], "chat:delete");
        assert_eq!(v["platform"], "Twitch");
        assert_eq!(
            v["ids"][0],
            shm_layout::platform_message_uuid(Platform::Twitch, "c", "m").to_string()
        );
    }
}
