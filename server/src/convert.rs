//! Conversions between the protobuf messages (`arrayq_proto::v1`) and the query
//! engine's results (headers, statistics, stored-chunk blocks) and the store's change
//! events. Schemas have their own module, `schema_pb`.

use arrayq_proto::v1 as pb;
use arrayq_proto::v1::ResultDimension;
use arrayq_proto::Bytes;
use arrayq_query::spacing::{regular_spacing, time_spacing};
use arrayq_query::{CoordValues, QueryStats, StoredBlock};
use arrayq_storage::{BytesToBytes, CodecChain, CoordValue};
use prost::bytes::BytesMut;

use crate::frames::QueryFrame;
use crate::schema_pb::map_to_pb;
use arrayq_format::time::format_unix_ns;

/// The protobuf change event of a storage change event.
pub fn event_to_pb(e: &arrayq_storage::ChangeEvent) -> pb::ChangeEvent {
    use arrayq_storage::ChangeKind as K;
    let kind = match e.kind {
        K::Create => pb::ChangeKind::Create,
        K::Write => pb::ChangeKind::Write,
        K::AddLayout => pb::ChangeKind::AddLayout,
        K::Drop => pb::ChangeKind::Drop,
        K::AddRollup => pb::ChangeKind::AddRollup,
        K::DropRollup => pb::ChangeKind::DropRollup,
    };
    let text = |v: &CoordValue| -> (String, Option<f64>) {
        match v {
            CoordValue::Number(x) => (x.to_string(), Some(*x)),
            CoordValue::Label(l) => (l.to_string(), Some(*l as f64)),
            CoordValue::Time(t) => (format_unix_ns(*t), None),
            // The label itself, unquoted: start_text is the coordinate's text.
            CoordValue::Text(t) => (t.clone(), None),
        }
    };
    pb::ChangeEvent {
        seq: e.seq,
        array: e.array.clone(),
        version: e.version,
        timestamp_ns: e.timestamp_ns,
        cells_written: e.cells_written,
        region: e
            .region
            .iter()
            .map(|r| {
                let (start_text, start_value) = text(&r.first);
                let (end_text, end_value) = text(&r.last);
                pb::DimExtent {
                    dim: r.dim.clone(),
                    start: r.start,
                    end: r.end,
                    start_text,
                    end_text,
                    start_value,
                    end_value,
                }
            })
            .collect(),
        kind: kind as i32,
    }
}

/// The protobuf result header of an engine result header. Evenly spaced numeric
/// and time coordinates use the compact `regular` / `time` forms.
pub fn header_to_pb(h: &arrayq_query::ResultHeader) -> pb::ResultHeader {
    let dimensions = h
        .dims
        .iter()
        .zip(&h.coords)
        .enumerate()
        .map(|(d, (name, c))| {
            let mut dim = dimension_to_pb(name, c);
            dim.metadata = map_to_pb(h.metadata.dim(d));
            dim
        })
        .collect();
    pb::ResultHeader {
        dimensions,
        columns: h
            .columns
            .iter()
            .enumerate()
            .map(|(k, (name, d))| pb::ResultColumn {
                name: name.clone(),
                dtype: pb::DType::from(*d) as i32,
                metadata: map_to_pb(h.metadata.column(k)),
            })
            .collect(),
        shape: if h.scalar {
            Vec::new()
        } else {
            h.shape.iter().map(|&n| n as u64).collect()
        },
        scalar: h.scalar,
        notes: h.notes.clone(),
    }
}

/// The protobuf dimension of a result dimension's coordinates.
fn dimension_to_pb(name: &str, c: &CoordValues) -> ResultDimension {
    let name = name.to_string();
    match c {
        CoordValues::Numbers(v) => match regular_spacing(v) {
            Some((start, step)) => ResultDimension::with_regular(name, start, step),
            None => ResultDimension::with_values(name, v.clone()),
        },
        CoordValues::Times(v) => match time_spacing(v) {
            Some((start, step)) => ResultDimension::with_time(name, start, step),
            None => ResultDimension::with_times(name, v.clone()),
        },
        CoordValues::Labels(v) => ResultDimension::with_labels(name, v.clone()),
        CoordValues::Texts(v) => ResultDimension::with_text_labels(name, v.clone()),
    }
}

