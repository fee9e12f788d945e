//! What the ingest's process-level tests share beyond the workspace's test kit
//! (`crosschat_tests`, which gives the unique segment, the socket client and the readiness
//! polling): starting the real `ingest` binary with a clean environment, the message and reply
//! helpers of these tests, and a draining reader of the segment.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crosschat_tests::process::{self, poll_until, socket_answers};
use serde_json::Value;
use shm_layout::{ChatMessage, Reader, Segment};

/// The kit's blocking line client of the producer socket.
pub use crosschat_tests::ingest_socket::SocketClient as Client;
/// The kit's unique segment, unlinked on drop (even when the test panics).
pub use crosschat_tests::segment::UniqueSegment as SegGuard;

pub const SID: &str = "6f1c2a4e-0b7d-4c55-9a51-2f9d3c1e8b70";

pub fn ingest_command(seg: &str, platform: &str, runtime_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ingest"));
    for var in [
        "CROSSCHAT_PLATFORM",
        "CROSSCHAT_SHM_NAME",
        "CROSSCHAT_RUNTIME_DIR",
        "CROSSCHAT_STDIN",
        "CROSSCHAT_FULL_WAIT_MS",
        "CROSSCHAT_LOG_FORMAT",
        "CROSSCHAT_MAX_CONNECTIONS",
        "NOTIFY_SOCKET",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", "warn")
        .args(["--platform", platform, "--shm-name", seg, "--runtime-dir"])
        .arg(runtime_dir);
    cmd
}

/// A running `ingest` in socket mode; killed on drop if still running.
pub struct Ingest {
    pub child: Child,
    pub socket: PathBuf,
}

impl Ingest {
    pub fn start(seg: &str, platform: &str, runtime_dir: &Path, extra: &[&str]) -> Ingest {
        let child = ingest_command(seg, platform, runtime_dir)
            .args(extra)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn ingest");
        let socket = runtime_dir.join(format!("ingest-{platform}.sock"));
        let mut ing = Ingest { child, socket };
        ing.wait_ready();
        ing
    }

    fn wait_ready(&mut self) {
        let serving = poll_until(Duration::from_secs(20), Duration::from_millis(10), || {
            if socket_answers(&self.socket) {
                return Some(());
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("ingest exited before serving: {status}");
            }
            None
        });
        assert!(serving.is_some(), "ingest did not start serving");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.pid().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    pub fn wait(&mut self) -> ExitStatus {
        poll_until(Duration::from_secs(30), Duration::from_millis(10), || {
            self.child.try_wait().unwrap()
        })
        .expect("ingest did not exit")
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.socket)
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        process::kill(&mut self.child);
    }
}

pub fn message(user: &str, text: &str) -> String {
    serde_json::json!({"streamerId": SID, "user": user, "text": text}).to_string()
}

/// The id of an ok reply, panicking with the reply otherwise.
pub fn ok_id(reply: &Value) -> String {
    assert_eq!(reply["ok"], true, "expected ok, got {reply}");
    reply["id"].as_str().unwrap().to_string()
}

pub fn assert_refused(reply: &Value, code: &str, sentence_part: &str) {
    assert_eq!(reply["ok"], false, "expected a refusal, got {reply}");
    assert_eq!(reply["code"], code, "{reply}");
    let err = reply["error"].as_str().unwrap();
    assert!(
        err.contains(sentence_part),
        "error {err:?} lacks {sentence_part:?}"
    );
    assert_eq!(reply.as_object().unwrap().len(), 3, "{reply}");
}

/// Takes the messages queued now (up to 16 × 256 of them), committing them.
pub fn drain_now(reader: &mut Reader) -> Vec<ChatMessage> {
    let mut out = Vec::new();
    for _ in 0..16 {
        let end = reader.peek(256, |_, r| {
            out.push(ChatMessage::from_json(r.expect("a sane slot")).expect("slot JSON"))
        });
        reader.commit(end);
        if reader.depth() == 0 {
            break;
        }
    }
    out
}

/// A reader thread that drains the segment into a shared vector until stopped.
pub struct Drainer {
    pub got: Arc<Mutex<Vec<ChatMessage>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drainer {
    pub fn start(seg: Arc<Segment>) -> Drainer {
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut reader = Reader::claim(seg).expect("claim the reader role");
        let thread = std::thread::spawn({
            let got = got.clone();
            let stop = stop.clone();
            move || loop {
                let stopping = stop.load(Ordering::Acquire);
                reader.wait_for_data(Duration::from_millis(20));
                let batch = drain_now(&mut reader);
                got.lock().unwrap().extend(batch);
                if stopping {
                    return;
                }
            }
        });
        Drainer {
            got,
            stop,
            thread: Some(thread),
        }
    }

    /// Waits until at least `n` messages were taken (or a generous deadline), then stops.
    pub fn finish(mut self, n: usize) -> Vec<ChatMessage> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.got.lock().unwrap().len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stop.store(true, Ordering::Release);
        self.thread.take().unwrap().join().unwrap();
        std::mem::take(&mut *self.got.lock().unwrap())
    }
}

impl Drop for Drainer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
