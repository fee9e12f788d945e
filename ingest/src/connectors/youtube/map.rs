//! `liveChatMessages.list` pages → normalised events. Pure functions over the response bytes, so
//! the fixtures test them directly and the benchmark measures them alone.
//!
//! - `textMessageEvent` → chat (`displayMessage`);
//! - `superChatEvent` / `superStickerEvent` → paid, with the amount from `amountMicros` (a string);
//! - `newSponsorEvent`, `memberMilestoneChatEvent`, `membershipGiftingEvent`,
//!   `giftMembershipReceivedEvent` → membership, YouTube's sentence as `systemText`;
//! - `messageDeletedEvent` (and a user's own `messageRetractedEvent`) → delete;
//! - `userBannedEvent` → clear user (`until` for a temporary ban);
//! - `chatEndedEvent` → the stream ended; anything else is skipped and counted.

use serde::Deserialize;

use crate::connectors::civil_time::parse_rfc3339_ms;
use shm_layout::{
    platform_message_uuid, Amount, ChatMessage, ClearUser, Delete, Kind, Platform, SlotEvent,
};
use uuid::Uuid;

/// The parts of a `youtube#liveChatMessageListResponse` the connector reads.
#[derive(Debug, Default)]
pub struct Page {
    /// Where the next request continues.
    pub next_page_token: Option<String>,
    /// How long YouTube asks clients to wait before the next request.
    pub polling_interval_millis: Option<u64>,
    /// Set when the stream is already offline.
    pub offline_at: Option<String>,
    /// The well-formed items, in order.
    pub items: Vec<Item>,
    /// Items that could not be read (counted as parse errors).
    pub bad_items: usize,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPage<T> {
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default)]
    polling_interval_millis: Option<u64>,
    #[serde(default)]
    offline_at: Option<String>,
    #[serde(default = "Vec::new")]
    items: Vec<T>,
}

/// One `youtube#liveChatMessage`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// The message id (`LCC.…`).
    pub id: String,
    /// What happened.
    pub snippet: Snippet,
    /// Who wrote it (for deletes and bans: the moderator who acted).
    #[serde(default)]
    pub author_details: Option<Author>,
}

/// `snippet` of a chat item.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Snippet {
    /// `textMessageEvent`, `superChatEvent`, …
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub published_at: Option<String>,
    #[serde(default)]
    pub display_message: Option<String>,
    #[serde(default)]
    pub text_message_details: Option<TextDetails>,
    #[serde(default)]
    pub super_chat_details: Option<PaidDetails>,
    #[serde(default)]
    pub super_sticker_details: Option<PaidDetails>,
    #[serde(default)]
    pub member_milestone_chat_details: Option<Comment>,
    #[serde(default)]
    pub message_deleted_details: Option<DeletedDetails>,
    #[serde(default)]
    pub message_retracted_details: Option<RetractedDetails>,
    #[serde(default)]
    pub user_banned_details: Option<BannedDetails>,
}

/// `textMessageDetails`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextDetails {
    /// The text as typed.
    #[serde(default)]
    pub message_text: Option<String>,
}

/// `superChatDetails` / `superStickerDetails`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct PaidDetails {
    /// Micros of the currency, as a string (`"2000000"`).
    #[serde(default)]
    pub amount_micros: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub amount_display_string: Option<String>,
    #[serde(default)]
    pub user_comment: Option<String>,
    #[serde(default)]
    pub super_sticker_metadata: Option<StickerMeta>,
}

/// `superStickerMetadata`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StickerMeta {
    /// The sticker's description.
    #[serde(default)]
    pub alt_text: Option<String>,
}

/// `memberMilestoneChatDetails`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    /// What the member wrote.
    #[serde(default)]
    pub user_comment: Option<String>,
}

/// `messageDeletedDetails`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedDetails {
    /// The deleted message's id.
    pub deleted_message_id: String,
}

/// `messageRetractedDetails`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetractedDetails {
    /// The retracted message's id.
    pub retracted_message_id: String,
}

