//! Starting and stopping the built binaries: where they are (and building them once), a free
//! port, polling for readiness, the gateway's `listening on` line, and stopping a child with
//! SIGTERM then SIGKILL. The harnesses (the stack, the crates' process tests, the load drivers)
//! spawn with their own flags and use these pieces for the rest.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

/// How often [`terminate`] looks whether the child has exited.
const EXIT_POLL: Duration = Duration::from_millis(5);

/// The directory holding the built binaries, `<target>/<profile>`: a test executable lives in
/// `<target>/<profile>/deps`, an example in `<target>/<profile>/examples`.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the executable knows its own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("the executable lives in <target>/<profile>/{deps,examples}")
        .to_path_buf()
}

/// Builds `gateway` and `ingest` once per test process (same profile as the tests), so a test never
/// runs stale binaries. Set `CROSSCHAT_E2E_SKIP_BUILD=1` when they were just built (as
/// `scripts/test` does after its workspace build).
pub fn ensure_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        if std::env::var_os("CROSSCHAT_E2E_SKIP_BUILD").is_some() {
            return;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "gateway", "-p", "ingest"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let out = cmd
            .output()
            .expect("could not run cargo to build gateway and ingest");
        assert!(
            out.status.success(),
            "building gateway and ingest failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    for bin in ["gateway", "ingest"] {
        let path = bin_dir().join(bin);
        assert!(
            path.exists(),
            "{} is missing: build the workspace first (cargo build --workspace)",
            path.display()
        );
    }
}

/// A free loopback port (bound, read back, released: the tiny race is fine for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Calls `check` every `every` until it gives a value, which is returned; None once `timeout`
/// has passed without one. `check` decides what "ready" and "failed" mean (a failure is a value
/// too, e.g. `Some(Err(why))`).
pub fn poll_until<T>(
    timeout: Duration,
    every: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// Whether a Unix socket at `path` accepts a connection (an ingest is serving there).
pub fn socket_answers(path: &Path) -> bool {
    UnixStream::connect(path).is_ok()
}

/// Reads a gateway's stderr on a thread of its own until it ends: returns the address of the
/// first `listening on http://ADDR` line (None when none came within `timeout`) and hands every
/// other line to `forward`.
pub fn listening_address(
    stderr: ChildStderr,
    timeout: Duration,
    mut forward: impl FnMut(String) + Send + 'static,
) -> Option<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on http://") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(addr.trim().to_string());
                }
                continue;
            }
            forward(line);
        }
    });
    rx.recv_timeout(timeout).ok()
}

/// Sends `sig` to a child, ignoring "already gone".
pub fn signal(child: &Child, sig: Signal) {
    if let Some(pid) = Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// SIGKILL, as a crash would, and reap.
pub fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// How a [`terminate`]d child ended.
#[derive(Debug, Clone, Copy)]
pub struct Stopped {
    /// From the SIGTERM until it had exited (or was killed).
    pub took: Duration,
    /// It outlived its grace period and got SIGKILL.
    pub killed: bool,
}

/// SIGTERM, then SIGKILL when the child has not exited within `grace`; always reaps. A child that
/// has already exited is only reaped.
pub fn terminate(child: &mut Child, grace: Duration) -> Stopped {
    let start = Instant::now();
    if !exited(child) {
        signal(child, Signal::TERM);
        while !exited(child) {
            if start.elapsed() > grace {
                kill(child);
                return Stopped {
                    took: start.elapsed(),
                    killed: true,
                };
            }
            std::thread::sleep(EXIT_POLL);
        }
    }
    Stopped {
        took: start.elapsed(),
        killed: false,
    }
}

/// [`terminate`] for async callers: waits with the runtime's timer, so other tasks (subscribers
/// counting reconnections, producers) keep running while the child stops.
pub async fn terminate_async(child: &mut Child, grace: Duration) -> Stopped {
    let start = Instant::now();
    if !exited(child) {
        signal(child, Signal::TERM);
        while !exited(child) {
            if start.elapsed() > grace {
                kill(child);
                return Stopped {
                    took: start.elapsed(),
                    killed: true,
                };
            }
            tokio::time::sleep(EXIT_POLL).await;
        }
    }
    Stopped {
        took: start.elapsed(),
        killed: false,
    }
}

/// Whether the child has exited (and is now reaped).
fn exited(child: &mut Child) -> bool {
    matches!(child.try_wait(), Ok(Some(_)))
}
