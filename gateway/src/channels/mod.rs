//! Linked channels at run time (what a streamer pastes is normalised by
//! [`shm_layout::links`]): the sync with each platform's
//! ingest over its producer socket ([`sync`]: the whole set of links down, the channels' states
//! and the connector's counters up), and the states as the API and the rooms see them ([`Hub`]).

pub mod sync;

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use shm_layout::protocol::{ChannelState, ChannelStatus, MetricsSnapshot};
use shm_layout::Platform;
use tokio::sync::Notify;

/// A channel's state as `GET /api/channels` and the `channel:status` frame show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelView {
    /// Display name of the platform (`Twitch`, …).
    pub platform: Platform,
    /// The normalised channel.
    pub channel: String,
    /// `connecting`, `live`, `idle` or `error`.
    pub state: ChannelState,
    /// A sentence for the streamer.
    pub detail: String,
    /// When the state last changed, ms since the epoch.
    pub since: u64,
    /// When its last message arrived, ms since the epoch.
    pub last_message_at: Option<u64>,
}

/// The sentence for a channel whose platform has no ingest running.
pub fn not_running(platform: Platform) -> String {
    format!(
        "this platform's connector is not running: start it with `scripts/ingest {}` (or the crosschat-ingest@{} unit)",
        platform.slug(),
        platform.slug()
    )
}

/// States of every linked channel and a wake-up per platform for the sync tasks.
#[derive(Debug, Default)]
pub struct Hub {
    states: Mutex<HashMap<(Platform, String), ChannelStatus>>,
    metrics: Mutex<HashMap<Platform, MetricsSnapshot>>,
    changed: [Notify; Platform::ALL.len()],
}

impl Hub {
    fn idx(p: Platform) -> usize {
        p.index()
    }

    /// Wakes the platform's sync: its links changed.
    pub fn links_changed(&self, p: Platform) {
        self.changed[Self::idx(p)].notify_one();
    }

    /// Completes when the platform's links change.
    pub async fn wait_links_changed(&self, p: Platform) {
        self.changed[Self::idx(p)].notified().await
    }

    /// Records a reported status; returns true when its state or sentence changed. An unchanged
    /// state keeps the `since` it had, and a report without a last message keeps the last known.
    pub fn update(&self, p: Platform, mut s: ChannelStatus) -> bool {
        let mut map = self.states.lock().unwrap_or_else(|e| e.into_inner());
        let key = (p, s.channel.clone());
        let old = map.get(&key);
        let changed = old.is_none_or(|old| old.state != s.state || old.detail != s.detail);
        if let Some(old) = old {
            if old.state == s.state {
                s.since = old.since;
            }
            s.last_message_at = s.last_message_at.or(old.last_message_at);
        }
        map.insert(key, s);
        changed
    }

    /// Records the connector's counters.
    pub fn set_metrics(&self, p: Platform, m: MetricsSnapshot) {
        self.metrics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(p, m);
    }

    /// The connector counters last reported, by platform.
    pub fn metrics(&self) -> Vec<(Platform, MetricsSnapshot)> {
        let map = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
        Platform::ALL
            .iter()
            .filter_map(|p| map.get(p).map(|m| (*p, m.clone())))
            .collect()
    }

    /// Forgets the connector counters of a platform whose ingest went away.
    pub fn clear_metrics(&self, p: Platform) {
        self.metrics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&p);
    }

    /// The view of one linked channel (`connecting` until its ingest reports it).
    pub fn view(&self, p: Platform, channel: &str, linked_at: u64) -> ChannelView {
        let map = self.states.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&(p, channel.to_owned())) {
            Some(s) => ChannelView {
                platform: p,
                channel: channel.to_owned(),
                state: s.state,
                detail: s.detail.clone(),
                since: s.since,
                last_message_at: s.last_message_at,
            },
            None => ChannelView {
                platform: p,
                channel: channel.to_owned(),
                state: ChannelState::Connecting,
                detail: "waiting for the connector to report".into(),
                since: linked_at,
                last_message_at: None,
            },
        }
    }

    /// Drops the state of a channel nobody links any more.
    pub fn forget(&self, p: Platform, channel: &str) {
        self.states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(p, channel.to_owned()));
    }
}
