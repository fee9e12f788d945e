//! One task per platform keeps that platform's ingest in step with the links: it connects to the
//! ingest's producer socket, sends the whole set (`{"type":"channels",…}`) on every connect and
//! on every change, asks for the states (`{"type":"status"}`) every second, and pushes a
//! `channel:status` frame to each linking streamer's room when a state changes. Without an ingest
//! every linked channel of the platform is `error` with [`super::not_running`]. Either process
//! may restart at any time, in any order: the next connect sends the whole set again.

use std::sync::Arc;
use std::time::Duration;

use shm_layout::Platform;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::ingests::socket_path;
use crate::state::AppState;
use shm_layout::protocol::{ChannelState, ChannelStatus, Control, StatusReply};

/// How often the states are asked for.
pub const POLL: Duration = Duration::from_secs(1);
/// How long one exchange may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the sync of `platform` until the gateway stops.
pub async fn run(state: Arc<AppState>, platform: Platform) {
    let mut stop = state.shutdown.subscribe();
    let mut warned = false;
    loop {
        if *stop.borrow() {
            return;
        }
        let path = socket_path(&state.runtime_dir, platform);
        match UnixStream::connect(&path).await {
            Ok(stream) => {
                warned = false;
                tracing::info!(platform = %platform, "linked channels: connected to the ingest");
                if let Err(e) = session(&state, platform, stream, &mut stop).await {
                    tracing::info!(platform = %platform, error = %e, "linked channels: the ingest connection ended");
                }
            }
            Err(e) => {
                if !warned {
                    tracing::info!(platform = %platform, error = %e, "linked channels: no ingest running for this platform (retrying every second)");
                    warned = true;
                }
            }
        }
        mark_not_running(&state, platform);
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = state.channels.wait_links_changed(platform) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

async fn session(
    state: &Arc<AppState>,
    platform: Platform,
    stream: UnixStream,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    let mut send_links = true;
    loop {
        let control = if send_links {
            Control::Channels {
                channels: state.store.channels().for_platform(platform),
            }
        } else {
            Control::Status
        };
        let line = serde_json::to_string(&control).expect("a control line serialises");
        send_links = false;
        let exchange = async {
            w.write_all(line.as_bytes()).await?;
            w.write_all(b"\n").await?;
            lines.next_line().await
        };
        let reply = match tokio::time::timeout(EXCHANGE_TIMEOUT, exchange).await {
            Ok(Ok(Some(l))) => l,
            Ok(Ok(None)) => return Err(std::io::Error::other("the ingest closed the socket")),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(std::io::Error::other("the ingest did not answer in time")),
        };
        match serde_json::from_str::<StatusReply>(&reply) {
            Ok(r) if r.ok => apply(state, platform, r).await,
            Ok(r) => {
                tracing::warn!(platform = %platform, error = r.error.unwrap_or_default(), "the ingest refused the channel sync")
            }
            Err(e) => {
                tracing::warn!(platform = %platform, error = %e, "the ingest's status reply does not parse")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = state.channels.wait_links_changed(platform) => send_links = true,
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
    }
}

async fn apply(state: &Arc<AppState>, platform: Platform, reply: StatusReply) {
    state.channels.set_metrics(platform, reply.metrics);
    for s in reply.channels {
        // Reported every second: only a link still without ids costs a write (off the reactor).
        if let (Some(room), Some(chan)) = (s.chatroom_id, s.channel_id) {
            if state.store.channels().lacks_ids(platform, &s.channel) {
                let st = state.clone();
                let channel = s.channel.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    st.store
                        .channels()
                        .cache_ids(platform, &channel, room, chan)
                })
                .await;
            }
        }
        let channel = s.channel.clone();
        if state.channels.update(platform, s) {
            publish(state, platform, &channel);
        }
    }
}

/// Pushes the channel's view to every room that links it.
pub fn publish(state: &AppState, platform: Platform, channel: &str) {
    let view = state.channels.view(platform, channel, 0);
    let frame = crate::realtime::frames::channel_status_frame(&view);
    for streamer in state.store.channels().streamers_of(platform, channel) {
        state.rooms.publish(streamer, std::slice::from_ref(&frame));
    }
}

fn mark_not_running(state: &AppState, platform: Platform) {
    state.channels.clear_metrics(platform);
    let now = shm_layout::now_ms();
    for l in state.store.channels().for_platform(platform) {
        let s = ChannelStatus {
            channel: l.channel.clone(),
            state: ChannelState::Error,
            detail: super::not_running(platform),
            since: now,
            last_message_at: None,
            chatroom_id: None,
            channel_id: None,
        };
        if state.channels.update(platform, s) {
            publish(state, platform, &l.channel);
        }
    }
}
