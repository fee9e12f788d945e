//! HTTP to the Data API: blocking `ureq` on tokio's blocking pool, with a timeout on every call,
//! the key sent only as the `key` query parameter, and Google's JSON error bodies read into
//! [`ApiError`]. The key is scrubbed from every error text before it leaves this module.

use std::time::Duration;

use serde::Deserialize;

use crate::connectors::Secret;

/// The largest response body read (a 2,000-item page is well under 2 MB).
const MAX_BODY: u64 = 8 * 1024 * 1024;

/// What went wrong with one call. Texts never contain the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// Google answered with an error status.
    Status {
        /// HTTP status.
        status: u16,
        /// `error.errors[0].reason` (`quotaExceeded`, `liveChatEnded`, …), or empty.
        reason: String,
        /// `error.message`, or a short description of the body.
        message: String,
    },
    /// No complete answer: connection refused or dropped, timeout, cut body.
    Transport(String),
}

impl ApiError {
    /// A short sentence for a `detail`.
    pub fn describe(&self) -> String {
        match self {
            ApiError::Status {
                status, message, ..
            } => format!("HTTP {status}: {message}"),
            ApiError::Transport(e) => e.clone(),
        }
    }

    /// "YouTube says: <Google's message>": the `detail` of a call Google refused.
    pub fn says(&self) -> String {
        match self {
            ApiError::Status { message, .. } => format!("YouTube says: {message}"),
            ApiError::Transport(t) => format!("YouTube says: {t}"),
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorInner,
}

#[derive(Deserialize)]
struct ErrorInner {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<ErrorItem>,
    #[serde(default)]
    details: Vec<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorItem {
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    reason: String,
}

/// A Data API client for one key.
#[derive(Clone)]
pub struct Api {
    agent: ureq::Agent,
    base: String,
    key: Secret,
}

impl Api {
    /// A client for `base` (e.g. `https://www.googleapis.com/youtube/v3`) with `timeout` per call.
    pub fn new(base: &str, key: Secret, timeout: Duration) -> Api {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .user_agent("crosschat-ingest")
            .build()
            .into();
        Api {
            agent,
            base: base.trim_end_matches('/').to_owned(),
            key,
        }
    }

    /// `GET <base>/<path>?<query>&key=…`; the body of a 2xx answer.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Vec<u8>, ApiError> {
        let api = self.clone();
        let url = format!("{}/{}", self.base, path.trim_start_matches('/'));
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let r = tokio::task::spawn_blocking(move || api.get_blocking(&url, &query)).await;
        let r = r.unwrap_or_else(|e| Err(ApiError::Transport(format!("internal error: {e}"))));
        r.map_err(|e| self.scrub(e))
    }

    fn get_blocking(&self, url: &str, query: &[(String, String)]) -> Result<Vec<u8>, ApiError> {
        let mut req = self.agent.get(url);
        for (k, v) in query {
            req = req.query(k, v);
        }
        let mut resp = req
            .query("key", self.key.expose())
            .call()
            .map_err(|e| ApiError::Transport(transport_text(&e)))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| ApiError::Transport(transport_text(&e)))?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        Err(error_from_body(status, &body))
    }

    /// Removes the key from an error's text (URLs in transport errors, echoes in messages).
    fn scrub(&self, e: ApiError) -> ApiError {
        let key = self.key.expose();
        let clean = |s: String| {
            if key.is_empty() {
                s
            } else {
                s.replace(key, "<redacted>")
            }
        };
        match e {
            ApiError::Status {
                status,
                reason,
                message,
            } => ApiError::Status {
                status,
                reason: clean(reason),
                message: clean(message),
            },
            ApiError::Transport(t) => ApiError::Transport(clean(t)),
        }
    }
}

fn transport_text(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "YouTube did not answer in time".into(),
        ureq::Error::Io(io) => format!("connection problem ({})", io.kind()),
        ureq::Error::ConnectionFailed => "could not connect to YouTube".into(),
        ureq::Error::HostNotFound => "could not find YouTube's address (DNS)".into(),
        ureq::Error::BodyExceedsLimit(_) => "YouTube's answer was too large".into(),
        ureq::Error::Protocol(_) | ureq::Error::BodyStalled => {
            "YouTube's answer was cut or unreadable".into()
        }
        // Other variants may carry the request URL (and with it the key): never print them raw.
        _ => "the request to YouTube failed".into(),
    }
}

/// Reads Google's JSON error format: `{"error":{"code","message","errors":[{"reason"}]}}`.
pub fn error_from_body(status: u16, body: &[u8]) -> ApiError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => {
            let reason = b
                .error
                .errors
                .iter()
                .map(|e| e.reason.as_str())
                .chain(b.error.details.iter().map(|d| d.reason.as_str()))
                .find(|r| !r.is_empty())
                .unwrap_or("")
                .to_owned();
            let message = if b.error.message.is_empty() {
                format!("error {status}")
            } else {
                b.error.message.chars().take(300).collect()
            };
            ApiError::Status {
                status,
                reason,
                message,
            }
        }
        Err(_) => ApiError::Status {
            status,
            reason: String::new(),
            message: format!("error {status} without a readable body"),
        },
    }
}
