//! The Twitch connector against the loopback TMI peer (`crosschat_tests::peers::twitch`), over
//! real sockets (plain TCP and WebSocket) into a real segment, with short timings. The last test
//! runs the built `ingest` binary and links a channel through the producer socket.

mod common;

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Client, Ingest, SegGuard, SID};
use crosschat_tests::peers::twitch::{fixture_lines, Confirm, Script, TwitchPeer};
use ingest::connectors::link::links_from;
use ingest::connectors::twitch::{run_with, Timing};
use ingest::connectors::{
    ChannelState, ConnectorCtx, ConnectorMetrics, Endpoints, Link, Links, StatusBoard,
};
use ingest::writer::{WritePolicy, WriterHandle};
use shm_layout::{Kind, Platform, Reader, SlotEvent};
use tokio::sync::watch;
use uuid::Uuid;

fn fast() -> Timing {
    Timing {
        silence: Duration::from_millis(400),
        pong_timeout: Duration::from_millis(300),
        join_timeout: Duration::from_millis(300),
        join_tries: 3,
        join_window: Duration::from_millis(200),
        joins_per_window: 20,
        channels_per_connection: 90,
        connect_timeout: Duration::from_secs(2),
        backoff_base: Duration::from_millis(300),
        backoff_max: Duration::from_millis(600),
    }
}

fn link(c: &str) -> Link {
    Link {
        channel: c.into(),
        streamers: vec![SID.parse().unwrap()],
        chatroom_id: None,
        channel_id: None,
    }
}

