//! Kick's realtime API (anonymous, no login):
//! - `POST /api/v1/realtime/auth/connection` `{"client_id":<uuid>}` →
//!   `{"data":{"token":"<JWT>"}}` (valid ~45 min; refreshed with the same client id);
//! - `POST /api/v1/realtime/channels/{channelId}/chat/connection` → the websocket URL of the
//!   Centrifugo server to use (`data.connections[].credentials.url`).
//!
//! The token is a secret: it is never logged or put in a sentence.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::http::request;

/// Why a realtime API call failed; `Display` is safe to show (it never holds the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No answer, refused connection…
    #[error("could not reach Kick's realtime API ({0})")]
    Unreachable(String),
    /// An HTTP error status.
    #[error("Kick's realtime API answered HTTP {0}")]
    Status(u16),
    /// A 200 without what was asked for.
    #[error("Kick's realtime API answered without {0}")]
    Malformed(&'static str),
}

#[derive(Deserialize)]
struct TokenAnswer {
    data: TokenData,
}

#[derive(Deserialize)]
struct TokenData {
    token: String,
}

#[derive(Deserialize)]
struct ConnectionAnswer {
    data: ConnectionData,
}

#[derive(Deserialize)]
struct ConnectionData {
    #[serde(default)]
    connections: Vec<Connection>,
}

#[derive(Deserialize)]
struct Connection {
    #[serde(default)]
    provider: String,
    #[serde(default)]
    credentials: Option<Credentials>,
}

#[derive(Deserialize)]
struct Credentials {
    #[serde(default)]
    url: Option<String>,
}

fn base(api_url: &str) -> &str {
    api_url.trim_end_matches('/')
}

async fn post(url: String, body: serde_json::Value, timeout: Duration) -> Result<String, ApiError> {
    let a = request(url, Some(body), timeout)
        .await
        .map_err(|e| ApiError::Unreachable(e.to_string()))?;
    if a.status != 200 {
        return Err(ApiError::Status(a.status));
    }
    Ok(a.body)
}

/// A connection token for `client_id` (call again with the same id to refresh it).
pub async fn token(api_url: &str, client_id: Uuid, timeout: Duration) -> Result<String, ApiError> {
    let url = format!("{}/api/v1/realtime/auth/connection", base(api_url));
    let body = post(url, json!({ "client_id": client_id }), timeout).await?;
    let t: TokenAnswer = serde_json::from_str(&body).map_err(|_| ApiError::Malformed("a token"))?;
    if t.data.token.is_empty() {
        return Err(ApiError::Malformed("a token"));
    }
    Ok(t.data.token)
}

/// The Centrifugo websocket URL to use for `channel_id`.
pub async fn connection_url(
    api_url: &str,
    client_id: Uuid,
    channel_id: u64,
    timeout: Duration,
) -> Result<String, ApiError> {
    let url = format!(
        "{}/api/v1/realtime/channels/{channel_id}/chat/connection",
        base(api_url)
    );
    let body = json!({
        "client": { "id": client_id, "type": "web" },
        "capabilities": { "accepted_providers": [ { "provider": "centrifugo" } ] }
    });
    let answer = post(url, body, timeout).await?;
    let c: ConnectionAnswer =
        serde_json::from_str(&answer).map_err(|_| ApiError::Malformed("a websocket URL"))?;
    c.data
        .connections
        .into_iter()
        .filter(|c| c.provider.is_empty() || c.provider == "centrifugo")
        .find_map(|c| c.credentials.and_then(|cr| cr.url))
        .filter(|u| u.starts_with("ws://") || u.starts_with("wss://"))
        .ok_or(ApiError::Malformed("a websocket URL"))
}
