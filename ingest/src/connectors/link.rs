//! The linked channels of one platform, as the gateway sends them down the producer socket in a
//! `{"type":"channels","channels":[…]}` line. The gateway owns the list; it sends the whole set
//! whenever it (re)connects to this ingest and whenever a link changes, so either process may
//! restart at any time and no link is lost.

use std::collections::BTreeMap;
use std::sync::Arc;

pub use shm_layout::protocol::Link;
#[cfg(test)]
use uuid::Uuid;

/// The whole set, keyed by channel. Shared immutably; a new set replaces the old one.
pub type Links = Arc<BTreeMap<String, Link>>;

/// Builds a [`Links`] from a list (a later duplicate channel merges its streamers).
pub fn links_from(list: Vec<Link>) -> Links {
    let mut map: BTreeMap<String, Link> = BTreeMap::new();
    for l in list {
        match map.get_mut(&l.channel) {
            Some(have) => {
                for s in l.streamers {
                    if !have.streamers.contains(&s) {
                        have.streamers.push(s);
                    }
                }
                have.chatroom_id = have.chatroom_id.or(l.chatroom_id);
                have.channel_id = have.channel_id.or(l.channel_id);
            }
            None => {
                map.insert(l.channel.clone(), l);
            }
        }
    }
    Arc::new(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_merge_their_streamers() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let l = |s| Link {
            channel: "c".into(),
            streamers: vec![s],
            chatroom_id: None,
            channel_id: None,
        };
        let links = links_from(vec![l(a), l(b), l(a)]);
        assert_eq!(links.len(), 1);
        assert_eq!(links["c"].streamers, vec![a, b]);
    }
}
