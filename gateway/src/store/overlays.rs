//! Overlay links (`overlays.json`): read-only, revocable capabilities that open one streamer's
//! live feed for an OBS browser source.
//!
//! A key is 256 random bits shown once, when the link is made; the file keeps only its SHA-256,
//! so a copy of the data directory opens no overlay. Revoking keeps the record (the dashboard
//! lists it as revoked) and makes the key answer [`KeyLookup::Revoked`] for good.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::atomic::{read_json_or_default, write_json};
use super::now_ms;
use super::sessions::hash_token;

/// Most live (unrevoked) links one streamer may hold.
pub const MAX_LIVE_OVERLAYS: usize = 20;
/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 64;
/// `lastUsedAt` is written to disk at most this often per link (a reconnect storm writes nothing).
const LAST_USED_GRANULARITY_MS: u64 = 60_000;

/// One overlay link as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverlayRecord {
    /// The link's id (what `DELETE /api/overlays/{id}` names).
    pub id: Uuid,
    /// Whose feed it opens.
    pub streamer_id: Uuid,
    /// The streamer's name for it ("OBS main scene").
    pub label: String,
    /// Hex SHA-256 of the key.
    pub key_sha256: String,
    /// When it was made, ms since the epoch.
    pub created_at: u64,
    /// When an overlay last joined with it.
    #[serde(default)]
    pub last_used_at: Option<u64>,
    /// When it was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<u64>,
}

/// A link as `GET /api/overlays` shows it: never the key or its hash.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OverlayView {
    /// The link's id.
    pub id: Uuid,
    /// The label.
    pub label: String,
    /// When it was made.
    pub created_at: u64,
    /// When an overlay last joined with it (to the minute).
    pub last_used_at: Option<u64>,
    /// Whether it was revoked.
    pub revoked: bool,
}

impl From<&OverlayRecord> for OverlayView {
    fn from(r: &OverlayRecord) -> Self {
        OverlayView {
            id: r.id,
            label: r.label.clone(),
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked: r.revoked_at.is_some(),
        }
    }
}

/// What a key opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLookup {
    /// A live link: this streamer's feed, through this link.
    Valid {
        /// The streamer.
        streamer: Uuid,
        /// The link.
        overlay: Uuid,
    },
    /// The link was revoked.
    Revoked,
    /// No link has this key (mistyped, or from another gateway).
    Unknown,
}

/// Why a link could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CreateOverlayError {
    /// The streamer holds [`MAX_LIVE_OVERLAYS`] live links.
    #[error("too many overlay links")]
    TooMany,
    /// `overlays.json` could not be written.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// All overlay links, in memory and in `overlays.json`.
pub struct OverlayStore {
    path: PathBuf,
    records: Mutex<Vec<OverlayRecord>>,
}

