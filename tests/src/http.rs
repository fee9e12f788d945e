//! HTTP/1.1 written by hand over tokio's TCP, for when a test needs the bytes on the wire (a
//! missing header, a raw status line) or a load driver needs one cheap keep-alive connection:
//! [`http`] / [`try_http`] send one request per connection, [`Http`] keeps one open. The
//! logged-in, JSON-speaking client for end-to-end tests is [`crate::client::User`].

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One request on a new connection (`Connection: close`): (status, head, body). Panics when the
/// connection fails.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    try_http(addr, method, path, headers, body).await.unwrap()
}

/// [`http`], with connection errors returned.
pub async fn try_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String, String)> {
    let mut s = TcpStream::connect(addr).await?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    let out = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, head.to_string(), body.to_string()))
}

/// One answer on an [`Http`] connection.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: String,
    /// `name=value` of a `Set-Cookie` header.
    pub cookie: Option<String>,
}

/// One keep-alive connection to the gateway (bodies framed by `Content-Length`).
pub struct Http {
    s: BufReader<TcpStream>,
}

impl Http {
    /// Connects to `addr` (`host:port`).
    pub async fn connect(addr: &str) -> std::io::Result<Http> {
        Ok(Http {
            s: BufReader::new(TcpStream::connect(addr).await?),
        })
    }

    /// One request with a JSON content type; `cookie` may be empty.
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
