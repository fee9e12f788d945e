//! `--stdin` mode with the real binary: replies in order on stdout, a summary on stderr, the exit
//! status says whether anything was refused, and the segment holds exactly the accepted lines.

mod common;

use std::io::Write;
use std::process::{Output, Stdio};

use common::*;
use shm_layout::{Platform, Reader, Segment};

fn run_stdin(seg: &str, input: &[u8], extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut child = ingest_command(seg, "kick", dir.path())
        .arg("--stdin")
        .args(extra)
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(
        !dir.path().join("ingest-kick.sock").exists(),
        "stdin mode binds no socket"
    );
    out
}

fn replies(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn mixed_input_is_answered_in_order_and_exit_status_is_one() {
    let seg = SegGuard::new("ingest");
    let mut input = Vec::new();
    let mut expect = Vec::new(); // (ok?, code)
    for i in 0..300 {
        let line = match i % 5 {
            0 => {
                expect.push(None);
                message("u", &format!("#{i}"))
            }
            1 => {
                expect.push(Some("invalid"));
                format!("{{\"streamerId\":\"{SID}\",\"user\":\"u\"}}")
            }
            2 => {
                expect.push(None);
                message("v", &format!("#{i}"))
            }
            3 => {
                expect.push(Some("too_large"));
                message("w", &"z".repeat(70 * 1024))
            }
            _ => {
                expect.push(Some("invalid"));
                "{oops".to_string()
            }
        };
        input.extend(line.as_bytes());
        input.push(b'\n');
    }
    let out = run_stdin(&seg.name, &input, &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a refused line makes the status 1"
    );
    let replies = replies(&out);
    assert_eq!(replies.len(), expect.len(), "one reply per line");
    let mut accepted = Vec::new();
    for (r, e) in replies.iter().zip(&expect) {
        match e {
            None => accepted.push(ok_id(r)),
            Some(code) => assert_refused(r, code, ""),
        }
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = stderr.lines().last().unwrap();
    assert_eq!(
        summary,
        "accepted 120, refused 180 (invalid 120, too_large 60, queue_full 0, unavailable 0)"
    );

    let seg_handle = seg.open();
    assert_eq!(
        seg_handle.depth(),
        120,
        "exactly the accepted lines are queued"
    );
    let mut reader = Reader::claim(seg_handle).unwrap();
    let got = drain_now(&mut reader);
    let ids: Vec<String> = got.iter().map(|m| m.id.to_string()).collect();
    assert_eq!(ids, accepted);
    assert!(got.iter().all(|m| m.platform == Platform::Kick));
}

#[test]
fn clean_input_exits_zero_and_json_logs_are_json() {
    let seg = SegGuard::new("ingest");
    let input: String = (0..10)
        .map(|i| message("ann", &format!("hello {i}")) + "\n")
        .collect();
    let out = run_stdin(&seg.name, input.as_bytes(), &["--log-format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(replies(&out).len(), 10);
    assert!(replies(&out).iter().all(|r| r["ok"] == true));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let mut lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.pop(),
        Some("accepted 10, refused 0 (invalid 0, too_large 0, queue_full 0, unavailable 0)")
    );
    assert!(!lines.is_empty(), "at least the start line is logged");
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
        assert!(v.get("level").is_some(), "{l}");
    }
    assert_eq!(seg.open().depth(), 10);
}

#[test]
fn v2_fields_and_moderation_events_go_through_stdin_like_the_socket() {
    let seg = SegGuard::new("ingest");
    let lines = [
        serde_json::json!({"streamerId": SID, "user": "ann", "text": "👉 Kappa hi", "channel": "chan",
            "platformMessageId": "m-1", "userId": "42", "kind": "paid", "isOwner": true,
            "badges": ["broadcaster"], "emotes": [{"id": "25", "name": "Kappa", "start": 2, "end": 7}],
            "replyTo": {"platformMessageId": "m-0", "user": "bob", "text": "first"},
            "amount": {"value": "5", "currency": "kicks", "display": "5 Kicks"}}),
        serde_json::json!({"type": "delete", "streamerId": SID, "channel": "chan", "platformMessageId": "m-1"}),
        serde_json::json!({"type": "clear_user", "streamerId": SID, "channel": "chan", "userId": "42", "user": "ann", "until": 1_900_000_000_000u64}),
        serde_json::json!({"type": "clear", "streamerId": SID, "channel": "chan"}),
        // Refused with a sentence: an emote range outside the text.
        serde_json::json!({"streamerId": SID, "user": "ann", "text": "hi", "emotes": [{"id": "1", "name": "x", "start": 5, "end": 6}]}),
    ];
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let out = run_stdin(&seg.name, input.as_bytes(), &[]);
    let replies = replies(&out);
    assert_eq!(replies.len(), 5);
    assert!(replies[..4].iter().all(|r| r["ok"] == true), "{replies:?}");
    assert_refused(&replies[4], "invalid", "emote");
    assert_eq!(out.status.code(), Some(1));
    let mut reader = Reader::claim(seg.open()).unwrap();
    let mut got = Vec::new();
    let end = reader.peek(16, |_, r| {
        got.push(shm_layout::SlotEvent::from_json(r.unwrap()).unwrap())
    });
    reader.commit(end);
    assert_eq!(got.len(), 4);
    match &got[0] {
        shm_layout::SlotEvent::Message(m) => {
            assert_eq!(m.emotes[0].name, "Kappa");
            assert_eq!(m.amount.as_ref().unwrap().currency, "kicks");
            assert_eq!(m.reply_to.as_ref().unwrap().user, "bob");
            assert!(m.is_owner && m.platform == Platform::Kick);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&got[1], shm_layout::SlotEvent::Delete(d) if d.platform_message_id == "m-1"));
    assert!(
        matches!(&got[2], shm_layout::SlotEvent::ClearUser(c) if c.until == Some(1_900_000_000_000))
    );
    assert!(matches!(&got[3], shm_layout::SlotEvent::Clear(c) if c.channel == "chan"));
}

#[test]
fn empty_input_exits_zero_and_a_bad_segment_name_is_a_sentence() {
    let seg = SegGuard::new("ingest");
    let out = run_stdin(&seg.name, b"", &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());

    let out = run_stdin("no-slash", b"", &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("segment name 'no-slash' is invalid"),
        "{stderr}"
    );
}

#[test]
fn flags_come_from_the_environment_too() {
    let seg = SegGuard::new("ingest");
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ingest"))
        .env("CROSSCHAT_PLATFORM", "youtube")
        .env("CROSSCHAT_SHM_NAME", &seg.name)
        .env("CROSSCHAT_RUNTIME_DIR", dir.path())
        .env("CROSSCHAT_STDIN", "true")
        .env("CROSSCHAT_FULL_WAIT_MS", "100")
        .env("CROSSCHAT_LOG_FORMAT", "json")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all((message("env", "from the environment") + "\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let id = ok_id(&replies(&out)[0]);
    let mut reader = Reader::claim(seg.open()).unwrap();
    let got = drain_now(&mut reader);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id.to_string(), id);
    assert_eq!(got[0].platform, Platform::YouTube);
}

#[test]
fn an_unknown_platform_is_a_usage_error_listing_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = ingest_command("/xchat-ingest-never-created", "myspace", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[possible values: twitch, youtube, kick]"),
        "{stderr}"
    );
    assert!(
        Segment::open_existing("/xchat-ingest-never-created").is_err(),
        "nothing was created"
    );
}
