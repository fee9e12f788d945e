//! What a linked YouTube channel string names: one video (a stream), a channel by id, or a
//! channel by `@handle`. The gateway normalises watch / `youtu.be` / `/live/` URLs to the video id
//! before sending; URLs are accepted here too, so a link pasted straight into a test or an older
//! gateway still works.

use url::Url;

/// What to read the chat of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One video (live or scheduled): an 11-character id.
    Video(String),
    /// A channel id `UC…` (24 characters): its current live stream, found by search.
    Channel(String),
    /// A channel `@handle` (with the `@`): resolved to a channel id once.
    Handle(String),
}

/// Parses a linked channel string (an id, a handle or a YouTube URL).
pub fn parse(s: &str) -> Option<Target> {
    let s = s.trim();
    if is_video_id(s) {
        return Some(Target::Video(s.to_owned()));
    }
    if is_channel_id(s) {
        return Some(Target::Channel(s.to_owned()));
    }
    if let Some(h) = s.strip_prefix('@') {
        return is_handle(h).then(|| Target::Handle(format!("@{h}")));
    }
    parse_url(s)
}

fn parse_url(s: &str) -> Option<Target> {
    let with_scheme;
    let s = if s.contains("://") {
        s
    } else {
        with_scheme = format!("https://{s}");
        &with_scheme
    };
    let url = Url::parse(s).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let host = host.strip_prefix("m.").unwrap_or(host);
    let segs: Vec<&str> = url.path_segments()?.filter(|p| !p.is_empty()).collect();
    if host == "youtu.be" {
        return segs
            .first()
            .filter(|v| is_video_id(v))
            .map(|v| Target::Video((*v).to_owned()));
    }
    if host != "youtube.com" && host != "music.youtube.com" {
        return None;
    }
    match segs.as_slice() {
        ["watch"] => url
            .query_pairs()
            .find(|(k, _)| k == "v")
            .map(|(_, v)| v.into_owned())
            .filter(|v| is_video_id(v))
            .map(Target::Video),
        ["live" | "shorts" | "embed", v, ..] if is_video_id(v) => {
            Some(Target::Video((*v).to_owned()))
        }
        ["channel", c, ..] if is_channel_id(c) => Some(Target::Channel((*c).to_owned())),
        [h, ..] if h.starts_with('@') && is_handle(&h[1..]) => {
            Some(Target::Handle((*h).to_owned()))
        }
        _ => None,
    }
}

fn id_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

/// An 11-character video id of `[A-Za-z0-9_-]`.
pub fn is_video_id(s: &str) -> bool {
    s.len() == 11 && s.bytes().all(id_char)
}

/// A channel id: `UC` and 22 characters of `[A-Za-z0-9_-]`.
pub fn is_channel_id(s: &str) -> bool {
    s.len() == 24 && s.starts_with("UC") && s.bytes().all(id_char)
}

/// A handle without its `@`: 3–30 of letters, digits, `_`, `-`, `.` (YouTube's rule, ASCII).
fn is_handle(h: &str) -> bool {
    (3..=30).contains(&h.len())
        && h.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Option<Target> {
        Some(Target::Video(s.into()))
    }

    #[test]
    fn every_link_form() {
        assert_eq!(parse("dQw4w9WgXcQ"), v("dQw4w9WgXcQ"));
        assert_eq!(
            parse("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=1s"),
            v("dQw4w9WgXcQ")
        );
        assert_eq!(
            parse("youtube.com/watch?feature=x&v=dQw4w9WgXcQ"),
            v("dQw4w9WgXcQ")
        );
        assert_eq!(
            parse("https://youtu.be/dQw4w9WgXcQ?si=abc"),
            v("dQw4w9WgXcQ")
        );
        assert_eq!(
            parse("https://m.youtube.com/live/dQw4w9WgXcQ?feature=share"),
            v("dQw4w9WgXcQ")
        );
        assert_eq!(
            parse("UCrjdRCm0gGcdrYtl8z66t6g"),
            Some(Target::Channel("UCrjdRCm0gGcdrYtl8z66t6g".into()))
        );
        assert_eq!(
            parse("https://www.youtube.com/channel/UCrjdRCm0gGcdrYtl8z66t6g/live"),
            Some(Target::Channel("UCrjdRCm0gGcdrYtl8z66t6g".into()))
        );
        assert_eq!(
            parse("@some.streamer"),
            Some(Target::Handle("@some.streamer".into()))
        );
        assert_eq!(
            parse("https://www.youtube.com/@some_streamer/live"),
            Some(Target::Handle("@some_streamer".into()))
        );
        for bad in [
            "",
            "short",
            "@x",
            "https://example.com/watch?v=dQw4w9WgXcQ",
            "UCshort",
            "a b c d e f g",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
