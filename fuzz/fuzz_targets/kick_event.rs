#![no_main]
//! The `kick_event` check of `ingest::fuzzing` (its doc says what input it takes and what it asserts).

libfuzzer_sys::fuzz_target!(|data: &[u8]| ingest::fuzzing::kick_event(data));
