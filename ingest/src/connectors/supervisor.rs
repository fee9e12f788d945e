//! Runs the platform's connector task and restarts it when it panics: a bug triggered by one
//! strange line costs a reconnect, never the process (the producer socket keeps serving).

use std::sync::atomic::Ordering::Relaxed;

use super::{run_connector, Backoff, ChannelState, ConnectorCtx};

/// Runs the connector until shutdown, restarting it after a panic (with backoff).
pub async fn supervise(ctx: ConnectorCtx) {
    let mut backoff = Backoff::default();
    loop {
        let mut task = tokio::spawn(run_connector(ctx.clone()));
        // The healthy-minute clock starts with the task: one that ran a minute before it
        // panicked restarts after the first delay again.
        backoff.connected();
        let result = tokio::select! {
            r = &mut task => r,
            _ = ctx.stopped() => {
                // Give the connector a moment to close its connections politely.
                if tokio::time::timeout(std::time::Duration::from_secs(2), &mut task).await.is_err() {
                    task.abort();
                }
                return;
            }
        };
        if ctx.is_stopping() {
            return;
        }
        let delay = backoff.next_delay();
        match result {
            Ok(()) => tracing::warn!(
                platform = %ctx.platform,
                "the connector stopped by itself; restarting it in {} ms",
                delay.as_millis()
            ),
            Err(e) if e.is_panic() => {
                ctx.metrics.panics.fetch_add(1, Relaxed);
                tracing::error!(
                    platform = %ctx.platform,
                    "the connector panicked; restarting it in {} ms (the producer socket keeps serving)",
                    delay.as_millis()
                );
                let links = ctx.links.borrow().clone();
                for channel in links.keys() {
                    ctx.status.set(
                        channel,
                        ChannelState::Connecting,
                        format!(
                            "restarting after an internal error (reconnecting in {} s)",
                            delay.as_secs().max(1)
                        ),
                    );
                }
            }
            Err(_) => return, // cancelled
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = ctx.stopped() => return,
        }
    }
}
