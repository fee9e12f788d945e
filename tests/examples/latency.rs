//! Whole-stack latency of a platform connector: a loopback peer speaking the platform's protocol
//! (Twitch: IRC `PRIVMSG` lines; Kick: Centrifugo pushes of `ChatMessageEvent`) writes chat at a
//! steady rate spread over many channels; the real `ingest` reads it, the real gateway persists it
//! (`--fsync cycle`) and pushes it to WebSocket subscribers. At the end one table row: sent,
//! received, lost, duplicated, and the added latency (peer write → frame read by the subscriber)
//! p50/p95/p99/max.
//!
//! ```text
//! scripts/latency                                   # Twitch, 1,000 msg/s over 100 channels, 10 s
//! scripts/latency --platform kick --channels 50 --rate 1000 --seconds 10
//! ```
//! (`scripts/latency` builds the release binaries and runs this example in release.) A streamer
//! links at most 50 channels, so the channels are spread over ⌈channels / 50⌉ streamers, each with
//! one dashboard subscriber. The JOIN rate limit is shortened with the connector's test-only
//! `CROSSCHAT_TWITCH_TEST_JOIN_WINDOW_MS` so that 100 channels join in a second, not 50 s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crosschat_tests::client::{next_of_type, User, Ws};
use crosschat_tests::peers::kick::{KickPeer, WsConn};
use crosschat_tests::peers::twitch::{Script, TwitchPeer};
use crosschat_tests::stack::Stack;
use serde_json::json;

/// Most channels one streamer may link (the gateway's limit).
const LINKS_PER_STREAMER: usize = 50;

struct Args {
    kick: bool,
    channels: usize,
    rate: u64,
    seconds: u64,
}

fn args() -> Args {
    let mut a = Args {
        kick: false,
        channels: 100,
        rate: 1000,
        seconds: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{flag} needs a number"))
        };
        if flag == "--platform" {
            a.kick = match it.next().as_deref() {
                Some("twitch") => false,
                Some("kick") => true,
                other => panic!("--platform twitch|kick, not {other:?}"),
            };
            continue;
        }
        match flag.as_str() {
            "--channels" => a.channels = value() as usize,
            "--rate" => a.rate = value(),
            "--seconds" => a.seconds = value(),
            other => panic!(
                "unknown flag {other}; use --platform twitch|kick --channels N --rate R --seconds S"
            ),
        }
    }
    a
}

/// What the subscribers saw: per message number, how often; and the latencies in µs.
#[derive(Default)]
struct Seen {
    count: HashMap<u64, u32>,
    latencies_us: Vec<u64>,
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}

async fn subscribe(mut ws: Ws, base: Instant, seen: Arc<Mutex<Seen>>) {
    while let Some(v) = next_of_type(&mut ws, "chat:message", Duration::from_secs(3600)).await {
        let now = base.elapsed().as_micros() as u64;
        let text = v["message"]["text"].as_str().unwrap_or("");
        let mut parts = text.split(' ');
        if parts.next() != Some("lat") {
            continue;
        }
        let (Some(n), Some(t)) = (
            parts.next().and_then(|s| s.parse::<u64>().ok()),
            parts.next().and_then(|s| s.parse::<u64>().ok()),
        ) else {
            continue;
        };
        let mut s = seen.lock().unwrap();
        *s.count.entry(n).or_default() += 1;
        s.latencies_us.push(now.saturating_sub(t));
    }
}

/// The platform side: where the driver writes chat.
enum Feed {
    Twitch(TwitchPeer),
    Kick {
        /// Each accepted websocket connection of the ingest.
        conns: Vec<WsConn>,
        /// Channel (slug) → (connection, chatroom id).
        route: HashMap<String, (usize, u64)>,
    },
}

/// A Kick chatroom id for channel number `i` (any distinct numbers do).
fn chatroom_of(i: usize) -> u64 {
    2_500_000 + i as u64
}

impl Feed {
    /// Writes message `n` (its text carries `n` and the write time) to `channel`; false when no
    /// connection reads that channel.
    async fn send(&self, n: u64, channel: &str, base: Instant) -> bool {
        let t = base.elapsed().as_micros();
        match self {
            Feed::Twitch(peer) => {
                let line = format!(
                    "@badge-info=;badges=;color=#1E90FF;display-name=Viewer{n};emotes=;flags=;id={};\
                     mod=0;room-id=1;subscriber=0;tmi-sent-ts=1700000000000;turbo=0;user-id={n};\
                     user-type= :viewer!viewer@viewer.tmi.twitch.tv PRIVMSG #{channel} :lat {n} {t}",
                    uuid::Uuid::new_v4()
                );
                peer.send_to_channel(channel, &line).is_some()
            }
            Feed::Kick { conns, route } => {
                let Some(&(conn, chatroom)) = route.get(channel) else {
                    return false;
                };
                let data = json!({
                    "id": uuid::Uuid::new_v4().to_string(),
                    "chatroom_id": chatroom,
                    "content": format!("lat {n} {t}"),
                    "type": "message",
                    "created_at": "2026-11-30T09:00:00+00:00",
                    "sender": {"id": n, "username": format!("viewer{n}"), "slug": format!("viewer{n}"),
                               "identity": {"color": "#FF9D00", "badges": []}},
                });
                let push = json!({"push": {"channel": format!("chatrooms.{chatroom}.v2"),
                    "pub": {"data": {"event": "App\\Events\\ChatMessageEvent",
                                     "data": data.to_string(), "tags": {}}, "offset": n + 1}}});
                conns[conn].send(push.to_string()).await;
                true
            }
        }
    }

