//! Segments of the wrong magic, version, geometry or size are refused with their sentence — by the
//! library and by `crosschat-shm`.

mod common;

use std::io::{Seek, SeekFrom, Write};
use std::process::Command;

use common::TestSegment;
use shm_layout::layout::offsets;
use shm_layout::{OpenError, Segment};

fn poke(t: &TestSegment, offset: usize, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(t.path())
        .unwrap();
    f.seek(SeekFrom::Start(offset as u64)).unwrap();
    f.write_all(bytes).unwrap();
}

fn cli(t: &TestSegment, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_crosschat-shm"))
        .args(args)
        .env("CROSSCHAT_SHM_NAME", &t.name)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn valid(tag: &str) -> TestSegment {
    let t = TestSegment::new(tag);
    drop(Segment::open_or_create(&t.name).unwrap());
    t
}

#[test]
fn garbage_is_refused_as_not_a_crosschat_segment() {
    let t = valid("garbage");
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    poke(&t, 0, &garbage);
    let err = Segment::open_or_create(&t.name).unwrap_err();
    assert!(matches!(err, OpenError::BadMagic { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("is not a CrossChat segment") && msg.contains("crosschat-shm remove"),
        "{msg}"
    );
    let (ok, _, stderr) = cli(&t, &["inspect", "--json"]);
    assert!(!ok);
    assert!(stderr.contains("is not a CrossChat segment"), "{stderr}");
}

#[test]
fn another_version_is_refused_with_what_to_do() {
    let t = valid("version");
    poke(&t, offsets::VERSION, &2u32.to_le_bytes());
    let err = Segment::open_or_create(&t.name).unwrap_err();
    assert!(
        matches!(err, OpenError::VersionMismatch { found: 2, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "segment {0} has layout version 2, this binary speaks 1: stop all CrossChat processes \
             and run 'crosschat-shm remove --shm-name {0}'",
            t.name
        )
    );
    let (ok, _, stderr) = cli(&t, &["peek"]);
    assert!(!ok && stderr.contains("layout version 2"), "{stderr}");
    // The advice works: remove, then a fresh create succeeds.
    let (ok, stdout, _) = cli(&t, &["remove"]);
    assert!(ok && stdout.contains("removed"));
    assert!(Segment::open_or_create(&t.name).unwrap().created());
}

#[test]
fn another_geometry_is_refused() {
    let t = valid("geometry");
    poke(&t, offsets::SLOT_COUNT, &128u32.to_le_bytes());
    let err = Segment::open_existing(&t.name).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::GeometryMismatch {
                slot_count: 128,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("has 128 slots of 4096 bytes"),
        "{err}"
    );
}

#[test]
fn a_truncated_object_is_refused() {
    let t = valid("short");
    std::fs::OpenOptions::new()
        .write(true)
        .open(t.path())
        .unwrap()
        .set_len(8192)
        .unwrap();
    let err = Segment::open_existing(&t.name).unwrap_err();
    assert!(
        matches!(err, OpenError::WrongSize { found: 8192, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("is 8192 bytes, a CrossChat segment is 1052672"),
        "{err}"
    );

    std::fs::OpenOptions::new()
        .write(true)
        .open(t.path())
        .unwrap()
        .set_len(10)
        .unwrap();
    let err = Segment::open_existing(&t.name).unwrap_err();
    assert!(
        matches!(err, OpenError::WrongSize { found: 10, .. }),
        "{err:?}"
    );
}

#[test]
fn an_object_never_initialised_is_refused_after_a_bounded_wait() {
    let t = TestSegment::new("uninit");
    // What a creator that died right after shm_open + ftruncate leaves behind: zeroes.
    let f = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(t.path())
        .unwrap();
    f.set_len(shm_layout::SEGMENT_SIZE as u64).unwrap();
    let started = std::time::Instant::now();
    let err = Segment::open_or_create(&t.name).unwrap_err();
    assert!(matches!(err, OpenError::NotInitialised { .. }), "{err:?}");
    assert!(started.elapsed() >= shm_layout::segment::INIT_WAIT);
    assert!(err.to_string().contains("was never initialised"), "{err}");
}

#[test]
fn absent_segment_and_bad_names_have_sentences() {
    let t = TestSegment::new("absent");
    let err = Segment::open_existing(&t.name).unwrap_err();
    assert!(matches!(err, OpenError::NotFound { .. }));
    let (ok, _, stderr) = cli(&t, &["inspect"]);
    assert!(!ok && stderr.contains("does not exist"), "{stderr}");
    for bad in ["crosschat", "/a/b", "/"] {
        let err = Segment::open_or_create(bad).unwrap_err();
        assert!(
            matches!(err, OpenError::InvalidName { .. }),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn cli_create_inspect_peek_remove() {
    let t = TestSegment::new("cli");
    let (ok, out, _) = cli(&t, &["create"]);
    assert!(ok && out.contains("created segment"), "{out}");
    let (ok, out, _) = cli(&t, &["create"]);
    assert!(
        ok && out.contains("already exists"),
        "create is idempotent: {out}"
    );
    let seg = Segment::open_existing(&t.name).unwrap();
    for i in 0..3 {
        seg.try_enqueue(
            format!("{{\"n\":{i}}}").as_bytes(),
            std::time::Duration::from_secs(1),
        )
        .unwrap();
    }
    let (ok, out, _) = cli(&t, &["inspect", "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["name"], t.name.as_str());
    assert_eq!(v["version"], 1);
    assert_eq!(v["slot_count"], 256);
    assert_eq!(v["slot_size"], 4096);
    assert_eq!(v["head"], 0);
    assert_eq!(v["tail"], 3);
    assert_eq!(v["length"], 3);
    assert!(v["lock_owner"].is_null() && v["lock_owner_alive"].is_null());
    // `create` ran in the CLI's own process, which has exited since.
    let creator = v["creator_pid"].as_u64().unwrap() as u32;
    assert!(creator > 0 && creator != std::process::id());
    assert!(
        !shm_layout::pid_alive(creator),
        "the creator was the short-lived CLI process"
    );
    assert!(v["created_ms"].as_u64().unwrap() > 0);
    for name in shm_layout::layout::COUNTER_NAMES {
        assert!(v["counters"][name].is_u64(), "counter {name} missing: {v}");
    }
    assert_eq!(v["counters"]["enqueued"], 3);
    let (ok, out, _) = cli(&t, &["peek", "2"]);
    assert!(ok);
    assert_eq!(
        out, "{\"n\":0}\n{\"n\":1}\n",
        "peek prints without consuming"
    );
    assert_eq!(seg.depth(), 3);
    let (ok, _, _) = cli(&t, &["remove"]);
    assert!(ok);
    assert!(!std::path::Path::new(&t.path()).exists());
}
