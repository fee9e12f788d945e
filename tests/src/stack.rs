//! The real CrossChat stack for end-to-end tests: the built `gateway` binary and one `ingest` per
//! platform, as separate processes on loopback, sharing a segment with a unique name, in a fresh
//! temporary data and runtime directory.
//!
//! Everything is cleaned up on drop — processes (SIGTERM, then SIGKILL), the temporary directory
//! and the shared-memory segment — also when a test panics; the processes' logs are then printed.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::dirs::TestDir;
use crate::ingest_socket::produce_to_socket;
use crate::process::{self, bin_dir, ensure_built, free_port, socket_answers};
use crate::segment::UniqueSegment;

/// The platforms, as `ingest --platform` and the producer routes spell them.
pub const PLATFORMS: [&str; shm_layout::Platform::ALL.len()] = shm_layout::Platform::SLUGS;

/// How long a process may take to come up before the test fails with its log.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopped process may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The running stack.
pub struct Stack {
    /// `http://127.0.0.1:<port>`, the gateway's address for browsers and HTTP clients.
    pub base_url: String,
    addr: SocketAddr,
    dir: TestDir,
    segment: UniqueSegment,
    gateway: Option<Child>,
    /// How many times the gateway was started (names its log files).
    gateway_starts: u32,
    /// The gateway's data directory when the test supplied its own (e.g. a small tmpfs).
    data_override: Option<PathBuf>,
    ingests: Vec<Child>,
    /// Extra ingest flags per platform (endpoints of loopback peers).
    ingest_args: Vec<(String, Vec<String>)>,
}

