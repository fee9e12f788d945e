//! Replays the committed fuzz corpora and crash reproducers of the gateway's targets
//! (`fuzz/corpus/gateway_*/`, `fuzz/artifacts-kept/gateway_*/`) through the same property checks
//! the `cargo fuzz` targets run, on the stable toolchain, so CI guards them without nightly.
//! Also checks that every `gateway_*` fuzz target and corpus directory belongs to a replayed
//! target (the other crates' replays check the rest).

use std::path::{Path, PathBuf};

use gateway::fuzzing::{PREFIX, TARGETS};
use shm_layout::fuzzing::{files, replay};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

#[test]
fn every_committed_fuzz_input_still_passes_its_checks() {
    let ran = replay(&fuzz_dir(), TARGETS);
    assert!(ran > 0);
}

#[test]
fn every_gateway_fuzz_target_and_corpus_is_replayed() {
    let known: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    assert!(known.iter().all(|n| n.starts_with(PREFIX)), "{known:?}");
    let dir = fuzz_dir();
    let targets: Vec<String> = files(&dir.join("fuzz_targets"))
        .iter()
        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_owned))
        .filter(|s| s.starts_with(PREFIX))
        .collect();
    assert_eq!(targets.len(), known.len(), "{targets:?} vs {known:?}");
    for stem in &targets {
        assert!(
            known.contains(&stem.as_str()),
            "fuzz target {stem} is not replayed"
        );
    }
    for sub in ["corpus", "artifacts-kept"] {
        for entry in std::fs::read_dir(dir.join(sub)).into_iter().flatten() {
            let name = entry.expect("a directory entry").file_name();
            let name = name.to_string_lossy();
            if name.starts_with(PREFIX) {
                assert!(known.contains(&&*name), "{sub}/{name} belongs to no target");
            }
        }
    }
}
