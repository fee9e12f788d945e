//! The HTTP surface: one module per area, one function per route, composed in [`routes`].
//!
//! * [`auth`]: register, login, logout, me
//! * [`stream`]: stream control and the session list
//! * [`channels`]: linked channels (list, link, unlink)
//! * [`overlays`]: overlay links (make, list, revoke) and "hide on overlay"
//! * [`filters`]: the streamer's chat filters
//! * [`messages`]: the active chat log and archived transcripts
//! * [`producers`]: the simulator's producer routes, forwarded to the ingest sockets
//! * [`health`]: liveness and readiness
//! * [`metrics`]: Prometheus/OpenMetrics text of [`crate::metrics::Metrics`]

pub mod auth;
pub mod channels;
pub mod filters;
pub mod health;
pub mod messages;
pub mod metrics;
pub mod overlays;
pub mod producers;
pub mod stream;

use std::convert::Infallible;

use serde::Serialize;
use warp::http::{header, HeaderValue, StatusCode};
use warp::{Filter, Reply};

use crate::http::error::recover;
use crate::http::security::add_security_headers;
use crate::state::State;

/// A JSON response that no cache keeps.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> warp::reply::Response {
    let mut res = warp::reply::with_status(warp::reply::json(body), status).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A blocking store call on the blocking pool (the JSON files are fsynced).
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, crate::http::error::ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "store task failed");
        crate::http::error::ApiError::internal("The gateway failed to save your change; try again.")
    })
}

/// Every route of the gateway, with the JSON error handler, the security headers and request logs.
pub fn routes(state: State) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let api = auth::routes(state.clone())
        .or(stream::routes(state.clone()))
        .unify()
        .or(messages::routes(state.clone()))
        .unify()
        .or(channels::routes(state.clone()))
        .unify()
        .or(overlays::routes(state.clone()))
        .unify()
        .or(filters::routes(state.clone()))
        .unify()
        .or(producers::routes(state.clone()))
        .unify()
        .or(health::routes(state.clone()))
        .unify()
        .or(metrics::routes(state.clone()))
        .unify()
        .or(crate::realtime::socket::routes(state.clone()))
        .unify()
        // Boxed: the nested filter types otherwise overflow rustc's recursion limit in release
        // builds (and take longer to compile).
        .boxed();

    let app = api.or(crate::http::ui::routes());

    app.recover(recover)
        .map(|reply| {
            let mut res = warp::Reply::into_response(reply);
            add_security_headers(&mut res);
            res
        })
        .with(warp::log::custom(move |info| {
            // Counted by route template (a fixed set) and status: bounded label cardinality.
            state
                .metrics
                .http_request(info.path(), info.status().as_u16());
            tracing::info!(
                method = %info.method(),
                path = info.path(),
                status = info.status().as_u16(),
                elapsed_ms = info.elapsed().as_secs_f64() * 1000.0,
                "request"
            );
        }))
}
