//! The data directory — the gateway is its only writer.
//!
//! | file | what | how it is written |
//! |---|---|---|
//! | `users.json` | accounts (bcrypt hashes) and their stream sessions | [`atomic::write_atomic`] under one lock |
//! | `sessions.json` | login sessions: SHA-256 of the token, user, expiry | the same |
//! | `chat-history-<userId>.ndjson` | the active chat log | appended, one write per batch, `fdatasync` |
//! | `archive-<userId>-<sessionId>.ndjson` | a finished session's transcript | rename of the active log |
//! | `channels.json` | linked platform channels | [`atomic::write_atomic`] |
//! | `overlays.json` | overlay links: SHA-256 of each key, label, revoked | the same |
//! | `filters.json` | each streamer's chat filters | the same |
//! | `.lock` | held (`flock`) while a gateway uses the directory | — |
//!
//! Modules: [`atomic`] (crash-safe replace), [`users`], [`sessions`], [`logs`].

pub mod atomic;
pub mod channels;
pub mod filters;
pub mod logs;
pub mod overlays;
pub mod sessions;
pub mod users;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use shm_layout::SlotEvent;
use uuid::Uuid;

use self::logs::{read_messages, LogEntry, LogStore};
use self::sessions::SessionStore;
use self::users::{StreamSession, UserStore};

/// Milliseconds since the Unix epoch (the one clock every process uses).
pub use shm_layout::now_ms;

/// The sentence for an error writing the data directory (`/readyz`, the pump's log line).
pub fn describe_write_error(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) if code == rustix::io::Errno::NOSPC.raw_os_error() => {
            "the data directory is full".into()
        }
        Some(code) if code == rustix::io::Errno::DQUOT.raw_os_error() => {
            "the data directory's disk quota is used up".into()
        }
        Some(code) if code == rustix::io::Errno::ROFS.raw_os_error() => {
            "the data directory is on a read-only file system".into()
        }
        _ => format!("the data directory cannot be written ({e})"),
    }
}

/// When chat logs are flushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FsyncPolicy {
    /// `fdatasync` every log a pump cycle appended to, before anything is pushed or committed.
    Cycle,
    /// Leave it to the kernel (a power loss can lose the last seconds; a process crash cannot).
    Never,
}

/// Why the data directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("could not use {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A JSON file does not parse.
    #[error("{path} is not valid JSON ({source}); restore it from a backup or move it away")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// Another gateway uses this data directory.
    #[error("another gateway is using the data directory {0} (it holds {0}/.lock); stop it or pick another --data-dir")]
    Locked(PathBuf),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What a stream start did.
#[derive(Debug, Clone)]
pub struct StreamStart {
    /// The session that was active and got archived first, if any.
    pub ended: Option<StreamSession>,
    /// The new session.
    pub started: StreamSession,
}

