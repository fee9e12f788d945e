//! The YouTube connector: reads the live chat of every linked stream through the official
//! YouTube Data API v3 with the streamer's own API key, within the key's daily quota.
//!
//! - [`link`]: what a linked channel string names (video id, `UC…` channel id, `@handle`, URLs);
//! - [`api`]: HTTP (blocking `ureq` on the blocking pool), Google's error bodies, key scrubbing;
//! - [`quota`]: units per day, the reset at midnight Pacific, pacing the polls to last the day;
//! - [`quota_file`]: the day's count kept in the runtime directory across restarts;
//! - [`poller`]: one task per linked channel: find the live chat, poll it, follow it to its end;
//! - [`map`]: response pages → normalised events.
//!
//! One task per channel, so a slow or failing channel never delays another; the quota is one
//! budget per key, shared by all of them.

pub mod api;
pub mod link;
pub mod map;
pub mod poller;
pub mod quota;
pub mod quota_file;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::{ChannelState, ConnectorCtx};
use api::Api;
use quota::{Clock, Quota, SystemClock};
use quota_file::{QuotaFile, QuotaSaver};

/// The sentence of a linked channel when no API key is configured.
pub const NO_KEY: &str =
    "YouTube needs an API key: set CROSSCHAT_YOUTUBE_API_KEY (see the README for how to get one)";

/// The connector's timings. The defaults are the real ones; tests shorten them, in process
/// through [`Options`], or in a real process through these **test-only** variables (ms):
/// `CROSSCHAT_YOUTUBE_TEST_IDLE_RECHECK_MS`, `CROSSCHAT_YOUTUBE_TEST_SEARCH_INTERVAL_MS`,
/// `CROSSCHAT_YOUTUBE_TEST_HTTP_TIMEOUT_MS`, `CROSSCHAT_YOUTUBE_TEST_BACKOFF_BASE_MS`, and
/// `CROSSCHAT_YOUTUBE_TEST_CLOCK_OFFSET_MS` (shifts the quota clock, to stand near a reset).
#[derive(Debug, Clone)]
pub struct Timing {
    /// How often a scheduled video is checked for its start (2 min).
    pub idle_recheck: Duration,
    /// How often a channel that is not live is searched (15 min: search costs 100 units).
    pub search_interval: Duration,
    /// Longest wait for one HTTP answer (10 s).
    pub http_timeout: Duration,
    /// First retry delay after an error (1 s, doubling to 60×).
    pub backoff_base: Duration,
    /// Shortest interval between two chat polls (`--youtube-min-poll-ms`).
    pub min_poll: Duration,
}

impl Timing {
    /// The real timings, with `min_poll` from the flag.
    pub fn real(min_poll_ms: u64) -> Timing {
        Timing {
            idle_recheck: Duration::from_secs(120),
            search_interval: Duration::from_secs(15 * 60),
            http_timeout: Duration::from_secs(10),
            backoff_base: Duration::from_secs(1),
            min_poll: Duration::from_millis(min_poll_ms),
        }
    }

    /// The real timings, overridden by the test-only variables that are set.
    pub fn from_env(min_poll_ms: u64) -> Timing {
        let mut t = Timing::real(min_poll_ms);
        let var = |name: &str, d: &mut Duration| {
            if let Some(ms) = std::env::var(format!("CROSSCHAT_YOUTUBE_TEST_{name}_MS"))
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
            {
                *d = Duration::from_millis(ms);
            }
        };
        var("IDLE_RECHECK", &mut t.idle_recheck);
        var("SEARCH_INTERVAL", &mut t.search_interval);
        var("HTTP_TIMEOUT", &mut t.http_timeout);
        var("BACKOFF_BASE", &mut t.backoff_base);
        t
    }
}

/// What a run of the connector is configured with besides its [`ConnectorCtx`].
#[derive(Clone)]
pub struct Options {
    /// Timings.
    pub timing: Timing,
    /// The quota's clock (the system clock outside tests).
    pub clock: Arc<dyn Clock>,
}

impl Options {
    /// From the endpoints and the test-only variables.
    pub fn from_env(min_poll_ms: u64) -> Options {
        let offset_ms = std::env::var("CROSSCHAT_YOUTUBE_TEST_CLOCK_OFFSET_MS")
            .ok()
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        Options {
            timing: Timing::from_env(min_poll_ms),
            clock: Arc::new(SystemClock { offset_ms }),
        }
    }
}

