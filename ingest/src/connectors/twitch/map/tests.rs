//! Every mapping rule on real-format lines (`ingest/tests/fixtures/twitch/`).

use super::*;
use crate::connectors::sink::sanitise;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../../tests/fixtures/twitch/", $name))
    };
}

fn lines(text: &str) -> Vec<&str> {
    text.split("\r\n").filter(|l| !l.is_empty()).collect()
}

fn mapped(line: &str) -> (String, SlotEvent) {
    match map(&Line::parse(line).expect("parses")).expect("maps") {
        Mapped::Event { channel, event } => (channel, event),
        Mapped::Skipped => panic!("skipped: {line}"),
    }
}

fn message(line: &str) -> ChatMessage {
    match mapped(line).1 {
        SlotEvent::Message(m) => m,
        other => panic!("not a message: {other:?}"),
    }
}

fn names(m: &ChatMessage) -> Vec<(&str, &str, u32, u32)> {
    m.emotes
        .iter()
        .map(|e| (e.id.as_str(), e.name.as_str(), e.start, e.end))
        .collect()
}

#[test]
fn privmsg_basic_fields() {
    let (channel, ev) = mapped(lines(fixture!("privmsg_basic.irc"))[0]);
    assert_eq!(channel, "pajlada");
    let SlotEvent::Message(m) = ev else { panic!() };
    assert_eq!(m.kind, Kind::Chat);
    assert_eq!(m.user, "JuN1oRRRR");
    assert_eq!(m.text, "dank cam");
    assert_eq!(m.user_id.as_deref(), Some("29803735"));
    assert_eq!(m.timestamp, 1594545155039);
    assert_eq!(m.color.as_deref(), Some("#0000FF"));
    assert_eq!(
        m.platform_message_id.as_deref(),
        Some("e9d998c3-36f1-430f-89ec-6b887c28af36")
    );
    assert_eq!(
        m.id,
        platform_message_uuid(
            Platform::Twitch,
            "pajlada",
            "e9d998c3-36f1-430f-89ec-6b887c28af36"
        )
    );
    assert_eq!(m.channel.as_deref(), Some("pajlada"));
    assert!(m.badges.is_empty() && m.emotes.is_empty());
    assert!(!m.is_mod && !m.is_sub && !m.is_vip && !m.is_owner);
}

#[test]
fn action_markers_are_stripped() {
    let m = message(lines(fixture!("privmsg_action.irc"))[0]);
    assert_eq!(m.kind, Kind::Action);
    assert_eq!(m.text, "-tags");
    assert_eq!(m.badges, vec!["moderator", "subscriber"]);
    assert!(m.is_mod && m.is_sub);
}

#[test]
fn emote_ranges_become_half_open_and_named() {
    let m = message(lines(fixture!("privmsg_emotes.irc"))[0]);
    assert_eq!(
        names(&m),
        vec![
            ("25", "Kappa", 0, 5),
            ("1902", "Keepo", 6, 11),
            ("25", "Kappa", 12, 17),
            ("25", "Kappa", 18, 23),
            ("1902", "Keepo", 29, 34),
            ("1902", "Keepo", 35, 40),
            ("499", ":)", 45, 47),
            ("499", ":)", 48, 50),
            ("490", ":P", 51, 53),
        ]
    );
}

#[test]
fn emote_after_emoji_counts_code_points() {
    let m = message(lines(fixture!("privmsg_emote_after_emoji.irc"))[0]);
    assert_eq!(m.text, "👉 <3 👉 <3 👉 <3");
    assert_eq!(
        names(&m),
        vec![
            ("483", "<3", 2, 4),
            ("483", "<3", 7, 9),
            ("483", "<3", 12, 14)
        ]
    );
}

#[test]
fn bad_emote_indices_are_dropped_never_a_panic() {
    for l in lines(fixture!("privmsg_bad_emote_index.irc")) {
        let mut m = message(l);
        // 41-45 / 44-48 / 45-49 run past the 44-code-point text, 49-51 past the 51-code-point
        // one (real off-by-n lines): dropped, the text kept.
        assert!(m.emotes.is_empty(), "{:?}", m.emotes);
        assert!(sanitise(&mut m));
    }
    // Hand-made nastiness: overlaps, reversed, huge, non-numeric, missing parts.
    let e = emotes(
        "1:0-4,2-6/2:9-3/3:4294967295-4294967295/4:x-y/5/:0-1/6:7-8",
        "Kappa hi yo",
    );
    assert_eq!(
        e.iter()
            .map(|e| (e.id.as_str(), e.start, e.end))
            .collect::<Vec<_>>(),
        vec![("1", 0, 5)]
    );
}

#[test]
fn sneaky_action_in_usernotice_drops_emotes_over_whitespace() {
    let m = message(lines(fixture!("usernotice_sneaky_action.irc"))[0]);
    assert_eq!(m.kind, Kind::Membership);
    assert_eq!(m.text, "Kappa TEST TEST Kappa :)");
    assert!(
        m.emotes.iter().all(|e| !e.name.contains(' ')),
        "{:?}",
        m.emotes
    );
}

