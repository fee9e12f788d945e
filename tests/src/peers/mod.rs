//! Loopback peers that play the chat platforms with their real protocols and real-format payloads,
//! with fault injection, so that connectors are tested without leaving 127.0.0.1:
//! - [`twitch`]: a Twitch IRC (TMI) server over plain TCP and WebSocket;
//! - [`kick`]: Kick's channel lookup, realtime token/connection API, Centrifugo and Pusher feeds;
//! - [`youtube`]: the YouTube Data API v3 endpoints the connector calls, with quota counting.

pub mod kick;
pub mod twitch;
pub mod youtube;
