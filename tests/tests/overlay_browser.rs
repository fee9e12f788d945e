//! The OBS overlay (issue 16) in headless Chromium against the real stack, as a streamer would use
//! it: a link made through the API opens `/overlay#key=…` in a browser profile without a session
//! cookie; chat from three platforms appears on a transparent page; each URL option (`limit`,
//! `fade`, `platforms`, `hideCommands`, `hideBots`, `block`, `align`, `tts`) changes what is shown
//! or spoken; moderation, filter changes and the dashboard's "Hide on overlay" and "Block user"
//! apply at once; a gateway restart is bridged without a duplicate or a gap; revoking the link
//! blanks the open overlay with its sentence and it does not come back.
//!
//! One browser and one stack for all scenarios (CI has 2 cores). Screenshots of the overlay over a
//! checkerboard (to show the transparency) land in `target/e2e/screenshots/overlay-*.png`.
//!
//! Run: `cargo test -p crosschat-tests --test overlay_browser`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crosschat_tests::browser::{
    button, click_button, fill, find, wait_js, wait_path, Browser, WAIT,
};
use crosschat_tests::client::User;
use crosschat_tests::ingest_socket::socket_request;
use crosschat_tests::process::bin_dir;
use crosschat_tests::stack::Stack;
use fantoccini::Client;
use serde_json::{json, Value};

/// The channel every test message comes from (moderation events name it too).
const CHAN: &str = "ovchan";
const PASSWORD: &str = "correct horse";

/// A message the test sent: the id the ingest gave it, and its platform message id (which
/// moderation events name).
struct Sent {
    id: String,
    pm: String,
}

/// Sends one chat message through a platform's ingest socket. `extra` adds or overrides fields
/// (kind, amount, badges, …). The user's id is `u-<user, lower case>`.
fn say(stack: &Stack, sid: &str, platform: &str, user: &str, text: &str, extra: Value) -> Sent {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let mut line = json!({
        "streamerId": sid, "user": user, "text": text, "channel": CHAN,
        "platformMessageId": format!("pm{n}"), "userId": format!("u-{}", user.to_lowercase()),
    });
    if let (Some(line), Value::Object(extra)) = (line.as_object_mut(), extra) {
        line.extend(extra);
    }
    let v = socket_request(&stack.ingest_socket(platform), &line);
    assert_eq!(v["ok"], true, "{line} → {v}");
    Sent {
        id: v["id"].as_str().expect("an id").to_owned(),
        pm: format!("pm{n}"),
    }
}

/// A moderation event through an ingest socket.
fn moderate(stack: &Stack, platform: &str, event: Value) {
    let v = socket_request(&stack.ingest_socket(platform), &event);
    assert_eq!(v["ok"], true, "{event} → {v}");
}

/// Opens the overlay with `query` (e.g. `?limit=2`, or "") and `key`, waits until it is live and
/// installs a recorder of every line that appears or goes (`window.__shown`, `window.__gone`).
async fn open_overlay(c: &Client, base: &str, query: &str, key: &str) {
    // A URL differing from the current one only in its fragment would not load a new page.
    c.goto("about:blank").await.unwrap();
    c.goto(&format!("{base}/overlay{query}#key={key}"))
        .await
        .unwrap();
    wait_js(
        c,
        "return document.body && document.body.dataset.state === 'live';",
        &format!("the overlay {query} to be live"),
        WAIT,
    )
    .await;
    c.execute(
        r#"window.__shown = []; window.__gone = [];
           // A line's text as read: an emote image counts as its name.
           window.__textOf = (e) => [...e.childNodes]
             .map((c) => (c.nodeName === 'IMG' ? c.alt : c.textContent)).join('');
           const info = (n) => ({ id: n.dataset.id, platform: n.dataset.platform || '',
             user: n.querySelector('.user').textContent, text: window.__textOf(n.querySelector('.text')),
             at: performance.now() });
           new MutationObserver((records) => {
             for (const r of records) {
               for (const n of r.addedNodes) if (n.dataset && n.dataset.id) window.__shown.push(info(n));
               for (const n of r.removedNodes) if (n.dataset && n.dataset.id) window.__gone.push(info(n));
             }
           }).observe(document.getElementById('lines'), { childList: true });"#,
        vec![],
    )
    .await
    .expect("install the line recorder");
}

