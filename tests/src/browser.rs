//! Headless Chromium driven over WebDriver (Debian's `chromium` + `chromium-driver`) through
//! fantoccini, plus the small helpers the browser tests share: find by label or button text, wait
//! for a condition in the page, read the browser's console log.
//!
//! Each [`Browser`] starts its own `chromedriver` on a free port in its own process group, with a
//! throw-away profile directory; [`Browser::quit`] (or drop) ends the session and kills the group,
//! Chromium's children included.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use rustix::process::{Pid, Signal};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::process::free_port;

/// Where Debian installs the browser and its driver (override with `CROSSCHAT_CHROMIUM` and
/// `CROSSCHAT_CHROMEDRIVER`).
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The default wait for something to appear in the page.
pub const WAIT: Duration = Duration::from_secs(15);

fn tool(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// Fails — never skips — when the browser is not installed, saying how to get it.
pub fn require_chromium() -> (PathBuf, PathBuf) {
    let chromium = tool("CROSSCHAT_CHROMIUM", CHROMIUM);
    let driver = tool("CROSSCHAT_CHROMEDRIVER", CHROMEDRIVER);
    for (path, package) in [(&chromium, "chromium"), (&driver, "chromium-driver")] {
        assert!(
            path.exists(),
            "{} is not installed, so the browser tests cannot run: run `scripts/test`, which installs \
             Debian's chromium and chromium-driver (or `sudo apt-get install chromium chromium-driver`), \
             or point CROSSCHAT_CHROMIUM / CROSSCHAT_CHROMEDRIVER at them. Missing package: {package}.",
            path.display()
        );
    }
    (chromium, driver)
}

/// A headless Chromium session and the chromedriver serving it.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    driver: Option<Child>,
    driver_url: String,
    session_id: String,
    _profile: TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a `width`×`height` window.
    pub async fn start(width: u32, height: u32) -> Browser {
        let (chromium, driver_path) = require_chromium();
        let port = free_port();
        let mut cmd = Command::new(&driver_path);
        cmd.arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so killing the group takes Chromium and its helpers too.
            .process_group(0);
        let mut driver = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", driver_path.display()));
        let driver_url = format!("http://127.0.0.1:{port}");
        wait_for_driver(&driver_url, &mut driver);

        let profile = tempfile::Builder::new()
            .prefix("crosschat-chromium-")
            .tempdir()
            .expect("a profile directory");
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
                    "--disable-features=Translate,MediaRouter,OptimizationHints",
                    "--lang=en-GB",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
            "goog:loggingPrefs": { "browser": "ALL" },
            // An alert would be left open so the test can see it (the XSS check).
            "unhandledPromptBehavior": "ignore",
        });
        let caps = match caps {
            Value::Object(map) => map,
            _ => unreachable!("a JSON object literal"),
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = match ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&driver_url)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                kill_group(&mut driver);
                panic!("chromedriver could not start a Chromium session: {e}");
            }
        };
        let session_id = client
            .session_id()
            .await
            .ok()
            .flatten()
            .expect("a WebDriver session id");
        let browser = Browser {
            client,
            driver: Some(driver),
            driver_url,
            session_id,
            _profile: profile,
        };
        // --window-size sizes the window; the viewport is what the page sees. Make it exact.
        browser.set_viewport(width, height).await;
        browser
    }

    /// Resizes the window so that the page's viewport is `width`×`height`.
    pub async fn set_viewport(&self, width: u32, height: u32) {
        let _ = self.client.set_window_size(width, height).await;
        let inner = self
            .client
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await
            .ok()
            .and_then(|v| Some((v[0].as_i64()?, v[1].as_i64()?)));
        if let Some((w, h)) = inner {
            let (want_w, want_h) = (i64::from(width), i64::from(height));
            if (w, h) != (want_w, want_h) {
                let outer_w = (2 * want_w - w).max(200) as u32;
                let outer_h = (2 * want_h - h).max(200) as u32;
                let _ = self.client.set_window_size(outer_w, outer_h).await;
            }
        }
    }

    /// Console entries of level SEVERE since the last call (chromedriver's log endpoint).
    pub fn console_errors(&self) -> Vec<String> {
        let url = format!("{}/session/{}/se/log", self.driver_url, self.session_id);
        let res = ureq::post(&url).send_json(json!({ "type": "browser" }));
        let mut body = match res {
            Ok(r) => r,
            Err(e) => return vec![format!("could not read the browser log: {e}")],
        };
        let v: Value = body.body_mut().read_json().unwrap_or(Value::Null);
        v["value"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Saves a PNG screenshot of the viewport.
    pub async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.expect("a screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot directory");
        }
        std::fs::write(path, png).expect("write the screenshot");
    }

    /// Ends the session and stops chromedriver and Chromium.
    pub async fn quit(mut self) {
        let client = self.client.clone();
        let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        if let Some(mut driver) = self.driver.take() {
            kill_group(&mut driver);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(mut driver) = self.driver.take() {
            kill_group(&mut driver);
        }
    }
}

