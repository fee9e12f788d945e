//! Blocking HTTP (ureq) run off the async workers, with a whole-request timeout and a bounded body.

use std::time::Duration;

/// Largest body read from Kick's web and realtime APIs (a channel object is a few KiB).
const MAX_BODY: u64 = 1 << 20;

/// What a request came back with.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body (cut at 1 MiB).
    pub body: String,
}

/// Why a request failed before an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No answer within the timeout.
    #[error("no answer within {0} s")]
    Timeout(u64),
    /// Connection refused, DNS, TLS, a broken body…
    #[error("{0}")]
    Transport(String),
}

/// Headers a browser on kick.com sends; the internal endpoints and the realtime API answer
/// browsers (and, for the realtime API, only the kick.com origin).
const BROWSER_HEADERS: [(&str, &str); 6] = [
    (
        "User-Agent",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    ),
    ("Accept", "application/json, text/plain, */*"),
    ("Accept-Language", "en-US,en;q=0.9"),
    ("Origin", "https://kick.com"),
    ("Referer", "https://kick.com/"),
    ("x-app-platform", "web"),
];

/// `GET url` (body `None`) or `POST url` with a JSON body, in a blocking thread.
pub async fn request(
    url: String,
    body: Option<serde_json::Value>,
    timeout: Duration,
) -> Result<Answer, HttpError> {
    let job = tokio::task::spawn_blocking(move || blocking(&url, body, timeout));
    match job.await {
        Ok(r) => r,
        Err(e) => Err(HttpError::Transport(format!(
            "the request task failed: {e}"
        ))),
    }
}

fn blocking(
    url: &str,
    body: Option<serde_json::Value>,
    timeout: Duration,
) -> Result<Answer, HttpError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let map_err = |e: ureq::Error| match e {
        ureq::Error::Timeout(_) => HttpError::Timeout(timeout.as_secs().max(1)),
        other => HttpError::Transport(other.to_string()),
    };
    let resp = match body {
        None => {
            let mut req = agent.get(url);
            for (k, v) in BROWSER_HEADERS {
                req = req.header(k, v);
            }
            req.call().map_err(map_err)?
        }
        Some(json) => {
            let mut req = agent.post(url);
            for (k, v) in BROWSER_HEADERS {
                req = req.header(k, v);
            }
            req.send_json(&json).map_err(map_err)?
        }
    };
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .into_with_config()
        .limit(MAX_BODY)
        .read_to_string()
        .map_err(map_err)?;
    Ok(Answer { status, body })
}
