//! Operations: the systemd units and the launch scripts, run for real.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crosschat_tests::process::{bin_dir, ensure_built, free_port};
use shm_layout::Platform;

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
    ensure_built();
    let out = Command::new(repo().join("scripts/ingest"))
        .arg("myspace")
        .env("CROSSCHAT_BIN_DIR", bin_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let known = format!("known platforms: {}", Platform::slugs(", "));
    assert!(
        stderr.contains("unknown platform 'myspace'") && stderr.contains(&known),
        "{stderr}"
    );
}

/// The scripts' platform list: what `ingest --list-platforms` prints.
fn listed_platforms() -> Vec<String> {
    let out = Command::new(bin_dir().join("ingest"))
        .arg("--list-platforms")
        .output()
        .unwrap();
    assert!(out.status.success(), "ingest --list-platforms failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn slugs() -> Vec<String> {
    Platform::ALL.iter().map(|p| p.slug().to_owned()).collect()
}

#[test]
fn ingest_lists_the_platforms_the_scripts_start() {
    ensure_built();
    assert_eq!(listed_platforms(), slugs());
}

/// A unit file cannot run a command: the target's `Wants=` spells the instances, and this test is
/// what keeps that spelling equal to the platform list.
#[test]
fn crosschat_target_wants_one_ingest_per_platform() {
    let text = std::fs::read_to_string(repo().join("scripts/systemd/crosschat.target")).unwrap();
    let wanted: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("Wants="))
        .flat_map(str::split_whitespace)
        .filter_map(|u| {
            u.strip_prefix("crosschat-ingest@")?
                .strip_suffix(".service")
        })
        .map(str::to_owned)
        .collect();
    assert_eq!(
        wanted,
        slugs(),
        "crosschat.target's Wants= must name crosschat-ingest@<slug>.service for each Platform"
    );
    assert!(text.contains("crosschat-gateway.service"), "{text}");
}

/// The UI's one platform list (`PLATFORMS` in message.js): each key of the object literal, in order,
/// with the entry's text (up to the next key).
fn ui_platforms() -> Vec<(String, String)> {
    let js = std::fs::read_to_string(repo().join("gateway/assets/message.js")).unwrap();
    let start = js
        .find("export const PLATFORMS = {\n")
        .expect("message.js exports PLATFORMS");
    let body = &js[start..];
    let body = &body[body.find('\n').unwrap() + 1..body.find("\n};").expect("PLATFORMS ends")];
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in body.lines() {
        let key = line
            .strip_prefix("  ")
            .filter(|l| !l.starts_with(' '))
            .and_then(|l| l.split_once(": {"))
            .map(|(k, _)| k);
        match (key, entries.last_mut()) {
            (Some(k), _) => entries.push((k.to_owned(), line.to_owned())),
            (None, Some((_, text))) => text.push_str(line),
            (None, None) => panic!("PLATFORMS starts with {line:?}, not a key"),
        }
    }
    entries
}

#[test]
fn the_ui_platform_list_is_the_enum() {
    let ui = ui_platforms();
    let keys: Vec<&str> = ui.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, slugs(), "PLATFORMS in gateway/assets/message.js");
    for (p, (_, entry)) in Platform::ALL.iter().zip(&ui) {
        assert!(
            entry.contains(&format!("name: '{}'", p.display_name())),
            "the {p} entry names it {:?}: {entry}",
            p.display_name()
        );
        for field in ["mark: '", "colour: '#", "ink: '#", "sample: '#"] {
            assert!(
                entry.contains(field),
                "the {p} entry has no {field}…: {entry}"
            );
        }
    }
}

/// Platform colours, marks and lists come from `PLATFORMS` at run time: no stylesheet rule and no
/// dashboard or overlay markup is written per platform (the landing page's static example feed is
/// content, and takes its colours from `PLATFORMS` too).
#[test]
fn no_stylesheet_or_app_page_spells_a_platform() {
    let assets = repo().join("gateway/assets");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&assets)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "css"))
        .collect();
    files.extend(["dashboard.html", "overlay.html"].map(|f| assets.join(f)));
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for p in Platform::ALL {
            let slug = p.slug();
            for spelled in [
                format!("data-platform=\"{slug}\""),
                format!("value=\"{slug}\""),
                format!(".plat-{slug}"),
                format!("--{slug}"),
            ] {
                assert!(
                    !text.contains(&spelled),
                    "{} spells {spelled}: derive it from PLATFORMS in message.js",
                    file.display()
                );
            }
        }
    }
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
    for p in Platform::ALL {
        let p = p.slug();
        assert!(run.join(format!("ingest-{p}.sock")).exists(), "{p} socket");
    }
    let children = processes_with_env(&marker);
    assert!(
        children.len() >= 2 + Platform::ALL.len(),
        "script + gateway + one ingest per platform, found {children:?}"
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
