//! Accounts and login sessions over HTTP: the rules for names and passwords, bcrypt off the
//! reactor, the `streamer_session` cookie and the filter that turns it into the caller's account.

use std::convert::Infallible;

use tokio::sync::Semaphore;
use warp::{Filter, Rejection};

use crate::http::error::ApiError;
use crate::state::State;
use crate::store::users::PublicUser;

/// The session cookie's name (the reference system's).
pub const COOKIE: &str = "streamer_session";

/// The password length bcrypt can take whole. bcrypt reads at most 72 bytes; longer passwords
/// would be silently truncated, so they are refused instead (exactly 72 is used in full).
pub const MAX_PASSWORD_BYTES: usize = 72;
/// The shortest password accepted.
pub const MIN_PASSWORD_BYTES: usize = 6;

/// The caller of an authenticated route.
#[derive(Debug, Clone)]
pub struct Authed {
    /// Their account.
    pub user: PublicUser,
}

/// A username is 3–32 of `A–Z a–z 0–9 _ -`.
pub fn validate_username(name: &str) -> Result<(), ApiError> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !(3..=32).contains(&name.len()) || !ok_chars {
        return Err(ApiError::bad_request(
            "The username must be 3 to 32 characters, each a letter, a digit, '_' or '-'.",
        ));
    }
    Ok(())
}

/// A password is 6–72 bytes (UTF-8).
pub fn validate_password(password: &str) -> Result<(), ApiError> {
    if password.len() < MIN_PASSWORD_BYTES {
        return Err(ApiError::bad_request(format!(
            "The password must be at least {MIN_PASSWORD_BYTES} bytes long."
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::bad_request(format!(
            "The password is {} bytes long; bcrypt uses at most {MAX_PASSWORD_BYTES} bytes, so choose a shorter one rather than have the rest ignored.",
            password.len()
        )));
    }
    Ok(())
}

/// How many bcrypt computations may run at once: all cores but one, so that a burst of logins
/// (CPU-bound, ~0.1 s each at cost 10) always leaves a core for the reactor and `/healthz` stays
/// fast. Further logins wait their turn; the total throughput is the same.
pub fn bcrypt_slots() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1))
        .unwrap_or(1)
        .max(1)
}

/// bcrypt-hashes a password on the blocking pool, so a login never stalls other requests.
pub async fn hash_password(
    slots: &Semaphore,
    password: String,
    cost: u32,
) -> Result<String, ApiError> {
    // The semaphore is never closed.
    let _slot = slots.acquire().await.expect("bcrypt semaphore open");
    tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "bcrypt task failed");
            ApiError::internal("Hashing the password failed; try again.")
        })?
        .map_err(|e| {
            tracing::error!(error = %e, "bcrypt hash failed");
            ApiError::internal("Hashing the password failed; try again.")
        })
}

/// Verifies a password on the blocking pool; any error counts as a mismatch.
pub async fn verify_password(slots: &Semaphore, password: String, hash: String) -> bool {
    let _slot = slots.acquire().await.expect("bcrypt semaphore open");
    tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
        .await
        .unwrap_or(false)
}

/// `Set-Cookie` for a new session.
pub fn session_cookie(token: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}{}",
        crate::store::sessions::SESSION_TTL_MS / 1000,
        if secure { "; Secure" } else { "" }
    )
}

/// `Set-Cookie` that deletes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Passes the state to a handler.
pub fn with_state(state: State) -> impl Filter<Extract = (State,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// The session cookie's raw value, if any.
pub fn session_token() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
    warp::cookie::optional::<String>(COOKIE)
}

/// Resolves the cookie to a live session and its account, or rejects with 401. A forged value
/// (e.g. the reference's JSON `{id,username}`), an expired or logged-out token all look the same.
pub fn authed(state: State) -> impl Filter<Extract = (Authed,), Error = Rejection> + Clone {
    session_token().and(with_state(state)).and_then(
        |token: Option<String>, state: State| async move {
            token
                .as_deref()
                .and_then(|t| state.store.sessions().lookup(t))
                .and_then(|id| state.store.users().get(id))
                .map(|user| Authed { user })
                .ok_or_else(|| warp::reject::custom(ApiError::unauthorized()))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_passwords() {
        assert!(validate_username("ann_1-x").is_ok());
        assert!(validate_username("an").is_err());
        assert!(validate_username(&"a".repeat(33)).is_err());
        assert!(validate_username("../users.json").is_err());
        assert!(validate_password("123456").is_ok());
        assert!(validate_password("12345").is_err());
        assert!(validate_password(&"x".repeat(72)).is_ok());
        let e = validate_password(&"x".repeat(73)).unwrap_err();
        assert!(e.message.contains("72"), "{}", e.message);
    }
}
