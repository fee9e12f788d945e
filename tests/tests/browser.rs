//! The web dashboard in a real browser (headless Chromium over WebDriver) against the real stack:
//! the built gateway and three ingest processes.
//!
//! Run: `cargo test -p crosschat-tests --test browser` (builds gateway and ingest first; needs
//! Debian's `chromium` and `chromium-driver`, which `scripts/test` installs). The dashboard
//! screenshot lands in `target/e2e/dashboard.png`.

use std::time::Duration;

use crosschat_tests::browser::{
    button, by_label, click_button, fill, find, wait_js, wait_path, Browser, WAIT,
};
use crosschat_tests::process::bin_dir;
use crosschat_tests::stack::Stack;
use fantoccini::Client;
use serde_json::{json, Value};

/// The WebDriver key code for Enter.
const ENTER: char = '\u{E007}';

fn unique_name(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{}", std::process::id(), n % 100_000)
}

/// The live feed as the user sees it: one entry per line.
async fn feed_lines(client: &Client, list: &str) -> Vec<Value> {
    let script = format!(
        r#"return [...document.querySelectorAll('{list} .msg')].map(li => ({{
            id: li.dataset.id,
            mark: li.querySelector('.plat').textContent,
            platform: li.querySelector('.plat').getAttribute('aria-label'),
            title: li.querySelector('.plat').getAttribute('title'),
            badges: [...li.querySelectorAll('.badge')].map(b => b.textContent),
            user: li.querySelector('.user').textContent,
            colour: getComputedStyle(li.querySelector('.user')).color,
            text: li.querySelector('.text').textContent,
            time: li.querySelector('.ts').textContent,
        }}));"#
    );
    let v = client
        .execute(&script, vec![])
        .await
        .expect("read the feed");
    v.as_array().cloned().unwrap_or_default()
}

async fn wait_feed_len(client: &Client, list: &str, n: usize, what: &str) {
    let script = format!("return document.querySelectorAll('{list} .msg').length === {n};");
    wait_js(client, &script, what, WAIT).await;
}