/// A key is 64 lower-case hex digits; anything else is refused before hashing.
fn well_formed(key: &str) -> bool {
    key.len() == 64
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl OverlayStore {
    /// Loads `path` (absent: no links).
    pub fn load(path: &Path) -> io::Result<OverlayStore> {
        let records = read_json_or_default(path, "a list of overlay links")?;
        Ok(OverlayStore {
            path: path.to_owned(),
            records: Mutex::new(records),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<OverlayRecord>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self, records: &[OverlayRecord]) -> io::Result<()> {
        write_json(&self.path, records)
    }

    /// Makes a link; returns it and its key (the only time the key exists outside the caller).
    pub fn create(
        &self,
        streamer: Uuid,
        label: String,
    ) -> Result<(OverlayRecord, String), CreateOverlayError> {
        let mut records = self.lock();
        let live = records
            .iter()
            .filter(|r| r.streamer_id == streamer && r.revoked_at.is_none())
            .count();
        if live >= MAX_LIVE_OVERLAYS {
            return Err(CreateOverlayError::TooMany);
        }
        let key = hex::encode(rand::random::<[u8; 32]>());
        let record = OverlayRecord {
            id: Uuid::new_v4(),
            streamer_id: streamer,
            label,
            key_sha256: hex::encode(hash_token(&key)),
            created_at: now_ms(),
            last_used_at: None,
            revoked_at: None,
        };
        let mut next = records.clone();
        next.push(record.clone());
        self.save(&next)?;
        *records = next;
        Ok((record, key))
    }

    /// A streamer's links, newest first.
    pub fn list(&self, streamer: Uuid) -> Vec<OverlayView> {
        let mut out: Vec<OverlayView> = self
            .lock()
            .iter()
            .filter(|r| r.streamer_id == streamer)
            .map(OverlayView::from)
            .collect();
        out.sort_by_key(|o| std::cmp::Reverse(o.created_at));
        out
    }

    /// Revokes one of a streamer's links: `Ok(false)` when they have no such link. Revoking a
    /// revoked link succeeds and changes nothing.
    pub fn revoke(&self, streamer: Uuid, id: Uuid) -> io::Result<bool> {
        let mut records = self.lock();
        let Some(i) = records
            .iter()
            .position(|r| r.id == id && r.streamer_id == streamer)
        else {
            return Ok(false);
        };
        if records[i].revoked_at.is_some() {
            return Ok(true);
        }
        let mut next = records.clone();
        next[i].revoked_at = Some(now_ms());
        self.save(&next)?;
        *records = next;
        Ok(true)
    }

    /// What `key` opens. Looked up by SHA-256, so timing tells a guesser nothing.
    pub fn lookup(&self, key: &str) -> KeyLookup {
        if !well_formed(key) {
            return KeyLookup::Unknown;
        }
        let hash = hex::encode(hash_token(key));
        match self.lock().iter().find(|r| r.key_sha256 == hash) {
            None => KeyLookup::Unknown,
            Some(r) if r.revoked_at.is_some() => KeyLookup::Revoked,
            Some(r) => KeyLookup::Valid {
                streamer: r.streamer_id,
                overlay: r.id,
            },
        }
    }

    /// Whether a link is revoked (an unknown id counts as revoked).
    pub fn is_revoked(&self, id: Uuid) -> bool {
        self.lock()
            .iter()
            .find(|r| r.id == id)
            .is_none_or(|r| r.revoked_at.is_some())
    }

    /// Records that an overlay joined with a link, to the minute. A failed write is logged and
    /// ignored: it must not keep an overlay off the air.
    pub fn touch(&self, id: Uuid) {
        let now = now_ms();
        let mut records = self.lock();
        let Some(i) = records.iter().position(|r| r.id == id) else {
            return;
        };
        if records[i]
            .last_used_at
            .is_some_and(|t| now.saturating_sub(t) < LAST_USED_GRANULARITY_MS)
        {
            return;
        }
        let mut next = records.clone();
        next[i].last_used_at = Some(now);
        match self.save(&next) {
            Ok(()) => *records = next,
            Err(e) => {
                tracing::warn!(overlay = %id, error = %e, "could not record an overlay's last use")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_opens_its_link_until_revoked_and_survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("overlays.json");
        let store = OverlayStore::load(&path).unwrap();
        let me = Uuid::new_v4();
        let (rec, key) = store.create(me, "OBS".into()).unwrap();
        assert_eq!(key.len(), 64);
        assert_eq!(
            store.lookup(&key),
            KeyLookup::Valid {
                streamer: me,
                overlay: rec.id
            }
        );
        // The file holds the hash, never the key.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&key));
        assert!(text.contains(&rec.key_sha256));
        // Someone else cannot revoke it.
        assert!(!store.revoke(Uuid::new_v4(), rec.id).unwrap());
        assert!(store.revoke(me, rec.id).unwrap());
        assert!(store.revoke(me, rec.id).unwrap(), "revoking twice is fine");
        assert_eq!(store.lookup(&key), KeyLookup::Revoked);
        assert!(store.is_revoked(rec.id));
        let again = OverlayStore::load(&path).unwrap();
        assert_eq!(again.lookup(&key), KeyLookup::Revoked);
        assert!(again.list(me)[0].revoked);
        assert_eq!(again.lookup(&"0".repeat(64)), KeyLookup::Unknown);
        assert_eq!(again.lookup("not a key"), KeyLookup::Unknown);
    }

    #[test]
    fn live_links_are_bounded_and_revoked_ones_do_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let store = OverlayStore::load(&dir.path().join("overlays.json")).unwrap();
        let me = Uuid::new_v4();
        let mut first = None;
        for i in 0..MAX_LIVE_OVERLAYS {
            let (r, _) = store.create(me, format!("o{i}")).unwrap();
            first.get_or_insert(r.id);
        }
        assert!(matches!(
            store.create(me, "one more".into()),
            Err(CreateOverlayError::TooMany)
        ));
        store.revoke(me, first.unwrap()).unwrap();
        store.create(me, "now it fits".into()).unwrap();
        // Another streamer has their own budget.
        store.create(Uuid::new_v4(), "theirs".into()).unwrap();
    }

    #[test]
    fn last_use_is_recorded_to_the_minute() {
        let dir = tempfile::tempdir().unwrap();
        let store = OverlayStore::load(&dir.path().join("overlays.json")).unwrap();
        let me = Uuid::new_v4();
        let (r, _) = store.create(me, "OBS".into()).unwrap();
        assert_eq!(store.list(me)[0].last_used_at, None);
        store.touch(r.id);
        let t = store.list(me)[0].last_used_at.expect("recorded");
        store.touch(r.id);
        assert_eq!(store.list(me)[0].last_used_at, Some(t));
    }
}
