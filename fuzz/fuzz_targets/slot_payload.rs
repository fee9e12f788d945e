#![no_main]
//! The `slot_payload` check of `shm_layout::fuzzing` (its doc says what input it takes and what it asserts).

libfuzzer_sys::fuzz_target!(|data: &[u8]| shm_layout::fuzzing::slot_payload(data));
