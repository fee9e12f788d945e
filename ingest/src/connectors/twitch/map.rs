//! Twitch IRC → the normalised model: `PRIVMSG` (chat, `/me` actions, cheers, replies, Shared
//! Chat), `USERNOTICE` (subs and gifts → membership; raids, announcements and the rest →
//! system), `CLEARMSG` (delete), `CLEARCHAT` (timeout, ban, clear). Every other command is
//! [`Mapped::Skipped`]; the connection handles the protocol ones (PING, JOIN, NOTICE…) itself.
//!
//! Fields come from the tags (research brief §1.1, §7): `id` (Shared Chat: `source-id`) →
//! `platformMessageId` and the v5 `id`; `tmi-sent-ts` → `timestamp`; `display-name` (IRCv3
//! unescaped; empty → the login) → `user`; `badges` → names and the booleans; `emotes` with
//! inclusive code-point indices → half-open ranges, named by the text they cover.

use shm_layout::event::moderation_uuid;
use shm_layout::{
    now_ms, platform_message_uuid, Amount, ChatMessage, ClearChat, ClearUser, Delete, Emote, Kind,
    Platform, ReplyTo, SlotEvent,
};
use uuid::Uuid;

use super::parse::{unescape, Line};

/// Most emote ranges read from one `emotes` tag (a message has at most 500 code points).
const MAX_EMOTE_RANGES: usize = 256;

/// What a line became.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "Event is the common case; boxing it costs an allocation per line"
)]
pub enum Mapped {
    /// An event of `channel` (the lower-case login from the `#channel` parameter).
    Event {
        /// The channel.
        channel: String,
        /// The event.
        event: SlotEvent,
    },
    /// A well-formed line of a kind CrossChat does not show.
    Skipped,
}

/// Why a line of a mapped command could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// No `#channel` parameter.
    NoChannel,
    /// A PRIVMSG without text.
    NoText,
    /// A CLEARMSG without `target-msg-id`.
    NoTarget,
}

/// Maps one parsed line.
pub fn map(line: &Line<'_>) -> Result<Mapped, MapError> {
    match line.command {
        "PRIVMSG" => privmsg(line),
        "USERNOTICE" => usernotice(line),
        "CLEARMSG" => clearmsg(line),
        "CLEARCHAT" => clearchat(line),
        _ => Ok(Mapped::Skipped),
    }
}

fn timestamp(line: &Line<'_>) -> u64 {
    line.tag("tmi-sent-ts")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(now_ms)
}

fn privmsg(line: &Line<'_>) -> Result<Mapped, MapError> {
    let channel = line.channel().ok_or(MapError::NoChannel)?;
    let raw = line.param(1).ok_or(MapError::NoText)?;
    let (text, action) = strip_action(raw);
    let mut m = base_message(line, &channel, text);
    m.kind = if action { Kind::Action } else { Kind::Chat };
    if let Some(bits) = line.tag("bits").and_then(|b| b.parse::<u64>().ok()) {
        if bits > 0 {
            m.kind = Kind::Paid;
            m.amount = Some(Amount {
                value: bits.to_string(),
                currency: "bits".into(),
                display: if bits == 1 {
                    "1 bit".into()
                } else {
                    format!("{bits} bits")
                },
            });
        }
    }
    if let Some(parent) = line.tag("reply-parent-msg-id").filter(|v| !v.is_empty()) {
        let user = line
            .tag_text("reply-parent-display-name")
            .or_else(|| line.tag_text("reply-parent-user-login"))
            .unwrap_or_default()
            .into_owned();
        m.reply_to = Some(ReplyTo {
            platform_message_id: unescape(parent).into_owned(),
            user,
            text: line
                .tag_text("reply-parent-msg-body")
                .unwrap_or_default()
                .into_owned(),
        });
    }
    Ok(Mapped::Event {
        channel,
        event: SlotEvent::Message(m),
    })
}

/// USERNOTICE `msg-id`s that are memberships; every other one is a system notice.
const MEMBERSHIP: &[&str] = &[
    "sub",
    "resub",
    "subgift",
    "submysterygift",
    "anonsubgift",
    "anonsubmysterygift",
    "giftpaidupgrade",
    "anongiftpaidupgrade",
    "primepaidupgrade",
    "standardpayforward",
    "communitypayforward",
    "extendsub",
];

