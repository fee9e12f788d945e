//! The protocol between the gateway and each ingest, on the ingest's producer socket: the
//! [`ReplyCode`] of a refused request, and the control messages — the gateway sends the whole set of linked channels (`{"type":"channels","channels":[Link…]}`)
//! and asks `{"type":"status"}`; both are answered with a [`StatusReply`]. Both sides use these
//! types, so the wire format is defined once.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why the ingest refused a request: the `code` of a reply `{"ok":false,"code",…}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyCode {
    /// The request breaks a normalisation rule.
    Invalid,
    /// The request line or the normalised message is too large.
    TooLarge,
    /// The ring stayed full for the whole `--full-wait-ms`.
    QueueFull,
    /// The segment's lock could not be taken.
    Unavailable,
}

impl ReplyCode {
    /// Every code, in the order summaries list them.
    pub const ALL: [ReplyCode; 4] = [
        ReplyCode::Invalid,
        ReplyCode::TooLarge,
        ReplyCode::QueueFull,
        ReplyCode::Unavailable,
    ];

    /// The code as it appears in a reply (`invalid`, `too_large`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyCode::Invalid => "invalid",
            ReplyCode::TooLarge => "too_large",
            ReplyCode::QueueFull => "queue_full",
            ReplyCode::Unavailable => "unavailable",
        }
    }

    /// The code a reply names (None for a code this build does not know).
    pub fn from_wire(s: &str) -> Option<ReplyCode> {
        ReplyCode::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Index into per-code counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One linked channel and who linked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    /// The normalised channel (Twitch login, Kick slug, YouTube video id / `UC…` id / `@handle`).
    pub channel: String,
    /// Every streamer that linked it: each message is written once per streamer.
    pub streamers: Vec<Uuid>,
    /// Kick: the chatroom id, when pasted by the streamer or cached from a lookup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chatroom_id: Option<u64>,
    /// Kick: the channel id, when pasted or cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<u64>,
}

/// A control line from the gateway to an ingest's socket, answered with a [`StatusReply`]:
/// `{"type":"channels","channels":[…]}` (the platform's whole set of links, sent whenever the
/// gateway connects and whenever a link changes) or `{"type":"status"}` (about once a second).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Control {
    /// The whole set of linked channels of this platform.
    Channels {
        /// The links.
        channels: Vec<Link>,
    },
    /// A request for the channels' states and the connector's counters.
    Status,
}

/// A linked channel's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelState {
    /// Connecting, joining, or waiting to reconnect.
    Connecting,
    /// Joined and reading chat.
    Live,
    /// Nothing to read now (a YouTube stream not live yet, or ended).
    Idle,
    /// Cannot read it; `detail` says why and what to do.
    Error,
}

impl ChannelState {
    /// Every state, in the order above.
    pub const ALL: [ChannelState; 4] = [
        ChannelState::Connecting,
        ChannelState::Live,
        ChannelState::Idle,
        ChannelState::Error,
    ];

    /// The state's name on the wire and in metrics labels (`"live"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelState::Connecting => "connecting",
            ChannelState::Live => "live",
            ChannelState::Idle => "idle",
            ChannelState::Error => "error",
        }
    }
}

/// One channel's status, as reported to the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelStatus {
    /// The normalised channel.
    pub channel: String,
    /// Its state.
    pub state: ChannelState,
    /// A sentence for the streamer.
    pub detail: String,
    /// When the state last changed, ms since the epoch.
    pub since: u64,
    /// When its last message was written, ms since the epoch.
    pub last_message_at: Option<u64>,
    /// Kick: the looked-up chatroom id (the gateway caches it with the link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chatroom_id: Option<u64>,
    /// Kick: the looked-up channel id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<u64>,
}

/// The answer to a `channels` or `status` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReply {
    /// True for an answer; false with `error` for a refused line.
    pub ok: bool,
    /// Every linked channel's status.
    #[serde(default)]
    pub channels: Vec<ChannelStatus>,
    /// The connector's counters.
    #[serde(default)]
    pub metrics: MetricsSnapshot,
    /// The refusal's sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The counters as they travel to the gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSnapshot {
    /// Connections open now.
    pub connections: u64,
    /// Reconnects.
    pub reconnects: u64,
    /// Unparseable input skipped.
    pub parse_errors: u64,
    /// Unmapped input skipped.
    pub skipped: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Ring write retries.
    pub ring_retries: u64,
    /// Connector restarts after a panic.
    pub panics: u64,
    /// Events received by kind.
    pub events: Vec<(String, u64)>,
    /// YouTube quota units spent today.
    pub quota_used: u64,
    /// YouTube quota units left today (absent from an older ingest: 0).
    #[serde(default)]
    pub quota_left: u64,
    /// YouTube quota units per day; 0 where the platform has no quota.
    #[serde(default)]
    pub quota_daily: u64,
}
