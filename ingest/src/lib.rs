//! CrossChat `ingest`: one process per platform that receives raw producer payloads, normalises
//! them and writes them into the shared-memory ring the gateway drains.
//!
//! ```text
//!  producers ──unix socket──▶ conn (read half: lines → normalise → batch) ──▶ writer thread
//!  (or --stdin)                 ▲                                              │ enqueue_wait
//!                               └── conn (reply half: replies, in order) ◀─────┘ (futex, blocking)
//! ```
//!
//! Modules:
//! - [`config`]: flags and `CROSSCHAT_*` variables, logging setup;
//! - [`normalize`]: the strict normalisation rules, refusal codes and sentences;
//! - [`conn`]: one producer stream — line framing with the 64 KiB cap, pipelined replies in order;
//! - [`writer`]: the dedicated thread that enqueues batches (lock retries, ring-full wait);
//! - [`socket`]: claiming, binding and removing `<runtime-dir>/ingest-<platform>.sock`;
//! - [`reply`]: reply line encoding;
//! - [`stats`]: reply counters, the `--stdin` summary and the once-a-second refusal warning;
//! - `fuzzing` (hidden): the property checks the fuzz targets and their corpus replay share.
//!
//! `main` parses flags, sets up logging and calls [`run_socket`] or [`run_stdin`] with a shutdown
//! future (SIGTERM/SIGINT); tests call them in-process too.

#![warn(missing_docs)]

pub mod config;
pub mod conn;
pub mod connectors;
pub mod control;
#[doc(hidden)]
pub mod fuzzing;
pub mod normalize;
pub mod reply;
pub mod request;
pub mod socket;
pub mod stats;
pub mod writer;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use shm_layout::{OpenError, Segment};
use thiserror::Error;
use tokio::sync::{mpsc, watch, Semaphore};
use tracing::Instrument;

pub use config::{Cli, Config, LogFormat};
pub use socket::{socket_path, SocketError};
pub use stats::Tally;