/// Statistics for a query footer or an explain response.
pub fn stats_to_pb(s: &QueryStats, version: u64) -> pb::QueryStats {
    pb::QueryStats {
        chunks_read: s.chunks_read,
        bytes_read: s.bytes_read,
        bytes_decoded: s.bytes_decoded,
        elapsed_ns: s.elapsed.as_nanos().min(u64::MAX as u128) as u64,
        layout: s.layout.clone(),
        version,
    }
}

/// A block of stored chunks as a `DataBlock` frame (the chunks stay views of the
/// store's segment files).
pub fn stored_block_frame(b: StoredBlock) -> QueryFrame {
    let elements = b.chunks.iter().map(|c| c.1 as u64).collect();
    let bytes = b.chunks.iter().map(|c| c.0.len() as u64).collect();
    QueryFrame::Stored {
        block: pb::DataBlock {
            column: b.column as u32,
            element_offset: b.offset as u64,
            data: Bytes::new(),
            stored: Some(pb::StoredChunks {
                codecs: codec_to_pb(&b.codec),
                elements,
                bytes,
            }),
            strings: Vec::new(),
        },
        chunks: coalesce(b.chunks.into_iter().map(|c| c.0)),
    }
}

/// Pieces below this size are copied together: a frame per tiny chunk would cost
/// more than the copy (done here, on the query's worker, not on the I/O threads that
/// write the frames).
const SMALL_PIECE: usize = 16 * 1024;

/// The pieces in order, runs of small ones joined (large ones untouched).
fn coalesce(pieces: impl Iterator<Item = Bytes>) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut small = BytesMut::new();
    for p in pieces {
        if p.len() < SMALL_PIECE {
            small.extend_from_slice(&p);
            continue;
        }
        if !small.is_empty() {
            out.push(small.split().freeze());
        }
        out.push(p);
    }
    if !small.is_empty() {
        out.push(small.freeze());
    }
    out
}

/// The bytes-to-bytes steps of a chunk codec chain, in encoding order.
pub fn codec_to_pb(c: &CodecChain) -> Vec<pb::CodecStep> {
    use pb::codec_step::Step;
    c.bytes_to_bytes
        .iter()
        .map(|s| pb::CodecStep {
            step: Some(match *s {
                BytesToBytes::Shuffle { elem_size } => Step::ShuffleElementSize(elem_size as u32),
                BytesToBytes::Zstd { level } => Step::ZstdLevel(level),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_pieces_are_joined_large_ones_kept() {
        let big = Bytes::from(vec![7u8; SMALL_PIECE]);
        let pieces = [
            Bytes::from_static(b"ab"),
            Bytes::from_static(b"c"),
            big.clone(),
            Bytes::from_static(b"d"),
        ];
        let out = coalesce(pieces.clone().into_iter());
        assert_eq!(out.len(), 3);
        assert_eq!(&out[0][..], b"abc");
        assert_eq!(out[1].as_ptr(), big.as_ptr(), "a large piece is not copied");
        assert_eq!(&out[2][..], b"d");
    }

    #[test]
    fn le_bytes() {
        use arrayq_storage::{Buffer, DType};
        let b = Buffer::from_le_bytes(DType::U16, &[2], &[1, 0, 2, 0]).unwrap();
        assert_eq!(b.to_le_bytes(), vec![1, 0, 2, 0]);
        let b = Buffer::from_le_bytes(DType::Bool, &[3], &[1, 0, 1]).unwrap();
        assert_eq!(b.to_le_bytes(), vec![1, 0, 1]);
        assert_eq!(b.into_le_bytes(), vec![1u8, 0, 1]);
        let b = Buffer::from_le_bytes(DType::I32, &[2], &[1, 0, 0, 0, 2, 0, 0, 0]).unwrap();
        assert_eq!(b.into_le_bytes(), vec![1u8, 0, 0, 0, 2, 0, 0, 0]);
    }
}
