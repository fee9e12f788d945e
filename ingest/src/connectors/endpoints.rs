//! The outside endpoints and secrets of the connectors, from flags and `CROSSCHAT_*` variables.
//! Defaults are the real services; tests point them at loopback peers.

use std::fmt;
use std::path::PathBuf;

/// A secret (an API key): never printed — `Debug` and `Display` show `<redacted>`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty (not configured).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Which Kick realtime feed to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KickProtocol {
    /// The current Centrifugo feed.
    #[default]
    Centrifugo,
    /// The legacy Pusher feed.
    Pusher,
}

/// Every connector's endpoints (only the running platform's are used).
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Twitch IRC: `wss://`, `ws://`, `ircs://host:port` or `irc://host:port`.
    pub twitch_irc_url: String,
    /// Kick website (channel lookup).
    pub kick_web_url: String,
    /// Kick realtime API (token and websocket URL).
    pub kick_realtime_api_url: String,
    /// Centrifugo or Pusher.
    pub kick_protocol: KickProtocol,
    /// The legacy Pusher websocket URL.
    pub kick_pusher_url: String,
    /// YouTube Data API key (empty: not configured).
    pub youtube_api_key: Secret,
    /// YouTube Data API base URL.
    pub youtube_api_url: String,
    /// Quota units per day.
    pub youtube_daily_quota: u64,
    /// Hours the quota left must last at least (24: until the reset).
    pub youtube_quota_hours: u64,
    /// Shortest poll interval, ms.
    pub youtube_min_poll_ms: u64,
    /// Where the day's YouTube quota count is kept across restarts (the runtime directory;
    /// None: not kept).
    pub youtube_quota_dir: Option<PathBuf>,
}

/// Default Twitch IRC endpoint.
pub const TWITCH_IRC_URL: &str = "wss://irc-ws.chat.twitch.tv:443";
/// Default Kick website.
pub const KICK_WEB_URL: &str = "https://kick.com";
/// Default Kick realtime API.
pub const KICK_REALTIME_API_URL: &str = "https://web.kick.com";
/// Default (legacy) Kick Pusher URL, with the site's public app key.
pub const KICK_PUSHER_URL: &str =
    "wss://ws-us2.pusher.com/app/32cbd69e4b950bf97679?protocol=7&client=js&version=8.4.0-rc2&flash=false";
/// Default YouTube Data API.
pub const YOUTUBE_API_URL: &str = "https://www.googleapis.com/youtube/v3";

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            twitch_irc_url: TWITCH_IRC_URL.into(),
            kick_web_url: KICK_WEB_URL.into(),
            kick_realtime_api_url: KICK_REALTIME_API_URL.into(),
            kick_protocol: KickProtocol::Centrifugo,
            kick_pusher_url: KICK_PUSHER_URL.into(),
            youtube_api_key: Secret::default(),
            youtube_api_url: YOUTUBE_API_URL.into(),
            youtube_daily_quota: 10_000,
            youtube_quota_hours: 6,
            youtube_min_poll_ms: 5_000,
            youtube_quota_dir: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let e = Endpoints {
            youtube_api_key: Secret::new("AIzaSECRET"),
            ..Endpoints::default()
        };
        let shown = format!("{e:?} {}", e.youtube_api_key);
        assert!(!shown.contains("AIzaSECRET"), "{shown}");
        assert_eq!(e.youtube_api_key.expose(), "AIzaSECRET");
    }
}
