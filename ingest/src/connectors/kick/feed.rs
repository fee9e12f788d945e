//! What both feeds (Centrifugo and Pusher) share: how a session ends, the subscription book (feed → linked slug, what it carries, confirmed or not), and handing a mapped event to
//! the sink with the counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use shm_layout::now_ms;

use super::lookup::Ids;
use super::map::{map_event, AppEvent};
use super::Resolved;
use crate::connectors::{ChannelState, ConnectorCtx};

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

/// Whole seconds, rounded up, at least 1.
pub fn secs(d: Duration) -> u64 {
    (d.as_millis() as u64).div_ceil(1000).max(1)
}

/// "5 min", "90 s", "300 ms".
pub fn human(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    if ms >= 60_000 && ms.is_multiple_of(60_000) {
        format!("{} min", ms / 60_000)
    } else if ms >= 1000 {
        format!("{} s", secs(d))
    } else {
        format!("{ms} ms")
    }
}

/// What a feed carries for its channel. Kick spreads a channel's events over several feeds
/// (research/connectors.md §3.1, kicksdk's `chat_channels` table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FeedRole {
    /// `chatrooms.<chatroomId>.v2`: chat, deletions, bans, clears, subscriptions. Its state is
    /// the channel's state.
    Chat,
    /// `chatroom_<chatroomId>`: gifted subscriptions (the unprefixed `GiftedSubscriptionsEvent`).
    Gifts,
    /// `channel_<channelId>`: Kicks gifts (`KicksGifted`). Only when the channel id is known.
    Kicks,
}

impl FeedRole {
    /// What the feed brings, for a warning when it cannot be joined.
    pub fn what(self) -> &'static str {
        match self {
            FeedRole::Chat => "chat",
            FeedRole::Gifts => "gifted subscriptions",
            FeedRole::Kicks => "Kicks gifts",
        }
    }
}

/// The feeds a channel is read from, the chat feed first.
pub fn feeds_of(ids: &Ids) -> Vec<(String, FeedRole)> {
    let mut feeds = vec![
        (format!("chatrooms.{}.v2", ids.chatroom_id), FeedRole::Chat),
        (format!("chatroom_{}", ids.chatroom_id), FeedRole::Gifts),
    ];
    if ids.channel_id != 0 {
        feeds.push((format!("channel_{}", ids.channel_id), FeedRole::Kicks));
    }
    feeds
}

/// One subscription of a session.
#[derive(Debug, Clone)]
pub struct Sub {
    /// The linked slug it serves.
    pub slug: String,
    /// What the feed carries.
    pub role: FeedRole,
    /// The feed confirmed it.
    pub confirmed: bool,
    /// When an unconfirmed subscribe is given up on (None: confirmed or given up).
    pub deadline: Option<Instant>,
    /// Subscribe requests sent.
    pub tries: u32,
}

/// A feed to subscribe: its name, the slug it serves and what it carries.
pub type Wanted = (String, String, FeedRole);

/// The subscriptions of one session, by feed name.
#[derive(Debug, Default)]
pub struct Subs {
    /// feed name → subscription.
    pub map: HashMap<String, Sub>,
}

impl Subs {
    /// What to subscribe and unsubscribe (feed names) to serve `set`. Subscribes come channel
    /// by channel, each channel's chat feed first.
    pub fn plan(&self, set: &Resolved) -> (Vec<Wanted>, Vec<String>) {
        let want: Vec<Wanted> = set
            .iter()
            .flat_map(|(slug, ids)| {
                feeds_of(ids)
                    .into_iter()
                    .map(move |(feed, role)| (feed, slug.clone(), role))
            })
            .collect();
        let add = want
            .iter()
            .filter(|(feed, _, _)| !self.map.contains_key(feed))
            .cloned()
            .collect();
        let wanted: std::collections::HashSet<&str> =
            want.iter().map(|(f, _, _)| f.as_str()).collect();
        let mut remove: Vec<String> = self
            .map
            .keys()
            .filter(|f| !wanted.contains(f.as_str()))
            .cloned()
            .collect();
        remove.sort();
        (add, remove)
    }

    /// Records a subscribe request just sent.
    pub fn sent(&mut self, feed: &str, slug: &str, role: FeedRole, timeout: Duration) {
        let e = self.map.entry(feed.to_owned()).or_insert_with(|| Sub {
            slug: slug.to_owned(),
            role,
            confirmed: false,
            deadline: None,
            tries: 0,
        });
        e.confirmed = false;
        e.tries += 1;
        e.deadline = Some(Instant::now() + timeout);
    }

    /// Marks a subscription confirmed; returns it.
    pub fn confirm(&mut self, feed: &str) -> Option<&Sub> {
        let s = self.map.get_mut(feed)?;
        s.confirmed = true;
        s.deadline = None;
        s.tries = 0;
        Some(s)
    }

