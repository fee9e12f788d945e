//! Issue 15 as a new user meets it, across real processes: the gateway and the YouTube ingest
//! (with an API key) against the loopback Data API peer. A streamer links a YouTube live URL; the
//! channel goes `live` with the quota in its detail; a member's message, a moderator's, a Super
//! Chat and a deletion reach the room and the log; the stream ends and the channel goes `idle`.
//! The day's quota count survives a SIGKILL of the ingest (the file in the runtime directory), and
//! the key is in no output: `/api/channels`, `/metrics`, the process logs, the data and runtime
//! directories.

use std::path::Path;
use std::time::{Duration, Instant};

use crosschat_tests::client::{next_json, User, Ws};
use crosschat_tests::ingest_socket::socket_request;
use crosschat_tests::peers::youtube::{text_item, ChatEnd, Video, YoutubePeer};
use crosschat_tests::stack::Stack;
use serde_json::{json, Value};

const KEY: &str = "AIzaSyE2E-youtube-key-never-shown-0123456";
const VIDEO: &str = "D9fqFdv5ENo";
const CHAT: &str = "Cg0KC0Q5ZnFGZHY1RU5vKicKGFVDUHNmTTR2dXVfRm1qUVhmV0NIZGg0ZxILRDlmcUZkdjVFTm8";
/// The member's message, which the `messageDeletedEvent` of the same page deletes.
const MEMBER_MSG: &str = "LCC.page1-text-2";
const WAIT: Duration = Duration::from_secs(10);