/// A fatal start-up error; its `Display` is the one-line reason printed before exiting non-zero.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StartError {
    /// The segment could not be opened or created (another version, geometry, permissions…).
    #[error(transparent)]
    Segment(#[from] OpenError),
    /// The producer socket could not be claimed.
    #[error(transparent)]
    Socket(#[from] SocketError),
    /// The writer thread could not be started.
    #[error("could not start the ring writer thread: {0}")]
    Thread(std::io::Error),
}

/// How often refusals are summarised in the log.
const REFUSAL_REPORT: Duration = Duration::from_secs(1);
/// Added to `--full-wait-ms` to bound the wait for connections at stop: 5 lock attempts of
/// 1500 ms with up to 70 ms between them, and some slack.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

struct Running {
    seg: Arc<Segment>,
    ctx: conn::ConnCtx,
    thread: std::thread::JoinHandle<()>,
    reporter: tokio::task::JoinHandle<()>,
    connector: Option<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>,
}

async fn start(config: &Config) -> Result<Running, StartError> {
    let name = config.shm_name.clone();
    // open_or_create may wait up to 2 s for a concurrent creator: keep it off the reactor.
    let seg = tokio::task::spawn_blocking(move || Segment::open_or_create(&name))
        .await
        .expect("opening the segment does not panic")?;
    let seg = Arc::new(seg);
    let (writer, thread) = writer::WriterHandle::spawn(seg.clone(), config.policy.clone())
        .map_err(StartError::Thread)?;
    let stats = Arc::new(stats::Stats::default());
    let reporter = tokio::spawn({
        let stats = stats.clone();
        async move { stats.report_refusals(REFUSAL_REPORT).await }
    });
    let control = Arc::new(control::ControlPlane::new(config.connector));
    let connector = config.connector.then(|| {
        let (stop_tx, stop_rx) = watch::channel(false);
        let ctx = connectors::ConnectorCtx::new(
            config.platform,
            writer.clone(),
            control.subscribe(),
            control.status.clone(),
            control.metrics.clone(),
            config.endpoints.clone(),
            stop_rx,
        );
        let task = tokio::spawn(connectors::supervisor::supervise(ctx));
        (stop_tx, task)
    });
    let ctx = conn::ConnCtx {
        platform: config.platform,
        writer,
        stats,
        full_wait_ms: config.policy.full_wait.as_millis() as u64,
        control,
    };
    Ok(Running {
        seg,
        ctx,
        thread,
        reporter,
        connector,
    })
}

impl Running {
    /// Stops the platform connector (it holds a writer handle, so it stops before the writer).
    async fn stop_connector(&mut self) {
        if let Some((stop, task)) = self.connector.take() {
            let _ = stop.send(true);
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }

    /// Drops the last writer handle and waits for the writer thread to finish its queue.
    async fn finish(mut self) -> Tally {
        self.stop_connector().await;
        let totals = self.ctx.stats.totals();
        drop(self.ctx);
        self.reporter.abort();
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        totals
    }
}

/// Serves the producer socket until `shutdown` completes, then stops accepting, answers every
/// request already read, removes the socket file and returns the process's totals.
pub async fn run_socket(
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<Tally, StartError> {
    let running = start(&config).await?;
    let socket = socket::ProducerSocket::bind(&config.runtime_dir, config.platform)?;
    tracing::info!(
        platform = %config.platform,
        segment = running.seg.name(),
        created_segment = running.seg.created(),
        socket = %socket.path().display(),
        "ingest started"
    );
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);

    let (stop_tx, stop_rx) = watch::channel(false);
    // Each connection task holds a clone; `recv` returns None once they are all done.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let permits = Arc::new(Semaphore::new(config.max_connections));
    tokio::pin!(shutdown);
    let mut conn_id = 0u64;
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
        };
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            r = socket.listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // E.g. EMFILE: back off instead of spinning; the connection waits in the backlog.
                    tracing::warn!(error = %e, "accepting a producer connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let ctx = running.ctx.clone();
        let stop = stop_rx.clone();
        let done = done_tx.clone();
        conn_id += 1;
        let span = tracing::debug_span!("conn", id = conn_id);
        tokio::spawn(
            async move {
                tracing::debug!("producer connected");
                let (r, w) = stream.into_split();
                let tally = conn::serve(r, w, &ctx, stop).await;
                tracing::debug!(
                    accepted = tally.accepted,
                    refused = tally.refused_total(),
                    "producer disconnected"
                );
                drop(permit);
                drop(done);
            }
            .instrument(span),
        );
    }

    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    let path = socket.path().to_path_buf();
    tracing::info!(socket = %path.display(), "stopping: no new connections; answering requests already read");
    if let Err(e) = socket.remove() {
        tracing::warn!(socket = %path.display(), error = %e, "could not remove the socket file");
    }
    let _ = stop_tx.send(true);
    drop(done_tx);
    // Every connection answers what it has read, then closes. Bounded: a peer that stops reading
    // its replies must not keep the process alive forever. The bound covers the worst honest
    // wait — a full ring (`--full-wait-ms`) plus 5 lock attempts of 1500 ms and their sleeps.
    let drain = config.policy.full_wait + DRAIN_GRACE;
    if tokio::time::timeout(drain, done_rx.recv()).await.is_err() {
        let stuck = config.max_connections - permits.available_permits();
        tracing::warn!(
            connections = stuck,
            "{stuck} producer connections did not finish within {} ms of the stop (their peers stopped reading replies); exiting anyway",
            drain.as_millis()
        );
        return Ok(running.ctx.stats.totals());
    }
    let totals = running.finish().await;
    tracing::info!(
        accepted = totals.accepted,
        refused = totals.refused_total(),
        "ingest stopped: {}",
        totals.summary()
    );
    Ok(totals)
}

/// `--stdin` mode: requests from standard input, replies on standard output, until end of input
/// or `shutdown` (then the requests already read are still answered). Returns the tally; the
/// caller prints its summary and exits 1 if anything was refused.
pub async fn run_stdin(
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<Tally, StartError> {
    let running = start(&config).await?;
    tracing::info!(
        platform = %config.platform,
        segment = running.seg.name(),
        created_segment = running.seg.created(),
        "ingest started on standard input"
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let tally = {
        let serve = conn::serve(
            tokio::io::stdin(),
            tokio::io::stdout(),
            &running.ctx,
            stop_rx,
        );
        tokio::pin!(serve);
        tokio::pin!(shutdown);
        tokio::select! {
            t = &mut serve => t,
            _ = &mut shutdown => {
                let _ = stop_tx.send(true);
                serve.await
            }
        }
    };
    running.finish().await;
    Ok(tally)
}
