//! The Kick connector: reads every linked Kick channel from the site's own realtime feed.
//!
//! Kick has no official read-only realtime feed; like every aggregator this reads the feed the
//! website uses — Centrifugo since autumn 2026 (default), or the legacy Pusher feed with
//! `--kick-protocol pusher`. Both carry the same `App\Events\*` payloads.
//!
//! - [`lookup`]: a channel's chatroom id and channel id from `kick.com/api/v2/channels/<slug>`
//!   (internal, often blocked by Cloudflare: then the streamer pastes the ids);
//! - [`realtime_api`]: the connection token and the websocket URL;
//! - [`centrifugo`]: the Centrifugo session (connect, subscribe many chatrooms on one connection,
//!   `{}` pings, batched frames, disconnect codes);
//! - [`pusher`]: the legacy Pusher session;
//! - [`reconnect`]: the reconnect loop around the sessions;
//! - [`feed`]: what both sessions share (how a session ends, the subscription book, delivery);
//! - [`map`]: events → slot events; [`http`]: blocking HTTP off
//!   the async workers.
//!
//! Two loops run side by side: the resolver turns links into ids (pasted, cached, or looked up at
//! most every [`Timing::lookup_retry`]) and publishes the resolved set; the feed keeps one
//! connection subscribed to exactly that set.

pub mod centrifugo;
pub mod feed;
pub mod http;
pub mod lookup;
pub mod map;
pub mod pusher;
pub mod realtime_api;
pub mod reconnect;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::endpoints::KickProtocol;
use super::{ChannelState, ConnectorCtx};
use lookup::{Ids, LookupError};

/// The channels the feed serves: slug → ids.
pub type Resolved = Arc<BTreeMap<String, Ids>>;

/// The connector's timings. The defaults are the real ones; the `CROSSCHAT_KICK_TEST_*_MS`
/// variables (test-only, milliseconds) shorten them so tests run in seconds.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Whole-request timeout of the lookup and the realtime API (`..._HTTP_TIMEOUT_MS`, 10 s).
    pub http_timeout: Duration,
    /// Least time between two lookups of one channel (`..._LOOKUP_RETRY_MS`, 10 min).
    pub lookup_retry: Duration,
    /// Wait after a terminal close before starting over (`..._TERMINAL_WAIT_MS`, 5 min).
    pub terminal_wait: Duration,
    /// Silence that means a dead connection; None: Centrifugo's `ping` + 10 s, Pusher's
    /// `activity_timeout` + 30 s (`..._SILENCE_MS`).
    pub silence: Option<Duration>,
    /// How long a subscribe may stay unconfirmed (`..._SUBSCRIBE_TIMEOUT_MS`, 10 s).
    pub subscribe_timeout: Duration,
    /// First reconnect delay; doubles to 60 s (`..._BACKOFF_MS`, 1 s).
    pub backoff_base: Duration,
    /// Token refresh period; None: 80 % of the `ttl` the server gives, only when it says the
    /// connection expires (`..._TOKEN_REFRESH_MS`).
    pub token_refresh: Option<Duration>,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            http_timeout: Duration::from_secs(10),
            lookup_retry: Duration::from_secs(600),
            terminal_wait: Duration::from_secs(300),
            silence: None,
            subscribe_timeout: Duration::from_secs(10),
            backoff_base: Duration::from_secs(1),
            token_refresh: None,
        }
    }
}

impl Timing {
    /// The defaults, with any `CROSSCHAT_KICK_TEST_<NAME>_MS` override applied.
    pub fn from_env() -> Timing {
        let ms = |name: &str| -> Option<Duration> {
            std::env::var(format!("CROSSCHAT_KICK_TEST_{name}_MS"))
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_millis)
        };
        let d = Timing::default();
        Timing {
            http_timeout: ms("HTTP_TIMEOUT").unwrap_or(d.http_timeout),
            lookup_retry: ms("LOOKUP_RETRY").unwrap_or(d.lookup_retry),
            terminal_wait: ms("TERMINAL_WAIT").unwrap_or(d.terminal_wait),
            silence: ms("SILENCE").or(d.silence),
            subscribe_timeout: ms("SUBSCRIBE_TIMEOUT").unwrap_or(d.subscribe_timeout),
            backoff_base: ms("BACKOFF").unwrap_or(d.backoff_base),
            token_refresh: ms("TOKEN_REFRESH").or(d.token_refresh),
        }
    }
}

