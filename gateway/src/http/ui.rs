//! The web UI: five pages and their assets, embedded in the binary so that one file deploys.
//!
//! Routes: `GET /` (landing), `/register`, `/login`, `/dashboard`, `/overlay` (the OBS browser
//! source, which reads its key from the URL fragment, so the key never reaches this server in a
//! request line) and `/assets/<file>` for the stylesheets, the ES modules and the icon.
//! Everything is plain HTML/CSS/JS with no build step and nothing loaded from another origin, so
//! the pages work offline and under the gateway's strict CSP (no inline scripts or style
//! attributes anywhere in `assets/`; a test below checks that).
//!
//! Caching: every response carries `Cache-Control: no-cache` and an `ETag` (a hash of the bytes
//! computed at compile time), so a browser revalidates each load and gets a body-less 304 while the
//! binary is unchanged — and never runs a stale script against a newer gateway.
//!
//! The dashboard's "no session → /login" redirect happens client-side: `dashboard.js` asks
//! `GET /api/auth/me` and goes to `/login` on a 401. These routes hold no state and read no cookie.

use warp::http::{header, HeaderValue, Response, StatusCode};
use warp::{Filter, Rejection, Reply};

use crate::http::security::frameable_by_self;

/// One embedded file.
struct Asset {
    /// The file name under `assets/`, which is also its URL name.
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// `"<16 hex digits>"`, quotes included, as an `ETag` header wants it.
    etag: &'static str,
}

/// FNV-1a, 64 bit: enough to tell two versions of a file apart, and computable at compile time.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The quoted hex form of a hash, built at compile time (an `ETag` value).
const fn etag_bytes(hash: u64) -> [u8; 18] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'"'; 18];
    let mut i = 0;
    while i < 16 {
        out[1 + i] = HEX[((hash >> (60 - 4 * i)) & 0xf) as usize];
        i += 1;
    }
    out
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {{
        const BODY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $name));
        const ETAG: [u8; 18] = etag_bytes(fnv1a(BODY));
        Asset {
            name: $name,
            content_type: $content_type,
            body: BODY,
            // The bytes are '"' and ASCII hex digits only, so they are valid UTF-8.
            etag: match std::str::from_utf8(&ETAG) {
                Ok(s) => s,
                Err(_) => panic!("an ETag is ASCII"),
            },
        }
    }};
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file the UI serves. Pages are looked up by name too, never by a path from the request.
static ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("register.html", HTML),
    asset!("login.html", HTML),
    asset!("dashboard.html", HTML),
    asset!("overlay.html", HTML),
    asset!("app.css", CSS),
    asset!("chat.css", CSS),
    asset!("overlay.css", CSS),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("api.js", JS),
    asset!("channels.js", JS),
    asset!("topbar.js", JS),
    asset!("landing.js", JS),
    asset!("auth.js", JS),
    asset!("format.js", JS),
    asset!("message.js", JS),
    asset!("feed.js", JS),
    asset!("feed-marks.js", JS),
    asset!("filter-rules.js", JS),
    asset!("filters.js", JS),
    asset!("overlay-options.js", JS),
    asset!("overlay-lines.js", JS),
    asset!("overlay.js", JS),
    asset!("overlays.js", JS),
    asset!("connection.js", JS),
    asset!("history.js", JS),
    asset!("simulator.js", JS),
    asset!("dashboard.js", JS),
];

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The response for one asset: 304 when the browser's copy is current, else the bytes.
fn respond(asset: &'static Asset, if_none_match: Option<String>) -> Response<&'static [u8]> {
    let fresh = if_none_match.as_deref().is_some_and(|v| {
        v.split(',')
            .any(|tag| tag.trim().trim_start_matches("W/") == asset.etag)
    });
    let (status, body): (StatusCode, &'static [u8]) = if fresh {
        (StatusCode::NOT_MODIFIED, b"")
    } else {
        (StatusCode::OK, asset.body)
    };
    let mut res = Response::new(body);
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::ETAG, HeaderValue::from_static(asset.etag));
    res
}

