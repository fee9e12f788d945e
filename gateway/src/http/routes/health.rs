//! `GET /healthz` (liveness) and `GET /readyz` (readiness).
//!
//! Ready means: the shared-memory segment is mapped and the data directory is writable (and the
//! pump is persisting): otherwise 503 with `"problem"`, a sentence such as "the data directory is
//! full". The ingest
//! sockets are reported (`ingest.twitch` …) but not required: a stack may run one platform only,
//! and a missing ingest is answered per message with a 503 by the producer routes.

use serde_json::json;
use shm_layout::Platform;
use warp::http::StatusCode;
use warp::{Filter, Rejection};

use super::json;
use crate::http::session::with_state;
use crate::ingests::probe;
use crate::state::State;
use crate::store::describe_write_error;

/// The health routes.
pub fn routes(
    state: State,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let healthz = warp::path!("healthz")
        .and(warp::get())
        .map(|| json(StatusCode::OK, &json!({ "ok": true })));
    let readyz = warp::path!("readyz")
        .and(warp::get())
        .and(with_state(state))
        .then(readyz);
    healthz.or(readyz).unify()
}

async fn readyz(state: State) -> warp::reply::Response {
    let st = state.clone();
    let written = tokio::task::spawn_blocking(move || {
        st.store.writable().map_err(|e| describe_write_error(&e))
    })
    .await
    .unwrap_or_else(|e| Err(format!("the data directory check failed ({e})")));
    // The pump's own failure wins: a probe of two bytes can pass on a disk too full for a batch.
    let problem = state.pump_stats.problem().or(written.err());
    let data_dir = problem.is_none();
    let probes =
        futures_util::future::join_all(Platform::ALL.map(|p| probe(&state.runtime_dir, p))).await;
    let ingest: serde_json::Map<String, serde_json::Value> = Platform::ALL
        .iter()
        .zip(probes)
        .map(|(p, up)| (p.slug().to_owned(), up.into()))
        .collect();
    let segment = state.segment_report();
    let ready = data_dir && segment.mapped;
    json(
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        &json!({
            "ready": ready,
            "segment": segment,
            "dataDir": data_dir,
            "problem": problem,
            "ingest": ingest,
        }),
    )
}
