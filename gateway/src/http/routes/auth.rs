//! `POST /api/auth/register`, `POST /api/auth/login`, `POST /api/auth/logout`, `GET /api/auth/me`.

use std::convert::Infallible;
use std::net::SocketAddr;

use serde::Deserialize;
use serde_json::json;
use warp::http::{header, HeaderValue, StatusCode};
use warp::{Filter, Rejection};

use super::{blocking, json};
use crate::http::body::json_body;
use crate::http::error::ApiError;
use crate::http::security::csrf;
use crate::http::session::{
    authed, clear_cookie, hash_password, session_cookie, session_token, validate_password,
    validate_username, verify_password, with_state, Authed, MAX_PASSWORD_BYTES,
};
use crate::http::throttle::Key;
use crate::state::State;
use crate::store::users::CreateError;

/// The body of register and login.
#[derive(Debug, Deserialize)]
pub struct Credentials {
    /// 3–32 of `[A-Za-z0-9_-]`.
    pub username: String,
    /// 6–72 bytes.
    pub password: String,
}

/// The auth routes.
pub fn routes(
    state: State,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let register = warp::path!("api" / "auth" / "register")
        .and(warp::post())
        .and(csrf())
        .and(json_body::<Credentials>())
        .and(with_state(state.clone()))
        .and_then(register);
    let login = warp::path!("api" / "auth" / "login")
        .and(warp::post())
        .and(csrf())
        .and(json_body::<Credentials>())
        .and(peer_addr())
        .and(with_state(state.clone()))
        .and_then(login);
    let logout = warp::path!("api" / "auth" / "logout")
        .and(warp::post())
        .and(csrf())
        .and(session_token())
        .and(with_state(state.clone()))
        .and_then(logout);
    let me = warp::path!("api" / "auth" / "me")
        .and(warp::get())
        .and(authed(state.clone()))
        .and(with_state(state))
        .map(me);
    register.or(login).unify().or(logout).unify().or(me).unify()
}

/// The client's address: ours from [`crate::server`], or warp's (`warp::test` sets that one).
fn peer_addr() -> impl Filter<Extract = (Option<SocketAddr>,), Error = Infallible> + Clone {
    warp::ext::optional::<crate::http::server::PeerAddr>()
        .and(warp::addr::remote())
        .map(|ours: Option<crate::http::server::PeerAddr>, warps| ours.map(|p| p.0).or(warps))
}

async fn register(c: Credentials, state: State) -> Result<warp::reply::Response, Rejection> {
    validate_username(&c.username)?;
    validate_password(&c.password)?;
    let taken = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "That username is taken (names are compared ignoring case); pick another.",
        )
    };
    // Cheap early answer; the authoritative check is under the store's lock below.
    if state.store.users().credentials(&c.username).is_some() {
        return Err(taken().into());
    }
    let hash = hash_password(&state.bcrypt_slots, c.password, state.bcrypt_cost).await?;
    let st = state.clone();
    let name = c.username.clone();
    let user = match blocking(move || st.store.users().create(&name, hash)).await? {
        Ok(user) => user,
        Err(CreateError::Taken) => return Err(taken().into()),
        Err(CreateError::Io(e)) => {
            tracing::error!(error = %e, "could not write users.json");
            return Err(ApiError::internal(
                "The account could not be saved (the data directory is not writable); try again later.",
            )
            .into());
        }
    };
    tracing::info!(user = %user.id, username = %user.username, "account created");
    Ok(json(
        StatusCode::CREATED,
        &json!({ "ok": true, "user": user }),
    ))
}

async fn login(
    c: Credentials,
    remote: Option<SocketAddr>,
    state: State,
) -> Result<warp::reply::Response, Rejection> {
    let keys = [
        Key::User(c.username.to_ascii_lowercase()),
        Key::Addr(
            remote
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|| "unknown".into()),
        ),
    ];
    if let Err(wait) = state.throttle.check(&keys) {
        state.metrics.login_throttled.inc();
        let secs = wait.as_secs().max(1);
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many failed logins; wait {} minutes and try again.",
                secs.div_ceil(60)
            ),
        )
        .retry_after(secs)
        .into());
    }
    let found = state.store.users().credentials(&c.username);
    // Unknown users cost one bcrypt verify too (against the dummy hash), so the answer's timing
    // does not tell which usernames exist. Passwords over 72 bytes were never accepted at
    // registration and bcrypt would truncate them, so they cannot match.
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, state.dummy_hash.clone()),
    };
    let ok = verify_password(&state.bcrypt_slots, c.password.clone(), hash).await
        && c.password.len() <= MAX_PASSWORD_BYTES
        && user.is_some();
    let Some(user) = user.filter(|_| ok) else {
        state.throttle.fail(&keys);
        state.metrics.login_failures.inc();
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "The username or password is wrong.",
        )
        .into());
    };
    state.throttle.clear(&keys[0]);
    let st = state.clone();
    let id = user.id;
    let token = blocking(move || st.store.sessions().create(id))
        .await?
        .map_err(|e| {
            tracing::error!(error = %e, "could not write sessions.json");
            ApiError::internal("The login could not be saved (the data directory is not writable); try again later.")
        })?;
    let mut res = json(StatusCode::OK, &json!({ "ok": true, "user": user }));
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&session_cookie(&token, state.secure_cookies))
            .expect("hex token is a valid header value"),
    );
    tracing::info!(user = %user.id, "logged in");
    Ok(res)
}

async fn logout(token: Option<String>, state: State) -> Result<warp::reply::Response, Rejection> {
    if let Some(token) = token {
        let st = state.clone();
        blocking(move || st.store.sessions().remove(&token))
            .await?
            .map_err(|e| {
                tracing::error!(error = %e, "could not write sessions.json");
                ApiError::internal("The logout could not be saved; try again.")
            })?;
    }
    let mut res = json(StatusCode::OK, &json!({ "ok": true }));
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&clear_cookie(state.secure_cookies)).expect("valid header"),
    );
    Ok(res)
}

fn me(a: Authed, state: State) -> warp::reply::Response {
    let active = state
        .store
        .active_session(a.user.id)
        .map(|s| super::stream::SessionView::new(&state, a.user.id, s));
    json(
        StatusCode::OK,
        &json!({ "ok": true, "user": a.user, "activeSession": active }),
    )
}
