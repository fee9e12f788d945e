//! `GET /metrics`: Prometheus text exposition of the pump, the WebSocket rooms and the segment.
//!
//! Written by hand from the atomics the gateway already keeps (and the segment's own counters):
//! a handful of numbers need no registry.

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use warp::http::{header, HeaderValue};
use warp::{Filter, Rejection, Reply};

use crate::auth::with_state;
use crate::state::State;

/// The metrics route.
pub fn routes(
    state: State,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::path!("metrics")
        .and(warp::get())
        .and(with_state(state))
        .map(|state: State| {
            let mut res = render(&state).into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            res
        })
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

/// The exposition text.
pub fn render(state: &State) -> String {
    let mut out = String::new();
    let p = &state.pump_stats;
    let c = |name, help, v: u64| (name, "counter", help, v);
    let g = |name, help, v: u64| (name, "gauge", help, v);
    let rows = [
        c(
            "crosschat_pump_batches_total",
            "Pump cycles that found messages.",
            p.batches.load(Relaxed),
        ),
        c(
            "crosschat_pump_persisted_total",
            "Messages written to a chat log.",
            p.persisted.load(Relaxed),
        ),
        c(
            "crosschat_pump_duplicates_total",
            "Messages met again after a crash and skipped.",
            p.duplicates.load(Relaxed),
        ),
        c(
            "crosschat_pump_unknown_streamer_total",
            "Messages for a streamerId without an account (not persisted).",
            p.unknown_streamer.load(Relaxed),
        ),
        c(
            "crosschat_pump_bad_payloads_total",
            "Ring slots whose payload did not parse (skipped).",
            p.bad_payloads.load(Relaxed),
        ),
        c(
            "crosschat_pump_persist_errors_total",
            "Pump cycles whose persistence failed (retried).",
            p.persist_errors.load(Relaxed),
        ),
        g(
            "crosschat_pump_last_batch",
            "Messages in the last non-empty pump cycle.",
            p.last_batch.load(Relaxed),
        ),
        g(
            "crosschat_ws_connections",
            "Live WebSocket connections.",
            state.ws_connections.load(Relaxed) as u64,
        ),
        g(
            "crosschat_ws_subscribers",
            "WebSocket connections joined to a room.",
            state.rooms.subscribers() as u64,
        ),
        c(
            "crosschat_ws_slow_closed_total",
            "WebSocket connections closed with 1013 for falling behind.",
            state.rooms.kicked.load(Relaxed),
        ),
    ];
    for (name, kind, help, v) in rows {
        metric(&mut out, name, kind, help, v);
    }
    if let Some(seg) = state.segment.get() {
        let s = seg.snapshot();
        metric(
            &mut out,
            "crosschat_ring_head",
            "counter",
            "The ring's head sequence (messages committed by the pump).",
            s.head,
        );
        metric(
            &mut out,
            "crosschat_ring_tail",
            "counter",
            "The ring's tail sequence (messages published by ingests).",
            s.tail,
        );
        metric(
            &mut out,
            "crosschat_ring_depth",
            "gauge",
            "Messages queued in the ring.",
            s.length,
        );
        for (name, v) in &s.counters {
            metric(
                &mut out,
                &format!("crosschat_segment_{name}"),
                if name.starts_with("max") {
                    "gauge"
                } else {
                    "counter"
                },
                "Counter kept in the segment header (see crosschat-shm inspect).",
                *v,
            );
        }
    }
    out
}
