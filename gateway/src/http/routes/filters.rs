//! `GET /api/filters` and `PUT /api/filters`: the streamer's chat filters, pushed to their
//! dashboards and overlays (`{"type":"filters",…}`) when they change.

use warp::http::StatusCode;
use warp::{Filter, Rejection};

use super::{blocking, json};
use crate::http::body::{json_body_up_to, FILTERS_BODY_LIMIT};
use crate::http::error::ApiError;
use crate::http::security::csrf;
use crate::http::session::{authed, with_state, Authed};
use crate::state::State;
use crate::store::filters::Filters;

/// The filter routes.
pub fn routes(
    state: State,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let get = warp::path!("api" / "filters")
        .and(warp::get())
        .and(authed(state.clone()))
        .and(with_state(state.clone()))
        .map(|a: Authed, state: State| json(StatusCode::OK, &state.store.filters().get(a.user.id)));
    let put = warp::path!("api" / "filters")
        .and(warp::put())
        .and(csrf())
        .and(authed(state.clone()))
        .and(json_body_up_to::<Filters>(FILTERS_BODY_LIMIT))
        .and(with_state(state))
        .and_then(put);
    get.or(put).unify()
}

async fn put(a: Authed, body: Filters, state: State) -> Result<warp::reply::Response, Rejection> {
    let filters = body.normalised().map_err(|e| ApiError::bad_request(e.0))?;
    let user = a.user.id;
    let st = state.clone();
    let saved = filters.clone();
    blocking(move || st.store.filters().put(user, saved))
        .await?
        .map_err(|e| -> Rejection {
            tracing::error!(error = %e, "could not save the filters");
            ApiError::internal("The filters could not be saved; try again.").into()
        })?;
    state
        .rooms
        .publish(user, &[crate::realtime::frames::filters_frame(&filters)]);
    Ok(json(StatusCode::OK, &filters))
}
