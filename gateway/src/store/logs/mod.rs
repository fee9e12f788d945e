//! Chat logs: one active NDJSON log per streamer (`chat-history-<userId>.ndjson`), appended in
//! batches, renamed to `archive-<userId>-<sessionId>.ndjson` when a stream ends.
//!
//! Exactly-once: the pump may meet a message twice (it persisted a batch, then died before
//! committing the ring's head). Every log keeps the ids of its most recent messages and skips any
//! it has already written. The ring holds at most 256 uncommitted messages, so a repeat can only be
//! one of the last 256 persisted; [`RECENT_IDS`] keeps 4096 per streamer, 16 times that.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use serde::Deserialize;
use shm_layout::ChatMessage;
use uuid::Uuid;

use super::atomic::sync_dir;

mod marks;
mod read;

pub use marks::*;
pub use read::*;

/// Ids remembered per log for deduplication (see the module doc for why this is enough).
pub const RECENT_IDS: usize = 4096;

/// Bytes read from the end of an archive to seed the recent ids at start (~4096 short lines).
const SEED_TAIL_BYTES: u64 = 1 << 20;

/// File name of a streamer's active log.
pub fn active_name(user: Uuid) -> String {
    format!("chat-history-{user}.ndjson")
}

/// File name of a session's archive.
pub fn archive_name(user: Uuid, session: Uuid) -> String {
    format!("archive-{user}-{session}.ndjson")
}

/// The last [`RECENT_IDS`] message ids of one log, oldest first, each with where the line after it
/// starts in the active log (None for ids seeded from an archive or archived since). The ids make
/// appends exactly-once; the offsets let a replay after one of them read only what follows it (a
/// reconnect storm of thousands of subscribers, each with `since`, would otherwise read the whole
/// log once per subscriber).
#[derive(Default)]
struct RecentIds {
    order: VecDeque<Uuid>,
    ends: HashMap<Uuid, Option<u64>>,
}

impl RecentIds {
    fn contains(&self, id: &Uuid) -> bool {
        self.ends.contains_key(id)
    }

    /// Remembers `id`, with the active log's offset after its line when it is in it.
    fn insert(&mut self, id: Uuid, end: Option<u64>) {
        if self.ends.insert(id, end).is_none() {
            self.order.push_back(id);
            if self.order.len() > RECENT_IDS {
                if let Some(old) = self.order.pop_front() {
                    self.ends.remove(&old);
                }
            }
        }
    }

    /// The offset after `id`'s line in the active log.
    fn end_of(&self, id: &Uuid) -> Option<u64> {
        self.ends.get(id).copied().flatten()
    }

    /// The active log was archived: the ids stay (a repeat must still be skipped), the offsets go.
    fn archived(&mut self) {
        self.ends.values_mut().for_each(|e| *e = None);
    }
}

/// One streamer's active log. Held locked while appending or archiving, so the two never
/// interleave.
#[derive(Default)]
pub struct UserLog {
    /// Open for append once written to; dropped when the file is archived (renamed away).
    file: Option<File>,
    /// Bytes in the file: a failed write is cut back to this length, so a torn line never stays
    /// in the middle of a log.
    len: u64,
    /// Messages in the active log (tombstone lines are not counted).
    count: u64,
    recent: RecentIds,
}

impl UserLog {
    /// Messages in the active log.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// A message as the logs see it: its id, its streamer, and its JSON line.
pub trait LogEntry {
    /// The message id (the dedupe key).
    fn id(&self) -> Uuid;
    /// Whose log it goes to.
    fn streamer(&self) -> Uuid;
    /// Appends the message's JSON (one line, no newline) to `out`.
    fn write_json(&self, out: &mut Vec<u8>);
    /// False for a moderation tombstone: it is logged, but it is not a message to count.
    fn is_message(&self) -> bool {
        true
    }
}

impl LogEntry for ChatMessage {
    fn id(&self) -> Uuid {
        self.id
    }

