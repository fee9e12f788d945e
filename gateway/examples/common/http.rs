//! A minimal HTTP/1.1 client on one keep-alive connection, and the calls the drivers make:
//! register and log in a streamer, start a stream, make an overlay link, read `/metrics`.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One answer.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: String,
    /// `name=value` of a `Set-Cookie` header.
    pub cookie: Option<String>,
}

/// One keep-alive connection to the gateway.
pub struct Http {
    s: BufReader<TcpStream>,
}

impl Http {
    /// Connects to `addr`.
    pub async fn connect(addr: &str) -> std::io::Result<Http> {
        Ok(Http {
            s: BufReader::new(TcpStream::connect(addr).await?),
        })
    }

    /// One request; `cookie` may be empty.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        cookie: &str,
        body: &str,
    ) -> std::io::Result<Response> {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nCookie: {cookie}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.s.get_mut().write_all(req.as_bytes()).await?;
        let mut status = 0;
        let mut len = 0usize;
        let mut set_cookie = None;
        let mut line = String::new();
        loop {
            line.clear();
            if self.s.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some(rest) = l.strip_prefix("HTTP/1.1 ") {
                status = rest.get(..3).and_then(|s| s.parse().ok()).unwrap_or(0);
            } else if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                } else if k.eq_ignore_ascii_case("set-cookie") {
                    set_cookie = v.trim().split(';').next().map(str::to_string);
                }
            }
        }
        let mut buf = vec![0; len];
        self.s.read_exact(&mut buf).await?;
        Ok(Response {
            status,
            body: String::from_utf8_lossy(&buf).into_owned(),
            cookie: set_cookie,
        })
    }

    /// `GET /metrics`.
    pub async fn metrics(&mut self) -> std::io::Result<String> {
        Ok(self.request("GET", "/metrics", "", "").await?.body)
    }
}

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

/// Whether `GET /healthz` answers 200 on a fresh connection within 1 s.
pub async fn healthy(addr: &str) -> bool {
    let check = async {
        let mut h = Http::connect(addr).await?;
        h.request("GET", "/healthz", "", "").await
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), check).await,
        Ok(Ok(Response { status: 200, .. }))
    )
}