fn wait_for_driver(url: &str, driver: &mut Child) {
    let status = format!("{url}/status");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut res) = ureq::get(&status).call() {
            let v: Value = res.body_mut().read_json().unwrap_or(Value::Null);
            if v["value"]["ready"] == true {
                return;
            }
        }
        if let Ok(Some(st)) = driver.try_wait() {
            panic!("chromedriver exited at start ({st})");
        }
        if Instant::now() > deadline {
            kill_group(driver);
            panic!("chromedriver did not report ready at {status} within 20 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills chromedriver's whole process group (Chromium and its helpers) and reaps the driver.
fn kill_group(driver: &mut Child) {
    if let Some(pid) = Pid::from_raw(driver.id() as i32) {
        let _ = rustix::process::kill_process_group(pid, Signal::KILL);
    }
    let _ = driver.kill();
    let _ = driver.wait();
}

// ---------- finding things the way a user (or a screen reader) does ----------

/// XPath string literal for any text (handles both quote kinds).
pub fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

/// The form control whose `<label>` reads `label`.
pub fn by_label(label: &str) -> String {
    format!(
        "//*[@id=//label[normalize-space()={}]/@for]",
        xpath_literal(label)
    )
}

/// The `<button>` named by its text.
pub fn button(text: &str) -> String {
    format!("//button[normalize-space()={}]", xpath_literal(text))
}

/// Finds an element by XPath, waiting up to [`WAIT`].
pub async fn find(client: &Client, xpath: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(xpath))
        .await
        .unwrap_or_else(|e| panic!("no element {xpath} within {WAIT:?}: {e}"))
}

/// Clicks the button named `text`.
pub async fn click_button(client: &Client, text: &str) {
    find(client, &button(text))
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("could not click the button {text:?}: {e}"));
}

/// Clears the field labelled `label` and types `text` into it.
pub async fn fill(client: &Client, label: &str, text: &str) {
    let field = find(client, &by_label(label)).await;
    field.clear().await.expect("clear a field");
    field
        .send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("could not type into {label:?}: {e}"));
}

/// Runs `script` (a function body that returns a value) every 100 ms until it returns something
/// truthy; returns that value. Panics after `timeout` naming `what` and the last value seen.
pub async fn wait_js(client: &Client, script: &str, what: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    let mut last: Value;
    loop {
        match client.execute(script, vec![]).await {
            Ok(v) => {
                let truthy = match &v {
                    Value::Null => false,
                    Value::Bool(b) => *b,
                    Value::Number(n) => n.as_f64() != Some(0.0),
                    Value::String(s) => !s.is_empty(),
                    _ => true,
                };
                if truthy {
                    return v;
                }
                last = v;
            }
            Err(e) => last = Value::String(format!("script error: {e}")),
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what} (last value: {last})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the page's path is `path`.
pub async fn wait_path(client: &Client, path: &str) {
    let script = format!("return location.pathname === {};", json!(path));
    wait_js(client, &script, &format!("the page {path}"), WAIT).await;
}