    fn connections(&self) -> usize {
        match self {
            Feed::Twitch(peer) => peer.connections(),
            Feed::Kick { conns, .. } => conns.len(),
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    // The ingest inherits it: 20 JOINs per 100 ms instead of per 10 s.
    std::env::set_var("CROSSCHAT_TWITCH_TEST_JOIN_WINDOW_MS", "100");
    let (platform, label) = if a.kick {
        ("kick", "Kick")
    } else {
        ("twitch", "Twitch")
    };
    let mut twitch = None;
    let mut kick = None;
    let ingest_args = if a.kick {
        let peer = KickPeer::start().await.expect("the Kick peer starts");
        let flags = vec![
            "--kick-web-url".into(),
            peer.web_url.clone(),
            "--kick-realtime-api-url".into(),
            peer.api_url.clone(),
        ];
        kick = Some(peer);
        flags
    } else {
        let peer = TwitchPeer::start(Script::default()).await;
        let flags = vec!["--twitch-irc-url".into(), peer.irc_url()];
        twitch = Some(peer);
        flags
    };
    let stack = Stack::start_with(&[(platform, ingest_args)]);
    let channels: Vec<String> = (0..a.channels).map(|i| format!("latency{i:04}")).collect();
    let streamers = a.channels.div_ceil(LINKS_PER_STREAMER);
    let base = Instant::now();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut users = Vec::new();
    for s in 0..streamers {
        let u = User::register(&stack.base_url, &format!("latency{s}"));
        for (i, ch) in channels
            .iter()
            .enumerate()
            .skip(s * LINKS_PER_STREAMER)
            .take(LINKS_PER_STREAMER)
        {
            // Kick: the ids pasted, as a streamer does when Cloudflare blocks the lookup.
            let body = if a.kick {
                json!({ "platform": platform, "channel": ch,
                        "chatroomId": chatroom_of(i), "channelId": 9_000_000 + i as u64 })
            } else {
                json!({ "platform": platform, "channel": ch })
            };
            let (status, body) = u.post("/api/channels", body);
            assert_eq!(status, 201, "linking {ch}: {body}");
        }
        let (ws, first) = u.join(&u.id, None).await;
        assert_eq!(first["type"], "joined");
        tokio::spawn(subscribe(ws, base, seen.clone()));
        users.push(u);
    }
    let feed = if let Some(peer) = twitch {
        let wanted = channels.clone();
        peer.wait(Duration::from_secs(60), "every channel joined", move |p| {
            let joined: Vec<String> = (0..p.connections()).flat_map(|c| p.joined(c)).collect();
            wanted.iter().all(|c| joined.iter().any(|j| j == c))
        })
        .await;
        Feed::Twitch(peer)
    } else {
        let peer = kick.expect("a Kick peer");
        let by_feed: HashMap<String, (String, u64)> = channels
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    format!("chatrooms.{}.v2", chatroom_of(i)),
                    (c.clone(), chatroom_of(i)),
                )
            })
            .collect();
        let mut conns = Vec::new();
        let mut route = HashMap::new();
        while route.len() < channels.len() {
            let mut conn = peer
                .accept(Duration::from_secs(60))
                .await
                .expect("the ingest connects to the Kick feed");
            conn.centrifugo_connect(json!({})).await;
            for feed_name in conn
                .centrifugo_subscribes(channels.len() - route.len())
                .await
            {
                if let Some((slug, chatroom)) = by_feed.get(&feed_name) {
                    route.insert(slug.clone(), (conns.len(), *chatroom));
                }
            }
            conns.push(conn);
        }
        Feed::Kick { conns, route }
    };
    let connections = feed.connections();

    // Warm-up: one message per channel, all received, before the clock starts.
    for (i, ch) in channels.iter().enumerate() {
        feed.send(u64::MAX / 2 + i as u64, ch, base).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.lock().unwrap().count.len() < channels.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let warmed = seen.lock().unwrap().count.len();
    assert_eq!(warmed, channels.len(), "the warm-up messages arrived");
    *seen.lock().unwrap() = Seen::default();

    let total = a.rate * a.seconds;
    let start = Instant::now();
    let mut n = 0u64;
    let mut unroutable = 0u64;
    while n < total {
        let due = ((start.elapsed().as_secs_f64() * a.rate as f64) as u64).min(total);
        while n < due {
            let ch = &channels[(n as usize) % channels.len()];
            if !feed.send(n, ch, base).await {
                unroutable += 1;
            }
            n += 1;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let sent_for = start.elapsed();
    let drain = Instant::now() + Duration::from_secs(10);
    while (seen.lock().unwrap().count.len() as u64) < total && Instant::now() < drain {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut s = std::mem::take(&mut *seen.lock().unwrap());
    s.latencies_us.sort_unstable();
    let received = s.count.len() as u64;
    let duplicated: u64 = s
        .count
        .values()
        .map(|&c| u64::from(c.saturating_sub(1)))
        .sum();
    println!(
        "| platform | channels | feed connections | rate msg/s | sent | received | lost | duplicated | p50 ms | p95 ms | p99 ms | max ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {label} | {} | {connections} | {:.0} | {total} | {received} | {} | {duplicated} | {:.2} | {:.2} | {:.2} | {:.2} |",
        a.channels,
        total as f64 / sent_for.as_secs_f64(),
        total - received,
        pct(&s.latencies_us, 0.50),
        pct(&s.latencies_us, 0.95),
        pct(&s.latencies_us, 0.99),
        pct(&s.latencies_us, 1.0),
    );
    if unroutable > 0 {
        println!("{unroutable} messages had no open connection reading their channel");
    }
    drop(users);
    drop(stack);
    if received < total || duplicated > 0 {
        std::process::exit(1);
    }
}
