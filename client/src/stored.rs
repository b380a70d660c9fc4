//! Stored chunks sent by the server (`DataBlock.stored`), decoded here on rayon.
//!
//! For a plain projection the server can send whole chunks as they are on disk:
//! about half the bytes of the raw elements, and the decoding moves from the
//! server to this side, spread over this machine's cores.

use arrayq_format::{BytesToBytes, CodecChain, DType};
use arrayq_proto::v1;
use arrayq_proto::Bytes;

use crate::error::{Error, Result};
use crate::result::ColumnBuilder;

/// The stored chunks of one DataBlock, checked for consistency.
pub(crate) struct StoredData {
    codec: CodecChain,
    elem_size: usize,
    /// Per chunk: (elements, stored bytes).
    parts: Vec<(usize, usize)>,
    data: Bytes,
    /// Elements after decoding.
    pub(crate) elements: usize,
    /// Which part of the result, for errors ("column 't2m' from element 0").
    place: String,
}

impl StoredData {
    /// Checks a block's description against its data and the column's type.
    pub(crate) fn new(
        stored: v1::StoredChunks,
        data: Bytes,
        dtype: DType,
        place: String,
    ) -> Result<StoredData> {
        let bad = |m: String| Err(Error::Protocol(format!("DataBlock of stored chunks: {m}")));
        if dtype == DType::Bool {
            return bad("stored BOOL chunks are not sent".into());
        }
        if stored.elements.len() != stored.bytes.len() || stored.elements.is_empty() {
            return bad(format!(
                "{} element counts for {} chunks",
                stored.elements.len(),
                stored.bytes.len()
            ));
        }
        let mut parts = Vec::with_capacity(stored.elements.len());
        let (mut elements, mut bytes) = (0usize, 0usize);
        for (&n, &b) in stored.elements.iter().zip(&stored.bytes) {
            let (Ok(n), Ok(b)) = (usize::try_from(n), usize::try_from(b)) else {
                return bad("chunk size overflows".into());
            };
            if n == 0 || b < 4 {
                return bad(format!("a chunk of {n} elements in {b} bytes"));
            }
            elements = elements.saturating_add(n);
            bytes = bytes.saturating_add(b);
            parts.push((n, b));
        }
        if bytes != data.len() {
            return bad(format!(
                "chunks of {bytes} bytes in {} bytes of data",
                data.len()
            ));
        }
        Ok(StoredData {
            codec: codec_from_pb(&stored.codecs)?,
            elem_size: dtype.size(),
            parts,
            data,
            elements,
            place,
        })
    }

    /// Decodes the chunks onto the end of `col` (one rayon task per chunk).
    pub(crate) fn decode_onto(&self, col: &mut ColumnBuilder) -> Result<()> {
        let out = col
            .extend_zeroed(self.elements)
            .ok_or_else(|| Error::Protocol("stored chunks for a BOOL column".into()))?;
        let mut chunks = Vec::with_capacity(self.parts.len());
        let mut rest = &self.data[..];
        for &(n, len) in &self.parts {
            let (chunk, r) = rest.split_at(len);
            chunks.push((chunk, n));
            rest = r;
        }
        self.codec
            .decode_chunks_into(self.elem_size, &chunks, out)
            .map_err(|e| {
                Error::Protocol(format!(
                    "stored chunks of {}: {e} (damaged on the server's disk or in transit)",
                    self.place
                ))
            })?;
        col.tail_from_le(self.elements);
        Ok(())
    }
}

/// The codec chain of the description's steps (encoding order).
fn codec_from_pb(steps: &[v1::CodecStep]) -> Result<CodecChain> {
    use v1::codec_step::Step;
    let mut chain = CodecChain::raw();
    for s in steps {
        chain.bytes_to_bytes.push(match s.step {
            Some(Step::ShuffleElementSize(n)) => BytesToBytes::Shuffle {
                elem_size: n as usize,
            },
            Some(Step::ZstdLevel(level)) => BytesToBytes::Zstd { level },
            None => return Err(Error::Protocol("empty CodecStep".into())),
        });
    }
    chain
        .validate()
        .map_err(|e| Error::Protocol(format!("stored chunk codec: {e}")))?;
    Ok(chain)
}

