//! The gateway's metrics: one [`Metrics`] in the shared state owns the `prometheus-client`
//! registry and the handles the code updates; `GET /metrics` ([`crate::http::routes::metrics`]) only
//! encodes it.
//!
//! Two kinds of series:
//! * registered metrics updated where things happen (histograms, the HTTP and login counters,
//!   frames sent) — each update is an atomic add, or for a histogram an uncontended lock;
//! * values read at scrape time by [`collector::LiveCollector`]: the segment's own counters and
//!   ring positions (kept in shared memory by every process, so they can only be read, not
//!   incremented here), the pump's existing counters, the WebSocket gauges, the connectors'
//!   counters and the channels by state.

pub mod collector;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of `crosschat_http_requests_total`: a route template from a fixed set (never a raw
/// path, so the number of series is bounded) and the status code.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The route template, e.g. `/api/producers/{platform}`; `other` for anything unrouted.
    pub route: &'static str,
    /// The response status.
    pub status: u16,
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
    /// Builds the registry. `fsync_seconds` is the log store's histogram; the scrape-time
    /// collector is added with [`Metrics::register_collector`] once the state exists.
    pub fn new(fsync_seconds: &Histogram) -> Metrics {
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

    /// Adds a collector read at every scrape ([`collector::LiveCollector`]).
    pub fn register_collector(&mut self, collector: Box<dyn Collector>) {
        self.registry.register_collector(collector);
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
