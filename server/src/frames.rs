//! Splitting a result into Query stream messages under the 4 MiB message bound:
//! the header (its long coordinate lists moved into `CoordinateBlock`s), the raw
//! element blocks of numeric columns and the string blocks of text columns.

use arrayq_proto::v1::result_dimension::Coordinates;
use arrayq_proto::v1::{CoordinateBlock, DataBlock, QueryResponse, ResultHeader};
use arrayq_proto::{Bytes, MAX_BLOCK_BYTES, MAX_STRING_BLOCK_BYTES};
use prost::Message;

/// One message of a Query response as the worker hands it to the transport.
#[derive(Clone, Debug)]
pub enum QueryFrame {
    Message(QueryResponse),
    /// A `DataBlock` of stored chunks: the block without `data`, and the chunks whose
    /// concatenation is `data` (views of the store's segment files, written to the
    /// socket as they are; see `wire.rs`).
    Stored {
        block: DataBlock,
        chunks: Vec<Bytes>,
    },
}

impl QueryFrame {
    /// The whole protobuf message (the chunks joined into `data`).
    pub fn into_message(self) -> QueryResponse {
        match self {
            QueryFrame::Message(m) => m,
            QueryFrame::Stored { mut block, chunks } => {
                block.data = Bytes::from(chunks.concat());
                block.into()
            }
        }
    }
}

/// Most coordinates in one `CoordinateBlock` (an int64 varint takes at most 10
/// bytes and a double 8, so a block stays below 4 MiB).
pub const MAX_COORDINATES_PER_BLOCK: usize = 400_000;

/// Splits one column's raw little-endian bytes (`elem_size` bytes per element,
/// `data.len()` a multiple of it) into `DataBlock`s of at most [`MAX_BLOCK_BYTES`]
/// holding whole elements, element offsets from 0. Each block is a slice of `data`
/// (no copy). Yields nothing for empty data.
///
/// # Panics
/// If `elem_size` is 0 or larger than [`MAX_BLOCK_BYTES`].
pub fn data_blocks(column: u32, elem_size: usize, data: Bytes) -> impl Iterator<Item = DataBlock> {
    assert!(
        elem_size > 0 && elem_size <= MAX_BLOCK_BYTES,
        "invalid element size {elem_size}"
    );
    debug_assert_eq!(data.len() % elem_size, 0, "partial element in column data");
    let step = (MAX_BLOCK_BYTES / elem_size) * elem_size;
    let len = data.len();
    (0..len).step_by(step).map(move |start| DataBlock {
        column,
        element_offset: (start / elem_size) as u64,
        data: data.slice(start..(start + step).min(len)),
        ..Default::default()
    })
}

/// Splits the values of a text column into `DataBlock`s whose `strings` take at most
/// [`MAX_STRING_BLOCK_BYTES`] on the wire (each string's bytes plus its field tag and
/// length prefix). A single string longer than that is an error: it could never be
/// sent.
pub fn string_blocks(column: u32, values: Vec<String>) -> Result<Vec<DataBlock>, String> {
    let mut blocks = Vec::new();
    let mut current = DataBlock {
        column,
        ..Default::default()
    };
    let mut size = 0usize;
    let mut offset = 0u64;
    for s in values {
        let wire = 1 + prost::encoding::encoded_len_varint(s.len() as u64) + s.len();
        if wire > MAX_STRING_BLOCK_BYTES {
            return Err(format!(
                "a text value of {} bytes exceeds the {MAX_STRING_BLOCK_BYTES}-byte block bound",
                s.len()
            ));
        }
        if size + wire > MAX_STRING_BLOCK_BYTES {
            let n = current.strings.len() as u64;
            blocks.push(std::mem::replace(
                &mut current,
                DataBlock {
                    column,
                    element_offset: offset + n,
                    ..Default::default()
                },
            ));
            offset += n;
            size = 0;
        }
        size += wire;
        current.strings.push(s);
    }
    if !current.strings.is_empty() {
        blocks.push(current);
    }
    Ok(blocks)
}

