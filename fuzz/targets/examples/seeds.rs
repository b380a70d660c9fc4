//! Writes the generated part of the seed corpora (valid Write streams, change
//! events, stored-format mutations) into `fuzz/corpus/<target>/`:
//! `cargo run -p arrayq-fuzz-targets --example seeds`. The query seeds are
//! statements from docs/query-language.md, kept as files.

use arrayq_proto::v1 as pb;
use arrayq_storage::{ChangeEvent, ChangeKind, CoordValue, DimExtent};
use prost::Message;
use std::path::{Path, PathBuf};

fn dir(target: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(target);
    std::fs::create_dir_all(&d).expect("corpus dir");
    d
}

fn range(start: u64, count: u64) -> pb::IndexRange {
    pb::IndexRange { start, count }
}

fn header(attributes: &[&str], region: Vec<pb::IndexRange>, labels: &[i64]) -> pb::WriteRequest {
    let labels = if labels.is_empty() {
        vec![]
    } else {
        vec![pb::LabelAppend {
            dim: "site".into(),
            labels: labels.to_vec(),
            text_labels: vec![],
        }]
    };
    pb::WriteRequest {
        msg: Some(pb::write_request::Msg::Header(pb::WriteHeader {
            array: "w".into(),
            attributes: attributes.iter().map(|a| a.to_string()).collect(),
            region,
            labels,
            expect_version: None,
        })),
    }
}

fn block(attribute: u32, byte_offset: u64, data: Vec<u8>) -> pb::WriteRequest {
    pb::WriteBlock {
        attribute,
        byte_offset,
        data,
    }
    .into()
}

fn stream(msgs: &[pb::WriteRequest]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        m.encode_length_delimited(&mut out).expect("encode");
    }
    out
}

fn f32s(n: usize, x: f32) -> Vec<u8> {
    (0..n).flat_map(|i| (x + i as f32).to_le_bytes()).collect()
}

fn main() {
    let w = dir("write_rpc");
    let seeds: Vec<Vec<pb::WriteRequest>> = vec![
        vec![
            header(&["v"], vec![range(0, 2), range(0, 2), range(0, 3)], &[]),
            block(0, 0, f32s(12, 1.0)),
        ],
        vec![
            header(
                &["v", "n"],
                vec![range(1, 3), range(1, 1), range(0, 3)],
                &[],
            ),
            block(0, 0, f32s(5, 2.0)),
            block(0, 20, f32s(4, 9.0)),
            block(1, 0, (0..9i32).flat_map(|i| i.to_le_bytes()).collect()),
        ],
        vec![
            header(&["ok"], vec![range(0, 1), range(2, 1), range(0, 3)], &[7]),
            block(0, 0, vec![0, 1, 2]),
        ],
        vec![
            header(&["v"], vec![range(0, 4), range(0, 2), range(0, 3)], &[]),
            block(0, 0, f32s(24, 0.5)),
            header(&["n"], vec![range(2, 2), range(0, 1), range(1, 2)], &[]),
            block(
                0,
                0,
                (0..4i32).flat_map(|i| (i * 7).to_le_bytes()).collect(),
            ),
        ],
        vec![
            header(&["v"], vec![range(0, 1), range(0, 1), range(0, 1)], &[]),
            block(0, 0, f32s(1, 3.0)),
        ],
        vec![header(
            &["v"],
            vec![range(0, 1), range(0, 9), range(0, 1)],
            &[3, 4],
        )],
        vec![header(&["n", "n"], vec![range(0, 1)], &[])],
    ];
    for (i, s) in seeds.iter().enumerate() {
        std::fs::write(w.join(format!("write-{i}")), stream(s)).expect("write seed");
    }
    let c = dir("change_log");
    let events = [
        ChangeEvent {
            seq: 7,
            array: "era5".into(),
            kind: ChangeKind::Write,
            version: 3,
            timestamp_ns: 1_672_531_200_000_000_000,
            region: vec![
                DimExtent {
                    dim: "time".into(),
                    start: 0,
                    end: 24,
                    first: CoordValue::Time(1_672_531_200_000_000_000),
                    last: CoordValue::Time(1_672_614_000_000_000_000),
                },
                DimExtent {
                    dim: "lat".into(),
                    start: 0,
                    end: 6,
                    first: CoordValue::Number(54.0),
                    last: CoordValue::Number(51.5),
                },
            ],
            cells_written: 720,
        },
        ChangeEvent {
            seq: 1,
            array: "assets".into(),
            kind: ChangeKind::Create,
            version: 0,
            timestamp_ns: 5,
            region: vec![],
            cells_written: 0,
        },
        ChangeEvent {
            seq: 9,
            array: "power".into(),
            kind: ChangeKind::Write,
            version: 2,
            timestamp_ns: 6,
            region: vec![DimExtent {
                dim: "asset".into(),
                start: 1,
                end: 3,
                first: CoordValue::Text("NL-WIND-042".into()),
                last: CoordValue::Label(51),
            }],
            cells_written: 2,
        },
    ];
    for (i, ev) in events.iter().enumerate() {
        let key = [b"L".as_slice(), &ev.seq.to_be_bytes()].concat();
        let mut raw = vec![0u8, key.len() as u8];
        raw.extend_from_slice(&key);
        raw.extend_from_slice(&ev.encode());
        std::fs::write(c.join(format!("event-{i}")), raw).expect("write seed");
    }
    std::fs::write(c.join("built-0"), [1u8, 7, 0, 0, 0, 0, 0, 0, 0, 1, 3, 0]).expect("seed");
    std::fs::write(
        c.join("built-1"),
        (0..96u8)
            .map(|i| i.wrapping_mul(37) | 1)
            .collect::<Vec<_>>(),
    )
    .expect("seed");
    let s = dir("stored_format");
    let mutations: [&[u8]; 6] = [
        &[],
        &[0, 0, 10, 0, 0, 0, 0xff],
        &[0, 1, 40, 0, 0, 0, 1, 0, 2, 20, 0, 0, 0, 4],
        &[1, 3, 5, 1, 2, 3, 4, 5],
        &[2, 5, 2, 200, 0, 0, 0, 0, 0, 0, 0],
        &[2, 7, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 3, 0, 0, 0, 0x80],
    ];
    for (i, m) in mutations.iter().enumerate() {
        std::fs::write(s.join(format!("mutate-{i}")), m).expect("write seed");
    }
}
