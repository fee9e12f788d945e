//! What `GET /metrics` reads at each scrape from where it is kept: the segment's counters and
//! ring, the pump's counters, the WebSocket gauges, the connectors' counters as the ingests
//! reported them, and the linked channels by state.

use std::sync::{Arc, Weak};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use shm_layout::protocol::{ChannelState, MetricsSnapshot};
use shm_layout::Platform;

use crate::state::AppState;

/// Reads, at each scrape, what is kept elsewhere: the segment's counters and ring, the pump's
/// counters and the WebSocket gauges. Holds the state weakly (the state owns the registry).
#[derive(Debug)]
pub struct LiveCollector {
    state: Weak<AppState>,
}

impl LiveCollector {
    /// A collector of `state` (weak: the state owns the registry).
    pub fn new(state: Weak<AppState>) -> LiveCollector {
        LiveCollector { state }
    }
}

fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let m = ConstCounter::new(v);
    // Help texts end with a period, as `Registry::register` writes them.
    m.encode(enc.encode_descriptor(name, &format!("{help}."), None, m.metric_type())?)
}

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> std::fmt::Result {
    let m = ConstGauge::new(v);
    m.encode(enc.encode_descriptor(name, &format!("{help}."), None, m.metric_type())?)
}

/// One metric family with a value per label set (connector counters by platform).
fn family(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    counter_type: bool,
    rows: &[(Vec<(&'static str, String)>, u64)],
) -> std::fmt::Result {
    if rows.is_empty() {
        return Ok(());
    }
    let t = if counter_type {
        prometheus_client::metrics::MetricType::Counter
    } else {
        prometheus_client::metrics::MetricType::Gauge
    };
    let mut me = enc.encode_descriptor(name, &format!("{help}."), None, t)?;
    for (labels, v) in rows {
        let fam = me.encode_family(labels)?;
        if counter_type {
            ConstCounter::new(*v).encode(fam)?;
        } else {
            ConstGauge::new(to_i64(*v)).encode(fam)?;
        }
    }
    Ok(())
}

/// The connectors' counters as the ingests last reported them, and the channels by state.
fn connector_metrics(e: &mut DescriptorEncoder, state: &AppState) -> std::fmt::Result {
    let reported = state.channels.metrics();
    type Field = fn(&MetricsSnapshot) -> u64;
    let fields: [(&str, Field, &str, bool); 7] = [
        (
            "crosschat_connector_connections",
            |m| m.connections,
            "Platform connections open",
            false,
        ),
        (
            "crosschat_connector_reconnects",
            |m| m.reconnects,
            "Platform connections opened again after a drop",
            true,
        ),
        (
            "crosschat_connector_parse_errors",
            |m| m.parse_errors,
            "Platform lines or frames that did not parse (skipped)",
            true,
        ),
        (
            "crosschat_connector_skipped",
            |m| m.skipped,
            "Platform events of a kind not mapped (skipped)",
            true,
        ),
        (
            "crosschat_connector_duplicates",
            |m| m.duplicates,
            "Platform events dropped as duplicates",
            true,
        ),
        (
            "crosschat_connector_ring_retries",
            |m| m.ring_retries,
            "Ring writes retried because the ring was full",
            true,
        ),
        (
            "crosschat_connector_panics",
            |m| m.panics,
            "Connector restarts after an internal error",
            true,
        ),
    ];
    for (name, field, help, is_counter) in fields {
        let rows: Vec<_> = reported
            .iter()
            .map(|(p, m)| (vec![("platform", p.slug().to_owned())], field(m)))
            .collect();
        family(e, name, help, is_counter, &rows)?;
    }
    // Quota gauges only where the platform has a quota (YouTube).
    let quotas: [(&str, Field, &str); 3] = [
        (
            "crosschat_connector_quota_used",
            |m| m.quota_used,
            "Quota units spent today (YouTube; resets at midnight Pacific)",
        ),
        (
            "crosschat_connector_quota_left",
            |m| m.quota_left,
            "Quota units left today (YouTube)",
        ),
        (
            "crosschat_connector_quota_daily",
            |m| m.quota_daily,
            "Quota units per day of the key (YouTube)",
        ),
    ];
    for (name, field, help) in quotas {
        let rows: Vec<_> = reported
            .iter()
            .filter(|(_, m)| m.quota_daily > 0)
            .map(|(p, m)| (vec![("platform", p.slug().to_owned())], field(m)))
            .collect();
        family(e, name, help, false, &rows)?;
    }
    // Linked channels by state, every state of every platform (0 included).
    let mut rows = Vec::new();
    for p in Platform::ALL {
        let mut counts = [0u64; ChannelState::ALL.len()];
        for link in state.store.channels().for_platform(p) {
            let s = state.channels.view(p, &link.channel, 0).state;
            if let Some(i) = ChannelState::ALL.iter().position(|x| *x == s) {
                counts[i] += 1;
            }
        }
        for (s, n) in ChannelState::ALL.iter().zip(counts) {
            rows.push((
                vec![
                    ("platform", p.slug().to_owned()),
                    ("state", s.as_str().to_owned()),
                ],
                n,
            ));
        }
    }
    family(
        e,
        "crosschat_channels",
        "Linked channels (each read once, whatever the number of streamers linking it), by state",
        false,
        &rows,
    )?;
    let rows: Vec<_> = reported
        .iter()
        .flat_map(|(p, m)| {
            m.events.iter().map(move |(kind, n)| {
                (
                    vec![("platform", p.slug().to_owned()), ("kind", kind.clone())],
                    *n,
                )
            })
        })
        .collect();
    family(
        e,
        "crosschat_connector_events",
        "Platform events received, by kind",
        true,
        &rows,
    )?;
    Ok(())
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Collector for LiveCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(state) = self.state.upgrade() else {
            return Ok(());
        };
        let state: Arc<AppState> = state;
        let p = &state.pump_stats;
        let ld = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        let e = &mut enc;
        counter(
            e,
            "crosschat_pump_batches",
            "Pump cycles that found messages",
            ld(&p.batches),
        )?;
        counter(
            e,
            "crosschat_pump_persisted",
            "Messages written to a chat log",
            ld(&p.persisted),
        )?;
        counter(
            e,
            "crosschat_pump_duplicates",
            "Messages met again after a crash and skipped",
            ld(&p.duplicates),
        )?;
        counter(
            e,
            "crosschat_pump_unknown_streamer",
            "Messages for a streamerId without an account (not persisted)",
            ld(&p.unknown_streamer),
        )?;
        counter(
            e,
            "crosschat_pump_bad_payloads",
            "Ring slots whose payload did not parse (skipped)",
            ld(&p.bad_payloads),
        )?;
        counter(
            e,
            "crosschat_pump_persist_errors",
            "Pump cycles whose persistence failed (retried)",
            ld(&p.persist_errors),
        )?;
        gauge(
            e,
            "crosschat_pump_last_batch",
            "Messages in the last non-empty pump cycle",
            to_i64(ld(&p.last_batch)),
        )?;
        gauge(
            e,
            "crosschat_ws_connections",
            "Live WebSocket connections",
            state
                .ws_connections
                .load(std::sync::atomic::Ordering::Relaxed) as i64,
        )?;
        gauge(
            e,
            "crosschat_ws_subscribers",
            "WebSocket connections joined to a room",
            state.rooms.subscribers() as i64,
        )?;
        counter(
            e,
            "crosschat_ws_slow_closed",
            "WebSocket subscribers cut off for falling behind (closed with 1013)",
            ld(&state.rooms.kicked),
        )?;
        counter(
            e,
            "crosschat_ws_slow_closed_bytes",
            "Of those, the subscribers cut off by their queue's byte budget (--ws-queue-bytes)",
            ld(&state.rooms.kicked_bytes),
        )?;
        connector_metrics(e, &state)?;
        if let Some(seg) = state.segment.get() {
            let s = seg.snapshot();
            // Ring positions are sequence numbers, not event counts: exposed as gauges.
            gauge(
                e,
                "crosschat_ring_head",
                "The ring's head sequence (next to be committed by the pump)",
                to_i64(s.head),
            )?;
            gauge(
                e,
                "crosschat_ring_tail",
                "The ring's tail sequence (next to be published by an ingest)",
                to_i64(s.tail),
            )?;
            gauge(
                e,
                "crosschat_ring_depth",
                "Messages queued in the ring",
                to_i64(s.length),
            )?;
            for (name, v) in &s.counters {
                let metric = format!("crosschat_segment_{name}");
                if name.starts_with("max") {
                    gauge(
                        e,
                        &metric,
                        "High-water mark kept in the segment header (see crosschat-shm inspect)",
                        to_i64(*v),
                    )?;
                } else {
                    counter(
                        e,
                        &metric,
                        "Counter kept in the segment header by every process (see crosschat-shm inspect)",
                        *v,
                    )?;
                }
            }
        }
        Ok(())
    }
}
