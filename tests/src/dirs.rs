//! A fresh temporary directory for one test or run, laid out as the stack expects: `data/` for the
//! gateway's data directory and `run/` for the runtime directory (the ingest sockets). Removed on
//! drop, also when the test panics.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// The gateway's data directory inside `root`.
pub fn data_dir(root: &Path) -> PathBuf {
    root.join("data")
}

/// The runtime directory inside `root`.
pub fn runtime_dir(root: &Path) -> PathBuf {
    root.join("run")
}

/// A temporary directory; neither subdirectory is created here (the processes create theirs,
/// with their own permissions), see [`TestDir::create_data_dir`] and
/// [`TestDir::create_runtime_dir`].
#[derive(Debug)]
pub struct TestDir {
    dir: TempDir,
}

impl TestDir {
    /// A new directory in the system's temporary directory, its name starting with `prefix`.
    pub fn new(prefix: &str) -> TestDir {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("a temporary directory");
        TestDir { dir }
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `<dir>/data`, the gateway's data directory.
    pub fn data_dir(&self) -> PathBuf {
        data_dir(self.path())
    }

    /// `<dir>/run`, the runtime directory.
    pub fn runtime_dir(&self) -> PathBuf {
        runtime_dir(self.path())
    }

    /// Creates `data/` now.
    pub fn create_data_dir(&self) -> PathBuf {
        let dir = self.data_dir();
        std::fs::create_dir_all(&dir).expect("create the data dir");
        dir
    }

    /// Creates `run/` now.
    pub fn create_runtime_dir(&self) -> PathBuf {
        let dir = self.runtime_dir();
        std::fs::create_dir_all(&dir).expect("create the runtime dir");
        dir
    }
}
