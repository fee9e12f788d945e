//! Socket mode, with real `ingest` processes and this test process as the ring's reader.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use shm_layout::{Platform, Reader};

/// Three ingests (one per platform) on one segment, 4 pipelining clients each; the test drains
/// the ring meanwhile and checks every acknowledged message arrives exactly once, with its
/// process's platform, in each client's order.
#[test]
fn three_platforms_many_clients_every_ack_delivered_once_in_order() {
    const CLIENTS_PER_PLATFORM: usize = 4;
    const PER_CLIENT: usize = 400;
    let seg = SegGuard::new("ingest");
    let dir = tempfile::tempdir().unwrap();
    let platforms = ["twitch", "youtube", "kick"];
    let ingests: Vec<Ingest> = platforms
        .iter()
        .map(|p| Ingest::start(&seg.name, p, dir.path(), &[]))
        .collect();
    let drainer = Drainer::start(seg.open());

    let mut clients = Vec::new();
    for (pi, platform) in platforms.iter().enumerate() {
        for c in 0..CLIENTS_PER_PLATFORM {
            let socket = ingests[pi].socket.clone();
            let tag = format!("{platform}-{c}");
            clients.push(std::thread::spawn(move || {
                let mut client = Client::connect(&socket);
                // Pipelined: a writer thread sends everything while this one reads replies.
                let mut w = client.w.try_clone().unwrap();
                let lines: Vec<String> = (0..PER_CLIENT)
                    .map(|i| message(&tag, &format!("{tag} #{i}")))
                    .collect();
                let sender = std::thread::spawn(move || {
                    for l in lines {
                        w.write_all(l.as_bytes()).unwrap();
                        w.write_all(b"\n").unwrap();
                    }
                });
                let ids: Vec<String> = (0..PER_CLIENT)
                    .map(|_| ok_id(&client.reply().expect("a reply per request")))
                    .collect();
                sender.join().unwrap();
                (tag, ids)
            }));
        }
    }
    let acked: Vec<(String, Vec<String>)> =
        clients.into_iter().map(|c| c.join().unwrap()).collect();
    let total = platforms.len() * CLIENTS_PER_PLATFORM * PER_CLIENT;
    let got = drainer.finish(total);

    assert_eq!(
        got.len(),
        total,
        "every acknowledged message, and nothing else"
    );
    let mut seen = HashSet::new();
    let mut by_client: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for m in &got {
        assert!(seen.insert(m.id), "message {} delivered twice", m.id);
        let platform = m.user.split('-').next().unwrap();
        assert_eq!(
            m.platform,
            Platform::from_slug(platform).unwrap(),
            "{m:?} has the wrong platform"
        );
        by_client
            .entry(m.user.clone())
            .or_default()
            .push((m.id.to_string(), m.text.clone()));
    }
    for (tag, ids) in acked {
        let delivered = &by_client[&tag];
        let delivered_ids: Vec<&str> = delivered.iter().map(|(id, _)| id.as_str()).collect();
        let acked_ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        assert_eq!(
            delivered_ids, acked_ids,
            "client {tag}: ring order = ack order"
        );
        for (i, (_, text)) in delivered.iter().enumerate() {
            assert_eq!(text, &format!("{tag} #{i}"), "client {tag}: order kept");
        }
    }
    let snap = seg.open().snapshot();
    assert_eq!(snap.counters["enqueued"], total as u64);
    assert_eq!(snap.counters["rejected_full"], 0);
}