/// The items of a fixture page in `ingest/tests/fixtures/youtube/` (real-format responses).
fn fixture_items(name: &str) -> Vec<Value> {
    let path = format!(
        "{}/../ingest/tests/fixtures/youtube/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap();
    v["items"].as_array().unwrap().clone()
}

/// One page: a member's message, a moderator's, a Super Chat, then the member's message deleted.
fn the_page() -> Vec<Value> {
    let types = fixture_items("list_types.json");
    let by_id = |id: &str| {
        types
            .iter()
            .find(|i| i["id"] == id)
            .unwrap_or_else(|| panic!("{id} in list_types.json"))
            .clone()
    };
    let member = fixture_items("list_page1.json")
        .into_iter()
        .find(|i| i["id"] == MEMBER_MSG)
        .unwrap();
    let mut moderator = text_item("LCC.mod-1", "Mod Max", "please keep it friendly");
    moderator["authorDetails"]["isChatModerator"] = json!(true);
    vec![
        member,
        moderator,
        by_id("LCC.superchat-1"),
        by_id("LCC.deleted-1"),
    ]
}

/// The YouTube channel's entry in `GET /api/channels`, once `f` holds for it; the raw bodies seen
/// on the way go to `bodies` (for the key check).
fn wait_channel(u: &User, bodies: &mut Vec<String>, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let (s, v) = u.get("/api/channels");
        assert_eq!(s, 200, "{v}");
        bodies.push(v.to_string());
        let ch = v["channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["channel"] == VIDEO)
            .cloned()
            .unwrap_or(Value::Null);
        if f(&ch) {
            return ch;
        }
        assert!(Instant::now() < deadline, "the channel never matched: {ch}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads frames until `n` chat messages and one `chat:delete` arrived.
async fn messages_and_delete(ws: &mut Ws, n: usize) -> (Vec<Value>, Value) {
    let deadline = Instant::now() + WAIT;
    let (mut msgs, mut delete) = (Vec::new(), None);
    while msgs.len() < n || delete.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(f) = next_json(ws, left).await else {
            panic!("got {msgs:?} and delete {delete:?} before the deadline");
        };
        match f["type"].as_str() {
            Some("chat:message") => msgs.push(f["message"].clone()),
            Some("chat:delete") => delete = Some(f),
            _ => {}
        }
    }
    (msgs, delete.unwrap())
}

/// The YouTube ingest's `quotaUsed`, from its status reply.
fn ingest_quota_used(stack: &Stack) -> u64 {
    let r = socket_request(&stack.ingest_socket("youtube"), &json!({"type": "status"}));
    r["metrics"]["quotaUsed"].as_u64().unwrap_or(0)
}

/// The units used in the quota file of the runtime directory (0 while there is none).
fn saved_quota_used(runtime: &Path) -> u64 {
    let Ok(dir) = std::fs::read_dir(runtime) else {
        return 0;
    };
    dir.flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("youtube-quota-") && name.ends_with(".json")
        })
        .filter_map(|p| std::fs::read(p).ok())
        .filter_map(|b| serde_json::from_slice::<Value>(&b).ok())
        .filter_map(|v| v["used"].as_u64())
        .max()
        .unwrap_or(0)
}

/// Polls `f` every 50 ms until it holds; panics with `what` after [`WAIT`].
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every regular file under `dir` (recursively) that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return hits;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            hits.extend(files_containing(&path, needle));
        } else if ft.is_file() {
            let bytes = std::fs::read(&path).unwrap_or_default();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_youtube_stream_reaches_the_room_and_ends_within_the_quota() {
    let peer = YoutubePeer::start().await;
    peer.require_key(KEY);
    peer.set_video(VIDEO, Video::Live(CHAT.into()));
    peer.push_page(CHAT, the_page());
    let url = peer.base_url();
    // A large daily quota, so that pacing never slows the 200 ms polls whatever the time of day
    // (pacing has its own tests in ingest/tests/youtube_connector.rs).
    let mut stack = Stack::start_with(&[(
        "youtube",
        [
            "--youtube-api-url",
            &url,
            "--youtube-api-key",
            KEY,
            "--youtube-min-poll-ms",
            "200",
            "--youtube-daily-quota",
            "1000000000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    )]);
    let u = User::register(&stack.base_url, "yuki");
    let (s, _) = u.post("/api/stream/control", json!({"action": "start"}));
    assert_eq!(s, 200);
    let (mut ws, joined) = u.join(&u.id, None).await;
    assert_eq!(joined["type"], "joined", "{joined}");

    // Link the live URL: the gateway keeps the video id.
    let (s, v) = u.post(
        "/api/channels",
        json!({"platform": "youtube", "channel": format!("https://www.youtube.com/watch?v={VIDEO}")}),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["channel"]["channel"], VIDEO, "{v}");

    // The page reaches the room: the member, the moderator and the Super Chat highlighted, then
    // the member's message deleted.
    let (msgs, delete) = messages_and_delete(&mut ws, 3).await;
    let by_pmid = |id: &str| {
        msgs.iter()
            .find(|m| m["platformMessageId"] == id)
            .unwrap_or_else(|| panic!("{id} not in {msgs:?}"))
    };
    for m in &msgs {
        assert_eq!(m["platform"], "YouTube", "{m}");
        assert_eq!(m["channel"], VIDEO, "{m}");
        assert_eq!(m["streamerId"], u.id, "{m}");
    }
    let member = by_pmid(MEMBER_MSG);
    assert_eq!(member["user"], "Member Mia", "{member}");
    assert_eq!(member["isSub"], true, "{member}");
    assert_eq!(member["badges"], json!(["member"]), "{member}");
    assert_eq!(member["kind"], "chat", "{member}");
    let moderator = by_pmid("LCC.mod-1");
    assert_eq!(moderator["isMod"], true, "{moderator}");
    assert_eq!(moderator["text"], "please keep it friendly");
    let paid = by_pmid("LCC.superchat-1");
    assert_eq!(paid["kind"], "paid", "{paid}");
    assert_eq!(paid["user"], "Brian Lough", "{paid}");
    assert_eq!(paid["amount"]["display"], "€2.00", "{paid}");
    assert_eq!(paid["amount"]["currency"], "EUR", "{paid}");
    assert!(paid["amount"]["value"].is_string(), "{paid}");
    assert_eq!(delete["platform"], "YouTube", "{delete}");
    assert_eq!(delete["platformMessageId"], MEMBER_MSG, "{delete}");
    assert_eq!(delete["ids"], json!([member["id"]]), "{delete}");

    // The channel is live, and its detail shows the quota.
    let mut bodies = Vec::new();
    let live = wait_channel(&u, &mut bodies, |c| c["state"] == "live");
    let detail = live["detail"].as_str().unwrap();
    assert!(
        detail.contains("units used") && detail.contains("left"),
        "{live}"
    );
    assert!(live["lastMessageAt"].as_u64().is_some(), "{live}");

    // The log marks the deleted message, and only it.
    let (s, v) = u.get("/api/messages");
    assert_eq!(s, 200);
    let logged = v["messages"].as_array().expect("messages");
    assert_eq!(logged.len(), 3, "{v}");
    for m in logged {
        let deleted = m["platformMessageId"] == MEMBER_MSG;
        assert_eq!(m["deleted"] == true, deleted, "{m}");
    }

    // The stream ends: the channel goes idle (a video link stays idle).
    peer.end_chat(CHAT, ChatEnd::Offline);
    peer.set_video(VIDEO, Video::Ended);
    wait_channel(&u, &mut bodies, |c| {
        c["state"] == "idle" && c["detail"] == "stream ended"
    });

    // The day's count survives a SIGKILL of the ingest: once the file holds every unit spent,
    // the next process counts on from there (finding that the stream ended costs it 1 unit).
    let used = ingest_quota_used(&stack);
    // A videos.list (1 unit), then at least the history page and the offline page (5 each).
    assert!(used >= 11 && used % 5 == 1, "{used}");
    let runtime = stack.runtime_dir();
    wait_until("the quota file to hold every unit spent", || {
        saved_quota_used(&runtime) == used
    });
    stack.kill_ingest("youtube");
    stack.start_ingest("youtube");
    wait_until(
        "the restarted ingest to count on from the saved units",
        || ingest_quota_used(&stack) > used,
    );
    wait_channel(&u, &mut bodies, |c| {
        c["state"] == "idle" && c["detail"] == "stream ended"
    });

    // The key went to YouTube, and nowhere else.
    assert!(peer.requests().iter().all(|r| r.param("key") == Some(KEY)));
    for b in &bodies {
        assert!(!b.contains(KEY), "the key is in /api/channels: {b}");
    }
    let metrics = crosschat_tests::client::metrics_text(&stack.base_url);
    for family in ["used", "left", "daily"] {
        assert!(
            metrics.contains(&format!(
                "crosschat_connector_quota_{family}{{platform=\"youtube\"}}"
            )),
            "{family}: {metrics}"
        );
    }
    assert!(
        metrics.contains("crosschat_connector_quota_daily{platform=\"youtube\"} 1000000000"),
        "{metrics}"
    );
    assert!(!metrics.contains(KEY), "the key is in /metrics");
    let logs = stack.log_files();
    assert!(logs.iter().any(|(p, _)| p
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("ingest-youtube"))));
    for (path, text) in &logs {
        assert!(!text.contains(KEY), "the key is in {}", path.display());
    }
    for dir in [stack.data_dir(), runtime] {
        let hits = files_containing(&dir, KEY.as_bytes());
        assert!(hits.is_empty(), "the key is in {hits:?}");
    }
}
