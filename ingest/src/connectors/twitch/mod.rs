//! The twitch connector (work in progress: see its issue).

use super::{ChannelState, ConnectorCtx};

/// Reads every linked twitch channel until shutdown.
pub async fn run(ctx: ConnectorCtx) {
    let mut links = ctx.links.clone();
    loop {
        for channel in links.borrow_and_update().keys() {
            ctx.status.set(
                channel,
                ChannelState::Error,
                "this platform's connector is not built yet",
            );
        }
        tokio::select! {
            r = links.changed() => if r.is_err() { return },
            _ = ctx.stopped() => return,
        }
    }
}
