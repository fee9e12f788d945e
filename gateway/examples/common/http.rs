//! The calls the drivers make over the test kit's keep-alive HTTP/1.1 client
//! (`crosschat_tests::http`, re-exported here): register and log in a streamer, start a stream,
//! make an overlay link, read `/metrics`.

// Not every test file (example) uses them, as with the rest of this module.
#[allow(unused_imports)]
pub use crosschat_tests::http::{healthy, Http};

/// A logged-in streamer with an active stream.
#[derive(Debug, Clone)]
pub struct Streamer {
    /// `streamer_session=…`.
    pub cookie: String,
    /// The account id (the room).
    pub id: String,
}

/// Registers `username`, logs in and starts a stream.
pub async fn streamer(http: &mut Http, username: &str) -> Streamer {
    let creds = format!(r#"{{"username":"{username}","password":"secret-pw"}}"#);
    let r = http
        .request("POST", "/api/auth/register", "", &creds)
        .await
        .unwrap();
    assert_eq!(r.status, 201, "register: {}", r.body);
    let r = http
        .request("POST", "/api/auth/login", "", &creds)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "login: {}", r.body);
    let cookie = r.cookie.expect("a session cookie");
    let me = http
        .request("GET", "/api/auth/me", &cookie, "")
        .await
        .unwrap();
    let me: serde_json::Value = serde_json::from_str(&me.body).unwrap();
    let id = me["user"]["id"].as_str().unwrap().to_string();
    let r = http
        .request(
            "POST",
            "/api/stream/control",
            &cookie,
            r#"{"action":"start"}"#,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "stream start: {}", r.body);
    Streamer { cookie, id }
}

/// Makes an overlay link; returns its key.
pub async fn overlay_key(http: &mut Http, cookie: &str) -> String {
    let r = http
        .request("POST", "/api/overlays", cookie, r#"{"label":"bench"}"#)
        .await
        .unwrap();
    assert_eq!(r.status, 201, "overlay link: {}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    v["key"].as_str().expect("the overlay key").to_string()
}

/// The value of an unlabelled metric line `name value`.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter_map(|l| l.strip_prefix(name))
        .find_map(|v| v.strip_prefix(' ').and_then(|v| v.trim().parse().ok()))
}

/// The metric lines (not comments) containing any of `words`.
pub fn metric_lines(text: &str, words: &[&str]) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && words.iter().any(|w| l.contains(w)))
        .map(str::to_string)
        .collect()
}