/// Every kind of bad input, each answered with its code and a sentence naming the problem; the
/// connection (and the process) keeps serving, and only the good lines reach the ring.
#[test]
fn bad_inputs_are_refused_with_sentences_and_serving_goes_on() {
    let seg = SegGuard::new("ingest");
    let dir = tempfile::tempdir().unwrap();
    let ing = Ingest::start(&seg.name, "youtube", dir.path(), &[]);
    let sid = SID;
    let long_line = format!(
        r#"{{"streamerId":"{sid}","user":"a","text":"{}"}}"#,
        "x".repeat(70 * 1024)
    );
    let huge_line = "y".repeat(3 * 1024 * 1024);
    let mut bad_utf8 = format!(r#"{{"streamerId":"{sid}","user":"a","text":""#).into_bytes();
    bad_utf8.extend([0xc3, 0x28]);
    bad_utf8.extend(br#""}"#);
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (b"not json".to_vec(), "invalid", "not valid JSON"),
        (b"[1,2]".to_vec(), "invalid", "must be a JSON object"),
        (b"".to_vec(), "invalid", "the request line is empty"),
        (bad_utf8, "invalid", "not valid UTF-8"),
        (
            br#"{"user":"a","text":"b"}"#.to_vec(),
            "invalid",
            "field \"streamerId\" is required",
        ),
        (
            br#"{"streamerId":"nope","user":"a","text":"b"}"#.to_vec(),
            "invalid",
            "field \"streamerId\" must be a UUID",
        ),
        (
            format!(r#"{{"streamerId":"{sid}","text":"b"}}"#).into_bytes(),
            "invalid",
            "field \"user\" is required",
        ),
        (
            format!(r#"{{"streamerId":"{sid}","user":" \u0001 ","text":"b"}}"#).into_bytes(),
            "invalid",
            "field \"user\" is empty after trimming",
        ),
        (
            format!(r#"{{"streamerId":"{sid}","user":"a","text":"\t\n"}}"#).into_bytes(),
            "invalid",
            "field \"text\" is empty after trimming",
        ),
        (
            format!(
                r#"{{"streamerId":"{sid}","user":"{}","text":"b"}}"#,
                "u".repeat(65)
            )
            .into_bytes(),
            "invalid",
            "field \"user\" is 65 characters long, at most 64",
        ),
        (
            format!(
                r#"{{"streamerId":"{sid}","user":"a","text":"{}"}}"#,
                "t".repeat(1001)
            )
            .into_bytes(),
            "invalid",
            "field \"text\" is 1001 characters long, at most 1000",
        ),
        (
            format!(r#"{{"streamerId":"{sid}","user":1,"text":"b"}}"#).into_bytes(),
            "invalid",
            "field \"user\" must be a string",
        ),
        (
            format!(r#"{{"streamerId":"{sid}","user":"a","text":"b","isVip":"yes"}}"#).into_bytes(),
            "invalid",
            "field \"isVip\" must be true or false",
        ),
        (
            format!(r#"{{"streamerId":"{sid}","user":"a","text":"b","isSub":0}}"#).into_bytes(),
            "invalid",
            "field \"isSub\" must be true or false",
        ),
        (
            format!(r#"{{"streamerId":"{sid}","user":"a","text":"b","isMod":{{}}}}"#).into_bytes(),
            "invalid",
            "field \"isMod\" must be true or false",
        ),
        (
            format!(r#"{{"streamerId":"{sid}","user":"a","text":"b","color":"red"}}"#).into_bytes(),
            "invalid",
            "field \"color\" must be \"#rgb\" or \"#rrggbb\"",
        ),
        (
            format!(r##"{{"streamerId":"{sid}","user":"a","text":"b","color":"#12345"}}"##)
                .into_bytes(),
            "invalid",
            "field \"color\"",
        ),
        (
            format!(r#"{{"streamerId":"{sid}","user":"a","user":"b","text":"c"}}"#).into_bytes(),
            "invalid",
            "field \"user\" appears more than once",
        ),
        (
            format!(
                r#"{{"streamerId":"{sid}","user":"a","text":"{}"}}"#,
                "🎉".repeat(1000)
            )
            .into_bytes(),
            "too_large",
            "a ring slot holds at most 4092",
        ),
        (
            long_line.into_bytes(),
            "too_large",
            "longer than 65536 bytes",
        ),
        (
            huge_line.into_bytes(),
            "too_large",
            "longer than 65536 bytes",
        ),
    ];

    // One request at a time: each reply is the answer to its line.
    let mut client = ing.client();
    let mut good = Vec::new();
    for (line, code, sentence) in &cases {
        assert_refused(&client.request(line), code, sentence);
        good.push(ok_id(
            &client.request(message("ok", "still serving").as_bytes()),
        ));
    }

    // The same lines pipelined in one write on a fresh connection: the replies come in order.
    let mut client = ing.client();
    let mut w = client.w.try_clone().unwrap();
    let all: Vec<u8> = cases
        .iter()
        .flat_map(|(l, _, _)| l.iter().copied().chain([b'\n']))
        .chain(message("ok", "last").into_bytes())
        .chain([b'\n'])
        .collect();
    let sender = std::thread::spawn(move || w.write_all(&all).unwrap());
    for (_, code, sentence) in &cases {
        assert_refused(&client.reply().unwrap(), code, sentence);
    }
    good.push(ok_id(&client.reply().unwrap()));
    sender.join().unwrap();

    // A last line without a newline is answered when the client closes its side.
    client
        .w
        .write_all(message("ok", "no newline").as_bytes())
        .unwrap();
    client.w.shutdown(std::net::Shutdown::Write).unwrap();
    good.push(ok_id(&client.reply().unwrap()));
    assert!(client.reply().is_none(), "then the connection ends");

    let seg_handle = seg.open();
    let mut reader = Reader::claim(seg_handle.clone()).unwrap();
    let got = drain_now(&mut reader);
    let ids: Vec<String> = got.iter().map(|m| m.id.to_string()).collect();
    assert_eq!(ids, good, "exactly the accepted messages are in the ring");
    assert!(got.iter().all(|m| m.platform == Platform::YouTube));
}

/// With no reader the ring fills: producers get `queue_full` after the wait, the counters show
/// it, and once the test drains, producers succeed again.
#[test]
fn ring_full_answers_queue_full_until_drained() {
    let seg = SegGuard::new("ingest");
    let dir = tempfile::tempdir().unwrap();
    let ing = Ingest::start(&seg.name, "kick", dir.path(), &["--full-wait-ms", "150"]);
    let mut client = ing.client();
    let slots = shm_layout::SLOT_COUNT as usize;
    for i in 0..slots {
        ok_id(&client.request(message("filler", &format!("#{i}")).as_bytes()));
    }
    for _ in 0..3 {
        assert_refused(
            &client.request(message("late", "no room").as_bytes()),
            "queue_full",
            "the ring stayed full for 150 ms",
        );
    }
    let handle = seg.open();
    let snap = handle.snapshot();
    assert_eq!(snap.length, slots as u64);
    assert!(snap.counters["rejected_full"] >= 3, "{:?}", snap.counters);

    let mut reader = Reader::claim(handle.clone()).unwrap();
    let drained = drain_now(&mut reader);
    assert_eq!(drained.len(), slots);
    assert!(
        drained.iter().all(|m| m.user == "filler"),
        "no refused message was queued"
    );
    let id = ok_id(&client.request(message("after", "room again").as_bytes()));
    let after = drain_now(&mut reader);
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].id.to_string(), id);
}

/// A writer waiting on a full ring is woken by the reader's commit: a message sent while the
/// ring is full is accepted once the test drains within the wait.
#[test]
fn a_full_ring_wait_ends_when_the_reader_drains() {
    let seg = SegGuard::new("ingest");
    let dir = tempfile::tempdir().unwrap();
    let ing = Ingest::start(
        &seg.name,
        "twitch",
        dir.path(),
        &["--full-wait-ms", "30000"],
    );
    let mut client = ing.client();
    for i in 0..shm_layout::SLOT_COUNT {
        ok_id(&client.request(message("filler", &format!("#{i}")).as_bytes()));
    }
    client.send(message("waiting", "for room").as_bytes());
    // The ingest now waits for space; drain from here and the reply must be ok.
    let mut reader = Reader::claim(seg.open()).unwrap();
    let mut drained = drain_now(&mut reader);
    let id = ok_id(&client.reply().unwrap());
    drained.extend(drain_now(&mut reader));
    assert_eq!(drained.last().unwrap().id.to_string(), id);
}

/// SIGKILL mid-stream: every acknowledged message is in the ring; a new ingest replaces the stale
/// socket file and serves.
#[test]
fn sigkill_mid_stream_loses_no_acknowledged_message_and_restart_is_clean() {
    let seg = SegGuard::new("ingest");
    let dir = tempfile::tempdir().unwrap();
    let mut ing = Ingest::start(&seg.name, "kick", dir.path(), &[]);
    let drainer = Drainer::start(seg.open());

    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut client = ing.client();
    let mut w = client.w.try_clone().unwrap();
    let sender = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let line = message("k", &format!("#{i}")) + "\n";
                if w.write_all(line.as_bytes()).is_err() {
                    return;
                }
                i += 1;
            }
        }
    });
    let receiver = std::thread::spawn({
        let acked = acked.clone();
        move || {
            // Replies until the connection dies (EOF or reset).
            loop {
                let mut line = String::new();
                match std::io::BufRead::read_line(&mut client.r, &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if !line.ends_with('\n') {
                            return; // a torn last reply is not an acknowledgement
                        }
                        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                        acked.lock().unwrap().push(ok_id(&v));
                    }
                }
            }
        }
    });
    while acked.lock().unwrap().len() < 2000 {
        std::thread::sleep(Duration::from_millis(5));
    }
    ing.signal("KILL");
    let status = ing.wait();
    assert!(!status.success());
    stop.store(true, Ordering::Relaxed);
    receiver.join().unwrap();
    sender.join().unwrap();
    let acked = acked.lock().unwrap().clone();

    assert!(ing.socket.exists(), "SIGKILL leaves the socket file behind");
    let ing2 = Ingest::start(&seg.name, "kick", dir.path(), &[]);
    let id = ok_id(
        &ing2
            .client()
            .request(message("after", "restart").as_bytes()),
    );

    let got = drainer.finish(acked.len() + 1);
    let delivered: HashSet<String> = got.iter().map(|m| m.id.to_string()).collect();
    assert_eq!(delivered.len(), got.len(), "no message delivered twice");
    for a in &acked {
        assert!(delivered.contains(a), "acknowledged message {a} is missing");
    }
    assert!(delivered.contains(&id));
}

/// A second ingest for the same platform and runtime dir refuses to start while the first lives;
/// the first keeps serving.
#[test]
fn a_second_ingest_on_a_live_socket_exits_with_a_sentence() {
    let seg = SegGuard::new("ingest");
    let dir = tempfile::tempdir().unwrap();
    let ing = Ingest::start(&seg.name, "twitch", dir.path(), &[]);
    let out = ingest_command(&seg.name, "twitch", dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("another ingest is already serving Twitch on")
            && stderr.contains("stop it first"),
        "{stderr}"
    );
    ok_id(
        &ing.client()
            .request(message("a", "first still serves").as_bytes()),
    );
}

/// A socket file nobody listens on (a dead ingest's) is replaced; a regular file is not.
#[test]
fn a_stale_socket_file_is_replaced_but_a_regular_file_is_refused() {
    let seg = SegGuard::new("ingest");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ingest-youtube.sock");
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let ing = Ingest::start(&seg.name, "youtube", dir.path(), &[]);
    ok_id(&ing.client().request(message("a", "b").as_bytes()));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    std::fs::write(dir.path().join("ingest-kick.sock"), "not a socket").unwrap();
    let out = ingest_command(&seg.name, "kick", dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("exists and is not a socket"), "{stderr}");
}

/// SIGTERM: requests already read are answered, the socket file is removed, exit status 0.
#[test]
fn sigterm_answers_what_was_read_removes_the_socket_and_exits_zero() {
    let seg = SegGuard::new("ingest");
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("run/nested");
    let mut ing = Ingest::start(&seg.name, "kick", &runtime, &[]);
    let dir_mode = std::fs::metadata(&runtime).unwrap().permissions().mode();
    assert_eq!(dir_mode & 0o777, 0o700, "the runtime dir is created 0700");
    let mut client = ing.client();
    for i in 0..50 {
        client.send(message("t", &format!("#{i}")).as_bytes());
    }
    let ids: Vec<String> = (0..50).map(|_| ok_id(&client.reply().unwrap())).collect();
    ing.signal("TERM");
    assert!(
        client.reply().is_none(),
        "the connection is closed after shutdown"
    );
    let status = ing.wait();
    assert_eq!(status.code(), Some(0));
    assert!(!ing.socket.exists(), "the socket file is removed");
    let mut reader = Reader::claim(seg.open()).unwrap();
    let got: Vec<String> = drain_now(&mut reader)
        .iter()
        .map(|m| m.id.to_string())
        .collect();
    assert_eq!(got, ids);
}

/// The lock word held by a live process for longer than 5 × 1500 ms: `unavailable`, counted as
/// lock timeouts; once released, producers succeed.
#[test]
fn a_lock_held_too_long_answers_unavailable() {
    let seg = SegGuard::new("ingest");
    let dir = tempfile::tempdir().unwrap();
    let ing = Ingest::start(&seg.name, "twitch", dir.path(), &[]);
    let handle = seg.open();
    let mut client = ing.client();
    {
        let lock = handle.lock_word();
        let _guard = lock.acquire(Duration::from_secs(5)).unwrap();
        assert_refused(
            &client.request(message("a", "locked out").as_bytes()),
            "unavailable",
            "5 attempts of 1500 ms",
        );
    }
    assert_eq!(handle.snapshot().counters["lock_timeouts"], 5);
    ok_id(&client.request(message("a", "unlocked").as_bytes()));
    assert_eq!(handle.depth(), 1, "only the accepted message is queued");
}

/// SIGTERM while a client is pipelining: every request the ingest had read is answered before the
/// connection closes, so the ring holds exactly the acknowledged messages, in order; exit 0.
#[test]
fn sigterm_mid_stream_answers_every_request_read() {
    let seg = SegGuard::new("ingest");
    let dir = tempfile::tempdir().unwrap();
    let mut ing = Ingest::start(&seg.name, "youtube", dir.path(), &[]);
    let drainer = Drainer::start(seg.open());
    let mut client = ing.client();
    let mut w = client.w.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        for i in 0..200_000 {
            let line = message("s", &format!("#{i}")) + "\n";
            if w.write_all(line.as_bytes()).is_err() {
                return; // the ingest has stopped reading and closed
            }
        }
    });
    let mut acked = Vec::new();
    while let Some(reply) = client.reply() {
        acked.push(ok_id(&reply));
        if acked.len() == 500 {
            ing.signal("TERM");
        }
    }
    assert!(acked.len() >= 500);
    assert_eq!(ing.wait().code(), Some(0));
    assert!(!ing.socket.exists(), "the socket file is removed");
    sender.join().unwrap();
    let got = drainer.finish(acked.len());
    let ids: Vec<String> = got.iter().map(|m| m.id.to_string()).collect();
    assert_eq!(
        ids, acked,
        "the ring holds exactly the acknowledged messages"
    );
}

/// systemd readiness (READY=1 once serving, STOPPING=1 at the stop) and quiet logs: a flood of
/// refusals is summarised, not logged line by line; the stop logs the totals.
#[test]
fn notifies_systemd_and_summarises_refusals_in_the_log() {
    use std::io::Read;
    use std::os::unix::net::UnixDatagram;
    let seg = SegGuard::new("ingest");
    let dir = tempfile::tempdir().unwrap();
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let runtime = dir.path().join("run");
    let child = ingest_command(&seg.name, "twitch", &runtime)
        .env("NOTIFY_SOCKET", &notify_path)
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ing = Ingest {
        child,
        socket: runtime.join("ingest-twitch.sock"),
    };
    let mut buf = [0u8; 256];
    let n = notify.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1\n");
    // READY is sent once the socket is bound: it accepts right away.
    let mut client = ing.client();
    let mut w = client.w.try_clone().unwrap();
    let bad: Vec<u8> = b"nope\n".repeat(500);
    let sender = std::thread::spawn(move || w.write_all(&bad).unwrap());
    for _ in 0..500 {
        assert_refused(&client.reply().unwrap(), "invalid", "not valid JSON");
    }
    sender.join().unwrap();
    ok_id(&client.request(message("a", "b").as_bytes()));
    ing.signal("TERM");
    let n = notify.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1\n");
    assert_eq!(ing.wait().code(), Some(0));
    let mut stderr = String::new();
    ing.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() < 10, "no line per refusal: {stderr}");
    assert!(
        lines.iter().any(|l| l.contains("ingest started")
            && l.contains("platform=Twitch")
            && l.contains(&seg.name)
            && l.contains("ingest-twitch.sock")),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "accepted 1, refused 500 (invalid 500, too_large 0, queue_full 0, unavailable 0)"
        ),
        "{stderr}"
    );
}

