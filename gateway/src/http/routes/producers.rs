//! `POST /api/producers/{twitch,youtube,kick}`: the simulator. Forwards the message to that
//! platform's ingest socket with the caller's id as `streamerId` (a client-sent `streamerId` is
//! ignored) and answers with the ingest's verdict.

use serde::Deserialize;
use serde_json::json;
use shm_layout::Platform;
use warp::http::StatusCode;
use warp::{Filter, Rejection};

use super::json;
use crate::http::body::json_body;
use crate::http::error::ApiError;
use crate::http::security::csrf;
use crate::http::session::{authed, with_state, Authed};
use crate::ingests::{IngestOutcome, IngestRequest};
use crate::state::State;

/// The body a producer route accepts (unknown fields, e.g. `streamerId`, are ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerBody {
    /// Chatter name.
    pub user: String,
    /// Message text.
    pub text: String,
    /// Badges.
    #[serde(default)]
    pub is_vip: bool,
    /// Badges.
    #[serde(default)]
    pub is_sub: bool,
    /// Badges.
    #[serde(default)]
    pub is_mod: bool,
    /// `#rrggbb`.
    #[serde(default)]
    pub color: Option<String>,
}

/// Seconds a client should wait when the ring is full (the pump drains it every 50 ms).
const RETRY_QUEUE_FULL: u64 = 1;
/// Seconds to wait when an ingest is not running (a supervisor restarts it within seconds).
const RETRY_NOT_RUNNING: u64 = 5;

/// The producer routes.
pub fn routes(
    state: State,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::path!("api" / "producers" / String)
        .and(warp::post())
        .and_then(|slug: String| async move {
            Platform::from_slug(&slug).ok_or_else(|| {
                warp::reject::custom(ApiError::not_found(format!(
                    "There is no producer for {slug:?}; use one of {}.",
                    Platform::slugs(", ")
                )))
            })
        })
        .and(csrf())
        .and(authed(state.clone()))
        .and(json_body::<ProducerBody>())
        .and(with_state(state))
        .and_then(produce)
}

async fn produce(
    platform: Platform,
    a: Authed,
    body: ProducerBody,
    state: State,
) -> Result<warp::reply::Response, Rejection> {
    let req = IngestRequest {
        streamer_id: a.user.id,
        user: &body.user,
        text: &body.text,
        is_vip: body.is_vip,
        is_sub: body.is_sub,
        is_mod: body.is_mod,
        color: body.color.as_deref(),
    };
    let name = platform.display_name();
    let err = match state.ingest.send(platform, &req).await {
        IngestOutcome::Accepted(id) => {
            return Ok(json(StatusCode::ACCEPTED, &json!({ "ok": true, "id": id })))
        }
        IngestOutcome::Invalid(s) => ApiError::bad_request(s),
        IngestOutcome::TooLarge(s) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, s),
        IngestOutcome::QueueFull(s) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("The chat queue is full, so the {name} message was not accepted; retry in a moment ({s})."),
        )
        .retry_after(RETRY_QUEUE_FULL),
        IngestOutcome::NotRunning(detail) => {
            tracing::warn!(platform = name, %detail, "ingest not reachable");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("The {name} ingest is not running, so the message was not accepted; start `ingest --platform {}` and retry.", platform.slug()),
            )
            .retry_after(RETRY_NOT_RUNNING)
        }
        IngestOutcome::Protocol(detail) => {
            tracing::error!(platform = name, %detail, "ingest answered nonsense");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("The {name} ingest gave an answer the gateway does not understand; the message may not have been accepted."),
            )
        }
    };
    Err(err.into())
}