    fn streamer(&self) -> Uuid {
        self.streamer_id
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        // A struct of strings, numbers and bools always serialises.
        serde_json::to_writer(out, self).expect("message serialises");
    }
}

/// All chat logs of a data directory.
pub struct LogStore {
    dir: PathBuf,
    fsync: bool,
    logs: Mutex<HashMap<Uuid, Arc<Mutex<UserLog>>>>,
    /// How long each `fdatasync` of a chat log took, in seconds (registered by
    /// [`crate::metrics::Metrics`]; one observation per append, i.e. per streamer per pump cycle).
    fsync_seconds: Histogram,
}

#[derive(Deserialize)]
struct IdOnly {
    id: Uuid,
}

impl LogStore {
    /// Opens the logs of `dir`: repairs a torn last line of every log (saying so in the log),
    /// counts each active log's messages and seeds the recent ids from it and from `seed_archives`
    /// (each streamer's newest archive, read first so that the active log's ids are the newest).
    pub fn open(
        dir: &Path,
        fsync: bool,
        seed_archives: &HashMap<Uuid, PathBuf>,
    ) -> io::Result<LogStore> {
        let mut logs: HashMap<Uuid, UserLog> = HashMap::new();
        for (user, path) in seed_archives {
            let log = logs.entry(*user).or_default();
            match read_tail_ids(path) {
                Ok(ids) => ids.into_iter().for_each(|id| log.recent.insert(id, None)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = entry.path();
            if let Some(user) = name
                .strip_prefix("chat-history-")
                .and_then(|r| r.strip_suffix(".ndjson"))
                .and_then(|id| Uuid::parse_str(id).ok())
            {
                repair_tail(&path)?;
                let log = logs.entry(user).or_default();
                let (count, len) = scan_ids(&path, &mut log.recent)?;
                log.count = count;
                log.len = len;
            } else if name.starts_with("archive-") && name.ends_with(".ndjson") {
                repair_tail(&path)?;
            }
        }
        Ok(LogStore {
            dir: dir.to_owned(),
            fsync,
            fsync_seconds: Histogram::new(exponential_buckets(50e-6, 2.0, 16)), // 50 µs … ~1.6 s
            logs: Mutex::new(
                logs.into_iter()
                    .map(|(k, v)| (k, Arc::new(Mutex::new(v))))
                    .collect(),
            ),
        })
    }

    /// The path of a file in the data directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The `fdatasync` latency histogram (shared handle).
    pub fn fsync_seconds(&self) -> &Histogram {
        &self.fsync_seconds
    }

    /// The lock of one streamer's log (created empty on first use).
    pub fn user_log(&self, user: Uuid) -> Arc<Mutex<UserLog>> {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.entry(user).or_default().clone()
    }

    /// Locks a streamer's log. A poisoned lock is still consistent: `len` is only advanced after a
    /// write succeeded.
    pub fn lock(log: &Mutex<UserLog>) -> MutexGuard<'_, UserLog> {
        log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends the messages of one streamer that its log has not seen yet, in one write, then
    /// `fdatasync`s (with `--fsync cycle`). Returns the indices into `msgs` of the messages written.
    /// On an error nothing was appended (a partial write is cut off again) and the caller retries.
    pub fn append<T: LogEntry>(&self, user: Uuid, msgs: &[&T]) -> io::Result<Vec<usize>> {
        let log = self.user_log(user);
        let mut log = Self::lock(&log);
        let mut buf = Vec::with_capacity(msgs.len() * 400);
        let mut fresh = Vec::new();
        let mut messages = 0;
        let mut in_batch = HashSet::new();
        for (i, m) in msgs.iter().enumerate() {
            let id = m.id();
            if log.recent.contains(&id) || !in_batch.insert(id) {
                continue;
            }
            m.write_json(&mut buf);
            buf.push(b'\n');
            fresh.push((i, buf.len() as u64));
            messages += u64::from(m.is_message());
        }
        if fresh.is_empty() {
            return Ok(Vec::new());
        }
        if log.file.is_none() {
            let path = self.path(&active_name(user));
            let existed = path.exists();
            let f = OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(&path)?;
            if !existed {
                // Make the new file's name durable before anything in it counts as persisted.
                sync_dir(&self.dir)?;
            }
            log.len = f.metadata()?.len();
            log.file = Some(f);
        }
        let len = log.len;
        let file = log.file.as_mut().expect("opened above");
        if let Err(e) = file.write_all(&buf) {
            // Cut off whatever part of the batch reached the file; the pump will retry it whole.
            let _ = file.set_len(len);
            return Err(e);
        }
        if self.fsync {
            let started = std::time::Instant::now();
            let synced = file.sync_data();
            self.fsync_seconds.observe(started.elapsed().as_secs_f64());
            if let Err(e) = synced {
                let _ = file.set_len(len);
                return Err(e);
            }
        }
        log.len += buf.len() as u64;
        log.count += messages;
        for &(i, end) in &fresh {
            log.recent.insert(msgs[i].id(), Some(len + end));
        }
        Ok(fresh.into_iter().map(|(i, _)| i).collect())
    }

    /// Renames the active log (held locked by the caller) to the session's archive and returns the
    /// archive's name and message count. With no active log an empty archive is created, so every
    /// ended session has a readable transcript. The recent ids are kept: a repeat of an archived
    /// message must still be skipped.
    pub fn archive(
        &self,
        log: &mut UserLog,
        user: Uuid,
        session: Uuid,
    ) -> io::Result<(String, u64)> {
        let name = archive_name(user, session);
        let to = self.path(&name);
        log.file = None;
        match fs::rename(self.path(&active_name(user)), &to) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let f = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o600)
                    .open(&to)?;
                f.sync_all()?;
            }
            Err(e) => return Err(e),
        }
        sync_dir(&self.dir)?;
        let count = log.count;
        log.count = 0;
        log.len = 0;
        log.recent.archived();
        Ok((name, count))
    }

