//! The normalised chat message: the payload of one ring slot.
//!
//! Ingest produces it, the gateway persists it and pushes it to browsers. The JSON field names are
//! the reference system's (`streamerId`, `isVip`, …) so that browser code keeps its shape.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The chat platform a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Platform {
    /// Twitch chat.
    Twitch,
    /// YouTube live chat.
    YouTube,
    /// Kick chat.
    Kick,
}

impl Platform {
    /// Every platform, in the order the UI and scripts list them.
    pub const ALL: [Platform; 3] = [Platform::Twitch, Platform::YouTube, Platform::Kick];

    /// The lower-case name used on command lines, socket names and URL paths (`twitch`, …).
    pub fn slug(self) -> &'static str {
        match self {
            Platform::Twitch => "twitch",
            Platform::YouTube => "youtube",
            Platform::Kick => "kick",
        }
    }

    /// The display name used in messages (`Twitch`, `YouTube`, `Kick`).
    pub fn display_name(self) -> &'static str {
        match self {
            Platform::Twitch => "Twitch",
            Platform::YouTube => "YouTube",
            Platform::Kick => "Kick",
        }
    }

    /// Parses a slug (`twitch`, `youtube`, `kick`), case-insensitively.
    pub fn from_slug(slug: &str) -> Option<Platform> {
        Platform::ALL
            .into_iter()
            .find(|p| p.slug().eq_ignore_ascii_case(slug))
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.display_name())
    }
}

/// One normalised chat message, exactly as it travels through a slot and lands in the logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    /// A fresh UUID v4 given by ingest; the gateway deduplicates by it.
    pub id: Uuid,
    /// The account the message belongs to (room `streamer:{streamerId}`).
    pub streamer_id: Uuid,
    /// The chatter's display name, trimmed, 1–64 characters.
    pub user: String,
    /// The message text, trimmed, 1–1000 characters.
    pub text: String,
    /// The platform of the ingest process that normalised it.
    pub platform: Platform,
    /// Milliseconds since the Unix epoch, taken at normalisation.
    pub timestamp: u64,
    /// The chatter is a VIP.
    pub is_vip: bool,
    /// The chatter is a subscriber.
    pub is_sub: bool,
    /// The chatter is a moderator.
    pub is_mod: bool,
    /// Validated lower-case `#rrggbb`, when the chatter has a colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

impl ChatMessage {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_uses_the_reference_field_names() {
        let m = ChatMessage {
            id: Uuid::nil(),
            streamer_id: Uuid::nil(),
            user: "ann".into(),
            text: "hi".into(),
            platform: Platform::YouTube,
            timestamp: 1,
            is_vip: true,
            is_sub: false,
            is_mod: true,
            color: Some("#aabbcc".into()),
        };
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
        ] {
            assert!(v.get(key).is_some(), "missing {key} in {v}");
        }
        assert_eq!(v["platform"], "YouTube");
        assert_eq!(ChatMessage::from_json(&m.to_json()).unwrap(), m);
    }

    #[test]
    fn slugs_round_trip() {
        for p in Platform::ALL {
            assert_eq!(Platform::from_slug(p.slug()), Some(p));
        }
        assert_eq!(Platform::from_slug("myspace"), None);
    }
}
