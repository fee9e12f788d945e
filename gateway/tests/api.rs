//! Every HTTP route, its success and its refusals, in process (`warp::test`).

mod common;

use common::*;
use serde_json::Value;
use shm_layout::{ChatMessage, Platform};
use uuid::Uuid;

fn msg(streamer: &str, text: &str) -> ChatMessage {
    ChatMessage {
        is_sub: true,
        color: Some("#aabbcc".into()),
        ..ChatMessage::simple(
            Uuid::new_v4(),
            streamer.parse().unwrap(),
            Platform::Twitch,
            "viewer",
            text,
            1,
        )
    }
}

fn texts(r: &Resp) -> Vec<String> {
    r.json["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages in {}", r.text))
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn register_accepts_good_accounts_and_refuses_bad_ones() {
    let (_dir, state) = setup().await;
    let app = app(state.clone());
    let r = post(
        &app,
        "/api/auth/register",
        r#"{"username":"Ann_1","password":"secret"}"#,
        None,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["ok"], true);
    assert_eq!(r.json["user"]["username"], "Ann_1");
    assert!(Uuid::parse_str(r.json["user"]["id"].as_str().unwrap()).is_ok());
    assert!(!r.text.contains("$2"), "a hash leaked: {}", r.text);

    // Taken, case-insensitively.
    let r = post(
        &app,
        "/api/auth/register",
        r#"{"username":"ann_1","password":"secret"}"#,
        None,
    )
    .await;
    assert_eq!(r.status, 409);
    assert!(r.error().contains("taken"));

    for (body, needle) in [
        (r#"{"username":"ab","password":"secret"}"#, "3 to 32"),
        (r#"{"username":"a/../b","password":"secret"}"#, "3 to 32"),
        (r#"{"username":"bob","password":"12345"}"#, "at least 6"),
        (r#"{"username":"bob"}"#, "missing field `password`"),
        (r#"{"username":"bob","password":123456}"#, "invalid type"),
        (r#"{"username":"bob","password":"#, "not valid JSON"),
        ("", "empty"),
    ] {
        let r = post(&app, "/api/auth/register", body, None).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.error().contains(needle), "{body}: {}", r.text);
    }
    // bcrypt's 72-byte limit: 72 is fine, 73 is refused with a sentence saying why.
    let long = "x".repeat(73);
    let r = post(
        &app,
        "/api/auth/register",
        &format!(r#"{{"username":"bob","password":"{long}"}}"#),
        None,
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.error().contains("72"), "{}", r.text);
    let ok = "x".repeat(72);
    let r = post(
        &app,
        "/api/auth/register",
        &format!(r#"{{"username":"bob","password":"{ok}"}}"#),
        None,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(state.store.users().len(), 2);

    // Wrong method.
    let r = get(&app, "/api/auth/register", None).await;
    assert_eq!(r.status, 405);
    assert!(!r.error().is_empty());
}

#[tokio::test]
async fn csrf_content_type_origin_and_body_limit() {
    let (_dir, state) = setup().await;
    let app = app(state.clone());
    let body = r#"{"username":"carol","password":"secret"}"#;

    // No content type.
    let r = send(
        &app,
        warp::test::request()
            .method("POST")
            .path("/api/auth/register")
            .body(body),
    )
    .await;
    assert_eq!(r.status, 415);
    assert!(r.error().contains("application/json"));
    // A form post.
    let r = send(
        &app,
        warp::test::request()
            .method("POST")
            .path("/api/auth/register")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("username=carol&password=secret"),
    )
    .await;
    assert_eq!(r.status, 415);
    // A foreign Origin.
    let r = send(
        &app,
        warp::test::request()
            .method("POST")
            .path("/api/auth/register")
            .header("content-type", "application/json")
            .header("host", "127.0.0.1:3000")
            .header("origin", "http://evil.example")
            .body(body),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(r.error().contains("Origin"));
    assert_eq!(
        state.store.users().len(),
        0,
        "nothing may be created by refused requests"
    );
    // Oversized body.
    let big = format!(
        r#"{{"username":"carol","password":"secret","pad":"{}"}}"#,
        "x".repeat(17 * 1024)
    );
    let r = post(&app, "/api/auth/register", &big, None).await;
    assert_eq!(r.status, 413);
    assert!(r.error().contains("16 KiB"));
    // The same origin passes, with a charset parameter too.
    let r = send(
        &app,
        warp::test::request()
            .method("POST")
            .path("/api/auth/register")
            .header("content-type", "application/json; charset=utf-8")
            .header("host", "127.0.0.1:3000")
            .header("origin", "http://127.0.0.1:3000")
            .body(body),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn security_headers_are_on_every_response() {
    let (_dir, state) = setup().await;
    let app = app(state);
    let responses = [
        get(&app, "/healthz", None).await,
        get(&app, "/api/auth/me", None).await,
        get(&app, "/no/such/thing", None).await,
        get(&app, "/", None).await,
        post(&app, "/api/auth/login", "{", None).await,
    ];
    for r in &responses {
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{r:?}");
        let csp = r.header("content-security-policy").unwrap();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("connect-src 'self'"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
    }
    assert_eq!(responses[3].status, 200, "the UI's landing page is mounted");
    assert_eq!(responses[2].status, 404);
    assert!(responses[2].json["error"].is_string());
}

#[tokio::test]
async fn login_sets_an_opaque_cookie_and_me_logout_follow_it() {
    let (_dir, state) = setup().await;
    let app = app(state.clone());
    post(
        &app,
        "/api/auth/register",
        r#"{"username":"dave","password":"secret"}"#,
        None,
    )
    .await;

    let r = post(
        &app,
        "/api/auth/login",
        r#"{"username":"DAVE","password":"secret"}"#,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["user"]["username"], "dave");
    let sc = r.header("set-cookie").unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(sc.contains(attr), "{sc}");
    }
    assert!(
        !sc.contains("Secure"),
        "no Secure without --secure-cookies: {sc}"
    );
    let cookie = r.cookie();
    let token = cookie.strip_prefix("streamer_session=").unwrap();
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    // The file keeps the token's hash, not the token.
    let sessions = std::fs::read_to_string(state.store.dir().join("sessions.json")).unwrap();
    assert!(!sessions.contains(token));

    let r = get(&app, "/api/auth/me", Some(&cookie)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["user"]["username"], "dave");
    assert_eq!(r.json["activeSession"], Value::Null);

    let r = get(&app, "/api/auth/me", None).await;
    assert_eq!(r.status, 401);
    assert!(r.error().contains("log in"));

    let r = post(&app, "/api/auth/logout", "{}", Some(&cookie)).await;
    assert_eq!(r.status, 200);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    let r = get(&app, "/api/auth/me", Some(&cookie)).await;
    assert_eq!(r.status, 401, "the session ended server-side");
    // Logging out twice is harmless.
    let r = post(&app, "/api/auth/logout", "{}", Some(&cookie)).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer_then_429() {
    let (_dir, state) = setup().await;
    let app = app(state.clone());
    post(
        &app,
        "/api/auth/register",
        r#"{"username":"erin","password":"secret"}"#,
        None,
    )
    .await;
    let wrong = post(
        &app,
        "/api/auth/login",
        r#"{"username":"erin","password":"nope-nope"}"#,
        None,
    )
    .await;
    let unknown = post(
        &app,
        "/api/auth/login",
        r#"{"username":"nobody","password":"nope-nope"}"#,
        None,
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.text, unknown.text);
    // A password that only matches in its first 72 bytes is not accepted.
    let r = post(
        &app,
        "/api/auth/login",
        &format!(
            r#"{{"username":"erin","password":"secret{}"}}"#,
            "x".repeat(80)
        ),
        None,
    )
    .await;
    assert_eq!(r.status, 401);
    for _ in 0..3 {
        let r = post(
            &app,
            "/api/auth/login",
            r#"{"username":"erin","password":"bad-bad"}"#,
            None,
        )
        .await;
        assert_eq!(r.status, 401);
    }
    // Fifth failure for erin was the last allowed; now even the right password waits.
    let r = post(
        &app,
        "/api/auth/login",
        r#"{"username":"Erin","password":"secret"}"#,
        None,
    )
    .await;
    assert_eq!(r.status, 429, "{}", r.text);
    let secs: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(secs > 0 && secs <= 15 * 60);
    assert!(r.error().contains("wait"));
    // Another user is not affected.
    post(
        &app,
        "/api/auth/register",
        r#"{"username":"fred","password":"secret"}"#,
        None,
    )
    .await;
    let r = post(
        &app,
        "/api/auth/login",
        r#"{"username":"fred","password":"secret"}"#,
        None,
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn forged_cookies_are_refused() {
    let (_dir, state) = setup().await;
    let app = app(state.clone());
    let (id, _cookie) = register_login(&app, "gina").await;
    let forged = [
        format!(r#"streamer_session={{"id":"{id}","username":"gina"}}"#),
        format!("streamer_session=%7B%22id%22%3A%22{id}%22%2C%22username%22%3A%22gina%22%7D"),
        format!("streamer_session={}", "a".repeat(64)),
        format!("streamer_session={id}"),
        "streamer_session=".to_string(),
    ];
    for c in &forged {
        let r = get(&app, "/api/auth/me", Some(c)).await;
        assert_eq!(r.status, 401, "{c}");
        assert!(!r.text.contains(&id), "{c}: leaked {}", r.text);
        let r = get(&app, "/api/stream/sessions", Some(c)).await;
        assert_eq!(r.status, 401);
        let r = post(
            &app,
            "/api/stream/control",
            r#"{"action":"start"}"#,
            Some(c),
        )
        .await;
        assert_eq!(r.status, 401);
    }
}

#[tokio::test]
async fn sessions_survive_a_restart_and_expired_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &[]);
    let state = gateway::build_state(&cfg).await.unwrap();
    let a = app(state.clone());
    let (_id, cookie) = register_login(&a, "hank").await;
    drop(a);
    drop(state); // releases the data directory's lock

    // Restart: the login still works.
    let state = gateway::build_state(&cfg).await.unwrap();
    let a = app(state.clone());
    assert_eq!(get(&a, "/api/auth/me", Some(&cookie)).await.status, 200);
    drop(a);
    drop(state);

    // Rewrite the stored session with an expiry in the past, restart: refused.
    let path = cfg.data_dir.join("sessions.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for s in v["sessions"].as_array_mut().unwrap() {
        s["expiresAt"] = Value::from(1000u64);
    }
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    let state = gateway::build_state(&cfg).await.unwrap();
    let a = app(state.clone());
    assert_eq!(get(&a, "/api/auth/me", Some(&cookie)).await.status, 401);
}

#[tokio::test]
async fn a_second_gateway_cannot_open_the_same_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &[]);
    let _state = gateway::build_state(&cfg).await.unwrap();
    let err = gateway::build_state(&cfg)
        .await
        .err()
        .expect("second open refused");
    assert!(err.to_string().contains("another gateway"), "{err}");
}

#[tokio::test]
async fn secure_cookies_flag_marks_the_cookie_secure() {
    let dir = tempfile::tempdir().unwrap();
    let state = gateway::build_state(&config(dir.path(), &["--secure-cookies"]))
        .await
        .unwrap();
    let a = app(state);
    post(
        &a,
        "/api/auth/register",
        r#"{"username":"ivan","password":"secret"}"#,
        None,
    )
    .await;
    let r = post(
        &a,
        "/api/auth/login",
        r#"{"username":"ivan","password":"secret"}"#,
        None,
    )
    .await;
    assert!(r.header("set-cookie").unwrap().contains("; Secure"));
}

#[tokio::test]
async fn stream_control_archives_and_never_deletes() {
    let (_dir, state) = setup().await;
    let app = app(state.clone());
    let (id, cookie) = register_login(&app, "jane").await;
    let c = Some(cookie.as_str());

    // Messages before any stream stay in the active log…
    assert!(state
        .store
        .persist_batch(&[msg(&id, "early")])
        .failed
        .is_none());
    let r = post(&app, "/api/stream/control", r#"{"action":"start"}"#, c).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], "started");
    let first = r.json["session"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.json["session"]["active"], true);
    assert_eq!(
        texts(&get(&app, "/api/messages", c).await),
        ["early"],
        "start deletes nothing"
    );

    assert!(state
        .store
        .persist_batch(&[msg(&id, "one"), msg(&id, "two")])
        .failed
        .is_none());
    let r = get(&app, "/api/auth/me", c).await;
    assert_eq!(r.json["activeSession"]["messageCount"], 3);

    // Start while active: the active session is archived first.
    let r = post(&app, "/api/stream/control", r#"{"action":"start"}"#, c).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["ended"]["id"], first.as_str());
    assert_eq!(r.json["ended"]["messageCount"], 3);
    let second = r.json["session"]["id"].as_str().unwrap().to_string();

    assert!(state
        .store
        .persist_batch(&[msg(&id, "three")])
        .failed
        .is_none());
    let r = post(&app, "/api/stream/control", r#"{"action":"end"}"#, c).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["status"], "ended");
    assert_eq!(r.json["session"]["messageCount"], 1);
    assert!(r.json["session"]["endedAt"].is_u64());

    let r = post(&app, "/api/stream/control", r#"{"action":"end"}"#, c).await;
    assert_eq!(r.status, 400);
    assert!(r.error().contains("no active stream"));
    let r = post(&app, "/api/stream/control", r#"{"action":"pause"}"#, c).await;
    assert_eq!(r.status, 400);
    assert!(r.error().contains("\"start\" or \"end\""));
    let r = post(&app, "/api/stream/control", r#"{"action":"start"}"#, None).await;
    assert_eq!(r.status, 401);

    // Sessions, newest first, with their counts.
    let r = get(&app, "/api/stream/sessions", c).await;
    assert_eq!(r.status, 200);
    let list = r.json["sessions"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], second.as_str());
    assert_eq!(list[0]["messageCount"], 1);
    assert_eq!(list[1]["id"], first.as_str());
    assert_eq!(list[1]["messageCount"], 3);
    assert!(!r.text.contains("archive-"), "file names stay server-side");
    assert_eq!(get(&app, "/api/stream/sessions", None).await.status, 401);

    // Transcripts.
    let r = get(&app, &format!("/api/messages?session={first}"), c).await;
    assert_eq!(texts(&r), ["early", "one", "two"]);
    let r = get(&app, &format!("/api/messages?session={second}"), c).await;
    assert_eq!(texts(&r), ["three"]);
    assert!(texts(&get(&app, "/api/messages", c).await).is_empty());
    let m = &r.json["messages"][0];
    for key in [
        "id",
        "streamerId",
        "user",
        "text",
        "platform",
        "timestamp",
        "isVip",
        "isSub",
        "isMod",
        "color",
    ] {
        assert!(!m[key].is_null(), "{key} missing in {m}");
    }
}

#[tokio::test]
async fn messages_limit_since_and_scoping() {
    let (_dir, state) = setup().await;
    let app = app(state.clone());
    let (id, cookie) = register_login(&app, "kate").await;
    let (other_id, other_cookie) = register_login(&app, "liam").await;
    let c = Some(cookie.as_str());

    let batch: Vec<_> = (0..600).map(|i| msg(&id, &format!("m{i}"))).collect();
    assert!(state.store.persist_batch(&batch).failed.is_none());
    assert!(state
        .store
        .persist_batch(&[msg(&other_id, "liam's")])
        .failed
        .is_none());

    let all = texts(&get(&app, "/api/messages", c).await);
    assert_eq!(all.len(), 500, "newest 500 by default");
    assert_eq!(all[0], "m100");
    assert_eq!(all[499], "m599");
    let r = get(&app, "/api/messages?limit=3", c).await;
    assert_eq!(texts(&r), ["m597", "m598", "m599"]);
    let since = batch[595].id;
    let r = get(&app, &format!("/api/messages?since={since}"), c).await;
    assert_eq!(texts(&r), ["m596", "m597", "m598", "m599"]);
    let r = get(&app, &format!("/api/messages?since={since}&limit=2"), c).await;
    assert_eq!(texts(&r), ["m596", "m597"]);
    let r = get(&app, "/api/messages?limit=999999", c).await;
    assert_eq!(texts(&r).len(), 600, "limit is capped, not refused");
    for bad in ["limit=0", "limit=-1", "limit=lots", "since=nope"] {
        let r = get(&app, &format!("/api/messages?{bad}"), c).await;
        assert_eq!(r.status, 400, "{bad}");
    }
    assert!(!get(&app, "/api/messages", c).await.text.contains("liam's"));

    // Liam's archived session is not Kate's.
    let r = post(
        &app,
        "/api/stream/control",
        r#"{"action":"start"}"#,
        Some(&other_cookie),
    )
    .await;
    let liam_session = r.json["session"]["id"].as_str().unwrap().to_string();
    post(
        &app,
        "/api/stream/control",
        r#"{"action":"end"}"#,
        Some(&other_cookie),
    )
    .await;
    let r = get(
        &app,
        &format!("/api/messages?session={liam_session}"),
        Some(&other_cookie),
    )
    .await;
    assert_eq!(texts(&r), ["liam's"]);
    let r = get(&app, &format!("/api/messages?session={liam_session}"), c).await;
    assert_eq!(r.status, 404);
    assert!(!r.text.contains("liam's"));
    let r = get(
        &app,
        &format!("/api/messages?session={}", Uuid::new_v4()),
        c,
    )
    .await;
    assert_eq!(r.status, 404);

    // Path-like values die at parsing.
    for evil in [
        "session=../users.json",
        "session=%2e%2e%2fusers.json",
        "session=%2e%2e/",
        "session=..%2F..%2Fetc%2Fpasswd",
        "since=../users.json",
    ] {
        let r = get(&app, &format!("/api/messages?{evil}"), c).await;
        assert_eq!(r.status, 400, "{evil}");
        assert!(
            !r.text.contains("passwordHash") && !r.text.contains("$2"),
            "{evil}: {}",
            r.text
        );
    }
    for path in [
        "/%2e%2e/users.json",
        "/api/../users.json",
        "/assets/..%2fusers.json",
        "/users.json",
        "/data/users.json",
    ] {
        let r = get(&app, path, c).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(!r.text.contains("passwordHash"), "{path}");
    }
    assert_eq!(get(&app, "/api/messages", None).await.status, 401);
}

#[tokio::test]
async fn health_and_readiness() {
    let (_dir, state) = setup().await;
    let app = app(state.clone());
    let r = get(&app, "/healthz", None).await;
    assert_eq!(r.status, 200);
    let r = get(&app, "/readyz", None).await;
    assert_eq!(r.json["dataDir"], true);
    assert_eq!(r.json["ingest"]["twitch"], false);
    assert_eq!(r.json["ready"], r.status == 200, "{}", r.text);
}

#[tokio::test]
async fn fifty_concurrent_registrations_give_fifty_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &[]);
    let state = gateway::build_state(&cfg).await.unwrap();
    let a = app(state.clone());
    let mut tasks = Vec::new();
    for i in 0..50 {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            post(
                &a,
                "/api/auth/register",
                &format!(r#"{{"username":"user{i}","password":"secret"}}"#),
                None,
            )
            .await
            .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    assert_eq!(state.store.users().len(), 50);
    drop(a);
    drop(state);
    let state = gateway::build_state(&cfg).await.unwrap();
    assert_eq!(state.store.users().len(), 50, "all 50 are in users.json");
}
