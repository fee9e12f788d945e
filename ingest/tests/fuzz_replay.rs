//! Replays the committed fuzz corpora and crash reproducers of this crate's targets
//! (`fuzz/corpus/<target>/`, `fuzz/artifacts-kept/<target>/`) through the same property checks
//! the `cargo fuzz` targets run, on the stable toolchain, so CI guards them without nightly.
//! Also checks that every fuzz target and corpus directory belongs to a replayed target (those
//! named `gateway_*` are the gateway's, checked by `gateway/tests/fuzz_replay.rs`).

use std::path::{Path, PathBuf};

use shm_layout::fuzzing::{files, replay};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

#[test]
fn every_committed_fuzz_input_still_passes_its_checks() {
    let ran = replay(&fuzz_dir(), ingest::fuzzing::TARGETS);
    assert!(ran > 0);
}

#[test]
fn every_fuzz_target_and_corpus_is_replayed() {
    let known: Vec<&str> = ingest::fuzzing::TARGETS
        .iter()
        .chain(shm_layout::fuzzing::TARGETS)
        .map(|(name, _)| *name)
        .collect();
    let dir = fuzz_dir();
    let targets: Vec<_> = files(&dir.join("fuzz_targets"))
        .into_iter()
        .filter(|p| !is_gateways(&p.file_stem().unwrap_or_default().to_string_lossy()))
        .collect();
    assert_eq!(targets.len(), known.len(), "{targets:?} vs {known:?}");
    for path in targets {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        assert!(known.contains(&stem), "fuzz target {stem} is not replayed");
    }
    for sub in ["corpus", "artifacts-kept"] {
        for entry in std::fs::read_dir(dir.join(sub)).into_iter().flatten() {
            let name = entry.expect("a directory entry").file_name();
            let name = name.to_string_lossy();
            if is_gateways(&name) {
                continue;
            }
            assert!(known.contains(&&*name), "{sub}/{name} belongs to no target");
        }
    }
}

/// The gateway's targets: its own replay checks them (this crate cannot see its checks).
fn is_gateways(name: &str) -> bool {
    name.starts_with("gateway_")
}
