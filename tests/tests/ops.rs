//! Operations: the systemd units and the launch scripts, run for real.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crosschat_tests::process::{bin_dir, ensure_built, free_port};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn units() -> Vec<PathBuf> {
    [
        "crosschat.target",
        "crosschat-gateway.service",
        "crosschat-ingest@.service",
    ]
    .iter()
    .map(|u| repo().join("scripts/systemd").join(u))
    .collect()
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    ensure_built();
    let tool = Command::new("systemd-analyze").arg("--version").output();
    assert!(
        tool.is_ok_and(|o| o.status.success()),
        "systemd-analyze is missing: run scripts/test, which installs the systemd package"
    );
    // Verify checks that ExecStart binaries exist: point the units at the freshly built ones.
    let dir = tempfile::tempdir().unwrap();
    for unit in units() {
        let text = std::fs::read_to_string(&unit).unwrap();
        let text = text.replace("/usr/local/bin/", &format!("{}/", bin_dir().display()));
        std::fs::write(dir.path().join(unit.file_name().unwrap()), text).unwrap();
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args([
            "crosschat.target",
            "crosschat-gateway.service",
            "crosschat-ingest@twitch.service",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{stderr}"
    );
    // Unknown keys are only warnings to systemd; here they are failures.
    assert!(
        stderr.trim().is_empty(),
        "systemd-analyze verify warned:\n{stderr}"
    );
}

#[test]
fn unit_exec_start_flags_exist_in_the_binaries_help() {
    ensure_built();
    let mut checked = 0;
    for unit in units() {
        let text = std::fs::read_to_string(&unit).unwrap();
        for line in text.lines().filter(|l| l.starts_with("ExecStart=")) {
            let mut words = line["ExecStart=".len()..].split_whitespace();
            let exe = words.next().unwrap();
            let name = Path::new(exe).file_name().unwrap().to_str().unwrap();
            let help = Command::new(bin_dir().join(name))
                .arg("--help")
                .output()
                .unwrap();
            assert!(help.status.success(), "{name} --help failed");
            let help = String::from_utf8_lossy(&help.stdout);
            for flag in words.filter(|w| w.starts_with("--")) {
                let flag = flag.split('=').next().unwrap();
                assert!(
                    help.contains(flag),
                    "{}: {name} has no {flag} in --help",
                    unit.display()
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 7,
        "only {checked} flags found in the units' ExecStart lines"
    );
}

#[test]
fn scripts_ingest_refuses_an_unknown_platform() {
    let out = Command::new(repo().join("scripts/ingest"))
        .arg("myspace")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown platform 'myspace'") && stderr.contains("twitch, youtube, kick"),
        "{stderr}"
    );
}

/// Pids of live processes whose environment holds `marker` (how the stack's children are found).
fn processes_with_env(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true);
        if !zombie && env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes()) {
            found.push(pid);
        }
    }
    found
}

#[test]
fn crosschat_up_starts_everything_and_ctrl_c_leaves_nothing_behind() {
    ensure_built();
    let dir = tempfile::tempdir().unwrap();
    let shm = format!("/xchat-up-{}", std::process::id());
    let port = free_port();
    let envs = [
        (
            "CROSSCHAT_DATA_DIR",
            dir.path().join("data").display().to_string(),
        ),
        ("CROSSCHAT_SHM_NAME", shm.clone()),
        ("CROSSCHAT_LISTEN", format!("127.0.0.1:{port}")),
        ("CROSSCHAT_BIN_DIR", bin_dir().display().to_string()),
        ("CROSSCHAT_SKIP_BUILD", "1".into()),
        ("CROSSCHAT_BCRYPT_COST", "4".into()),
    ];
    let marker = format!("CROSSCHAT_SHM_NAME={shm}");
    let mut up = Command::new(repo().join("scripts/crosschat-up"))
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(up.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    assert_eq!(
        url.trim(),
        format!("http://127.0.0.1:{port}"),
        "crosschat-up prints the URL"
    );
    let ready = ureq::get(&format!("{}/readyz", url.trim())).call().unwrap();
    assert_eq!(ready.status(), 200);
    let run = dir.path().join("data/run");
    for p in ["twitch", "youtube", "kick"] {
        assert!(run.join(format!("ingest-{p}.sock")).exists(), "{p} socket");
    }
    let children = processes_with_env(&marker);
    assert!(
        children.len() >= 5,
        "script + gateway + 3 ingests, found {children:?}"
    );

    // A second one on the same data directory refuses.
    let second = Command::new(repo().join("scripts/crosschat-up"))
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("already running"));

    // Ctrl-C.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(up.id() as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let status = up.wait().unwrap();
    assert!(status.success(), "crosschat-up exits 0 on Ctrl-C: {status}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_with_env(&marker).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        processes_with_env(&marker),
        Vec::<u32>::new(),
        "orphans left running"
    );
    let left: Vec<_> = std::fs::read_dir(&run)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "files left in the runtime dir: {left:?}");
    assert!(
        !dir.path().join("data/crosschat-up.lock").exists(),
        "lock left behind"
    );
    let _ = shm_layout::remove(&shm);
}
