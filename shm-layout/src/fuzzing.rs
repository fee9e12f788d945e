//! Property checks over raw input bytes, shared by the `cargo fuzz` targets (`fuzz/`) and the
//! stable-toolchain replay of their corpora (`tests/fuzz_replay.rs`), so both run the same code.
//!
//! Each check feeds its input through the functions the product uses and panics when a stated
//! property does not hold; an input the product refuses is fine (refusing is its job), a panic
//! inside the product is a bug. Not part of the API: hidden from the docs.

use crate::event::type_field;
use crate::layout::{
    offsets, HEADER_PAGE_SIZE, LAYOUT_VERSION, MAGIC, SEGMENT_SIZE, SLOT_COUNT, SLOT_SIZE,
};
use crate::message::{code_point_slice, retain_valid_emotes, retain_valid_emotes_in, Emote};
use crate::segment::{check_header, HEADER_LEN};
use crate::{ChatMessage, OpenError, SlotEvent, SlotKind};

/// The targets of this crate: name (= the `fuzz/fuzz_targets/<name>.rs` file and the
/// `fuzz/corpus/<name>/` directory) and check.
pub const TARGETS: &[Target] = &[
    ("slot_payload", slot_payload),
    ("segment_header", segment_header),
    ("emote_ranges", emote_ranges),
];

/// A slot payload as the gateway's pump reads it (v1 and v2 messages, the three events):
/// whatever decodes re-encodes to bytes that decode to the same value and re-encode to the
/// same bytes; the `type` fast path agrees with the full parse.
pub fn slot_payload(data: &[u8]) {
    let kind = SlotKind::of_json(data);
    if let Ok(Some(t)) = type_field(data) {
        // The fast path and a generic parse read the same `type` (a generic parse may refuse
        // what type_field skips unread, e.g. a number out of f64's range: then nothing to compare).
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
            assert_eq!(v.get("type").and_then(|t| t.as_str()), Some(&*t));
        }
    }
    let Ok(ev) = SlotEvent::from_json(data) else {
        return;
    };
    assert_eq!(Ok(kind_of(&ev)), kind.map_err(|e| e.to_string()));
    if let SlotEvent::Message(m) = &ev {
        let direct = ChatMessage::from_json(data).expect("a message slot parses as a message");
        assert_eq!(&direct, m);
    }
    assert_stable_json(&ev);
}

/// Encodes `ev`, decodes it, encodes again: same value, same bytes, same kind.
pub fn assert_stable_json(ev: &SlotEvent) {
    let json = ev.to_json();
    let back = SlotEvent::from_json(&json)
        .unwrap_or_else(|e| panic!("{ev:?} encodes to {json:?}, which does not decode: {e}"));
    assert_eq!(&back, ev, "decode(encode(x)) != x for {json:?}");
    assert_eq!(back.to_json(), json, "encoding is not stable");
    assert_eq!(SlotKind::of_json(&json).ok(), Some(kind_of(ev)));
}

fn kind_of(ev: &SlotEvent) -> SlotKind {
    match ev {
        SlotEvent::Message(_) => SlotKind::Message,
        SlotEvent::Delete(_) => SlotKind::Delete,
        SlotEvent::ClearUser(_) => SlotKind::ClearUser,
        SlotEvent::Clear(_) => SlotKind::Clear,
    }
}

/// The segment header as `open` validates it. Input: the object's size (u32 LE), this
/// process's pid namespace (u64 LE), then the header bytes. The refusal is the one the first
/// failing rule gives, and only a header of this layout in this namespace is accepted.
pub fn segment_header(data: &[u8]) {
    if data.len() < 12 {
        return;
    }
    let mapped = u32::from_le_bytes(data[..4].try_into().expect("4 bytes")) as usize;
    let ours = u64::from_le_bytes(data[4..12].try_into().expect("8 bytes"));
    let header = &data[12..];
    let got = check_header("/fuzz", header, mapped, ours);
    if let Err(e) = &got {
        assert!(!e.to_string().is_empty());
    }
    // An independent statement of the rules, in order.
    let expected = || -> Result<(), &'static str> {
        if header.len() < HEADER_LEN {
            return Err("WrongSize");
        }
        let field = |at: usize, n: usize| {
            let mut b = [0u8; 8];
            b[..n].copy_from_slice(&header[at..at + n]);
            u64::from_ne_bytes(b) & (u64::MAX >> (64 - 8 * n as u32))
        };
        let magic = field(offsets::MAGIC, 8);
        if magic == 0 {
            return Err("NotInitialised");
        }
        if magic != MAGIC {
            return Err("BadMagic");
        }
        if field(offsets::VERSION, 4) != u64::from(LAYOUT_VERSION) {
            return Err("VersionMismatch");
        }
        if mapped < HEADER_PAGE_SIZE {
            return Err("WrongSize");
        }
        if field(offsets::SLOT_COUNT, 4) != u64::from(SLOT_COUNT)
            || field(offsets::SLOT_SIZE, 4) != u64::from(SLOT_SIZE)
            || field(offsets::SEGMENT_SIZE, 8) != SEGMENT_SIZE as u64
        {
            return Err("GeometryMismatch");
        }
        if mapped != SEGMENT_SIZE {
            return Err("WrongSize");
        }
        let theirs = field(offsets::PID_NS, 8);
        if theirs != 0 && ours != 0 && theirs != ours {
            return Err("PidNamespaceMismatch");
        }
        Ok(())
    };
    let name = |r: &Result<(), OpenError>| match r {
        Ok(()) => Ok(()),
        Err(OpenError::WrongSize { .. }) => Err("WrongSize"),
        Err(OpenError::NotInitialised { .. }) => Err("NotInitialised"),
        Err(OpenError::BadMagic { .. }) => Err("BadMagic"),
        Err(OpenError::VersionMismatch { .. }) => Err("VersionMismatch"),
        Err(OpenError::GeometryMismatch { .. }) => Err("GeometryMismatch"),
        Err(OpenError::PidNamespaceMismatch { .. }) => Err("PidNamespaceMismatch"),
        Err(other) => panic!("check_header gave an error it has no rule for: {other:?}"),
    };
    assert_eq!(name(&got), expected(), "mapped {mapped}, ns {ours}");
    if let Err(OpenError::BadMagic { found, .. }) = &got {
        assert_eq!(&found[..], &header[..8], "BadMagic shows the bytes found");
    }
}

