//! The pump and WebSocket rooms across real processes: the gateway binary, three ingest binaries,
//! a WebSocket client and HTTP on loopback (issue 6's end-to-end list).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crosschat_tests::client::{assert_quiet, chat_messages, next_json, User};
use crosschat_tests::ingest_socket::produce_to_socket;
use crosschat_tests::stack::{Stack, PLATFORMS};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_producers_each_message_once_in_order_then_archived() {
    let stack = Stack::start();
    let u = User::register(&stack.base_url, "alice");
    let (s, v) = u.post("/api/stream/control", json!({ "action": "start" }));
    assert_eq!((s, v["status"].as_str()), (200, Some("started")));
    let (mut ws, joined) = u.join(&u.id, None).await;
    assert_eq!(joined["type"], "joined");

    // 10 rounds, one message per platform per round, with every field set.
    let mut sent: HashMap<String, (String, usize, Value)> = HashMap::new();
    for round in 0..10 {
        for (p, platform) in PLATFORMS.iter().enumerate() {
            let body = json!({
                "user": format!("viewer_{platform}"), "text": format!("  {platform} #{round}  "),
                "isVip": p == 0, "isSub": p == 1, "isMod": p == 2, "color": "#A1B",
                "streamerId": "00000000-0000-4000-8000-000000000000"
            });
            let (status, v) = u.post(&format!("/api/producers/{platform}"), body.clone());
            assert_eq!(status, 202, "{v}");
            sent.insert(
                v["id"].as_str().unwrap().into(),
                (platform.to_string(), round, body),
            );
        }
    }
    let got = chat_messages(&mut ws, 30, Duration::from_secs(20)).await;
    assert_quiet(&mut ws, Duration::from_millis(300)).await;
    let mut next_round: HashMap<String, usize> = HashMap::new();
    let mut ids = HashSet::new();
    for m in &got {
        let id = m["id"].as_str().unwrap();
        assert!(ids.insert(id.to_string()), "{id} delivered twice");
        let (platform, round, body) = &sent[id];
        let display = match platform.as_str() {
            "twitch" => "Twitch",
            "youtube" => "YouTube",
            _ => "Kick",
        };
        assert_eq!(m["platform"], display);
        assert_eq!(
            m["streamerId"],
            u.id.as_str(),
            "the caller's id, not the body's"
        );
        assert_eq!(m["user"], body["user"]);
        assert_eq!(m["text"], format!("{platform} #{round}"), "trimmed");
        assert_eq!(
            (&m["isVip"], &m["isSub"], &m["isMod"]),
            (&body["isVip"], &body["isSub"], &body["isMod"])
        );
        assert_eq!(m["color"], "#aa11bb", "normalised colour");
        assert!(m["timestamp"].as_u64().unwrap() > 1_600_000_000_000);
        let expected = next_round.entry(platform.clone()).or_insert(0);
        assert_eq!(*round, *expected, "{platform}: per-producer order");
        *expected += 1;
    }
    // The active log has them all.
    let (_, log) = u.get("/api/messages");
    let logged: HashSet<&str> = log["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(logged.len(), 30);
    assert!(ids.iter().all(|id| logged.contains(id.as_str())));

    let (s, v) = u.post("/api/stream/control", json!({ "action": "end" }));
    assert_eq!(s, 200);
    assert_eq!(v["session"]["messageCount"], 30);
    let ended = next_json(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (&ended["type"], &ended["status"]),
        (&json!("stream"), &json!("ended"))
    );
    let (_, sessions) = u.get("/api/stream/sessions");
    let session = &sessions["sessions"][0];
    assert_eq!(session["messageCount"], 30);
    let (s, transcript) = u.get(&format!(
        "/api/messages?session={}",
        session["id"].as_str().unwrap()
    ));
    assert_eq!(s, 200);
    let archived: Vec<&str> = transcript["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    let delivered: Vec<&str> = got.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(
        archived, delivered,
        "the transcript is the delivered sequence"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_streamers_see_only_their_own_room() {
    let stack = Stack::start();
    let a = User::register(&stack.base_url, "anna");
    let b = User::register(&stack.base_url, "boris");
    let (_, refused) = a.join(&b.id, None).await;
    assert_eq!(
        refused["type"], "error",
        "joining another streamer's room is refused: {refused}"
    );
    let (mut wa, ja) = a.join(&a.id, None).await;
    let (mut wb, jb) = b.join(&b.id, None).await;
    assert_eq!(
        (ja["type"].as_str(), jb["type"].as_str()),
        (Some("joined"), Some("joined"))
    );
    for i in 0..5 {
        assert_eq!(
            a.post(
                "/api/producers/kick",
                json!({"user":"x","text":format!("for anna {i}")})
            )
            .0,
            202
        );
        assert_eq!(
            b.post(
                "/api/producers/twitch",
                json!({"user":"y","text":format!("for boris {i}")})
            )
            .0,
            202
        );
    }
    let got_a = chat_messages(&mut wa, 5, Duration::from_secs(10)).await;
    let got_b = chat_messages(&mut wb, 5, Duration::from_secs(10)).await;
    assert!(got_a
        .iter()
        .all(|m| m["streamerId"] == a.id.as_str()
            && m["text"].as_str().unwrap().starts_with("for anna")));
    assert!(got_b.iter().all(|m| m["streamerId"] == b.id.as_str()
        && m["text"].as_str().unwrap().starts_with("for boris")));
    assert_quiet(&mut wa, Duration::from_millis(300)).await;
    assert_quiet(&mut wb, Duration::from_millis(300)).await;
    // Nor can one read the other's log through HTTP.
    let (_, la) = a.get("/api/messages");
    assert!(la["messages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["streamerId"] == a.id.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_with_since_gets_exactly_the_missed_messages_in_order() {
    let stack = Stack::start();
    let u = User::register(&stack.base_url, "carla");
    let (mut ws, _) = u.join(&u.id, None).await;
    u.post(
        "/api/producers/youtube",
        json!({"user":"v","text":"before"}),
    );
    let first = chat_messages(&mut ws, 1, Duration::from_secs(10)).await;
    let last_seen = first[0]["id"].as_str().unwrap().to_string();
    drop(ws);

    let mut missed = Vec::new();
    for i in 0..100 {
        let platform = PLATFORMS[i % 3];
        let (s, v) = u.post(
            &format!("/api/producers/{platform}"),
            json!({"user":"v","text":format!("missed {i}")}),
        );
        assert_eq!(s, 202);
        missed.push(v["id"].as_str().unwrap().to_string());
    }
    // Wait until the pump has persisted them (the HTTP poll fallback shows it).
    let deadline = Instant::now() + Duration::from_secs(10);
    while u
        .get(&format!("/api/messages?since={last_seen}&limit=1000"))
        .1["messages"]
        .as_array()
        .unwrap()
        .len()
        < 100
    {
        assert!(
            Instant::now() < deadline,
            "the pump did not persist 100 messages"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut ws, joined) = u.join(&u.id, Some(&last_seen)).await;
    assert_eq!(joined["type"], "joined");
    let replay = chat_messages(&mut ws, 100, Duration::from_secs(10)).await;
    let replayed: Vec<String> = replay
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(replayed, missed, "exactly the missed 100, in order");
    assert_quiet(&mut ws, Duration::from_millis(300)).await;
    // Live messages follow the replay.
    let (_, v) = u.post("/api/producers/kick", json!({"user":"v","text":"live"}));
    let live = chat_messages(&mut ws, 1, Duration::from_secs(10)).await;
    assert_eq!(live[0]["id"], v["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_sigkill_and_restart_keeps_every_acknowledged_message_once() {
    let mut stack = Stack::start();
    let u = User::register(&stack.base_url, "dora");
    let sockets: Vec<_> = PLATFORMS.iter().map(|p| stack.ingest_socket(p)).collect();
    let user_id = u.id.clone();
    // A producer writes straight into the ingest sockets the whole time; the gateway is killed
    // twice while it runs (once with messages in flight, once right after a restart).
    let producer = std::thread::spawn(move || {
        let mut acked = Vec::new();
        for i in 0..1500 {
            acked.push(produce_to_socket(
                &sockets[i % 3],
                &user_id,
                "v",
                &format!("m {i}"),
            ));
            std::thread::sleep(Duration::from_millis(1));
        }
        acked
    });
    std::thread::sleep(Duration::from_millis(400));
    stack.kill_gateway();
    std::thread::sleep(Duration::from_millis(300));
    stack.start_gateway();
    stack.kill_gateway();
    stack.start_gateway();
    let acked = producer.join().unwrap();
    assert_eq!(acked.len(), 1500);
    let expected = acked;
    let deadline = Instant::now() + Duration::from_secs(20);
    let logged = loop {
        let (_, v) = u.get("/api/messages?limit=5000");
        let ids: Vec<String> = v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect();
        if ids.len() >= expected.len() || Instant::now() > deadline {
            break ids;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let unique: HashSet<&String> = logged.iter().collect();
    assert_eq!(unique.len(), logged.len(), "a message was logged twice");
    let missing: Vec<&String> = expected.iter().filter(|id| !unique.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged messages missing from the log",
        missing.len()
    );
    assert_eq!(logged.len(), expected.len());
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_never_reads_is_closed_with_1013_and_others_keep_up() {
    let stack = Stack::start();
    let u = User::register(&stack.base_url, "emil");
    let (mut slow, _) = u.join(&u.id, None).await;
    let (mut good, _) = u.join(&u.id, None).await;
    let pid = stack.gateway_pid().unwrap();
    let rss_before = rss_kib(pid);
    // Enough traffic to overrun the slow socket's bounded queue plus the kernel's buffers.
    const N: usize = 30_000;
    let base_id = u.id.clone();
    let stack_ref = &stack;
    let reader = tokio::spawn(async move {
        let got = chat_messages(&mut good, N, Duration::from_secs(120)).await;
        (good, got.len())
    });
    std::thread::scope(|scope| {
        for (p, platform) in PLATFORMS.iter().enumerate() {
            let id = base_id.clone();
            scope.spawn(move || {
                let text = "y".repeat(900);
                for i in 0..N / 3 {
                    stack_ref.produce_via_ingest(
                        platform,
                        &id,
                        &format!("p{p}"),
                        &format!("{i} {text}"),
                    );
                }
            });
        }
    });
    let (_good, count) = reader.await.unwrap();
    assert_eq!(count, N, "the reading subscriber got everything");
    let rss_after = rss_kib(pid);
    println!("gateway RSS before {rss_before} KiB, after {N} messages with a stuck subscriber {rss_after} KiB");
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
    // Now read the slow one: buffered frames, then a close with 1013.
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        assert!(
            Instant::now() < deadline,
            "no close frame for the slow subscriber"
        );
        match tokio::time::timeout(Duration::from_secs(10), slow.next()).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => break frame.code,
            Ok(Some(Ok(_))) => continue,
            other => panic!("slow subscriber: expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(code, CloseCode::Again, "1013 Try Again Later");
}