#[test]
fn bits_make_a_paid_message() {
    let m = message(lines(fixture!("privmsg_bits.irc"))[0]);
    assert_eq!(m.kind, Kind::Paid);
    assert_eq!(
        m.amount,
        Some(Amount {
            value: "1".into(),
            currency: "bits".into(),
            display: "1 bit".into()
        })
    );
    assert_eq!(m.badges, vec!["bits"]);
}

#[test]
fn replies_carry_their_parent() {
    let ls = lines(fixture!("privmsg_reply.irc"));
    let m = message(ls[0]);
    let r = m.reply_to.as_ref().expect("replyTo");
    assert_eq!(
        r.platform_message_id,
        "12197a59-20d2-4051-a78a-6c078f9fd5f9"
    );
    assert_eq!(r.user, "mynameistito_");
    assert_eq!(r.text, "🤔 🤔");
    assert!(m.is_owner, "broadcaster badge");
    assert_eq!(m.badges, vec!["broadcaster", "subscriber", "hornet"]);
    let m = message(ls[1]);
    let r = m.reply_to.as_ref().expect("replyTo");
    assert_eq!((r.user.as_str(), r.text.as_str()), ("Retoon", "hello"));
    assert!(!m.is_owner);
}

#[test]
fn vip_from_the_tag_or_the_badge() {
    let m = message(lines(fixture!("privmsg_vip.irc"))[0]);
    assert!(m.is_vip && m.is_sub && !m.is_mod);
    assert_eq!(m.badges, vec!["vip", "subscriber", "glitchcon2020"]);
    // The badge alone (no vip tag).
    let l = lines(fixture!("privmsg_vip.irc"))[0].replace(";vip=1 ", " ");
    assert!(message(&l).is_vip);
    // Neither.
    let l = l.replace("badges=vip/1,", "badges=");
    assert!(!message(&l).is_vip);
}

#[test]
fn shared_chat_dedupes_on_source_id() {
    let m = message(lines(fixture!("privmsg_shared_chat.irc"))[0]);
    assert_eq!(
        m.platform_message_id.as_deref(),
        Some("eefbae4a-d3a1-4307-8d15-fab0f03fd9b9")
    );
    // Keyed on the room it was written in (source-room-id), not the channel it was read from.
    assert_eq!(
        m.id,
        platform_message_uuid(
            Platform::Twitch,
            "room-1025594235",
            "eefbae4a-d3a1-4307-8d15-fab0f03fd9b9"
        )
    );
    assert_eq!(m.badges, vec!["staff"]);
    // The same message read in another channel of the shared session: same id.
    let other = lines(fixture!("privmsg_shared_chat.irc"))[0]
        .replace("PRIVMSG #pajlada", "PRIVMSG #forsen")
        .replace("room-id=11148817", "room-id=22484632")
        .replace(
            "id=886028cc-9985-47b9-a273-8164c6d59a76",
            "id=0a3c5d4e-0000-4000-8000-000000000001",
        );
    let o = message(&other);
    assert_eq!(o.channel.as_deref(), Some("forsen"));
    assert_eq!(o.id, m.id);
}

#[test]
fn display_names_are_unescaped_or_fall_back_to_the_login() {
    let ls = lines(fixture!("privmsg_display_names.irc"));
    assert_eq!(message(ls[0]).user, "Riot Games");
    let mut m = message(ls[1]);
    assert_eq!(m.user, "CarvedTaleare ");
    assert!(sanitise(&mut m));
    assert_eq!(m.user, "CarvedTaleare");
    assert_eq!(message(ls[2]).user, "테스트계정420");
    let grey = message(ls[3]);
    assert_eq!(grey.color, None, "empty color is none");
    let empty = ls[3].replace("display-name=CarvedTaleare;", "display-name=;");
    assert_eq!(message(&empty).user, "carvedtaleare");
}

#[test]
fn clearmsg_is_a_delete() {
    let (channel, ev) = mapped(lines(fixture!("clearmsg.irc"))[0]);
    assert_eq!(channel, "pajlada");
    let SlotEvent::Delete(d) = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(
        d.platform_message_id,
        "15e5164d-f8e6-4aec-baf4-2d6a330760c4"
    );
    assert_eq!(
        d.target_id,
        platform_message_uuid(
            Platform::Twitch,
            "pajlada",
            "15e5164d-f8e6-4aec-baf4-2d6a330760c4"
        )
    );
    assert_eq!(d.timestamp, 1594562632383);
}

