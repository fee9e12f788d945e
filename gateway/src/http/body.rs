//! Request bodies: JSON of a bounded size, parsed into the route's type, refused with a sentence
//! (413 over the limit, 400 malformed or of the wrong shape).

use serde::de::DeserializeOwned;
use warp::http::StatusCode;
use warp::{Filter, Rejection};

use crate::http::error::ApiError;

/// The cap on every request body (16 KiB): the largest legitimate body is a chat message of 1000
/// characters plus a few fields.
pub const BODY_LIMIT: u64 = 16 * 1024;

/// The cap on the filters body (`PUT /api/filters`): the longest lists of the longest names fit
/// with room to spare.
pub const FILTERS_BODY_LIMIT: u64 = 512 * 1024;

/// A JSON body of at most [`BODY_LIMIT`] bytes, parsed into `T`; a malformed body or a field of the
/// wrong type is a 400 whose sentence names the problem. Use after [`super::security::csrf`], which checks the type.
pub fn json_body<T: DeserializeOwned + Send>(
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    json_body_up_to(BODY_LIMIT)
}

/// [`json_body`] with another size limit (for the few bodies that are lists, e.g. filters).
pub fn json_body_up_to<T: DeserializeOwned + Send>(
    limit: u64,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    // Refused as our own error, so that no other route's 405 can hide the 413 when warp combines
    // the rejections of every route that did not match.
    warp::header::optional::<u64>("content-length")
        .and_then(move |length: Option<u64>| async move {
            match length {
                Some(n) if n > limit => Err(warp::reject::custom(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "The request body is {n} bytes; this route accepts at most {} KiB.",
                        limit / 1024
                    ),
                ))),
                _ => Ok(()),
            }
        })
        .untuple_one()
        .and(warp::body::content_length_limit(limit))
        .and(warp::body::bytes())
        .and_then(|bytes: bytes::Bytes| async move {
            parse_json_body::<T>(&bytes).map_err(warp::reject::custom)
        })
}

/// Parses a request body as `T`, as [`json_body`] does: a malformed body or a field of the wrong
/// type is a 400 whose sentence names the problem. Pure, so it can be fuzzed.
pub fn parse_json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice::<T>(bytes).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "has a missing field or a field of the wrong type",
            serde_json::error::Category::Eof if bytes.is_empty() => "is empty",
            _ => "is not valid JSON",
        };
        ApiError::bad_request(format!("The request body {what}: {e}."))
    })
}