/// A peer that sends but never reads its replies cannot keep a stopping ingest alive: the stop
/// waits a bounded time (`--full-wait-ms` + 10 s) for it, then exits 0 and removes the socket.
#[test]
fn a_peer_that_never_reads_replies_does_not_block_the_stop_forever() {
    let seg = SegGuard::new("ingest");
    let dir = tempfile::tempdir().unwrap();
    let mut ing = Ingest::start(&seg.name, "kick", dir.path(), &["--full-wait-ms", "100"]);
    let _drainer = Drainer::start(seg.open());
    let client = ing.client();
    let mut w = client.w.try_clone().unwrap();
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sender = std::thread::spawn({
        let sent = sent.clone();
        move || loop {
            let line = message("mute", "never reads") + "\n";
            if w.write_all(line.as_bytes()).is_err() {
                return;
            }
            sent.fetch_add(1, Ordering::Relaxed);
        }
    });
    // Wait until the sender is stuck: the replies filled our receive buffer, so the ingest
    // stopped reading, and then the requests filled its receive buffer.
    let mut last = usize::MAX;
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = sent.load(Ordering::Relaxed);
        if now == last {
            break;
        }
        last = now;
    }
    ing.signal("TERM");
    assert_eq!(ing.wait().code(), Some(0));
    assert!(!ing.socket.exists());
    drop(client);
    sender.join().unwrap();
}