/// Starts `f` on the rayon pool at once; the returned future waits for it without
/// holding a tokio thread.
pub(crate) fn on_rayon<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> impl std::future::Future<Output = Result<T>> + Send {
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        // A panic on a rayon thread would abort the process: report it instead.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(r);
    });
    async move {
        match rx.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(Error::Protocol(
                "decoding a block failed (a panic in the decoder)".into(),
            )),
            Err(_) => Err(Error::Protocol("the decoding task stopped".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_le(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// Two chunks encoded by the codec chain, described as the server does (the chain
    /// itself is checked against a hand-made encoding in arrayq-format).
    fn two_chunks() -> (v1::StoredChunks, Vec<u8>, Vec<f32>) {
        let codec = CodecChain::shuffle_zstd(4, 3);
        let a: Vec<f32> = (0..1000).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..300).map(|i| -(i as f32)).collect();
        let (ea, eb) = (
            codec.encode(&f32_le(&a)).unwrap(),
            codec.encode(&f32_le(&b)).unwrap(),
        );
        let desc = v1::StoredChunks {
            codecs: vec![
                v1::CodecStep {
                    step: Some(v1::codec_step::Step::ShuffleElementSize(4)),
                },
                v1::CodecStep {
                    step: Some(v1::codec_step::Step::ZstdLevel(3)),
                },
            ],
            elements: vec![1000, 300],
            bytes: vec![ea.len() as u64, eb.len() as u64],
        };
        let data = [ea, eb].concat();
        (desc, data, [a, b].concat())
    }

    fn decode(desc: v1::StoredChunks, data: Vec<u8>) -> Result<Vec<f32>> {
        let s = StoredData::new(desc, Bytes::from(data), DType::F32, "column 'v'".into())?;
        let mut col = ColumnBuilder::with_capacity(DType::F32, 0);
        col.extend_le(&f32_le(&[7.0]));
        s.decode_onto(&mut col)?;
        match col.finish(&[1 + s.elements])? {
            arrayq_format::Buffer::F32(a) => Ok(a.iter().copied().collect()),
            _ => unreachable!(),
        }
    }

    #[test]
    fn decodes_chunks_after_what_the_column_holds() {
        let (desc, data, values) = two_chunks();
        let got = decode(desc, data).unwrap();
        assert_eq!(got[0], 7.0);
        assert_eq!(&got[1..], &values[..]);
    }

    #[test]
    fn corrupt_or_inconsistent_chunks_are_protocol_errors() {
        let (desc, mut data, _) = two_chunks();
        let last = data.len() - 10;
        data[last] ^= 0x40;
        let e = decode(desc, data).unwrap_err().to_string();
        assert!(e.contains("chunk 1 of 2 fails its checksum"), "{e}");

        let (mut desc, data, _) = two_chunks();
        desc.bytes[1] += 1;
        let e = decode(desc, data).unwrap_err().to_string();
        assert!(e.contains("bytes of data"), "{e}");

        let (mut desc, data, _) = two_chunks();
        desc.elements.pop();
        let e = decode(desc, data).unwrap_err().to_string();
        assert!(e.contains("element counts"), "{e}");

        let (mut desc, data, _) = two_chunks();
        desc.elements[0] += 1;
        let e = decode(desc, data).unwrap_err().to_string();
        assert!(e.contains("stored chunk 0 of 2"), "{e}");

        let (mut desc, data, _) = two_chunks();
        desc.codecs[1].step = None;
        let e = decode(desc, data).unwrap_err().to_string();
        assert!(e.contains("empty CodecStep"), "{e}");
    }
}
