//! Events the HTTP routes announce to the streamer's WebSocket room.

use uuid::Uuid;

use crate::routes::stream::SessionView;
use crate::state::State;

/// A stream started or ended: `{"type":"stream","status":…,"session":{…}}` to room `streamer:{user}`.
pub fn stream_changed(_state: &State, _user: Uuid, _status: &str, _session: &SessionView) {
    // Wired to the rooms with the WebSocket (issue 6).
}
