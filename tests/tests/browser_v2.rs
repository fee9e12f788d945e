//! Real chat in the dashboard (issue 12), in headless Chromium against the real stack: the
//! Channels panel, and v2 messages and moderation events sent through an ingest's producer socket
//! rendered with emotes (their names when images cannot load: the machine is offline), badges, a
//! reply, a paid line, a membership line, a deleted line struck through, a cleared chat's line and
//! a timed-out user's lines hidden behind one note — the same moderation marks live, after a
//! reload (from the transcript's `deletedBy`) and in the history view, and the "Hide deleted"
//! toggle hiding them. No console errors beyond the emote images that cannot load.

use std::time::Duration;

use crosschat_tests::browser::{click_button, fill, find, wait_js, wait_path, Browser, WAIT};
use crosschat_tests::ingest_socket::socket_request;
use crosschat_tests::stack::Stack;
use fantoccini::Client;
use serde_json::{json, Value};

fn send(stack: &Stack, platform: &str, line: Value) -> Value {
    let v = socket_request(&stack.ingest_socket(platform), &line);
    assert_eq!(v["ok"], true, "{line} → {v}");
    v
}

/// The moderation marks in the list `list` (`feed` or `transcript`) once they are all there: the
/// notes of hidden lines, the deleted line, the cleared chat's line, the timed-out user's lines,
/// what is visible.
async fn moderation_marks(c: &Client, list: &str, what: &str) -> Value {
    let script = format!(
        r#"const list = document.getElementById('{list}');
           const visible = (n) => n.offsetParent !== null;
           const lines = [...list.querySelectorAll('li.msg:not(.cleared-note)')];
           const byText = (t) => lines.find((l) => l.querySelector('.text').textContent === t);
           const note = (l) => {{ const n = l && l.querySelector('.deleted-note'); return n ? n.textContent : null; }};
           const del = byText('to be deleted');
           const cleared = byText('before the clear');
           const spam = ['spam 0', 'spam 1'].map(byText);
           const notes = [...list.querySelectorAll('.cleared-note')];
           if (!del || !cleared || spam.some((l) => !l) || notes.length === 0
               || !del.classList.contains('deleted') || !cleared.classList.contains('deleted')) return null;
           return {{
             notes: notes.map((n) => n.textContent),
             notesVisible: notes.map(visible),
             deleted: note(del),
             deletedVisible: visible(del),
             cleared: note(cleared),
             clearedVisible: visible(cleared),
             spamVisible: spam.map(visible),
             visibleText: lines.filter(visible).map((l) => l.textContent).join(' | '),
           }};"#
    );
    wait_js(c, &script, what, WAIT).await
}

/// The same marks wherever they are shown: one note for the timed-out user's two lines (not two
/// "deleted by a moderator" lines), the deleted line struck through, the cleared chat's line saying
/// so.
fn assert_moderation_marks(seen: &Value, where_: &str) {
    assert_eq!(
        seen["notes"],
        json!(["2 messages from troll hidden (timeout 10 min)"]),
        "{where_}: {seen}"
    );
    assert_eq!(seen["notesVisible"], json!([true]), "{where_}: {seen}");
    assert_eq!(
        seen["deleted"], "deleted by a moderator",
        "{where_}: {seen}"
    );
    assert_eq!(seen["deletedVisible"], true, "{where_}: {seen}");
    assert_eq!(
        seen["cleared"], "chat cleared by a moderator",
        "{where_}: {seen}"
    );
    assert_eq!(seen["clearedVisible"], true, "{where_}: {seen}");
    assert_eq!(
        seen["spamVisible"],
        json!([false, false]),
        "{where_}: {seen}"
    );
    let text = seen["visibleText"].as_str().unwrap();
    assert!(
        !text.contains("spam"),
        "{where_}: the timed-out user's lines are hidden: {text}"
    );
    assert!(text.contains("Thanks for the sub!"), "{where_}: {text}");
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
    send(
        &stack,
        "twitch",
        json!({"streamerId": sid, "user": "fay", "text": "before the clear", "channel": "otherchan", "platformMessageId": "o1", "userId": "5"}),
    );
    wait_js(
        c,
        "return document.querySelectorAll('#feed li.msg').length >= 6;",
        "six lines",
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
    send(
        &stack,
        "twitch",
        json!({"type": "clear", "streamerId": sid, "channel": "otherchan"}),
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
    let live = moderation_marks(c, "feed", "the moderation marks live").await;
    assert_moderation_marks(&live, "live");

    // A reload shows the same marks from the transcript's `deletedBy`/`clearedUntil` — and the
    // rejoin's replay of the same frames adds no second note.
    c.refresh().await.unwrap();
    wait_js(
        c,
        "return document.getElementById('conn').dataset.state === 'live';",
        "the feed live again",
        WAIT,
    )
    .await;
    // The replay follows the join; give it a moment to land before counting notes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reloaded = moderation_marks(c, "feed", "the moderation marks after a reload").await;
    assert_moderation_marks(&reloaded, "after a reload");

    // "Hide deleted" hides the deleted line, the cleared chat's line and the timeout's note.
    let toggle = "//label[normalize-space()='Hide deleted']/input";
    find(c, toggle).await.click().await.unwrap();
    let hidden = moderation_marks(c, "feed", "the marks with Hide deleted on").await;
    assert_eq!(hidden["deletedVisible"], false, "{hidden}");
    assert_eq!(hidden["clearedVisible"], false, "{hidden}");
    assert_eq!(hidden["notesVisible"], json!([false]), "{hidden}");
    let text = hidden["visibleText"].as_str().unwrap();
    assert!(
        text.contains("Thanks for the sub!") && !text.contains("to be deleted"),
        "only the hidden lines go: {text}"
    );
    find(c, toggle).await.click().await.unwrap();
    let shown = moderation_marks(c, "feed", "the marks with Hide deleted off").await;
    assert_eq!(shown["deletedVisible"], true, "{shown}");

    // The history view shows the same marks from the archived transcript.
    wait_js(
        c,
        "return !document.getElementById('end-stream').disabled;",
        "End & Archive enabled after the reload",
        WAIT,
    )
    .await;
    click_button(c, "End & Archive").await;
    wait_js(
        c,
        "return document.getElementById('session-title').textContent.includes('No active stream');",
        "the stream archived",
        WAIT,
    )
    .await;
    let status = wait_js(
        c,
        "return document.getElementById('control-status').textContent;",
        "the archive's status line",
        WAIT,
    )
    .await;
    assert_eq!(
        status, "Stream archived with 6 messages. Find it under History.",
        "tombstones are not messages"
    );
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
        "return document.querySelectorAll('#transcript li.deleted').length >= 4;",
        "deleted lines marked in the transcript",
        Duration::from_secs(15),
    )
    .await;
    let history = moderation_marks(c, "transcript", "the moderation marks in the history").await;
    assert_moderation_marks(&history, "in the history");

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
