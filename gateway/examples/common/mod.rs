//! Code shared by the gateway's example drivers (`load`, `fanout`), included by each with
//! `#[path = "common/mod.rs"] mod common;`:
//!
//! * [`stack`]: start the release gateway and ingests in a temporary directory, stop and restart
//!   the gateway, keep its log, raise the open-file limit;
//! * [`http`]: a keep-alive HTTP/1.1 client, streamer registration, overlay links, `/metrics`;
//! * [`ws`]: open and join dashboard or overlay sockets with small buffers from chosen source
//!   addresses;
//! * [`tally`]: count what a subscriber receives without parsing JSON;
//! * [`crowd`]: the subscribers of a run, connected through a gate, with shared counters;
//! * [`produce`]: paced and one-shot producers on the ingest sockets;
//! * [`stats`]: gateway RSS and CPU from `/proc`, a mergeable latency histogram, sequence sets.

// Each example uses a different part of this code.
#![allow(dead_code)]

pub mod crowd;
pub mod http;
pub mod produce;
pub mod stack;
pub mod stats;
pub mod tally;
pub mod ws;
