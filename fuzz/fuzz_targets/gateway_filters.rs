#![no_main]
//! The `filters` check of `gateway::fuzzing` (its doc says what input it takes and what it asserts).

libfuzzer_sys::fuzz_target!(|data: &[u8]| gateway::fuzzing::filters(data));
