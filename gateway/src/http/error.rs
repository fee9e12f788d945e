//! The one error type a route can answer with, and the `recover` that turns every rejection —
//! ours and warp's own (404, 405, 411, 413, 415, bad JSON) — into `{"error":"<sentence>"}`.

use std::convert::Infallible;

use serde::Serialize;
use warp::http::{header, HeaderValue, StatusCode};
use warp::reject::Reject;
use warp::{Rejection, Reply};

// `?`/`.into()` from ApiError to Rejection come from warp's blanket `impl<T: Reject> From<T>`.

/// An error a client can meet: a status, a sentence that says what to do, and for 429/503 how many
/// seconds to wait before retrying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status to answer with.
    pub status: StatusCode,
    /// A sentence for the user (never a debug dump).
    pub message: String,
    /// `Retry-After` seconds, for 429 and 503.
    pub retry_after: Option<u64>,
}

impl Reject for ApiError {}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds a `Retry-After` header (seconds).
    pub fn retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401 Unauthorized, the one answer for every missing, forged, expired or ended session.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "You are not logged in (or your session has expired); log in at /login and try again.",
        )
    }

    /// 404 Not Found.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 500 with a sentence; the cause is logged where this is built, never sent to the client.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// Turns the error into a JSON response.
    pub fn into_response(self) -> warp::reply::Response {
        error_response(self.status, &self.message, self.retry_after)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

/// Builds `{"error": message}` with `status` (and `Retry-After` when given).
pub fn error_response(
    status: StatusCode,
    message: &str,
    retry_after: Option<u64>,
) -> warp::reply::Response {
    let mut res =
        warp::reply::with_status(warp::reply::json(&ErrorBody { error: message }), status)
            .into_response();
    if let Some(secs) = retry_after {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}

/// The single rejection handler: every rejection becomes a JSON error with the right status.
pub async fn recover(rejection: Rejection) -> Result<warp::reply::Response, Infallible> {
    use warp::reject;

    if let Some(e) = rejection.find::<ApiError>() {
        return Ok(e.clone().into_response());
    }
    let (status, message): (StatusCode, String) = if rejection.is_not_found() {
        (
            StatusCode::NOT_FOUND,
            "There is nothing at this address; the API lives under /api/ (see the README).".into(),
        )
    } else if rejection.find::<reject::MethodNotAllowed>().is_some() {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "This address does not accept that HTTP method (see the README for each route's method).".into(),
        )
    } else if rejection.find::<reject::LengthRequired>().is_some() {
        (
            StatusCode::LENGTH_REQUIRED,
            "Send a Content-Length header with the body; chunked request bodies are not accepted."
                .into(),
        )
    } else if rejection.find::<reject::PayloadTooLarge>().is_some() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            // Bodies with a Content-Length over their route's limit get the exact limit from
            // `http::body`; this is the fallback for anything else warp measures as too large.
            "The request body is larger than this route accepts.".into(),
        )
    } else if rejection.find::<reject::UnsupportedMediaType>().is_some() {
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send the body as JSON with the header Content-Type: application/json.".into(),
        )
    } else if let Some(e) = rejection.find::<warp::filters::body::BodyDeserializeError>() {
        (
            StatusCode::BAD_REQUEST,
            format!("The request body is not what this route expects: {e}."),
        )
    } else if rejection.find::<reject::InvalidQuery>().is_some() {
        (
            StatusCode::BAD_REQUEST,
            "The query string could not be parsed.".into(),
        )
    } else if let Some(e) = rejection.find::<reject::InvalidHeader>() {
        (
            StatusCode::BAD_REQUEST,
            format!("The {} header is not valid.", e.name()),
        )
    } else if let Some(e) = rejection.find::<reject::MissingHeader>() {
        (
            StatusCode::BAD_REQUEST,
            format!("The {} header is required here.", e.name()),
        )
    } else if rejection
        .find::<warp::filters::ws::MissingConnectionUpgrade>()
        .is_some()
    {
        (
            StatusCode::BAD_REQUEST,
            "This address only accepts WebSocket upgrades.".into(),
        )
    } else {
        tracing::error!(?rejection, "unhandled rejection");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "The gateway failed to handle this request; the details are in its log.".into(),
        )
    };
    Ok(error_response(status, &message, None))
}
