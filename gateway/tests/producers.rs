//! The producer routes against a stand-in ingest socket (the real ingest is exercised by the
//! workspace's `tests/` crate): the verdict mapping, and that `streamerId` is always the caller's.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

/// Answers each request line according to its `text`; records what it received.
fn fake_ingest(path: std::path::PathBuf) -> Arc<Mutex<Vec<Value>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = UnixListener::bind(&path).unwrap();
    let rec = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let rec = rec.clone();
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let v: Value = serde_json::from_str(&line).unwrap();
                    let reply = match v["text"].as_str().unwrap() {
                        "invalid" => r#"{"ok":false,"code":"invalid","error":"the text is empty after trimming."}"#.to_string(),
                        "big" => r#"{"ok":false,"code":"too_large","error":"the message is over 4 KiB."}"#.to_string(),
                        "full" => r#"{"ok":false,"code":"queue_full","error":"the ring is full."}"#.to_string(),
                        "down" => r#"{"ok":false,"code":"unavailable","error":"the segment is not mapped."}"#.to_string(),
                        "garbage" => "what?".to_string(),
                        _ => format!(r#"{{"ok":true,"id":"{}"}}"#, uuid::Uuid::new_v4()),
                    };
                    rec.lock().unwrap().push(v);
                    w.write_all(format!("{reply}\n").as_bytes()).await.unwrap();
                }
            });
        }
    });
    seen
}

#[tokio::test]
async fn producer_routes_map_the_ingest_verdicts() {
    let (dir, state) = setup().await;
    let app = app(state.clone());
    let seen = fake_ingest(dir.path().join("run").join("ingest-kick.sock"));
    let (id, cookie) = register_login(&app, "maria").await;
    let c = Some(cookie.as_str());

    // Accepted, with the caller's id even when the client names another streamer.
    let r = post(
        &app,
        "/api/producers/kick",
        r##"{"user":"viewer","text":"hello","isVip":true,"color":"#aabbcc","streamerId":"00000000-0000-0000-0000-000000000000"}"##,
        c,
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json["ok"], true);
    assert!(uuid::Uuid::parse_str(r.json["id"].as_str().unwrap()).is_ok());
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0]["streamerId"], id.as_str());
        assert_eq!(seen[0]["user"], "viewer");
        assert_eq!(seen[0]["isVip"], true);
        assert_eq!(seen[0]["isSub"], false);
        assert_eq!(seen[0]["color"], "#aabbcc");
    }

    let cases = [
        ("invalid", 400, "empty after trimming", None),
        ("big", 413, "over 4 KiB", None),
        ("full", 503, "queue is full", Some("1")),
        ("down", 503, "Kick ingest is not running", Some("5")),
        ("garbage", 502, "does not understand", None),
    ];
    for (text, status, needle, retry) in cases {
        let r = post(
            &app,
            "/api/producers/kick",
            &format!(r#"{{"user":"v","text":"{text}"}}"#),
            c,
        )
        .await;
        assert_eq!(r.status, status, "{text}: {}", r.text);
        assert!(r.error().contains(needle), "{text}: {}", r.text);
        assert_eq!(r.header("retry-after"), retry, "{text}");
    }

    // No socket for YouTube: 503 naming that platform.
    let r = post(
        &app,
        "/api/producers/youtube",
        r#"{"user":"v","text":"hi"}"#,
        c,
    )
    .await;
    assert_eq!(r.status, 503);
    assert!(
        r.error().contains("YouTube ingest is not running"),
        "{}",
        r.text
    );
    assert!(r.header("retry-after").is_some());

    // Unknown platform, no session, bad body.
    let r = post(
        &app,
        "/api/producers/myspace",
        r#"{"user":"v","text":"hi"}"#,
        c,
    )
    .await;
    assert_eq!(r.status, 404);
    assert!(
        r.error().contains("use one of twitch, youtube, kick"),
        "{}",
        r.text
    );
    let r = post(
        &app,
        "/api/producers/kick",
        r#"{"user":"v","text":"hi"}"#,
        None,
    )
    .await;
    assert_eq!(r.status, 401);
    let r = post(&app, "/api/producers/kick", r#"{"user":"v"}"#, c).await;
    assert_eq!(r.status, 400);
    let r = post(
        &app,
        "/api/producers/kick",
        r#"{"user":"v","text":"hi","isMod":"yes"}"#,
        c,
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        seen.lock().unwrap().len(),
        6,
        "refused requests never reach the ingest"
    );

    // /readyz reports the socket that answers.
    let r = get(&app, "/readyz", None).await;
    assert_eq!(r.json["ingest"]["kick"], true);
    assert_eq!(r.json["ingest"]["youtube"], false);
}

/// An ingest that answers one request per connection and then closes it, as a restarted ingest
/// leaves the gateway's pooled connections: each reuse must fall back to a fresh connection and
/// never send a message twice.
#[tokio::test]
async fn a_stale_pooled_connection_is_replaced_without_resending() {
    let (dir, state) = setup().await;
    let app = app(state.clone());
    let listener = UnixListener::bind(dir.path().join("run").join("ingest-twitch.sock")).unwrap();
    let seen = Arc::new(Mutex::new(0usize));
    let count = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (r, mut w) = stream.into_split();
            let mut lines = BufReader::new(r).lines();
            if let Ok(Some(_)) = lines.next_line().await {
                *count.lock().unwrap() += 1;
                let reply = format!("{{\"ok\":true,\"id\":\"{}\"}}\n", uuid::Uuid::new_v4());
                w.write_all(reply.as_bytes()).await.unwrap();
            }
            // Dropping both halves closes the connection.
        }
    });
    let (_, cookie) = register_login(&app, "nora").await;
    for i in 0..5 {
        let r = post(
            &app,
            "/api/producers/twitch",
            &format!(r#"{{"user":"v","text":"m{i}"}}"#),
            Some(&cookie),
        )
        .await;
        assert_eq!(r.status, 202, "{i}: {}", r.text);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        *seen.lock().unwrap(),
        5,
        "each message reached the ingest exactly once"
    );
}