/// Texts of the lines on screen, in DOM order.
async fn on_screen(c: &Client) -> Vec<String> {
    texts(
        c.execute(
            "return [...document.querySelectorAll('#lines li.msg .text')].map(window.__textOf);",
            vec![],
        )
        .await
        .unwrap(),
    )
}

/// Texts of every line that appeared since the overlay was opened, in order.
async fn ever_shown(c: &Client) -> Vec<String> {
    texts(
        c.execute("return window.__shown.map((l) => l.text);", vec![])
            .await
            .unwrap(),
    )
}

fn texts(v: Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

/// Waits until a line with `text` is on screen.
async fn wait_line(c: &Client, text: &str) {
    let script = format!(
        "return [...document.querySelectorAll('#lines li.msg .text')].some((t) => window.__textOf(t) === {});",
        json!(text)
    );
    wait_js(c, &script, &format!("the line {text:?}"), WAIT).await;
}

/// Waits until the line of message `id` is gone from the screen.
async fn wait_gone(c: &Client, id: &str, what: &str) {
    let script = format!("return !document.querySelector('#lines li[data-id=\"{id}\"]');");
    wait_js(c, &script, what, WAIT).await;
}

/// Paints a checkerboard behind the (transparent) page and saves a screenshot of it, once the
/// lines' entry animations are over.
async fn screenshot_over_checkerboard(browser: &Browser, name: &str) {
    wait_js(
        &browser.client,
        "return document.getAnimations().length === 0;",
        "the lines' animations to end",
        WAIT,
    )
    .await;
    browser
        .client
        .execute(
            "document.documentElement.style.background = \
             'repeating-conic-gradient(#9a9fab 0% 25%, #e6e8ec 0% 50%) 0 0 / 32px 32px';",
            vec![],
        )
        .await
        .unwrap();
    let dir = bin_dir()
        .parent()
        .expect("target dir")
        .join("e2e/screenshots");
    browser.screenshot(&dir.join(format!("{name}.png"))).await;
    browser
        .client
        .execute("document.documentElement.style.background = '';", vec![])
        .await
        .unwrap();
}

/// Console errors, except emote images the offline machine cannot load.
fn console_errors(browser: &Browser, also_allowed: &[&str]) -> Vec<String> {
    browser
        .console_errors()
        .into_iter()
        .filter(|e| !e.contains("static-cdn.jtvnw.net") && !e.contains("files.kick.com"))
        .filter(|e| !also_allowed.iter().any(|a| e.contains(a)))
        .collect()
}

/// The overlay's sentence once it stopped for good.
async fn wait_ended_with(c: &Client, sentence: &str) {
    let script = format!(
        "const n = document.getElementById('overlay-notice'); \
         return document.body.dataset.state === 'ended' && !n.hidden && n.textContent === {} \
           && document.querySelectorAll('#lines li').length === 0;",
        json!(sentence)
    );
    wait_js(
        c,
        &script,
        &format!("the overlay to say {sentence:?}"),
        WAIT,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overlay_shows_filters_and_survives_until_its_link_is_revoked() {
    let mut stack = Stack::start();
    let base = stack.base_url.clone();
    let streamer = User::register(&base, "overlay_streamer");
    let sid = streamer.id.clone();
    let (status, _) = streamer.post("/api/stream/control", json!({ "action": "start" }));
    assert_eq!(status, 200, "start a stream");
    let (status, link) = streamer.post("/api/overlays", json!({ "label": "OBS main" }));
    assert_eq!(status, 201, "{link}");
    let key = link["key"].as_str().unwrap().to_owned();
    let link_id = link["id"].as_str().unwrap().to_owned();

    let browser = Browser::start(800, 600).await;
    let c = &browser.client;

    // ---- defaults: three platforms, transparent, commands and bots hidden ----
    open_overlay(c, &base, "", &key).await;
    let cookies = c.get_all_cookies().await.unwrap();
    assert!(
        cookies.is_empty(),
        "a fresh profile, no session: {cookies:?}"
    );
    let page = c
        .execute(
            r#"const cs = (e) => getComputedStyle(e);
               const h = document.documentElement, b = document.body;
               return { html: cs(h).backgroundColor, body: cs(b).backgroundColor,
                        htmlOverflow: cs(h).overflow, bodyOverflow: cs(b).overflow };"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        page,
        json!({"html": "rgba(0, 0, 0, 0)", "body": "rgba(0, 0, 0, 0)",
               "htmlOverflow": "hidden", "bodyOverflow": "hidden"}),
        "a transparent page that never scrolls"
    );

    let ann = say(
        &stack,
        &sid,
        "twitch",
        "ann",
        "hello from twitch Kappa",
        json!({"badges": ["moderator", "subscriber"], "color": "#ff7eb6",
               "emotes": [{"id": "25", "start": 18, "end": 23}]}),
    );
    let bob = say(
        &stack,
        &sid,
        "youtube",
        "bob",
        "hello from youtube",
        json!({"color": "#ffb020"}),
    );
    say(
        &stack,
        &sid,
        "kick",
        "carol",
        "hello from kick",
        json!({"badges": ["vip"], "color": "#53fc18"}),
    );
    say(&stack, &sid, "twitch", "dave", "!uptime", json!({}));
    say(&stack, &sid, "kick", "Nightbot", "I am a bot", json!({}));
    say(
        &stack,
        &sid,
        "twitch",
        "Mallory",
        "hi from mallory",
        json!({}),
    );
    say(
        &stack,
        &sid,
        "youtube",
        "erin",
        "take my money",
        json!({"kind": "paid", "amount": {"value": "5.00", "currency": "USD", "display": "$5.00"}}),
    );
    say(&stack, &sid, "twitch", "frank", "marker A", json!({}));
    wait_line(c, "marker A").await;
    let expected = [
        "hello from twitch Kappa",
        "hello from youtube",
        "hello from kick",
        "hi from mallory",
        "take my money",
        "marker A",
    ];
    assert_eq!(
        on_screen(c).await,
        expected,
        "commands and bots hidden by default"
    );
    assert_eq!(ever_shown(c).await, expected);
    let marks = c
        .execute(
            "return [...document.querySelectorAll('#lines li.msg')].map((li) => \
               li.querySelector('.plat').getAttribute('aria-label'));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        marks,
        json!(["Twitch", "YouTube", "Kick", "Twitch", "YouTube", "Twitch"])
    );
    let paid = c
        .execute(
            "const li = document.querySelector('#lines li.kind-paid'); \
             return li && li.querySelector('.amount').textContent;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        paid,
        json!("$5.00"),
        "the paid line stands out with its amount"
    );
    // The emote's image cannot load offline: its name stands in for it.
    wait_js(
        c,
        "const f = document.querySelector('#lines .emote-fallback'); return f && f.textContent === 'Kappa';",
        "the emote's name in place of its image",
        WAIT,
    )
    .await;
    screenshot_over_checkerboard(&browser, "overlay-dark").await;

    // Moderation: a deleted message and a cleared user's lines disappear at once.
    moderate(
        &stack,
        "youtube",
        json!({"type": "delete", "streamerId": sid, "channel": CHAN,
        "platformMessageId": bob.pm}),
    );
    wait_gone(c, &bob.id, "the deleted message to disappear").await;
    moderate(
        &stack,
        "twitch",
        json!({"type": "clear_user", "streamerId": sid, "channel": CHAN,
        "userId": "u-ann", "user": "ann"}),
    );
    wait_gone(c, &ann.id, "the timed-out user's line to disappear").await;

    // A filter change reaches the open overlay: the blocked user's lines go, new ones never come.
    let mut filters = streamer.get("/api/filters").1;
    filters["blockedUsers"] = json!(["CAROL"]);
    let (status, saved) = streamer.put("/api/filters", filters.clone());
    assert_eq!(status, 200, "{saved}");
    wait_js(
        c,
        "return ![...document.querySelectorAll('#lines .user')].some((u) => u.textContent === 'carol');",
        "carol's line to go when she is blocked",
        WAIT,
    )
    .await;
    say(&stack, &sid, "kick", "carol", "am I blocked?", json!({}));
    say(&stack, &sid, "kick", "gus", "marker B", json!({}));
    wait_line(c, "marker B").await;
    assert!(!ever_shown(c).await.contains(&"am I blocked?".to_owned()));
    filters["blockedUsers"] = json!([]);
    assert_eq!(streamer.put("/api/filters", filters).0, 200);

    // chat:clear empties the channel.
    moderate(
        &stack,
        "kick",
        json!({"type": "clear", "streamerId": sid, "channel": CHAN}),
    );
    wait_js(
        c,
        "return ![...document.querySelectorAll('#lines li.msg')].some((li) => li.dataset.platform === 'kick');",
        "the cleared channel's lines to go",
        WAIT,
    )
    .await;

    // ---- options: limit, platforms, hideCommands, hideBots, block ----
    open_overlay(
        c,
        &base,
        "?limit=2&platforms=twitch,kick&hideCommands=0&hideBots=0&block=mallory",
        &key,
    )
    .await;
    say(&stack, &sid, "twitch", "dave", "!lurk", json!({}));
    say(&stack, &sid, "kick", "Nightbot", "bot line", json!({}));
    say(&stack, &sid, "youtube", "gus", "youtube line", json!({}));
    say(&stack, &sid, "twitch", "Mallory", "blocked line", json!({}));
    say(&stack, &sid, "kick", "hank", "kick line", json!({}));
    say(&stack, &sid, "twitch", "ivy", "marker C", json!({}));
    wait_line(c, "marker C").await;
    assert_eq!(
        ever_shown(c).await,
        ["!lurk", "bot line", "kick line", "marker C"],
        "commands and bots shown on request; YouTube and the extra blocked name hidden"
    );
    assert_eq!(on_screen(c).await, ["kick line", "marker C"], "limit=2");

    // ---- fade, align=top, theme=light ----
    open_overlay(c, &base, "?fade=2&align=top&theme=light", &key).await;
    let first = say(&stack, &sid, "twitch", "jo", "fading first", json!({}));
    let second = say(
        &stack,
        &sid,
        "youtube",
        "kim",
        "fading second",
        json!({"kind": "membership",
        "systemText": "kim became a member"}),
    );
    wait_line(c, "fading second").await;
    let order = c
        .execute(
            "const y = (id) => document.querySelector(`#lines li[data-id=\"${id}\"]`).getBoundingClientRect().top; \
             return y(arguments[0]) < y(arguments[1]);",
            vec![json!(second.id), json!(first.id)],
        )
        .await
        .unwrap();
    assert_eq!(order, json!(true), "align=top puts the newest line on top");
    screenshot_over_checkerboard(&browser, "overlay-light-top").await;
    wait_gone(c, &second.id, "the lines to fade out").await;
    let lived = c
        .execute(
            "const s = window.__shown.find((l) => l.id === arguments[0]); \
             const g = window.__gone.find((l) => l.id === arguments[0]); \
             return g.at - s.at;",
            vec![json!(first.id)],
        )
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(
        (1900.0..4500.0).contains(&lived),
        "fade=2 removes a line about 2 s after it appeared ({lived} ms)"
    );

    // ---- tts=paid: only the paid line is spoken ----
    open_overlay(c, &base, "?tts=paid&theme=outline&size=26", &key).await;
    let speech = c
        .execute(
            "const ok = !!window.speechSynthesis && typeof SpeechSynthesisUtterance === 'function'; \
             window.__spoken = []; \
             window.speechSynthesis.speak = (u) => window.__spoken.push(u.text); \
             return ok;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        speech,
        json!(true),
        "the browser has speech synthesis to observe"
    );
    say(
        &stack,
        &sid,
        "twitch",
        "lee",
        "just chatting",
        json!({"badges": ["subscriber"]}),
    );
    say(
        &stack,
        &sid,
        "twitch",
        "max",
        "cheer for the stream",
        json!({"kind": "paid", "amount": {"value": "100", "currency": "bits", "display": "100 bits"},
               "badges": ["vip"]}),
    );
    say(
        &stack,
        &sid,
        "kick",
        "Nightbot",
        "a paid bot is still a bot",
        json!({"kind": "paid", "amount": {"value": "1", "currency": "USD", "display": "$1.00"}}),
    );
    say(&stack, &sid, "youtube", "ned", "marker D", json!({}));
    wait_line(c, "marker D").await;
    screenshot_over_checkerboard(&browser, "overlay-outline").await;
    let spoken = texts(c.execute("return window.__spoken;", vec![]).await.unwrap());
    assert_eq!(spoken.len(), 1, "only the paid line is spoken: {spoken:?}");
    assert!(
        spoken[0].contains("cheer for the stream") && spoken[0].contains("100 bits"),
        "{spoken:?}"
    );

    let errors = console_errors(&browser, &[]);
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    // ---- a gateway restart: nothing doubled, nothing lost ----
    open_overlay(c, &base, "?size=18", &key).await;
    say(
        &stack,
        &sid,
        "twitch",
        "oli",
        "before the restart",
        json!({}),
    );
    wait_line(c, "before the restart").await;
    stack.stop_gateway();
    wait_js(
        c,
        "return document.body.dataset.state === 'reconnecting';",
        "the overlay to notice the gateway is gone",
        WAIT,
    )
    .await;
    // Sent while the gateway is down: it waits in the ring.
    say(&stack, &sid, "kick", "pia", "during the restart", json!({}));
    stack.start_gateway();
    wait_line(c, "during the restart").await;
    say(
        &stack,
        &sid,
        "youtube",
        "quin",
        "after the restart",
        json!({}),
    );
    wait_line(c, "after the restart").await;
    // A late duplicate (a replay overlapping live frames) would show within a moment.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        ever_shown(c).await,
        [
            "before the restart",
            "during the restart",
            "after the restart"
        ],
        "each line exactly once, none lost"
    );

    // ---- the dashboard: hide on overlay, block user, filters, links ----
    let overlay_window = c.window().await.unwrap();
    let dashboard_window = c.new_window(false).await.unwrap().handle;
    c.switch_to_window(dashboard_window.clone()).await.unwrap();
    browser.set_viewport(1280, 900).await;
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(c, "Username", "overlay_streamer").await;
    fill(c, "Password", PASSWORD).await;
    click_button(c, "Log in").await;
    wait_path(c, "/dashboard").await;
    wait_js(
        c,
        "return document.getElementById('conn').dataset.state === 'live';",
        "the dashboard to be live",
        WAIT,
    )
    .await;
    let hide_me = say(&stack, &sid, "twitch", "rae", "hide me please", json!({}));
    let block_me = say(&stack, &sid, "kick", "sam", "block me", json!({}));
    let dash_line = |id: &str| format!("//ol[@id='feed']/li[@data-id='{id}']");
    find(
        c,
        &format!(
            "{}{}",
            dash_line(&block_me.id),
            "//button[normalize-space()='Hide on overlay']"
        ),
    )
    .await;
    find(
        c,
        &format!(
            "{}{}",
            dash_line(&hide_me.id),
            "//button[normalize-space()='Hide on overlay']"
        ),
    )
    .await
    .click()
    .await
    .unwrap();
    wait_js(
        c,
        &format!(
            "return document.querySelector('#feed li[data-id=\"{}\"]').classList.contains('overlay-hidden');",
            hide_me.id
        ),
        "the dashboard to mark the line hidden on overlay",
        WAIT,
    )
    .await;
    find(
        c,
        &format!(
            "{}{}",
            dash_line(&block_me.id),
            "//button[normalize-space()='Block user']"
        ),
    )
    .await
    .click()
    .await
    .unwrap();
    let dimmed = wait_js(
        c,
        &format!(
            "const li = document.querySelector('#feed li[data-id=\"{}\"]'); \
             return li.classList.contains('filtered') && li.querySelector('.filter-tag').textContent;",
            block_me.id
        ),
        "the blocked user's line dimmed in the feed",
        WAIT,
    )
    .await;
    assert_eq!(
        dimmed,
        json!("blocked"),
        "the line stays, dimmed and tagged"
    );
    assert_eq!(
        streamer.get("/api/filters").1["blockedUsers"],
        json!(["sam"]),
        "Block user saved the filters"
    );
    c.switch_to_window(overlay_window.clone()).await.unwrap();
    wait_gone(c, &hide_me.id, "\"Hide on overlay\" to remove the line").await;
    wait_gone(
        c,
        &block_me.id,
        "the blocked user's line to leave the overlay",
    )
    .await;
    assert!(
        ever_shown(c).await.contains(&"hide me please".to_owned()),
        "the line was on the overlay before it was hidden"
    );

    // Filters panel: a highlight word lights up matching lines; the server's sentence on a 400.
    c.switch_to_window(dashboard_window.clone()).await.unwrap();
    fill(c, "Highlight words", "pizza").await;
    click_button(c, "Save filters").await;
    wait_js(
        c,
        "return document.getElementById('filters-status').textContent.startsWith('Saved');",
        "the filters saved",
        WAIT,
    )
    .await;
    let pizza = say(
        &stack,
        &sid,
        "youtube",
        "tia",
        "who wants PIZZA tonight",
        json!({}),
    );
    wait_js(
        c,
        &format!(
            "const li = document.querySelector('#feed li[data-id=\"{}\"]'); \
             return !!li && li.classList.contains('highlight');",
            pizza.id
        ),
        "the line with a highlight word highlighted",
        WAIT,
    )
    .await;
    fill(c, "Blocked users", &"x".repeat(65)).await;
    click_button(c, "Save filters").await;
    let refused = wait_js(
        c,
        "const s = document.getElementById('filters-status'); \
         return s.classList.contains('error') && s.textContent;",
        "the server's sentence for a name that is too long",
        WAIT,
    )
    .await;
    assert!(
        refused.as_str().unwrap().len() > 10 && !refused.as_str().unwrap().contains("answered 400"),
        "the server's own sentence: {refused}"
    );

    // Overlay panel: a new link shown once with its full URL; the options build the URL.
    fill(c, "Overlay label", "Second screen").await;
    click_button(c, "Create overlay link").await;
    let url = wait_js(
        c,
        "const box = document.getElementById('overlay-created'); \
         return !box.hidden && document.getElementById('overlay-new-url').value;",
        "the new link's URL",
        WAIT,
    )
    .await;
    let url = url.as_str().unwrap();
    let new_key = url
        .strip_prefix(&format!("{base}/overlay#key="))
        .unwrap_or_else(|| panic!("a full overlay URL: {url}"));
    assert!(
        new_key.len() == 64 && new_key.bytes().all(|b| b.is_ascii_hexdigit()),
        "{url}"
    );
    let note = c
        .execute(
            "return document.getElementById('overlay-created').textContent;",
            vec![],
        )
        .await
        .unwrap();
    assert!(note.as_str().unwrap().contains("Shown only once"), "{note}");
    c.execute(
        "const t = document.getElementById('opt-theme'); t.value = 'outline'; \
         t.dispatchEvent(new Event('change', { bubbles: true }));",
        vec![],
    )
    .await
    .unwrap();
    fill(c, "Lines kept", "12").await;
    let built = c
        .execute(
            "return document.getElementById('overlay-url').value;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        built,
        json!(format!(
            "{base}/overlay?limit=12&theme=outline#key={new_key}"
        )),
        "the options build the URL, with the key made in this page"
    );
    // The preview is that overlay, live, in the page.
    wait_js(
        c,
        "const f = document.getElementById('overlay-preview'); \
         return !document.getElementById('overlay-preview-box').hidden && f.src.includes('theme=outline') \
           && !!f.contentDocument && f.contentDocument.body && f.contentDocument.body.dataset.state === 'live';",
        "the live preview (the gateway must let /overlay be framed by its own origin: \
         frame-ancestors 'self' and X-Frame-Options SAMEORIGIN)",
        WAIT,
    )
    .await;

    let dir = bin_dir().parent().unwrap().join("e2e/screenshots");
    c.execute(
        "document.getElementById('overlay-title').scrollIntoView();",
        vec![],
    )
    .await
    .unwrap();
    browser
        .screenshot(&dir.join("dashboard-overlay-panel.png"))
        .await;

    // ---- revoking: the open overlay goes blank with its sentence and stays so ----
    c.switch_to_window(overlay_window.clone()).await.unwrap();
    c.execute(
        "window.__sockets = 0; const W = window.WebSocket; \
         window.WebSocket = class extends W { constructor(...a) { super(...a); window.__sockets += 1; } };",
        vec![],
    )
    .await
    .unwrap();
    c.switch_to_window(dashboard_window.clone()).await.unwrap();
    let listed = wait_js(
        c,
        &format!("return !!document.querySelector('#overlay-list li[data-id=\"{link_id}\"]');"),
        "the link in the Overlay panel",
        WAIT,
    )
    .await;
    assert_eq!(listed, json!(true));
    find(
        c,
        &format!(
            "//ul[@id='overlay-list']/li[@data-id='{link_id}']{}",
            button("Revoke")
        ),
    )
    .await
    .click()
    .await
    .unwrap();
    wait_js(
        c,
        &format!(
            "const li = document.querySelector('#overlay-list li[data-id=\"{link_id}\"]'); \
                  return !!li && li.querySelector('.chip').textContent === 'revoked';"
        ),
        "the link listed as revoked",
        WAIT,
    )
    .await;
    c.switch_to_window(overlay_window.clone()).await.unwrap();
    wait_ended_with(c, "This overlay link was revoked").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after = c
        .execute(
            "return [window.__sockets, document.body.dataset.state];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(after, json!([0, "ended"]), "no reconnect after a revoke");

    // The revoked key opens nothing; a wrong key and a missing key say so too.
    c.goto(&format!("{base}/overlay?again=1#key={key}"))
        .await
        .unwrap();
    wait_ended_with(c, "This overlay link was revoked").await;
    c.goto(&format!("{base}/overlay#key={}", "0".repeat(64)))
        .await
        .unwrap();
    wait_ended_with(
        c,
        "This overlay link is not valid; create a new one in the dashboard",
    )
    .await;
    c.goto(&format!("{base}/overlay")).await.unwrap();
    wait_js(
        c,
        "return document.getElementById('overlay-notice').textContent.includes('has no key');",
        "the overlay to say its link has no key",
        WAIT,
    )
    .await;

    // Allowed: the overlay's refused connections while the gateway was down, the login page's
    // "no session yet", and the 400 the Filters panel provoked on purpose.
    let errors = console_errors(
        &browser,
        &[
            "/api/overlay/socket",
            "/api/auth/me - Failed to load resource: the server responded with a status of 401",
            "/api/filters - Failed to load resource: the server responded with a status of 400",
        ],
    );
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    // The key travels only in fragments and join frames: no log line holds it.
    for (path, text) in stack.log_files() {
        assert!(!text.contains(&key), "{} holds the key", path.display());
    }
    browser.quit().await;
    drop(stack);
}