/// `userBannedDetails`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct BannedDetails {
    pub banned_user_details: BannedUser,
    /// `permanent` or `temporary`.
    #[serde(default)]
    pub ban_type: Option<String>,
    /// Google int64 as a string (`"300"`), or a number.
    #[serde(default)]
    pub ban_duration_seconds: Option<serde_json::Value>,
}

/// `bannedUserDetails`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct BannedUser {
    pub channel_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// `authorDetails`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Author {
    #[serde(default)]
    pub channel_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub is_verified: bool,
    #[serde(default)]
    pub is_chat_owner: bool,
    #[serde(default)]
    pub is_chat_sponsor: bool,
    #[serde(default)]
    pub is_chat_moderator: bool,
}

/// Reads a response page. Fast path: every item typed at once; if one item is malformed the page
/// is read again item by item, so one bad item costs only itself.
pub fn parse_page(bytes: &[u8]) -> Result<Page, serde_json::Error> {
    if let Ok(p) = serde_json::from_slice::<RawPage<Item>>(bytes) {
        return Ok(Page {
            next_page_token: p.next_page_token,
            polling_interval_millis: p.polling_interval_millis,
            offline_at: p.offline_at,
            items: p.items,
            bad_items: 0,
        });
    }
    let p = serde_json::from_slice::<RawPage<serde_json::Value>>(bytes)?;
    let mut page = Page {
        next_page_token: p.next_page_token,
        polling_interval_millis: p.polling_interval_millis,
        offline_at: p.offline_at,
        ..Page::default()
    };
    for v in p.items {
        match serde_json::from_value::<Item>(v) {
            Ok(i) => page.items.push(i),
            Err(_) => page.bad_items += 1,
        }
    }
    Ok(page)
}

/// What one item becomes.
// Moved straight into the sink; boxing the event would allocate once more per item.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    /// An event for the ring.
    Event(SlotEvent),
    /// `chatEndedEvent`: the stream's chat is over.
    ChatEnded,
    /// A kind the connector does not map (counted as skipped).
    Skipped,
}

/// Maps one item of `channel` (the linked channel string). `now` stands in for a missing or
/// unreadable `publishedAt`.
pub fn map_item(channel: &str, item: &Item, now: u64) -> Mapped {
    let s = &item.snippet;
    let ts = s
        .published_at
        .as_deref()
        .and_then(parse_rfc3339_ms)
        .unwrap_or(now);
    let display = s.display_message.as_deref().unwrap_or("");
    let kind = s.kind.as_str();
    match kind {
        "textMessageEvent" => {
            let text = if display.is_empty() {
                s.text_message_details
                    .as_ref()
                    .and_then(|t| t.message_text.as_deref())
                    .unwrap_or("")
            } else {
                display
            };
            Mapped::Event(SlotEvent::Message(message(
                channel,
                item,
                Kind::Chat,
                text,
                ts,
            )))
        }
        "superChatEvent" | "superStickerEvent" => {
            let d = s
                .super_chat_details
                .as_ref()
                .or(s.super_sticker_details.as_ref());
            let comment = d
                .and_then(|d| d.user_comment.as_deref())
                .filter(|c| !c.is_empty());
            let alt = d
                .and_then(|d| d.super_sticker_metadata.as_ref())
                .and_then(|m| m.alt_text.as_deref())
                .filter(|c| !c.is_empty());
            let text = comment.or(alt).unwrap_or(display);
            let mut m = message(channel, item, Kind::Paid, text, ts);
            m.amount = d.and_then(amount);
            if m.text.is_empty() || comment.is_none() {
                m.system_text = Some(display.to_owned()).filter(|t| !t.is_empty());
            }
            Mapped::Event(SlotEvent::Message(m))
        }
        "newSponsorEvent"
        | "memberMilestoneChatEvent"
        | "membershipGiftingEvent"
        | "giftMembershipReceivedEvent" => {
            let comment = s
                .member_milestone_chat_details
                .as_ref()
                .and_then(|c| c.user_comment.as_deref())
                .unwrap_or("");
            let mut m = message(channel, item, Kind::Membership, comment, ts);
            let fallback = || format!("{} became a member", m.user);
            m.system_text = Some(if display.is_empty() {
                fallback()
            } else {
                display.to_owned()
            });
            Mapped::Event(SlotEvent::Message(m))
        }
        "messageDeletedEvent" | "messageRetractedEvent" => {
            let target = s
                .message_deleted_details
                .as_ref()
                .map(|d| d.deleted_message_id.as_str())
                .or(s
                    .message_retracted_details
                    .as_ref()
                    .map(|d| d.retracted_message_id.as_str()));
            match target {
                Some(t) => Mapped::Event(SlotEvent::Delete(Delete::new(
                    Uuid::nil(),
                    Platform::YouTube,
                    channel,
                    t,
                    ts,
                ))),
                None => Mapped::Skipped,
            }
        }
        "userBannedEvent" => match &s.user_banned_details {
            Some(b) => {
                let secs = match &b.ban_duration_seconds {
                    Some(serde_json::Value::String(v)) => v.parse::<u64>().ok(),
                    Some(serde_json::Value::Number(n)) => n.as_u64(),
                    _ => None,
                };
                let until = match (b.ban_type.as_deref(), secs) {
                    (Some("permanent"), _) | (_, None) => None,
                    (_, Some(secs)) => Some(ts.saturating_add(secs.saturating_mul(1000))),
                };
                let u = &b.banned_user_details;
                Mapped::Event(SlotEvent::ClearUser(ClearUser {
                    id: platform_message_uuid(Platform::YouTube, channel, &item.id),
                    streamer_id: Uuid::nil(),
                    platform: Platform::YouTube,
                    channel: channel.to_owned(),
                    user_id: u.channel_id.clone(),
                    user: u
                        .display_name
                        .clone()
                        .unwrap_or_else(|| u.channel_id.clone()),
                    until,
                    timestamp: ts,
                }))
            }
            None => Mapped::Skipped,
        },
        "chatEndedEvent" => Mapped::ChatEnded,
        _ => Mapped::Skipped,
    }
}

