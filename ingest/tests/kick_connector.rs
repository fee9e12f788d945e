//! The Kick connector against loopback peers (tests/src/peers/kick.rs): the channel lookup (ok,
//! Cloudflare's page, a hang) and pasted ids, the realtime API calls, Centrifugo (connect,
//! several subscriptions on one connection, `{}` pings, batched frames, `data` as a string and as
//! an object, unsubscribe, ordinary and terminal disconnects, token refresh, garbage), Pusher
//! (handshake, ping, error codes), every mapping rule on real-format frames, and one run of the
//! real `ingest` binary fed through its producer socket.

mod common;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crosschat_tests::peers::kick::{KickPeer, Lookup, WsConn};
use ingest::connectors::endpoints::KickProtocol;
use ingest::connectors::kick::{self, lookup::BLOCKED, Timing};
use ingest::connectors::link::links_from;
use ingest::connectors::{
    ChannelState, ConnectorCtx, ConnectorMetrics, Endpoints, Link, Links, StatusBoard,
};
use ingest::writer::{WritePolicy, WriterHandle};
use serde_json::Value;
use shm_layout::{platform_message_uuid, Kind, Platform, Reader, SlotEvent};
use tokio::sync::watch;
use uuid::Uuid;

use common::SegGuard;

const STREAMER: Uuid = Uuid::from_u128(0x6f1c2a4e_0b7d_4c55_9a51_2f9d3c1e8b70);
const T: Duration = Duration::from_secs(5);

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/kick/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim_end_matches('\n')
        .to_owned()
}

fn timing() -> Timing {
    Timing {
        http_timeout: Duration::from_millis(500),
        lookup_retry: Duration::from_secs(60),
        terminal_wait: Duration::from_millis(400),
        silence: None,
        subscribe_timeout: Duration::from_secs(2),
        backoff_base: Duration::from_millis(100),
        token_refresh: None,
    }
}

fn link(slug: &str, ids: Option<(u64, u64)>) -> Link {
    Link {
        channel: slug.into(),
        streamers: vec![STREAMER],
        chatroom_id: ids.map(|i| i.0),
        channel_id: ids.map(|i| i.1),
    }
}

/// The connector running in-process against the peers, with a reader on its ring.
struct Harness {
    reader: Reader,
    links: watch::Sender<Links>,
    stop: watch::Sender<bool>,
    status: StatusBoard,
    metrics: Arc<ConnectorMetrics>,
    task: tokio::task::JoinHandle<()>,
    _seg: SegGuard,
}

impl Harness {
    fn start(peer: &KickPeer, protocol: KickProtocol, links: Vec<Link>, t: Timing) -> Harness {
        let seg = SegGuard::new("ingest");
        let segment = seg.open();
        let (writer, _thread) =
            WriterHandle::spawn(segment.clone(), WritePolicy::default()).unwrap();
        let (links_tx, links_rx) = watch::channel(links_from(links));
        let (stop, shutdown) = watch::channel(false);
        let metrics = Arc::new(ConnectorMetrics::default());
        let status = StatusBoard::default();
        let endpoints = Endpoints {
            kick_web_url: peer.web_url.clone(),
            kick_realtime_api_url: peer.api_url.clone(),
            kick_protocol: protocol,
            kick_pusher_url: peer.pusher_url.clone(),
            ..Endpoints::default()
        };
        let ctx = ConnectorCtx::new(
            Platform::Kick,
            writer,
            links_rx,
            status.clone(),
            metrics.clone(),
            endpoints,
            shutdown,
        );
        let task = tokio::spawn(kick::run_with(ctx, t));
        Harness {
            reader: Reader::claim(segment).unwrap(),
            links: links_tx,
            stop,
            status,
            metrics,
            task,
            _seg: seg,
        }
    }

