//! Login sessions (`sessions.json`): the SHA-256 of each session token with its user and expiry.
//! The token itself (256 random bits, hex) lives only in the browser's cookie, so a copy of the
//! data directory does not let anyone log in.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::atomic::write_atomic;
use super::{now_ms, StoreError};

/// How long a login lasts.
pub const SESSION_TTL_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// Logins kept per user; the oldest is dropped beyond this, so logging in in a loop cannot grow the
/// file without bound.
pub const MAX_SESSIONS_PER_USER: usize = 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredSession {
    /// hex SHA-256 of the token.
    token_sha256: String,
    user_id: Uuid,
    created_at: u64,
    expires_at: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct SessionsFile {
    version: u32,
    sessions: Vec<StoredSession>,
}

#[derive(Debug, Clone, Copy)]
struct Live {
    user_id: Uuid,
    created_at: u64,
    expires_at: u64,
}

/// The login sessions and their file.
pub struct SessionStore {
    path: PathBuf,
    inner: Mutex<HashMap<[u8; 32], Live>>,
}

/// SHA-256 of a token's text.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A token is exactly 64 lower-case hex digits; anything else (a forged JSON cookie, …) is refused
/// before hashing.
fn well_formed(token: &str) -> bool {
    token.len() == 64
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl SessionStore {
    /// Loads `sessions.json`, dropping expired sessions (a missing file is no sessions).
    pub fn load(path: &Path) -> Result<SessionStore, StoreError> {
        let file: SessionsFile = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt {
                path: path.to_owned(),
                source,
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => SessionsFile::default(),
            Err(source) => {
                return Err(StoreError::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let now = now_ms();
        let mut map = HashMap::new();
        for s in file.sessions {
            let mut hash = [0u8; 32];
            if hex::decode_to_slice(&s.token_sha256, &mut hash).is_err() || s.expires_at <= now {
                continue;
            }
            map.insert(
                hash,
                Live {
                    user_id: s.user_id,
                    created_at: s.created_at,
                    expires_at: s.expires_at,
                },
            );
        }
        Ok(SessionStore {
            path: path.to_owned(),
            inner: Mutex::new(map),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Live>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, map: &HashMap<[u8; 32], Live>) -> io::Result<()> {
        let file = SessionsFile {
            version: 1,
            sessions: map
                .iter()
                .map(|(h, l)| StoredSession {
                    token_sha256: hex::encode(h),
                    user_id: l.user_id,
                    created_at: l.created_at,
                    expires_at: l.expires_at,
                })
                .collect(),
        };
        let bytes = serde_json::to_vec_pretty(&file).expect("sessions serialise");
        write_atomic(&self.path, &bytes)
    }

    /// Starts a session for `user_id` and returns its token (for the cookie).
    pub fn create(&self, user_id: Uuid) -> io::Result<String> {
        let token = hex::encode(rand::random::<[u8; 32]>());
        let now = now_ms();
        let mut live = self.lock();
        // Changed on a copy: a failed save (a full disk) must not log anyone out.
        let mut map = live.clone();
        map.retain(|_, l| l.expires_at > now);
        let mut mine: Vec<([u8; 32], u64)> = map
            .iter()
            .filter(|(_, l)| l.user_id == user_id)
            .map(|(h, l)| (*h, l.created_at))
            .collect();
        if mine.len() >= MAX_SESSIONS_PER_USER {
            mine.sort_by_key(|(_, c)| *c);
            for (h, _) in &mine[..=mine.len() - MAX_SESSIONS_PER_USER] {
                map.remove(h);
            }
        }
        let hash = hash_token(&token);
        map.insert(
            hash,
            Live {
                user_id,
                created_at: now,
                expires_at: now + SESSION_TTL_MS,
            },
        );
        self.save(&map)?;
        *live = map;
        Ok(token)
    }

    /// The user of a live session. Looking up by SHA-256 means a guessed token reveals nothing
    /// through timing: the attacker cannot steer the hash.
    pub fn lookup(&self, token: &str) -> Option<Uuid> {
        if !well_formed(token) {
            return None;
        }
        let hash = hash_token(token);
        let map = self.lock();
        let live = map.get(&hash)?;
        (live.expires_at > now_ms()).then_some(live.user_id)
    }

    /// Ends a session; `Ok(false)` when there was none.
    pub fn remove(&self, token: &str) -> io::Result<bool> {
        if !well_formed(token) {
            return Ok(false);
        }
        let hash = hash_token(token);
        let mut map = self.lock();
        let Some(old) = map.remove(&hash) else {
            return Ok(false);
        };
        if let Err(e) = self.save(&map) {
            map.insert(hash, old);
            return Err(e);
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_whose_save_fails_logs_nobody_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.json");
        let store = SessionStore::load(&path).unwrap();
        let user = Uuid::new_v4();
        let first = store.create(user).unwrap();
        // The file can no longer be replaced (a directory sits where it was): every save fails.
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir_all(path.join("blocker")).unwrap();
        for _ in 0..MAX_SESSIONS_PER_USER + 1 {
            assert!(store.create(user).is_err());
        }
        assert_eq!(
            store.lookup(&first),
            Some(user),
            "the old session still works"
        );
        // And no temporary file was left behind by the failed writes.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
