//! Platform connectors: read the chat of every channel linked for this process's platform and
//! write it into the ring. Each platform is one module that speaks only its protocol; what they
//! share lives here:
//! - [`link`]: the linked channels the gateway sends down ([`Link`], [`Links`]);
//! - [`status`]: per-channel state (`connecting`/`live`/`idle`/`error`, a sentence, times);
//! - [`sink`]: dedupe (bounded LRU of ids), fan-out to every streamer that linked a channel, and
//!   the ring write with retries instead of loss;
//! - [`dedupe`]: the bounded, time-limited id set;
//! - [`civil_time`]: RFC 3339 timestamps and civil dates, without a date crate;
//! - [`backoff`]: reconnect delays (1 s doubling to 60 s, jitter, reset after a healthy minute);
//! - [`metrics`]: per-platform counters reported to the gateway;
//! - [`endpoints`]: the outside endpoints and secrets, from flags;
//! - [`supervisor`]: runs the platform's connector task and restarts it after a panic;
//! - one module per platform: [`twitch`], [`kick`], [`youtube`].

pub mod backoff;
pub mod civil_time;
pub mod dedupe;
pub mod endpoints;
pub mod kick;
pub mod link;
pub mod metrics;
pub mod sink;
pub mod status;
pub mod supervisor;
pub mod twitch;
pub mod youtube;

use std::sync::Arc;

use shm_layout::Platform;
use tokio::sync::watch;

pub use backoff::Backoff;
pub use dedupe::Dedupe;
pub use endpoints::{Endpoints, Secret};
pub use link::{Link, Links};
pub use metrics::ConnectorMetrics;
pub use sink::Sink;
pub use status::{ChannelState, ChannelStatus, StatusBoard};

/// Everything a connector task gets. Cheap to clone: the supervisor hands a clone to each
/// (re)start of the connector.
#[derive(Clone)]
pub struct ConnectorCtx {
    /// The platform served.
    pub platform: Platform,
    /// The channels to read; changes whenever the gateway sends a new set.
    pub links: watch::Receiver<Links>,
    /// Where normalised messages and moderation events go.
    pub sink: Sink,
    /// Where channel states are reported.
    pub status: StatusBoard,
    /// Counters reported to the gateway.
    pub metrics: Arc<ConnectorMetrics>,
    /// Outside endpoints and secrets.
    pub endpoints: Arc<Endpoints>,
    /// Becomes true when the process stops.
    pub shutdown: watch::Receiver<bool>,
}

impl ConnectorCtx {
    /// A context whose sink writes through `writer` for the channels in `links`, reporting to
    /// `status` and `metrics` (shared with whoever reads them: the control plane, a test).
    pub fn new(
        platform: Platform,
        writer: crate::writer::WriterHandle,
        links: watch::Receiver<Links>,
        status: StatusBoard,
        metrics: Arc<ConnectorMetrics>,
        endpoints: Endpoints,
        shutdown: watch::Receiver<bool>,
    ) -> ConnectorCtx {
        ConnectorCtx {
            platform,
            sink: Sink::new(writer, links.clone(), metrics.clone(), status.clone()),
            links,
            status,
            metrics,
            endpoints: Arc::new(endpoints),
            shutdown,
        }
    }

    /// Completes when the process stops.
    pub async fn stopped(&self) {
        let mut rx = self.shutdown.clone();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Whether the process is stopping.
    pub fn is_stopping(&self) -> bool {
        *self.shutdown.borrow()
    }
}

/// Runs `platform`'s connector until shutdown. The one place that maps a platform to its module.
pub async fn run_connector(ctx: ConnectorCtx) {
    match ctx.platform {
        Platform::Twitch => twitch::run(ctx).await,
        Platform::YouTube => youtube::run(ctx).await,
        Platform::Kick => kick::run(ctx).await,
    }
}
