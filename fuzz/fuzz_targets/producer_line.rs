#![no_main]
//! The `producer_line` check of `ingest::fuzzing` (its doc says what input it takes and what it asserts).

libfuzzer_sys::fuzz_target!(|data: &[u8]| ingest::fuzzing::producer_line(data));
