//! What a streamer pastes into "link a channel", normalised per platform, or a sentence saying
//! what was wrong:
//! - Twitch: `name`, `#name`, `twitch.tv/name` (any scheme/`www.`/`m.`) → the lower-case login,
//!   3–25 of `[a-z0-9_]`;
//! - Kick: `slug` or `kick.com/slug` → the lower-case slug, 1–64 of `[a-z0-9_-]`;
//! - YouTube: a video id (11 of `[A-Za-z0-9_-]`), `youtube.com/watch?v=`, `youtu.be/`,
//!   `youtube.com/live/`, `/shorts/`; a channel id `UC…` (24 chars) or `youtube.com/channel/UC…`;
//!   an `@handle` or `youtube.com/@handle` → kept as `@handle`.

use crate::Platform;

/// Normalises `input` as a channel of `platform`.
pub fn normalise(platform: Platform, input: &str) -> Result<String, String> {
    let raw = input.trim();
    if raw.is_empty() {
        return Err("Paste a channel name or link.".into());
    }
    if raw.len() > 300 {
        return Err("That is too long to be a channel name or link.".into());
    }
    match platform {
        Platform::Twitch => twitch(raw),
        Platform::Kick => kick(raw),
        Platform::YouTube => youtube(raw),
    }
}

/// Strips a scheme and a `www.`/`m.` prefix; returns (host, path-and-query) when it looks like
/// a URL of one of `hosts`.
fn url_parts<'a>(raw: &'a str, hosts: &[&str]) -> Option<(&'a str, &'a str)> {
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .unwrap_or(raw);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host_l = host.to_ascii_lowercase();
    let bare = host_l
        .strip_prefix("www.")
        .or_else(|| host_l.strip_prefix("m."))
        .unwrap_or(&host_l);
    hosts.contains(&bare).then_some((host, path))
}

fn first_segment(path: &str) -> &str {
    path.split(['/', '?', '#']).next().unwrap_or("")
}

fn twitch(raw: &str) -> Result<String, String> {
    let name = match url_parts(raw, &["twitch.tv"]) {
        Some((_, path)) => first_segment(path),
        None if raw.contains('/') || raw.contains('.') => return Err(
            "That is not a Twitch channel link: paste the name or https://www.twitch.tv/<name>."
                .into(),
        ),
        None => raw.strip_prefix('#').unwrap_or(raw),
    };
    let login = name.to_ascii_lowercase();
    let ok = (3..=25).contains(&login.len())
        && login
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(login)
    } else {
        Err(format!(
            "{name:?} cannot be a Twitch channel: a Twitch login is 3–25 letters, digits or underscores."
        ))
    }
}

fn kick(raw: &str) -> Result<String, String> {
    let name = match url_parts(raw, &["kick.com"]) {
        Some((_, path)) => first_segment(path),
        None if raw.contains('/') || raw.contains('.') => {
            return Err(
                "That is not a Kick channel link: paste the name or https://kick.com/<name>."
                    .into(),
            )
        }
        None => raw,
    };
    let slug = name.to_ascii_lowercase();
    let ok = (1..=64).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(slug)
    } else {
        Err(format!(
            "{name:?} cannot be a Kick channel: a Kick channel name is letters, digits, '-' or '_'."
        ))
    }
}

fn is_video_id(s: &str) -> bool {
    s.len() == 11
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_channel_id(s: &str) -> bool {
    s.len() == 24
        && s.starts_with("UC")
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn handle(s: &str) -> Option<String> {
    let h = s.strip_prefix('@')?;
    let ok = (3..=30).contains(&h.len())
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    ok.then(|| format!("@{}", h.to_ascii_lowercase()))
}

fn youtube(raw: &str) -> Result<String, String> {
    let bad = || {
        Err(
            "That is not a YouTube live link: paste a video link (youtube.com/watch?v=…, youtu.be/…, youtube.com/live/…), a video id, a channel id (UC…) or an @handle."
                .to_string(),
        )
    };
    if let Some((_, path)) = url_parts(raw, &["youtu.be"]) {
        let id = first_segment(path);
        return if is_video_id(id) {
            Ok(id.into())
        } else {
            bad()
        };
    }
    if let Some((_, path)) = url_parts(raw, &["youtube.com"]) {
        let seg = first_segment(path);
        if seg == "watch" {
            let query = path.split_once('?').map(|(_, q)| q).unwrap_or("");
            let v = query
                .split(['&', '#'])
                .find_map(|kv| kv.strip_prefix("v="))
                .unwrap_or("");
            return if is_video_id(v) { Ok(v.into()) } else { bad() };
        }
        let rest = path.split_once('/').map(|(_, r)| r).unwrap_or("");
        let next = first_segment(rest);
        return match seg {
            "live" | "shorts" | "embed" if is_video_id(next) => Ok(next.into()),
            "channel" if is_channel_id(next) => Ok(next.into()),
            s if s.starts_with('@') => handle(s).map_or_else(bad, Ok),
            _ => bad(),
        };
    }
    if is_channel_id(raw) {
        return Ok(raw.into());
    }
    if raw.starts_with('@') {
        return handle(raw).map_or_else(bad, Ok);
    }
    if is_video_id(raw) {
        return Ok(raw.into());
    }
    bad()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_streamers_paste_is_normalised() {
        let t = |s| normalise(Platform::Twitch, s);
        for ok in [
            "SomeChannel",
            "#somechannel",
            "https://www.twitch.tv/SomeChannel",
            "twitch.tv/somechannel/videos",
            "http://m.twitch.tv/somechannel?x=1",
        ] {
            assert_eq!(t(ok).as_deref(), Ok("somechannel"), "{ok}");
        }
        for bad in [
            "ab",
            "a".repeat(26).as_str(),
            "some channel",
            "https://example.com/x",
            "Ünïcode",
            "",
        ] {
            assert!(t(bad).is_err(), "{bad}");
        }
        let k = |s| normalise(Platform::Kick, s);
        assert_eq!(k("https://kick.com/Some-One").as_deref(), Ok("some-one"));
        assert_eq!(k("xqc").as_deref(), Ok("xqc"));
        assert!(k("https://twitch.tv/x").is_err());
        assert!(k("a b").is_err());
        let y = |s| normalise(Platform::YouTube, s);
        for (input, want) in [
            (
                "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=1",
                "dQw4w9WgXcQ",
            ),
            ("https://youtu.be/dQw4w9WgXcQ?si=x", "dQw4w9WgXcQ"),
            ("https://www.youtube.com/live/dQw4w9WgXcQ", "dQw4w9WgXcQ"),
            ("dQw4w9WgXcQ", "dQw4w9WgXcQ"),
            ("UCuAXFkgsw1L7xaCfnd5JJOw", "UCuAXFkgsw1L7xaCfnd5JJOw"),
            (
                "https://www.youtube.com/channel/UCuAXFkgsw1L7xaCfnd5JJOw",
                "UCuAXFkgsw1L7xaCfnd5JJOw",
            ),
            ("@SomeCreator", "@somecreator"),
            ("https://www.youtube.com/@SomeCreator/live", "@somecreator"),
        ] {
            assert_eq!(y(input).as_deref(), Ok(want), "{input}");
        }
        for bad in [
            "https://www.youtube.com/watch?v=short",
            "UCshort",
            "@a",
            "hello world",
            "https://vimeo.com/1",
        ] {
            let e = y(bad).unwrap_err();
            assert!(e.contains("YouTube"), "{bad}: {e}");
        }
    }
}