/// Text coordinates in `CoordinateBlock`s of at most [`MAX_STRING_BLOCK_BYTES`] of
/// strings on the wire (a count bound cannot bound their size). The labels come from
/// a schema whose messages already carried them, so none is too long to send.
fn text_coordinate_blocks(dimension: u32, texts: Vec<String>) -> Vec<QueryResponse> {
    let mut blocks = Vec::new();
    let mut current = Vec::new();
    let mut size = 0usize;
    for s in texts {
        let wire = 1 + prost::encoding::encoded_len_varint(s.len() as u64) + s.len();
        if size + wire > MAX_STRING_BLOCK_BYTES && !current.is_empty() {
            blocks.push(std::mem::take(&mut current));
            size = 0;
        }
        size += wire;
        current.push(s);
    }
    if !current.is_empty() {
        blocks.push(current);
    }
    let mut offset = 0u64;
    blocks
        .into_iter()
        .map(|texts| {
            let block = CoordinateBlock {
                dimension,
                offset,
                texts,
                ..Default::default()
            };
            offset += block.texts.len() as u64;
            QueryResponse::coordinates(block)
        })
        .collect()
}

/// The message(s) announcing a result. A header that fits in one message (encoded
/// size at most [`MAX_BLOCK_BYTES`]) goes alone; otherwise every explicit coordinate
/// list moves out of it into `CoordinateBlock`s of at most
/// [`MAX_COORDINATES_PER_BLOCK`] entries, sent right after the header.
pub fn header_messages(mut header: ResultHeader) -> Vec<QueryResponse> {
    if header.encoded_len() <= MAX_BLOCK_BYTES {
        return vec![QueryResponse::header(header)];
    }
    let mut blocks = Vec::new();
    for (d, dim) in header.dimensions.iter_mut().enumerate() {
        let (floats, ints) = match &mut dim.coordinates {
            Some(Coordinates::Values(l)) => (std::mem::take(&mut l.values), Vec::new()),
            Some(Coordinates::TimesUnixNs(l)) | Some(Coordinates::Labels(l)) => {
                (Vec::new(), std::mem::take(&mut l.values))
            }
            Some(Coordinates::TextLabels(l)) => {
                blocks.extend(text_coordinate_blocks(
                    d as u32,
                    std::mem::take(&mut l.values),
                ));
                continue;
            }
            _ => continue,
        };
        for (i, chunk) in floats.chunks(MAX_COORDINATES_PER_BLOCK).enumerate() {
            blocks.push(QueryResponse::coordinates(CoordinateBlock {
                dimension: d as u32,
                offset: (i * MAX_COORDINATES_PER_BLOCK) as u64,
                values: chunk.to_vec(),
                ..Default::default()
            }));
        }
        for (i, chunk) in ints.chunks(MAX_COORDINATES_PER_BLOCK).enumerate() {
            blocks.push(QueryResponse::coordinates(CoordinateBlock {
                dimension: d as u32,
                offset: (i * MAX_COORDINATES_PER_BLOCK) as u64,
                ints: chunk.to_vec(),
                ..Default::default()
            }));
        }
    }
    let mut out = Vec::with_capacity(blocks.len() + 1);
    out.push(QueryResponse::header(header));
    out.extend(blocks);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrayq_proto::v1::query_response::Msg;
    use arrayq_proto::v1::ResultDimension;

    #[test]
    fn numeric_blocks_hold_whole_elements_under_the_bound() {
        // 1,100,000 f64 = 8,800,000 bytes; a block holds 4128768 / 8 = 516096 elements.
        let data = Bytes::from(vec![0u8; 8_800_000]);
        let blocks: Vec<DataBlock> = data_blocks(2, 8, data).collect();
        let offsets: Vec<u64> = blocks.iter().map(|b| b.element_offset).collect();
        assert_eq!(offsets, vec![0, 516_096, 1_032_192]);
        let lens: Vec<usize> = blocks.iter().map(|b| b.data.len()).collect();
        assert_eq!(lens, vec![4_128_768, 4_128_768, 542_464]);
        assert!(blocks.iter().all(|b| b.column == 2));
        assert_eq!(data_blocks(0, 4, Bytes::new()).count(), 0);
    }

    #[test]
    fn string_blocks_stay_under_the_bound() {
        // 5000 strings of 1000 bytes take 1 + 2 + 1000 = 1003 bytes each on the wire:
        // 4128768 / 1003 = 4116 fit in a block (4116 * 1003 = 4128348).
        let values: Vec<String> = (0..5000).map(|i| format!("{i:01000}")).collect();
        let blocks = string_blocks(1, values.clone()).unwrap();
        let counts: Vec<usize> = blocks.iter().map(|b| b.strings.len()).collect();
        assert_eq!(counts, vec![4116, 884]);
        assert_eq!(blocks[1].element_offset, 4116);
        for b in &blocks {
            let msg = QueryResponse::from(b.clone());
            assert!(msg.encoded_len() < 4 * 1024 * 1024, "{}", msg.encoded_len());
            assert!(b.data.is_empty() && b.stored.is_none());
        }
        let joined: Vec<String> = blocks.into_iter().flat_map(|b| b.strings).collect();
        assert_eq!(joined, values);
        assert!(string_blocks(0, Vec::new()).unwrap().is_empty());
        let huge = "x".repeat(MAX_STRING_BLOCK_BYTES);
        let e = string_blocks(0, vec![huge]).unwrap_err();
        assert!(e.contains("4128768 bytes exceeds"), "{e}");
    }

    #[test]
    fn long_text_coordinate_lists_follow_the_header_in_bounded_blocks() {
        // 5000 labels of 1000 bytes: 1003 bytes each on the wire, 4116 per block (as
        // string_blocks), 5 MB in all, so the header cannot hold them.
        let labels: Vec<String> = (0..5000).map(|i| format!("{i:01000}")).collect();
        let header = ResultHeader {
            dimensions: vec![ResultDimension::with_text_labels("asset", labels.clone())],
            shape: vec![5000],
            ..Default::default()
        };
        let msgs = header_messages(header);
        assert_eq!(msgs.len(), 3);
        let Some(Msg::Header(h)) = &msgs[0].msg else {
            panic!("the header comes first")
        };
        assert_eq!(h.dimensions[0].explicit_len(), Some(0));
        let mut joined = Vec::new();
        for (m, (offset, count)) in msgs[1..].iter().zip([(0, 4116), (4116, 884)]) {
            assert!(m.encoded_len() < 4 * 1024 * 1024, "{}", m.encoded_len());
            let Some(Msg::Coordinates(b)) = &m.msg else {
                panic!("a CoordinateBlock")
            };
            assert_eq!((b.dimension, b.offset, b.texts.len()), (0, offset, count));
            assert!(b.values.is_empty() && b.ints.is_empty());
            joined.extend(b.texts.iter().cloned());
        }
        assert_eq!(joined, labels);
    }

    #[test]
    fn long_coordinate_lists_follow_the_header() {
        // A million labels of 6-byte varints: 6 MB, more than one message holds.
        let n = 1_000_000usize;
        let labels: Vec<i64> = (0..n as i64).map(|i| (1 << 40) + i).collect();
        let header = ResultHeader {
            dimensions: vec![
                ResultDimension::with_labels("id", labels.clone()),
                ResultDimension::with_regular("x", 0.0, 1.0),
            ],
            shape: vec![n as u64, 2],
            ..Default::default()
        };
        let msgs = header_messages(header);
        // The header without its list, then ceil(1e6 / 4e5) = 3 blocks.
        assert_eq!(msgs.len(), 4);
        let Some(Msg::Header(h)) = &msgs[0].msg else {
            panic!("first message is not the header")
        };
        assert_eq!(h.dimensions[0].explicit_len(), Some(0));
        let mut got = Vec::new();
        for (k, m) in msgs[1..].iter().enumerate() {
            let Some(Msg::Coordinates(b)) = &m.msg else {
                panic!("message {k} is not a CoordinateBlock")
            };
            assert_eq!(b.dimension, 0);
            assert_eq!(b.offset, (k * MAX_COORDINATES_PER_BLOCK) as u64);
            assert!(m.encoded_len() < 4 * 1024 * 1024);
            got.extend_from_slice(&b.ints);
        }
        assert_eq!(got, labels);
        // A small header goes alone, unchanged.
        let small = ResultHeader {
            dimensions: vec![ResultDimension::with_labels("id", vec![4, 5])],
            shape: vec![2],
            ..Default::default()
        };
        assert_eq!(
            header_messages(small.clone()),
            vec![QueryResponse::header(small)]
        );
    }
}