/// Text of an element by id.
async fn text_of(client: &Client, id: &str) -> String {
    let script = format!("return document.getElementById({}).textContent;", json!(id));
    client
        .execute(&script, vec![])
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

async fn wait_text_contains(client: &Client, id: &str, needle: &str) {
    let script = format!(
        "const el = document.getElementById({}); return !!el && !el.hidden && el.textContent.includes({});",
        json!(id),
        json!(needle)
    );
    let what = format!(
        "#{id} to say {needle:?} (it says {:?})",
        text_of(client, id).await
    );
    wait_js(client, &script, &what, WAIT).await;
}

async fn wait_connection(client: &Client, state: &str, timeout: Duration) {
    let script = format!(
        "return document.getElementById('conn').dataset.state === {};",
        json!(state)
    );
    wait_js(
        client,
        &script,
        &format!("the connection state {state:?}"),
        timeout,
    )
    .await;
}

/// Every form field has a `<label>`, every button a name from its own text, nothing is an
/// unlabelled click target: what screen readers (and these tests) rely on.
async fn assert_labelled(client: &Client, page: &str) {
    let problems = client
        .execute(
            r#"const out = [];
               for (const el of document.querySelectorAll('input, select, textarea')) {
                 if (el.type !== 'hidden' && el.labels.length === 0) out.push('field without a label: #' + el.id);
               }
               for (const b of document.querySelectorAll('button')) {
                 if (!b.textContent.trim()) out.push('button without text: #' + b.id);
               }
               for (const el of document.querySelectorAll('[onclick], div[tabindex], span[tabindex]')) {
                 out.push('non-button click target: ' + el.outerHTML.slice(0, 80));
               }
               return out;"#,
            vec![],
        )
        .await
        .expect("inspect the page");
    assert_eq!(problems, json!([]), "on {page}");
}

/// Registers through the form (checking the client-side rule on the way), logs out, logs in.
async fn sign_up_and_log_in(client: &Client, base: &str, username: &str, password: &str) {
    client
        .goto(&format!("{base}/"))
        .await
        .expect("open the landing page");
    find(client, "//a[normalize-space()='Start streaming']")
        .await
        .click()
        .await
        .expect("click Start streaming");
    wait_path(client, "/register").await;
    assert_labelled(client, "/register").await;

    // The client refuses what the server would, with a sentence, before sending anything.
    fill(client, "Username", username).await;
    fill(client, "Password", "abc").await;
    click_button(client, "Register").await;
    wait_text_contains(client, "password-error", "at least 6").await;
    assert_eq!(client.current_url().await.unwrap().path(), "/register");

    fill(client, "Password", password).await;
    click_button(client, "Register").await;
    wait_path(client, "/dashboard").await;
    wait_text_contains(client, "nav-username", username).await;

    click_button(client, "Log out").await;
    wait_path(client, "/login").await;
    fill(client, "Username", username).await;
    fill(client, "Password", password).await;
    click_button(client, "Log in").await;
    wait_path(client, "/dashboard").await;
    wait_connection(client, "live", WAIT).await;
}

/// Selects a platform tab and sets the simulator's fields, then sends with Enter.
async fn simulate(
    client: &Client,
    platform: &str,
    user: &str,
    badges: &[&str],
    colour: &str,
    text: &str,
) {
    click_button(client, platform).await;
    fill(client, "Username", user).await;
    for badge in ["VIP", "MOD", "SUB"] {
        let want = badges.contains(&badge);
        let script = format!(
            "return document.getElementById(document.evaluate(\"//label[normalize-space()='{badge}']\", \
             document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue.htmlFor).checked;"
        );
        let checked = client
            .execute(&script, vec![])
            .await
            .expect("read a toggle")
            == json!(true);
        if checked != want {
            find(client, &format!("//label[normalize-space()='{badge}']"))
                .await
                .click()
                .await
                .expect("toggle a badge");
        }
    }
    // A colour input has no keyboard text entry in WebDriver; set it as the picker would.
    let set_colour = format!(
        r#"const el = document.evaluate({xpath}, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
           el.value = arguments[0];
           el.dispatchEvent(new Event('input', {{ bubbles: true }}));
           el.dispatchEvent(new Event('change', {{ bubbles: true }}));
           return el.value;"#,
        xpath = json!(by_label("Colour"))
    );
    let set = client
        .execute(&set_colour, vec![json!(colour)])
        .await
        .expect("set the colour");
    assert_eq!(set, json!(colour));

    client
        .execute(
            "document.getElementById('sim-status').textContent = '';",
            vec![],
        )
        .await
        .unwrap();
    let message = find(client, &by_label("Message")).await;
    message.clear().await.unwrap();
    message
        .send_keys(&format!("{text}{ENTER}"))
        .await
        .expect("type the message and press Enter");
    wait_text_contains(client, "sim-status", &format!("Sent to {platform}.")).await;
    // The text is cleared; the user name stays for the next message.
    let after = client
        .execute(
            "return [document.getElementById('sim-text').value, document.getElementById('sim-user').value];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        after,
        json!(["", user]),
        "after sending, only the text is cleared"
    );
}

/// Posts messages through the producer routes from inside the page (same session cookie).
async fn post_from_page(client: &Client, messages: Value) {
    let script = r#"
        const done = arguments[arguments.length - 1];
        (async () => {
          for (const [platform, body] of arguments[0]) {
            const res = await fetch('/api/producers/' + platform, {
              method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
            });
            if (res.status !== 202) return done('HTTP ' + res.status + ' ' + await res.text());
          }
          done('ok');
        })().catch((e) => done(String(e)));
    "#;
    let r = client
        .execute_async(script, vec![messages])
        .await
        .expect("post messages from the page");
    assert_eq!(r, json!("ok"));
}

/// The browser's console errors, minus the expected "who am I" 401 of a logged-out page.
fn unexpected_console_errors(browser: &Browser) -> Vec<String> {
    browser
        .console_errors()
        .into_iter()
        .filter(|e| !(e.contains("/api/auth/me") && e.contains("401")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_streamer_runs_a_stream_from_the_dashboard() {
    let stack = Stack::start();
    let browser = Browser::start(1280, 720).await;
    let c = &browser.client;
    let base = stack.base_url.clone();
    let username = unique_name("streamer");

    sign_up_and_log_in(c, &base, &username, "correct horse battery").await;

    assert_labelled(c, "/dashboard").await;
    click_button(c, "Start New Stream").await;
    wait_text_contains(c, "session-title", "Live now").await;
    wait_text_contains(c, "control-status", "Stream started").await;

    // One message per platform, each with badges and a colour, sent by clicking and typing.
    simulate(
        c,
        "Twitch",
        "alice_t",
        &["VIP", "SUB"],
        "#ff4500",
        "hello from twitch",
    )
    .await;
    simulate(
        c,
        "YouTube",
        "bob_yt",
        &["MOD"],
        "#1e90ff",
        "hello from youtube",
    )
    .await;
    simulate(c, "Kick", "carol_k", &["SUB"], "#2ecc71", "hello from kick").await;
    wait_feed_len(c, "#feed", 3, "three messages in the live feed").await;

    let lines = feed_lines(c, "#feed").await;
    let expect = [
        (
            "T",
            "Twitch",
            vec!["VIP", "SUB"],
            "alice_t",
            "rgb(255, 69, 0)",
            "hello from twitch",
        ),
        (
            "YT",
            "YouTube",
            vec!["MOD"],
            "bob_yt",
            "rgb(30, 144, 255)",
            "hello from youtube",
        ),
        (
            "K",
            "Kick",
            vec!["SUB"],
            "carol_k",
            "rgb(46, 204, 113)",
            "hello from kick",
        ),
    ];
    for (mark, platform, badges, user, colour, text) in expect {
        let line = lines
            .iter()
            .find(|l| l["text"] == text)
            .unwrap_or_else(|| panic!("no line {text:?} in {lines:#?}"));
        assert_eq!(line["mark"], mark, "{line}");
        assert_eq!(line["platform"], platform, "{line}");
        assert_eq!(line["title"], platform, "{line}");
        assert_eq!(line["badges"], json!(badges), "{line}");
        assert_eq!(line["user"], user, "{line}");
        assert_eq!(line["colour"], colour, "{line}");
        assert!(
            line["time"].as_str().is_some_and(|t| t.contains(':')),
            "a local time on {line}"
        );
    }
    wait_text_contains(c, "message-count", "3").await;

    // Untrusted text is text: the payload shows as typed, no element is made, nothing runs.
    c.execute(
        "window.__xss = 0; window.alert = () => { window.__xss += 1; };",
        vec![],
    )
    .await
    .unwrap();
    let payload = "<img src=x onerror=alert(1)>";
    simulate(c, "Twitch", "alice_t", &["VIP", "SUB"], "#ff4500", payload).await;
    wait_feed_len(c, "#feed", 4, "the XSS line in the feed").await;
    let lines = feed_lines(c, "#feed").await;
    assert!(lines.iter().any(|l| l["text"] == payload), "{lines:#?}");
    let probe = c
        .execute(
            "return [document.querySelectorAll('#feed img').length, \
                     document.querySelectorAll('img[src=\"x\"]').length, window.__xss];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        probe,
        json!([0, 0, 0]),
        "[img in feed, img src=x anywhere, alert calls]"
    );
    assert!(c.get_alert_text().await.is_err(), "no alert may be open");

    // A livelier feed for the screenshot (through the same producer routes, from the page).
    post_from_page(
        c,
        json!([
            ["youtube", {"user": "NightOwl", "text": "reminder: be nice in chat, everyone", "isMod": true, "color": "#ffb020"}],
            ["twitch", {"user": "pixel_pilot", "text": "that clutch was insane", "isSub": true, "color": "#ff7eb6"}],
            ["kick", {"user": "greenlight", "text": "first time on Kick, hi from Prague!", "isVip": true, "color": "#53fc18"}],
            ["twitch", {"user": "mara_k", "text": "GG", "color": "#6cb6ff"}],
            ["youtube", {"user": "Streamfan99", "text": "what settings do you use for the stream?", "isSub": true, "color": "#c792ea"}],
            ["kick", {"user": "n0va", "text": "clip it!", "isSub": true, "isVip": true, "color": "#00e5ff"}],
            ["twitch", {"user": "modmin", "text": "welcome to all the new followers", "isMod": true, "isSub": true, "color": "#3ddc97"}],
            ["youtube", {"user": "quietviewer", "text": "long-time lurker, first message: love the content"}],
        ]),
    )
    .await;
    wait_feed_len(c, "#feed", 12, "twelve messages in the live feed").await;
    wait_text_contains(c, "message-count", "12").await;
    let live = feed_lines(c, "#feed").await;
    let ids: std::collections::HashSet<_> = live.iter().map(|l| l["id"].clone()).collect();
    assert_eq!(ids.len(), 12, "every message once");

    // Screenshot artifacts: the desktop dashboard, and the same page at a phone's width.
    tokio::time::sleep(Duration::from_millis(1500)).await; // let the arrival highlight fade
    let e2e = bin_dir().parent().expect("target dir").join("e2e");
    browser.screenshot(&e2e.join("dashboard.png")).await;
    browser.set_viewport(390, 844).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    browser.screenshot(&e2e.join("dashboard-phone.png")).await;
    browser.set_viewport(1280, 720).await;

    // End & Archive, then the session is in History with its count and whole transcript.
    click_button(c, "End & Archive").await;
    wait_text_contains(c, "control-status", "Stream archived with 12 messages").await;
    wait_text_contains(c, "session-title", "No active stream").await;
    wait_feed_len(c, "#feed", 0, "an empty live feed after archiving").await;

    click_button(c, "History").await;
    let count_cell = find(
        c,
        "//table[@id='sessions-table']//tbody/tr[1]/td[contains(@class,'message-count')]",
    )
    .await;
    assert_eq!(count_cell.text().await.unwrap(), "12");
    browser.screenshot(&e2e.join("history.png")).await;
    let row_text = find(c, "//table[@id='sessions-table']//tbody/tr[1]")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !row_text.contains("Live now"),
        "the archived session has ended: {row_text}"
    );
    find(
        c,
        "//table[@id='sessions-table']//tbody/tr[1]//button[normalize-space()='View transcript']",
    )
    .await
    .click()
    .await
    .unwrap();
    wait_feed_len(c, "#transcript", 12, "the whole transcript").await;
    let transcript = feed_lines(c, "#transcript").await;
    // What must match between the live feed and the transcript, line by line.
    let summary = |l: &Value| {
        (
            l["id"].clone(),
            l["text"].clone(),
            l["colour"].clone(),
            l["mark"].clone(),
        )
    };
    let mut live_texts: Vec<_> = live.iter().map(summary).collect();
    let mut archived: Vec<_> = transcript.iter().map(summary).collect();
    live_texts.sort_by_key(|t| t.0.to_string());
    archived.sort_by_key(|t| t.0.to_string());
    assert_eq!(
        archived, live_texts,
        "the transcript shows the same messages, in the same style"
    );
    wait_text_contains(c, "transcript-meta", "12 messages").await;
    let imgs = c
        .execute(
            "return document.querySelectorAll('#transcript img').length;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(imgs, json!(0));

    click_button(c, "Back to live").await;
    wait_js(
        c,
        "return !document.getElementById('live-view').hidden && document.getElementById('transcript-view').hidden;",
        "the live view again",
        WAIT,
    )
    .await;

    let errors = unexpected_console_errors(&browser);
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    browser.quit().await;
    drop(stack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_survives_a_gateway_restart() {
    let mut stack = Stack::start();
    let browser = Browser::start(1280, 720).await;
    let c = &browser.client;
    let base = stack.base_url.clone();
    let username = unique_name("restart");

    sign_up_and_log_in(c, &base, &username, "correct horse battery").await;
    click_button(c, "Start New Stream").await;
    wait_text_contains(c, "session-title", "Live now").await;
    simulate(
        c,
        "Twitch",
        "before",
        &[],
        "#ff4500",
        "sent before the restart",
    )
    .await;
    wait_feed_len(c, "#feed", 1, "the first message").await;

    let me = c
        .execute_async(
            "const done = arguments[0]; fetch('/api/auth/me').then(r => r.json()).then(d => done(d.user.id), e => done(null));",
            vec![],
        )
        .await
        .unwrap();
    let streamer_id = me.as_str().expect("my user id").to_owned();

    stack.stop_gateway();
    wait_connection(c, "reconnecting", WAIT).await;
    let shown = text_of(c, "conn-text").await;
    assert!(
        shown.starts_with("Reconnecting") && shown.contains("of 10"),
        "the state names the retry: {shown:?}"
    );

    // Sent while the gateway is down: straight into the ingest, so it waits in the ring.
    let id = stack.produce_via_ingest(
        "kick",
        &streamer_id,
        "during",
        "sent while the gateway was down",
    );

    // Down long enough for several refused tries: the page keeps counting them.
    let script = "const t = document.getElementById('conn-text').textContent; \
                  const m = t.match(/try (\\d+) of 10/); return !!m && Number(m[1]) >= 3;";
    wait_js(
        c,
        script,
        "a third reconnect try while the gateway is down",
        Duration::from_secs(20),
    )
    .await;

    stack.start_gateway();
    // 1 s doubling with jitter: well within 30 s unless the page stopped trying.
    wait_connection(c, "live", Duration::from_secs(30)).await;
    let selector = format!("#feed .msg[data-id=\"{id}\"]");
    let script = format!(
        "return document.querySelectorAll({}).length === 1;",
        json!(selector)
    );
    wait_js(c, &script, "the message sent during the restart", WAIT).await;

    // A later duplicate (replay after `since`, or a second join) would show up within a moment.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let lines = feed_lines(c, "#feed").await;
    let during: Vec<_> = lines
        .iter()
        .filter(|l| l["text"] == "sent while the gateway was down")
        .collect();
    assert_eq!(during.len(), 1, "exactly once: {lines:#?}");
    assert_eq!(lines.len(), 2, "nothing doubled or lost: {lines:#?}");

    // And the feed is live again.
    simulate(
        c,
        "YouTube",
        "after",
        &[],
        "#1e90ff",
        "sent after the restart",
    )
    .await;
    wait_feed_len(c, "#feed", 3, "the message sent after the restart").await;

    browser.quit().await;
    drop(stack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_sends_a_visitor_without_a_session_to_log_in() {
    let stack = Stack::start();
    let browser = Browser::start(1280, 720).await;
    let c = &browser.client;
    c.goto(&format!("{}/dashboard", stack.base_url))
        .await
        .unwrap();
    wait_path(c, "/login").await;
    find(c, &button("Log in")).await;
    find(c, &by_label("Username")).await;
    find(c, &by_label("Password")).await;
    // Wrong credentials: the server's sentence, in the page.
    fill(c, "Username", "nobody_here").await;
    fill(c, "Password", "wrong password").await;
    click_button(c, "Log in").await;
    wait_text_contains(c, "form-error", "wrong").await;
    // The refused login is in the console log: proof that the "no console errors" check of the
    // first test reads a log that really records errors.
    let errors = browser.console_errors();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("/api/auth/login") && e.contains("401")),
        "the browser log should show the 401 of the login: {errors:#?}"
    );
    browser.quit().await;
    drop(stack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_follows_new_messages_unless_the_reader_scrolled_up() {
    let stack = Stack::start();
    let browser = Browser::start(1280, 720).await;
    let c = &browser.client;
    let username = unique_name("scroller");
    sign_up_and_log_in(c, &stack.base_url, &username, "correct horse battery").await;

    let burst: Vec<Value> = (0..40)
        .map(|i| json!(["twitch", {"user": "chatty", "text": format!("line {i}")}]))
        .collect();
    post_from_page(c, Value::Array(burst)).await;
    wait_feed_len(c, "#feed", 40, "forty messages").await;
    let at_bottom = "const f = document.getElementById('feed'); \
                     return f.scrollHeight - f.scrollTop - f.clientHeight <= 48;";
    wait_js(c, at_bottom, "the feed to follow the newest message", WAIT).await;

    // Scrolled up, a new message does not move the view: a pill offers to jump instead.
    c.execute(
        "const f = document.getElementById('feed'); f.scrollTop = 0; f.dispatchEvent(new Event('scroll'));",
        vec![],
    )
    .await
    .unwrap();
    post_from_page(c, json!([["kick", {"user": "late", "text": "a new one"}]])).await;
    wait_feed_len(c, "#feed", 41, "the new message").await;
    let pill = find(
        c,
        "//button[starts-with(normalize-space(), '1 new message')]",
    )
    .await;
    let top = c
        .execute("return document.getElementById('feed').scrollTop;", vec![])
        .await
        .unwrap();
    assert_eq!(top, json!(0), "the view stayed where the reader was");

    pill.click().await.unwrap();
    wait_js(c, at_bottom, "the pill to jump to the newest message", WAIT).await;
    wait_js(
        c,
        "return document.getElementById('new-pill').hidden;",
        "the pill to go away",
        WAIT,
    )
    .await;
    browser.quit().await;
    drop(stack);
}

/// The reconnect schedule of the dashboard's connection module, run in the browser with its timers
/// sped up: 1 s doubling to 30 s with ±20 % jitter, ten tries, then "failed" until Retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_back_off_exponentially_then_give_up_until_retry() {
    let stack = Stack::start();
    let browser = Browser::start(1280, 720).await;
    let c = &browser.client;
    c.goto(&format!("{}/login", stack.base_url)).await.unwrap();
    // Nobody listens on this port: every try is refused at once.
    let dead = format!(
        "ws://127.0.0.1:{}/api/socket",
        crosschat_tests::process::free_port()
    );
    let script = r#"
        const [url, done] = [arguments[0], arguments[arguments.length - 1]];
        const realSetTimeout = window.setTimeout.bind(window);
        // Every timer 1000× faster; the waits themselves are read from the reported states.
        window.setTimeout = (fn, ms, ...rest) => realSetTimeout(fn, Math.ceil((ms || 0) / 1000), ...rest);
        const states = window.__states = [];
        import('/assets/connection.js').then(({ Connection }) => {
          let retried = false;
          const conn = new Connection({
            url, onOpen() {}, onFrame() {},
            onState(s) {
              states.push({ kind: s.kind, attempt: s.attempt ?? null, wait: s.retryAt ? s.retryAt - Date.now() : null });
              if (s.kind === 'failed' && !retried) {
                retried = true;
                realSetTimeout(() => conn.retry(), 10);
              } else if (retried && s.kind !== 'failed') {
                conn.stop();
                window.__done = true;
              }
            },
          });
          conn.start();
          done('started');
        }, (e) => done(String(e)));
    "#;
    let started = c
        .execute_async(script, vec![json!(dead)])
        .await
        .expect("load the connection module");
    assert_eq!(started, json!("started"));
    // Chromium reports a refused WebSocket with `error` and may never send `close`: the module
    // must go on to its next try anyway (it used to wait for `close` forever).
    let t0 = std::time::Instant::now();
    wait_js(
        c,
        "return window.__done === true;",
        "ten tries, failed, then Retry",
        Duration::from_secs(30),
    )
    .await;
    eprintln!("the sped-up schedule took {:?}", t0.elapsed());
    let states = c.execute("return window.__states;", vec![]).await.unwrap();
    let states = states.as_array().expect("a list of states").clone();
    assert_eq!(states[0]["kind"], "connecting", "{states:#?}");
    for attempt in 1..=10u32 {
        let s = &states[attempt as usize];
        assert_eq!(s["kind"], "reconnecting", "{states:#?}");
        assert_eq!(s["attempt"], attempt, "{states:#?}");
        let base = (1000u64 << (attempt - 1)).min(30_000) as f64;
        let wait = s["wait"].as_f64().expect("a wait");
        assert!(
            wait >= base * 0.8 - 5.0 && wait <= (base * 1.2).min(30_000.0) + 5.0,
            "try {attempt} waits {wait} ms; expected about {base} ms ±20 %"
        );
    }
    assert_eq!(states[11]["kind"], "failed", "{states:#?}");
    assert_eq!(
        states[12]["kind"], "connecting",
        "Retry starts over: {states:#?}"
    );
    browser.quit().await;
    drop(stack);
}
