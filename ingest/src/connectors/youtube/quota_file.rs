//! The day's quota count kept across restarts of the ingest (or of its connector after a panic):
//! without it a restart starts at 0 units used, the pacing overspends, and Google's
//! `quotaExceeded` is the first sign.
//!
//! One small JSON file per key in the runtime directory, `{"used":1234,"resetsAt":<UTC ms>}`,
//! named `youtube-quota-<16 hex>.json` after the first 8 bytes of the key's SHA-256 — the key
//! itself is in neither the name nor the body. It is written atomically (a temporary file, then
//! a rename) at most once per [`SAVE_EVERY`] and when the connector stops, and read once at start;
//! a count whose reset has passed is ignored, and a file that cannot be read is a warning, never
//! a crash: the count then starts at 0, as it did before the file existed.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::quota::Quota;

/// How often a changed count is written: a crash loses at most this much spending (a few calls).
pub const SAVE_EVERY: Duration = Duration::from_secs(2);

/// What the file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Saved {
    /// Units used before the reset.
    pub used: u64,
    /// When the count resets (UTC ms, midnight Pacific).
    pub resets_at: u64,
}

/// Why the file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Reading it failed (other than "not there").
    #[error("could not read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// It is not `{"used","resetsAt"}`.
    #[error("{path} is not a saved quota count: {source}")]
    Broken {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
}

/// The file of one key's count.
#[derive(Debug, Clone)]
pub struct QuotaFile {
    path: PathBuf,
}

