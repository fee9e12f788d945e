//! Overlay links: `GET`/`POST /api/overlays`, `DELETE /api/overlays/{id}`, and
//! `POST /api/overlays/hide` (take one message off the streamer's overlays now).
//!
//! Every route here needs the streamer's session cookie: an overlay key opens the overlay socket
//! ([`crate::realtime::socket`]) and nothing else.

use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::{blocking, json};
use crate::http::body::json_body;
use crate::http::error::ApiError;
use crate::http::security::csrf;
use crate::http::session::{authed, with_state, Authed};
use crate::state::State;
use crate::store::overlays::{CreateOverlayError, MAX_LABEL_CHARS, MAX_LIVE_OVERLAYS};

/// The label of a link made without one.
const DEFAULT_LABEL: &str = "Overlay";

/// The body of `POST /api/overlays`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// The streamer's name for the link.
    #[serde(default)]
    pub label: Option<String>,
}

/// The body of `POST /api/overlays/hide`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HideBody {
    /// The chat message to take off the overlays.
    pub id: String,
}

/// The overlay routes.
pub fn routes(
    state: State,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let list = warp::path!("api" / "overlays")
        .and(warp::get())
        .and(authed(state.clone()))
        .and(with_state(state.clone()))
        .map(list);
    let create = warp::path!("api" / "overlays")
        .and(warp::post())
        .and(csrf())
        .and(authed(state.clone()))
        .and(json_body::<CreateBody>())
        .and(with_state(state.clone()))
        .and_then(create);
    let hide = warp::path!("api" / "overlays" / "hide")
        .and(warp::post())
        .and(csrf())
        .and(authed(state.clone()))
        .and(json_body::<HideBody>())
        .and(with_state(state.clone()))
        .and_then(hide);
    let revoke = warp::path!("api" / "overlays" / String)
        .and(warp::delete())
        .and(csrf())
        .and(authed(state.clone()))
        .and(with_state(state))
        .and_then(revoke);
    list.or(create).unify().or(hide).unify().or(revoke).unify()
}

fn list(a: Authed, state: State) -> warp::reply::Response {
    let overlays = state.store.overlays().list(a.user.id);
    json(StatusCode::OK, &json!({ "overlays": overlays }))
}

/// The label a link is saved with: trimmed, the default when empty; long or control-character
/// labels are refused.
pub(crate) fn label(body: CreateBody) -> Result<String, ApiError> {
    let label = body.label.unwrap_or_default();
    let label = label.trim();
    if label.is_empty() {
        return Ok(DEFAULT_LABEL.to_owned());
    }
    if label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "The label must be at most {MAX_LABEL_CHARS} characters, without control characters."
        )));
    }
    Ok(label.to_owned())
}

async fn create(
    a: Authed,
    body: CreateBody,
    state: State,
) -> Result<warp::reply::Response, Rejection> {
    let label = label(body)?;
    let user = a.user.id;
    let st = state.clone();
    let (record, key) = blocking(move || st.store.overlays().create(user, label))
        .await?
        .map_err(|e| -> Rejection {
            match e {
                CreateOverlayError::TooMany => ApiError::new(
                    StatusCode::CONFLICT,
                    format!("You have {MAX_LIVE_OVERLAYS} overlay links; revoke one you no longer use first."),
                )
                .into(),
                CreateOverlayError::Io(e) => {
                    tracing::error!(error = %e, "could not save the overlay links");
                    ApiError::internal("The overlay link could not be saved; try again.").into()
                }
            }
        })?;
    tracing::info!(user = %user, overlay = %record.id, "overlay link created");
    Ok(json(
        StatusCode::CREATED,
        &json!({
            "id": record.id,
            "label": record.label,
            "url": format!("/overlay#key={key}"),
            "key": key,
            "createdAt": record.created_at,
        }),
    ))
}

async fn revoke(id: String, a: Authed, state: State) -> Result<warp::reply::Response, Rejection> {
    let not_yours = || ApiError::not_found("You have no overlay link with that id.");
    let id = Uuid::parse_str(&id).map_err(|_| not_yours())?;
    let user = a.user.id;
    let st = state.clone();
    let found = blocking(move || st.store.overlays().revoke(user, id))
        .await?
        .map_err(|e| -> Rejection {
            tracing::error!(error = %e, "could not save the overlay links");
            ApiError::internal("The overlay link could not be revoked; try again.").into()
        })?;
    if !found {
        return Err(not_yours().into());
    }
    // Overlays connected with it close themselves on this news.
    let _ = state.overlay_revoked.send(id);
    tracing::info!(user = %user, overlay = %id, "overlay link revoked");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn hide(a: Authed, body: HideBody, state: State) -> Result<warp::reply::Response, Rejection> {
    let id = Uuid::parse_str(body.id.trim())
        .map_err(|_| ApiError::bad_request("`id` must be the id of a chat message (a UUID)."))?;
    state.rooms.publish(
        a.user.id,
        &[crate::realtime::frames::overlay_hide_frame(id)],
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}
