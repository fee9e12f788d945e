//! Request hygiene shared by every route: security headers on every response and the CSRF check
//! on state-changing routes (JSON content type + same-origin `Origin`). Bodies: [`super::body`].

use warp::http::header::{self, HeaderMap, HeaderValue};
use warp::http::StatusCode;
use warp::{Filter, Rejection};

use crate::http::error::ApiError;

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