/// `GET` (and `HEAD`) with the request's `If-None-Match`, if any.
fn get_conditional() -> impl Filter<Extract = (Option<String>,), Error = Rejection> + Clone {
    warp::get()
        .or(warp::head())
        .unify()
        .and(warp::header::optional::<String>("if-none-match"))
}

/// The rest of a page route: the path ends here, and the named embedded file answers.
fn page(
    file: &'static str,
) -> impl Filter<Extract = (Response<&'static [u8]>,), Error = Rejection> + Clone {
    // Checked by the `every_page_is_embedded` test; a miss would be a typo in this file.
    let asset = find(file).expect("page file is embedded");
    warp::path::end()
        .and(get_conditional())
        .map(move |inm| respond(asset, inm))
}

/// `GET /`, `/register`, `/login`, `/dashboard`, `/overlay` and `/assets/<file>`.
pub fn routes() -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let landing = page("index.html");
    let register = warp::path("register").and(page("register.html"));
    let login = warp::path("login").and(page("login.html"));
    let dashboard = warp::path("dashboard").and(page("dashboard.html"));
    // The only page the dashboard frames (its live preview of the overlay).
    let overlay = warp::path("overlay")
        .and(page("overlay.html"))
        .map(|page: Response<&'static [u8]>| frameable_by_self(page.into_response()));
    let assets = warp::path("assets")
        .and(warp::path::param::<String>())
        .and(warp::path::end())
        .and(get_conditional())
        .and_then(|name: String, inm: Option<String>| async move {
            // Only names in the table are served: no file system, so no path traversal.
            find(&name)
                .map(|asset| respond(asset, inm))
                .ok_or_else(warp::reject::not_found)
        });
    landing
        .or(register)
        .unify()
        .or(login)
        .unify()
        .or(dashboard)
        .unify()
        .or(assets)
        .unify()
        .or(overlay)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(path: &str) -> warp::http::Response<bytes::Bytes> {
        warp::test::request()
            .method("GET")
            .path(path)
            .reply(&routes())
            .await
    }

    #[test]
    fn every_page_is_embedded() {
        for name in [
            "index.html",
            "register.html",
            "login.html",
            "dashboard.html",
            "overlay.html",
        ] {
            assert!(find(name).is_some(), "{name}");
        }
        let mut names: Vec<_> = ASSETS.iter().map(|a| a.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ASSETS.len(), "an asset is listed twice");
    }

    /// Every `/assets/<name>` a page links and every `./<name>` a module imports is served: a new
    /// module left out of [`ASSETS`] would break its page only at run time.
    #[test]
    fn every_referenced_asset_is_embedded() {
        for asset in ASSETS {
            let Ok(text) = std::str::from_utf8(asset.body) else {
                continue;
            };
            let mut names: Vec<&str> = Vec::new();
            for marker in ["\"/assets/", "from './"] {
                for (i, _) in text.match_indices(marker) {
                    let rest = &text[i + marker.len()..];
                    let end = rest.find(['"', '\'']).unwrap_or(rest.len());
                    names.push(&rest[..end]);
                }
            }
            for name in names {
                assert!(
                    find(name).is_some(),
                    "{} refers to {name}, which is not embedded",
                    asset.name
                );
            }
        }
    }

    #[tokio::test]
    async fn pages_are_html_with_cache_control() {
        for (path, marker) in [
            ("/", "Start streaming"),
            ("/register", "id=\"auth-form\" data-mode=\"register\""),
            ("/login", "id=\"auth-form\" data-mode=\"login\""),
            ("/dashboard", "Start New Stream"),
            ("/overlay", "id=\"lines\""),
        ] {
            let res = get(path).await;
            assert_eq!(res.status(), 200, "{path}");
            assert_eq!(
                res.headers()["content-type"],
                "text/html; charset=utf-8",
                "{path}"
            );
            assert_eq!(res.headers()["cache-control"], "no-cache", "{path}");
            assert!(res.headers().contains_key("etag"), "{path}");
            let body = String::from_utf8(res.body().to_vec()).unwrap();
            assert!(body.contains(marker), "{path} lacks {marker}");
        }
    }

    #[tokio::test]
    async fn assets_have_their_content_type() {
        for (path, ct) in [
            ("/assets/app.css", "text/css; charset=utf-8"),
            ("/assets/overlay.css", "text/css; charset=utf-8"),
            ("/assets/overlay.js", "text/javascript; charset=utf-8"),
            ("/assets/dashboard.js", "text/javascript; charset=utf-8"),
            ("/assets/favicon.svg", "image/svg+xml"),
        ] {
            let res = get(path).await;
            assert_eq!(res.status(), 200, "{path}");
            assert_eq!(res.headers()["content-type"], ct, "{path}");
        }
    }

    #[tokio::test]
    async fn unknown_and_traversing_names_are_not_found() {
        for path in [
            "/assets/nope.js",
            "/assets/../Cargo.toml",
            "/assets/%2e%2e%2fCargo.toml",
            "/assets/",
            "/assets/js/app.js",
            "/dashboard/extra",
            "/overlay/extra",
            "/index.html",
        ] {
            let res = get(path).await;
            assert_eq!(res.status(), 404, "{path}");
        }
    }

    #[tokio::test]
    async fn a_current_etag_gets_304_without_a_body() {
        let first = get("/assets/feed.js").await;
        let etag = first.headers()["etag"].to_str().unwrap().to_owned();
        let res = warp::test::request()
            .path("/assets/feed.js")
            .header("if-none-match", &etag)
            .reply(&routes())
            .await;
        assert_eq!(res.status(), 304);
        assert!(res.body().is_empty());
        let stale = warp::test::request()
            .path("/assets/feed.js")
            .header("if-none-match", "\"0000000000000000\"")
            .reply(&routes())
            .await;
        assert_eq!(stale.status(), 200);
    }

    #[test]
    fn etags_differ_between_files() {
        assert_ne!(find("api.js").unwrap().etag, find("feed.js").unwrap().etag);
        assert_eq!(find("api.js").unwrap().etag.len(), 18);
    }

    /// ` onclick=`, ` onerror=`, …: an attribute that starts with "on" and has a value.
    fn has_inline_handler(html: &str) -> bool {
        html.match_indices(" on").any(|(i, _)| {
            let rest = &html[i + 3..];
            let name_len = rest.bytes().take_while(u8::is_ascii_lowercase).count();
            name_len > 0 && rest[name_len..].starts_with('=')
        })
    }

    /// The CSP forbids inline script and style; untrusted text must never be parsed as HTML.
    #[test]
    fn assets_keep_to_the_safety_rules() {
        for asset in ASSETS {
            let text = match std::str::from_utf8(asset.body) {
                Ok(t) => t,
                Err(_) => continue,
            };
            if asset.name.ends_with(".js") {
                for banned in [
                    "innerHTML",
                    "outerHTML",
                    "insertAdjacentHTML",
                    "document.write",
                    "eval(",
                    "new Function",
                ] {
                    assert!(!text.contains(banned), "{} uses {banned}", asset.name);
                }
            }
            if asset.name.ends_with(".html") {
                assert!(
                    !text.contains(" style="),
                    "{} has an inline style attribute",
                    asset.name
                );
                assert!(
                    !text.contains("<style"),
                    "{} has an inline stylesheet",
                    asset.name
                );
                for (i, _) in text.match_indices("<script") {
                    let tag = &text[i..text[i..].find('>').map_or(text.len(), |j| i + j)];
                    assert!(
                        tag.contains("src=\"/assets/"),
                        "{} has an inline script: {tag}",
                        asset.name
                    );
                }
                assert!(
                    !has_inline_handler(text),
                    "{} has an inline event handler",
                    asset.name
                );
                assert!(
                    !text.contains("http://") && !text.contains("https://"),
                    "{} loads from another origin",
                    asset.name
                );
            }
        }
    }
}
