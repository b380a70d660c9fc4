//! The typed chain a layout's chunks pass through, as persisted in the schema.

use super::shuffle::ShuffleCodec;
use super::zstd::ZstdCodec;
use super::{crc32, scratch, BytesCodec, CodecError};
use serde::{Deserialize, Serialize};

/// Array-to-bytes step: how elements become bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArrayToBytes {
    /// Row-major little-endian elements (bool as one byte 0/1).
    LittleEndian,
}

/// Bytes-to-bytes steps, applied in order when encoding and in reverse when decoding.
/// The serde form (`{"codec": "shuffle", "elem_size": 4}`) is part of the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "codec", rename_all = "snake_case")]
pub enum BytesToBytes {
    /// Groups the k-th byte of every element together, so smooth floats compress better.
    Shuffle {
        elem_size: usize,
    },
    Zstd {
        level: i32,
    },
}

impl BytesCodec for BytesToBytes {
    fn validate(&self) -> Result<(), CodecError> {
        match *self {
            BytesToBytes::Shuffle { elem_size } => ShuffleCodec { elem_size }.validate(),
            BytesToBytes::Zstd { level } => ZstdCodec { level }.validate(),
        }
    }

    fn encode(&self, src: &[u8]) -> Result<Vec<u8>, CodecError> {
        match *self {
            BytesToBytes::Shuffle { elem_size } => ShuffleCodec { elem_size }.encode(src),
            BytesToBytes::Zstd { level } => ZstdCodec { level }.encode(src),
        }
    }

    fn decode_into(&self, src: &[u8], dst: &mut [u8]) -> Result<(), CodecError> {
        match *self {
            BytesToBytes::Shuffle { elem_size } => ShuffleCodec { elem_size }.decode_into(src, dst),
            BytesToBytes::Zstd { level } => ZstdCodec { level }.decode_into(src, dst),
        }
    }
}

/// The typed chain a layout's chunks pass through.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodecChain {
    pub array_to_bytes: ArrayToBytes,
    pub bytes_to_bytes: Vec<BytesToBytes>,
}

impl CodecChain {
    /// Byte shuffle then zstd at `level`: the default, best for smooth numeric data.
    pub fn shuffle_zstd(dtype_size: usize, level: i32) -> CodecChain {
        let mut b = Vec::new();
        if dtype_size > 1 {
            b.push(BytesToBytes::Shuffle {
                elem_size: dtype_size,
            });
        }
        b.push(BytesToBytes::Zstd { level });
        CodecChain {
            array_to_bytes: ArrayToBytes::LittleEndian,
            bytes_to_bytes: b,
        }
    }

    pub fn zstd(level: i32) -> CodecChain {
        CodecChain {
            array_to_bytes: ArrayToBytes::LittleEndian,
            bytes_to_bytes: vec![BytesToBytes::Zstd { level }],
        }
    }

    pub fn raw() -> CodecChain {
        CodecChain {
            array_to_bytes: ArrayToBytes::LittleEndian,
            bytes_to_bytes: vec![],
        }
    }

    /// Checks every step's parameters.
    pub fn validate(&self) -> Result<(), CodecError> {
        self.bytes_to_bytes.iter().try_for_each(|c| c.validate())
    }

    /// Encodes little-endian element bytes into a stored chunk (with checksum).
    pub fn encode(&self, raw: &[u8]) -> Result<Vec<u8>, CodecError> {
        let mut cur: Option<Vec<u8>> = None;
        for c in &self.bytes_to_bytes {
            let next = c.encode(cur.as_deref().unwrap_or(raw))?;
            // Intermediates go back to the per-thread pool.
            if let Some(old) = cur.replace(next) {
                scratch::give(old);
            }
        }
        let mut out = cur.unwrap_or_else(|| raw.to_vec());
        crc32::append_checksum(&mut out);
        Ok(out)
    }

    /// Verifies the checksum and decodes a stored chunk into `out` (exact decoded size).
    /// Returns `Ok(false)` on a checksum mismatch so the caller can name the chunk.
    ///
    /// The payload is decoded first and checked after: the decoder streams the
    /// payload in from memory at its own pace, so the fetch hides behind its work, and
    /// the checksum then runs over bytes already in cache (checking first made the
    /// checksum pay the whole fetch: a tenth of a warm aggregate's time). zstd rejects
    /// malformed input without reading or writing out of bounds, so a damaged payload
    /// at worst decodes into `out` as garbage that is reported, never returned.
    pub fn decode_into(&self, stored: &[u8], out: &mut [u8]) -> Result<bool, CodecError> {
        let Some((payload, crc)) = crc32::split_checksum(stored) else {
            return Ok(false);
        };
        let decoded = self.decode_payload(payload, out);
        if !crc32::matches(payload, crc) {
            return Ok(false);
        }
        decoded.map(|()| true)
    }

