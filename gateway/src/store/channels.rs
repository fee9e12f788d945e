//! Linked channels (`channels.json`): which platform channels each streamer reads. Written with
//! the same write-temp-fsync-rename discipline as the accounts. A channel linked by several
//! streamers is one entry per streamer here; the sync sends it to the ingest once, with every
//! streamer, and the ingest writes each message once per streamer.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use shm_layout::protocol::Link;
use shm_layout::Platform;
use uuid::Uuid;

use super::atomic::{read_json_or_default, write_json};

/// Most channels one streamer may link.
pub const MAX_LINKS_PER_STREAMER: usize = 50;

/// One streamer's link to one platform channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkRecord {
    /// Who linked it.
    pub streamer_id: Uuid,
    /// The platform.
    pub platform: Platform,
    /// The normalised channel.
    pub channel: String,
    /// Kick: chatroom id (pasted, or cached from the ingest's lookup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chatroom_id: Option<u64>,
    /// Kick: channel id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<u64>,
    /// When it was linked, ms since the epoch.
    pub created_at: u64,
}

/// Why a link could not be added.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The streamer already links that channel.
    #[error("already linked")]
    AlreadyLinked,
    /// The streamer links the most channels allowed.
    #[error("too many links")]
    TooMany,
    /// `channels.json` could not be written.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// All links, in memory and in `channels.json`.
pub struct ChannelStore {
    path: PathBuf,
    links: Mutex<Vec<LinkRecord>>,
}

impl ChannelStore {
    /// Loads `path` (absent: no links).
    pub fn load(path: &Path) -> io::Result<ChannelStore> {
        let links = read_json_or_default(path, "a list of links")?;
        Ok(ChannelStore {
            path: path.to_owned(),
            links: Mutex::new(links),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<LinkRecord>> {
        self.links.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self, links: &[LinkRecord]) -> io::Result<()> {
        write_json(&self.path, links)
    }

    /// A streamer's links, oldest first.
    pub fn list(&self, streamer: Uuid) -> Vec<LinkRecord> {
        self.lock()
            .iter()
            .filter(|l| l.streamer_id == streamer)
            .cloned()
            .collect()
    }

    /// Adds a link (persisted before it is visible).
    pub fn add(&self, record: LinkRecord) -> Result<LinkRecord, LinkError> {
        let mut links = self.lock();
        let mine = links.iter().filter(|l| l.streamer_id == record.streamer_id);
        if mine
            .clone()
            .any(|l| l.platform == record.platform && l.channel == record.channel)
        {
            return Err(LinkError::AlreadyLinked);
        }
        if mine.count() >= MAX_LINKS_PER_STREAMER {
            return Err(LinkError::TooMany);
        }
        let mut next = links.clone();
        next.push(record.clone());
        self.save(&next)?;
        *links = next;
        Ok(record)
    }

    /// Removes a streamer's link; false when they had none.
    pub fn remove(&self, streamer: Uuid, platform: Platform, channel: &str) -> io::Result<bool> {
        let mut links = self.lock();
        let before = links.len();
        let next: Vec<LinkRecord> = links
            .iter()
            .filter(|l| {
                !(l.streamer_id == streamer && l.platform == platform && l.channel == channel)
            })
            .cloned()
            .collect();
        if next.len() == before {
            return Ok(false);
        }
        self.save(&next)?;
        *links = next;
        Ok(true)
    }

    /// Every channel of `platform`, each once with all its streamers.
    pub fn for_platform(&self, platform: Platform) -> Vec<Link> {
        let mut out: Vec<Link> = Vec::new();
        for l in self.lock().iter().filter(|l| l.platform == platform) {
            match out.iter_mut().find(|o| o.channel == l.channel) {
                Some(o) => {
                    if !o.streamers.contains(&l.streamer_id) {
                        o.streamers.push(l.streamer_id);
                    }
                    o.chatroom_id = o.chatroom_id.or(l.chatroom_id);
                    o.channel_id = o.channel_id.or(l.channel_id);
                }
                None => out.push(Link {
                    channel: l.channel.clone(),
                    streamers: vec![l.streamer_id],
                    chatroom_id: l.chatroom_id,
                    channel_id: l.channel_id,
                }),
            }
        }
        out
    }

    /// The streamers that link a channel.
    pub fn streamers_of(&self, platform: Platform, channel: &str) -> Vec<Uuid> {
        self.lock()
            .iter()
            .filter(|l| l.platform == platform && l.channel == channel)
            .map(|l| l.streamer_id)
            .collect()
    }

    /// Caches Kick ids found by a lookup on every link of that channel that lacks them.
    pub fn cache_ids(
        &self,
        platform: Platform,
        channel: &str,
        chatroom_id: u64,
        channel_id: u64,
    ) -> io::Result<()> {
        let lacks = |l: &LinkRecord| {
            l.platform == platform && l.channel == channel && l.chatroom_id.is_none()
        };
        let mut links = self.lock();
        if !links.iter().any(lacks) {
            return Ok(());
        }
        let mut next = links.clone();
        for l in next.iter_mut().filter(|l| lacks(l)) {
            l.chatroom_id = Some(chatroom_id);
            l.channel_id = Some(channel_id);
        }
        self.save(&next)?;
        *links = next;
        Ok(())
    }

    /// Whether some link of the channel has no cached Kick ids yet.
    pub fn lacks_ids(&self, platform: Platform, channel: &str) -> bool {
        self.lock()
            .iter()
            .any(|l| l.platform == platform && l.channel == channel && l.chatroom_id.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(s: Uuid, p: Platform, c: &str) -> LinkRecord {
        LinkRecord {
            streamer_id: s,
            platform: p,
            channel: c.into(),
            chatroom_id: None,
            channel_id: None,
            created_at: 1,
        }
    }

    #[test]
    fn links_persist_and_group_by_channel() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("channels.json");
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let store = ChannelStore::load(&path).unwrap();
        store.add(rec(a, Platform::Twitch, "x")).unwrap();
        assert!(matches!(
            store.add(rec(a, Platform::Twitch, "x")),
            Err(LinkError::AlreadyLinked)
        ));
        store.add(rec(b, Platform::Twitch, "x")).unwrap();
        store.add(rec(b, Platform::Kick, "x")).unwrap();
        store.cache_ids(Platform::Kick, "x", 5, 6).unwrap();
        let again = ChannelStore::load(&path).unwrap();
        assert_eq!(again.list(b).len(), 2);
        let tw = again.for_platform(Platform::Twitch);
        assert_eq!(tw.len(), 1);
        assert_eq!(tw[0].streamers, vec![a, b]);
        assert_eq!(again.for_platform(Platform::Kick)[0].chatroom_id, Some(5));
        assert!(again.remove(a, Platform::Twitch, "x").unwrap());
        assert!(!again.remove(a, Platform::Twitch, "x").unwrap());
        assert_eq!(again.streamers_of(Platform::Twitch, "x"), vec![b]);
    }
}