/// The emote-range converter (code points, not bytes). Input: a count byte, then per emote a
/// start (u32 LE), an end (u32 LE) and a flag byte (bit 0: named by the text it covers), then
/// the text (lossy UTF-8).
pub fn emote_ranges(data: &[u8]) {
    let Some((&n, mut rest)) = data.split_first() else {
        return;
    };
    let mut emotes = Vec::new();
    for i in 0..(n % 32) {
        let Some((e, r)) = rest.split_first_chunk::<9>() else {
            break;
        };
        rest = r;
        let start = u32::from_le_bytes(e[..4].try_into().expect("4 bytes"));
        let end = u32::from_le_bytes(e[4..8].try_into().expect("4 bytes"));
        emotes.push((i, start, end, e[8] & 1 == 1));
    }
    let text = String::from_utf8_lossy(rest);
    let chars: Vec<char> = text.chars().collect();
    let mut list: Vec<Emote> = Vec::new();
    for &(i, start, end, named) in &emotes {
        let slice = code_point_slice(&text, start, end);
        let want: Option<String> = (start < end && end as usize <= chars.len())
            .then(|| chars[start as usize..end as usize].iter().collect());
        assert_eq!(slice.map(str::to_owned), want, "code points {start}..{end}");
        list.push(Emote {
            id: i.to_string(),
            name: match (named, slice) {
                (true, Some(s)) => s.to_owned(),
                _ => "x".to_owned(),
            },
            start,
            end,
        });
    }

    let mut kept = list.clone();
    let dropped = retain_valid_emotes(&text, &mut kept);
    assert_eq!(dropped, list.len() - kept.len());
    assert_valid_emotes(&text, &kept, false);
    assert!(
        kept.iter().all(|k| list.contains(k)),
        "only given emotes are kept"
    );
    assert_eq!(
        retain_valid_emotes(&text, &mut kept.clone()),
        0,
        "idempotent"
    );

    let mut kept = list.clone();
    let dropped = retain_valid_emotes_in(&text, &mut kept);
    assert_eq!(dropped, list.len() - kept.len());
    assert_valid_emotes(&text, &kept, true);
    assert_eq!(
        retain_valid_emotes_in(&text, &mut kept.clone()),
        0,
        "idempotent"
    );
}

/// Every emote's range lies inside `text` (code points), is not empty, and starts after the end
/// of the one before (sorted, no overlap); with `named`, each is named by the text it covers.
pub fn assert_valid_emotes(text: &str, emotes: &[Emote], named: bool) {
    let len = text.chars().count() as u64;
    let mut last_end = 0u32;
    for e in emotes {
        assert!(
            e.start < e.end && u64::from(e.end) <= len,
            "emote {e:?} outside the text {text:?} ({len} code points)"
        );
        assert!(
            e.start >= last_end,
            "emote {e:?} overlaps or precedes the one before"
        );
        last_end = e.end;
        if named {
            assert_eq!(
                code_point_slice(text, e.start, e.end),
                Some(e.name.as_str()),
                "emote {e:?} is not named by the text it covers in {text:?}"
            );
        }
    }
}

/// A fuzz target's name and check.
pub type Target = (&'static str, fn(&[u8]));

/// Replays every committed input of `targets` through its check: the files of
/// `<fuzz_dir>/corpus/<name>/` and of `<fuzz_dir>/artifacts-kept/<name>/` (the reproducers of
/// crashes found and fixed). Each target must have a non-empty corpus. Panics naming every file
/// whose check panicked; returns how many inputs ran.
pub fn replay(fuzz_dir: &std::path::Path, targets: &[Target]) -> usize {
    let mut ran = 0;
    let mut failed = Vec::new();
    for &(name, check) in targets {
        let corpus = fuzz_dir.join("corpus").join(name);
        let inputs = files(&corpus);
        assert!(
            !inputs.is_empty(),
            "target {name} has no corpus in {}: run scripts/fuzz and commit it",
            corpus.display()
        );
        for path in inputs
            .into_iter()
            .chain(files(&fuzz_dir.join("artifacts-kept").join(name)))
        {
            let data = std::fs::read(&path).expect("reading a corpus file");
            ran += 1;
            if std::panic::catch_unwind(|| check(&data)).is_err() {
                failed.push(path.display().to_string());
            }
        }
    }
    assert!(failed.is_empty(), "property failures on: {failed:#?}");
    ran
}

/// The regular files of `dir`, sorted (none when it does not exist).
pub fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}
