//! `GET /metrics`: the registry of [`crate::metrics::Metrics`] in the OpenMetrics text format
//! (which Prometheus scrapes). This route only encodes; the metrics live in the state.

use warp::http::{header, HeaderValue};
use warp::{Filter, Rejection, Reply};

use crate::http::session::with_state;
use crate::state::State;

/// The metrics route.
pub fn routes(
    state: State,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::path!("metrics")
        .and(warp::get())
        .and(with_state(state))
        .map(|state: State| {
            let mut res = state.metrics.encode().into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        })
}
