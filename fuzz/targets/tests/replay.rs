//! Replays every committed seed (`fuzz/corpus/<target>/`) and every crash input
//! kept as a regression (`fuzz/regressions/<target>/`) through the target
//! functions, so `cargo test --workspace` checks them without libFuzzer.

use arrayq_fuzz_targets::TARGETS;
use std::path::Path;

fn replay(dir: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
    let mut n = 0;
    for (name, run) in TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(name)) else {
            continue;
        };
        let mut files: Vec<_> = entries.map(|e| e.expect("dir entry").path()).collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).expect("read an input");
            eprintln!("{name}: {}", f.display());
            run(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn seed_corpus_replays() {
    assert!(replay("corpus") > 0, "no seed corpus found");
}

#[test]
fn regressions_replay() {
    replay("regressions");
}