    /// The slug a feed name belongs to.
    pub fn slug_of(&self, feed: &str) -> Option<&str> {
        self.map.get(feed).map(|s| s.slug.as_str())
    }

    /// The earliest subscribe deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.map.values().filter_map(|s| s.deadline).min()
    }

    /// The overdue subscribes to send once more (tried once), in feed order; those already
    /// tried twice are given up and reported ([`feed_failed`]) until the next connection.
    pub fn retry_overdue(&mut self, ctx: &ConnectorCtx, now: Instant) -> Vec<Wanted> {
        let mut again = Vec::new();
        for (feed, tries) in self.overdue(now) {
            let Some(sub) = self.map.get_mut(&feed) else {
                continue;
            };
            if tries < 2 {
                again.push((feed, sub.slug.clone(), sub.role));
            } else {
                sub.deadline = None;
                feed_failed(ctx, sub, &feed, NEVER_CONFIRMED);
            }
        }
        again
    }

    /// Subscriptions whose deadline passed (feed, tries so far), in feed order.
    pub fn overdue(&self, now: Instant) -> Vec<(String, u32)> {
        let mut due: Vec<(String, u32)> = self
            .map
            .iter()
            .filter(|(_, s)| s.deadline.is_some_and(|d| d <= now))
            .map(|(f, s)| (f.clone(), s.tries))
            .collect();
        due.sort();
        due
    }
}

/// The sentence for a subscribe never confirmed after a retry.
pub const NEVER_CONFIRMED: &str =
    "Kick never confirmed joining this chat; check the chatroom id (it retries on the next reconnect)";

/// A feed the server did not confirm or refused. The chat feed's failure is the channel's
/// (`error`, with `why`); a side feed's is a warning, and the channel keeps reading chat.
pub fn feed_failed(ctx: &ConnectorCtx, sub: &Sub, feed: &str, why: &str) {
    if sub.role == FeedRole::Chat {
        ctx.status
            .set(&sub.slug, ChannelState::Error, why.to_owned());
    } else {
        tracing::warn!(
            platform = "kick",
            channel = %sub.slug,
            feed,
            "the {} feed could not be joined, so they are not shown: {why}",
            sub.role.what()
        );
    }
}

/// A subscribe about to be sent: the chat feed's channel is `connecting`.
pub fn feed_joining(ctx: &ConnectorCtx, slug: &str, role: FeedRole) {
    if role == FeedRole::Chat {
        ctx.status
            .set(slug, ChannelState::Connecting, "joining the channel's chat");
    }
}

/// A feed the server confirmed: the chat feed makes the channel live.
pub fn feed_confirmed(ctx: &ConnectorCtx, sub: &Sub) {
    if sub.role == FeedRole::Chat {
        ctx.status
            .set(&sub.slug, ChannelState::Live, "reading chat");
    }
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
    use std::sync::Arc;

    use super::*;

    #[test]
    fn feeds_and_plan() {
        let ids = |c, ch| Ids {
            chatroom_id: c,
            channel_id: ch,
        };
        assert_eq!(
            feeds_of(&ids(2507974, 2515504)),
            vec![
                ("chatrooms.2507974.v2".to_owned(), FeedRole::Chat),
                ("chatroom_2507974".to_owned(), FeedRole::Gifts),
                ("channel_2515504".to_owned(), FeedRole::Kicks),
            ]
        );
        // Pusher with only a pasted chatroom id: no Kicks feed.
        assert_eq!(feeds_of(&ids(12, 0)).len(), 2);
        let set: Resolved = Arc::new(
            [("a".to_owned(), ids(1, 10)), ("b".to_owned(), ids(2, 0))]
                .into_iter()
                .collect(),
        );
        let mut subs = Subs::default();
        let (add, remove) = subs.plan(&set);
        let names: Vec<&str> = add.iter().map(|(f, _, _)| f.as_str()).collect();
        assert_eq!(
            names,
            [
                "chatrooms.1.v2",
                "chatroom_1",
                "channel_10",
                "chatrooms.2.v2",
                "chatroom_2"
            ]
        );
        assert!(remove.is_empty());
        for (feed, slug, role) in &add {
            subs.sent(feed, slug, *role, Duration::from_secs(1));
        }
        assert_eq!(subs.slug_of("channel_10"), Some("a"));
        assert_eq!(
            subs.confirm("chatroom_2").map(|s| s.role),
            Some(FeedRole::Gifts)
        );
        let only_b: Resolved = Arc::new([("b".to_owned(), ids(2, 0))].into_iter().collect());
        let (add, remove) = subs.plan(&only_b);
        assert!(add.is_empty());
        assert_eq!(remove, ["channel_10", "chatroom_1", "chatrooms.1.v2"]);
        assert_eq!(human(Duration::from_secs(300)), "5 min");
        assert_eq!(human(Duration::from_millis(300)), "300 ms");
    }
}
