//! Issue 12 across real processes: linked channels (API, persistence, sync with the ingests in
//! any restart order, states pushed to the room) and model v2 + moderation events from the
//! producer socket to the room, the log and the archived transcript.

use std::time::{Duration, Instant};

use crosschat_tests::client::{chat_messages, next_of_type, User};
use crosschat_tests::ingest_socket::socket_request;
use crosschat_tests::stack::Stack;
use serde_json::{json, Value};

/// One request on an ingest socket, its reply.
fn ingest_request(stack: &Stack, platform: &str, line: &Value) -> Value {
    socket_request(&stack.ingest_socket(platform), line)
}

/// Waits until the ingest reports exactly `channels` linked (the gateway's sync reached it).
fn wait_for_ingest_links(stack: &Stack, platform: &str, channels: &[&str]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = ingest_request(stack, platform, &json!({"type": "status"}));
        let got: Vec<&str> = r["channels"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["channel"].as_str())
            .collect();
        if got == channels {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "the {platform} ingest has {got:?}, not {channels:?}\n{}",
            stack.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_link_list_unlink_and_survive_restarts_in_any_order() {
    let mut stack = Stack::start();
    let alice = User::register(&stack.base_url, "alice");
    let bob = User::register(&stack.base_url, "bob");

    for (platform, input, sentence) in [
        ("twitch", "ab", "Twitch login is 3–25"),
        (
            "twitch",
            "https://example.com/x",
            "not a Twitch channel link",
        ),
        ("kick", "a b", "cannot be a Kick channel"),
        ("youtube", "hello world", "not a YouTube live link"),
        ("myspace", "x", "must be one of twitch, youtube, kick"),
        ("twitch", "", "Paste a channel"),
    ] {
        let (s, v) = alice.post(
            "/api/channels",
            json!({"platform": platform, "channel": input}),
        );
        assert_eq!(s, 400, "{platform} {input}: {v}");
        assert!(v["error"].as_str().unwrap().contains(sentence), "{v}");
    }
    let (s, v) = alice.post(
        "/api/channels",
        json!({"platform": "twitch", "channel": "kick-ids", "chatroomId": 1, "channelId": 2}),
    );
    assert_eq!(s, 400, "{v}");

    let (mut ws, joined) = alice.join(&alice.id, None).await;
    assert_eq!(joined["type"], "joined");
    let (s, v) = alice.post(
        "/api/channels",
        json!({"platform": "twitch", "channel": "https://www.twitch.tv/SomeChannel"}),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["channel"]["channel"], "somechannel");
    assert_eq!(v["channel"]["platform"], "Twitch");
    let (s, _) = alice.post(
        "/api/channels",
        json!({"platform": "twitch", "channel": "#somechannel"}),
    );
    assert_eq!(s, 409);
    let (s, v) = alice.post("/api/channels", json!({"platform": "kick", "channel": "https://kick.com/someone", "chatroomId": 123, "channelId": 456}));
    assert_eq!(s, 201, "{v}");
    let (s, v) = bob.post(
        "/api/channels",
        json!({"platform": "twitch", "channel": "somechannel"}),
    );
    assert_eq!(s, 201, "{v}");

    // The links reach the ingests, one entry per channel with every streamer.
    let r = wait_for_ingest_links(&stack, "twitch", &["somechannel"]);
    assert!(r["ok"] == true, "{r}");
    // The connector (pointed at a closed port) reports a state, which reaches the room.
    let status = next_of_type(&mut ws, "channel:status", Duration::from_secs(10))
        .await
        .expect("a channel:status frame");
    assert!(
        status["channel"].is_string() && status["detail"].is_string(),
        "{status}"
    );
    let (s, list) = alice.get("/api/channels");
    assert_eq!(s, 200);
    let chans = list["channels"].as_array().unwrap();
    assert_eq!(chans.len(), 2, "{list}");
    for c in chans {
        for key in [
            "platform",
            "channel",
            "state",
            "detail",
            "since",
            "lastMessageAt",
        ] {
            assert!(c.get(key).is_some(), "{key} missing in {c}");
        }
    }

    // Another user's link is a 404; unlinking one's own is a 200, then a 404.
    let (s, _) = bob.delete("/api/channels/kick/someone");
    assert_eq!(s, 404);

    // Gateway restart: the links are on disk and are sent again.
    stack.stop_gateway();
    stack.start_gateway();
    wait_for_ingest_links(&stack, "kick", &["someone"]);
    // Ingest restart while the gateway runs: the new ingest gets the set.
    stack.kill_ingest("twitch");
    stack.start_ingest("twitch");
    wait_for_ingest_links(&stack, "twitch", &["somechannel"]);
    // Both down, the ingest back first, then the gateway.
    stack.stop_gateway();
    stack.kill_ingest("kick");
    stack.start_ingest("kick");
    stack.start_gateway();
    let r = wait_for_ingest_links(&stack, "kick", &["someone"]);
    assert!(r["ok"] == true);

    // An ingest that is gone: its channels say so, in the API and in /metrics.
    stack.kill_ingest("kick");
    let deadline = Instant::now() + Duration::from_secs(10);
    let kick = loop {
        let (_, list) = alice.get("/api/channels");
        let kick = list["channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["platform"] == "Kick")
            .cloned()
            .unwrap();
        if kick["state"] == "error" || Instant::now() > deadline {
            break kick;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(kick["state"], "error", "{kick}");
    assert!(
        kick["detail"]
            .as_str()
            .unwrap()
            .starts_with("this platform's connector is not running"),
        "{kick}"
    );
    let metrics = crosschat_tests::client::metrics_text(&stack.base_url);
    assert!(
        metrics.contains("crosschat_channels{platform=\"kick\",state=\"error\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("crosschat_channels{platform=\"youtube\",state=\"live\"} 0"),
        "every state of every platform is listed"
    );
    // The connectors' counters, as the running ingests reported them (Twitch's is pointed at a
    // closed port, so it has reconnected); no quota gauges where there is no quota.
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("crosschat_connector_reconnects_total{platform=\"twitch\"}")),
        "{metrics}"
    );
    assert!(!metrics.contains("crosschat_connector_quota_left{platform=\"twitch\"}"));
    stack.start_ingest("kick");
    wait_for_ingest_links(&stack, "kick", &["someone"]);

    // The path may carry the channel as it was typed: it is normalised like a link.
    let (s, v) = alice.delete("/api/channels/twitch/SomeChannel");
    assert_eq!(s, 200, "{v}");
    let (s, _) = alice.delete("/api/channels/twitch/somechannel");
    assert_eq!(s, 404);
    // Bob still links it: it stays at the ingest.
    wait_for_ingest_links(&stack, "twitch", &["somechannel"]);
    let (s, _) = bob.delete("/api/channels/twitch/somechannel");
    assert_eq!(s, 200);
    wait_for_ingest_links(&stack, "twitch", &[]);
    let (_, list) = alice.get("/api/channels");
    assert_eq!(list["channels"].as_array().unwrap().len(), 1, "{list}");

    // A YouTube handle travels percent-encoded in the DELETE path.
    let (s, v) = alice.post(
        "/api/channels",
        json!({"platform": "youtube", "channel": "https://www.youtube.com/@SomeCreator"}),
    );
    assert_eq!(
        (s, v["channel"]["channel"].as_str()),
        (201, Some("@somecreator")),
        "{v}"
    );
    let (s, v) = alice.delete("/api/channels/youtube/%40somecreator");
    assert_eq!(s, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_messages_and_moderation_reach_the_room_the_log_and_the_transcript() {
    let stack = Stack::start();
    let u = User::register(&stack.base_url, "carol");
    let (s, _) = u.post("/api/stream/control", json!({"action": "start"}));
    assert_eq!(s, 200);
    let (mut ws, _) = u.join(&u.id, None).await;

    // A delete that arrives before its message (a reconnect's backfill order).
    let r = ingest_request(
        &stack,
        "twitch",
        &json!({"type":"delete","streamerId":u.id,"channel":"chan","platformMessageId":"late"}),
    );
    assert_eq!(r["ok"], true, "{r}");
    let del = next_of_type(&mut ws, "chat:delete", Duration::from_secs(10))
        .await
        .expect("chat:delete");
    assert_eq!(del["platform"], "Twitch");

    let full = json!({
        "streamerId": u.id, "user": "ann", "text": "👉 Kappa hi", "channel": "chan",
        "platformMessageId": "m-1", "userId": "42", "kind": "paid", "isOwner": true,
        "badges": ["broadcaster", "subscriber"],
        "emotes": [{"id": "25", "name": "Kappa", "start": 2, "end": 7}],
        "replyTo": {"platformMessageId": "m-0", "user": "bob", "text": "first"},
        "amount": {"value": "100", "currency": "bits", "display": "100 bits"},
        "systemText": "ann cheered 100 bits"
    });
    let first = ingest_request(&stack, "twitch", &full);
    let again = ingest_request(&stack, "twitch", &full);
    assert_eq!(
        first["id"], again["id"],
        "the same platform id is the same message"
    );
    for (pmid, user_id, text) in [
        ("late", "7", "deleted before it came"),
        ("b1", "9", "to be banned"),
        ("b2", "9", "also banned"),
    ] {
        let r = ingest_request(
            &stack,
            "twitch",
            &json!({"streamerId": u.id, "user": "x", "text": text, "channel": "chan", "platformMessageId": pmid, "userId": user_id}),
        );
        assert_eq!(r["ok"], true, "{r}");
    }
    let got = chat_messages(&mut ws, 4, Duration::from_secs(10)).await;
    let m = &got[0];
    for key in [
        "channel",
        "platformMessageId",
        "userId",
        "kind",
        "isOwner",
        "badges",
        "emotes",
        "replyTo",
        "amount",
        "systemText",
    ] {
        assert_eq!(m[key], full[key], "{key} in {m}");
    }
    assert_eq!(
        got.iter()
            .filter(|m| m["platformMessageId"] == "m-1")
            .count(),
        1,
        "once in the room"
    );

    // A message nobody removes (the control), and one in the Kick channel the clear empties.
    for (platform, channel, user_id, text) in [
        ("twitch", "chan", "10", "nothing"),
        ("kick", "other", "11", "wiped by the clear"),
    ] {
        let r = ingest_request(
            &stack,
            platform,
            &json!({"streamerId": u.id, "user": "y", "text": text, "channel": channel, "platformMessageId": format!("p-{user_id}"), "userId": user_id}),
        );
        assert_eq!(r["ok"], true, "{r}");
    }
    assert_eq!(
        chat_messages(&mut ws, 2, Duration::from_secs(10))
            .await
            .len(),
        2
    );

    std::thread::sleep(Duration::from_millis(20));
    let r = ingest_request(
        &stack,
        "twitch",
        &json!({"type":"clear_user","streamerId":u.id,"channel":"chan","userId":"9","user":"x","until": 9_999_999_999_999u64}),
    );
    assert_eq!(r["ok"], true, "{r}");
    let cu = next_of_type(&mut ws, "chat:clear_user", Duration::from_secs(10))
        .await
        .expect("chat:clear_user");
    assert_eq!(
        (cu["userId"].as_str(), cu["user"].as_str()),
        (Some("9"), Some("x"))
    );
    let r = ingest_request(
        &stack,
        "twitch",
        &json!({"type":"delete","streamerId":u.id,"channel":"chan","platformMessageId":"m-1"}),
    );
    assert_eq!(r["ok"], true);
    let d = next_of_type(&mut ws, "chat:delete", Duration::from_secs(10))
        .await
        .expect("chat:delete");
    assert_eq!(d["ids"][0], first["id"]);
    let r = ingest_request(
        &stack,
        "kick",
        &json!({"type":"clear","streamerId":u.id,"channel":"other"}),
    );
    assert_eq!(r["ok"], true);
    next_of_type(&mut ws, "chat:clear", Duration::from_secs(10))
        .await
        .expect("chat:clear");

    // The log holds one line per message plus the tombstones; the transcript marks them.
    let check = |msgs: &Value| {
        let msgs = msgs.as_array().unwrap();
        assert_eq!(msgs.len(), 6, "messages only, once each: {msgs:?}");
        for m in msgs {
            let want_deleted = m["text"] != "nothing";
            assert_eq!(m["deleted"] == true, want_deleted, "{m}");
            assert_eq!(m["deletedAt"].is_u64(), want_deleted, "{m}");
        }
    };
    let (s, v) = u.get("/api/messages");
    assert_eq!(s, 200);
    check(&v["messages"]);
    let (_, ended) = u.post("/api/stream/control", json!({"action": "end"}));
    let session = ended["session"]["id"].as_str().unwrap().to_owned();
    let (s, v) = u.get(&format!("/api/messages?session={session}"));
    assert_eq!(s, 200);
    check(&v["messages"]);
    let log: String = std::fs::read_dir(stack.data_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("archive-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.iter().filter(|l| l.get("type").is_none()).count(),
        6,
        "{log}"
    );
    let tombstones: Vec<&str> = lines.iter().filter_map(|l| l["type"].as_str()).collect();
    assert_eq!(
        tombstones,
        ["delete", "clear_user", "delete", "clear"],
        "{log}"
    );
}
