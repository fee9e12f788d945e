#![no_main]
//! The `ws_inbound` check of `gateway::fuzzing` (its doc says what input it takes and what it asserts).

libfuzzer_sys::fuzz_target!(|data: &[u8]| gateway::fuzzing::ws_inbound(data));
