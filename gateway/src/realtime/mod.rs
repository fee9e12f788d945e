//! Everything that reaches a browser live: the WebSocket handshake ([`upgrade`]), the
//! connection and its protocol ([`socket`]), the rooms `streamer:{id}` ([`rooms`]) and every frame
//! pushed to them ([`frames`]).

pub mod frames;
pub mod rooms;
pub mod socket;
pub mod upgrade;
