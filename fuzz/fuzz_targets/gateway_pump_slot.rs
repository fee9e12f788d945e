#![no_main]
//! The `pump_slot` check of `gateway::fuzzing` (its doc says what input it takes and what it asserts).

libfuzzer_sys::fuzz_target!(|data: &[u8]| gateway::fuzzing::pump_slot(data));
