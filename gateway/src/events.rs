//! Events the HTTP routes announce to the streamer's WebSocket room.

use uuid::Uuid;

use crate::routes::stream::SessionView;
use crate::state::State;

/// A stream started or ended: `{"type":"stream","status":…,"session":{…}}` to room `streamer:{user}`.
pub fn stream_changed(state: &State, user: Uuid, status: &str, session: &SessionView) {
    state.rooms.publish(
        user,
        &[crate::realtime::frames::stream_frame(status, session)],
    );
}
