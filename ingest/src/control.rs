//! The gateway's side of the producer socket: it sends the whole set of linked channels
//! (`{"type":"channels",…}`) whenever it connects and whenever a link changes, and asks for the
//! channels' states (`{"type":"status"}`) about once a second. Both are answered with
//! `{"ok":true,"channels":[…],"metrics":{…}}`.

use std::sync::Arc;

use shm_layout::protocol::StatusReply;
use tokio::sync::watch;

use crate::connectors::link::links_from;
use crate::connectors::{ChannelState, ChannelStatus, ConnectorMetrics, Link, Links, StatusBoard};
use crate::request::Control;

/// The process's linked channels, their states and the connector's counters.
#[derive(Debug)]
pub struct ControlPlane {
    links: watch::Sender<Links>,
    /// Channel states, written by the connector.
    pub status: StatusBoard,
    /// The connector's counters.
    pub metrics: Arc<ConnectorMetrics>,
    connector_running: bool,
}

impl ControlPlane {
    /// A control plane with no links; `connector_running` says whether a connector reads them.
    pub fn new(connector_running: bool) -> ControlPlane {
        ControlPlane {
            links: watch::channel(links_from(Vec::new())).0,
            status: StatusBoard::default(),
            metrics: Arc::new(ConnectorMetrics::default()),
            connector_running,
        }
    }

    /// A receiver of the link set, for the connector.
    pub fn subscribe(&self) -> watch::Receiver<Links> {
        self.links.subscribe()
    }

    /// Handles a control line; returns its reply line (with the newline).
    pub fn handle(&self, c: Control) -> Vec<u8> {
        if let Control::Channels { channels: list } = c {
            let links = links_from(list);
            self.status.retain(|ch| links.contains_key(ch));
            if *self.links.borrow() != links {
                tracing::info!(
                    channels = links.len(),
                    "linked channels updated by the gateway"
                );
                self.links.send_replace(links);
            }
        }
        let mut reply = serde_json::to_vec(&StatusReply {
            ok: true,
            channels: self.statuses(),
            metrics: self.metrics.snapshot(),
            error: None,
        })
        .expect("a status reply always serialises");
        reply.push(b'\n');
        reply
    }

    /// Every linked channel's status (a channel the connector has not reported yet is
    /// `connecting`, or `error` when no connector runs in this process).
    pub fn statuses(&self) -> Vec<ChannelStatus> {
        let links = self.links.borrow().clone();
        let now = shm_layout::now_ms();
        links
            .values()
            .map(|l: &Link| {
                self.status.get(&l.channel).unwrap_or_else(|| {
                    let (state, detail) = if self.connector_running {
                        (ChannelState::Connecting, "starting the connector")
                    } else {
                        (
                            ChannelState::Error,
                            "this ingest runs without its platform connector (--stdin mode)",
                        )
                    };
                    ChannelStatus {
                        channel: l.channel.clone(),
                        state,
                        detail: detail.into(),
                        since: now,
                        last_message_at: None,
                        chatroom_id: None,
                        channel_id: None,
                    }
                })
            })
            .collect()
    }
}
