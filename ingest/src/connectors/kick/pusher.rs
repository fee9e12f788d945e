//! One session of the legacy Pusher feed (`--kick-protocol pusher`): wait for
//! `pusher:connection_established`, send `pusher:subscribe` for each feed of each linked channel
//! ([`super::feed::feeds_of`]), confirm on `pusher_internal:subscription_succeeded`, answer `pusher:ping` with
//! `pusher:pong` (and ping an idle server), map `App\Events\*`. `pusher:error` codes (and close
//! codes): 4000–4099 do not reconnect, 4100–4199 back off, 4200–4299 reconnect at once.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use super::centrifugo::{open, MAX_LINE};
use super::feed::{
    deliver, feed_confirmed, feed_joining, parse_error, ConnGuard, End, FeedRole, Subs,
};
use super::map::{AppEvent, RawData};
use super::{Resolved, Timing};
use crate::connectors::{Backoff, ChannelState, ConnectorCtx};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Extra time, after an idle `activity_timeout` and our ping, before the connection is dead.
const PONG_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow, default)]
    data: RawData<'a>,
    #[serde(borrow, default)]
    channel: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Established {
    #[serde(default)]
    activity_timeout: Option<u64>,
}

#[derive(Deserialize)]
struct PusherError<'a> {
    #[serde(default)]
    code: Option<u32>,
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
}

/// One Pusher frame, decoded: what the session acts on.
#[derive(Debug)]
pub enum Incoming<'a> {
    /// `pusher:connection_established`, with the server's `activity_timeout` (s) when it gives one.
    Established {
        /// Idle seconds after which the client should ping.
        activity_timeout: Option<u64>,
    },
    /// `pusher:ping`: answer `pusher:pong`.
    Ping,
    /// `pusher:pong`.
    Pong,
    /// `pusher_internal:subscription_succeeded`: the feed it confirms (empty when it names none).
    Subscribed {
        /// The feed name.
        feed: Cow<'a, str>,
    },
    /// `pusher:error`: its code, and its message without control characters, at most 80 of them.
    Error {
        /// The code (see [`classify`]).
        code: Option<u32>,
        /// The message.
        message: String,
    },
    /// Anything else: an `App\Events\*` event of a feed.
    Event {
        /// The feed (`chatrooms.<id>.v2`), empty when the frame names none.
        feed: Cow<'a, str>,
        /// The event.
        event: AppEvent<'a>,
    },
}

/// Decodes one text frame (the session does nothing else with the bytes; fuzzing calls it too).
pub fn decode(text: &str) -> Result<Incoming<'_>, serde_json::Error> {
    let f: Frame = serde_json::from_str(text)?;
    Ok(match f.event.as_ref() {
        "pusher:connection_established" => Incoming::Established {
            activity_timeout: parse_data::<Established>(&f.data).and_then(|e| e.activity_timeout),
        },
        "pusher:ping" => Incoming::Ping,
        "pusher:pong" => Incoming::Pong,
        "pusher_internal:subscription_succeeded" => Incoming::Subscribed {
            feed: f.channel.unwrap_or_default(),
        },
        "pusher:error" => {
            let e = parse_data::<PusherError>(&f.data);
            Incoming::Error {
                code: e.as_ref().and_then(|e| e.code),
                message: e
                    .as_ref()
                    .and_then(|e| e.message.as_deref())
                    .unwrap_or("")
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(80)
                    .collect(),
            }
        }
        _ => Incoming::Event {
            feed: f.channel.unwrap_or_default(),
            event: AppEvent {
                event: f.event,
                data: f.data,
            },
        },
    })
}

/// What a Pusher error or close code asks for.
pub fn classify(code: u32, why: String) -> End {
    match code {
        4000..=4099 => End::Fatal(why),
        4200..=4299 => End::Now(why),
        _ => End::Ordinary(why),
    }
}

fn parse_data<'s, T: Deserialize<'s>>(d: &'s RawData<'_>) -> Option<T> {
    match d {
        RawData::Str(s) => serde_json::from_str(s).ok(),
        RawData::Json(v) => T::deserialize(v).ok(),
        RawData::None => None,
    }
}

async fn send(ws: &mut Ws, v: serde_json::Value) -> Result<(), End> {
    ws.send(Message::text(v.to_string()))
        .await
        .map_err(|e| End::Ordinary(format!("the chat connection failed ({e})")))
}