    /// Waits for `n` events in the ring.
    async fn events(&mut self, n: usize) -> Vec<SlotEvent> {
        let deadline = Instant::now() + T;
        let mut out = Vec::new();
        while out.len() < n && Instant::now() < deadline {
            let end = self.reader.peek(256, |_, r| {
                out.push(SlotEvent::from_json(r.expect("a sane slot")).expect("slot JSON"))
            });
            self.reader.commit(end);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(out.len(), n, "events: {out:?}");
        out
    }

    async fn message(&mut self) -> shm_layout::ChatMessage {
        match self.events(1).await.remove(0) {
            SlotEvent::Message(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// Waits until `channel`'s state is `state` with a detail containing `part`; returns the detail.
    async fn detail(&self, channel: &str, state: ChannelState, part: &str) -> String {
        let deadline = Instant::now() + T;
        loop {
            let s = self.status.get(channel);
            if let Some(s) = &s {
                if s.state == state && s.detail.contains(part) {
                    return s.detail.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "{channel}: {s:?}, wanted {state:?} with {part:?}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Waits until `channel`'s state is `state`; returns its detail.
    async fn state(&self, channel: &str, state: ChannelState) -> String {
        let deadline = Instant::now() + T;
        loop {
            if let Some(s) = self.status.get(channel) {
                if s.state == state {
                    return s.detail;
                }
                assert!(
                    Instant::now() < deadline,
                    "{channel}: {s:?}, wanted {state:?}"
                );
            }
            assert!(Instant::now() < deadline, "{channel}: no status");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(T, self.task)
            .await
            .expect("the connector stops")
            .unwrap();
    }
}

/// Accepts a Centrifugo connection and answers its connect and `n` subscribes.
async fn centrifugo(peer: &KickPeer, n: usize) -> (WsConn, Vec<String>) {
    let mut c = peer.accept(T).await.expect("a websocket connection");
    assert_eq!(c.path, "/connection/websocket");
    assert_eq!(c.origin, "https://kick.com");
    c.centrifugo_connect(Value::Null)
        .await
        .expect("a connect command");
    let subs = c.centrifugo_subscribes(n).await;
    (c, subs)
}

/// The side feeds subscribed so far, once there are at least `n` (or after [`T`]).
async fn side_subscribes(peer: &KickPeer, n: usize) -> Vec<String> {
    let deadline = Instant::now() + T;
    loop {
        let side = peer.seen().side_subscribes;
        if side.len() >= n || Instant::now() > deadline {
            return side;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_and_pasted_ids_then_one_connection_for_every_channel() {
    let peer = KickPeer::start().await.unwrap();
    peer.set_lookup(
        "tayloredbydrew",
        Lookup::Ok {
            channel_id: 2515504,
            chatroom_id: 2507974,
        },
    );
    peer.set_lookup(
        "thestaticmage",
        Lookup::Ok {
            channel_id: 2400000,
            chatroom_id: 2346570,
        },
    );
    let h = Harness::start(
        &peer,
        KickProtocol::Centrifugo,
        vec![
            link("tayloredbydrew", None),
            link("thestaticmage", None),
            link("pasted", Some((1221707, 1200000))),
        ],
        timing(),
    );
    let (mut c, subs) = centrifugo(&peer, 3).await;
    // The first connection may open before every lookup finished; the rest join the same one.
    assert_eq!(
        subs,
        vec![
            "chatrooms.1221707.v2",
            "chatrooms.2346570.v2",
            "chatrooms.2507974.v2"
        ]
    );
    for ch in ["tayloredbydrew", "thestaticmage", "pasted"] {
        assert_eq!(h.state(ch, ChannelState::Live).await, "reading chat");
    }
    let seen = peer.seen();
    let mut looked = seen.lookups.clone();
    looked.sort();
    assert_eq!(
        looked,
        vec!["tayloredbydrew", "thestaticmage"],
        "pasted ids skip the lookup"
    );
    assert_eq!(seen.token_clients.len(), 1);
    let client = &seen.token_clients[0];
    assert!(Uuid::parse_str(client).is_ok(), "{client}");
    assert_eq!(seen.connection_calls.len(), 1);
    assert_eq!(&seen.connection_calls[0].1, client);
    assert!([2515504, 2400000, 1200000].contains(&seen.connection_calls[0].0));
    assert_eq!(seen.refused_origin, 0);
    let st = h.status.get("tayloredbydrew").unwrap();
    assert_eq!(
        (st.chatroom_id, st.channel_id),
        (Some(2507974), Some(2515504)),
        "found ids are reported"
    );
    assert_eq!(h.metrics.connections.load(Relaxed), 1);
    // Unlinking a channel unsubscribes it on the same connection.
    h.links
        .send(links_from(vec![
            link("tayloredbydrew", None),
            link("thestaticmage", None),
        ]))
        .unwrap();
    let v = c
        .recv_json_where(T, |v| v.get("unsubscribe").is_some())
        .await
        .expect("an unsubscribe");
    assert_eq!(v["unsubscribe"]["channel"], "chatrooms.1221707.v2");
    assert_eq!(
        peer.seen().side_unsubscribes,
        ["channel_1200000", "chatroom_1221707"],
        "its gifts feeds go with it"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudflare_page_asks_for_ids_and_pasted_ids_make_chat_flow() {
    let peer = KickPeer::start().await.unwrap();
    peer.set_lookup("tayloredbydrew", Lookup::Cloudflare);
    let mut h = Harness::start(
        &peer,
        KickProtocol::Centrifugo,
        vec![link("tayloredbydrew", None)],
        timing(),
    );
    assert_eq!(
        h.state("tayloredbydrew", ChannelState::Error).await,
        BLOCKED
    );
    assert!(
        peer.accept(Duration::from_millis(300)).await.is_none(),
        "no feed without ids"
    );
    assert_eq!(
        peer.seen().lookups.len(),
        1,
        "the lookup is not retried in a loop"
    );
    h.links
        .send(links_from(vec![link(
            "tayloredbydrew",
            Some((2507974, 2515504)),
        )]))
        .unwrap();
    let (c, subs) = centrifugo(&peer, 1).await;
    assert_eq!(subs, vec!["chatrooms.2507974.v2"]);
    c.send(fixture("centrifugo/push_chat_message.json")).await;
    let m = h.message().await;
    assert_eq!(m.text, "more in premiere");
    assert_eq!(
        h.state("tayloredbydrew", ChannelState::Live).await,
        "reading chat"
    );
    assert_eq!(peer.seen().lookups.len(), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_lookup_times_out_into_the_same_sentence_and_unknown_slugs_say_so() {
    let peer = KickPeer::start().await.unwrap();
    peer.set_lookup("slow", Lookup::Hang);
    let h = Harness::start(
        &peer,
        KickProtocol::Centrifugo,
        vec![link("slow", None), link("nobody", None)],
        timing(),
    );
    assert_eq!(h.state("slow", ChannelState::Error).await, BLOCKED);
    let d = h.state("nobody", ChannelState::Error).await;
    assert!(
        d.contains("no channel named") && d.contains("nobody"),
        "{d}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mapping_rule_on_real_format_frames() {
    let peer = KickPeer::start().await.unwrap();
    let links = vec![
        link("drew", Some((2507974, 1))),
        link("max", Some((1221707, 2))),
        link("mage", Some((2346570, 3))),
        link("moblin", Some((1358210, 1361201))),
    ];
    let mut h = Harness::start(&peer, KickProtocol::Centrifugo, links, timing());
    let (c, subs) = centrifugo(&peer, 4).await;
    assert_eq!(subs.len(), 4);
    // Besides each chat feed: the gifted-subscriptions feed of the chatroom and the Kicks feed of
    // the channel (the peer confirms these itself).
    let mut side = side_subscribes(&peer, 8).await;
    side.sort();
    assert_eq!(
        side,
        [
            "channel_1",
            "channel_1361201",
            "channel_2",
            "channel_3",
            "chatroom_1221707",
            "chatroom_1358210",
            "chatroom_2346570",
            "chatroom_2507974"
        ]
    );

    // data as a JSON string: plain message.
    c.send(fixture("centrifugo/push_chat_message.json")).await;
    let m = h.message().await;
    assert_eq!(
        m.id,
        platform_message_uuid(
            Platform::Kick,
            "drew",
            "b2af4980-9dfa-4822-960d-0e64704e2ced"
        )
    );
    assert_eq!(m.streamer_id, STREAMER);
    assert_eq!(
        m.platform_message_id.as_deref(),
        Some("b2af4980-9dfa-4822-960d-0e64704e2ced")
    );
    assert_eq!(m.channel.as_deref(), Some("drew"));
    assert_eq!(
        (m.user.as_str(), m.user_id.as_deref()),
        ("tayloredbydrew", Some("1247649"))
    );
    assert_eq!(m.color.as_deref(), Some("#ff9d00"));
    assert_eq!(m.timestamp, 1_703_455_500_000); // 2023-12-24T22:05:00+00:00
    assert_eq!(m.kind, Kind::Chat);
    assert!(m.badges.is_empty() && !m.is_sub && !m.is_vip && !m.is_mod && !m.is_owner);

    // data as an object; an emote at the start; vip + subscriber badges.
    c.send(fixture("centrifugo/push_chat_message_object.json"))
        .await;
    let m = h.message().await;
    assert_eq!(m.text, "litneyspears4Maxon my way to show you love");
    assert_eq!(m.emotes.len(), 1);
    assert_eq!(
        (
            m.emotes[0].id.as_str(),
            m.emotes[0].name.as_str(),
            m.emotes[0].start,
            m.emotes[0].end
        ),
        ("3989851", "litneyspears4Max", 0, 16)
    );
    assert_eq!(m.badges, vec!["vip", "subscriber"]);
    assert!(m.is_vip && m.is_sub && !m.is_mod && !m.is_owner);
    assert_eq!(m.timestamp, 1_752_741_896_000);

    // Reply, broadcaster.
    c.send(fixture("centrifugo/push_chat_reply.json")).await;
    let m = h.message().await;
    let r = m.reply_to.as_ref().expect("replyTo");
    assert_eq!(
        (
            r.platform_message_id.as_str(),
            r.user.as_str(),
            r.text.as_str()
        ),
        (
            "f08e9286-3390-4720-a292-266b7f80ab39",
            "thestaticmagetest",
            "Test 6"
        )
    );
    assert!(m.is_owner);
    assert_eq!(m.badges, vec!["broadcaster"]);

    // Emotes around an emoji (code points, not bytes); moderator, og, founder.
    c.send(fixture("centrifugo/push_chat_moderator.json")).await;
    let m = h.message().await;
    assert_eq!(m.text, "KEKW 👉 kickSmile hi");
    let ranges: Vec<_> = m
        .emotes
        .iter()
        .map(|e| (e.name.as_str(), e.start, e.end))
        .collect();
    assert_eq!(ranges, vec![("KEKW", 0, 4), ("kickSmile", 7, 16)]);
    assert!(m.is_mod && m.is_sub && !m.is_vip);
    assert_eq!(m.timestamp, 1_750_972_200_250);
    let target = m.id;

    // Moderation.
    c.send(fixture("centrifugo/push_message_deleted.json"))
        .await;
    match h.events(1).await.remove(0) {
        SlotEvent::Delete(d) => {
            assert_eq!(
                d.platform_message_id,
                "5c1f6a52-3b1e-4d8c-9d7e-2f0c8a9b1e44"
            );
            assert_eq!(d.target_id, target);
            assert_eq!((d.channel.as_str(), d.streamer_id), ("moblin", STREAMER));
        }
        other => panic!("{other:?}"),
    }
    c.send(fixture("centrifugo/push_user_banned_perm.json"))
        .await;
    match h.events(1).await.remove(0) {
        SlotEvent::ClearUser(u) => assert_eq!(
            (u.user_id.as_str(), u.user.as_str(), u.until),
            ("41379045", "testuser", None)
        ),
        other => panic!("{other:?}"),
    }
    c.send(fixture("centrifugo/push_user_banned_timeout.json"))
        .await;
    match h.events(1).await.remove(0) {
        SlotEvent::ClearUser(u) => assert_eq!(u.until, Some(1_750_972_366_000)), // expires_at 2025-06-26T21:12:46Z
        other => panic!("{other:?}"),
    }
    c.send(fixture("centrifugo/push_chatroom_clear.json")).await;
    assert!(matches!(h.events(1).await.remove(0), SlotEvent::Clear(c) if c.channel == "moblin"));

    // Membership and paid.
    c.send(fixture("centrifugo/push_subscription.json")).await;
    let m = h.message().await;
    assert_eq!(
        (m.kind, m.user.as_str(), m.system_text.as_deref()),
        (
            Kind::Membership,
            "newfan",
            Some("newfan subscribed for 3 months")
        )
    );
    c.send(fixture("centrifugo/push_gifted_subscriptions.json"))
        .await;
    let m = h.message().await;
    assert_eq!(
        (m.kind, m.user.as_str(), m.system_text.as_deref()),
        (
            Kind::Membership,
            "generous",
            Some("generous gifted 3 subscriptions")
        )
    );
    c.send(fixture("centrifugo/push_kicks_gifted.json")).await;
    let m = h.message().await;
    assert_eq!(
        (m.kind, m.user.as_str(), m.text.as_str()),
        (Kind::Paid, "tipper", "keep grinding!")
    );
    let a = m.amount.expect("amount");
    assert_eq!(
        (a.value.as_str(), a.currency.as_str(), a.display.as_str()),
        ("100", "kicks", "100 Kicks (Rage Quit)")
    );

    // Other events: skipped and counted; a second delivery of a message: dropped as a duplicate.
    let skipped = h.metrics.skipped.load(Relaxed);
    c.send(fixture("centrifugo/push_pinned.json")).await;
    c.send(fixture("centrifugo/push_chat_message.json")).await;
    c.send(fixture("centrifugo/push_chat_emotes.json")).await; // same id as the object form
    c.send(fixture("pusher/chat_message.json").replace("2507974", "0"))
        .await; // not a Centrifugo reply: skipped
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.reader.depth(), 0, "nothing new reaches the ring");
    assert!(h.metrics.skipped.load(Relaxed) > skipped);
    assert_eq!(h.metrics.duplicates.load(Relaxed), 2);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_batches_and_garbage_are_survived_on_one_connection() {
    let peer = KickPeer::start().await.unwrap();
    let links = vec![
        link("drew", Some((2507974, 1))),
        link("mage", Some((2346570, 3))),
    ];
    let mut h = Harness::start(&peer, KickProtocol::Centrifugo, links, timing());
    let (mut c, _) = centrifugo(&peer, 2).await;
    c.send(fixture("centrifugo/ping_empty.json")).await;
    assert_eq!(
        c.recv(T).await.as_deref(),
        Some("{}"),
        "a {{}} ping is answered {{}}"
    );
    c.send(fixture("centrifugo/batched_frame.txt")).await;
    let evs = h.events(2).await;
    let users: Vec<_> = evs
        .iter()
        .map(|e| match e {
            SlotEvent::Message(m) => m.user.clone(),
            _ => String::new(),
        })
        .collect();
    assert_eq!(users, vec!["tayloredbydrew", "TheStaticMage"]);
    let errors = h.metrics.parse_errors.load(Relaxed);
    c.send("this is not json").await;
    c.send_binary(vec![0xff, 0x00, 0x13]).await;
    c.send(format!("{{\"push\":{{\"channel\":\"chatrooms.2507974.v2\",\"pub\":{{\"data\":{{\"event\":\"x\",\"data\":\"{}\"}}}}}}}}", "a".repeat(300_000))).await;
    c.send(r#"{"push":{"channel":"chatrooms.2507974.v2","pub":{"data":{"event":"App\\Events\\ChatMessageEvent","data":"{\"id\":1}"}}}}"#).await;
    c.send(format!(
        "{}\n{{broken\n{}",
        fixture("centrifugo/ping_empty.json"),
        fixture("centrifugo/push_chat_moderator.json").replace("1358210", "2507974")
    ))
    .await;
    let m = h.message().await;
    assert_eq!(m.text, "KEKW 👉 kickSmile hi");
    assert_eq!(
        h.metrics.parse_errors.load(Relaxed) - errors,
        5,
        "binary, not JSON, oversized, a chat event without its fields, a broken line"
    );
    assert_eq!(
        c.recv(T).await.as_deref(),
        Some("{}"),
        "the ping in the batch is answered"
    );
    assert!(
        peer.accept(Duration::from_millis(100)).await.is_none(),
        "still the same connection"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_resubscribes_and_an_ordinary_close_reconnects_with_the_same_client() {
    let peer = KickPeer::start().await.unwrap();
    let mut h = Harness::start(
        &peer,
        KickProtocol::Centrifugo,
        vec![
            link("drew", Some((2507974, 1))),
            link("mage", Some((2346570, 3))),
        ],
        timing(),
    );
    let (mut c, _) = centrifugo(&peer, 2).await;
    c.send(fixture("centrifugo/unsub.json")).await;
    assert_eq!(
        c.centrifugo_subscribes(1).await,
        vec!["chatrooms.2507974.v2"]
    );
    assert_eq!(h.state("drew", ChannelState::Live).await, "reading chat");
    c.send(fixture("centrifugo/disconnect_ordinary.json")).await;
    let d = h
        .detail("drew", ChannelState::Connecting, "code 3001")
        .await;
    assert!(
        d.contains("reconnecting in") && d.contains("attempt 1"),
        "{d}"
    );
    let (c2, subs) = centrifugo(&peer, 2).await;
    assert_eq!(subs, vec!["chatrooms.2346570.v2", "chatrooms.2507974.v2"]);
    assert_eq!(h.state("mage", ChannelState::Live).await, "reading chat");
    let seen = peer.seen();
    assert_eq!(seen.token_clients.len(), 2);
    assert_eq!(
        seen.token_clients[0], seen.token_clients[1],
        "an ordinary reconnect keeps the client id"
    );
    assert_eq!(h.metrics.reconnects.load(Relaxed), 1);
    // A dropped TCP connection (no close frame) reconnects too.
    c2.drop_tcp().await;
    let (c3, _) = centrifugo(&peer, 2).await;
    c3.send(fixture("centrifugo/push_chat_message.json")).await;
    assert_eq!(h.message().await.user, "tayloredbydrew");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_close_waits_then_starts_over_with_a_new_client_id() {
    let peer = KickPeer::start().await.unwrap();
    let h = Harness::start(
        &peer,
        KickProtocol::Centrifugo,
        vec![link("drew", Some((2507974, 1)))],
        timing(),
    );
    let (c, _) = centrifugo(&peer, 1).await;
    c.send(fixture("centrifugo/disconnect_terminal.json")).await;
    let closed = Instant::now();
    let d = h.detail("drew", ChannelState::Error, "code 3501").await;
    assert!(
        d.contains("new connection id") && d.contains("400 ms"),
        "{d}"
    );
    let (c2, _) = centrifugo(&peer, 1).await;
    assert!(
        closed.elapsed() >= Duration::from_millis(350),
        "waited {:?}",
        closed.elapsed()
    );
    let seen = peer.seen();
    assert_eq!(seen.token_clients.len(), 2);
    assert_ne!(
        seen.token_clients[0], seen.token_clients[1],
        "a new client id after a terminal close"
    );
    // A terminal websocket close code does the same.
    c2.close(4503, "connection limit").await;
    h.detail("drew", ChannelState::Error, "code 4503: connection limit")
        .await;
    let _c3 = centrifugo(&peer, 1).await;
    let seen = peer.seen();
    assert_ne!(seen.token_clients[1], seen.token_clients[2]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_refreshed_with_the_same_client_id() {
    let peer = KickPeer::start().await.unwrap();
    let h = Harness::start(
        &peer,
        KickProtocol::Centrifugo,
        vec![link("drew", Some((2507974, 1)))],
        timing(),
    );
    let mut c = peer.accept(T).await.unwrap();
    let first = c
        .centrifugo_connect(serde_json::json!({"expires": true, "ttl": 1}))
        .await
        .unwrap();
    c.centrifugo_subscribes(1).await;
    let v = c
        .recv_json_where(T, |v| v.get("refresh").is_some())
        .await
        .expect("a refresh command");
    let second = v["refresh"]["token"].as_str().unwrap();
    assert_ne!(second, first);
    let seen = peer.seen();
    assert_eq!(seen.token_clients.len(), 2);
    assert_eq!(seen.token_clients[0], seen.token_clients[1]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_realtime_api_backs_off_and_says_so() {
    let peer = KickPeer::start().await.unwrap();
    peer.set_token_status(Some(500));
    let h = Harness::start(
        &peer,
        KickProtocol::Centrifugo,
        vec![link("drew", Some((2507974, 1)))],
        timing(),
    );
    let d = h.detail("drew", ChannelState::Connecting, "HTTP 500").await;
    assert!(
        d.contains("reconnecting in") && d.contains("attempt"),
        "{d}"
    );
    peer.set_token_status(None);
    let _c = centrifugo(&peer, 1).await;
    assert!(peer.seen().token_clients.len() >= 2);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pusher_handshake_ping_events_and_error_codes() {
    let peer = KickPeer::start().await.unwrap();
    let links = vec![
        link("drew", Some((2507974, 1))),
        link("moblin", Some((1358210, 1361201))),
    ];
    let mut h = Harness::start(&peer, KickProtocol::Pusher, links, timing());
    let mut c = peer.accept(T).await.unwrap();
    assert!(
        c.path.starts_with("/app/32cbd69e4b950bf97679"),
        "{}",
        c.path
    );
    assert_eq!(c.origin, "https://kick.com");
    assert_eq!(
        c.pusher_handshake(2).await,
        vec!["chatrooms.1358210.v2", "chatrooms.2507974.v2"]
    );
    assert_eq!(h.state("drew", ChannelState::Live).await, "reading chat");
    c.send(fixture("pusher/ping.json")).await;
    let v = c.recv_json_where(T, |_| true).await.unwrap();
    assert_eq!(v["event"], "pusher:pong");
    c.send(fixture("pusher/chat_message.json")).await;
    assert_eq!(h.message().await.text, "more in premiere");
    c.send(fixture("pusher/user_banned_timeout.json")).await;
    assert!(
        matches!(h.events(1).await.remove(0), SlotEvent::ClearUser(u) if u.until == Some(1_750_972_366_000))
    );
    assert!(
        peer.seen().token_clients.is_empty(),
        "Pusher needs no token"
    );
    // The side feeds: gifted subscriptions on the chatroom's feed, Kicks on the channel's.
    let side = side_subscribes(&peer, 3).await;
    for feed in ["chatroom_1358210", "channel_1361201", "chatroom_2507974"] {
        assert!(side.iter().any(|s| s == feed), "{feed} in {side:?}");
    }
    for name in ["push_gifted_subscriptions.json", "push_kicks_gifted.json"] {
        // The same event in Pusher's envelope: {"event","data","channel"}.
        let v: Value = serde_json::from_str(&fixture(&format!("centrifugo/{name}"))).unwrap();
        let mut frame = v["push"]["pub"]["data"].clone();
        frame["channel"] = v["push"]["channel"].clone();
        c.send(frame.to_string()).await;
        let m = h.message().await;
        assert_eq!(m.channel.as_deref(), Some("moblin"), "{name}");
        assert!(matches!(m.kind, Kind::Membership | Kind::Paid), "{name}");
    }

    // 4200–4299: reconnect at once.
    c.send(fixture("pusher/error_4200.json")).await;
    let mut c = peer.accept(T).await.expect("reconnects after 4200");
    c.pusher_handshake(2).await;
    // 4100–4199: back off, then reconnect.
    c.send(fixture("pusher/error_4100.json")).await;
    let d = h.detail("drew", ChannelState::Connecting, "4100").await;
    assert!(d.contains("reconnecting in"), "{d}");
    let mut c = peer.accept(T).await.expect("reconnects after 4100");
    c.pusher_handshake(2).await;
    // 4000–4099: no reconnect; the channel is in error.
    c.send(fixture("pusher/error_4001.json")).await;
    let d = h.detail("drew", ChannelState::Error, "4001").await;
    assert!(d.contains("not reconnecting"), "{d}");
    assert!(
        peer.accept(Duration::from_millis(500)).await.is_none(),
        "no reconnect after 4001"
    );
    h.stop().await;
}

// ---- the real binary ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingest_binary_reads_kick_into_the_ring() {
    use std::io::{BufRead, BufReader, Write};
    let peer = KickPeer::start().await.unwrap();
    peer.set_lookup("tayloredbydrew", Lookup::Cloudflare);
    let seg = SegGuard::new("ingest");
    let dir = tempfile::tempdir().unwrap();
    let child = common::ingest_command(&seg.name, "kick", dir.path())
        .args([
            "--kick-web-url",
            &peer.web_url,
            "--kick-realtime-api-url",
            &peer.api_url,
            "--kick-protocol",
            "centrifugo",
        ])
        .env("CROSSCHAT_KICK_TEST_BACKOFF_MS", "100")
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _child = Kill(child);
    let sock = dir.path().join("ingest-kick.sock");
    let deadline = Instant::now() + Duration::from_secs(20);
    let stream = loop {
        if let Ok(s) = std::os::unix::net::UnixStream::connect(&sock) {
            break s;
        }
        assert!(Instant::now() < deadline, "ingest did not serve");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    stream.set_read_timeout(Some(T)).unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    let mut ask = move |line: String| -> Value {
        w.write_all(line.as_bytes()).unwrap();
        w.write_all(b"\n").unwrap();
        let mut reply = String::new();
        r.read_line(&mut reply).unwrap();
        serde_json::from_str(&reply).unwrap()
    };
    let channels = |ids: bool| {
        let mut ch = serde_json::json!({"channel": "tayloredbydrew", "streamers": [STREAMER]});
        if ids {
            ch["chatroomId"] = 2507974.into();
            ch["channelId"] = 2515504.into();
        }
        serde_json::json!({"type": "channels", "channels": [ch]}).to_string()
    };
    let reply = ask(channels(false));
    assert_eq!(reply["ok"], true, "{reply}");
    // Cloudflare's page: the sentence in the status reply.
    let deadline = Instant::now() + T;
    loop {
        let st = ask(r#"{"type":"status"}"#.into());
        if st["channels"][0]["state"] == "error" {
            assert_eq!(st["channels"][0]["detail"], BLOCKED);
            break;
        }
        assert!(Instant::now() < deadline, "{st}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The streamer pastes the ids: chat flows.
    assert_eq!(ask(channels(true))["ok"], true);
    let (c, _) = centrifugo(&peer, 1).await;
    c.send(fixture("centrifugo/push_chat_message.json")).await;
    c.send(r#"{"push":{"channel":"chatrooms.2507974.v2","pub":{"data":{"event":"App\\Events\\MessageDeletedEvent","data":"{\"id\":\"d1\",\"message\":{\"id\":\"b2af4980-9dfa-4822-960d-0e64704e2ced\"}}"}}}}"#).await;
    let mut reader = Reader::claim(seg.open()).unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + T;
    while got.len() < 2 && Instant::now() < deadline {
        let end = reader.peek(16, |_, r| {
            got.push(SlotEvent::from_json(r.unwrap()).unwrap())
        });
        reader.commit(end);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    match &got[..] {
        [SlotEvent::Message(m), SlotEvent::Delete(d)] => {
            assert_eq!(
                (m.user.as_str(), m.streamer_id, m.channel.as_deref()),
                ("tayloredbydrew", STREAMER, Some("tayloredbydrew"))
            );
            assert_eq!(d.target_id, m.id);
        }
        other => panic!("{other:?}"),
    }
    let st = ask(r#"{"type":"status"}"#.into());
    assert_eq!(st["channels"][0]["state"], "live", "{st}");
    assert_eq!(st["metrics"]["connections"], 1, "{st}");
}
