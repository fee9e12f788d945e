//! Real chat in the dashboard (issue 12), in headless Chromium against the real stack: the
//! Channels panel, and v2 messages and moderation events sent through an ingest's producer socket
//! rendered with emotes (their names when images cannot load: the machine is offline), badges, a
//! reply, a paid line, a membership line, a deleted line struck through and a timed-out user's
//! lines hidden behind one note. No console errors beyond the emote images that cannot load.

use std::time::Duration;

use crosschat_tests::browser::{click_button, fill, find, wait_js, wait_path, Browser, WAIT};
use crosschat_tests::stack::{socket_request, Stack};
use serde_json::{json, Value};

fn send(stack: &Stack, platform: &str, line: Value) -> Value {
    let v = socket_request(&stack.ingest_socket(platform), &line);
    assert_eq!(v["ok"], true, "{line} → {v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_chat_renders_with_emotes_badges_replies_and_moderation() {
    let stack = Stack::start();
    let browser = Browser::start(1280, 900).await;
    let c = &browser.client;
    c.goto(&format!("{}/register", stack.base_url))
        .await
        .unwrap();
    fill(c, "Username", "v2_streamer").await;
    fill(c, "Password", "correct horse battery").await;
    click_button(c, "Register").await;
    wait_path(c, "/dashboard").await;
    click_button(c, "Start New Stream").await;
    let me = wait_js(
        c,
        "const r = await fetch('/api/auth/me'); const v = await r.json(); return v.user && v.user.id;",
        "the account id",
        WAIT,
    )
    .await;
    let sid = me.as_str().unwrap().to_owned();

    // Channels panel: link by URL, see it listed with a state chip and sentence, remove it.
    fill(
        c,
        "Channel name or link",
        "https://www.twitch.tv/SomeChannel",
    )
    .await;
    click_button(c, "Link channel").await;
    let chip = wait_js(
        c,
        "const li = document.querySelector('#channel-list li[data-channel=\"somechannel\"]'); \
         return li && li.querySelector('.chip').textContent + '|' + li.querySelector('.channel-detail').textContent;",
        "the linked channel in the panel",
        WAIT,
    )
    .await;
    let chip = chip.as_str().unwrap();
    assert!(
        chip.starts_with("connecting|") || chip.starts_with("error|"),
        "{chip}"
    );
    assert!(chip.len() > "connecting|".len(), "a sentence: {chip}");
    find(
        c,
        "//button[@aria-label='Remove Twitch channel somechannel']",
    )
    .await
    .click()
    .await
    .unwrap();
    wait_js(
        c,
        "return !document.querySelector('#channel-list li[data-channel=\"somechannel\"]');",
        "the channel removed",
        WAIT,
    )
    .await;

    let chan = "somechannel";
    send(
        &stack,
        "twitch",
        json!({
            "streamerId": sid, "user": "ann", "text": "👉 Kappa hello", "channel": chan,
            "platformMessageId": "p1", "userId": "1", "kind": "paid", "isOwner": true,
            "badges": ["broadcaster", "moderator", "subscriber"],
            "emotes": [{"id": "25", "start": 2, "end": 7}],
            "replyTo": {"platformMessageId": "p0", "user": "bob", "text": "first!"},
            "amount": {"value": "100", "currency": "bits", "display": "100 bits"}
        }),
    );
    send(
        &stack,
        "twitch",
        json!({
            "streamerId": sid, "user": "dan", "text": "Thanks for the sub!", "channel": chan,
            "platformMessageId": "p2", "userId": "2", "kind": "membership",
            "systemText": "dan subscribed at Tier 1."
        }),
    );
    send(
        &stack,
        "twitch",
        json!({"streamerId": sid, "user": "eve", "text": "to be deleted", "channel": chan, "platformMessageId": "p3", "userId": "3"}),
    );
    for i in 0..2 {
        send(
            &stack,
            "twitch",
            json!({"streamerId": sid, "user": "troll", "text": format!("spam {i}"), "channel": chan, "platformMessageId": format!("t{i}"), "userId": "4"}),
        );
    }
    wait_js(
        c,
        "return document.querySelectorAll('#feed li.msg').length >= 5;",
        "five lines",
        WAIT,
    )
    .await;
    send(
        &stack,
        "twitch",
        json!({"type": "delete", "streamerId": sid, "channel": chan, "platformMessageId": "p3"}),
    );
    let until = shm_layout::now_ms() + 600_000;
    send(
        &stack,
        "twitch",
        json!({"type": "clear_user", "streamerId": sid, "channel": chan, "userId": "4", "user": "troll", "until": until}),
    );

    let seen = wait_js(
        c,
        r#"const q = (s) => document.querySelector(s);
           const paid = q('#feed li.kind-paid');
           const fallback = paid && paid.querySelector('.emote-fallback');
           const deleted = [...document.querySelectorAll('#feed li.deleted')].map((l) => l.textContent);
           const note = q('#feed .cleared-note');
           if (!paid || !fallback || !note || deleted.length < 3) return null;
           return {
             emote: fallback.textContent,
             text: paid.querySelector('.text').textContent,
             badges: [...paid.querySelectorAll('.badge')].map((b) => b.title),
             reply: paid.querySelector('.reply').textContent,
             amount: paid.querySelector('.amount').textContent,
             member: q('#feed li.kind-membership .system-text').textContent,
             deleted,
             note: note.textContent,
             trollVisible: [...document.querySelectorAll('#feed li.cleared')].some((l) => l.offsetParent !== null),
           };"#,
        "the rendered v2 lines and moderation",
        WAIT,
    )
    .await;
    assert_eq!(
        seen["emote"], "Kappa",
        "the emote's name stands in for its image: {seen}"
    );
    assert_eq!(seen["text"], "👉 Kappa hello", "{seen}");
    assert_eq!(
        seen["badges"],
        json!(["Broadcaster", "Moderator", "Subscriber"]),
        "{seen}"
    );
    assert_eq!(seen["reply"], "↪ @bob: first!", "{seen}");
    assert_eq!(seen["amount"], "100 bits", "{seen}");
    assert_eq!(seen["member"], "dan subscribed at Tier 1.", "{seen}");
    assert!(
        seen["deleted"].as_array().unwrap().iter().any(|t| {
            let t = t.as_str().unwrap();
            t.contains("to be deleted") && t.contains("deleted by a moderator")
        }),
        "{seen}"
    );
    assert!(
        seen["note"]
            .as_str()
            .unwrap()
            .starts_with("2 messages from troll hidden (timeout 10 min)"),
        "{seen}"
    );
    assert_eq!(seen["trollVisible"], false, "{seen}");

    // The history view shows the same marks from the transcript.
    click_button(c, "End & Archive").await;
    wait_js(
        c,
        "return document.getElementById('session-title').textContent.includes('No active stream');",
        "the stream archived",
        WAIT,
    )
    .await;
    click_button(c, "History").await;
    find(
        c,
        "//table[@id='sessions-table']//tbody/tr[1]//button[normalize-space()='View transcript']",
    )
    .await
    .click()
    .await
    .unwrap();
    wait_js(
        c,
        "return document.querySelectorAll('#transcript li.deleted').length >= 3;",
        "deleted lines marked in the transcript",
        Duration::from_secs(15),
    )
    .await;

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e");
    std::fs::create_dir_all(&dir).unwrap();
    browser.screenshot(&dir.join("dashboard-v2.png")).await;
    let errors: Vec<String> = browser
        .console_errors()
        .into_iter()
        .filter(|e| {
            !(e.contains("static-cdn.jtvnw.net")
                || (e.contains("/api/auth/me") && e.contains("401")))
        })
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    browser.quit().await;
}
