//! `GET /api/channels`, `POST /api/channels`, `DELETE /api/channels/{platform}/{channel}`.

use serde::Deserialize;
use serde_json::json;
use shm_layout::Platform;
use warp::http::StatusCode;
use warp::{Filter, Rejection};

use super::{blocking, json};
use crate::http::body::json_body;
use crate::http::error::ApiError;
use crate::http::security::csrf;
use crate::http::session::{authed, with_state, Authed};
use crate::state::State;
use crate::store::channels::{LinkError, LinkRecord, MAX_LINKS_PER_STREAMER};

/// The body of `POST /api/channels`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LinkBody {
    /// `twitch`, `youtube` or `kick`.
    pub platform: String,
    /// A name, URL or id, as pasted.
    pub channel: String,
    /// Kick: the chatroom id, to skip the lookup.
    #[serde(default)]
    pub chatroom_id: Option<u64>,
    /// Kick: the channel id, to skip the lookup.
    #[serde(default)]
    pub channel_id: Option<u64>,
}

/// The channel routes.
pub fn routes(
    state: State,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let list = warp::path!("api" / "channels")
        .and(warp::get())
        .and(authed(state.clone()))
        .and(with_state(state.clone()))
        .map(list);
    let add = warp::path!("api" / "channels")
        .and(warp::post())
        .and(csrf())
        .and(authed(state.clone()))
        .and(json_body::<LinkBody>())
        .and(with_state(state.clone()))
        .and_then(add);
    let remove = warp::path!("api" / "channels" / String / String)
        .and(warp::delete())
        .and(csrf())
        .and(authed(state.clone()))
        .and(with_state(state))
        .and_then(remove);
    list.or(add).unify().or(remove).unify()
}

fn platform(slug: &str) -> Result<Platform, ApiError> {
    Platform::from_slug(slug).ok_or_else(|| {
        ApiError::bad_request(format!(
            "The platform must be one of {}, not {slug:?}.",
            Platform::slugs(", ")
        ))
    })
}

fn list(a: Authed, state: State) -> warp::reply::Response {
    let channels: Vec<_> = state
        .store
        .channels()
        .list(a.user.id)
        .into_iter()
        .map(|l| state.channels.view(l.platform, &l.channel, l.created_at))
        .collect();
    json(StatusCode::OK, &json!({ "channels": channels }))
}

async fn add(a: Authed, body: LinkBody, state: State) -> Result<warp::reply::Response, Rejection> {
    let platform = platform(&body.platform)?;
    let channel =
        shm_layout::links::normalise(platform, &body.channel).map_err(ApiError::bad_request)?;
    if platform != Platform::Kick && (body.chatroom_id.is_some() || body.channel_id.is_some()) {
        return Err(ApiError::bad_request(
            "`chatroomId` and `channelId` are for Kick channels only.",
        )
        .into());
    }
    if body.chatroom_id.is_some() != body.channel_id.is_some() {
        return Err(ApiError::bad_request(
            "Paste both Kick ids, `chatroomId` and `channelId` (see the README for where to find them).",
        )
        .into());
    }
    let record = LinkRecord {
        streamer_id: a.user.id,
        platform,
        channel,
        chatroom_id: body.chatroom_id,
        channel_id: body.channel_id,
        created_at: shm_layout::now_ms(),
    };
    let st = state.clone();
    let added = blocking(move || st.store.channels().add(record)).await?;
    let record = added.map_err(|e| -> Rejection {
        match e {
            LinkError::AlreadyLinked => ApiError::new(
                StatusCode::CONFLICT,
                "You have already linked that channel.",
            )
            .into(),
            LinkError::TooMany => ApiError::bad_request(format!(
                "You can link at most {MAX_LINKS_PER_STREAMER} channels; remove one first."
            ))
            .into(),
            LinkError::Io(e) => {
                tracing::error!(error = %e, "could not save a channel link");
                ApiError::internal("The link could not be saved; try again.").into()
            }
        }
    })?;
    tracing::info!(user = %a.user.id, platform = %platform, channel = %record.channel, "channel linked");
    state.channels.links_changed(platform);
    let view = state
        .channels
        .view(platform, &record.channel, record.created_at);
    Ok(json(
        StatusCode::CREATED,
        &json!({ "ok": true, "channel": view }),
    ))
}

async fn remove(
    slug: String,
    channel: String,
    a: Authed,
    state: State,
) -> Result<warp::reply::Response, Rejection> {
    let platform = platform(&slug)?;
    // `%40handle` → `@handle`: warp hands path segments over still encoded.
    let raw = percent_encoding::percent_decode_str(&channel).decode_utf8_lossy();
    // The path may carry the channel as the streamer typed it (`SomeChannel`, `#name`, a URL):
    // the same normalising as linking finds the link; what does not normalise is looked up as is.
    let channel = shm_layout::links::normalise(platform, &raw).unwrap_or_else(|_| raw.into_owned());
    let user = a.user.id;
    let st = state.clone();
    let ch = channel.clone();
    let removed = blocking(move || st.store.channels().remove(user, platform, &ch))
        .await?
        .map_err(|e| -> Rejection {
            tracing::error!(error = %e, "could not save the channel links");
            ApiError::internal("The link could not be removed; try again.").into()
        })?;
    if !removed {
        return Err(ApiError::not_found("You have not linked that channel.").into());
    }
    if state
        .store
        .channels()
        .streamers_of(platform, &channel)
        .is_empty()
    {
        state.channels.forget(platform, &channel);
    }
    state.channels.links_changed(platform);
    tracing::info!(user = %user, platform = %platform, channel = %channel, "channel unlinked");
    Ok(json(StatusCode::OK, &json!({ "ok": true })))
}