/// Reads every linked Kick channel until shutdown.
pub async fn run(ctx: ConnectorCtx) {
    run_with(ctx, Timing::from_env()).await
}

/// [`run`] with explicit timings (tests).
pub async fn run_with(ctx: ConnectorCtx, t: Timing) {
    let (tx, rx) = watch::channel(Resolved::default());
    tokio::select! {
        _ = resolve_loop(&ctx, &t, tx) => {}
        _ = reconnect::run_feed(&ctx, &t, rx) => {}
        _ = ctx.stopped() => {}
    }
}

/// Turns the links into ids and publishes the set the feed should serve.
async fn resolve_loop(ctx: &ConnectorCtx, t: &Timing, tx: watch::Sender<Resolved>) {
    let mut links = ctx.links.clone();
    let mut found: HashMap<String, Ids> = HashMap::new();
    let mut failed: HashMap<String, (Instant, LookupError)> = HashMap::new();
    let pusher = ctx.endpoints.kick_protocol == KickProtocol::Pusher;
    loop {
        let current = links.borrow_and_update().clone();
        ctx.status.retain(|c| current.contains_key(c));
        found.retain(|c, _| current.contains_key(c));
        failed.retain(|c, _| current.contains_key(c));
        let mut set = BTreeMap::new();
        let mut due = Vec::new();
        let mut next_try: Option<Instant> = None;
        for (slug, link) in current.iter() {
            let pasted = match (link.chatroom_id, link.channel_id) {
                (Some(c), Some(ch)) => Some(Ids {
                    chatroom_id: c,
                    channel_id: ch,
                }),
                // Pusher needs only the chatroom.
                (Some(c), None) if pusher => Some(Ids {
                    chatroom_id: c,
                    channel_id: 0,
                }),
                _ => None,
            };
            if let Some(ids) = pasted.or_else(|| found.get(slug).copied()) {
                set.insert(slug.clone(), ids);
                continue;
            }
            match failed.get(slug) {
                Some((at, why)) if at.elapsed() < t.lookup_retry => {
                    ctx.status.set(slug, ChannelState::Error, why.to_string());
                    let when = *at + t.lookup_retry;
                    next_try = Some(next_try.map_or(when, |n| n.min(when)));
                }
                _ => due.push(slug.clone()),
            }
        }
        publish(&tx, set.clone());
        for slug in due {
            if links.has_changed().unwrap_or(true) {
                break; // the set changed under us: start over with it
            }
            ctx.status.set(
                &slug,
                ChannelState::Connecting,
                "looking up the channel on Kick",
            );
            match lookup::lookup(&ctx.endpoints.kick_web_url, &slug, t.http_timeout).await {
                Ok(ids) => {
                    ctx.status.set_ids(&slug, ids.chatroom_id, ids.channel_id);
                    ctx.status.set(
                        &slug,
                        ChannelState::Connecting,
                        "found the channel; connecting to its chat",
                    );
                    found.insert(slug.clone(), ids);
                    failed.remove(&slug);
                    set.insert(slug, ids);
                    publish(&tx, set.clone());
                }
                Err(why) => {
                    tracing::warn!(platform = "kick", channel = %slug, "channel lookup failed: {why}");
                    ctx.status.set(&slug, ChannelState::Error, why.to_string());
                    let when = Instant::now() + t.lookup_retry;
                    next_try = Some(next_try.map_or(when, |n| n.min(when)));
                    failed.insert(slug, (Instant::now(), why));
                }
            }
        }
        let sleep = async {
            match next_try {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = links.changed() => if r.is_err() { return std::future::pending().await },
            _ = sleep => {}
            _ = ctx.stopped() => return,
        }
    }
}

fn publish(tx: &watch::Sender<Resolved>, set: BTreeMap<String, Ids>) {
    tx.send_if_modified(|cur| {
        if **cur == set {
            false
        } else {
            *cur = Arc::new(set);
            true
        }
    });
}
