//! One test per defect fuzzing found, named after its cause, each replaying the
//! input that showed it (kept in `fuzz/regressions/<target>/`).

use std::path::Path;

fn replay(target: &str, file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../regressions")
        .join(target)
        .join(file);
    let data = std::fs::read(&path).expect("regression input");
    let (_, run) = arrayq_fuzz_targets::TARGETS
        .iter()
        .find(|t| t.0 == target)
        .expect("target");
    run(&data);
}

/// A chunk index value that is neither inline nor a 17-byte pointer was reported
/// as "corrupt metadata" without naming the chunk; now it is a corrupt chunk.
#[test]
fn malformed_chunk_index_value_is_a_corrupt_chunk() {
    replay("stored_format", "malformed-index-value");
}

/// serde_json's default float parser may be one ULP off, so a number coordinate
/// of a change event (and of a schema) did not read back as written; the
/// workspace now enables its `float_roundtrip` feature.
#[test]
fn float_coordinate_round_trips_exactly() {
    replay("change_log", "float-not-round-tripped");
}

/// A pointer at bytes whose CRC32 happens to match (four zero bytes: the CRC of
/// nothing) reached zstd and failed as a codec error without naming the chunk;
/// a payload that does not decode is now a corrupt chunk too.
#[test]
fn crc_valid_undecodable_payload_is_a_corrupt_chunk() {
    replay("stored_format", "crc-valid-undecodable-payload");
}