fn message(channel: &str, item: &Item, kind: Kind, text: &str, ts: u64) -> ChatMessage {
    let a = item.author_details.clone().unwrap_or_default();
    let mut m = ChatMessage::simple(
        platform_message_uuid(Platform::YouTube, channel, &item.id),
        Uuid::nil(),
        Platform::YouTube,
        a.display_name.unwrap_or_default(),
        text,
        ts,
    );
    m.kind = kind;
    m.channel = Some(channel.to_owned());
    m.platform_message_id = Some(item.id.clone());
    m.user_id = a.channel_id;
    m.is_owner = a.is_chat_owner;
    m.is_mod = a.is_chat_moderator;
    m.is_sub = a.is_chat_sponsor;
    for (on, badge) in [
        (a.is_chat_owner, "broadcaster"),
        (a.is_chat_moderator, "moderator"),
        (a.is_chat_sponsor, "member"),
        (a.is_verified, "verified"),
    ] {
        if on {
            m.badges.push(badge.to_owned());
        }
    }
    m
}

fn amount(d: &PaidDetails) -> Option<Amount> {
    let value = micros_to_decimal(d.amount_micros.as_deref()?)?;
    Some(Amount {
        value,
        currency: d.currency.clone().unwrap_or_default(),
        display: d.amount_display_string.clone().unwrap_or_default(),
    })
}

/// `"2000000"` → `"2.00"`, `"1234567"` → `"1.234567"`: at least two decimals, no float.
pub fn micros_to_decimal(micros: &str) -> Option<String> {
    let m: u64 = micros.trim().parse().ok()?;
    let (int, frac) = (m / 1_000_000, m % 1_000_000);
    let mut f = format!("{frac:06}");
    while f.len() > 2 && f.ends_with('0') {
        f.pop();
    }
    Some(format!("{int}.{f}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros() {
        assert_eq!(micros_to_decimal("2000000").as_deref(), Some("2.00"));
        assert_eq!(micros_to_decimal("1990000").as_deref(), Some("1.99"));
        assert_eq!(micros_to_decimal("1234567").as_deref(), Some("1.234567"));
        assert_eq!(micros_to_decimal("500000000").as_deref(), Some("500.00"));
        assert_eq!(micros_to_decimal("x"), None);
        assert_eq!(micros_to_decimal("-1"), None);
    }
}