    /// Decodes a payload (checksum already split off) into `out`.
    fn decode_payload(&self, payload: &[u8], out: &mut [u8]) -> Result<(), CodecError> {
        let steps = &self.bytes_to_bytes;
        if steps.is_empty() {
            if payload.len() != out.len() {
                return Err(CodecError::Size {
                    what: "raw chunk",
                    got: payload.len(),
                    expected: out.len(),
                });
            }
            out.copy_from_slice(payload);
            return Ok(());
        }
        // Walk the chain backwards; intermediates live in reused per-thread buffers and
        // the last step writes straight into `out`.
        let mut cur: Option<Vec<u8>> = None;
        for (k, c) in steps.iter().rev().enumerate() {
            let src = cur.as_deref().unwrap_or(payload);
            if k + 1 == steps.len() {
                c.decode_into(src, out)?;
            } else {
                let mut tmp = scratch::take(out.len());
                c.decode_into(src, &mut tmp)?;
                if let Some(old) = cur.replace(tmp) {
                    scratch::give(old);
                }
            }
        }
        if let Some(old) = cur {
            scratch::give(old);
        }
        Ok(())
    }

    /// Decodes stored chunks (`chunks`: each chunk's stored bytes and its number of
    /// elements, in order) into `out`, their elements' bytes concatenated; one chunk
    /// per rayon task. Names the first chunk that does not decode or fails its
    /// checksum.
    pub fn decode_chunks_into(
        &self,
        elem_size: usize,
        chunks: &[(&[u8], usize)],
        out: &mut [u8],
    ) -> Result<(), CodecError> {
        use rayon::prelude::*;
        let decoded = chunks.iter().fold(0usize, |d, &(_, n)| {
            d.saturating_add(n.saturating_mul(elem_size))
        });
        if decoded != out.len() {
            return Err(CodecError::ChunksSize {
                chunks: chunks.len(),
                decoded,
                given: out.len(),
            });
        }
        let mut jobs = Vec::with_capacity(chunks.len());
        let mut dst = out;
        for (i, &(stored, n)) in chunks.iter().enumerate() {
            let (d, rest) = dst.split_at_mut(n * elem_size);
            jobs.push((i, stored, d));
            dst = rest;
        }
        let total = chunks.len();
        jobs.into_par_iter()
            .try_for_each(|(index, s, d)| match self.decode_into(s, d) {
                Ok(true) => Ok(()),
                Ok(false) => Err(CodecError::ChunkChecksum { index, total }),
                Err(e) => Err(CodecError::Chunk {
                    index,
                    total,
                    source: Box::new(e),
                }),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Smooth f32 data, as little-endian bytes.
    fn floats(n: u32) -> Vec<u8> {
        (0..n)
            .flat_map(|i| (280.0 + (i as f32 * 0.01).sin()).to_le_bytes())
            .collect()
    }

    /// The format by hand: byte k of element i to k * n + i, one zstd frame, CRC32.
    fn encode_by_hand(raw: &[u8], elem: usize, level: i32) -> Vec<u8> {
        let n = raw.len() / elem;
        let mut shuffled = raw.to_vec();
        for i in 0..n {
            for k in 0..elem {
                shuffled[k * n + i] = raw[i * elem + k];
            }
        }
        let mut stored = ::zstd::bulk::compress(&shuffled, level).unwrap();
        let crc = crc32fast::hash(&stored);
        stored.extend_from_slice(&crc.to_le_bytes());
        stored
    }

    /// ... and back, as a reader of docs/format.md would.
    fn decode_by_hand(stored: &[u8], elem: usize) -> Vec<u8> {
        let (payload, crc) = stored.split_at(stored.len() - 4);
        assert_eq!(crc32fast::hash(payload).to_le_bytes(), crc);
        let shuffled = ::zstd::stream::decode_all(payload).unwrap();
        let n = shuffled.len() / elem;
        let mut raw = shuffled.clone();
        for i in 0..n {
            for k in 0..elem {
                raw[i * elem + k] = shuffled[k * n + i];
            }
        }
        raw
    }

    #[test]
    fn decodes_chunks_encoded_by_hand() {
        for (elem, n) in [(4usize, 4096u32), (4, 17), (8, 1000), (2, 999)] {
            let raw = floats(n * elem as u32 / 4 + 1)[..n as usize * elem].to_vec();
            let stored = encode_by_hand(&raw, elem, 5);
            let chain = CodecChain::shuffle_zstd(elem, 5);
            let mut out = vec![0; raw.len()];
            assert!(chain.decode_into(&stored, &mut out).unwrap());
            assert_eq!(out, raw, "elem {elem} n {n}");
        }
    }

    #[test]
    fn hand_decoder_reads_what_the_chain_encodes() {
        let raw = floats(5000);
        let stored = CodecChain::shuffle_zstd(4, 3).encode(&raw).unwrap();
        assert_eq!(decode_by_hand(&stored, 4), raw);
        // zstd only: the payload is one frame of the raw bytes.
        let stored = CodecChain::zstd(1).encode(&raw).unwrap();
        assert_eq!(decode_by_hand(&stored, 1), raw);
        // raw: the payload is the bytes themselves.
        let stored = CodecChain::raw().encode(&raw).unwrap();
        assert_eq!(&stored[..raw.len()], &raw[..]);
        assert_eq!(stored[raw.len()..], crc32fast::hash(&raw).to_le_bytes());
    }

    #[test]
    fn checksum_mismatch_is_reported_not_decoded() {
        let raw = floats(4096);
        for chain in [
            CodecChain::shuffle_zstd(4, 3),
            CodecChain::zstd(1),
            CodecChain::raw(),
        ] {
            let mut stored = chain.encode(&raw).unwrap();
            stored[3] ^= 0x40;
            let mut out = vec![0; raw.len()];
            assert!(!chain.decode_into(&stored, &mut out).unwrap());
        }
    }

    /// The payload is decoded before its checksum is checked: whatever a damaged
    /// byte does to zstd (an error, or garbage of the right size), the answer is the
    /// checksum mismatch.
    #[test]
    fn damage_anywhere_is_a_checksum_mismatch() {
        let raw = floats(4096);
        let chain = CodecChain::shuffle_zstd(4, 3);
        let good = chain.encode(&raw).unwrap();
        for at in (0..good.len() - 4).step_by(7) {
            let mut stored = good.clone();
            stored[at] ^= 0x5a;
            let mut out = vec![0; raw.len()];
            assert!(
                matches!(chain.decode_into(&stored, &mut out), Ok(false)),
                "byte {at}"
            );
        }
        let mut out = vec![0; raw.len()];
        assert!(matches!(
            chain.decode_into(&good[..good.len() / 2], &mut out),
            Ok(false)
        ));
        assert!(matches!(chain.decode_into(&good, &mut out), Ok(true)));
        assert_eq!(out, raw);
    }

    #[test]
    fn decode_chunks_names_the_bad_chunk() {
        let chain = CodecChain::shuffle_zstd(4, 3);
        let (a, b) = (floats(1000), floats(300));
        let (ea, mut eb) = (encode_by_hand(&a, 4, 3), encode_by_hand(&b, 4, 3));
        let mut out = vec![0; a.len() + b.len()];
        chain
            .decode_chunks_into(4, &[(&ea, 1000), (&eb, 300)], &mut out)
            .unwrap();
        assert_eq!(out, [a, b].concat());

        let e = chain
            .decode_chunks_into(4, &[(&ea, 1000), (&eb, 301)], &mut out)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "2 stored chunks decode to 5204 bytes, 5200 bytes given"
        );
        let e = chain
            .decode_chunks_into(4, &[(&ea, 1001), (&eb, 299)], &mut out)
            .unwrap_err();
        assert!(
            e.to_string().starts_with("stored chunk 0 of 2: zstd"),
            "{e}"
        );
        let last = eb.len() - 10;
        eb[last] ^= 1;
        let e = chain
            .decode_chunks_into(4, &[(&ea, 1000), (&eb, 300)], &mut out)
            .unwrap_err();
        assert_eq!(e.to_string(), "stored chunk 1 of 2 fails its checksum");
    }

    #[test]
    fn invalid_steps_are_named() {
        let mut c = CodecChain::zstd(23);
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "zstd level 23 must be -7..22"
        );
        c.bytes_to_bytes = vec![BytesToBytes::Shuffle { elem_size: 0 }];
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "shuffle element size 0 must be 1..16"
        );
        assert!(CodecChain::shuffle_zstd(8, -7).validate().is_ok());
    }

    #[test]
    fn catalog_form_of_the_chain() {
        let j = serde_json::to_string(&CodecChain::shuffle_zstd(4, 3)).unwrap();
        assert_eq!(
            j,
            r#"{"array_to_bytes":"little_endian","bytes_to_bytes":[{"codec":"shuffle","elem_size":4},{"codec":"zstd","level":3}]}"#
        );
    }
}
