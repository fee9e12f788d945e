//! Per-channel state as the streamer sees it in the dashboard: `connecting`, `live`, `idle` or
//! `error`, with a sentence (`detail`), since when, and when the last message came.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub use shm_layout::protocol::{ChannelState, ChannelStatus};

/// The states of every channel of this process. Cloning shares the board.
#[derive(Debug, Clone, Default)]
pub struct StatusBoard {
    inner: Arc<Mutex<BTreeMap<String, ChannelStatus>>>,
}

impl StatusBoard {
    /// Sets a channel's state and sentence; `since` moves only when the state or the sentence
    /// changes, so repeated reports do not look like changes.
    pub fn set(&self, channel: &str, state: ChannelState, detail: impl Into<String>) {
        let detail = detail.into();
        let now = shm_layout::now_ms();
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(channel) {
            Some(s) => {
                if s.state != state || s.detail != detail {
                    s.state = state;
                    s.detail = detail;
                    s.since = now;
                }
            }
            None => {
                map.insert(
                    channel.to_owned(),
                    ChannelStatus {
                        channel: channel.to_owned(),
                        state,
                        detail,
                        since: now,
                        last_message_at: None,
                        chatroom_id: None,
                        channel_id: None,
                    },
                );
            }
        }
    }

    /// Records the ids a lookup found (Kick), so the gateway can cache them with the link.
    pub fn set_ids(&self, channel: &str, chatroom_id: u64, channel_id: u64) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = map.get_mut(channel) {
            s.chatroom_id = Some(chatroom_id);
            s.channel_id = Some(channel_id);
        }
    }

    /// Notes that a message of `channel` was just written.
    pub fn touch(&self, channel: &str, at: u64) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = map.get_mut(channel) {
            s.last_message_at = Some(at);
        }
    }

    /// Forgets channels that are no longer linked.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|k, _| keep(k));
    }

    /// One channel's status.
    pub fn get(&self, channel: &str) -> Option<ChannelStatus> {
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.get(channel).cloned()
    }

    /// Every channel's status, by channel.
    pub fn snapshot(&self) -> Vec<ChannelStatus> {
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_moves_only_on_change() {
        let b = StatusBoard::default();
        b.set("c", ChannelState::Connecting, "connecting");
        let first = b.get("c").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(3));
        b.set("c", ChannelState::Connecting, "connecting");
        assert_eq!(b.get("c").unwrap().since, first.since);
        b.set("c", ChannelState::Live, "reading chat");
        let live = b.get("c").unwrap();
        assert!(live.since > first.since);
        b.touch("c", 99);
        assert_eq!(b.get("c").unwrap().last_message_at, Some(99));
        b.retain(|c| c != "c");
        assert!(b.snapshot().is_empty());
    }
}
