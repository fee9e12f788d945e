//! The YouTube connector against the loopback Data API peer (real sockets, real HTTP): every link
//! form, scheduled → live → ended, paging with `nextPageToken`, the poll interval, the quota
//! (counting, slowing down, `quotaExceeded` and the reset, on an injectable clock), Google's error
//! bodies, slow and cut answers, and the key kept out of every output. The mapping rules are
//! tested on the real-format fixtures in `tests/fixtures/youtube/`. One test runs the real
//! `ingest` binary through the producer socket's control lines.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crosschat_tests::peers::youtube::{
    google_error, text_item, ChatEnd, Fault, Video, YoutubePeer,
};
use ingest::connectors::link::links_from;
use ingest::connectors::youtube::api::{error_from_body, ApiError};
use ingest::connectors::youtube::map::{self, Mapped};
use ingest::connectors::youtube::quota::{next_pacific_midnight_ms, utc_hh_mm, Clock, SystemClock};
use ingest::connectors::youtube::{self, Options, Timing, NO_KEY};
use ingest::connectors::{
    ChannelState, ChannelStatus, ConnectorCtx, ConnectorMetrics, Endpoints, Link, Links, Secret,
    StatusBoard,
};
use ingest::writer::{WritePolicy, WriterHandle};
use serde_json::Value;
use shm_layout::{ChatMessage, Kind, Platform, Reader, SlotEvent};
use tokio::sync::watch;
use uuid::Uuid;

const KEY: &str = "AIzaSyTESTKEY-never-shown-0123456789abc";
const SID: Uuid = Uuid::from_u128(0x6f1c2a4e_0b7d_4c55_9a51_2f9d3c1e8b70);
const VIDEO: &str = "D9fqFdv5ENo";
const WAIT: Duration = Duration::from_secs(5);
const BIG_QUOTA: u64 = 1_000_000_000;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/youtube/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture_items(name: &str) -> Vec<Value> {
    let v: Value = serde_json::from_slice(&fixture(name)).unwrap();
    v["items"].as_array().unwrap().clone()
}

fn timing() -> Timing {
    Timing {
        idle_recheck: Duration::from_millis(100),
        search_interval: Duration::from_millis(300),
        http_timeout: Duration::from_millis(400),
        backoff_base: Duration::from_millis(30),
        min_poll: Duration::from_millis(50),
    }
}

/// A clock that stands `ms` before the next midnight Pacific when created.
fn clock_before_reset(ms: u64) -> Arc<SystemClock> {
    let now = shm_layout::now_ms();
    let target = next_pacific_midnight_ms(now) - ms;
    Arc::new(SystemClock {
        offset_ms: target as i64 - now as i64,
    })
}

/// One in-process connector over a fresh segment, reading the ring as its single reader.
struct Run {
    _seg: common::SegGuard,
    reader: Reader,
    links: watch::Sender<Links>,
    stop: watch::Sender<bool>,
    status: StatusBoard,
    metrics: Arc<ConnectorMetrics>,
    task: tokio::task::JoinHandle<()>,
    events: Vec<SlotEvent>,
    /// Every status seen by `wait_status`, for the key check.
    seen: Vec<String>,
}

fn link(channel: &str) -> Link {
    Link {
        channel: channel.to_owned(),
        streamers: vec![SID],
        chatroom_id: None,
        channel_id: None,
    }
}

impl Run {
    fn start(
        peer: &YoutubePeer,
        channels: &[&str],
        daily_quota: u64,
        timing: Timing,
        clock: Arc<dyn Clock>,
        key: &str,
    ) -> Run {
        let seg_guard = common::SegGuard::new("ingest");
        let seg = seg_guard.open();
        let reader = Reader::claim(seg.clone()).expect("claim the reader");
        let (writer, _thread) = WriterHandle::spawn(seg, WritePolicy::default()).unwrap();
        let (links_tx, links_rx) =
            watch::channel(links_from(channels.iter().map(|c| link(c)).collect()));
        let metrics = Arc::new(ConnectorMetrics::default());
        let status = StatusBoard::default();
        let endpoints = Endpoints {
            youtube_api_key: Secret::new(key),
            youtube_api_url: peer.base_url(),
            youtube_daily_quota: daily_quota,
            youtube_min_poll_ms: timing.min_poll.as_millis() as u64,
            ..Endpoints::default()
        };
        let (stop, stop_rx) = watch::channel(false);
        let ctx = ConnectorCtx::new(
            Platform::YouTube,
            writer,
            links_rx,
            status.clone(),
            metrics.clone(),
            endpoints,
            stop_rx,
        );
        let task = tokio::spawn(youtube::run_with(ctx, Options { timing, clock }));
        Run {
            _seg: seg_guard,
            reader,
            links: links_tx,
            stop,
            status,
            metrics,
            task,
            events: Vec::new(),
            seen: Vec::new(),
        }
    }

    fn simple(peer: &YoutubePeer, channels: &[&str]) -> Run {
        // A budget so large that pacing never slows the polls, whatever the time of day.
        Run::start(
            peer,
            channels,
            BIG_QUOTA,
            timing(),
            Arc::new(SystemClock::default()),
            KEY,
        )
    }

    fn drain(&mut self) {
        let mut got = Vec::new();
        let end = self.reader.peek(256, |_, r| {
            got.push(SlotEvent::from_json(r.expect("a sane slot")).expect("slot JSON"))
        });
        self.reader.commit(end);
        self.events.extend(got);
    }

