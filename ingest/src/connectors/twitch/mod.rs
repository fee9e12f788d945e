//! The Twitch connector: reads every linked channel's chat over anonymous Twitch IRC (TMI), so a
//! streamer needs no token and no app registration.
//!
//! - [`parse`]: one IRC line → tags, prefix, command, parameters (borrowed, no allocation);
//! - [`map`]: PRIVMSG / USERNOTICE / CLEARMSG / CLEARCHAT → messages and moderation events;
//! - [`transport`]: `irc://`, `ircs://` (rustls, bundled roots), `ws://`, `wss://`;
//! - [`conn`]: one connection of up to 90 channels: handshake, paced and confirmed JOINs,
//!   PING/PONG, RECONNECT with overlap, reconnect with backoff;
//! - [`timing`]: intervals and limits ([`Timing`]), the shared JOIN rate limiter;
//! - this module: the pool — spreads the linked channels over connections and follows link
//!   changes.

pub mod conn;
pub mod map;
pub mod parse;
pub mod timing;
pub mod transport;

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::ConnectorCtx;
use conn::{Cmd, Conn};
pub use timing::{JoinLimiter, Timing};

/// Orders queued per connection (link changes are rare; a full queue waits).
const CMD_QUEUE: usize = 256;

struct Handle {
    tx: mpsc::Sender<Cmd>,
    channels: BTreeSet<String>,
}

/// Reads every linked Twitch channel until shutdown, with Twitch's timings (or the test-only
/// `CROSSCHAT_TWITCH_TEST_*_MS` overrides, see [`Timing::from_env`]).
pub async fn run(ctx: ConnectorCtx) {
    run_with(ctx, Timing::from_env()).await
}

/// [`run`] with explicit timings (tests).
pub async fn run_with(ctx: ConnectorCtx, timing: Timing) {
    let timing = Arc::new(timing);
    let limiter = Arc::new(JoinLimiter::new(
        timing.joins_per_window,
        timing.join_window,
    ));
    // Dropping the set (a panic restart of this task) aborts every connection with it.
    let mut tasks = JoinSet::new();
    let mut conns: Vec<Handle> = Vec::new();
    let mut links = ctx.links.clone();
    loop {
        let wanted: BTreeSet<String> = links.borrow_and_update().keys().cloned().collect();
        ctx.status.retain(|c| wanted.contains(c));
        // Leave what is no longer linked.
        for h in conns.iter_mut() {
            let gone: Vec<String> = h.channels.difference(&wanted).cloned().collect();
            for c in gone {
                h.channels.remove(&c);
                let _ = h.tx.send(Cmd::Part(c)).await;
            }
        }
        let have: BTreeSet<String> = conns
            .iter()
            .flat_map(|h| h.channels.iter().cloned())
            .collect();
        // Join the new ones: on a connection with room, else on new connections of up to
        // `channels_per_connection` each, started with their whole set.
        let mut new_sets: Vec<BTreeSet<String>> = Vec::new();
        for c in wanted.difference(&have) {
            let per = timing.channels_per_connection.max(1);
            if let Some(h) = conns.iter_mut().find(|h| h.channels.len() < per) {
                h.channels.insert(c.clone());
                let _ = h.tx.send(Cmd::Join(c.clone())).await;
            } else if let Some(set) = new_sets.last_mut().filter(|s| s.len() < per) {
                set.insert(c.clone());
            } else {
                new_sets.push(BTreeSet::from([c.clone()]));
            }
        }
        // A connection left without channels is closed (its task ends when its queue closes).
        conns.retain(|h| !h.channels.is_empty());
        for set in new_sets {
            let (tx, rx) = mpsc::channel(CMD_QUEUE);
            let conn = Conn::new(
                ctx.clone(),
                timing.clone(),
                limiter.clone(),
                set.clone(),
                rx,
            );
            tasks.spawn(conn.run());
            conns.push(Handle { tx, channels: set });
        }
        tokio::select! {
            r = links.changed() => if r.is_err() { break },
            _ = ctx.stopped() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    // Let connections close politely, bounded by the supervisor's own grace.
    drop(conns);
    while tasks.join_next().await.is_some() {}
}
