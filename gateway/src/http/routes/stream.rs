//! `POST /api/stream/control` and `GET /api/stream/sessions`.

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;
use warp::http::StatusCode;
use warp::{Filter, Rejection};

use super::{blocking, json};
use crate::http::body::json_body;
use crate::http::error::ApiError;
use crate::http::security::csrf;
use crate::http::session::{authed, with_state, Authed};
use crate::state::State;
use crate::store::logs::LogStore;
use crate::store::users::StreamSession;
use crate::store::EndStreamError;

/// A stream session as the API shows it (the archive's file name stays server-side).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// Session id (use it as `?session=` on `/api/messages`).
    pub id: Uuid,
    /// ms since the epoch.
    pub started_at: u64,
    /// ms since the epoch; `null` while live.
    pub ended_at: Option<u64>,
    /// Messages in the transcript; for the live session, in the active log so far.
    pub message_count: u64,
    /// Whether this is the live session.
    pub active: bool,
}

impl SessionView {
    /// The view of `s`, a session of `user`.
    pub fn new(state: &State, user: Uuid, s: StreamSession) -> SessionView {
        let active = s.ended_at.is_none();
        let message_count = if active {
            let log = state.store.logs().user_log(user);
            let n = LogStore::lock(&log).count();
            n
        } else {
            s.message_count
        };
        SessionView {
            id: s.id,
            started_at: s.started_at,
            ended_at: s.ended_at,
            message_count,
            active,
        }
    }
}

/// The body of `POST /api/stream/control`.
#[derive(Debug, Deserialize)]
pub struct Control {
    /// `"start"` or `"end"`.
    pub action: String,
}

/// The stream routes.
pub fn routes(
    state: State,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let control = warp::path!("api" / "stream" / "control")
        .and(warp::post())
        .and(csrf())
        .and(authed(state.clone()))
        .and(json_body::<Control>())
        .and(with_state(state.clone()))
        .and_then(control);
    let sessions = warp::path!("api" / "stream" / "sessions")
        .and(warp::get())
        .and(authed(state.clone()))
        .and(with_state(state))
        .map(sessions);
    control.or(sessions).unify()
}

async fn control(a: Authed, c: Control, state: State) -> Result<warp::reply::Response, Rejection> {
    let user = a.user.id;
    let st = state.clone();
    let body = match c.action.as_str() {
        "start" => {
            let r = blocking(move || st.store.start_stream(user)).await?;
            let start = r.map_err(store_error)?;
            let session = SessionView::new(&state, user, start.started.clone());
            let ended = start.ended.map(|s| SessionView::new(&state, user, s));
            tracing::info!(%user, session = %session.id, "stream started");
            announce(&state, user, "started", &session);
            json!({ "ok": true, "status": "started", "session": session, "ended": ended })
        }
        "end" => {
            let r = blocking(move || st.store.end_stream(user)).await?;
            let ended = r.map_err(store_error)?;
            let session = SessionView::new(&state, user, ended);
            tracing::info!(%user, session = %session.id, count = session.message_count, "stream ended");
            announce(&state, user, "ended", &session);
            json!({ "ok": true, "status": "ended", "session": session })
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "The action must be \"start\" or \"end\", not {other:?}."
            ))
            .into())
        }
    };
    Ok(json(StatusCode::OK, &body))
}

fn store_error(e: EndStreamError) -> Rejection {
    match e {
        EndStreamError::NotActive => {
            ApiError::bad_request("There is no active stream to end; start one first.").into()
        }
        EndStreamError::NoAccount => ApiError::unauthorized().into(),
        EndStreamError::Io(e) => {
            tracing::error!(error = %e, "stream control could not write the data directory");
            ApiError::internal(
                "The stream change could not be saved (the data directory is not writable); nothing was lost, try again.",
            )
            .into()
        }
    }
}

fn sessions(a: Authed, state: State) -> warp::reply::Response {
    let list: Vec<SessionView> = state
        .store
        .stream_sessions(a.user.id)
        .into_iter()
        .map(|s| SessionView::new(&state, a.user.id, s))
        .collect();
    json(StatusCode::OK, &json!({ "sessions": list }))
}

/// A stream started or ended: `{"type":"stream","status":…,"session":{…}}` to the streamer's room.
fn announce(state: &State, user: Uuid, status: &str, session: &SessionView) {
    state.rooms.publish(
        user,
        &[crate::realtime::frames::stream_frame(status, session)],
    );
}