/// Flags that point every connector at a closed loopback port, so that a test which links a
/// channel without a peer never reaches (or waits for) the real platforms.
pub fn dead_endpoints() -> Vec<String> {
    [
        "--twitch-irc-url",
        "irc://127.0.0.1:9",
        "--kick-web-url",
        "http://127.0.0.1:9",
        "--kick-realtime-api-url",
        "http://127.0.0.1:9",
        "--kick-pusher-url",
        "ws://127.0.0.1:9/app/x",
        "--youtube-api-url",
        "http://127.0.0.1:9/youtube/v3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl Stack {
    /// Starts three ingests and the gateway (bcrypt cost 4) and waits until all answer.
    pub fn start() -> Stack {
        Stack::start_with(&[])
    }

    /// Like [`Stack::start`], with extra flags for some platforms' ingests (after
    /// [`dead_endpoints`], so they win), e.g. `("twitch", vec!["--twitch-irc-url", peer])`.
    pub fn start_with(ingest_args: &[(&str, Vec<String>)]) -> Stack {
        Stack::start_inner(ingest_args, None)
    }

    /// Like [`Stack::start`], with `data_dir` (which must exist) as the gateway's data directory
    /// instead of one inside the temporary directory: a test may mount a small file system there.
    /// The stack never removes it; its owner does, after the stack is dropped.
    pub fn start_with_data_dir(data_dir: &Path) -> Stack {
        Stack::start_inner(&[], Some(data_dir.to_path_buf()))
    }

    fn start_inner(ingest_args: &[(&str, Vec<String>)], data_override: Option<PathBuf>) -> Stack {
        ensure_built();
        let dir = TestDir::new("crosschat-e2e-");
        dir.create_data_dir();
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let mut stack = Stack {
            base_url: format!("http://{addr}"),
            addr,
            segment: UniqueSegment::new("e2e"),
            dir,
            gateway: None,
            gateway_starts: 0,
            data_override,
            ingests: Vec::new(),
            ingest_args: ingest_args
                .iter()
                .map(|(p, a)| (p.to_string(), a.clone()))
                .collect(),
        };
        for platform in PLATFORMS {
            let child = stack.spawn_ingest(platform);
            stack.ingests.push(child);
        }
        stack.start_gateway();
        for platform in PLATFORMS {
            let socket = stack.ingest_socket(platform);
            stack.wait_until(
                &format!(
                    "ingest --platform {platform} to listen on {}",
                    socket.display()
                ),
                || socket_answers(&socket),
            );
        }
        stack
    }

    /// The data directory the gateway owns.
    pub fn data_dir(&self) -> PathBuf {
        match &self.data_override {
            Some(dir) => dir.clone(),
            None => self.dir.data_dir(),
        }
    }

    /// The runtime directory holding the ingest sockets.
    pub fn runtime_dir(&self) -> PathBuf {
        self.dir.runtime_dir()
    }

    /// The shared-memory segment's name.
    pub fn shm_name(&self) -> &str {
        self.segment.name()
    }

    /// The producer socket of a platform's ingest.
    pub fn ingest_socket(&self, platform: &str) -> PathBuf {
        self.runtime_dir().join(format!("ingest-{platform}.sock"))
    }

    fn spawn_ingest(&self, platform: &str) -> Child {
        let mut args: Vec<String> = vec!["--platform".into(), platform.into()];
        let extra: Vec<String> = self
            .ingest_args
            .iter()
            .filter(|(p, _)| p == platform)
            .flat_map(|(_, a)| a.iter().cloned())
            .collect();
        // The dead endpoints, except those the test points at a peer of its own.
        for pair in dead_endpoints().chunks(2) {
            if !extra.contains(&pair[0]) {
                args.extend(pair.iter().cloned());
            }
        }
        args.extend(extra);
        let n = std::fs::read_dir(self.dir.path())
            .map(|d| d.count())
            .unwrap_or(0);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.spawn("ingest", &format!("ingest-{platform}-{n}.log"), &args)
    }

    /// Kills (SIGKILL) one platform's ingest; [`Stack::start_ingest`] starts it again.
    pub fn kill_ingest(&mut self, platform: &str) {
        let i = PLATFORMS
            .iter()
            .position(|p| *p == platform)
            .expect("a platform");
        process::kill(&mut self.ingests[i]);
        // A killed ingest leaves its socket file; the next one claims it.
    }

    /// Starts one platform's ingest again and waits until its socket answers.
    pub fn start_ingest(&mut self, platform: &str) {
        let i = PLATFORMS
            .iter()
            .position(|p| *p == platform)
            .expect("a platform");
        self.ingests[i] = self.spawn_ingest(platform);
        let socket = self.ingest_socket(platform);
        self.wait_until(&format!("ingest --platform {platform} to listen"), || {
            socket_answers(&socket)
        });
    }

    fn spawn(&self, bin: &str, log: &str, args: &[&str]) -> Child {
        let log_path = self.dir.path().join(log);
        let out = File::create(&log_path).expect("log file");
        let err = out.try_clone().expect("log file");
        Command::new(bin_dir().join(bin))
            .args(args)
            .args(["--shm-name", self.segment.name()])
            .arg("--runtime-dir")
            .arg(self.runtime_dir())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {bin}: {e}"))
    }

    /// Starts the gateway (again) on the same address and waits for `/healthz`.
    pub fn start_gateway(&mut self) {
        assert!(self.gateway.is_none(), "the gateway is already running");
        self.gateway_starts += 1;
        let listen = self.addr.to_string();
        let data = self.data_dir();
        let child = self.spawn(
            "gateway",
            &format!("gateway-{}.log", self.gateway_starts),
            &[
                "--listen",
                &listen,
                "--data-dir",
                data.to_str().expect("temp paths are UTF-8"),
                "--bcrypt-cost",
                "4",
            ],
        );
        self.gateway = Some(child);
        let url = format!("{}/healthz", self.base_url);
        self.wait_until("the gateway to answer /healthz", || {
            ureq::get(&url).call().is_ok()
        });
    }

    /// The running gateway's pid (for RSS readings), if it runs.
    pub fn gateway_pid(&self) -> Option<u32> {
        self.gateway.as_ref().map(Child::id)
    }

    /// The pid of a platform's ingest (for signals), while it runs.
    pub fn ingest_pid(&self, platform: &str) -> u32 {
        let i = PLATFORMS
            .iter()
            .position(|p| *p == platform)
            .expect("a platform");
        self.ingests[i].id()
    }

    /// Every process log of the stack, whole: (path, text), in name order.
    pub fn log_files(&self) -> Vec<(PathBuf, String)> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        paths.retain(|p| p.extension().is_some_and(|e| e == "log"));
        paths.sort();
        paths
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                (p, text)
            })
            .collect()
    }

    /// The whole log of the gateway's current (or last) run.
    pub fn gateway_log(&self) -> String {
        let path = self
            .dir
            .path()
            .join(format!("gateway-{}.log", self.gateway_starts));
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// Stops the gateway with SIGTERM (SIGKILL if it lingers) and waits until it has exited.
    pub fn stop_gateway(&mut self) {
        if let Some(mut child) = self.gateway.take() {
            process::terminate(&mut child, STOP_TIMEOUT);
        }
    }

    /// Kills the gateway with SIGKILL, as a crash would.
    pub fn kill_gateway(&mut self) {
        if let Some(mut child) = self.gateway.take() {
            process::kill(&mut child);
        }
    }

    /// Polls `ready` every 50 ms; panics with the logs after [`START_TIMEOUT`] or when a process died.
    fn wait_until(&mut self, what: &str, mut ready: impl FnMut() -> bool) {
        let outcome = process::poll_until(START_TIMEOUT, Duration::from_millis(50), || {
            if ready() {
                Some(Ok(()))
            } else {
                self.dead_process().map(Err)
            }
        });
        match outcome {
            Some(Ok(())) => {}
            Some(Err(dead)) => panic!("{dead} exited while waiting for {what}\n{}", self.logs()),
            None => panic!(
                "timed out after {START_TIMEOUT:?} waiting for {what}\n{}",
                self.logs()
            ),
        }
    }

    fn dead_process(&mut self) -> Option<String> {
        if let Some(g) = self.gateway.as_mut() {
            if let Ok(Some(status)) = g.try_wait() {
                return Some(format!("the gateway ({status})"));
            }
        }
        for (child, platform) in self.ingests.iter_mut().zip(PLATFORMS) {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(format!("ingest --platform {platform} ({status})"));
            }
        }
        None
    }

    /// The last lines of every process's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (path, text) in self.log_files() {
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            out.push_str(&format!(
                "----- {} (last {} lines) -----\n",
                path.display(),
                tail.len()
            ));
            for line in tail {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// Writes one message straight into a platform's ingest socket — no gateway involved — and
    /// returns the id the ingest gave it.
    pub fn produce_via_ingest(
        &self,
        platform: &str,
        streamer_id: &str,
        user: &str,
        text: &str,
    ) -> String {
        produce_to_socket(&self.ingest_socket(platform), streamer_id, user, text)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "CrossChat stack logs ({}):\n{}",
                self.dir.path().display(),
                self.logs()
            );
        }
        self.stop_gateway();
        for child in &mut self.ingests {
            process::terminate(child, STOP_TIMEOUT);
        }
        // Then the fields drop: the segment guard unlinks the segment (it outlives its processes
        // by design), the temporary directory goes.
    }
}