/// What every channel task shares.
pub struct Shared {
    /// The connector's context.
    pub ctx: ConnectorCtx,
    /// The API client.
    pub api: Api,
    /// The key's daily budget.
    pub quota: Quota,
    /// Timings.
    pub timing: Timing,
    /// `@handle` → channel id, looked up once per process.
    pub handles: Mutex<HashMap<String, String>>,
}

impl Shared {
    /// Copies the units spent and left today, and the daily budget, to the metrics.
    pub fn publish_quota(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let (used, left, _) = self.quota.usage();
        let m = &self.ctx.metrics;
        m.quota_used.store(used, Relaxed);
        m.quota_left.store(left, Relaxed);
        m.quota_daily.store(used + left, Relaxed);
    }
}

/// Reads every linked YouTube channel until shutdown.
pub async fn run(ctx: ConnectorCtx) {
    let opts = Options::from_env(ctx.endpoints.youtube_min_poll_ms);
    run_with(ctx, opts).await
}

/// [`run`] with explicit timings and clock (tests).
pub async fn run_with(ctx: ConnectorCtx, opts: Options) {
    let mut links = ctx.links.clone();
    if ctx.endpoints.youtube_api_key.is_empty() {
        tracing::warn!("no YouTube API key: every linked YouTube channel shows an error");
        loop {
            let current = links.borrow_and_update().clone();
            ctx.status.retain(|c| current.contains_key(c));
            for channel in current.keys() {
                ctx.status.set(channel, ChannelState::Error, NO_KEY);
            }
            tokio::select! {
                r = links.changed() => if r.is_err() { return },
                _ = ctx.stopped() => return,
            }
        }
    }
    let quota = Quota::new(
        ctx.endpoints.youtube_daily_quota,
        Duration::from_secs(ctx.endpoints.youtube_quota_hours.clamp(1, 24) * 3600),
        opts.clock.clone(),
    );
    let mut saver = ctx.endpoints.youtube_quota_dir.as_deref().map(|dir| {
        let file = QuotaFile::for_key(dir, ctx.endpoints.youtube_api_key.expose());
        QuotaSaver::open(file, &quota)
    });
    let mut save_tick = tokio::time::interval(quota_file::SAVE_EVERY);
    save_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let shared = Arc::new(Shared {
        api: Api::new(
            &ctx.endpoints.youtube_api_url,
            ctx.endpoints.youtube_api_key.clone(),
            opts.timing.http_timeout,
        ),
        quota,
        timing: opts.timing.clone(),
        handles: Mutex::new(HashMap::new()),
        ctx: ctx.clone(),
    });
    shared.publish_quota();
    let mut tasks: HashMap<String, AbortOnDrop> = HashMap::new();
    loop {
        let current = links.borrow_and_update().clone();
        tasks.retain(|c, _| current.contains_key(c));
        ctx.status.retain(|c| current.contains_key(c));
        for channel in current.keys() {
            if !tasks.contains_key(channel) {
                let task = tokio::spawn(poller::supervise_channel(shared.clone(), channel.clone()));
                tasks.insert(channel.clone(), AbortOnDrop(task));
            }
        }
        // Until the links change or the process stops, saving the quota count meanwhile.
        let changed = loop {
            tokio::select! {
                r = links.changed() => break r.is_ok(),
                _ = ctx.stopped() => break false,
                _ = save_tick.tick(), if saver.is_some() => {
                    if let Some(s) = saver.as_mut() {
                        s.save_if_changed(&shared.quota);
                    }
                }
            }
        };
        if !changed {
            // The channel tasks stop first, so the last save holds every unit they spent.
            drop(tasks);
            if let Some(s) = saver.as_mut() {
                s.save_if_changed(&shared.quota);
            }
            return;
        }
    }
}

/// A task that is cancelled when its handle is dropped (an unlinked channel, shutdown).
pub struct AbortOnDrop(pub JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// "6 h", "2 min", "15 min", "5 s", "300 ms": a duration for a sentence.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    let (min, rest) = (ms / 60_000, ms % 60_000);
    if min >= 120 && rest == 0 && min % 60 == 0 {
        format!("{} h", min / 60)
    } else if min > 0 && rest == 0 {
        format!("{min} min")
    } else if ms >= 1000 {
        let s = (ms + 500) / 1000;
        if s >= 120 {
            format!("{} min", (s + 30) / 60)
        } else {
            format!("{s} s")
        }
    } else {
        format!("{ms} ms")
    }
}