fn usernotice(line: &Line<'_>) -> Result<Mapped, MapError> {
    let channel = line.channel().ok_or(MapError::NoChannel)?;
    let own = line.param(1).map(|t| strip_action(t).0).unwrap_or("");
    let system = line.tag_text("system-msg").map(|s| s.trim().to_owned());
    let text = if own.trim().is_empty() {
        system.clone().unwrap_or_default()
    } else {
        own.to_owned()
    };
    let mut m = base_message(line, &channel, &text);
    if own.trim().is_empty() {
        m.emotes.clear(); // indices refer to the user's text, not the system sentence
    }
    let mut msg_id = line.tag("msg-id").unwrap_or("");
    if msg_id == "sharedchatnotice" {
        msg_id = line.tag("source-msg-id").unwrap_or(msg_id);
    }
    m.kind = if MEMBERSHIP.contains(&msg_id) {
        Kind::Membership
    } else {
        Kind::System
    };
    m.system_text = system.filter(|s| !s.is_empty());
    Ok(Mapped::Event {
        channel,
        event: SlotEvent::Message(m),
    })
}

fn clearmsg(line: &Line<'_>) -> Result<Mapped, MapError> {
    let channel = line.channel().ok_or(MapError::NoChannel)?;
    let target = line
        .tag("target-msg-id")
        .filter(|t| !t.is_empty())
        .ok_or(MapError::NoTarget)?;
    let target = unescape(target);
    let d = Delete::new(
        Uuid::nil(),
        Platform::Twitch,
        &channel,
        &target,
        timestamp(line),
    );
    Ok(Mapped::Event {
        channel,
        event: SlotEvent::Delete(d),
    })
}

fn clearchat(line: &Line<'_>) -> Result<Mapped, MapError> {
    let channel = line.channel().ok_or(MapError::NoChannel)?;
    let ts = timestamp(line);
    let user = line.param(1).map(str::trim).filter(|u| !u.is_empty());
    let event = match user {
        Some(user) => {
            let user_id = line
                .tag_text("target-user-id")
                .map(|s| s.into_owned())
                .unwrap_or_else(|| user.to_ascii_lowercase());
            let until = line
                .tag("ban-duration")
                .and_then(|d| d.parse::<u64>().ok())
                .map(|secs| ts.saturating_add(secs.saturating_mul(1000)));
            SlotEvent::ClearUser(ClearUser {
                id: moderation_uuid(
                    Platform::Twitch,
                    &channel,
                    &format!("clear_user:{user_id}"),
                    ts,
                ),
                streamer_id: Uuid::nil(),
                platform: Platform::Twitch,
                channel: channel.clone(),
                user_id,
                user: user.to_owned(),
                until,
                timestamp: ts,
            })
        }
        None => SlotEvent::Clear(ClearChat {
            id: moderation_uuid(Platform::Twitch, &channel, "clear", ts),
            streamer_id: Uuid::nil(),
            platform: Platform::Twitch,
            channel: channel.clone(),
            timestamp: ts,
        }),
    };
    Ok(Mapped::Event { channel, event })
}

/// `\x01ACTION text\x01` → (`text`, true); anything else unchanged. A missing closing `\x01`
/// (some clients) is tolerated.
pub fn strip_action(raw: &str) -> (&str, bool) {
    match raw.strip_prefix("\u{1}ACTION ") {
        Some(rest) => (rest.strip_suffix('\u{1}').unwrap_or(rest), true),
        None => (raw, false),
    }
}