    /// The active log opened for a replay after message `since`, and the offset of the line after
    /// it — when `since` is one of its last [`RECENT_IDS`] lines (`None` otherwise: scan with
    /// [`replay_after`]). The file is opened under the log's lock, so an archive that renames it
    /// meanwhile does not matter.
    pub fn open_after(&self, user: Uuid, since: Uuid) -> io::Result<Option<(File, u64)>> {
        let log = self.user_log(user);
        let log = Self::lock(&log);
        let Some(end) = log.recent.end_of(&since) else {
            return Ok(None);
        };
        match File::open(self.path(&active_name(user))) {
            Ok(f) => Ok(Some((f, end))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Counts the messages of the active log (not its tombstones) and feeds the ids and end offsets of
/// all its lines to `recent`; returns (messages, bytes).
fn scan_ids(path: &Path, recent: &mut RecentIds) -> io::Result<(u64, u64)> {
    let bytes = fs::read(path)?;
    let mut count = 0;
    let mut start = 0u64;
    for line in bytes.split(|&b| b == b'\n') {
        let end = start + line.len() as u64 + 1;
        start = end;
        if line.is_empty() {
            continue;
        }
        if !is_event_line(line) {
            count += 1;
        }
        if let Ok(m) = serde_json::from_slice::<IdOnly>(line) {
            recent.insert(m.id, Some(end));
        }
    }
    Ok((count, bytes.len() as u64))
}

/// The ids in the last [`SEED_TAIL_BYTES`] of a log.
fn read_tail_ids(path: &Path) -> io::Result<Vec<Uuid>> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(SEED_TAIL_BYTES);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let mut lines = buf.split(|&b| b == b'\n');
    if start > 0 {
        lines.next(); // the first line is probably cut
    }
    Ok(lines
        .filter_map(|l| serde_json::from_slice::<IdOnly>(l).ok())
        .map(|m| m.id)
        .collect())
}

/// Cuts a log back to its last newline when a crash left a torn last line; says so in the log.
/// Such a line was never acknowledged: the pump pushes and commits only after a whole write.
pub fn repair_tail(path: &Path) -> io::Result<Option<u64>> {
    let mut f = OpenOptions::new().read(true).write(true).open(path)?;
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let mut last = [0u8; 1];
    f.seek(SeekFrom::Start(len - 1))?;
    f.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(None);
    }
    // Search backwards in chunks for the last newline.
    let mut end = len;
    let mut keep = 0;
    let mut chunk = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut chunk[..n])?;
        if let Some(i) = chunk[..n].iter().rposition(|&b| b == b'\n') {
            keep = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    f.set_len(keep)?;
    f.sync_all()?;
    let removed = len - keep;
    tracing::warn!(
        path = %path.display(),
        removed_bytes = removed,
        "repaired a torn last line (a crash interrupted a write); the line was never acknowledged"
    );
    Ok(Some(removed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shm_layout::{Platform, SlotEvent};

    /// Writes `lines` as a log file, one JSON line each.
    fn write_log(path: &Path, lines: &[SlotEvent]) {
        let mut text = Vec::new();
        for l in lines {
            l.write_json(&mut text);
            text.push(b'\n');
        }
        std::fs::write(path, text).unwrap();
    }

    fn refs(v: &[ChatMessage]) -> Vec<&ChatMessage> {
        v.iter().collect()
    }

    pub(crate) fn msg(streamer: Uuid, text: &str) -> ChatMessage {
        ChatMessage::simple(Uuid::new_v4(), streamer, Platform::Kick, "ann", text, 1)
    }

    #[test]
    fn append_skips_ids_it_has_written_even_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let user = Uuid::new_v4();
        let batch: Vec<_> = (0..10).map(|i| msg(user, &format!("m{i}"))).collect();
        let store = LogStore::open(dir.path(), true, &HashMap::new()).unwrap();
        assert_eq!(store.append(user, &refs(&batch[..6])).unwrap().len(), 6);
        // The same batch again (a crash before commit): only the 4 new ones.
        assert_eq!(store.append(user, &refs(&batch)).unwrap(), vec![6, 7, 8, 9]);
        drop(store);
        let store = LogStore::open(dir.path(), true, &HashMap::new()).unwrap();
        assert!(store.append(user, &refs(&batch)).unwrap().is_empty());
        let read = read_messages(&store.path(&active_name(user))).unwrap();
        assert_eq!(read, batch);
    }

    #[test]
    fn a_recent_since_is_replayed_from_its_offset_before_and_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let user = Uuid::new_v4();
        let store = LogStore::open(dir.path(), false, &HashMap::new()).unwrap();
        let batch: Vec<_> = (0..10).map(|i| msg(user, &format!("m{i}"))).collect();
        store.append(user, &refs(&batch[..4])).unwrap();
        store.append(user, &refs(&batch[4..])).unwrap();
        let path = store.path(&active_name(user));
        let after = |store: &LogStore, i: usize| {
            let (file, offset) = store
                .open_after(user, batch[i].id)
                .unwrap()
                .expect("a recent id has an offset");
            let mut got = Vec::new();
            replay_from(&path, file, offset, |e| {
                if let SlotEvent::Message(m) = e {
                    got.push(m.text);
                }
                true
            })
            .unwrap();
            got
        };
        let want = |i: usize| {
            batch[i + 1..]
                .iter()
                .map(|m| m.text.clone())
                .collect::<Vec<_>>()
        };
        for i in [0, 3, 4, 9] {
            assert_eq!(after(&store, i), want(i), "after m{i}");
        }
        assert!(store.open_after(user, Uuid::new_v4()).unwrap().is_none());
        drop(store);
        // Rebuilt from the file at start.
        let store = LogStore::open(dir.path(), false, &HashMap::new()).unwrap();
        for i in [0, 5, 9] {
            assert_eq!(after(&store, i), want(i), "after a restart, after m{i}");
        }
        // Archived: the ids are no longer in the active log.
        let log = store.user_log(user);
        store
            .archive(&mut LogStore::lock(&log), user, Uuid::new_v4())
            .unwrap();
        assert!(store.open_after(user, batch[5].id).unwrap().is_none());
    }

    #[test]
    fn select_and_replay_stream_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let user = Uuid::new_v4();
        let store = LogStore::open(dir.path(), false, &HashMap::new()).unwrap();
        let batch: Vec<_> = (0..10).map(|i| msg(user, &format!("m{i}"))).collect();
        store.append(user, &refs(&batch)).unwrap();
        let path = store.path(&active_name(user));
        // A line still being written is never returned.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"id":"half"#).unwrap();
        let texts = |v: Vec<ChatMessage>| v.into_iter().map(|m| m.text).collect::<Vec<_>>();
        assert_eq!(
            texts(select_from_log(&path, None, 3).unwrap()),
            ["m7", "m8", "m9"]
        );
        assert_eq!(
            texts(select_from_log(&path, Some(batch[2].id), 2).unwrap()),
            ["m3", "m4"]
        );
        assert_eq!(
            texts(select_from_log(&path, Some(Uuid::new_v4()), 2).unwrap()),
            ["m8", "m9"]
        );
        assert_eq!(select_from_log(&path, None, usize::MAX).unwrap(), batch);
        let mut replayed = Vec::new();
        assert!(replay_after(&path, batch[6].id, |m| {
            if let SlotEvent::Message(m) = m {
                replayed.push(m.text);
            }
            true
        })
        .unwrap());
        assert_eq!(replayed, ["m7", "m8", "m9"]);
        assert!(!replay_after(&path, Uuid::new_v4(), |_| true).unwrap());
        assert!(select_from_log(&dir.path().join("missing"), None, 5)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_torn_last_line_is_cut_off_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let user = Uuid::new_v4();
        let path = dir.path().join(active_name(user));
        let m = msg(user, "whole");
        let mut bytes = m.to_json();
        bytes.push(b'\n');
        bytes.extend_from_slice(br#"{"id":"tor"#);
        fs::write(&path, &bytes).unwrap();
        let store = LogStore::open(dir.path(), false, &HashMap::new()).unwrap();
        assert_eq!(read_messages(&path).unwrap(), vec![m.clone()]);
        assert!(fs::read(&path).unwrap().ends_with(b"\n"));
        let log = store.user_log(user);
        assert_eq!(LogStore::lock(&log).count(), 1);
    }

    #[test]
    fn archive_renames_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let user = Uuid::new_v4();
        let session = Uuid::new_v4();
        let store = LogStore::open(dir.path(), false, &HashMap::new()).unwrap();
        let batch: Vec<_> = (0..3).map(|i| msg(user, &format!("m{i}"))).collect();
        store.append(user, &refs(&batch)).unwrap();
        let log = store.user_log(user);
        let (name, count) = store
            .archive(&mut LogStore::lock(&log), user, session)
            .unwrap();
        assert_eq!(count, 3);
        assert_eq!(read_messages(&store.path(&name)).unwrap(), batch);
        assert!(!store.path(&active_name(user)).exists());
        // A repeat after archiving is still skipped; a new message starts a fresh active log.
        let next = msg(user, "next");
        let fresh = store.append(user, &[&batch[0], &next]).unwrap();
        assert_eq!(fresh, vec![1]);
        assert_eq!(
            read_messages(&store.path(&active_name(user))).unwrap(),
            vec![next]
        );
    }

    #[test]
    fn tombstones_mark_messages_whatever_their_order() {
        use shm_layout::{ClearChat, ClearUser, Delete};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.ndjson");
        let sid = Uuid::new_v4();
        let m = |pmid: &str, user_id: &str, ts: u64| {
            let mut m = msg(sid, pmid);
            m.platform = Platform::Twitch;
            m.channel = Some("chan".into());
            m.platform_message_id = Some(pmid.into());
            m.user_id = Some(user_id.into());
            m.id = shm_layout::platform_message_uuid(Platform::Twitch, "chan", pmid);
            m.timestamp = ts;
            SlotEvent::Message(m)
        };
        let lines = [
            // The delete arrives before its message (a reconnect's backfill).
            SlotEvent::Delete(Delete::new(sid, Platform::Twitch, "chan", "late", 5)),
            m("a", "u1", 10),
            m("b", "u2", 20),
            m("late", "u3", 30),
            SlotEvent::ClearUser(ClearUser {
                id: Uuid::new_v4(),
                streamer_id: sid,
                platform: Platform::Twitch,
                channel: "chan".into(),
                user_id: "u2".into(),
                user: "bob".into(),
                until: Some(99),
                timestamp: 40,
            }),
            m("c", "u2", 50),
            SlotEvent::Clear(ClearChat {
                id: Uuid::new_v4(),
                streamer_id: sid,
                platform: Platform::Kick,
                channel: "chan".into(),
                timestamp: 60,
            }),
        ];
        write_log(&path, &lines);
        let marked = select_marked(&path, None, usize::MAX).unwrap();
        let msgs: Vec<ChatMessage> = marked.iter().map(|m| m.message.clone()).collect();
        assert_eq!(
            msgs.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
            ["a", "b", "late", "c"],
            "tombstones are not messages"
        );
        let marks: Vec<Option<u64>> = marked.iter().map(|m| m.deleted_at).collect();
        // a: untouched; b: before u2's timeout; late: deleted by id; c: after the timeout; the
        // Kick clear does not touch Twitch messages.
        assert_eq!(marks, [None, Some(40), Some(5), None]);
        let mut replayed = 0;
        replay_after(&path, msgs[0].id, |_| {
            replayed += 1;
            true
        })
        .unwrap();
        assert_eq!(
            replayed, 5,
            "replay carries the tombstones after the anchor too"
        );
    }

    #[test]
    fn transcript_marks_say_which_action_hid_a_message() {
        use shm_layout::{ClearChat, ClearUser, Delete};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.ndjson");
        let sid = Uuid::new_v4();
        let m = |platform: Platform, pmid: &str, user_id: &str, ts: u64| {
            let mut m = msg(sid, pmid);
            m.platform = platform;
            m.channel = Some("chan".into());
            m.platform_message_id = Some(pmid.into());
            m.user_id = Some(user_id.into());
            m.id = shm_layout::platform_message_uuid(platform, "chan", pmid);
            m.timestamp = ts;
            SlotEvent::Message(m)
        };
        let clear_user = |user_id: &str, until: Option<u64>, ts: u64| {
            SlotEvent::ClearUser(ClearUser {
                id: Uuid::new_v4(),
                streamer_id: sid,
                platform: Platform::Twitch,
                channel: "chan".into(),
                user_id: user_id.into(),
                user: format!("user{user_id}"),
                until,
                timestamp: ts,
            })
        };
        let lines = [
            m(Platform::Twitch, "control", "u0", 10),
            m(Platform::Twitch, "deleted", "u1", 11),
            m(Platform::Twitch, "timed-out", "u2", 12),
            m(Platform::Twitch, "banned", "u3", 13),
            // Deleted first, then its author timed out: hidden with the timeout, as live.
            m(Platform::Twitch, "both", "u2", 14),
            m(Platform::Kick, "cleared", "u4", 15),
            SlotEvent::Delete(Delete::new(sid, Platform::Twitch, "chan", "deleted", 20)),
            SlotEvent::Delete(Delete::new(sid, Platform::Twitch, "chan", "both", 21)),
            clear_user("u2", Some(600_030), 30),
            clear_user("u3", None, 31),
            SlotEvent::Clear(ClearChat {
                id: Uuid::new_v4(),
                streamer_id: sid,
                platform: Platform::Kick,
                channel: "chan".into(),
                timestamp: 40,
            }),
        ];
        write_log(&path, &lines);
        let marked = select_marked(&path, None, usize::MAX).unwrap();
        let json: Vec<serde_json::Value> = marked
            .iter()
            .map(|m| serde_json::to_value(m).unwrap())
            .collect();
        let marks: Vec<_> = json
            .iter()
            .map(|v| {
                (
                    v["text"].as_str().unwrap(),
                    v["deleted"].clone(),
                    v["deletedAt"].clone(),
                    v["deletedBy"].clone(),
                    v["clearedUntil"].clone(),
                )
            })
            .collect();
        use serde_json::Value::Null;
        assert_eq!(
            marks,
            [
                ("control", Null, Null, Null, Null),
                ("deleted", true.into(), 20.into(), "delete".into(), Null),
                (
                    "timed-out",
                    true.into(),
                    30.into(),
                    "clear_user".into(),
                    600_030.into()
                ),
                ("banned", true.into(), 31.into(), "clear_user".into(), Null),
                (
                    "both",
                    true.into(),
                    30.into(),
                    "clear_user".into(),
                    600_030.into()
                ),
                ("cleared", true.into(), 40.into(), "clear".into(), Null),
            ]
        );
        let control = json[0].as_object().unwrap();
        for key in ["deleted", "deletedAt", "deletedBy", "clearedUntil"] {
            assert!(!control.contains_key(key), "{key} is omitted: {control:?}");
        }
        assert!(
            !json[3].as_object().unwrap().contains_key("clearedUntil"),
            "a ban has no end"
        );
    }

    #[test]
    fn tombstones_are_logged_but_not_counted_as_messages() {
        use crate::pump::Pumped;
        use shm_layout::Delete;
        let dir = tempfile::tempdir().unwrap();
        let user = Uuid::new_v4();
        let store = LogStore::open(dir.path(), false, &HashMap::new()).unwrap();
        let pumped = |ev: SlotEvent| {
            let mut json = Vec::new();
            ev.write_json(&mut json);
            Pumped {
                id: ev.id(),
                streamer_id: user,
                timestamp: 1,
                json: json.into(),
                event: match ev {
                    SlotEvent::Message(_) => None,
                    ev => Some(ev),
                },
            }
        };
        let batch = [
            pumped(SlotEvent::Message(msg(user, "one"))),
            pumped(SlotEvent::Delete(Delete::new(
                user,
                Platform::Twitch,
                "chan",
                "p1",
                2,
            ))),
            pumped(SlotEvent::Message(msg(user, "two"))),
        ];
        assert_eq!(
            store
                .append(user, &batch.iter().collect::<Vec<_>>())
                .unwrap(),
            [0, 1, 2],
            "the tombstone is logged"
        );
        let log = store.user_log(user);
        assert_eq!(LogStore::lock(&log).count(), 2);
        drop((log, store));
        let store = LogStore::open(dir.path(), false, &HashMap::new()).unwrap();
        let log = store.user_log(user);
        assert_eq!(
            LogStore::lock(&log).count(),
            2,
            "also when counted at start"
        );
        let (_, archived) = store
            .archive(&mut LogStore::lock(&log), user, Uuid::new_v4())
            .unwrap();
        assert_eq!(archived, 2, "a session's message count");
    }
}
