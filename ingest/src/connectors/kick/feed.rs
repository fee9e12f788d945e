//! What both feeds (Centrifugo and Pusher) share: the reconnect loop around a session, the
//! subscription book (chatroom → linked slug, confirmed or not), and handing a mapped event to
//! the sink with the counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use shm_layout::now_ms;
use tokio::sync::watch;
use uuid::Uuid;

use super::map::{map_event, AppEvent};
use super::{centrifugo, pusher, Resolved, Timing};
use crate::connectors::endpoints::KickProtocol;
use crate::connectors::{backoff, Backoff, ChannelState, ConnectorCtx};

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The process is stopping.
    Stopped,
    /// A drop, an ordinary close code, a failed call: reconnect with backoff. The sentence says
    /// what happened.
    Ordinary(String),
    /// Reconnect at once (Pusher 4200–4299).
    Now(String),
    /// Ban, bad token, connection limit (Centrifugo 3500–3999, 4500–4999): wait at least
    /// [`Timing::terminal_wait`] and start over with a new client id.
    Terminal(String),
    /// Do not reconnect (Pusher 4000–4099): the channels stay in `error` until the links change.
    Fatal(String),
}

/// Runs sessions until shutdown, waiting between them as their end asks.
pub async fn run_feed(ctx: &ConnectorCtx, t: &Timing, mut resolved: watch::Receiver<Resolved>) {
    let mut backoff = Backoff::new(t.backoff_base, backoff::MAX);
    let mut client_id = Uuid::new_v4();
    let mut quick = 0u32;
    loop {
        if ctx.is_stopping() {
            return;
        }
        let set = resolved.borrow_and_update().clone();
        if set.is_empty() {
            tokio::select! {
                r = resolved.changed() => if r.is_err() { return },
                _ = ctx.stopped() => return,
            }
            continue;
        }
        let end = match ctx.endpoints.kick_protocol {
            KickProtocol::Centrifugo => {
                centrifugo::session(ctx, t, &mut resolved, client_id, &mut backoff).await
            }
            KickProtocol::Pusher => pusher::session(ctx, t, &mut resolved, &mut backoff).await,
        };
        if !matches!(end, End::Now(_)) {
            quick = 0;
        }
        let (state, detail, wait) = match end {
            End::Stopped => return,
            End::Ordinary(why) => {
                let d = backoff.next_delay();
                let s = format!(
                    "{why}; reconnecting in {} s (attempt {})",
                    secs(d),
                    backoff.attempt()
                );
                (ChannelState::Connecting, s, Some(d))
            }
            End::Now(why) => {
                quick += 1;
                let d = if quick <= 3 {
                    Duration::ZERO
                } else {
                    backoff.next_delay()
                };
                (
                    ChannelState::Connecting,
                    format!("{why}; reconnecting now"),
                    Some(d),
                )
            }
            End::Terminal(why) => {
                client_id = Uuid::new_v4();
                backoff.reset();
                let s = format!(
                    "{why}; waiting {} before starting over with a new connection id",
                    human(t.terminal_wait)
                );
                (ChannelState::Error, s, Some(t.terminal_wait))
            }
            End::Fatal(why) => (
                ChannelState::Error,
                format!("{why}; not reconnecting until the channel is linked again"),
                None,
            ),
        };
        tracing::warn!(platform = "kick", "{detail}");
        ctx.metrics
            .reconnects
            .fetch_add(u64::from(wait.is_some()), Relaxed);
        for slug in resolved.borrow().keys() {
            ctx.status.set(slug, state, detail.clone());
        }
        match wait {
            Some(d) => {
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = ctx.stopped() => return,
                }
            }
            None => {
                // Fatal: wait for a change of the channel set (a new link is a new try).
                tokio::select! {
                    r = resolved.changed() => if r.is_err() { return },
                    _ = ctx.stopped() => return,
                }
            }
        }
    }
}

fn secs(d: Duration) -> u64 {
    (d.as_millis() as u64).div_ceil(1000).max(1)
}

/// "5 min", "90 s", "300 ms".
pub fn human(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    // `is_multiple_of` is newer than the workspace's rust-version.
    #[allow(clippy::manual_is_multiple_of)]
    if ms >= 60_000 && ms % 60_000 == 0 {
        format!("{} min", ms / 60_000)
    } else if ms >= 1000 {
        format!("{} s", secs(d))
    } else {
        format!("{ms} ms")
    }
}

/// One subscription of a session.
#[derive(Debug, Clone)]
pub struct Sub {
    /// The linked slug it serves.
    pub slug: String,
    /// The feed confirmed it.
    pub confirmed: bool,
    /// When an unconfirmed subscribe is given up on (None: confirmed or given up).
    pub deadline: Option<Instant>,
    /// Subscribe requests sent.
    pub tries: u32,
}

