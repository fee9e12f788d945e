//! The readers of a chat log: every message, a page of a transcript with its moderation marks,
//! and the streaming replay of a WebSocket resume. Lines still being written are left out; a line
//! that does not parse is skipped with a warning.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io;
use std::path::Path;

use shm_layout::{ChatMessage, SlotEvent, SlotKind};
use uuid::Uuid;

use super::marks::{Tombstones, TranscriptMessage};
use super::IdOnly;

/// Reads every complete message of a log, oldest first. A line still being written (no newline
/// yet) is not returned; a line that does not parse is skipped with a warning.
pub fn read_messages(path: &Path) -> io::Result<Vec<ChatMessage>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let complete = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(i) => &bytes[..=i],
        None => &[][..],
    };
    let mut out = Vec::new();
    for (n, line) in complete.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if is_event_line(line) {
            continue;
        }
        match serde_json::from_slice::<ChatMessage>(line) {
            Ok(m) => out.push(m),
            Err(e) => {
                tracing::warn!(path = %path.display(), line = n + 1, error = %e, "skipping a log line that does not parse")
            }
        }
    }
    Ok(out)
}

/// Calls `f` with every complete line of a log, in order, until it returns false. Reads with a
/// bounded buffer, whatever the log's size; a line still being written (no newline) is left out.
pub(super) fn for_each_line(path: &Path, f: impl FnMut(&[u8]) -> bool) -> io::Result<()> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for_each_line_of(file, f)
}

/// [`for_each_line`] over an open file, from its current position.
pub(super) fn for_each_line_of(file: File, mut f: impl FnMut(&[u8]) -> bool) -> io::Result<()> {
    let mut reader = io::BufReader::with_capacity(64 * 1024, file);
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        if io::BufRead::read_until(&mut reader, b'\n', &mut line)? == 0 {
            return Ok(());
        }
        if line.last() != Some(&b'\n') {
            return Ok(()); // in flight
        }
        let body = &line[..line.len() - 1];
        if !body.is_empty() && !f(body) {
            return Ok(());
        }
    }
}

/// Whether a log line is a moderation tombstone (it has a `"type"`; messages have none).
pub(super) fn is_event_line(line: &[u8]) -> bool {
    matches!(SlotKind::of_json(line), Ok(k) if k != SlotKind::Message)
}

pub(super) fn parse_event(path: &Path, line: &[u8]) -> Option<SlotEvent> {
    match SlotEvent::from_json(line) {
        Ok(e) => Some(e),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "skipping a log line that does not parse");
            None
        }
    }
}

pub(super) fn parse_line(path: &Path, line: &[u8]) -> Option<ChatMessage> {
    if is_event_line(line) {
        return None;
    }
    match serde_json::from_slice::<ChatMessage>(line) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "skipping a log line that does not parse");
            None
        }
    }
}

pub(super) fn line_id(line: &[u8]) -> Option<Uuid> {
    serde_json::from_slice::<IdOnly>(line).ok().map(|m| m.id)
}

/// What `GET /api/messages` returns from a log (oldest first): with `since` found, the first
/// `limit` messages after it (so a poller catches up without a gap); with `since` absent or not
/// found, the newest `limit`. One pass, memory bounded by `limit` lines.
pub fn select_from_log(
    path: &Path,
    since: Option<Uuid>,
    limit: usize,
) -> io::Result<Vec<ChatMessage>> {
    select_lines(path, since, limit, None)
}

/// [`select_from_log`] with each message's moderation mark. Tombstones may come before or after
/// their messages (a delete can arrive first after a reconnect), so the same single pass reads
/// the whole log's tombstones while it selects.
pub fn select_marked(
    path: &Path,
    since: Option<Uuid>,
    limit: usize,
) -> io::Result<Vec<TranscriptMessage>> {
    let mut tombstones = Tombstones::default();
    let selected = select_lines(path, since, limit, Some(&mut tombstones))?;
    Ok(selected
        .into_iter()
        .map(|m| TranscriptMessage::marked(m, &tombstones))
        .collect())
}

/// The one pass behind [`select_from_log`] and [`select_marked`]: it stops at the `limit`th
/// message after `since` unless it also collects tombstones (then it reads to the end).
pub(super) fn select_lines(
    path: &Path,
    since: Option<Uuid>,
    limit: usize,
    mut tombstones: Option<&mut Tombstones>,
) -> io::Result<Vec<ChatMessage>> {
    let mut tail: VecDeque<Vec<u8>> = VecDeque::new();
    let mut after: Option<Vec<Vec<u8>>> = None;
    let read_to_end = tombstones.is_some();
    for_each_line(path, |line| {
        let event = is_event_line(line);
        if event {
            if let Some(t) = tombstones.as_deref_mut() {
                if let Some(ev) = parse_event(path, line) {
                    t.add(&ev);
                }
            }
        }
        if let Some(after) = after.as_mut() {
            if !event && after.len() < limit {
                after.push(line.to_vec());
            }
            return read_to_end || after.len() < limit;
        }
        if since.is_some() && line_id(line) == since {
            after = Some(Vec::new());
            return read_to_end || limit > 0;
        }
        if event {
            return true;
        }
        if limit > 0 {
            if tail.len() == limit {
                tail.pop_front();
            }
            tail.push_back(line.to_vec());
        }
        true
    })?;
    let lines: Vec<Vec<u8>> = match after {
        Some(a) => a,
        None => tail.into(),
    };
    Ok(lines.iter().filter_map(|l| parse_line(path, l)).collect())
}

/// Calls `f` with every message and tombstone after `since`, in order, streaming (for a
/// WebSocket replay); returns whether `since` was in the log.
pub fn replay_after(
    path: &Path,
    since: Uuid,
    mut f: impl FnMut(SlotEvent) -> bool,
) -> io::Result<bool> {
    let mut found = false;
    for_each_line(path, |line| {
        if found {
            return parse_event(path, line).is_none_or(&mut f);
        }
        found = line_id(line) == Some(since);
        true
    })?;
    Ok(found)
}

/// [`replay_after`] from a known offset ([`LogStore::open_after`]): every message and tombstone
/// from `offset` to the end of `file`, streaming.
pub fn replay_from(
    path: &Path,
    mut file: File,
    offset: u64,
    mut f: impl FnMut(SlotEvent) -> bool,
) -> io::Result<()> {
    io::Seek::seek(&mut file, io::SeekFrom::Start(offset))?;
    for_each_line_of(file, |line| parse_event(path, line).is_none_or(&mut f))
}