/// The fields PRIVMSG and USERNOTICE share: ids, author, badges, colour, emotes.
fn base_message(line: &Line<'_>, channel: &str, text: &str) -> ChatMessage {
    // Shared Chat delivers one message in every participating channel, each with its own `id`;
    // `source-id` is the message's own id and `source-room-id` the channel it was written in, so
    // the copies read from two linked channels get one id (and one log line per streamer).
    let source = line
        .tag("source-id")
        .filter(|v| !v.is_empty())
        .map(|sid| (sid, line.tag("source-room-id").filter(|r| !r.is_empty())));
    let pmid = source
        .map(|(sid, _)| sid)
        .or_else(|| line.tag("id").filter(|v| !v.is_empty()))
        .map(unescape);
    let id = match (&pmid, source) {
        (Some(p), Some((_, Some(room)))) => {
            platform_message_uuid(Platform::Twitch, &format!("room-{}", unescape(room)), p)
        }
        (Some(p), _) => platform_message_uuid(Platform::Twitch, channel, p),
        (None, _) => Uuid::new_v4(),
    };
    let login = line
        .tag("login")
        .filter(|l| !l.is_empty())
        .or_else(|| line.nick().filter(|n| !n.contains('.')))
        .unwrap_or("");
    let user = match line.tag_text("display-name") {
        Some(d) if !d.trim().is_empty() => d.into_owned(),
        _ => login.to_owned(),
    };
    let mut m = ChatMessage::simple(
        id,
        Uuid::nil(),
        Platform::Twitch,
        user,
        text,
        timestamp(line),
    );
    m.channel = Some(channel.to_owned());
    m.platform_message_id = pmid.map(|p| p.into_owned());
    m.user_id = line.tag_text("user-id").map(|s| s.into_owned());
    m.color = line
        .tag("color")
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let mut broadcaster = false;
    let (mut moderator, mut sub, mut vip) = (false, false, false);
    if let Some(badges) = line.tag("badges").filter(|b| !b.is_empty()) {
        for b in badges.split(',') {
            let name = b.split('/').next().unwrap_or(b);
            if name.is_empty() {
                continue;
            }
            match name {
                "broadcaster" => broadcaster = true,
                "moderator" => moderator = true,
                "subscriber" | "founder" => sub = true,
                "vip" => vip = true,
                _ => {}
            }
            m.badges.push(name.to_owned());
        }
    }
    let room = line.tag("room-id").filter(|r| !r.is_empty());
    m.is_owner = broadcaster || (room.is_some() && room == line.tag("user-id"));
    m.is_mod = moderator || line.tag("mod") == Some("1");
    m.is_sub = sub || line.tag("subscriber") == Some("1");
    m.is_vip = vip || line.tag("vip").is_some_and(|v| v != "0");
    if let Some(e) = line.tag("emotes").filter(|e| !e.is_empty()) {
        m.emotes = emotes(e, text);
    }
    m
}

/// Parses an `emotes` tag (`id:s-e,s-e/id2:s-e`, inclusive code-point indices into `text`) into
/// half-open ranges named by the text they cover. Ranges outside the text, overlapping an earlier
/// one, or covering whitespace (Twitch's known off-by-n bugs) are dropped; nothing panics.
pub fn emotes(tag: &str, text: &str) -> Vec<Emote> {
    // Byte offset of every code point (plus the end), unless the text is ASCII.
    let ascii = text.is_ascii();
    let offsets: Vec<usize> = if ascii {
        Vec::new()
    } else {
        text.char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(text.len()))
            .collect()
    };
    let chars = if ascii { text.len() } else { offsets.len() - 1 };
    let byte = |cp: usize| if ascii { cp } else { offsets[cp] };
    let mut out: Vec<Emote> = Vec::new();
    let mut seen = 0;
    for group in tag.split('/') {
        let Some(colon) = group.bytes().position(|b| b == b':') else {
            continue;
        };
        let (id, ranges) = (&group[..colon], &group[colon + 1..]);
        if id.is_empty() {
            continue;
        }
        for r in ranges.split(',') {
            seen += 1;
            if seen > MAX_EMOTE_RANGES {
                break;
            }
            let Some((s, e)) = range(r) else { continue };
            let Some(end) = e.checked_add(1) else {
                continue;
            };
            if s >= end || end as usize > chars {
                continue;
            }
            let name = &text[byte(s as usize)..byte(end as usize)];
            if name.chars().any(char::is_whitespace) {
                continue;
            }
            out.push(Emote {
                id: id.to_owned(),
                name: name.to_owned(),
                start: s,
                end,
            });
        }
    }
    shm_layout::retain_valid_emotes(text, &mut out);
    out
}

/// `12-34` → (12, 34); anything else (signs, spaces, overflow) → None.
fn range(r: &str) -> Option<(u32, u32)> {
    let mut nums = [0u32; 2];
    let mut which = 0;
    let mut digits = 0;
    for b in r.bytes() {
        match b {
            b'0'..=b'9' => {
                nums[which] = nums[which]
                    .checked_mul(10)?
                    .checked_add(u32::from(b - b'0'))?;
                digits += 1;
            }
            b'-' if which == 0 && digits > 0 => {
                which = 1;
                digits = 0;
            }
            _ => return None,
        }
    }
    (which == 1 && digits > 0).then_some((nums[0], nums[1]))
}

#[cfg(test)]
mod tests;
