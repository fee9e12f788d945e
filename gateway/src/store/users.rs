//! `users.json`: accounts (bcrypt hashes) and their stream sessions, kept in memory behind one std
//! mutex and rewritten atomically on every change by whoever holds it — one writer, so concurrent
//! registrations cannot lose an account.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::atomic::write_atomic;
use super::StoreError;

/// A stream session: one start → end of a broadcast, and its archived transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamSession {
    /// Server-chosen id (UUID v4).
    pub id: Uuid,
    /// Milliseconds since the Unix epoch.
    pub started_at: u64,
    /// Set when the session ended.
    #[serde(default)]
    pub ended_at: Option<u64>,
    /// Lines in the archive (0 while active).
    #[serde(default)]
    pub message_count: u64,
    /// The archive's file name in the data directory, server-chosen, set on end.
    #[serde(default)]
    pub archive: Option<String>,
}

/// One account as stored in `users.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// The account id; also the room and `streamerId` of its messages.
    pub id: Uuid,
    /// As registered (case kept).
    pub username: String,
    /// Lower-cased, for the case-insensitive uniqueness check and login.
    pub username_lower: String,
    /// bcrypt hash (`$2b$…`).
    pub password_hash: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    /// The session that is live, if any.
    #[serde(default)]
    pub active_session_id: Option<Uuid>,
    /// Every session, oldest first.
    #[serde(default)]
    pub sessions: Vec<StreamSession>,
}

/// The part of an account that routes may show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicUser {
    /// Account id.
    pub id: Uuid,
    /// Username as registered.
    pub username: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct UsersFile {
    version: u32,
    users: Vec<Account>,
}

const USERS_VERSION: u32 = 1;

#[derive(Default)]
struct Users {
    accounts: Vec<Account>,
    by_lower: HashMap<String, usize>,
    by_id: HashMap<Uuid, usize>,
}

impl Users {
    fn index(&mut self) {
        self.by_lower = self
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.username_lower.clone(), i))
            .collect();
        self.by_id = self
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id, i))
            .collect();
    }
}

/// Why an account could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The name is taken (case-insensitively).
    #[error("that username is taken")]
    Taken,
    /// `users.json` could not be written; nothing changed.
    #[error("could not write users.json: {0}")]
    Io(#[from] io::Error),
}

/// The accounts file and its in-memory model.
pub struct UserStore {
    path: PathBuf,
    inner: Mutex<Users>,
}

impl UserStore {
    /// Loads `users.json` (a missing file is an empty store).
    pub fn load(path: &Path) -> Result<UserStore, StoreError> {
        let file: UsersFile = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt {
                path: path.to_owned(),
                source,
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => UsersFile {
                version: USERS_VERSION,
                users: Vec::new(),
            },
            Err(source) => {
                return Err(StoreError::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let mut users = Users {
            accounts: file.users,
            ..Users::default()
        };
        users.index();
        Ok(UserStore {
            path: path.to_owned(),
            inner: Mutex::new(users),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Users> {
        // A panic while holding the lock cannot leave the model half-changed on disk (writes are
        // atomic and rolled back in memory), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, users: &Users) -> io::Result<()> {
        let file = UsersFile {
            version: USERS_VERSION,
            users: users.accounts.clone(),
        };
        // Serialising plain strings and numbers cannot fail.
        let bytes = serde_json::to_vec_pretty(&file).expect("users serialise");
        write_atomic(&self.path, &bytes)
    }

    /// Creates an account; the name check and the write happen under one lock.
    pub fn create(&self, username: &str, password_hash: String) -> Result<PublicUser, CreateError> {
        let lower = username.to_ascii_lowercase();
        let mut users = self.lock();
        if users.by_lower.contains_key(&lower) {
            return Err(CreateError::Taken);
        }
        let account = Account {
            id: Uuid::new_v4(),
            username: username.to_owned(),
            username_lower: lower.clone(),
            password_hash,
            created_at: super::now_ms(),
            active_session_id: None,
            sessions: Vec::new(),
        };
        let public = PublicUser {
            id: account.id,
            username: account.username.clone(),
        };
        users.accounts.push(account);
        if let Err(e) = self.save(&users) {
            users.accounts.pop();
            return Err(e.into());
        }
        let i = users.accounts.len() - 1;
        users.by_lower.insert(lower, i);
        users.by_id.insert(public.id, i);
        Ok(public)
    }

    /// The account id, username and hash for a login name (case-insensitive).
    pub fn credentials(&self, username: &str) -> Option<(PublicUser, String)> {
        let users = self.lock();
        let i = *users.by_lower.get(&username.to_ascii_lowercase())?;
        let a = &users.accounts[i];
        Some((
            PublicUser {
                id: a.id,
                username: a.username.clone(),
            },
            a.password_hash.clone(),
        ))
    }

    /// The public part of an account.
    pub fn get(&self, id: Uuid) -> Option<PublicUser> {
        let users = self.lock();
        let a = &users.accounts[*users.by_id.get(&id)?];
        Some(PublicUser {
            id: a.id,
            username: a.username.clone(),
        })
    }

    /// Whether an account with this id exists.
    pub fn exists(&self, id: Uuid) -> bool {
        self.lock().by_id.contains_key(&id)
    }

    /// A copy of an account (sessions included).
    pub fn account(&self, id: Uuid) -> Option<Account> {
        let users = self.lock();
        Some(users.accounts[*users.by_id.get(&id)?].clone())
    }

    /// Copies of every account (for start-up reconciliation).
    pub fn all(&self) -> Vec<Account> {
        self.lock().accounts.clone()
    }

    /// Changes one account and persists the change; if the write fails the change is undone in
    /// memory too and the error returned. `None` when there is no such account.
    pub fn update<R>(&self, id: Uuid, f: impl FnOnce(&mut Account) -> R) -> io::Result<Option<R>> {
        let mut users = self.lock();
        let Some(&i) = users.by_id.get(&id) else {
            return Ok(None);
        };
        let before = users.accounts[i].clone();
        let r = f(&mut users.accounts[i]);
        if let Err(e) = self.save(&users) {
            users.accounts[i] = before;
            return Err(e);
        }
        Ok(Some(r))
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.lock().accounts.len()
    }

    /// Whether there are no accounts.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
