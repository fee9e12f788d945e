//! The HTTP surface: the server loop ([`server`]), the routes ([`routes`], composed in
//! [`routes::routes`]), the request extractors for the session cookie ([`session`]), the one
//! error type every rejection becomes ([`error`]), bounded JSON bodies ([`body`]), security
//! headers and the CSRF gate ([`security`]), failed-login counters ([`throttle`]) and the embedded web UI
//! ([`ui`]).

pub mod body;
pub mod error;
pub mod routes;
pub mod security;
pub mod server;
pub mod session;
pub mod throttle;
pub mod ui;