/// A connector running in-process against `url`, with a thread draining the ring.
struct Rig {
    _seg: SegGuard,
    links: watch::Sender<Links>,
    stop: watch::Sender<bool>,
    status: StatusBoard,
    metrics: Arc<ConnectorMetrics>,
    got: Arc<Mutex<Vec<SlotEvent>>>,
    drain_stop: Arc<std::sync::atomic::AtomicBool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Rig {
    fn start(url: String, channels: &[&str], timing: Timing) -> Rig {
        Rig::start_links(url, channels.iter().map(|c| link(c)).collect(), timing)
    }

    fn start_links(url: String, channels: Vec<Link>, timing: Timing) -> Rig {
        let seg = SegGuard::new("ingest");
        let segment = seg.open();
        let (writer, _thread) =
            WriterHandle::spawn(segment.clone(), WritePolicy::default()).unwrap();
        let (links, links_rx) = watch::channel(links_from(channels));
        let metrics = Arc::new(ConnectorMetrics::default());
        let status = StatusBoard::default();
        let (stop, stop_rx) = watch::channel(false);
        let ctx = ConnectorCtx::new(
            Platform::Twitch,
            writer,
            links_rx,
            status.clone(),
            metrics.clone(),
            Endpoints {
                twitch_irc_url: url,
                ..Endpoints::default()
            },
            stop_rx,
        );
        let got = Arc::new(Mutex::new(Vec::new()));
        let drain_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut reader = Reader::claim(segment).expect("claim the reader");
        std::thread::spawn({
            let got = got.clone();
            let stop = drain_stop.clone();
            move || {
                while !stop.load(Relaxed) {
                    reader.wait_for_data(Duration::from_millis(20));
                    let mut batch = Vec::new();
                    let end = reader.peek(256, |_, r| {
                        batch.push(SlotEvent::from_json(r.expect("a sane slot")).expect("JSON"))
                    });
                    reader.commit(end);
                    got.lock().unwrap().extend(batch);
                }
            }
        });
        let task = tokio::spawn(run_with(ctx, timing));
        Rig {
            _seg: seg,
            links,
            stop,
            status,
            metrics,
            got,
            drain_stop,
            task: Some(task),
        }
    }

    fn events(&self) -> Vec<SlotEvent> {
        self.got.lock().unwrap().clone()
    }

    fn messages(&self) -> Vec<shm_layout::ChatMessage> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                SlotEvent::Message(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    fn state(&self, c: &str) -> Option<(ChannelState, String)> {
        self.status.get(c).map(|s| (s.state, s.detail))
    }

    async fn wait(&self, what: &str, f: impl Fn(&Rig) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(8);
        while !f(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for: {what}; states {:?}",
                self.status.snapshot()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn wait_live(&self, c: &str) {
        self.wait(&format!("#{c} live"), |r| {
            r.state(c).is_some_and(|s| s.0 == ChannelState::Live)
        })
        .await;
    }

    async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(5), t)
                .await
                .expect("the connector stops on shutdown")
                .unwrap();
        }
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.drain_stop.store(true, Relaxed);
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

fn urls(peer: &TwitchPeer) -> [String; 2] {
    [peer.irc_url(), peer.ws_url()]
}

fn pmids(rig: &Rig) -> Vec<String> {
    rig.messages()
        .into_iter()
        .filter_map(|m| m.platform_message_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_reach_the_ring_once_with_moderation_events() {
    for transport in 0..2 {
        // A fresh peer per transport, so connection numbers start at 0.
        let peer = TwitchPeer::start(Script::default()).await;
        let url = urls(&peer)[transport].clone();
        let rig = Rig::start(url.clone(), &["pajlada", "xqcow", "randers"], fast());
        for c in ["pajlada", "xqcow", "randers"] {
            rig.wait_live(c).await;
        }
        let basic = fixture_lines("privmsg_basic.irc").remove(0);
        let emotes = fixture_lines("privmsg_emotes.irc").remove(0);
        let emoji = fixture_lines("privmsg_emote_after_emoji.irc").remove(0);
        // Several lines in one write, the same id twice (a duplicate).
        peer.send_lines(0, &[&basic, &emotes, &basic]);
        if transport == 0 {
            // TCP: one line split across two writes.
            let (a, b) = emoji.split_at(emoji.len() / 2);
            peer.send_raw(0, a);
            tokio::time::sleep(Duration::from_millis(20)).await;
            peer.send_raw(0, &format!("{b}\r\n"));
        } else {
            // WebSocket: a frame is whole; a lone line without its \r\n.
            peer.send_raw(0, &emoji);
        }
        for f in [
            "privmsg_action.irc",
            "privmsg_bits.irc",
            "privmsg_shared_chat.irc",
            "usernotice_sub.irc",
            "usernotice_raid.irc",
            "skipped.irc",
            "clearmsg.irc",
            "clearchat_timeout.irc",
            "clearchat_ban.irc",
            "clearchat_clear.irc",
        ] {
            let lines = fixture_lines(f);
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            peer.send_lines(0, &refs);
        }
        rig.wait("every event", |r| r.events().len() >= 11).await;
        // Give a stray duplicate the time to show up (there must be none).
        tokio::time::sleep(Duration::from_millis(100)).await;
        let events = rig.events();
        let kinds: Vec<String> = events
            .iter()
            .map(|e| match e {
                SlotEvent::Message(m) => m.kind.as_str().to_owned(),
                SlotEvent::Delete(_) => "delete".into(),
                SlotEvent::ClearUser(c) => format!("clear_user:{}:{:?}", c.user, c.until),
                SlotEvent::Clear(c) => format!("clear:{}", c.channel),
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                "chat",
                "chat",
                "chat",
                "action",
                "paid",
                "chat",
                "membership",
                "system",
                "delete",
                "clear_user:fabzeef:Some(1594553829245)",
                "clear_user:weeb123:None",
                "clear:randers",
            ],
            "{url}"
        );
        let ms = rig.messages();
        assert_eq!(ms[0].user, "JuN1oRRRR");
        assert_eq!(ms[0].streamer_id.to_string(), SID);
        assert_eq!(ms[1].emotes.len(), 9);
        assert_eq!(ms[2].emotes[0].name, "<3");
        assert_eq!(rig.metrics.duplicates.load(Relaxed), 1, "{url}");
        assert!(
            rig.metrics.skipped.load(Relaxed) >= 5,
            "USERSTATE & co counted"
        );
        if let SlotEvent::Delete(d) = &events[8] {
            assert_eq!(
                d.platform_message_id,
                "15e5164d-f8e6-4aec-baf4-2d6a330760c4"
            );
        }
        rig.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_chat_message_reaches_each_streamer_once_whatever_channel_it_is_read_in() {
    let peer = TwitchPeer::start(Script::default()).await;
    let (a, b, c): (Uuid, Uuid, Uuid) = (SID.parse().unwrap(), Uuid::new_v4(), Uuid::new_v4());
    let linked = |c: &str, streamers: Vec<Uuid>| Link {
        streamers,
        ..link(c)
    };
    // Streamer A links two channels of one Shared Chat session; streamers B and C both link a
    // third (read once, one copy per streamer).
    let rig = Rig::start_links(
        peer.irc_url(),
        vec![
            linked("pajlada", vec![a]),
            linked("xqcow", vec![a]),
            linked("forsen", vec![b, c]),
        ],
        fast(),
    );
    for c in ["pajlada", "xqcow", "forsen"] {
        rig.wait_live(c).await;
    }
    let line = fixture_lines("privmsg_shared_chat.irc").remove(0);
    let copies: Vec<String> = ["pajlada", "xqcow", "forsen"]
        .iter()
        .enumerate()
        .map(|(i, c)| {
            // Each channel's copy has its own `id` and `room-id`; `source-id` is the same.
            line.replace("PRIVMSG #pajlada", &format!("PRIVMSG #{c}"))
                .replace(
                    "id=886028cc-9985-47b9-a273-8164c6d59a76",
                    &format!("id=886028cc-9985-47b9-a273-8164c6d59a7{i}"),
                )
                .replace("room-id=11148817", &format!("room-id=1114881{i}"))
        })
        .collect();
    let refs: Vec<&str> = copies.iter().map(String::as_str).collect();
    peer.send_lines(0, &refs);
    rig.wait("three copies", |r| r.messages().len() >= 3).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ms = rig.messages();
    let mut got: Vec<(Uuid, Option<String>)> = ms
        .iter()
        .map(|m| (m.streamer_id, m.channel.clone()))
        .collect();
    got.sort();
    let mut want = vec![
        (a, Some("pajlada".to_owned())),
        (b, Some("forsen".to_owned())),
        (c, Some("forsen".to_owned())),
    ];
    want.sort();
    assert_eq!(
        got, want,
        "one copy per streamer, from the first channel read"
    );
    assert!(
        ms.iter().all(|m| m.id == ms[0].id),
        "one id for the message"
    );
    assert_eq!(
        rig.metrics.duplicates.load(Relaxed),
        1,
        "xqcow's copy for A"
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_is_anonymous_and_pings_are_answered() {
    let peer = TwitchPeer::start(Script::default()).await;
    for (n, url) in urls(&peer).into_iter().enumerate() {
        let rig = Rig::start(url, &["pajlada"], fast());
        rig.wait_live("pajlada").await;
        let mine: Vec<String> = peer
            .received()
            .into_iter()
            .filter(|r| r.conn == n)
            .map(|r| r.line)
            .collect();
        assert_eq!(mine[0], "CAP REQ :twitch.tv/tags twitch.tv/commands");
        let nick = mine[1]
            .strip_prefix("NICK justinfan")
            .expect("anonymous nick");
        assert!(!nick.is_empty() && nick.bytes().all(|b| b.is_ascii_digit()));
        assert!(!mine.iter().any(|l| l.starts_with("PASS")));
        peer.send_lines(
            n,
            &fixture_lines("ping.irc")
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        peer.wait(Duration::from_secs(5), "two PONGs", |p| {
            p.received()
                .iter()
                .filter(|r| r.conn == n && r.line == "PONG :tmi.twitch.tv")
                .count()
                == 2
        })
        .await;
        rig.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_is_detected_and_reconnected() {
    let peer = TwitchPeer::start(Script {
        answer_pings: false,
        ..Script::default()
    })
    .await;
    let rig = Rig::start(peer.ws_url(), &["pajlada"], fast());
    rig.wait_live("pajlada").await;
    // Nothing more from the server: the client PINGs after 400 ms, waits 300 ms, reconnects.
    peer.wait(Duration::from_secs(8), "a second connection joining", |p| {
        p.connections() >= 2 && p.joined(1).contains(&"pajlada".to_string())
    })
    .await;
    assert!(peer
        .received()
        .iter()
        .any(|r| r.conn == 0 && r.line == "PING :tmi.twitch.tv"));
    assert!(!peer.is_open(0) || peer.connections() >= 2);
    assert!(rig.metrics.reconnects.load(Relaxed) >= 1);
    rig.wait_live("pajlada").await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_switches_connections_without_losing_a_message() {
    for transport in 0..2 {
        let peer = TwitchPeer::start(Script::default()).await;
        let url = urls(&peer)[transport].clone();
        let rig = Rig::start(url.clone(), &["pajlada"], fast());
        rig.wait_live("pajlada").await;
        // The new connection's JOIN stays unconfirmed for now: the old one must stay open.
        peer.script(|s| {
            s.ghost.insert("pajlada".into());
        });
        peer.send_lines(0, &[":tmi.twitch.tv RECONNECT"]);
        peer.wait(Duration::from_secs(5), "the new connection's JOIN", |p| {
            p.joined(1).contains(&"pajlada".to_string())
        })
        .await;
        assert!(
            peer.is_open(0),
            "the old connection is kept during the switch"
        );
        let m1 = "@id=11111111-0000-4000-8000-000000000001;tmi-sent-ts=1700000000000;display-name=Ann :ann!ann@ann.tmi.twitch.tv PRIVMSG #pajlada :during the switch";
        let m2 = "@id=11111111-0000-4000-8000-000000000002;tmi-sent-ts=1700000000001;display-name=Ann :ann!ann@ann.tmi.twitch.tv PRIVMSG #pajlada :after the switch";
        peer.send_lines(0, &[m1]);
        peer.send_lines(1, &[m1, m2]);
        // Now Twitch confirms the new JOIN; the client switches and closes the old connection.
        peer.send_lines(
            1,
            &["@emote-only=0;followers-only=-1;r9k=0;rituals=0;room-id=1;slow=0;subs-only=0 :tmi.twitch.tv ROOMSTATE #pajlada"],
        );
        peer.wait(Duration::from_secs(5), "the old connection closed", |p| {
            !p.is_open(0)
        })
        .await;
        rig.wait("both messages", |r| r.messages().len() >= 2).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let ids = pmids(&rig);
        assert_eq!(
            ids,
            vec![
                "11111111-0000-4000-8000-000000000001",
                "11111111-0000-4000-8000-000000000002"
            ],
            "{url}"
        );
        assert!(rig.metrics.duplicates.load(Relaxed) >= 1);
        assert_eq!(rig.state("pajlada").unwrap().0, ChannelState::Live);
        // The new connection serves.
        peer.send_lines(1, &[&m2.replace("0002;", "0003;")]);
        rig.wait("a message on the new connection", |r| {
            r.messages().len() == 3
        })
        .await;
        rig.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_mid_line_is_reconnected_and_rejoined() {
    let peer = TwitchPeer::start(Script::default()).await;
    let rig = Rig::start(peer.irc_url(), &["pajlada"], fast());
    rig.wait_live("pajlada").await;
    let whole = fixture_lines("privmsg_basic.irc").remove(0);
    let cut = fixture_lines("privmsg_emotes.irc").remove(0);
    peer.send_raw(0, &format!("{whole}\r\n{}", &cut[..cut.len() / 2]));
    peer.close(0);
    // While waiting, the channel says why and when.
    rig.wait("the reconnect sentence", |r| {
        r.state("pajlada").is_some_and(|(s, d)| {
            s == ChannelState::Connecting
                && d.contains("Twitch closed the connection")
                && d.contains("reconnecting in 1 s (attempt 1)")
        })
    })
    .await;
    peer.wait(Duration::from_secs(5), "the rejoin", |p| {
        p.joined(1).contains(&"pajlada".to_string())
    })
    .await;
    rig.wait_live("pajlada").await;
    peer.send_lines(1, &[&cut]);
    rig.wait("two messages", |r| r.messages().len() >= 2).await;
    let ms = rig.messages();
    assert_eq!(ms.len(), 2);
    assert_eq!(ms[0].text, "dank cam");
    assert_eq!(
        ms[1].emotes.len(),
        9,
        "the cut line never arrived half-parsed"
    );
    assert_eq!(rig.metrics.parse_errors.load(Relaxed), 0);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ghost_join_is_retried_then_an_error() {
    let mut script = Script {
        confirm: Confirm::Echo,
        ..Script::default()
    };
    script.ghost.insert("ghost".into());
    let peer = TwitchPeer::start(script).await;
    let rig = Rig::start(peer.irc_url(), &["ghost", "real"], fast());
    rig.wait_live("real").await;
    rig.wait("the ghost's error", |r| {
        r.state("ghost").is_some_and(|s| s.0 == ChannelState::Error)
    })
    .await;
    let detail = rig.state("ghost").unwrap().1;
    assert!(
        detail.contains("never confirmed joining #ghost after 3 tries"),
        "{detail}"
    );
    let tries = peer.joins().iter().filter(|j| j.2 == "ghost").count();
    assert_eq!(tries, 3);
    let real = peer.joins().iter().filter(|j| j.2 == "real").count();
    assert_eq!(real, 1, "a confirmed JOIN is not repeated");
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notice_refusals_become_the_detail() {
    let mut script = Script::default();
    script
        .refuse
        .insert("gone".into(), "msg_channel_suspended".into());
    script
        .refuse
        .insert("many".into(), "msg_concurrent_channel_limit_reached".into());
    let peer = TwitchPeer::start(script).await;
    let rig = Rig::start(peer.ws_url(), &["gone", "many", "fine"], fast());
    rig.wait_live("fine").await;
    rig.wait("both refusals", |r| {
        ["gone", "many"]
            .iter()
            .all(|c| r.state(c).is_some_and(|s| s.0 == ChannelState::Error))
    })
    .await;
    let gone = rig.state("gone").unwrap().1;
    assert!(
        gone.contains("does not exist or has been suspended"),
        "{gone}"
    );
    let many = rig.state("many").unwrap().1;
    assert!(many.contains("maximum number of channels"), "{many}");
    // No retry after a refusal.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(peer.joins().iter().filter(|j| j.2 == "gone").count(), 1);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_spread_over_two_connections_with_paced_joins() {
    let peer = TwitchPeer::start(Script::default()).await;
    let names: Vec<String> = (0..150).map(|i| format!("chan{i:03}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let timing = fast();
    let window = timing.join_window;
    let started = Instant::now();
    let rig = Rig::start(peer.irc_url(), &refs, timing);
    rig.wait("150 channels live", |r| {
        names
            .iter()
            .all(|c| r.state(c).is_some_and(|s| s.0 == ChannelState::Live))
    })
    .await;
    assert_eq!(peer.connections(), 2);
    let mut per_conn: HashMap<usize, usize> = HashMap::new();
    for j in peer.joins() {
        *per_conn.entry(j.0).or_default() += 1;
    }
    // Both connections open at once, so either may be accepted first.
    let mut sizes: Vec<usize> = per_conn.values().copied().collect();
    sizes.sort();
    assert_eq!(sizes, vec![60, 90]);
    let mut at: Vec<Instant> = peer.joins().into_iter().map(|j| j.1).collect();
    at.sort();
    assert_eq!(at.len(), 150);
    // Never more than 20 JOINs in a window (receive times jitter a little: 3/4 of it).
    for i in 0..at.len() - 20 {
        let span = at[i + 20] - at[i];
        assert!(
            span >= window * 3 / 4,
            "JOINs {i}..{} within {span:?}",
            i + 20
        );
    }
    assert!(started.elapsed() >= window * 7);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_64_kib_lines_are_survived() {
    let peer = TwitchPeer::start(Script::default()).await;
    for (n, url) in urls(&peer).into_iter().enumerate() {
        let rig = Rig::start(url.clone(), &["pajlada"], fast());
        rig.wait_live("pajlada").await;
        let big_text = "a".repeat(64 * 1024);
        let big = format!(
            "@id=22222222-0000-4000-8000-000000000001;emotes=25:0-4,99999-100000 :ann!ann@ann.tmi.twitch.tv PRIVMSG #pajlada :{big_text}"
        );
        let huge = format!(":x PRIVMSG #pajlada :{}", "b".repeat(300 * 1024));
        peer.send_lines(
            n,
            &[
                "\u{1}\u{2}garbage",
                "@a=b",
                ":only.a.prefix",
                "PRIV$MSG #pajlada :x",
                ":tmi.twitch.tv CLEARMSG #pajlada :no target",
                "@emotes=1:0-999999999999;id=x :a!a@a PRIVMSG #pajlada :\u{1}ACTION",
                &big,
                &huge,
                "SOMETHINGNEW #pajlada :hello",
            ],
        );
        let after = fixture_lines("privmsg_basic.irc").remove(0);
        peer.send_lines(n, &[&after]);
        rig.wait("the line after the garbage", |r| {
            r.messages().iter().any(|m| m.text == "dank cam")
        })
        .await;
        let ms = rig.messages();
        let big_msg = ms
            .iter()
            .find(|m| {
                m.platform_message_id.as_deref() == Some("22222222-0000-4000-8000-000000000001")
            })
            .expect("the 64 KiB line, cut to 1000 characters");
        assert_eq!(big_msg.text.chars().count(), 1000);
        let e: Vec<(u32, u32)> = big_msg.emotes.iter().map(|e| (e.start, e.end)).collect();
        assert_eq!(e, vec![(0, 5)], "the range past the cut text is dropped");
        assert!(rig.metrics.parse_errors.load(Relaxed) >= 4, "{url}");
        assert!(rig.metrics.skipped.load(Relaxed) >= 1);
        assert_eq!(
            rig.metrics.reconnects.load(Relaxed),
            0,
            "no reconnect for garbage"
        );
        rig.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_changes_join_and_part() {
    let peer = TwitchPeer::start(Script::default()).await;
    let rig = Rig::start(peer.irc_url(), &["one"], fast());
    rig.wait_live("one").await;
    rig.links.send(links_from(vec![link("two")])).unwrap();
    rig.wait_live("two").await;
    peer.wait(Duration::from_secs(5), "PART #one", |p| {
        p.received().iter().any(|r| r.line == "PART #one")
    })
    .await;
    rig.wait("#one forgotten", |r| r.state("one").is_none())
        .await;
    assert_eq!(
        peer.connections(),
        1,
        "the same connection serves the new channel"
    );
    rig.stop().await;
}

/// The real binary: `ingest --platform twitch --twitch-irc-url irc://…`, channels linked over the
/// producer socket, chat and a delete read back from the ring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingest_binary_reads_a_linked_channel() {
    let peer = TwitchPeer::start(Script::default()).await;
    let seg = SegGuard::new("ingest");
    let dir = tempfile::tempdir().unwrap();
    let url = peer.irc_url();
    let ingest = tokio::task::spawn_blocking({
        let (name, dir) = (seg.name.clone(), dir.path().to_owned());
        move || Ingest::start(&name, "twitch", &dir, &["--twitch-irc-url", &url])
    })
    .await
    .unwrap();
    let socket = ingest.socket.clone();
    let reply = tokio::task::spawn_blocking(move || {
        let mut c = Client::connect(&socket);
        c.request(
            format!(r#"{{"type":"channels","channels":[{{"channel":"pajlada","streamers":["{SID}"]}}]}}"#)
                .as_bytes(),
        )
    })
    .await
    .unwrap();
    assert_eq!(reply["ok"], true, "{reply}");
    peer.wait(Duration::from_secs(8), "the JOIN", |p| {
        p.joined(0).contains(&"pajlada".to_string())
    })
    .await;
    let lines: Vec<String> = ["privmsg_basic.irc", "privmsg_emotes.irc", "clearmsg.irc"]
        .iter()
        .map(|f| fixture_lines(f).remove(0))
        .collect();
    peer.send_lines(0, &lines.iter().map(String::as_str).collect::<Vec<_>>());
    let name = seg.name.clone();
    let events = tokio::task::spawn_blocking(move || {
        let segment = Arc::new(shm_layout::Segment::open_or_create(&name).unwrap());
        let mut reader = Reader::claim(segment).unwrap();
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(8);
        while got.len() < 3 && Instant::now() < deadline {
            reader.wait_for_data(Duration::from_millis(50));
            let end = reader.peek(64, |_, r| {
                got.push(SlotEvent::from_json(r.unwrap()).unwrap())
            });
            reader.commit(end);
        }
        got
    })
    .await
    .unwrap();
    assert_eq!(events.len(), 3, "{events:?}");
    let SlotEvent::Message(m) = &events[1] else {
        panic!()
    };
    assert_eq!((m.kind, m.emotes.len()), (Kind::Chat, 9));
    assert_eq!(m.streamer_id, SID.parse::<Uuid>().unwrap());
    assert!(matches!(events[2], SlotEvent::Delete(_)));
    let socket = ingest.socket.clone();
    let status = tokio::task::spawn_blocking(move || {
        Client::connect(&socket).request(br#"{"type":"status"}"#)
    })
    .await
    .unwrap();
    assert_eq!(status["channels"][0]["channel"], "pajlada", "{status}");
    assert_eq!(status["channels"][0]["state"], "live", "{status}");
    drop(ingest);
}
