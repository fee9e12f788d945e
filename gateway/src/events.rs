//! Events the HTTP routes announce to the streamer's WebSocket room.

use serde_json::json;
use uuid::Uuid;

use crate::rooms::Outbound;
use crate::routes::stream::SessionView;
use crate::state::State;

/// A stream started or ended: `{"type":"stream","status":…,"session":{…}}` to room `streamer:{user}`.
pub fn stream_changed(state: &State, user: Uuid, status: &str, session: &SessionView) {
    let frame = json!({ "type": "stream", "status": status, "session": session }).to_string();
    state.rooms.publish(user, &[Outbound::Event(frame.into())]);
}