/// The subscriptions of one session, by chatroom id.
#[derive(Debug, Default)]
pub struct Subs {
    /// chatroom id → subscription.
    pub map: HashMap<u64, Sub>,
}

impl Subs {
    /// What to subscribe (chatroom, slug) and unsubscribe (chatroom) to serve `set`.
    pub fn plan(&self, set: &Resolved) -> (Vec<(u64, String)>, Vec<u64>) {
        let want: HashMap<u64, &String> = set.iter().map(|(s, ids)| (ids.chatroom_id, s)).collect();
        let add = want
            .iter()
            .filter(|(c, _)| !self.map.contains_key(c))
            .map(|(c, s)| (*c, (*s).clone()))
            .collect();
        let remove = self
            .map
            .keys()
            .filter(|c| !want.contains_key(c))
            .copied()
            .collect();
        (add, remove)
    }

    /// Records a subscribe request just sent.
    pub fn sent(&mut self, chatroom: u64, slug: &str, timeout: Duration) {
        let e = self.map.entry(chatroom).or_insert_with(|| Sub {
            slug: slug.to_owned(),
            confirmed: false,
            deadline: None,
            tries: 0,
        });
        e.confirmed = false;
        e.tries += 1;
        e.deadline = Some(Instant::now() + timeout);
    }

    /// Marks a subscription confirmed; returns its slug.
    pub fn confirm(&mut self, chatroom: u64) -> Option<String> {
        let s = self.map.get_mut(&chatroom)?;
        s.confirmed = true;
        s.deadline = None;
        s.tries = 0;
        Some(s.slug.clone())
    }

    /// The slug a feed name (`chatrooms.<id>.v2`, …) belongs to.
    pub fn slug_of(&self, feed: &str) -> Option<&str> {
        chatroom_of(feed)
            .and_then(|c| self.map.get(&c))
            .map(|s| s.slug.as_str())
    }

    /// The earliest subscribe deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.map.values().filter_map(|s| s.deadline).min()
    }

    /// Subscriptions whose deadline passed (chatroom, tries so far).
    pub fn overdue(&self, now: Instant) -> Vec<(u64, u32)> {
        self.map
            .iter()
            .filter(|(_, s)| s.deadline.is_some_and(|d| d <= now))
            .map(|(c, s)| (*c, s.tries))
            .collect()
    }
}

/// The chatroom id in a feed name: `chatrooms.<id>.v2`, `chatrooms.<id>`, `chatroom_<id>`.
pub fn chatroom_of(feed: &str) -> Option<u64> {
    let rest = feed
        .strip_prefix("chatrooms.")
        .map(|r| r.strip_suffix(".v2").unwrap_or(r))
        .or_else(|| feed.strip_prefix("chatroom_"))?;
    rest.parse().ok()
}

/// The feed name subscribed for a chatroom.
pub fn feed_name(chatroom: u64) -> String {
    format!("chatrooms.{chatroom}.v2")
}

/// Maps an event of `slug` and writes it; counts skipped kinds and parse errors.
pub async fn deliver(ctx: &ConnectorCtx, slug: &str, ev: &AppEvent<'_>) {
    match map_event(slug, ev, now_ms()) {
        Ok(Some(e)) => {
            ctx.sink.emit(slug, e).await;
        }
        Ok(None) => {
            ctx.metrics.skipped.fetch_add(1, Relaxed);
        }
        Err(e) => parse_error(ctx, &format!("a {} event did not parse: {e}", ev.event)),
    }
}

/// Counts a parse error and warns at most every 10 s.
pub fn parse_error(ctx: &ConnectorCtx, what: &str) {
    static LAST: AtomicU64 = AtomicU64::new(0);
    ctx.metrics.parse_errors.fetch_add(1, Relaxed);
    let now = now_ms();
    let last = LAST.load(Relaxed);
    if now.saturating_sub(last) >= 10_000
        && LAST.compare_exchange(last, now, Relaxed, Relaxed).is_ok()
    {
        tracing::warn!(platform = "kick", "skipped input from Kick: {what}");
    }
}

/// Counts an open connection while alive.
pub struct ConnGuard<'a>(&'a ConnectorCtx);

impl<'a> ConnGuard<'a> {
    /// +1 connection.
    pub fn new(ctx: &'a ConnectorCtx) -> Self {
        ctx.metrics.connections.fetch_add(1, Relaxed);
        ConnGuard(ctx)
    }
}

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        self.0.metrics.connections.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_names() {
        assert_eq!(chatroom_of("chatrooms.2507974.v2"), Some(2507974));
        assert_eq!(chatroom_of("chatrooms.12"), Some(12));
        assert_eq!(chatroom_of("chatroom_12"), Some(12));
        assert_eq!(chatroom_of("channel_12"), None);
        assert_eq!(chatroom_of("chatrooms.x.v2"), None);
        assert_eq!(human(Duration::from_secs(300)), "5 min");
        assert_eq!(human(Duration::from_millis(300)), "300 ms");
    }
}
