//! Moderation marks: the tombstones of a log (delete, clear user, clear chat) and the mark each
//! puts on the messages it hides in a transcript.

use std::collections::HashMap;

use shm_layout::{ChatMessage, Platform, SlotEvent};
use uuid::Uuid;

/// A platform user in one channel: (platform, channel, userId).
type UserKey = (Platform, String, String);

/// The moderation tombstones of one log, to mark the messages they hide.
#[derive(Debug, Default)]
pub struct Tombstones {
    /// Deleted message ids → when.
    deleted: HashMap<Uuid, u64>,
    /// (platform, channel, userId) → (when, `until`) of each timeout/ban.
    cleared_users: HashMap<UserKey, Vec<(u64, Option<u64>)>>,
    /// (platform, channel) → timestamps of chat clears.
    cleared: HashMap<(Platform, String), Vec<u64>>,
}

/// Which moderator action hid a message (`deletedBy` in a transcript).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletedBy {
    /// That one message was deleted.
    Delete,
    /// Its author was timed out or banned after writing it.
    ClearUser,
    /// Its channel's chat was cleared after it was written.
    Clear,
}

/// Why and when a message was hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// When, ms since the epoch.
    pub at: u64,
    /// Which action.
    pub by: DeletedBy,
    /// For a timeout, when it ends (ms); `None` for a ban or another action.
    pub until: Option<u64>,
}

impl Tombstones {
    /// Records one event (messages are ignored).
    pub fn add(&mut self, ev: &SlotEvent) {
        match ev {
            SlotEvent::Message(_) => {}
            SlotEvent::Delete(d) => {
                self.deleted.entry(d.target_id).or_insert(d.timestamp);
            }
            SlotEvent::ClearUser(c) => self
                .cleared_users
                .entry((c.platform, c.channel.clone(), c.user_id.clone()))
                .or_default()
                .push((c.timestamp, c.until)),
            SlotEvent::Clear(c) => self
                .cleared
                .entry((c.platform, c.channel.clone()))
                .or_default()
                .push(c.timestamp),
        }
    }

    /// Why and when `m` was hidden by a moderator, if it was: written before a timeout/ban of
    /// its author, deleted by id (whenever the delete arrived), or written before a clear of its
    /// channel. The (earliest) timeout/ban wins over the others: it is what hides the line in the
    /// live view whatever else hit it, so a transcript groups exactly the lines the live frame
    /// hid. Otherwise the earlier of the delete and the clear.
    pub fn mark(&self, m: &ChatMessage) -> Option<Mark> {
        let channel = m.channel.clone().unwrap_or_default();
        let by_user = m.user_id.as_ref().and_then(|u| {
            self.cleared_users
                .get(&(m.platform, channel.clone(), u.clone()))?
                .iter()
                .copied()
                .filter(|&(t, _)| t >= m.timestamp)
                .min_by_key(|&(t, _)| t)
        });
        if let Some((at, until)) = by_user {
            return Some(Mark {
                at,
                by: DeletedBy::ClearUser,
                until,
            });
        }
        let by_id = self.deleted.get(&m.id).map(|&at| Mark {
            at,
            by: DeletedBy::Delete,
            until: None,
        });
        let by_clear = self
            .cleared
            .get(&(m.platform, channel))
            .and_then(|v| v.iter().copied().filter(|&t| t >= m.timestamp).min())
            .map(|at| Mark {
                at,
                by: DeletedBy::Clear,
                until: None,
            });
        match (by_id, by_clear) {
            (Some(d), Some(c)) => Some(if c.at < d.at { c } else { d }),
            (d, c) => d.or(c),
        }
    }
}

/// A message of a transcript, with its moderation mark.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptMessage {
    /// The message as logged.
    #[serde(flatten)]
    pub message: ChatMessage,
    /// A moderator deleted it (or timed out/banned its author, or cleared the chat).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// When, ms since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<u64>,
    /// Which action hid it, so every view shows it as the live view did: `"delete"`,
    /// `"clear_user"` or `"clear"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_by: Option<DeletedBy>,
    /// For `clear_user`: when the timeout ends (ms); absent for a ban.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleared_until: Option<u64>,
}

impl TranscriptMessage {
    /// Marks `message` with what `tombstones` say about it.
    pub fn marked(message: ChatMessage, tombstones: &Tombstones) -> TranscriptMessage {
        let mark = tombstones.mark(&message);
        TranscriptMessage {
            message,
            deleted: mark.is_some(),
            deleted_at: mark.map(|k| k.at),
            deleted_by: mark.map(|k| k.by),
            cleared_until: mark.and_then(|k| k.until),
        }
    }
}