impl QuotaFile {
    /// The file for `key` in `dir`.
    pub fn for_key(dir: &Path, key: &str) -> QuotaFile {
        let digest = Sha256::digest(key.as_bytes());
        let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        QuotaFile {
            path: dir.join(format!("youtube-quota-{short}.json")),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved count, if there is one whose reset is still ahead of `now_ms`.
    pub fn load(&self, now_ms: u64) -> Result<Option<Saved>, LoadError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(LoadError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let saved: Saved = serde_json::from_slice(&bytes).map_err(|source| LoadError::Broken {
            path: self.path.clone(),
            source,
        })?;
        Ok((saved.resets_at > now_ms).then_some(saved))
    }

    /// Writes `saved`: a temporary file beside it, then a rename, so a reader (or a crash) sees
    /// the old count or the new one, never half of one.
    pub fn save(&self, saved: Saved) -> io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let body = serde_json::to_vec(&saved).map_err(io::Error::other)?;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        drop(f);
        std::fs::rename(&tmp, &self.path)
    }
}

/// Keeps one quota's count in its file: restores it at start, writes it when it changed.
pub struct QuotaSaver {
    file: QuotaFile,
    last: Option<Saved>,
    /// Whether the last write failed (a failure is logged once, not every [`SAVE_EVERY`]).
    failing: bool,
}

impl QuotaSaver {
    /// Reads the file into `quota` (a count whose reset has passed is ignored; an unreadable
    /// file is a warning and the count starts at 0).
    pub fn open(file: QuotaFile, quota: &Quota) -> QuotaSaver {
        match file.load(quota.now_ms()) {
            Ok(Some(saved)) => {
                quota.restore(saved.used, saved.resets_at);
                tracing::info!(
                    file = %file.path().display(),
                    used = quota.usage().0,
                    "YouTube quota: today's count kept from the last run"
                );
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(
                error = %e,
                "YouTube quota: the saved count could not be read; counting from 0 units used"
            ),
        }
        let (used, _, resets_at) = quota.usage();
        QuotaSaver {
            file,
            last: Some(Saved { used, resets_at }),
            failing: false,
        }
    }

    /// Writes the count if it changed since the last write. The write is a few bytes and a
    /// rename on a local directory: done in place, so two writes never overtake each other.
    pub fn save_if_changed(&mut self, quota: &Quota) {
        let (used, _, resets_at) = quota.usage();
        let now = Saved { used, resets_at };
        if self.last == Some(now) {
            return;
        }
        match self.file.save(now) {
            Ok(()) => {
                self.last = Some(now);
                self.failing = false;
            }
            Err(e) => {
                if !self.failing {
                    tracing::warn!(
                        file = %self.file.path().display(),
                        error = %e,
                        "YouTube quota: could not save today's count (a restart would count from 0)"
                    );
                }
                self.failing = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::youtube::quota::{cost, next_pacific_midnight_ms, Clock};
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use std::sync::{Arc, Mutex};

    const KEY: &str = "AIzaSyTESTKEY-never-shown-0123456789abc";
    const DAY: Duration = Duration::from_secs(24 * 3600);
    /// 2026-01-15 12:00 UTC.
    const NOON: u64 = 1_768_478_400_000;

    struct Fixed(AtomicU64);
    impl Clock for Fixed {
        fn now_ms(&self) -> u64 {
            self.0.load(Relaxed)
        }
    }

    fn clock() -> Arc<Fixed> {
        Arc::new(Fixed(AtomicU64::new(NOON)))
    }

    /// Every log line written while `f` runs.
    fn logs_of<T>(f: impl FnOnce() -> T) -> (T, String) {
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl Write for Buf {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let sub = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let r = tracing::subscriber::with_default(sub, f);
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        (r, text)
    }

    #[test]
    fn a_restart_keeps_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let clock = clock();
        let q = Quota::new(10_000, DAY, clock.clone());
        let mut saver = QuotaSaver::open(QuotaFile::for_key(dir.path(), KEY), &q);
        q.spend(cost::SEARCH).unwrap();
        q.spend(cost::CHAT).unwrap();
        saver.save_if_changed(&q);

        // The next process (or the connector restarted after a panic) reads it back.
        let again = Quota::new(10_000, DAY, clock.clone());
        assert_eq!(again.usage().0, 0);
        let (_, log) = logs_of(|| QuotaSaver::open(QuotaFile::for_key(dir.path(), KEY), &again));
        assert_eq!(again.usage(), q.usage());
        assert_eq!(again.usage().0, 105);
        assert!(log.contains("kept from the last run"), "{log}");

        // Neither the file's name nor its body holds the key; another key has its own file.
        let file = QuotaFile::for_key(dir.path(), KEY);
        let name = file
            .path()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let body = std::fs::read_to_string(file.path()).unwrap();
        assert!(!name.contains(KEY) && !body.contains(KEY), "{name} {body}");
        assert_eq!(name.len(), "youtube-quota-.json".len() + 16, "{name}");
        let resets = next_pacific_midnight_ms(NOON);
        assert_eq!(body, format!(r#"{{"used":105,"resetsAt":{resets}}}"#));
        assert_ne!(
            QuotaFile::for_key(dir.path(), "another key").path(),
            file.path()
        );
        let fresh = Quota::new(10_000, DAY, clock.clone());
        QuotaSaver::open(QuotaFile::for_key(dir.path(), "another key"), &fresh);
        assert_eq!(fresh.usage().0, 0);
        // No temporary file is left behind.
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, 1);
    }

    #[test]
    fn a_count_whose_reset_passed_starts_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        let clock = clock();
        let file = QuotaFile::for_key(dir.path(), KEY);
        // Saved yesterday: its reset (this morning) has passed.
        file.save(Saved {
            used: 9_000,
            resets_at: NOON - 4 * 3_600_000,
        })
        .unwrap();
        let q = Quota::new(10_000, DAY, clock.clone());
        let mut saver = QuotaSaver::open(file.clone(), &q);
        assert_eq!(q.usage().0, 0);
        assert_eq!(q.usage().2, next_pacific_midnight_ms(NOON));

        // A count saved before a reset the clock then passes also starts again at 0.
        q.spend(500).unwrap();
        saver.save_if_changed(&q);
        clock.0.store(q.usage().2, Relaxed);
        let after = Quota::new(10_000, DAY, clock.clone());
        QuotaSaver::open(file, &after);
        assert_eq!(after.usage().0, 0);
    }

    #[test]
    fn a_broken_file_is_a_warning_and_starts_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        let file = QuotaFile::for_key(dir.path(), KEY);
        for garbage in [
            &b"\x00\xffnot json"[..],
            b"",
            b"{\"used\":\"many\"}",
            b"{\"used\":5}",
        ] {
            std::fs::write(file.path(), garbage).unwrap();
            assert!(matches!(file.load(NOON), Err(LoadError::Broken { .. })));
            let q = Quota::new(10_000, DAY, clock());
            let (mut saver, log) = logs_of(|| QuotaSaver::open(file.clone(), &q));
            assert_eq!(q.usage().0, 0);
            assert!(log.contains("WARN"), "{log}");
            assert!(log.contains("counting from 0 units used"), "{log}");
            assert!(!log.contains(KEY));
            // The next save replaces it.
            q.spend(1).unwrap();
            saver.save_if_changed(&q);
            assert_eq!(file.load(NOON).unwrap().unwrap().used, 1);
        }
        // A directory in its place cannot be read: a warning too.
        std::fs::remove_file(file.path()).unwrap();
        std::fs::create_dir(file.path()).unwrap();
        let q = Quota::new(10_000, DAY, clock());
        let (_, log) = logs_of(|| QuotaSaver::open(file.clone(), &q));
        assert_eq!(q.usage().0, 0);
        assert!(log.contains("WARN"), "{log}");
    }

    #[test]
    fn a_failed_write_is_logged_once() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("not-there");
        let q = Quota::new(10_000, DAY, clock());
        let mut saver = QuotaSaver::open(QuotaFile::for_key(&missing, KEY), &q);
        let ((), log) = logs_of(|| {
            for _ in 0..3 {
                q.spend(1).unwrap();
                saver.save_if_changed(&q);
            }
        });
        assert_eq!(log.matches("could not save").count(), 1, "{log}");
    }
}
