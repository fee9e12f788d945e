//! The producer socket: `<runtime-dir>/ingest-<platform>.sock`, claimed safely, removed on stop.
//!
//! Claiming, in order:
//! 1. the runtime directory is created with mode 0700 when absent (an existing one is left as the
//!    operator made it);
//! 2. an exclusive `flock` on `<runtime-dir>/ingest-<platform>.lock` decides which process owns the
//!    path. The kernel drops the lock when its holder dies (even by SIGKILL), so it is never stale,
//!    and it closes the race where two starters both see a stale socket and the second unlinks the
//!    first one's fresh socket. The lock file is left in place on exit: unlinking it would reopen
//!    that race;
//! 3. an existing socket file is probed with `connect`: refused (`ECONNREFUSED`) means its
//!    ingest died, and the file is replaced; accepted means a live ingest serves it — refused with
//!    a sentence.
//!
//! The socket is made mode 0600: the segment is 0600 too, so every process of the stack runs as
//! one user anyway, and whoever can write to this socket can put messages in front of every
//! viewer — no reason to let the group in.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use shm_layout::Platform;
use thiserror::Error;
use tokio::net::UnixListener;

/// Why the producer socket could not be claimed. Each is a sentence for the operator.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SocketError {
    /// The runtime directory could not be created or used.
    #[error("could not create the runtime directory {}: {source} (create it, or pass another --runtime-dir)", dir.display())]
    RuntimeDir {
        /// The directory.
        dir: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another live ingest owns the path.
    #[error("another ingest is already serving {platform} on {}: stop it first, or give this one another --runtime-dir", path.display())]
    AlreadyServing {
        /// The platform.
        platform: Platform,
        /// The socket path.
        path: PathBuf,
    },
    /// Something other than a socket sits at the path.
    #[error("{} exists and is not a socket: remove it, or pass another --runtime-dir", path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// Any other failure to lock, probe or bind.
    #[error("could not {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The socket path for `platform` under `runtime_dir`.
pub fn socket_path(runtime_dir: &Path, platform: Platform) -> PathBuf {
    runtime_dir.join(format!("ingest-{}.sock", platform.slug()))
}

/// A bound producer socket. Dropping it does not remove the file: call [`ProducerSocket::remove`]
/// on a clean stop (a killed process leaves the file, which the next start replaces).
#[derive(Debug)]
pub struct ProducerSocket {
    /// The listener.
    pub listener: UnixListener,
    path: PathBuf,
    // Held for the life of the process: proves we own `path`.
    _lock: File,
}

impl ProducerSocket {
    /// Claims and binds the socket for `platform` (see the module doc). Needs a tokio runtime.
    pub fn bind(runtime_dir: &Path, platform: Platform) -> Result<ProducerSocket, SocketError> {
        if !runtime_dir.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(runtime_dir)
                .map_err(|source| SocketError::RuntimeDir {
                    dir: runtime_dir.into(),
                    source,
                })?;
        }
        let path = socket_path(runtime_dir, platform);
        let lock_path = runtime_dir.join(format!("ingest-{}.lock", platform.slug()));
        let io = |op, path: &Path| {
            let path = path.to_path_buf();
            move |source| SocketError::Io { op, path, source }
        };
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("open the lock file", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(SocketError::AlreadyServing { platform, path })
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io("lock", &lock_path)(e));
            }
        }
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io("inspect", &path)(e)),
            Ok(meta) if !meta.file_type().is_socket() => {
                return Err(SocketError::NotASocket { path })
            }
            Ok(_) => match std::os::unix::net::UnixStream::connect(&path) {
                Ok(_) => return Err(SocketError::AlreadyServing { platform, path }),
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    tracing::info!(socket = %path.display(), "replacing the stale socket file of an ingest that is gone");
                    std::fs::remove_file(&path).map_err(io("remove the stale socket", &path))?;
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io("probe the existing socket", &path)(e)),
            },
        }
        let listener = UnixListener::bind(&path).map_err(io("listen on", &path))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(io("set the mode of", &path))?;
        Ok(ProducerSocket {
            listener,
            path,
            _lock: lock,
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops listening and removes the socket file (we hold the lock, so it is still ours).
    pub fn remove(self) -> std::io::Result<()> {
        drop(self.listener);
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}
