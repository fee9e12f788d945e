//! Request hygiene shared by every route: security headers on every response, the CSRF check on
//! state-changing routes (JSON content type + same-origin `Origin`), and the capped JSON body.

use serde::de::DeserializeOwned;
use warp::http::header::{self, HeaderMap, HeaderValue};
use warp::http::StatusCode;
use warp::{Filter, Rejection};

use crate::error::ApiError;

/// The cap on every request body (16 KiB): the largest legitimate body is a chat message of 1000
/// characters plus a few fields.
pub const BODY_LIMIT: u64 = 16 * 1024;

/// The Content-Security-Policy, with the `frame-ancestors` source it allows.
macro_rules! csp {
    ($ancestors:literal) => {
        concat!(
            "default-src 'self'; connect-src 'self'; ",
            "img-src 'self' data: https://static-cdn.jtvnw.net https://files.kick.com; ",
            "style-src 'self'; script-src 'self'; frame-ancestors ",
            $ancestors,
            "; base-uri 'none'; form-action 'self'"
        )
    };
}

/// The Content-Security-Policy sent with every response. Everything comes from the gateway's own
/// origin; `connect-src 'self'` also covers `ws://`/`wss://` to the same host in current browsers
/// (CSP level 3), which is all the dashboard's WebSocket needs. Emote images come straight from
/// the two platforms' emote CDNs (named exactly; no proxy, so the gateway never fetches the
/// internet); an image that cannot load shows the emote's name instead. No page may be framed.
pub const CSP: &str = csp!("'none'");

/// [`CSP`] for the overlay page, which the dashboard's live preview frames: the same policy, but
/// frameable by the gateway's own pages (`frame-ancestors 'self'`). OBS loads it top-level.
pub const CSP_FRAMEABLE_BY_SELF: &str = csp!("'self'");

/// Lets the gateway's own pages frame this response (and nobody else's): set by the overlay
/// page's route; [`add_security_headers`] keeps it.
pub fn frameable_by_self(mut res: warp::reply::Response) -> warp::reply::Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP_FRAMEABLE_BY_SELF),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    res
}

/// Adds the security headers every response carries, the UI's included — each one unless the
/// route set its own (the overlay page's framing policy).
pub fn add_security_headers(res: &mut warp::reply::Response) {
    let h = res.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    }
}

/// The CSRF gate for every state-changing route.
///
/// * The body must be declared `application/json` (415 otherwise): a cross-site HTML form cannot
///   send that content type, and a cross-site `fetch` with it needs a CORS preflight, which the
///   gateway never grants.
/// * When the browser sends `Origin`, its host must be the `Host` the request was sent to (403).
pub fn csrf() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::headers_cloned()
        .and_then(
            |headers: HeaderMap| async move { check_csrf(&headers).map_err(warp::reject::custom) },
        )
        .untuple_one()
}

fn check_csrf(headers: &HeaderMap) -> Result<(), ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        })
        .unwrap_or(false);
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send this request with the header Content-Type: application/json (the gateway refuses other content types to stop cross-site form posts).",
        ));
    }
    check_origin(headers)
}

/// When `Origin` is present its host must be the `Host` the request was sent to (403 otherwise).
/// Also guards the WebSocket upgrade against cross-site WebSocket hijacking (a page on another
/// port of the same host is "same-site", so SameSite=Lax alone would send it the cookie).
pub fn check_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        let same = match (origin.to_str().ok(), host) {
            (Some(origin), Some(host)) => origin_matches_host(origin, host),
            _ => false,
        };
        if !same {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "This request came from another site (its Origin header does not match this gateway's host), so it was refused.",
            ));
        }
    }
    Ok(())
}

/// `Origin: http://host:port` (or https) matches `Host: host:port`, case-insensitively.
fn origin_matches_host(origin: &str, host: &str) -> bool {
    let rest = if let Some(r) = origin.strip_prefix("http://") {
        r
    } else if let Some(r) = origin.strip_prefix("https://") {
        r
    } else {
        return false; // "null", file://, chrome-extension://, …
    };
    !rest.is_empty() && rest.eq_ignore_ascii_case(host)
}

/// A JSON body of at most [`BODY_LIMIT`] bytes, parsed into `T`; a malformed body or a field of the
/// wrong type is a 400 whose sentence names the problem. Use after [`csrf`], which checks the type.
pub fn json_body<T: DeserializeOwned + Send>(
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    json_body_up_to(BODY_LIMIT)
}

/// [`json_body`] with another size limit (for the few bodies that are lists, e.g. filters).
pub fn json_body_up_to<T: DeserializeOwned + Send>(
    limit: u64,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    // Refused as our own error, so that no other route's 405 can hide the 413 when warp combines
    // the rejections of every route that did not match.
    warp::header::optional::<u64>("content-length")
        .and_then(move |length: Option<u64>| async move {
            match length {
                Some(n) if n > limit => Err(warp::reject::custom(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "The request body is {n} bytes; this route accepts at most {} KiB.",
                        limit / 1024
                    ),
                ))),
                _ => Ok(()),
            }
        })
        .untuple_one()
        .and(warp::body::content_length_limit(limit))
        .and(warp::body::bytes())
        .and_then(|bytes: bytes::Bytes| async move {
            parse_json_body::<T>(&bytes).map_err(warp::reject::custom)
        })
}

/// Parses a request body as `T`, as [`json_body`] does: a malformed body or a field of the wrong
/// type is a 400 whose sentence names the problem. Pure, so it can be fuzzed.
pub fn parse_json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice::<T>(bytes).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "has a missing field or a field of the wrong type",
            serde_json::error::Category::Eof if bytes.is_empty() => "is empty",
            _ => "is not valid JSON",
        };
        ApiError::bad_request(format!("The request body {what}: {e}."))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frameable_policy_differs_only_in_its_ancestors() {
        assert_eq!(
            CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self'"),
            CSP_FRAMEABLE_BY_SELF
        );
    }

    #[test]
    fn origin_must_name_the_same_host() {
        assert!(origin_matches_host(
            "http://127.0.0.1:3000",
            "127.0.0.1:3000"
        ));
        assert!(origin_matches_host("https://Chat.Example", "chat.example"));
        assert!(!origin_matches_host(
            "http://evil.example",
            "127.0.0.1:3000"
        ));
        assert!(!origin_matches_host("null", "127.0.0.1:3000"));
        assert!(!origin_matches_host(
            "http://127.0.0.1:3001",
            "127.0.0.1:3000"
        ));
        assert!(!origin_matches_host(
            "ftp://127.0.0.1:3000",
            "127.0.0.1:3000"
        ));
    }
}