#[test]
fn clearchat_timeout_ban_and_clear() {
    let (_, ev) = mapped(lines(fixture!("clearchat_timeout.irc"))[0]);
    let SlotEvent::ClearUser(c) = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(
        (c.user.as_str(), c.user_id.as_str()),
        ("fabzeef", "148973258")
    );
    assert_eq!(c.until, Some(1594553828245 + 1000));
    let (_, ev) = mapped(lines(fixture!("clearchat_ban.irc"))[0]);
    let SlotEvent::ClearUser(c) = ev else {
        panic!("{ev:?}")
    };
    assert_eq!((c.user.as_str(), c.until), ("weeb123", None));
    assert_eq!(
        c.id,
        moderation_uuid(
            Platform::Twitch,
            "pajlada",
            "clear_user:70948394",
            1594561360331
        )
    );
    let (channel, ev) = mapped(lines(fixture!("clearchat_clear.irc"))[0]);
    assert_eq!(channel, "randers");
    let SlotEvent::Clear(c) = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(c.timestamp, 1594561392337);
}

#[test]
fn usernotice_subs_are_memberships_with_system_text() {
    let m = message(lines(fixture!("usernotice_sub.irc"))[0]);
    assert_eq!(m.kind, Kind::Membership);
    assert_eq!(m.user, "fallenseraphhh");
    assert_eq!(
        m.system_text.as_deref(),
        Some("fallenseraphhh subscribed with Twitch Prime.")
    );
    assert_eq!(m.text, "fallenseraphhh subscribed with Twitch Prime.");
    let ls = lines(fixture!("usernotice_resub.irc"));
    let m = message(ls[0]);
    assert_eq!(m.kind, Kind::Membership);
    assert_eq!(m.text, "xqcL", "the user's own message");
    assert_eq!(names(&m), vec![("1035663", "xqcL", 0, 4)]);
    assert!(m
        .system_text
        .unwrap()
        .starts_with("Gutrin subscribed at Tier 1."));
    assert_eq!(message(ls[1]).kind, Kind::Membership);
    for f in [
        fixture!("usernotice_subgift.irc"),
        fixture!("usernotice_submysterygift.irc"),
        fixture!("usernotice_giftpaidupgrade.irc"),
    ] {
        for l in lines(f) {
            let m = message(l);
            assert_eq!(m.kind, Kind::Membership, "{l}");
            assert!(m.system_text.is_some() && m.emotes.is_empty());
        }
    }
    let anon = message(lines(fixture!("usernotice_subgift.irc"))[1]);
    assert_eq!(
        anon.system_text.as_deref(),
        Some("An anonymous gifter gifted a Tier 1 sub to qatarking24xd!")
    );
}

#[test]
fn raids_announcements_and_others_are_system() {
    let m = message(lines(fixture!("usernotice_raid.irc"))[0]);
    assert_eq!(m.kind, Kind::System);
    assert_eq!(m.text, "430 raiders from iamelisabete have joined!");
    assert_eq!(m.user, "iamelisabete");
    let m = message(lines(fixture!("usernotice_announcement.irc"))[0]);
    assert_eq!(m.kind, Kind::System);
    assert_eq!(m.text, "hello pajs pajaH Kappa Keepo");
    assert_eq!(m.system_text, None, "system-msg is empty");
    assert_eq!(
        names(&m),
        vec![
            ("185989", "pajaH", 11, 16),
            ("25", "Kappa", 17, 22),
            ("1902", "Keepo", 23, 28)
        ]
    );
    for l in lines(fixture!("usernotice_other.irc")) {
        assert_eq!(message(l).kind, Kind::System);
    }
}

#[test]
fn other_commands_are_skipped() {
    for l in lines(fixture!("skipped.irc")) {
        assert_eq!(map(&Line::parse(l).unwrap()), Ok(Mapped::Skipped), "{l}");
    }
}

#[test]
fn mapped_messages_survive_the_sink_rules_unchanged() {
    for f in [
        fixture!("privmsg_basic.irc"),
        fixture!("privmsg_emotes.irc"),
        fixture!("privmsg_emote_after_emoji.irc"),
        fixture!("privmsg_reply.irc"),
        fixture!("usernotice_announcement.irc"),
    ] {
        for l in lines(f) {
            let m = message(l);
            let mut s = m.clone();
            assert!(sanitise(&mut s));
            assert_eq!(s.emotes, m.emotes, "{l}");
            assert_eq!(s.text, m.text);
        }
    }
}

#[test]
fn broken_lines_are_errors() {
    assert_eq!(
        map(&Line::parse("PRIVMSG nochannel :x").unwrap()),
        Err(MapError::NoChannel)
    );
    assert_eq!(
        map(&Line::parse(":a!a@a PRIVMSG #c").unwrap()),
        Err(MapError::NoText)
    );
    assert_eq!(
        map(&Line::parse(":tmi.twitch.tv CLEARMSG #c :x").unwrap()),
        Err(MapError::NoTarget)
    );
    // No tags at all (no CAP): still a message with a fresh id and the prefix's login.
    let m = message(":ann!ann@ann.tmi.twitch.tv PRIVMSG #c :hi");
    assert_eq!(
        (m.user.as_str(), m.platform_message_id.as_deref()),
        ("ann", None)
    );
}