/// Runs one session until it ends.
pub async fn session(
    ctx: &ConnectorCtx,
    t: &Timing,
    resolved: &mut watch::Receiver<Resolved>,
    backoff: &mut Backoff,
) -> End {
    let set = resolved.borrow_and_update().clone();
    for slug in set.keys() {
        ctx.status.set(
            slug,
            ChannelState::Connecting,
            "connecting to Kick's chat (Pusher)",
        );
    }
    let mut ws = match open(&ctx.endpoints.kick_pusher_url).await {
        Ok(ws) => ws,
        Err(e) => return End::Ordinary(e),
    };
    let _guard = ConnGuard::new(ctx);
    let mut subs = Subs::default();
    let mut idle = t.silence.unwrap_or(Duration::from_secs(120));
    let mut established = false;
    let mut last_rx = Instant::now();
    let mut pinged = false;
    // Until established, wait at most the subscribe timeout.
    let mut limit = t.subscribe_timeout;
    loop {
        let deadline = subs.next_deadline();
        tokio::select! {
            msg = ws.next() => {
                last_rx = Instant::now();
                pinged = false;
                let text = match msg {
                    None => return End::Ordinary("Kick closed the chat connection".into()),
                    Some(Err(e)) => return End::Ordinary(format!("the chat connection failed ({e})")),
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(Some(f)))) => {
                        let code = u16::from(f.code);
                        return classify(code.into(), format!("Kick closed the chat connection (code {code})"));
                    }
                    Some(Ok(Message::Close(None))) => return End::Ordinary("Kick closed the chat connection".into()),
                    Some(Ok(Message::Binary(_))) => { parse_error(ctx, "a binary frame on the JSON feed"); continue; }
                    Some(Ok(_)) => continue,
                };
                if text.len() > MAX_LINE {
                    parse_error(ctx, "an oversized frame");
                    continue;
                }
                let f = match decode(text.as_str()) {
                    Ok(f) => f,
                    Err(e) => { parse_error(ctx, &format!("a frame that does not parse ({e})")); continue; }
                };
                match f {
                    Incoming::Established { activity_timeout } => {
                        established = true;
                        backoff.connected();
                        if t.silence.is_none() {
                            let secs = activity_timeout.unwrap_or(120);
                            idle = Duration::from_secs(secs.clamp(5, 600));
                        }
                        limit = idle;
                        let current = resolved.borrow().clone();
                        if let Err(e) = sync(ctx, t, &mut ws, &mut subs, &current).await { return e; }
                    }
                    Incoming::Ping => {
                        if let Err(e) = send(&mut ws, serde_json::json!({"event": "pusher:pong", "data": {}})).await { return e; }
                    }
                    Incoming::Pong => {}
                    Incoming::Subscribed { feed } => {
                        if let Some(sub) = subs.confirm(&feed) {
                            feed_confirmed(ctx, sub);
                        }
                    }
                    Incoming::Error { code, message: msg } => {
                        match code {
                            Some(code) => return classify(code, format!("Kick's Pusher feed sent error {code} ({msg})")),
                            None => tracing::warn!(platform = "kick", "Pusher error without a code: {msg}"),
                        }
                    }
                    Incoming::Event { feed, event } => {
                        match subs.slug_of(&feed).map(str::to_owned) {
                            Some(slug) => deliver(ctx, &slug, &event).await,
                            None => { ctx.metrics.skipped.fetch_add(1, std::sync::atomic::Ordering::Relaxed); }
                        }
                    }
                }
            }
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(last_rx + limit + if pinged { PONG_TIMEOUT.min(limit) } else { Duration::ZERO })) => {
                if !established {
                    return End::Ordinary("Kick's Pusher feed did not greet the connection".into());
                }
                if pinged {
                    return End::Ordinary(format!("Kick's chat went silent for {} s", (limit + PONG_TIMEOUT.min(limit)).as_secs().max(1)));
                }
                pinged = true;
                if let Err(e) = send(&mut ws, serde_json::json!({"event": "pusher:ping", "data": {}})).await { return e; }
            }
            _ = async { match deadline { Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await, None => std::future::pending().await } } => {
                for (feed, slug, role) in subs.retry_overdue(ctx, Instant::now()) {
                    if let Err(e) = subscribe(t, &mut ws, &mut subs, &feed, &slug, role).await { return e; }
                }
            }
            r = resolved.changed() => {
                if r.is_err() { return End::Stopped; }
                let set = resolved.borrow_and_update().clone();
                if set.is_empty() {
                    let _ = ws.close(None).await;
                    return End::Now("no Kick channel is linked any more".into());
                }
                if established {
                    if let Err(e) = sync(ctx, t, &mut ws, &mut subs, &set).await { return e; }
                }
            }
            _ = ctx.stopped() => {
                let _ = ws.close(None).await;
                return End::Stopped;
            }
        }
    }
}

async fn subscribe(
    t: &Timing,
    ws: &mut Ws,
    subs: &mut Subs,
    feed: &str,
    slug: &str,
    role: FeedRole,
) -> Result<(), End> {
    subs.sent(feed, slug, role, t.subscribe_timeout);
    send(
        ws,
        serde_json::json!({"event": "pusher:subscribe", "data": {"auth": "", "channel": feed}}),
    )
    .await
}

async fn sync(
    ctx: &ConnectorCtx,
    t: &Timing,
    ws: &mut Ws,
    subs: &mut Subs,
    set: &Resolved,
) -> Result<(), End> {
    let (add, remove) = subs.plan(set);
    for feed in remove {
        subs.map.remove(&feed);
        send(
            ws,
            serde_json::json!({"event": "pusher:unsubscribe", "data": {"channel": feed}}),
        )
        .await?;
    }
    for (feed, slug, role) in add {
        feed_joining(ctx, &slug, role);
        subscribe(t, ws, subs, &feed, &slug, role).await?;
    }
    Ok(())
}
