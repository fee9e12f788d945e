//! The gateway's metrics: one [`Metrics`] in the shared state owns the `prometheus-client`
//! registry and the handles the code updates; `GET /metrics` ([`crate::routes::metrics`]) only
//! encodes it.
//!
//! Two kinds of series:
//! * registered metrics updated where things happen (histograms, the HTTP and login counters,
//!   frames sent) — each update is an atomic add, or for a histogram an uncontended lock;
//! * values read at scrape time by [`LiveCollector`]: the segment's own counters and ring
//!   positions (kept in shared memory by every process, so they can only be read, not
//!   incremented here), the pump's existing counters, and the WebSocket gauges.

use std::sync::{Arc, Weak};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use shm_layout::protocol::{ChannelState, MetricsSnapshot};
use shm_layout::Platform;

use crate::state::AppState;

/// Labels of `crosschat_http_requests_total`: a route template from a fixed set (never a raw
/// path, so the number of series is bounded) and the status code.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The route template, e.g. `/api/producers/{platform}`; `other` for anything unrouted.
    pub route: &'static str,
    /// The response status.
    pub status: u16,
}

/// The fsync histogram, created with the log store (which observes it) and registered by
/// [`Metrics::new`]: 50 µs … ~1.6 s.
pub fn fsync_histogram() -> Histogram {
    Histogram::new(exponential_buckets(50e-6, 2.0, 16))
}

/// The registry and every metric handle.
pub struct Metrics {
    registry: Registry,
    /// Messages per non-empty pump cycle.
    pub pump_batch_size: Histogram,
    /// Duration of a non-empty pump cycle (peek, persist, push, commit), seconds.
    pub pump_cycle_seconds: Histogram,
    /// Now − the message's `timestamp` when the pump has persisted it, seconds.
    pub produce_to_persist_seconds: Histogram,
    /// Text frames written to WebSocket peers (chat messages, events, replies; not pings/closes).
    pub ws_frames_sent: Counter,
    /// HTTP responses by route template and status.
    pub http_requests: Family<HttpLabels, Counter>,
    /// Logins refused for a wrong username or password (401).
    pub login_failures: Counter,
    /// Logins refused by the failed-login throttle (429).
    pub login_throttled: Counter,
    /// Overlay sockets closed for a key that opens nothing (4001).
    pub overlay_key_refused: Counter,
    /// WebSocket connections closed for invalid frames (1008 after 5, 1009 for a broken one).
    pub ws_closed_invalid: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Builds the registry. `state` is the (not yet built) shared state, read at scrape time;
    /// `fsync_seconds` is the log store's histogram.
    pub fn new(state: Weak<AppState>, fsync_seconds: &Histogram) -> Metrics {
        let mut registry = Registry::default();
        let pump_batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 14));
        let pump_cycle_seconds = Histogram::new(exponential_buckets(50e-6, 2.0, 16));
        let produce_to_persist_seconds = Histogram::new(exponential_buckets(0.5e-3, 2.0, 16));
        let ws_frames_sent = Counter::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        let login_failures = Counter::default();
        let login_throttled = Counter::default();
        let overlay_key_refused = Counter::default();
        let ws_closed_invalid = Counter::default();
        registry.register(
            "crosschat_pump_batch_size",
            "Messages per non-empty pump cycle",
            pump_batch_size.clone(),
        );
        registry.register(
            "crosschat_pump_cycle_seconds",
            "Duration of a non-empty pump cycle: peek, persist, push to rooms, commit",
            pump_cycle_seconds.clone(),
        );
        registry.register(
            "crosschat_store_fsync_seconds",
            "Duration of one fdatasync of a chat log (with --fsync cycle)",
            fsync_seconds.clone(),
        );
        registry.register(
            "crosschat_produce_to_persist_seconds",
            "Time from a message's timestamp (set by the producer) to its persistence by the pump",
            produce_to_persist_seconds.clone(),
        );
        registry.register(
            "crosschat_ws_frames_sent",
            "Text frames written to WebSocket connections (messages, events, replies)",
            ws_frames_sent.clone(),
        );
        registry.register(
            "crosschat_http_requests",
            "HTTP responses by route template and status",
            http_requests.clone(),
        );
        registry.register(
            "crosschat_login_failures",
            "Logins refused for a wrong username or password (401)",
            login_failures.clone(),
        );
        registry.register(
            "crosschat_login_throttled",
            "Logins refused by the failed-login throttle (429)",
            login_throttled.clone(),
        );
        registry.register(
            "crosschat_overlay_key_refused",
            "Overlay sockets closed because their key opens no overlay link (4001)",
            overlay_key_refused.clone(),
        );
        registry.register(
            "crosschat_ws_closed_invalid",
            "WebSocket connections closed for invalid frames (1008 after five, 1009 for an oversize or malformed one)",
            ws_closed_invalid.clone(),
        );
        registry.register_collector(Box::new(LiveCollector { state }));
        Metrics {
            registry,
            pump_batch_size,
            pump_cycle_seconds,
            produce_to_persist_seconds,
            ws_frames_sent,
            http_requests,
            login_failures,
            login_throttled,
            overlay_key_refused,
            ws_closed_invalid,
        }
    }

    /// Counts one HTTP response.
    pub fn http_request(&self, path: &str, status: u16) {
        self.http_requests
            .get_or_create(&HttpLabels {
                route: route_template(path),
                status,
            })
            .inc();
    }

    /// The exposition text (OpenMetrics text format, which Prometheus scrapes).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        // Writing to a String cannot fail; a collector error would only cut the text short.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The route template of a request: a fixed set of strings, so `route` has bounded cardinality.
pub fn route_template(path: &str) -> &'static str {
    match path {
        "/api/auth/register" => "/api/auth/register",
        "/api/auth/login" => "/api/auth/login",
        "/api/auth/logout" => "/api/auth/logout",
        "/api/auth/me" => "/api/auth/me",
        "/api/stream/control" => "/api/stream/control",
        "/api/stream/sessions" => "/api/stream/sessions",
        "/api/messages" => "/api/messages",
        "/api/channels" => "/api/channels",
        p if p.starts_with("/api/channels/") => "/api/channels/{platform}/{channel}",
        "/api/socket" => "/api/socket",
        "/api/overlay/socket" => "/api/overlay/socket",
        "/api/overlays" => "/api/overlays",
        "/api/overlays/hide" => "/api/overlays/hide",
        p if p.starts_with("/api/overlays/") => "/api/overlays/{id}",
        "/api/filters" => "/api/filters",
        "/overlay" => "/overlay",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/metrics" => "/metrics",
        "/" => "/",
        "/register" => "/register",
        "/login" => "/login",
        "/dashboard" => "/dashboard",
        p if p.starts_with("/api/producers/") => "/api/producers/{platform}",
        p if p.starts_with("/assets/") => "/assets/{name}",
        _ => "other",
    }
}

/// Reads, at each scrape, what is kept elsewhere: the segment's counters and ring, the pump's
/// counters and the WebSocket gauges. Holds the state weakly (the state owns the registry).
#[derive(Debug)]
struct LiveCollector {
    state: Weak<AppState>,
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
