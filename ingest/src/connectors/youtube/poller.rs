//! One linked channel's life: find its live chat, poll it with the last `nextPageToken`, and
//! follow it to its end.
//!
//! - a video: `videos.list` (1 unit) until it has an `activeLiveChatId` (re-checked every 2 min),
//!   then the chat; once the stream ends the link stays idle;
//! - a channel (`UC…`, or an `@handle` resolved once through `channels.list`): `search.list`
//!   (100 units) at most once every 15 min while not live — a failed search too waits the
//!   interval, never the short backoff; after a stream ends, back to searching;
//! - the chat: `liveChatMessages.list` (5 units) every max(`pollingIntervalMillis`, min poll),
//!   slower when the quota left would not last the span (`--youtube-quota-hours`, or until
//!   midnight Pacific when sooner).
//!
//! Errors: `quotaExceeded` stops every call until the reset; `liveChatEnded`, `liveChatNotFound`,
//! `offlineAt` or a `chatEndedEvent` end the stream; rate limits, 5xx and transport errors back
//! off; anything else shows Google's message.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::api::ApiError;
use super::link::{self, Target};
use super::map::{self, Mapped};
use super::quota::{cost, utc_hh_mm, Exhausted};
use super::{human, Shared};
use crate::connectors::{Backoff, ChannelState};

/// The stream's chat is over (or was never there).
#[derive(Debug)]
struct Ended;

/// Why one call gave no answer.
#[derive(Debug)]
enum CallError {
    /// The chat is over.
    Ended,
    /// The call failed; `transient` for rate limits, 5xx and transport errors (worth retrying
    /// soon), false for Google refusing it (shown with Google's own message).
    Failed { err: ApiError, transient: bool },
}

/// Runs a channel's task, restarting it after a panic so one strange answer costs a retry.
pub async fn supervise_channel(sh: Arc<Shared>, channel: String) {
    let mut backoff = Backoff::new(sh.timing.backoff_base, sh.timing.backoff_base * 60);
    loop {
        let task = tokio::spawn(run_channel(sh.clone(), channel.clone()));
        let mut guard = super::AbortOnDrop(task);
        let r = (&mut guard.0).await;
        match r {
            Err(e) if e.is_panic() => {
                sh.ctx.metrics.panics.fetch_add(1, Relaxed);
                let delay = backoff.next_delay();
                tracing::error!(channel, "the YouTube channel task panicked; restarting it");
                sh.ctx.status.set(
                    &channel,
                    ChannelState::Connecting,
                    format!(
                        "restarting after an internal error (retrying in {})",
                        human(delay)
                    ),
                );
                tokio::time::sleep(delay).await;
            }
            _ => return,
        }
    }
}

/// One channel, until its task is cancelled.
pub async fn run_channel(sh: Arc<Shared>, channel: String) {
    let Some(target) = link::parse(&channel) else {
        sh.ctx.status.set(
            &channel,
            ChannelState::Error,
            "not a YouTube stream or channel: link a video URL or id, a channel id (UC…) or an @handle",
        );
        return std::future::pending().await;
    };
    let mut ch = Chan {
        backoff: Backoff::new(sh.timing.backoff_base, sh.timing.backoff_base * 60),
        sh,
        channel,
    };
    ch.status(ChannelState::Connecting, "looking up the live chat");
    let channel_id = match &target {
        Target::Video(v) => {
            if let Some(chat) = ch.wait_for_video(v).await {
                ch.poll_chat(&chat).await;
            }
            ch.status(ChannelState::Idle, "stream ended");
            return std::future::pending().await;
        }
        Target::Channel(c) => c.clone(),
        Target::Handle(h) => ch.resolve_handle(h).await,
    };
    let mut after_end = false;
    loop {
        let chat = ch.find_live_on_channel(&channel_id, after_end).await;
        ch.poll_chat(&chat).await;
        after_end = true;
    }
}

struct Chan {
    sh: Arc<Shared>,
    channel: String,
    backoff: Backoff,
}

enum VideoState {
    Chat(String),
    Waiting,
    Ended,
    NotLive,
    NotFound,
}

