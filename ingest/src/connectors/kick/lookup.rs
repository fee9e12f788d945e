//! Finding a channel's ids: `GET <kick-web-url>/api/v2/channels/<slug>` → `id` (the channel id)
//! and `chatroom.id`. The endpoint is internal and sits behind Cloudflare, which often answers
//! its "Just a moment…" challenge page (403) or lets the request hang; then the streamer pastes
//! the ids instead (the sentence says so), and the lookup is not retried in a tight loop.

use std::time::Duration;

use serde::Deserialize;

use super::http::{request, HttpError};

/// The sentence shown when Kick refuses the lookup.
pub const BLOCKED: &str =
    "Kick blocked the channel lookup; paste the chatroom id and channel id — see the README for where to find them";

/// A channel's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    /// The chatroom id (the feed is `chatrooms.<id>.v2`).
    pub chatroom_id: u64,
    /// The channel id (the realtime API's connection call takes it).
    pub channel_id: u64,
}

/// Why a lookup failed; `Display` is the streamer's sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// Cloudflare's challenge, another 403/429/503, or no answer in time.
    #[error("{BLOCKED}")]
    Blocked,
    /// 404: no such channel.
    #[error("Kick has no channel named \u{201c}{0}\u{201d}; check the link")]
    NotFound(String),
    /// Kick could not be reached at all, or answered something unexpected.
    #[error("could not look up the channel on Kick ({0}); paste the chatroom id and channel id, or wait for the next try")]
    Other(String),
}

#[derive(Deserialize)]
struct ChannelV2 {
    id: u64,
    chatroom: Chatroom,
}

#[derive(Deserialize)]
struct Chatroom {
    id: u64,
}

/// Looks `slug` up on `web_url`.
pub async fn lookup(web_url: &str, slug: &str, timeout: Duration) -> Result<Ids, LookupError> {
    let url = format!("{}/api/v2/channels/{}", web_url.trim_end_matches('/'), slug);
    let answer = match request(url, None, timeout).await {
        Ok(a) => a,
        Err(HttpError::Timeout(_)) => return Err(LookupError::Blocked),
        Err(HttpError::Transport(e)) => return Err(LookupError::Other(e)),
    };
    parse(slug, answer.status, &answer.body)
}

/// Reads an answer of the lookup.
pub fn parse(slug: &str, status: u16, body: &str) -> Result<Ids, LookupError> {
    match status {
        200 => match serde_json::from_str::<ChannelV2>(body) {
            Ok(c) => Ok(Ids {
                chatroom_id: c.chatroom.id,
                channel_id: c.id,
            }),
            // Cloudflare sometimes answers its page with a 200 too.
            Err(_) if looks_like_html(body) => Err(LookupError::Blocked),
            Err(_) => Err(LookupError::Other(
                "an answer without the channel's ids".into(),
            )),
        },
        404 => Err(LookupError::NotFound(slug.to_owned())),
        403 | 429 | 503 => Err(LookupError::Blocked),
        s => Err(LookupError::Other(format!("HTTP {s}"))),
    }
}

fn looks_like_html(body: &str) -> bool {
    let head = body
        .trim_start()
        .get(..15.min(body.trim_start().len()))
        .unwrap_or("");
    head.starts_with('<')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ids_and_recognises_cloudflare() {
        let ok = parse(
            "x",
            200,
            r#"{"id":456,"slug":"x","chatroom":{"id":123,"slow_mode":false}}"#,
        );
        assert_eq!(
            ok,
            Ok(Ids {
                chatroom_id: 123,
                channel_id: 456
            })
        );
        assert_eq!(
            parse("x", 403, "<!DOCTYPE html><title>Just a moment...</title>"),
            Err(LookupError::Blocked)
        );
        assert_eq!(
            parse("x", 200, "<!DOCTYPE html>"),
            Err(LookupError::Blocked)
        );
        assert!(matches!(parse("x", 404, ""), Err(LookupError::NotFound(_))));
        assert!(matches!(parse("x", 500, ""), Err(LookupError::Other(_))));
    }
}
