//! Issue 16 over HTTP and WebSocket, across real processes: overlay links are read-only,
//! revocable capabilities for one streamer's room, and filters are validated, persisted and
//! pushed to dashboards and overlays. (The overlay page itself is tested in headless Chromium in
//! `overlay_browser.rs`.)

use std::time::{Duration, Instant};

use crosschat_tests::client::{close_of, next_json, next_of_type, overlay_join, User, Ws};
use crosschat_tests::stack::Stack;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

/// A GET with an arbitrary header and no session cookie: its status.
fn status_with(base: &str, path: &str, header: (&str, &str)) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    agent
        .get(&format!("{base}{path}"))
        .header(header.0, header.1)
        .call()
        .unwrap()
        .status()
        .as_u16()
}

/// Sends only the head of a request announcing a `length`-byte JSON body; the status and body of
/// the answer (a gateway refuses an oversize body before reading it).
fn announce_body(
    base: &str,
    cookie: &str,
    method: &str,
    path: &str,
    length: usize,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        tcp,
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n",
        base.trim_start_matches("http://")
    )
    .unwrap();
    let mut answer = String::new();
    let _ = tcp.read_to_string(&mut answer);
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

/// Reads the answer to an overlay's join: `joined`, then the filters.
async fn joined(ws: &mut Ws) -> (Value, Value) {
    let j = next_json(ws, WAIT).await.expect("an answer to join");
    assert_eq!(j["type"], "joined", "{j}");
    let f = next_json(ws, WAIT).await.expect("the filters after joined");
    assert_eq!(f["type"], "filters", "{f}");
    (j, f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlay_key_opens_one_room_read_only_until_revoked() {
    let stack = Stack::start();
    let base = stack.base_url.clone();
    let alice = User::register(&base, "alice");
    let bob = User::register(&base, "bob");

    // An overlay that never joins is closed after 10 s; it runs alongside the rest.
    let silent = {
        let base = base.clone();
        tokio::spawn(async move {
            let mut ws = crosschat_tests::client::overlay_socket(&base).await;
            let t = Instant::now();
            (
                close_of(&mut ws, Duration::from_secs(20)).await,
                t.elapsed(),
            )
        })
    };

    // Making a link: the key is shown once, 256 bits of hex, and the URL carries it in the fragment.
    let (s, bad) = alice.post("/api/overlays", json!({ "label": "x".repeat(65) }));
    assert_eq!(s, 400, "{bad}");
    assert!(bad["error"].as_str().unwrap().contains("64 characters"));
    let (s, made) = alice.post("/api/overlays", json!({ "label": " OBS main " }));
    assert_eq!(s, 201, "{made}");
    let key = made["key"].as_str().unwrap().to_owned();
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 64);
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(made["url"], format!("/overlay#key={key}"));
    assert_eq!(made["label"], "OBS main");
    let (s, unnamed) = alice.post("/api/overlays", json!({}));
    assert_eq!((s, unnamed["label"].as_str()), (201, Some("Overlay")));

    // Listing never shows the key.
    let (s, list) = alice.get("/api/overlays");
    assert_eq!(s, 200);
    assert!(!list.to_string().contains(&key));
    let mine = &list["overlays"].as_array().unwrap();
    assert_eq!(mine.len(), 2);
    let listed = mine.iter().find(|o| o["id"] == id.as_str()).unwrap();
    assert_eq!(listed["revoked"], false);
    assert!(listed["lastUsedAt"].is_null());
    assert_eq!(bob.get("/api/overlays").1["overlays"], json!([]));

    // The key is no session: every other route answers 401 to it, however it is sent.
    for path in [
        "/api/auth/me",
        "/api/overlays",
        "/api/filters",
        "/api/channels",
        "/api/messages",
        "/api/stream/sessions",
    ] {
        for header in [
            ("Cookie", format!("streamer_session={key}")),
            ("Authorization", format!("Bearer {key}")),
        ] {
            assert_eq!(
                status_with(&base, path, (header.0, &header.1)),
                401,
                "{path} with {}",
                header.0
            );
        }
    }
    // Nor does it open the dashboard's socket.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("{}/api/socket", base.replace("http://", "ws://")),
    )
    .unwrap();
    req.headers_mut()
        .insert("Cookie", format!("streamer_session={key}").parse().unwrap());
    let refused = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert!(refused.to_string().contains("401"), "{refused}");

    // With the key, the overlay socket joins alice's room — with no cookie at all.
    let mut overlay = overlay_join(&base, &key, None, None).await;
    let (j, filters) = joined(&mut overlay).await;
    assert_eq!(j["streamerId"], alice.id.as_str());
    assert!(filters["filters"]["bots"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b == "Nightbot"));
    // Naming another room with it gets an error and no room.
    let mut other = overlay_join(&base, &key, None, Some(&bob.id)).await;
    let e = next_json(&mut other, WAIT).await.unwrap();
    assert_eq!(e["type"], "error");
    assert!(e["error"]
        .as_str()
        .unwrap()
        .contains("only its own streamer"));

    // Alice's chat reaches the overlay; bob's does not.
    let (mut dashboard, first) = alice.join(&alice.id, None).await;
    assert_eq!(first["type"], "joined");
    stack.produce_via_ingest("twitch", &bob.id, "viewer", "for bob");
    let msg_id = stack.produce_via_ingest("kick", &alice.id, "viewer", "for alice");
    let m = next_of_type(&mut overlay, "chat:message", WAIT)
        .await
        .unwrap();
    assert_eq!(m["message"]["text"], "for alice");
    assert_eq!(m["message"]["id"], msg_id.as_str());
    let m = next_of_type(&mut other, "chat:message", Duration::from_millis(500)).await;
    assert!(m.is_none(), "the refused join got chat: {m:?}");

    // "Hide on overlay" goes to the room: the overlay drops the line, dashboards may mark it.
    let (s, bad) = alice.post("/api/overlays/hide", json!({ "id": "nope" }));
    assert_eq!(s, 400, "{bad}");
    let (s, _) = alice.post("/api/overlays/hide", json!({ "id": msg_id }));
    assert_eq!(s, 204);
    let h = next_of_type(&mut overlay, "overlay:hide", WAIT)
        .await
        .unwrap();
    assert_eq!(h["id"], msg_id.as_str());
    let h = next_of_type(&mut dashboard, "overlay:hide", WAIT)
        .await
        .unwrap();
    assert_eq!(h["id"], msg_id.as_str());

    // A key that opens nothing closes the socket with 4001 and a sentence, and is counted.
    for wrong in ["0".repeat(64), "not a key".to_owned()] {
        let mut ws = overlay_join(&base, &wrong, None, None).await;
        let (code, reason) = close_of(&mut ws, WAIT).await.expect("a close frame");
        assert_eq!(code, 4001);
        assert!(reason.contains("not valid"), "{reason}");
    }

    // Only alice can revoke it; then the open overlay closes at once with the sentence.
    assert_eq!(bob.delete(&format!("/api/overlays/{id}")).0, 404);
    assert_eq!(alice.delete("/api/overlays/not-a-uuid").0, 404);
    let t = Instant::now();
    assert_eq!(alice.delete(&format!("/api/overlays/{id}")).0, 204);
    let (code, reason) = close_of(&mut overlay, WAIT).await.expect("a close frame");
    assert_eq!(
        (code, reason.as_str()),
        (4003, "This overlay link was revoked")
    );
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(alice.delete(&format!("/api/overlays/{id}")).0, 204);
    let mut again = overlay_join(&base, &key, None, None).await;
    let (code, _) = close_of(&mut again, WAIT).await.expect("a close frame");
    assert_eq!(code, 4003);
    let (_, list) = alice.get("/api/overlays");
    let listed = list["overlays"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["revoked"], true);
    assert!(listed["lastUsedAt"].as_u64().is_some(), "{listed}");

    let (closed, after) = silent.await.unwrap();
    let (code, reason) = closed.expect("the silent overlay was closed");
    assert_eq!(code, 4001);
    assert!(reason.contains("join"), "{reason}");
    assert!(after >= Duration::from_secs(9), "{after:?}");

    // The key is nowhere: not in the logs, the metrics or the data directory.
    let metrics = crosschat_tests::client::metrics_text(&base);
    assert!(
        metrics.contains("crosschat_overlay_key_refused_total 2"),
        "two wrong keys counted"
    );
    assert!(!metrics.contains(&key));
    for (path, text) in stack.log_files() {
        assert!(!text.contains(&key), "the key is in {}", path.display());
    }
    for e in std::fs::read_dir(stack.data_dir()).unwrap().flatten() {
        if e.path().is_file() {
            let bytes = std::fs::read(e.path()).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(&key),
                "the key is in {}",
                e.path().display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_are_validated_persisted_and_pushed_to_the_room() {
    let mut stack = Stack::start();
    let base = stack.base_url.clone();
    let alice = User::register(&base, "alice");
    let bob = User::register(&base, "bob");

    let (s, defaults) = alice.get("/api/filters");
    assert_eq!(s, 200);
    assert_eq!(defaults["hideCommands"], true);
    assert_eq!(defaults["blockedUsers"], json!([]));
    assert!(defaults["bots"].as_array().unwrap().len() >= 7);

    // Refusals name the problem.
    let base_body =
        json!({"blockedUsers": [], "bots": [], "hideCommands": false, "highlightWords": []});
    let with = |field: &str, v: Value| {
        let mut b = base_body.clone();
        b[field] = v;
        b
    };
    for (body, sentence) in [
        (with("blockedUsers", json!(["  "])), "empty entry"),
        (with("bots", json!(["x".repeat(65)])), "64 characters"),
        (with("highlightWords", json!(["a\u{1}"])), "control"),
        (
            with(
                "highlightWords",
                json!((0..201).map(|i| format!("w{i}")).collect::<Vec<_>>()),
            ),
            "at most 200",
        ),
        (json!({"blockedUsers": []}), "missing field"),
        (with("extra", json!(1)), "unknown field"),
    ] {
        let (s, v) = alice.put("/api/filters", body);
        assert_eq!(s, 400, "{v}");
        assert!(v["error"].as_str().unwrap().contains(sentence), "{v}");
    }
    // A body over the limit is a 413 with a sentence, answered from the headers alone.
    let (status, body) = announce_body(&base, &alice.cookie, "PUT", "/api/filters", 600_000);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("512 KiB"), "{body}");

    // A change reaches alice's dashboard and overlay at once, normalised; bob sees nothing.
    let (_, made) = alice.post("/api/overlays", json!({ "label": "OBS" }));
    let mut overlay = overlay_join(&base, made["key"].as_str().unwrap(), None, None).await;
    joined(&mut overlay).await;
    let (mut dash, _) = alice.join(&alice.id, None).await;
    let first = next_of_type(&mut dash, "filters", WAIT).await.unwrap();
    assert_eq!(first["filters"], defaults);
    let (mut bob_dash, _) = bob.join(&bob.id, None).await;
    next_of_type(&mut bob_dash, "filters", WAIT).await.unwrap();
    let (s, saved) = alice.put(
        "/api/filters",
        json!({"blockedUsers": [" Troll ", "TROLL", "spammer"], "bots": ["Nightbot"],
               "hideCommands": false, "highlightWords": ["giveaway"]}),
    );
    assert_eq!(s, 200, "{saved}");
    assert_eq!(saved["blockedUsers"], json!(["Troll", "spammer"]));
    for ws in [&mut dash, &mut overlay] {
        let f = next_of_type(ws, "filters", WAIT).await.unwrap();
        assert_eq!(f["filters"], saved);
    }
    assert!(
        next_of_type(&mut bob_dash, "filters", Duration::from_millis(500))
            .await
            .is_none()
    );
    assert_eq!(bob.get("/api/filters").1, defaults);

    // They survive a restart of the gateway.
    stack.stop_gateway();
    stack.start_gateway();
    assert_eq!(alice.get("/api/filters").1, saved);
}
