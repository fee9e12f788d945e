//! `GET /api/messages[?session=ID][&since=MSGID][&limit=N]`.

use std::collections::HashMap;

use serde_json::json;
use uuid::Uuid;
use warp::http::StatusCode;
use warp::{Filter, Rejection};

use super::{blocking, json};
use crate::http::error::ApiError;
use crate::http::session::{authed, with_state, Authed};
use crate::state::State;
use crate::store::{ReadError, Transcript};

/// Messages returned from the active log when no `limit` is given.
pub const DEFAULT_LIMIT: usize = 500;
/// The largest `limit` honoured; larger values are capped to it.
pub const MAX_LIMIT: usize = 5000;

/// The messages route.
pub fn routes(
    state: State,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::path!("api" / "messages")
        .and(warp::get())
        .and(authed(state.clone()))
        .and(warp::query::<HashMap<String, String>>())
        .and(with_state(state))
        .and_then(messages)
}

fn parse_id(q: &HashMap<String, String>, key: &str, what: &str) -> Result<Option<Uuid>, ApiError> {
    match q.get(key) {
        None => Ok(None),
        // Ids are parsed as UUIDs: `../users.json` or `%2e%2e/` die here, long before any path.
        Some(v) => Uuid::parse_str(v)
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("`{key}` must be {what} (a UUID)."))),
    }
}

async fn messages(
    a: Authed,
    q: HashMap<String, String>,
    state: State,
) -> Result<warp::reply::Response, Rejection> {
    let session = parse_id(&q, "session", "a session id from /api/stream/sessions")?;
    let since = parse_id(&q, "since", "the id of a message you already have")?;
    let limit = match q.get("limit") {
        None => None,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n >= 1 => Some(n.min(MAX_LIMIT)),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "`limit` must be a whole number from 1 to {MAX_LIMIT}."
                ))
                .into())
            }
        },
    };
    let which = match session {
        Some(s) => Transcript::Session(s),
        None => Transcript::Active,
    };
    // An archive is returned whole unless the caller asks for a limit; the active log defaults
    // to its newest 500.
    let limit = match (session, limit) {
        (_, Some(l)) => l,
        (Some(_), None) => usize::MAX,
        (None, None) => DEFAULT_LIMIT,
    };
    let user = a.user.id;
    let st = state.clone();
    let out = blocking(move || st.store.messages(user, which, since, limit))
        .await?
        .map_err(|e| -> Rejection {
            match e {
                ReadError::NoSuchSession => {
                    ApiError::not_found("You have no stream session with that id.").into()
                }
                ReadError::StillActive => ApiError::bad_request(
                    "That session is still live; its messages are in the active log (leave out `session`).",
                )
                .into(),
                ReadError::Io(e) => {
                    tracing::error!(error = %e, "could not read a chat log");
                    ApiError::internal("The chat log could not be read; try again.").into()
                }
            }
        })?;
    Ok(json(StatusCode::OK, &json!({ "messages": out })))
}
