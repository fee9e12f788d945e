//! The WebSocket handshake, finished with our own [`WebSocketConfig`] (see [`crate::server`] for
//! why warp's `ws()` is not used).
//!
//! [`websocket`] checks an upgrade request (RFC 6455 §4.2.1: `GET`, `Connection: upgrade`,
//! `Upgrade: websocket`, `Sec-WebSocket-Version: 13`, a `Sec-WebSocket-Key`) and yields an
//! [`Upgrade`]; [`Upgrade::on_upgrade`] answers 101 and runs the connection once hyper hands the
//! socket over.

use std::future::Future;

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use warp::http::{header, HeaderMap, HeaderValue, StatusCode};
use warp::{Filter, Rejection, Reply};

use crate::http::error::ApiError;
use crate::http::server::UpgradeSlot;

/// An accepted WebSocket connection.
pub type WsStream = WebSocketStream<TokioIo<Upgraded>>;

/// A valid upgrade request, waiting for [`Upgrade::on_upgrade`].
pub struct Upgrade {
    key: HeaderValue,
    slot: UpgradeSlot,
}

fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            .unwrap_or(false)
    })
}

/// Checks the request is a WebSocket upgrade (400 with a sentence otherwise).
pub fn websocket() -> impl Filter<Extract = (Upgrade,), Error = Rejection> + Clone {
    warp::get()
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<UpgradeSlot>())
        .and_then(|headers: HeaderMap, slot: Option<UpgradeSlot>| async move {
            let upgrade = header_has_token(&headers, header::CONNECTION, "upgrade")
                && header_has_token(&headers, header::UPGRADE, "websocket");
            let version = headers
                .get(header::SEC_WEBSOCKET_VERSION)
                .is_some_and(|v| v == "13");
            match (
                upgrade,
                version,
                headers.get(header::SEC_WEBSOCKET_KEY),
                slot,
            ) {
                (true, true, Some(key), Some(slot)) => Ok(Upgrade {
                    key: key.clone(),
                    slot,
                }),
                (true, false, _, _) => Err(warp::reject::custom(ApiError::bad_request(
                    "Only WebSocket version 13 is spoken here (Sec-WebSocket-Version: 13).",
                ))),
                _ => Err(warp::reject::custom(ApiError::bad_request(
                    "This address only accepts WebSocket upgrades.",
                ))),
            }
        })
}

impl Upgrade {
    /// Answers `101 Switching Protocols` and, once the client has the answer, runs `connection`
    /// on the socket with `config`.
    pub fn on_upgrade<F, Fut>(self, config: WebSocketConfig, connection: F) -> warp::reply::Response
    where
        F: FnOnce(WsStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let accept = derive_accept_key(self.key.as_bytes());
        match self.slot.take() {
            Some(on_upgrade) => {
                tokio::spawn(async move {
                    match on_upgrade.await {
                        Ok(upgraded) => {
                            let ws = WebSocketStream::from_raw_socket(
                                TokioIo::new(upgraded),
                                Role::Server,
                                Some(config),
                            )
                            .await;
                            connection(ws).await;
                        }
                        Err(e) => tracing::debug!(error = %e, "the WebSocket upgrade failed"),
                    }
                });
            }
            None => {
                return ApiError::internal("This connection cannot be upgraded.").into_response()
            }
        }
        let mut res = warp::reply::with_status(warp::reply(), StatusCode::SWITCHING_PROTOCOLS)
            .into_response();
        let h = res.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(v) = HeaderValue::from_str(&accept) {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        res
    }
}
