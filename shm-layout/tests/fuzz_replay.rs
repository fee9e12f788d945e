//! Replays the committed fuzz corpora and crash reproducers of this crate's targets
//! (`fuzz/corpus/<target>/`, `fuzz/artifacts-kept/<target>/`) through the same property checks
//! the `cargo fuzz` targets run, on the stable toolchain, so CI guards them without nightly.

#[test]
fn every_committed_fuzz_input_still_passes_its_checks() {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let ran = shm_layout::fuzzing::replay(&fuzz, shm_layout::fuzzing::TARGETS);
    assert!(ran > 0);
}
