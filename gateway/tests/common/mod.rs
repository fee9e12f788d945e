//! Helpers shared by the gateway's integration tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Parser;
use gateway::state::State;
use gateway::Config;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, StatusCode};
use warp::{Filter, Reply};

/// A config for tests: bcrypt cost 4, the given data and runtime dirs, a unique segment name.
pub fn config(dir: &Path, extra: &[&str]) -> Config {
    static N: AtomicUsize = AtomicUsize::new(0);
    let shm = format!(
        "/xchat-gwtest-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let mut args = vec![
        "gateway".to_string(),
        "--data-dir".into(),
        dir.join("data").display().to_string(),
        "--runtime-dir".into(),
        dir.join("run").display().to_string(),
    ];
    if !extra.contains(&"--bcrypt-cost") {
        args.extend(["--bcrypt-cost".into(), "4".into()]);
    }
    if !extra.contains(&"--shm-name") {
        args.extend(["--shm-name".into(), shm]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    Config::parse_from(args)
}

/// A fresh state on a fresh temporary directory.
pub async fn setup() -> (tempfile::TempDir, State) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("run")).unwrap();
    let state = gateway::build_state(&config(dir.path(), &[]))
        .await
        .unwrap();
    (dir, state)
}

/// The gateway's whole filter, boxed so tests can name its type.
pub fn app(state: State) -> BoxedFilter<(warp::reply::Response,)> {
    warp::any()
        .and(gateway::routes::routes(state))
        .map(Reply::into_response)
        .boxed()
}

/// A response, its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `error` sentence.
    pub fn error(&self) -> &str {
        self.json["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {}", self.text))
    }

    /// The session token from `Set-Cookie`, as a `Cookie` header value.
    pub fn cookie(&self) -> String {
        let sc = self.header("set-cookie").expect("set-cookie");
        sc.split(';').next().unwrap().to_string()
    }
}

pub async fn send(
    app: &BoxedFilter<(warp::reply::Response,)>,
    req: warp::test::RequestBuilder,
) -> Resp {
    let res = req.reply(app).await;
    let text = String::from_utf8_lossy(res.body()).into_owned();
    Resp {
        status: res.status(),
        headers: res.headers().clone(),
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

/// `GET path` with an optional cookie.
pub async fn get(
    app: &BoxedFilter<(warp::reply::Response,)>,
    path: &str,
    cookie: Option<&str>,
) -> Resp {
    let mut req = warp::test::request().method("GET").path(path);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    send(app, req).await
}

/// `POST path` with a JSON body (`Content-Type: application/json`) and an optional cookie.
pub async fn post(
    app: &BoxedFilter<(warp::reply::Response,)>,
    path: &str,
    body: &str,
    cookie: Option<&str>,
) -> Resp {
    let mut req = warp::test::request()
        .method("POST")
        .path(path)
        .header("content-type", "application/json")
        .header("host", "127.0.0.1:3000")
        .body(body);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    send(app, req).await
}

/// Registers `name` (password `secret-pw`), logs in; returns (user id, cookie).
pub async fn register_login(
    app: &BoxedFilter<(warp::reply::Response,)>,
    name: &str,
) -> (String, String) {
    let body = format!(r#"{{"username":"{name}","password":"secret-pw"}}"#);
    let r = post(app, "/api/auth/register", &body, None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = post(app, "/api/auth/login", &body, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    (
        r.json["user"]["id"].as_str().unwrap().to_string(),
        r.cookie(),
    )
}

/// A minimal HTTP/1.1 client for the real server: one request per connection.
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
    let mut s = tokio::net::TcpStream::connect(addr).await?;
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