    async fn wait_events(&mut self, n: usize) {
        let deadline = Instant::now() + WAIT;
        loop {
            self.drain();
            if self.events.len() >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} events, got {:?}; status {:?}",
                self.events,
                self.status.snapshot()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn wait_status(
        &mut self,
        channel: &str,
        f: impl Fn(&ChannelStatus) -> bool,
    ) -> ChannelStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(s) = self.status.get(channel) {
                if self.seen.last() != Some(&s.detail) {
                    self.seen.push(s.detail.clone());
                }
                if f(&s) {
                    return s;
                }
            }
            assert!(
                Instant::now() < deadline,
                "status of {channel} never matched; last {:?}",
                self.status.get(channel)
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn messages(&self) -> Vec<&ChatMessage> {
        self.events
            .iter()
            .filter_map(|e| match e {
                SlotEvent::Message(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    fn texts(&self) -> Vec<String> {
        self.messages().iter().map(|m| m.text.clone()).collect()
    }

    async fn stop(self) {
        self.stop.send_replace(true);
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }
}

fn state(s: ChannelState) -> impl Fn(&ChannelStatus) -> bool {
    move |c| c.state == s
}

fn gaps(reqs: &[crosschat_tests::peers::youtube::Request]) -> Vec<Duration> {
    reqs.windows(2).map(|w| w[1].at - w[0].at).collect()
}

// ---------------------------------------------------------------- mapping, on the fixtures

#[test]
fn every_mapping_rule_on_the_fixtures() {
    let ch = "D9fqFdv5ENo";
    let page = map::parse_page(&fixture("list_page1.json")).unwrap();
    assert_eq!(
        page.next_page_token.as_deref(),
        Some("GMq3wfej0dkCIJOw_uCl0dkC")
    );
    assert_eq!(page.polling_interval_millis, Some(1526));
    assert_eq!(page.items.len(), 2);
    let Mapped::Event(SlotEvent::Message(m)) = map::map_item(ch, &page.items[0], 0) else {
        panic!("a chat message")
    };
    let pmid = "LCC.CjgKDQoLRDlmcUZkdjVFTm8qJwoYVUNQc2ZNNHZ1dV9GbWpRWGZXQ0hkaDRnEgtEOWZxRmR2NUVObxIcChpDSzdtNC02aWtmOENGYkFJMWdBZFBTVURSZw";
    assert_eq!(
        m.id,
        shm_layout::platform_message_uuid(Platform::YouTube, ch, pmid)
    );
    assert_eq!(m.platform_message_id.as_deref(), Some(pmid));
    assert_eq!(
        (m.user.as_str(), m.text.as_str()),
        ("Mr Perfect", "kitni hai")
    );
    assert_eq!(m.user_id.as_deref(), Some("UCrjdRCm0gGcdrYtl8z66t6g"));
    assert_eq!(m.timestamp, 1_685_045_288_479);
    assert_eq!(m.kind, Kind::Chat);
    assert_eq!(m.channel.as_deref(), Some(ch));
    assert!(!m.is_sub && !m.is_mod && !m.is_owner && m.badges.is_empty());
    let Mapped::Event(SlotEvent::Message(member)) = map::map_item(ch, &page.items[1], 0) else {
        panic!()
    };
    assert!(member.is_sub);
    assert_eq!(member.badges, vec!["member"]);

    let page = map::parse_page(&fixture("list_types.json")).unwrap();
    let mapped: Vec<Mapped> = page.items.iter().map(|i| map::map_item(ch, i, 0)).collect();
    let msg = |i: usize| match &mapped[i] {
        Mapped::Event(SlotEvent::Message(m)) => m.clone(),
        other => panic!("item {i}: {other:?}"),
    };
    // The owner: broadcaster + verified badges.
    let owner = msg(0);
    assert!(owner.is_owner && !owner.is_mod);
    assert_eq!(owner.badges, vec!["broadcaster", "verified"]);
    // Super Chat: amount from micros (a string), the comment as text.
    let sc = msg(1);
    assert_eq!(sc.kind, Kind::Paid);
    assert_eq!(sc.text, "test");
    assert!(sc.is_mod);
    assert_eq!(sc.badges, vec!["moderator"]);
    let amount = sc.amount.unwrap();
    assert_eq!(
        (
            amount.value.as_str(),
            amount.currency.as_str(),
            amount.display.as_str()
        ),
        ("2.00", "EUR", "€2.00")
    );
    assert_eq!(sc.timestamp, 1_623_253_252_765);
    // Super Sticker: the sticker's alt text, YouTube's sentence as systemText.
    let st = msg(2);
    assert_eq!(st.kind, Kind::Paid);
    assert_eq!(st.text, "A cat waving hello");
    assert_eq!(
        st.system_text.as_deref(),
        Some("Super Sticker from Sam: $1.99")
    );
    assert_eq!(st.amount.unwrap().value, "1.99");
    // Memberships: new, milestone (with the comment as text), gifting, gift received.
    for (i, sys) in [
        (3, "Welcome to Gold Tier!"),
        (4, "Member for 6 months"),
        (5, "Gifted 5 Gold Tier memberships"),
        (6, "was gifted a membership by Generous Gil"),
    ] {
        let m = msg(i);
        assert_eq!(m.kind, Kind::Membership, "item {i}");
        assert_eq!(m.system_text.as_deref(), Some(sys));
    }
    assert_eq!(msg(4).text, "six months already!");
    assert_eq!(
        msg(3).text,
        "",
        "a new member wrote nothing: the sink shows systemText"
    );
    // Delete of an earlier message.
    match &mapped[7] {
        Mapped::Event(SlotEvent::Delete(d)) => {
            assert_eq!(d.platform_message_id, "LCC.page1-text-2");
            assert_eq!(
                d.target_id,
                shm_layout::platform_message_uuid(Platform::YouTube, ch, "LCC.page1-text-2")
            );
        }
        other => panic!("{other:?}"),
    }
    // Bans: temporary (until = time + duration), permanent (no until).
    match &mapped[8] {
        Mapped::Event(SlotEvent::ClearUser(c)) => {
            assert_eq!(
                (c.user_id.as_str(), c.user.as_str()),
                ("UCrjdRCm0gGcdrYtl8z66t6g", "Mr Perfect")
            );
            assert_eq!(c.until, Some(c.timestamp + 300_000));
        }
        other => panic!("{other:?}"),
    }
    match &mapped[9] {
        Mapped::Event(SlotEvent::ClearUser(c)) => {
            assert_eq!(c.user_id, "UCspammer000000000000000");
            assert_eq!(c.until, None);
        }
        other => panic!("{other:?}"),
    }
    // Members-only mode and a tombstone: skipped.
    assert_eq!(mapped[10], Mapped::Skipped);
    assert_eq!(mapped[11], Mapped::Skipped);
    assert_eq!(mapped.len(), 12);

    let ended = map::parse_page(&fixture("list_chat_ended.json")).unwrap();
    assert_eq!(map::map_item(ch, &ended.items[0], 0), Mapped::ChatEnded);
    let offline = map::parse_page(&fixture("list_offline.json")).unwrap();
    assert!(offline.offline_at.is_some() && offline.items.is_empty());
}

#[test]
fn a_malformed_item_costs_only_itself() {
    let mut page: Value = serde_json::from_slice(&fixture("list_page1.json")).unwrap();
    page["items"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"id": 5, "snippet": "x"}));
    let p = map::parse_page(page.to_string().as_bytes()).unwrap();
    assert_eq!((p.items.len(), p.bad_items), (2, 1));
    assert!(map::parse_page(b"{\"items\": [ not json").is_err());
    assert!(map::parse_page(b"{\"items\": 5}").is_err());
}

#[test]
fn google_error_bodies_are_read() {
    for (file, status, reason, message) in [
        (
            "error_quotaExceeded.json",
            403,
            "quotaExceeded",
            "The request cannot be completed",
        ),
        (
            "error_liveChatEnded.json",
            403,
            "liveChatEnded",
            "The live chat is no longer live.",
        ),
        (
            "error_liveChatNotFound.json",
            404,
            "liveChatNotFound",
            "cannot be found",
        ),
        (
            "error_rateLimitExceeded.json",
            403,
            "rateLimitExceeded",
            "sent too soon",
        ),
        (
            "error_500.json",
            500,
            "backendError",
            "Internal error encountered.",
        ),
        (
            "error_keyInvalid.json",
            400,
            "badRequest",
            "API key not valid",
        ),
    ] {
        match error_from_body(status, &fixture(file)) {
            ApiError::Status {
                status: s,
                reason: r,
                message: m,
            } => {
                assert_eq!((s, r.as_str()), (status, reason), "{file}");
                assert!(m.contains(message), "{file}: {m}");
            }
            other => panic!("{file}: {other:?}"),
        }
    }
    match error_from_body(502, b"<html>Bad Gateway</html>") {
        ApiError::Status {
            status: 502,
            reason,
            message,
        } => {
            assert!(reason.is_empty());
            assert_eq!(message, "error 502 without a readable body");
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------- the connector, in process

#[tokio::test]
async fn a_video_link_waits_reads_and_ends() {
    let p = YoutubePeer::start().await;
    p.require_key(KEY);
    p.set_video(VIDEO, Video::Scheduled);
    let mut r = Run::simple(&p, &[VIDEO]);
    let s = r.wait_status(VIDEO, state(ChannelState::Idle)).await;
    assert_eq!(
        s.detail,
        "waiting for the stream to start (checked every 100 ms)"
    );
    assert!(
        p.wait_for(WAIT, |q| q.iter().filter(|r| r.path == "videos").count()
            >= 3)
            .await
    );
    let v = p.requests_to("videos");
    assert_eq!(v[0].param("part"), Some("liveStreamingDetails"));
    assert_eq!(v[0].param("id"), Some(VIDEO));
    assert!(
        gaps(&v).iter().all(|g| *g >= Duration::from_millis(90)),
        "{:?}",
        gaps(&v)
    );
    assert!(p.requests_to("liveChat/messages").is_empty());

    p.push_page("chat1", fixture_items("list_page1.json"));
    p.set_video(VIDEO, Video::Live("chat1".into()));
    r.wait_events(2).await;
    let s = r.wait_status(VIDEO, state(ChannelState::Live)).await;
    assert!(s.detail.starts_with("reading chat every "), "{}", s.detail);
    assert!(
        s.detail.contains(" units used, ") && s.detail.contains(" left"),
        "{}",
        s.detail
    );
    p.push_page("chat1", fixture_items("list_page2.json"));
    r.wait_events(3).await;
    assert_eq!(
        r.texts(),
        [
            "kitni hai",
            "hello from a member :wave:",
            "please keep it civil"
        ]
    );

    p.end_chat("chat1", ChatEnd::Offline);
    p.set_video(VIDEO, Video::Ended);
    r.wait_status(VIDEO, |s| {
        s.state == ChannelState::Idle && s.detail == "stream ended"
    })
    .await;
    // A video link stays idle: no more calls (three idle rechecks' worth of time).
    let n = p.requests().len();
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(p.requests().len(), n);
    assert_eq!(
        r.metrics
            .connections
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    r.stop().await;
}

#[tokio::test]
async fn every_link_form_finds_its_chat() {
    let p = YoutubePeer::start().await;
    p.require_key(KEY);
    let chan = "UCchannelFive0000000000a";
    let handle_chan = "UChandleSix00000000000aa";
    let links = [
        ("https://www.youtube.com/watch?v=vidAAAAAAA1", "vidAAAAAAA1"),
        ("https://youtu.be/vidAAAAAAA2?si=x", "vidAAAAAAA2"),
        ("https://www.youtube.com/live/vidAAAAAAA3", "vidAAAAAAA3"),
        ("vidAAAAAAA4", "vidAAAAAAA4"),
        (chan, "vidAAAAAAA5"),
        ("@handle.six", "vidAAAAAAA6"),
    ];
    for (i, (_, video)) in links.iter().enumerate() {
        let chat = format!("chat{i}");
        p.set_video(video, Video::Live(chat.clone()));
        p.push_page(
            &chat,
            vec![text_item(&format!("LCC.{i}"), "ann", &format!("hello {i}"))],
        );
    }
    p.set_channel_live(chan, Some("vidAAAAAAA5"));
    p.set_handle("@handle.six", handle_chan);
    p.set_channel_live(handle_chan, Some("vidAAAAAAA6"));
    let names: Vec<&str> = links.iter().map(|(l, _)| *l).collect();
    let mut r = Run::simple(&p, &names);
    r.wait_events(6).await;
    for (i, (l, _)) in links.iter().enumerate() {
        let m = r
            .messages()
            .into_iter()
            .find(|m| m.text == format!("hello {i}"))
            .cloned()
            .unwrap_or_else(|| panic!("no message for {l}"));
        assert_eq!(
            m.channel.as_deref(),
            Some(*l),
            "the linked string is the channel"
        );
        assert_eq!(m.streamer_id, SID);
        r.wait_status(l, state(ChannelState::Live)).await;
    }
    let ch = p.requests_to("channels");
    assert_eq!(ch.len(), 1, "a handle resolves once");
    assert_eq!(ch[0].param("forHandle"), Some("@handle.six"));
    let search = p.requests_to("search");
    assert_eq!(search.len(), 2);
    for s in &search {
        assert_eq!(s.param("part"), Some("id"));
        assert_eq!(s.param("eventType"), Some("live"));
        assert_eq!(s.param("type"), Some("video"));
    }
    let mut searched: Vec<&str> = search.iter().filter_map(|s| s.param("channelId")).collect();
    searched.sort();
    assert_eq!(searched, [chan, handle_chan]);
    r.stop().await;
}

#[tokio::test]
async fn a_channel_link_searches_reads_and_searches_again() {
    let p = YoutubePeer::start().await;
    let chan = "UCPsfM4vuu_FmjQXfWCHdh4g";
    let mut r = Run::simple(&p, &[chan]);
    let s = r.wait_status(chan, state(ChannelState::Idle)).await;
    assert_eq!(
        s.detail,
        "not live; checking for a live stream every 300 ms (search costs quota)"
    );
    assert!(
        p.wait_for(WAIT, |q| q.iter().filter(|r| r.path == "search").count()
            >= 3)
            .await
    );
    let g = gaps(&p.requests_to("search"));
    assert!(
        g.iter().all(|g| *g >= Duration::from_millis(290)),
        "searches too close: {g:?}"
    );

    p.set_video("liveVideo01", Video::Live("chatA".into()));
    p.push_page("chatA", vec![text_item("LCC.a1", "ann", "first stream")]);
    p.set_channel_live(chan, Some("liveVideo01"));
    r.wait_events(1).await;
    r.wait_status(chan, state(ChannelState::Live)).await;

    // The stream ends with 403 liveChatEnded: idle, then back to searching.
    p.set_channel_live(chan, None);
    p.set_video("liveVideo01", Video::Ended);
    p.end_chat("chatA", ChatEnd::Ended403);
    let s = r.wait_status(chan, state(ChannelState::Idle)).await;
    assert_eq!(
        s.detail,
        "stream ended; checking for a live stream every 300 ms (search costs quota)"
    );
    let searches = p.requests_to("search").len();
    r.wait_status(chan, |s| s.detail.starts_with("not live; "))
        .await;
    assert!(p.requests_to("search").len() > searches);

    // A second stream on the same channel.
    p.set_video("liveVideo02", Video::Live("chatB".into()));
    p.push_page("chatB", vec![text_item("LCC.b1", "bob", "second stream")]);
    p.set_channel_live(chan, Some("liveVideo02"));
    r.wait_events(2).await;
    assert_eq!(r.texts(), ["first stream", "second stream"]);
    // Every unit the peer counted, the connector counted.
    let m = r.metrics.clone();
    let same = || m.quota_used.load(std::sync::atomic::Ordering::Relaxed) == p.quota_used();
    let deadline = Instant::now() + WAIT;
    while !same() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        same(),
        "connector {} vs peer {}",
        m.quota_used.load(std::sync::atomic::Ordering::Relaxed),
        p.quota_used()
    );
    assert!(p.quota_used() >= 5 * 100, "searches cost 100 units each");
    r.stop().await;
}

#[tokio::test]
async fn a_failed_search_waits_the_search_interval_not_the_backoff() {
    // At 100 units a search, retrying it on the 30 ms backoff would cost 100 units a retry.
    let p = YoutubePeer::start().await;
    let chan = "UCPsfM4vuu_FmjQXfWCHdh4g";
    let e500: Value = serde_json::from_slice(&fixture("error_500.json")).unwrap();
    p.fault("search", Fault::Status(500, e500.clone()));
    p.fault("search", Fault::Status(500, e500));
    let mut r = Run::simple(&p, &[chan]);
    let s = r
        .wait_status(chan, |s| s.detail.starts_with("YouTube: "))
        .await;
    assert_eq!(p.requests_to("search").len(), 1);
    assert_eq!(s.state, ChannelState::Connecting);
    assert_eq!(
        s.detail,
        "YouTube: HTTP 500: Internal error encountered.; searching again in 300 ms (search costs quota)"
    );
    // Both failures and the success that follows, each one search interval after the last.
    let s = r
        .wait_status(chan, |s| s.detail.starts_with("not live; "))
        .await;
    assert_eq!(s.state, ChannelState::Idle);
    let searches = p.requests_to("search");
    assert_eq!(searches.len(), 3, "one search per interval");
    let g = gaps(&searches);
    assert!(
        g.iter().all(|g| *g >= Duration::from_millis(290)),
        "a failed search was retried within the search interval: {g:?}"
    );
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(r.metrics.reconnects.load(Relaxed), 2);
    assert_eq!(r.metrics.quota_used.load(Relaxed), 300);
    r.stop().await;
}

#[tokio::test]
async fn chat_pages_follow_next_page_token_and_take_the_history() {
    let p = YoutubePeer::start().await;
    p.set_video(VIDEO, Video::Live("chat".into()));
    // History before the connector starts: taken from the first page.
    p.push_page(
        "chat",
        vec![
            text_item("LCC.h1", "ann", "h1"),
            text_item("LCC.h2", "bob", "h2"),
        ],
    );
    let mut r = Run::simple(&p, &[VIDEO]);
    r.wait_events(2).await;
    for i in 0..4 {
        p.push_page(
            "chat",
            vec![text_item(&format!("LCC.n{i}"), "cat", &format!("n{i}"))],
        );
        r.wait_events(3 + i).await;
    }
    assert_eq!(r.texts(), ["h1", "h2", "n0", "n1", "n2", "n3"]);
    assert!(
        p.wait_for(WAIT, |q| q
            .iter()
            .any(|r| r.param("pageToken") == Some("p5")))
            .await
    );
    let reqs = p.requests_to("liveChat/messages");
    assert_eq!(reqs[0].param("pageToken"), None);
    assert_eq!(reqs[0].param("part"), Some("snippet,authorDetails"));
    assert_eq!(reqs[0].param("liveChatId"), Some("chat"));
    // After the first, every request continues from the last token: p1, then p2 once the
    // second page existed, … — never without a token, never going back.
    let mut last = 0;
    for q in &reqs[1..] {
        let t = q
            .param("pageToken")
            .expect("a pageToken after the first page");
        let n: usize = t.trim_start_matches('p').parse().unwrap();
        assert!(n >= last && n >= 1, "token {t} after p{last}");
        last = n;
    }
    assert_eq!(last, 5);
    // Nothing was read twice.
    assert_eq!(
        r.metrics
            .duplicates
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    r.stop().await;
}

#[tokio::test]
async fn the_poll_interval_is_the_larger_of_youtubes_and_the_floor() {
    // YouTube asks for 300 ms, the floor is 50 ms.
    let p = YoutubePeer::start().await;
    p.set_video(VIDEO, Video::Live("chat".into()));
    p.push_page("chat", vec![]);
    p.set_polling_interval(300);
    let r = Run::simple(&p, &[VIDEO]);
    assert!(
        p.wait_for(WAIT, |q| q
            .iter()
            .filter(|r| r.path.starts_with("liveChat"))
            .count()
            >= 4)
            .await
    );
    let g = gaps(&p.requests_to("liveChat/messages"));
    assert!(g.iter().all(|g| *g >= Duration::from_millis(290)), "{g:?}");
    r.stop().await;

    // YouTube asks for 10 ms, the floor is 250 ms.
    let p = YoutubePeer::start().await;
    p.set_video(VIDEO, Video::Live("chat".into()));
    p.push_page("chat", vec![]);
    p.set_polling_interval(10);
    let t = Timing {
        min_poll: Duration::from_millis(250),
        ..timing()
    };
    let r = Run::start(
        &p,
        &[VIDEO],
        BIG_QUOTA,
        t,
        Arc::new(SystemClock::default()),
        KEY,
    );
    assert!(
        p.wait_for(WAIT, |q| q
            .iter()
            .filter(|r| r.path.starts_with("liveChat"))
            .count()
            >= 4)
            .await
    );
    let g = gaps(&p.requests_to("liveChat/messages"));
    assert!(g.iter().all(|g| *g >= Duration::from_millis(240)), "{g:?}");
    r.stop().await;
}

#[tokio::test]
async fn polling_slows_down_so_the_quota_lasts_until_the_reset() {
    let p = YoutubePeer::start().await;
    p.set_video(VIDEO, Video::Live("chat".into()));
    p.push_page("chat", vec![text_item("LCC.1", "ann", "hi")]);
    p.set_polling_interval(10);
    // 100 units, 10 s before midnight Pacific: 19 lists must last 10 s → one every ~520 ms.
    let clock = clock_before_reset(10_000);
    let mut r = Run::start(&p, &[VIDEO], 100, timing(), clock, KEY);
    let s = r.wait_status(VIDEO, state(ChannelState::Live)).await;
    assert!(
        s.detail
            .contains("to make the quota last until midnight Pacific"),
        "{}",
        s.detail
    );
    assert!(
        s.detail.contains("quota today: 6 units used, 94 left"),
        "{}",
        s.detail
    );
    assert!(
        p.wait_for(WAIT, |q| q
            .iter()
            .filter(|r| r.path.starts_with("liveChat"))
            .count()
            >= 3)
            .await
    );
    let g = gaps(&p.requests_to("liveChat/messages"));
    assert!(g.iter().all(|g| *g >= Duration::from_millis(450)), "{g:?}");
    let used = r
        .metrics
        .quota_used
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        used >= 11 && used <= p.quota_used() + 5,
        "{used} vs peer {}",
        p.quota_used()
    );
    r.stop().await;
}

#[tokio::test]
async fn far_from_the_reset_the_quota_is_paced_over_the_span_not_the_whole_day() {
    let p = YoutubePeer::start().await;
    p.set_video(VIDEO, Video::Live("chat".into()));
    p.push_page("chat", vec![text_item("LCC.1", "ann", "hi")]);
    p.set_polling_interval(10);
    // 12 h before the reset, 1,000 units: over the default 6 h span, 199 lists left → one every
    // ~109 s (over the 12 h to the reset it would be ~217 s).
    let clock = clock_before_reset(12 * 3600 * 1000);
    let mut r = Run::start(&p, &[VIDEO], 1_000, timing(), clock, KEY);
    r.wait_events(1).await;
    let s = r.wait_status(VIDEO, state(ChannelState::Live)).await;
    assert!(
        s.detail
            .starts_with("reading chat every 109 s to make the quota last 6 h more; quota today: 6 units used, 994 left"),
        "{}",
        s.detail
    );
    r.stop().await;
}

#[tokio::test]
async fn quota_exceeded_stops_every_call_until_midnight_pacific() {
    let p = YoutubePeer::start().await;
    p.set_video(VIDEO, Video::Live("chat".into()));
    p.push_page("chat", vec![text_item("LCC.1", "ann", "before")]);
    p.set_polling_interval(10);
    // Google's quota ends after the first list (1 + 5 units); the reset is 1.5 s away.
    p.set_quota_limit(Some(6));
    let clock = clock_before_reset(1_500);
    let reset_at = next_pacific_midnight_ms(clock.now_ms());
    let reset_instant = Instant::now() + Duration::from_millis(reset_at - clock.now_ms());
    let mut r = Run::start(&p, &[VIDEO], BIG_QUOTA, timing(), clock, KEY);
    r.wait_events(1).await;
    let s = r.wait_status(VIDEO, state(ChannelState::Error)).await;
    assert_eq!(
        s.detail,
        format!(
            "YouTube quota for today is used up; chat resumes at {} UTC (midnight Pacific)",
            utc_hh_mm(reset_at)
        )
    );
    assert!(s.detail.ends_with("UTC (midnight Pacific)"));
    let refused_at = p.requests().last().unwrap().at;
    // Google's day starts again too; the connector must still wait for the reset.
    p.set_quota_limit(None);
    p.reset_quota();
    p.push_page("chat", vec![text_item("LCC.2", "ann", "after")]);
    r.wait_events(2).await;
    assert_eq!(r.texts(), ["before", "after"]);
    r.wait_status(VIDEO, state(ChannelState::Live)).await;
    let after: Vec<_> = p
        .requests()
        .into_iter()
        .filter(|q| q.at > refused_at)
        .collect();
    assert!(!after.is_empty());
    assert!(
        after[0].at + Duration::from_millis(30) >= reset_instant,
        "called {:?} before the reset",
        reset_instant - after[0].at
    );
    // The day's count started again at the reset.
    assert!(
        r.metrics
            .quota_used
            .load(std::sync::atomic::Ordering::Relaxed)
            < 100
    );
    r.stop().await;
}

#[tokio::test]
async fn errors_back_off_or_show_googles_message() {
    let p = YoutubePeer::start().await;
    p.require_key(KEY);
    p.set_video(VIDEO, Video::Live("chat".into()));
    p.push_page("chat", vec![text_item("LCC.1", "ann", "one")]);
    let e500: Value = serde_json::from_slice(&fixture("error_500.json")).unwrap();
    let rate: Value = serde_json::from_slice(&fixture("error_rateLimitExceeded.json")).unwrap();
    p.fault("liveChat", Fault::Status(500, e500));
    p.fault("liveChat", Fault::Status(403, rate));
    p.fault("liveChat", Fault::Status(429, serde_json::json!({})));
    p.fault(
        "liveChat",
        Fault::Status(503, serde_json::json!("unavailable")),
    );
    let mut r = Run::simple(&p, &[VIDEO]);
    r.wait_events(1).await;
    assert_eq!(
        r.metrics
            .reconnects
            .load(std::sync::atomic::Ordering::Relaxed),
        4
    );
    r.wait_status(VIDEO, state(ChannelState::Live)).await;

    // Anything else: an error with Google's own sentence, retried until it goes away.
    p.require_key("another key");
    let s = r.wait_status(VIDEO, state(ChannelState::Error)).await;
    assert_eq!(
        s.detail,
        "YouTube says: API key not valid. Please pass a valid API key."
    );
    p.require_key(KEY);
    p.push_page("chat", vec![text_item("LCC.2", "ann", "two")]);
    r.wait_events(2).await;
    r.wait_status(VIDEO, state(ChannelState::Live)).await;
    assert_eq!(r.texts(), ["one", "two"]);

    // 404 liveChatNotFound ends the stream.
    p.fault(
        "liveChat",
        Fault::Status(404, google_error(404, "liveChatNotFound", "gone")),
    );
    r.wait_status(VIDEO, |s| s.detail == "stream ended").await;
    r.stop().await;
}

#[tokio::test]
async fn slow_cut_and_garbled_answers_are_retried_without_loss() {
    let p = YoutubePeer::start().await;
    p.set_video(VIDEO, Video::Live("chat".into()));
    p.push_page(
        "chat",
        vec![
            text_item("LCC.1", "ann", "one"),
            text_item("LCC.2", "bob", "two"),
        ],
    );
    p.fault("liveChat", Fault::Slow(Duration::from_millis(1500)));
    p.fault("liveChat", Fault::Cut);
    p.fault("liveChat", Fault::Garbage);
    p.fault("videos", Fault::Cut);
    let mut r = Run::simple(&p, &[VIDEO]);
    r.wait_events(2).await;
    p.push_page("chat", vec![text_item("LCC.3", "cat", "three")]);
    p.fault("liveChat", Fault::Cut);
    r.wait_events(3).await;
    assert_eq!(r.texts(), ["one", "two", "three"]);
    let m = &r.metrics;
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(m.reconnects.load(Relaxed), 5);
    assert_eq!(m.parse_errors.load(Relaxed), 1);
    assert_eq!(m.duplicates.load(Relaxed), 0);
    // The slow answer was given up after the 400 ms timeout, not waited for.
    let chat = p.requests_to("liveChat/messages");
    assert!(
        chat[1].at - chat[0].at < Duration::from_millis(1400),
        "{:?}",
        chat[1].at - chat[0].at
    );
    r.stop().await;
}

#[tokio::test]
async fn without_a_key_every_channel_says_how_to_get_one() {
    let p = YoutubePeer::start().await;
    let mut r = Run::start(
        &p,
        &[VIDEO, "@someone"],
        BIG_QUOTA,
        timing(),
        Arc::new(SystemClock::default()),
        "",
    );
    for ch in [VIDEO, "@someone"] {
        let s = r.wait_status(ch, state(ChannelState::Error)).await;
        assert_eq!(s.detail, NO_KEY);
    }
    // A link added later too; a removed one is forgotten.
    r.links
        .send_replace(links_from(vec![link("UCPsfM4vuu_FmjQXfWCHdh4g")]));
    r.wait_status("UCPsfM4vuu_FmjQXfWCHdh4g", |s| s.detail == NO_KEY)
        .await;
    assert!(r.status.get(VIDEO).is_none());
    assert!(p.requests().is_empty());
    r.stop().await;
}

#[tokio::test]
async fn an_unlinked_channel_stops_being_polled() {
    let p = YoutubePeer::start().await;
    p.set_video(VIDEO, Video::Live("chat".into()));
    p.push_page("chat", vec![text_item("LCC.1", "ann", "one")]);
    let mut r = Run::simple(&p, &[VIDEO, "not a link!"]);
    r.wait_events(1).await;
    let s = r
        .wait_status("not a link!", state(ChannelState::Error))
        .await;
    assert!(
        s.detail.starts_with("not a YouTube stream or channel"),
        "{}",
        s.detail
    );
    r.links.send_replace(links_from(vec![]));
    let deadline = Instant::now() + WAIT;
    while !r.status.snapshot().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(r.status.snapshot().is_empty());
    // In flight at most one more request, then none.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let n = p.requests().len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(p.requests().len(), n);
    r.stop().await;
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_key_appears_only_as_the_key_parameter() {
    // The capturing subscriber is the process-wide default, not a thread-local one: `tracing`
    // caches each callsite's interest once for the whole process, computed against the
    // registering thread's subscriber, so a sibling test without a subscriber that reaches
    // `warn!("YouTube call failed")` first would silence it here (seen once in CI). It also
    // captures the other tests' logs, which must not hold the key either.
    let logs = Captured::default();
    let sub = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer({
            let l = logs.clone();
            move || l.clone()
        })
        .finish();
    tracing::subscriber::set_global_default(sub).expect("only this test sets the subscriber");

    let p = YoutubePeer::start().await;
    p.require_key(KEY);
    p.set_video(VIDEO, Video::Live("chat".into()));
    p.push_page("chat", fixture_items("list_types.json"));
    p.fault(
        "liveChat",
        Fault::Status(
            500,
            serde_json::json!({"error": {"code": 500,
        "message": format!("echo of the request: https://x/?key={KEY}")}}),
        ),
    );
    p.fault("liveChat", Fault::Cut);
    let mut r = Run::simple(&p, &[VIDEO]);
    r.wait_events(10).await;
    r.wait_status(VIDEO, state(ChannelState::Live)).await;
    p.require_key("another key");
    r.wait_status(VIDEO, state(ChannelState::Error)).await;
    p.set_quota_limit(Some(0));
    p.require_key(KEY);
    r.wait_status(VIDEO, |s| s.detail.contains("quota for today is used up"))
        .await;

    let mut outputs = vec![String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned()];
    outputs.extend(r.seen.iter().cloned());
    outputs.push(serde_json::to_string(&r.status.snapshot()).unwrap());
    outputs.push(serde_json::to_string(&r.metrics.snapshot()).unwrap());
    outputs.extend(
        r.events
            .iter()
            .map(|e| String::from_utf8(e.to_json()).unwrap()),
    );
    assert!(
        outputs[0].contains("YouTube call failed"),
        "the logs were captured: {}",
        outputs[0]
    );
    assert!(
        outputs[0].contains("key=<redacted>"),
        "the echoed key was scrubbed: {}",
        outputs[0]
    );
    for o in &outputs {
        assert!(!o.contains(KEY), "the key leaked into: {o}");
    }
    for q in p.requests() {
        assert_eq!(q.target.matches(KEY).count(), 1, "{}", q.target);
        assert_eq!(q.param("key"), Some(KEY));
        assert!(q
            .query
            .iter()
            .filter(|(k, _)| k != "key")
            .all(|(_, v)| !v.contains(KEY)));
        assert!(
            q.headers.iter().all(|h| !h.contains(KEY)),
            "{:?}",
            q.headers
        );
    }
    r.stop().await;
}

// ---------------------------------------------------------------- the real binary

fn status_of(c: &mut common::Client, channel: &str) -> (Value, Value) {
    let reply = c.request(br#"{"type":"status"}"#);
    assert_eq!(reply["ok"], true, "{reply}");
    let ch = reply["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["channel"] == channel)
        .cloned()
        .unwrap_or(Value::Null);
    (ch, reply["metrics"].clone())
}

fn wait_status_line(
    c: &mut common::Client,
    channel: &str,
    seen: &mut Vec<String>,
    f: impl Fn(&Value) -> bool,
) -> (Value, Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, m) = status_of(c, channel);
        seen.push(format!("{s} {m}"));
        if f(&s) {
            return (s, m);
        }
        assert!(Instant::now() < deadline, "status never matched; last {s}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_real_binary_reads_a_live_stream_and_sees_it_end() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let p = rt.block_on(YoutubePeer::start());
    p.require_key(KEY);
    p.set_video(VIDEO, Video::Scheduled);
    let seg = common::SegGuard::new("ingest");
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("ingest.log");
    let url = p.base_url();
    let child = common::ingest_command(&seg.name, "youtube", dir.path())
        .env("RUST_LOG", "debug")
        .env("CROSSCHAT_YOUTUBE_TEST_IDLE_RECHECK_MS", "100")
        .env("CROSSCHAT_YOUTUBE_TEST_BACKOFF_BASE_MS", "30")
        .args(["--youtube-api-key", KEY, "--youtube-api-url", &url])
        .args([
            "--youtube-daily-quota",
            "1000000000",
            "--youtube-min-poll-ms",
            "50",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("spawn ingest");
    let ing = common::Ingest {
        child,
        socket: dir.path().join("ingest-youtube.sock"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(&ing.socket).is_err() {
        assert!(Instant::now() < deadline, "ingest did not start serving");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut reader = Reader::claim(seg.open()).expect("claim the reader");
    let mut c = ing.client();
    let line = format!(
        r#"{{"type":"channels","channels":[{{"channel":"{VIDEO}","streamers":["{SID}"]}}]}}"#
    );
    let reply = c.request(line.as_bytes());
    assert_eq!(reply["ok"], true, "{reply}");
    let mut seen = vec![reply.to_string()];

    let (s, _) = wait_status_line(&mut c, VIDEO, &mut seen, |s| s["state"] == "idle");
    assert_eq!(
        s["detail"],
        "waiting for the stream to start (checked every 100 ms)"
    );

    // The stream starts: history with a member, then every kind of event.
    let mut items = fixture_items("list_page1.json");
    items.extend(fixture_items("list_types.json"));
    p.push_page("chat", items);
    p.set_video(VIDEO, Video::Live("chat".into()));
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while events.len() < 12 {
        assert!(Instant::now() < deadline, "got only {events:?}");
        reader.wait_for_data(Duration::from_millis(50));
        let end = reader.peek(256, |_, r| {
            events.push(SlotEvent::from_json(r.unwrap()).unwrap())
        });
        reader.commit(end);
    }
    let msgs: Vec<&ChatMessage> = events
        .iter()
        .filter_map(|e| match e {
            SlotEvent::Message(m) => Some(m),
            _ => None,
        })
        .collect();
    assert!(msgs
        .iter()
        .all(|m| m.streamer_id == SID && m.platform == Platform::YouTube));
    let member = msgs.iter().find(|m| m.user == "Member Mia").unwrap();
    assert!(member.is_sub && member.badges == ["member"]);
    let sc = msgs
        .iter()
        .find(|m| m.kind == Kind::Paid && m.user == "Brian Lough")
        .unwrap();
    assert!(sc.is_mod);
    assert_eq!(sc.amount.as_ref().unwrap().display, "€2.00");
    let deleted = events.iter().find_map(|e| match e {
        SlotEvent::Delete(d) => Some(d),
        _ => None,
    });
    assert_eq!(
        deleted.unwrap().target_id,
        member.id,
        "the member's message is marked deleted"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, SlotEvent::ClearUser(_)))
            .count(),
        2
    );

    let (s, m) = wait_status_line(&mut c, VIDEO, &mut seen, |s| s["state"] == "live");
    assert!(s["detail"].as_str().unwrap().contains("units used"), "{s}");
    assert!(m["quotaUsed"].as_u64().unwrap() >= 6, "{m}");
    assert!(s["lastMessageAt"].as_u64().is_some(), "{s}");

    // The stream ends.
    p.end_chat("chat", ChatEnd::Offline);
    p.set_video(VIDEO, Video::Ended);
    let (s, _) = wait_status_line(&mut c, VIDEO, &mut seen, |s| {
        s["state"] == "idle" && s["detail"] == "stream ended"
    });
    assert_eq!(s["channel"], VIDEO);

    drop(c);
    drop(ing);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains(KEY), "the key is in the log");
    for s in &seen {
        assert!(!s.contains(KEY), "the key is in a status reply: {s}");
    }
    for e in &events {
        assert!(!String::from_utf8(e.to_json()).unwrap().contains(KEY));
    }
}
