//! The reconnect loop around a session of the feed (Centrifugo or Pusher): runs one session
//! after another, waiting between them as the way the last one ended asks, and says so in every
//! channel's state.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::sync::watch;
use uuid::Uuid;

use super::feed::{human, secs, End};
use super::{centrifugo, pusher, Resolved, Timing};
use crate::connectors::endpoints::KickProtocol;
use crate::connectors::{backoff, Backoff, ChannelState, ConnectorCtx};

/// Runs sessions until shutdown, waiting between them as their end asks.
pub async fn run_feed(ctx: &ConnectorCtx, t: &Timing, mut resolved: watch::Receiver<Resolved>) {
    let mut backoff = Backoff::new(t.backoff_base, backoff::MAX);
    let mut client_id = Uuid::new_v4();
    let mut quick = 0u32;
    loop {
        if ctx.is_stopping() {
            return;
        }
        let set = resolved.borrow_and_update().clone();
        if set.is_empty() {
            tokio::select! {
                r = resolved.changed() => if r.is_err() { return },
                _ = ctx.stopped() => return,
            }
            continue;
        }
        let end = match ctx.endpoints.kick_protocol {
            KickProtocol::Centrifugo => {
                centrifugo::session(ctx, t, &mut resolved, client_id, &mut backoff).await
            }
            KickProtocol::Pusher => pusher::session(ctx, t, &mut resolved, &mut backoff).await,
        };
        if !matches!(end, End::Now(_)) {
            quick = 0;
        }
        let (state, detail, wait) = match end {
            End::Stopped => return,
            End::Ordinary(why) => {
                let d = backoff.next_delay();
                let s = format!(
                    "{why}; reconnecting in {} s (attempt {})",
                    secs(d),
                    backoff.attempt()
                );
                (ChannelState::Connecting, s, Some(d))
            }
            End::Now(why) => {
                quick += 1;
                let d = if quick <= 3 {
                    Duration::ZERO
                } else {
                    backoff.next_delay()
                };
                (
                    ChannelState::Connecting,
                    format!("{why}; reconnecting now"),
                    Some(d),
                )
            }
            End::Terminal(why) => {
                client_id = Uuid::new_v4();
                backoff.reset();
                let s = format!(
                    "{why}; waiting {} before starting over with a new connection id",
                    human(t.terminal_wait)
                );
                (ChannelState::Error, s, Some(t.terminal_wait))
            }
            End::Fatal(why) => (
                ChannelState::Error,
                format!("{why}; not reconnecting until the channel is linked again"),
                None,
            ),
        };
        tracing::warn!(platform = "kick", "{detail}");
        ctx.metrics
            .reconnects
            .fetch_add(u64::from(wait.is_some()), Relaxed);
        for slug in resolved.borrow().keys() {
            ctx.status.set(slug, state, detail.clone());
        }
        match wait {
            Some(d) => {
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = ctx.stopped() => return,
                }
            }
            None => {
                // Fatal: wait for a change of the channel set (a new link is a new try).
                tokio::select! {
                    r = resolved.changed() => if r.is_err() { return },
                    _ = ctx.stopped() => return,
                }
            }
        }
    }
}