#[derive(Deserialize)]
struct Items<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Video {
    #[serde(default)]
    live_streaming_details: Option<LiveDetails>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LiveDetails {
    #[serde(default)]
    active_live_chat_id: Option<String>,
    #[serde(default)]
    actual_end_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchResult {
    id: SearchId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchId {
    #[serde(default)]
    video_id: Option<String>,
}

#[derive(Deserialize)]
struct ChannelItem {
    id: String,
}

impl Chan {
    fn status(&self, state: ChannelState, detail: impl Into<String>) {
        self.sh.ctx.status.set(&self.channel, state, detail);
    }

    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }

    /// One API call with the quota handled: returns the parsed answer, [`CallError::Ended`] when
    /// YouTube says the chat is over, or the failure (counted and logged) for the caller to
    /// decide when to try again. Waits out a used-up quota itself.
    async fn call<T>(
        &mut self,
        path: &str,
        query: &[(&str, &str)],
        units: u64,
        parse: impl Fn(&[u8]) -> Result<T, serde_json::Error>,
    ) -> Result<T, CallError> {
        loop {
            if let Err(ex) = self.sh.quota.spend(units) {
                self.wait_for_reset(ex).await;
                continue;
            }
            self.sh.publish_quota();
            let err = match self.sh.api.get(path, query).await {
                Ok(body) => match parse(&body) {
                    Ok(v) => return Ok(v),
                    Err(_) => {
                        self.sh.ctx.metrics.parse_errors.fetch_add(1, Relaxed);
                        ApiError::Transport("YouTube's answer could not be read".into())
                    }
                },
                Err(e) => e,
            };
            let transient = match &err {
                ApiError::Status { reason, .. }
                    if reason == "quotaExceeded" || reason == "dailyLimitExceeded" =>
                {
                    let ex = self.sh.quota.exhaust();
                    self.sh.publish_quota();
                    self.wait_for_reset(ex).await;
                    continue;
                }
                ApiError::Status { status, reason, .. }
                    if reason == "liveChatEnded"
                        || reason == "liveChatNotFound"
                        || reason == "liveChatDisabled"
                        || (*status == 404 && path.starts_with("liveChat")) =>
                {
                    return Err(CallError::Ended);
                }
                ApiError::Status { status, reason, .. } => {
                    *status == 429
                        || *status >= 500
                        || reason == "rateLimitExceeded"
                        || reason == "userRateLimitExceeded"
                        || reason == "backendError"
                }
                ApiError::Transport(_) => true,
            };
            self.sh.ctx.metrics.reconnects.fetch_add(1, Relaxed);
            tracing::warn!(channel = %self.channel, path, error = %err.describe(), "YouTube call failed");
            return Err(CallError::Failed { err, transient });
        }
    }

    /// [`Chan::call`], retried on the short backoff (1 s doubling to 60 s) until it answers:
    /// for the cheap calls (1 or 5 units). Returns [`Ended`] when YouTube says the chat is over.
    async fn fetch<T>(
        &mut self,
        path: &str,
        query: &[(&str, &str)],
        units: u64,
        parse: impl Fn(&[u8]) -> Result<T, serde_json::Error>,
    ) -> Result<T, Ended> {
        loop {
            let (err, transient) = match self.call(path, query, units, &parse).await {
                Ok(v) => {
                    self.backoff.reset();
                    return Ok(v);
                }
                Err(CallError::Ended) => return Err(Ended),
                Err(CallError::Failed { err, transient }) => (err, transient),
            };
            let delay = self.backoff.next_delay();
            if transient {
                self.status(
                    ChannelState::Connecting,
                    format!(
                        "YouTube: {}; retrying in {} (attempt {})",
                        err.describe(),
                        human(delay),
                        self.backoff.attempt()
                    ),
                );
            } else {
                self.status(ChannelState::Error, err.says());
            }
            self.sleep(delay).await;
        }
    }

    /// No calls until the quota resets; the channel says when chat resumes.
    async fn wait_for_reset(&self, ex: Exhausted) {
        self.status(
            ChannelState::Error,
            format!(
                "YouTube quota for today is used up; chat resumes at {} UTC (midnight Pacific)",
                utc_hh_mm(ex.resets_at)
            ),
        );
        loop {
            let now = self.sh.quota.now_ms();
            if now >= ex.resets_at {
                return;
            }
            // Re-read the clock at least every minute (a clock step must not strand the wait).
            self.sleep(Duration::from_millis((ex.resets_at - now).min(60_000)))
                .await;
        }
    }

    async fn video_state(&mut self, video_id: &str) -> VideoState {
        let q = [("part", "liveStreamingDetails"), ("id", video_id)];
        let r = self
            .fetch("videos", &q, cost::VIDEOS, |b| {
                serde_json::from_slice::<Items<Video>>(b)
            })
            .await;
        let Ok(items) = r else {
            return VideoState::Ended;
        };
        let Some(v) = items.items.into_iter().next() else {
            return VideoState::NotFound;
        };
        match v.live_streaming_details {
            None => VideoState::NotLive,
            Some(d) => match (d.active_live_chat_id, d.actual_end_time) {
                (Some(chat), None) if !chat.is_empty() => VideoState::Chat(chat),
                (_, Some(_)) => VideoState::Ended,
                _ => VideoState::Waiting,
            },
        }
    }

    /// Waits for a video's chat; None when the stream has already ended.
    async fn wait_for_video(&mut self, video_id: &str) -> Option<String> {
        loop {
            let every = human(self.sh.timing.idle_recheck);
            match self.video_state(video_id).await {
                VideoState::Chat(chat) => return Some(chat),
                VideoState::Ended => return None,
                VideoState::Waiting => self.status(
                    ChannelState::Idle,
                    format!("waiting for the stream to start (checked every {every})"),
                ),
                VideoState::NotLive => self.status(
                    ChannelState::Error,
                    "this video is not a live stream: link a live stream, or the channel",
                ),
                VideoState::NotFound => self.status(
                    ChannelState::Error,
                    format!("YouTube has no public video {video_id}: check the link"),
                ),
            }
            self.sleep(self.sh.timing.idle_recheck).await;
        }
    }

    /// `@handle` → channel id, once per process.
    async fn resolve_handle(&mut self, handle: &str) -> String {
        if let Some(id) = self
            .sh
            .handles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(handle)
        {
            return id.clone();
        }
        loop {
            let q = [("part", "id"), ("forHandle", handle)];
            let r = self
                .fetch("channels", &q, cost::CHANNELS, |b| {
                    serde_json::from_slice::<Items<ChannelItem>>(b)
                })
                .await;
            if let Ok(Some(c)) = r.map(|i| i.items.into_iter().next()) {
                self.sh
                    .handles
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(handle.to_owned(), c.id.clone());
                return c.id;
            }
            self.status(
                ChannelState::Error,
                format!("YouTube has no channel {handle}: check the handle"),
            );
            self.sleep(self.sh.timing.search_interval).await;
        }
    }

    /// Searches the channel for a live stream (at most once per search interval) and returns
    /// its chat id.
    async fn find_live_on_channel(&mut self, channel_id: &str, after_end: bool) -> String {
        let every = human(self.sh.timing.search_interval);
        let waiting = format!("checking for a live stream every {every} (search costs quota)");
        if after_end {
            self.status(ChannelState::Idle, format!("stream ended; {waiting}"));
            self.sleep(self.sh.timing.search_interval).await;
        }
        loop {
            let q = [
                ("part", "id"),
                ("channelId", channel_id),
                ("eventType", "live"),
                ("type", "video"),
            ];
            // Not retried on the short backoff: at 100 units a call, a flaky search retried
            // every few seconds would spend the day's quota in an hour. Whatever went wrong, the
            // next search is one interval later.
            let r = self
                .call("search", &q, cost::SEARCH, |b| {
                    serde_json::from_slice::<Items<SearchResult>>(b)
                })
                .await;
            let found = match r {
                Ok(i) => i.items,
                Err(CallError::Ended) => Vec::new(),
                Err(CallError::Failed { err, transient }) => {
                    let (state, said) = if transient {
                        (
                            ChannelState::Connecting,
                            format!("YouTube: {}", err.describe()),
                        )
                    } else {
                        (ChannelState::Error, err.says())
                    };
                    self.status(
                        state,
                        format!("{said}; searching again in {every} (search costs quota)"),
                    );
                    self.sleep(self.sh.timing.search_interval).await;
                    continue;
                }
            };
            for v in found.into_iter().filter_map(|r| r.id.video_id) {
                if let VideoState::Chat(chat) = self.video_state(&v).await {
                    return chat;
                }
            }
            self.status(ChannelState::Idle, format!("not live; {waiting}"));
            self.sleep(self.sh.timing.search_interval).await;
        }
    }

    /// Polls a chat until it ends.
    async fn poll_chat(&mut self, chat_id: &str) {
        let sh = self.sh.clone();
        let _active = sh.quota.poller();
        sh.ctx.metrics.connections.fetch_add(1, Relaxed);
        struct Open<'a>(&'a Shared);
        impl Drop for Open<'_> {
            fn drop(&mut self) {
                self.0.ctx.metrics.connections.fetch_sub(1, Relaxed);
            }
        }
        let _open = Open(&sh);
        let mut token: Option<String> = None;
        self.status(ChannelState::Connecting, "reading the live chat");
        loop {
            let mut q = vec![("liveChatId", chat_id), ("part", "snippet,authorDetails")];
            if let Some(t) = &token {
                q.push(("pageToken", t.as_str()));
            }
            let Ok(page) = self
                .fetch("liveChat/messages", &q, cost::CHAT, map::parse_page)
                .await
            else {
                return;
            };
            let m = &sh.ctx.metrics;
            m.parse_errors.fetch_add(page.bad_items as u64, Relaxed);
            let now = sh.quota.now_ms();
            let mut ended = page.offline_at.is_some();
            for item in &page.items {
                match map::map_item(&self.channel, item, now) {
                    Mapped::Event(ev) => {
                        sh.ctx.sink.emit(&self.channel, ev).await;
                    }
                    Mapped::ChatEnded => ended = true,
                    Mapped::Skipped => {
                        m.skipped.fetch_add(1, Relaxed);
                    }
                }
            }
            if let Some(t) = page.next_page_token.filter(|t| !t.is_empty()) {
                token = Some(t);
            }
            if ended {
                return;
            }
            let asked = Duration::from_millis(page.polling_interval_millis.unwrap_or(0));
            let base = asked.max(sh.timing.min_poll);
            let pace = sh.quota.pace(base);
            let wait = pace.wait;
            let (used, left, _) = sh.quota.usage();
            let pace = pace.sentence(human);
            self.status(
                ChannelState::Live,
                format!("reading chat {pace}; quota today: {used} units used, {left} left"),
            );
            self.sleep(wait).await;
        }
    }
}
