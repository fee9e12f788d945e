//! The HTTP server loop: the warp filter served by hyper, as `warp::serve` does, plus two request
//! extensions warp does not hand to filters.
//!
//! * [`PeerAddr`]: the client's address (warp keeps its own private).
//! * [`UpgradeSlot`]: hyper's upgrade handle, so that [`crate::realtime::upgrade`] can finish a
//!   WebSocket handshake with a [`WebSocketConfig`](tokio_tungstenite::tungstenite::protocol::WebSocketConfig)
//!   of its own. warp's `ws()` builds every connection with tungstenite's defaults — a 128 KiB
//!   read buffer that tungstenite zero-fills on the first read, i.e. ~128 KiB resident per idle
//!   connection — and offers no way to change that.
//!
//! Stopping: when `shutdown` resolves the listener closes, requests in flight finish, and upgraded
//! connections are left to their own close handling ([`crate::state::AppState::shutdown`]).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower_service::Service;

/// The client's address, as a request extension (`warp::ext::optional::<PeerAddr>()`).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// hyper's handle on a connection's upgrade, moved out of the request so that a filter can take it
/// (warp hands filters only `Clone` extensions).
#[derive(Debug, Clone)]
pub struct UpgradeSlot(Arc<Mutex<Option<OnUpgrade>>>);

impl UpgradeSlot {
    /// Takes the handle (once; `None` afterwards).
    pub fn take(&self) -> Option<OnUpgrade> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Puts [`PeerAddr`] and [`UpgradeSlot`] into every request before warp sees it.
#[derive(Clone)]
struct WithExtensions<S> {
    inner: S,
    peer: SocketAddr,
}

impl<S, B> Service<http::Request<B>> for WithExtensions<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let ext = req.extensions_mut();
        ext.insert(PeerAddr(self.peer));
        if let Some(upgrade) = ext.remove::<OnUpgrade>() {
            ext.insert(UpgradeSlot(Arc::new(Mutex::new(Some(upgrade)))));
        }
        self.inner.call(req)
    }
}

/// Serves `service` (`warp::service(filter)`) on `listener` until `shutdown` resolves, then waits
/// for the requests in flight.
pub async fn serve<S>(
    service: S,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    S: Service<
            http::Request<hyper::body::Incoming>,
            Response = warp::reply::Response,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning on the error.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let svc = TowerToHyperService::new(WithExtensions {
            inner: service.clone(),
            peer,
        });
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let builder = Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), svc);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
