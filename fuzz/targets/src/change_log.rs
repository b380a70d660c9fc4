//! `change_log`: the change log's entries (`L seq` -> ChangeEvent JSON, read by
//! `ChangeEvent::decode`, which `Store::changes_since` and so Subscribe use) and
//! Subscribe's conversion of an event to its protobuf message. The first byte
//! picks the input's form:
//!
//! * even: raw bytes, split into a key (up to 15 bytes) and a JSON value;
//! * odd: a valid event built from the bytes, encoded as the store writes it,
//!   which must decode to itself, then one byte of its JSON changed.
//!
//! Never a panic; whatever decodes re-encodes to an entry that decodes to the same
//! event, and converts for Subscribe.

use crate::bytes::Input;
use arrayq_storage::{ChangeEvent, ChangeKind, CoordValue, DimExtent};

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    if input.u8().is_multiple_of(2) {
        let n = input.u8() as usize % 16;
        let key = input.bytes(n).to_vec();
        let value = input.bytes(usize::MAX);
        decoded(&key, value);
        return;
    }
    let ev = event(&mut input);
    let key = key(ev.seq);
    let mut value = ev.encode();
    let back =
        ChangeEvent::decode(&key, &value).unwrap_or_else(|e| panic!("{ev:?} does not decode: {e}"));
    assert_eq!(back, ev, "an event changed through the log");
    if !value.is_empty() {
        let at = input.u32() as usize % value.len();
        value[at] ^= input.u8();
        decoded(&key, &value);
    }
}

fn key(seq: u64) -> Vec<u8> {
    [b"L".as_slice(), &seq.to_be_bytes()].concat()
}

/// Whatever decodes survives a second trip through the log, and Subscribe can send it.
fn decoded(key: &[u8], value: &[u8]) {
    let Ok(ev) = ChangeEvent::decode(key, value) else {
        return;
    };
    let again =
        ChangeEvent::decode(&self::key(ev.seq), &ev.encode()).expect("re-encoded event decodes");
    assert_eq!(again, ev, "a decoded event changed through the log");
    let pb = arrayq_server::event_to_pb(&ev);
    assert_eq!((pb.seq, pb.region.len()), (ev.seq, ev.region.len()));
}

fn event(input: &mut Input) -> ChangeEvent {
    let seq = input.u64();
    let kind = ChangeKind::ALL[input.u8() as usize % ChangeKind::ALL.len()];
    let version = input.u64();
    let timestamp_ns = input.u64() as i64;
    let cells_written = input.u64();
    let n = input.u8() as usize % 12;
    let array = String::from_utf8_lossy(input.bytes(n)).into_owned();
    let dims = input.u8() as usize % 4;
    let region = (0..dims)
        .map(|d| DimExtent {
            dim: format!("d{d}"),
            start: input.u64(),
            end: input.u64(),
            first: coord(input),
            last: coord(input),
        })
        .collect();
    ChangeEvent {
        seq,
        array,
        kind,
        version,
        timestamp_ns,
        region,
        cells_written,
    }
}

/// A coordinate as the store writes them (numbers are finite: JSON has no NaN).
fn coord(input: &mut Input) -> CoordValue {
    let kind = input.u8() % 4;
    let x = input.u64();
    match kind {
        0 => CoordValue::Number(
            Some(f64::from_bits(x))
                .filter(|v| v.is_finite())
                .unwrap_or(0.5),
        ),
        1 => CoordValue::Time(x as i64),
        2 => CoordValue::Label(x as i64),
        _ => {
            let n = input.u8() as usize % 12;
            CoordValue::Text(String::from_utf8_lossy(input.bytes(n)).into_owned())
        }
    }
}