/// Why a stream could not be ended.
#[derive(Debug, thiserror::Error)]
pub enum EndStreamError {
    /// There is no active session.
    #[error("there is no active stream to end")]
    NotActive,
    /// The account does not exist (deleted under a live cookie).
    #[error("no such account")]
    NoAccount,
    /// The archive or users.json could not be written.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// What one pump batch did.
#[derive(Debug)]
pub struct BatchReport<T> {
    /// Messages newly written to a log, in batch order (to be pushed to rooms).
    pub persisted: Vec<T>,
    /// Messages skipped because their log already had their id.
    pub duplicates: usize,
    /// Messages for a `streamerId` with no account (not persisted).
    pub unknown_streamer: usize,
    /// A log that could not be written: its messages are not persisted (the others are), and
    /// the caller must not commit the batch; a retry skips what was written.
    pub failed: Option<io::Error>,
}

/// Which transcript `GET /api/messages` reads.
#[derive(Debug, Clone, Copy)]
pub enum Transcript {
    /// The streamer's active log.
    Active,
    /// One of the streamer's sessions.
    Session(Uuid),
}

/// `GET /api/messages` could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The session is not one of the caller's.
    #[error("no such session")]
    NoSuchSession,
    /// The session has not ended yet: its messages are in the active log.
    #[error("session still active")]
    StillActive,
    /// Reading failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// The data directory and everything in it.
pub struct Store {
    dir: PathBuf,
    users: UserStore,
    sessions: SessionStore,
    logs: LogStore,
    /// Warnings about messages for unknown streamers are logged at most once per 10 s.
    unknown_warned: Mutex<Option<Instant>>,
    unknown_total: AtomicU64,
    channels: channels::ChannelStore,
    overlays: overlays::OverlayStore,
    filters: filters::FilterStore,
    /// The `flock` on `.lock`, held for the life of the store.
    _lock: File,
}

impl Store {
    /// Opens (creating it 0700 if needed) the data directory: takes its lock, removes leftover
    /// temporaries, loads the JSON files, repairs torn log lines, finishes a stream end a crash
    /// interrupted, and seeds the logs' recent ids.
    pub fn open(dir: &Path, fsync: FsyncPolicy) -> Result<Store, StoreError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_at(dir))?;
        let lock_path = dir.join(".lock");
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io_at(&lock_path))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive)
            .map_err(|_| StoreError::Locked(dir.to_owned()))?;

        for entry in fs::read_dir(dir).map_err(io_at(dir))? {
            let entry = entry.map_err(io_at(dir))?;
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.ends_with(atomic::TMP_SUFFIX))
            {
                let _ = fs::remove_file(entry.path());
            }
        }

        let users = UserStore::load(&dir.join("users.json"))?;
        let sessions = SessionStore::load(&dir.join("sessions.json"))?;
        let channels_path = dir.join("channels.json");
        let channels =
            channels::ChannelStore::load(&channels_path).map_err(io_at(&channels_path))?;
        let overlays_path = dir.join("overlays.json");
        let overlays =
            overlays::OverlayStore::load(&overlays_path).map_err(io_at(&overlays_path))?;
        let filters_path = dir.join("filters.json");
        let filters = filters::FilterStore::load(&filters_path).map_err(io_at(&filters_path))?;

        // A crash between renaming the active log and recording the end in users.json leaves the
        // session "active" with its archive present: finish the end now.
        for account in users.all() {
            let Some(sid) = account.active_session_id else {
                continue;
            };
            let name = logs::archive_name(account.id, sid);
            let path = dir.join(&name);
            if path.exists() {
                logs::repair_tail(&path).map_err(io_at(&path))?;
                let count = read_messages(&path).map_err(io_at(&path))?.len() as u64;
                users
                    .update(account.id, |a| {
                        a.active_session_id = None;
                        if let Some(s) = a.sessions.iter_mut().find(|s| s.id == sid) {
                            s.ended_at = Some(now_ms());
                            s.message_count = count;
                            s.archive = Some(name.clone());
                        }
                    })
                    .map_err(io_at(&dir.join("users.json")))?;
                tracing::warn!(user = %account.id, session = %sid, count, "finished ending a stream that a crash interrupted");
            }
        }

        let seeds: HashMap<Uuid, PathBuf> = users
            .all()
            .into_iter()
            .filter_map(|a| {
                let newest = a.sessions.iter().rev().find_map(|s| s.archive.clone())?;
                Some((a.id, dir.join(newest)))
            })
            .collect();
        let logs = LogStore::open(dir, fsync == FsyncPolicy::Cycle, &seeds).map_err(io_at(dir))?;

        Ok(Store {
            dir: dir.to_owned(),
            users,
            sessions,
            logs,
            channels,
            overlays,
            filters,
            unknown_warned: Mutex::new(None),
            unknown_total: AtomicU64::new(0),
            _lock: lock,
        })
    }

    /// Linked channels.
    pub fn channels(&self) -> &channels::ChannelStore {
        &self.channels
    }

    /// Overlay links.
    pub fn overlays(&self) -> &overlays::OverlayStore {
        &self.overlays
    }

    /// Chat filters.
    pub fn filters(&self) -> &filters::FilterStore {
        &self.filters
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Accounts.
    pub fn users(&self) -> &UserStore {
        &self.users
    }

    /// Login sessions.
    pub fn sessions(&self) -> &SessionStore {
        &self.sessions
    }

    /// Chat logs.
    pub fn logs(&self) -> &LogStore {
        &self.logs
    }

    /// Messages dropped so far because their streamer has no account.
    pub fn unknown_streamer_total(&self) -> u64 {
        self.unknown_total.load(Ordering::Relaxed)
    }

    /// Whether the data directory accepts a new file right now (for `/readyz`).
    pub fn writable(&self) -> io::Result<()> {
        let probe = self.dir.join(".readyz-probe");
        let written = fs::write(&probe, b"ok");
        let _ = fs::remove_file(&probe);
        written
    }

    /// Starts a stream session; an active one is ended and archived first. Nothing is deleted:
    /// messages that arrived with no stream active stay in the active log for the next archive.
    pub fn start_stream(&self, user: Uuid) -> Result<StreamStart, EndStreamError> {
        let log = self.logs.user_log(user);
        // Held across the archive and the users.json write so that stream control of one user is
        // serialised and no pump append slips between the rename and the new session.
        let mut log = LogStore::lock(&log);
        let account = self.users.account(user).ok_or(EndStreamError::NoAccount)?;
        let ended = match account.active_session_id {
            Some(sid) => Some(self.end_locked(&mut log, user, sid)?),
            None => None,
        };
        let started = StreamSession {
            id: Uuid::new_v4(),
            started_at: now_ms(),
            ended_at: None,
            message_count: 0,
            archive: None,
        };
        let s = started.clone();
        self.users
            .update(user, move |a| {
                a.active_session_id = Some(s.id);
                a.sessions.push(s);
            })?
            .ok_or(EndStreamError::NoAccount)?;
        Ok(StreamStart { ended, started })
    }

    /// Ends the active stream session: archives the active log and records the count.
    pub fn end_stream(&self, user: Uuid) -> Result<StreamSession, EndStreamError> {
        let log = self.logs.user_log(user);
        let mut log = LogStore::lock(&log);
        let account = self.users.account(user).ok_or(EndStreamError::NoAccount)?;
        let sid = account.active_session_id.ok_or(EndStreamError::NotActive)?;
        self.end_locked(&mut log, user, sid)
    }

    fn end_locked(
        &self,
        log: &mut logs::UserLog,
        user: Uuid,
        sid: Uuid,
    ) -> Result<StreamSession, EndStreamError> {
        // Rename first, then record: a crash in between is finished at the next start (see open).
        let (name, count) = self.logs.archive(log, user, sid)?;
        let ended = self
            .users
            .update(user, |a| {
                a.active_session_id = None;
                let s = a.sessions.iter_mut().find(|s| s.id == sid)?;
                s.ended_at = Some(now_ms());
                s.message_count = count;
                s.archive = Some(name.clone());
                Some(s.clone())
            })?
            .flatten()
            .ok_or(EndStreamError::NoAccount)?;
        Ok(ended)
    }

    /// A user's sessions, newest first.
    pub fn stream_sessions(&self, user: Uuid) -> Vec<StreamSession> {
        let mut s = self
            .users
            .account(user)
            .map(|a| a.sessions)
            .unwrap_or_default();
        s.reverse();
        s
    }

    /// The user's active session, if a stream is live.
    pub fn active_session(&self, user: Uuid) -> Option<StreamSession> {
        let a = self.users.account(user)?;
        let sid = a.active_session_id?;
        a.sessions.into_iter().find(|s| s.id == sid)
    }

    /// Persists one pump batch: per streamer, one append of the messages its log has not seen.
    /// Messages for streamers without an account are counted and dropped (a local tool must not
    /// create files for made-up ids), with a rate-limited warning. A failing log does not stop the
    /// others: see [`BatchReport::failed`].
    pub fn persist_batch<T: LogEntry + Clone>(&self, msgs: &[T]) -> BatchReport<T> {
        let mut by_user: Vec<(Uuid, Vec<&T>)> = Vec::new();
        let mut report = BatchReport {
            persisted: Vec::with_capacity(msgs.len()),
            duplicates: 0,
            unknown_streamer: 0,
            failed: None,
        };
        for m in msgs {
            let user = m.streamer();
            match by_user.iter_mut().find(|(u, _)| *u == user) {
                Some((_, v)) => v.push(m),
                None => by_user.push((user, vec![m])),
            }
        }
        for (user, batch) in by_user {
            if !self.users.exists(user) {
                report.unknown_streamer += batch.len();
                self.warn_unknown(user, batch.len());
                continue;
            }
            match self.logs.append(user, &batch) {
                Ok(fresh) => {
                    report.duplicates += batch.len() - fresh.len();
                    report
                        .persisted
                        .extend(fresh.into_iter().map(|i| batch[i].clone()));
                }
                Err(e) => {
                    // Debug only: the pump retries every ≤ 2 s and reports the failure itself,
                    // once a minute while it lasts (`PumpStats::failed`), not once per retry.
                    tracing::debug!(streamer = %user, error = %e, "could not append to a chat log; the batch stays in the ring and is retried");
                    report.failed = Some(e);
                }
            }
        }
        report
    }

    fn warn_unknown(&self, user: Uuid, n: usize) {
        let total = self.unknown_total.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        let mut last = self
            .unknown_warned
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
            *last = Some(Instant::now());
            tracing::warn!(streamer = %user, dropped = n, total, "dropping messages for a streamerId that has no account (logged at most every 10 s)");
        }
    }

    /// The file of a transcript of `user`: the active log, or one of their ended sessions'
    /// archives. The name is the server's; the client never names a file.
    pub fn transcript_path(&self, user: Uuid, which: Transcript) -> Result<PathBuf, ReadError> {
        let name = match which {
            Transcript::Active => logs::active_name(user),
            Transcript::Session(sid) => {
                let account = self.users.account(user).ok_or(ReadError::NoSuchSession)?;
                let s = account
                    .sessions
                    .iter()
                    .find(|s| s.id == sid)
                    .ok_or(ReadError::NoSuchSession)?;
                s.archive.clone().ok_or(ReadError::StillActive)?
            }
        };
        Ok(self.logs.path(&name))
    }

    /// Messages of a transcript as `GET /api/messages` returns them (see
    /// [`logs::select_from_log`]).
    pub fn messages(
        &self,
        user: Uuid,
        which: Transcript,
        since: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<logs::TranscriptMessage>, ReadError> {
        let path = self.transcript_path(user, which)?;
        Ok(logs::select_marked(&path, since, limit)?)
    }

    /// A WebSocket resume: calls `f` with every message and tombstone of `user`'s active log
    /// after `since`, in order, streaming (blocking: run it off the reactor); stops when `f`
    /// returns false. A recent `since` (the usual resume) is found by its offset, an older one by
    /// a scan; when `since` is not in the active log (archived meanwhile, or unknown), the newest
    /// `without_anchor` messages.
    pub fn replay_since(
        &self,
        user: Uuid,
        since: Uuid,
        without_anchor: usize,
        mut f: impl FnMut(SlotEvent) -> bool,
    ) -> Result<(), ReadError> {
        let path = self.transcript_path(user, Transcript::Active)?;
        if let Some((file, offset)) = self.logs.open_after(user, since)? {
            return Ok(logs::replay_from(&path, file, offset, f)?);
        }
        if !logs::replay_after(&path, since, &mut f)? {
            for m in logs::select_from_log(&path, None, without_anchor)? {
                if !f(SlotEvent::Message(m)) {
                    break;
                }
            }
        }
        Ok(())
    }
}
