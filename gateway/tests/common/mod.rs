//! What the gateway's integration tests share beyond the workspace's test kit
//! (`crosschat_tests`, which gives the unique segment name, the temporary directory's layout and
//! the hand-written HTTP client re-exported here): a test config, a fresh in-process state, and
//! `warp::test` requests against the whole filter.
#![allow(dead_code)]

use std::path::Path;

use clap::Parser;
use crosschat_tests::dirs::{self, TestDir};
use crosschat_tests::segment::unique_name;
use gateway::state::State;
use gateway::Config;
use serde_json::Value;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, StatusCode};
use warp::{Filter, Reply};

/// The kit's one-request-per-connection HTTP client, for the real server.
// Not every test file (example) uses them, as with the rest of this module.
#[allow(unused_imports)]
pub use crosschat_tests::http::{http, try_http};

/// A config for tests: bcrypt cost 4, the data and runtime dirs inside `dir`, a unique segment
/// name (whoever runs the gateway unlinks it).
pub fn config(dir: &Path, extra: &[&str]) -> Config {
    let shm = unique_name("gwtest");
    let mut args = vec![
        "gateway".to_string(),
        "--data-dir".into(),
        dirs::data_dir(dir).display().to_string(),
        "--runtime-dir".into(),
        dirs::runtime_dir(dir).display().to_string(),
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
pub async fn setup() -> (TestDir, State) {
    let dir = TestDir::new("crosschat-gwtest-");
    dir.create_runtime_dir();
    let state = gateway::build_state(&config(dir.path(), &[]))
        .await
        .unwrap();
    (dir, state)
}

/// The gateway's whole filter, boxed so tests can name its type.
pub fn app(state: State) -> BoxedFilter<(warp::reply::Response,)> {
    warp::any()
        .and(gateway::http::routes::routes(state))
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
