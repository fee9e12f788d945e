//! The real stack in a temporary directory: one gateway and three ingests (release binaries),
//! the gateway's stderr kept for the report, and a gateway that can be stopped (SIGTERM) and
//! started again on the same address and data directory while the ingests keep running. Built on
//! the workspace's test kit (`crosschat_tests`): its unique segment, temporary directory, binary
//! directory, `listening on` reader and SIGTERM-then-SIGKILL.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crosschat_tests::dirs::TestDir;
use crosschat_tests::process;
use crosschat_tests::segment::UniqueSegment;
use rustix::process::{Resource, Rlimit};

/// The ingest platforms, in the order producers are spread over them.
pub use crosschat_tests::stack::PLATFORMS;
/// Gateway log lines kept for the report (the newest).
const LOG_KEPT: usize = 10_000;

/// How to start the stack.
#[derive(Debug, Clone)]
pub struct StackOpts {
    /// Directory holding `gateway` and `ingest` (default: the one above this example's).
    pub bin_dir: Option<PathBuf>,
    /// The gateway's `--fsync`.
    pub fsync: String,
    /// The gateway's `--pump-interval-ms`.
    pub pump_interval_ms: u64,
    /// More gateway flags.
    pub gateway_args: Vec<String>,
    /// The gateway's `RUST_LOG`.
    pub rust_log: String,
}

impl Default for StackOpts {
    fn default() -> StackOpts {
        StackOpts {
            bin_dir: None,
            fsync: "cycle".into(),
            pump_interval_ms: 50,
            gateway_args: Vec::new(),
            rust_log: "warn".into(),
        }
    }
}

impl StackOpts {
    /// The directory the binaries are taken from.
    pub fn bin_dir(&self) -> PathBuf {
        // target/release/examples/<this> → target/release
        self.bin_dir.clone().unwrap_or_else(process::bin_dir)
    }

    /// Whether this gateway's `--help` lists `flag` (e.g. one an older build lacks).
    pub fn gateway_has_flag(&self, flag: &str) -> bool {
        Command::new(self.bin_dir().join("gateway"))
            .arg("--help")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains(flag))
            .unwrap_or(false)
    }

    /// Lets the gateway hold `n` WebSocket connections when it has `--ws-max-connections`;
    /// returns whether it has.
    pub fn allow_ws_connections(&mut self, n: usize) -> bool {
        let has = self.gateway_has_flag("--ws-max-connections");
        if has {
            self.gateway_args
                .extend(["--ws-max-connections".into(), (n + 1000).to_string()]);
        }
        has
    }
}

/// Raises this process's open-file limit to its hard limit (children inherit it); returns
/// (soft, hard) afterwards. Each WebSocket costs one descriptor here and one in the gateway.
pub fn raise_nofile() -> (u64, u64) {
    let lim = rustix::process::getrlimit(Resource::Nofile);
    let _ = rustix::process::setrlimit(
        Resource::Nofile,
        Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        },
    );
    let now = rustix::process::getrlimit(Resource::Nofile);
    (
        now.current.unwrap_or(u64::MAX),
        now.maximum.unwrap_or(u64::MAX),
    )
}

/// A running stack; dropping it kills every process and removes the segment.
pub struct Stack {
    gateway: Option<Child>,
    ingests: Vec<Child>,
    /// `host:port` of the gateway.
    pub addr: String,
    /// Holds `ingest-<platform>.sock`.
    pub run_dir: PathBuf,
    /// The segment's name.
    pub shm: String,
    data_dir: PathBuf,
    opts: StackOpts,
    log: Arc<Mutex<VecDeque<String>>>,
    // Dropped after the processes are killed: the segment is unlinked, the directory removed.
    _segment: UniqueSegment,
    _dir: TestDir,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for c in self.gateway.iter_mut().chain(&mut self.ingests) {
            process::kill(c);
        }
    }
}

impl Stack {
    /// Starts a gateway on a free port and the three ingests, and waits for the ingest sockets.
    pub async fn start(opts: StackOpts) -> Stack {
        let dir = TestDir::new("crosschat-bench-");
        let segment = UniqueSegment::new("bench");
        let mut stack = Stack {
            gateway: None,
            ingests: Vec::new(),
            addr: String::new(),
            run_dir: dir.runtime_dir(),
            shm: segment.name.clone(),
            data_dir: dir.data_dir(),
            opts,
            log: Arc::default(),
            _segment: segment,
            _dir: dir,
        };
        stack.addr = stack.spawn_gateway("127.0.0.1:0");
        let bin = stack.opts.bin_dir().join("ingest");
        for p in PLATFORMS {
            stack.ingests.push(
                Command::new(&bin)
                    .args(["--platform", p, "--shm-name", &stack.shm])
                    .arg("--runtime-dir")
                    .arg(&stack.run_dir)
                    .env("RUST_LOG", "warn")
                    .spawn()
                    .expect("start an ingest"),
            );
        }
        for p in PLATFORMS {
            let path = stack.socket(p);
            for _ in 0..400 {
                if process::socket_answers(&path) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
        stack
    }

    /// The producer socket of `platform`'s ingest.
    pub fn socket(&self, platform: &str) -> PathBuf {
        self.run_dir.join(format!("ingest-{platform}.sock"))
    }

    /// Starts the gateway on `listen`; returns the address from its `listening on` line.
    fn spawn_gateway(&mut self, listen: &str) -> String {
        let o = &self.opts;
        let mut gw = Command::new(o.bin_dir().join("gateway"))
            .args([
                "--listen",
                listen,
                "--bcrypt-cost",
                "4",
                "--shm-name",
                &self.shm,
            ])
            .args(["--fsync", &o.fsync])
            .args(["--pump-interval-ms", &o.pump_interval_ms.to_string()])
            .args(&o.gateway_args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--runtime-dir")
            .arg(&self.run_dir)
            .env("RUST_LOG", &o.rust_log)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the gateway (build it with --release)");
        let stderr = gw.stderr.take().unwrap();
        let log = self.log.clone();
        let addr = process::listening_address(stderr, Duration::from_secs(20), move |line| {
            eprintln!("gateway: {line}");
            let mut log = log.lock().unwrap();
            if log.len() == LOG_KEPT {
                log.pop_front();
            }
            log.push_back(line);
        })
        .expect("the gateway's `listening on` line");
        self.gateway = Some(gw);
        addr
    }

    /// The gateway's pid (0 while it is stopped).
    pub fn gateway_pid(&self) -> u32 {
        self.gateway.as_ref().map_or(0, Child::id)
    }

    /// SIGTERM to the gateway, then waits for it to exit (SIGKILL after 30 s); returns how long
    /// it took to stop.
    pub async fn stop_gateway(&mut self) -> Duration {
        let mut gw = self.gateway.take().expect("a running gateway");
        let stopped = process::terminate_async(&mut gw, Duration::from_secs(30)).await;
        if stopped.killed {
            eprintln!("the gateway did not stop within 30 s of SIGTERM: killed it");
        }
        stopped.took
    }

    /// Starts the gateway again on the same address and data directory.
    pub fn restart_gateway(&mut self) {
        let addr = self.addr.clone();
        let got = self.spawn_gateway(&addr);
        assert_eq!(got, addr, "the gateway came back on another address");
    }

    /// The gateway's log lines (kept since start) that contain any of `words`.
    pub fn log_lines(&self, words: &[&str]) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| words.iter().any(|w| l.contains(w)))
            .cloned()
            .collect()
    }

    /// The data directory (kept across a restart).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}
