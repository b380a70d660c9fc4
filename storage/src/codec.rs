//! The chunk codec chain (array -> bytes -> bytes), persisted in array metadata, and
//! the stored chunk envelope (payload + CRC32 checksum).

use crate::dtype::{Buffer, DType};
use crate::error::{Result, StorageError};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

/// Array-to-bytes step: how elements become bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArrayToBytes {
    /// Row-major little-endian elements (bool as one byte 0/1).
    LittleEndian,
}

/// Bytes-to-bytes steps, applied in order when encoding and in reverse when decoding.
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

    pub fn validate(&self) -> Result<()> {
        for c in &self.bytes_to_bytes {
            match *c {
                BytesToBytes::Shuffle { elem_size } if !(1..=16).contains(&elem_size) => {
                    return Err(StorageError::InvalidSchema(format!(
                        "shuffle element size {elem_size} must be 1..16"
                    )))
                }
                BytesToBytes::Zstd { level } if !(-7..=22).contains(&level) => {
                    return Err(StorageError::InvalidSchema(format!(
                        "zstd level {level} must be -7..22"
                    )))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Encodes little-endian element bytes into a stored chunk (with checksum).
    pub fn encode(&self, raw: &[u8]) -> Result<Vec<u8>> {
        let mut cur: Option<Vec<u8>> = None;
        for c in &self.bytes_to_bytes {
            let src = cur.as_deref().unwrap_or(raw);
            let next = match *c {
                BytesToBytes::Shuffle { elem_size } => {
                    let mut out = vec![0u8; src.len()];
                    shuffle(src, &mut out, elem_size);
                    out
                }
                BytesToBytes::Zstd { level } => zstd_compress(src, level)?,
            };
            cur = Some(next);
        }
        let mut out = cur.unwrap_or_else(|| raw.to_vec());
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Verifies the checksum and decodes a stored chunk into `out` (exact decoded size).
    /// Returns `Ok(false)` on a checksum mismatch so the caller can name the chunk.
    pub fn decode_into(&self, stored: &[u8], out: &mut [u8]) -> Result<bool> {
        let Some(payload) = checked_payload(stored) else {
            return Ok(false);
        };
        let steps = &self.bytes_to_bytes;
        if steps.is_empty() {
            return copy_exact(payload, out).map(|_| true);
        }
        // Walk the chain backwards; intermediates live in reused per-thread buffers and
        // the last step writes straight into `out`.
        let mut cur: Option<Vec<u8>> = None;
        for (k, c) in steps.iter().rev().enumerate() {
            let src = cur.as_deref().unwrap_or(payload);
            if k + 1 == steps.len() {
                decode_step(*c, src, out)?;
            } else {
                let mut tmp = take_scratch(out.len());
                decode_step(*c, src, &mut tmp)?;
                if let Some(old) = cur.replace(tmp) {
                    give_scratch(old);
                }
            }
        }
        if let Some(old) = cur {
            give_scratch(old);
        }
        Ok(true)
    }
}

fn decode_step(c: BytesToBytes, src: &[u8], dst: &mut [u8]) -> Result<()> {
    match c {
        BytesToBytes::Zstd { .. } => zstd_decompress(src, dst),
        BytesToBytes::Shuffle { elem_size } => {
            if src.len() != dst.len() {
                return Err(StorageError::Codec(format!(
                    "shuffled chunk has {} bytes, expected {}",
                    src.len(),
                    dst.len()
                )));
            }
            unshuffle(src, dst, elem_size);
            Ok(())
        }
    }
}

fn take_scratch(len: usize) -> Vec<u8> {
    let mut v = SCRATCH.with(|s| s.borrow_mut().pop()).unwrap_or_default();
    v.resize(len, 0);
    v
}

fn give_scratch(v: Vec<u8>) {
    SCRATCH.with(|s| s.borrow_mut().push(v));
}

thread_local! {
    static SCRATCH: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static CCTX: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
    static DCTX: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// The payload of a stored chunk when its trailing CRC32 matches.
pub fn checked_payload(stored: &[u8]) -> Option<&[u8]> {
    if stored.len() < 4 {
        return None;
    }
    let (payload, crc) = stored.split_at(stored.len() - 4);
    (crc32fast::hash(payload) == u32::from_le_bytes(crc.try_into().unwrap())).then_some(payload)
}

fn copy_exact(src: &[u8], out: &mut [u8]) -> Result<()> {
    if src.len() != out.len() {
        return Err(StorageError::Codec(format!(
            "raw chunk has {} bytes, expected {}",
            src.len(),
            out.len()
        )));
    }
    out.copy_from_slice(src);
    Ok(())
}

/// zstd compression with a reused per-thread context.
pub fn zstd_compress(src: &[u8], level: i32) -> Result<Vec<u8>> {
    CCTX.with(|c| {
        let mut c = c.borrow_mut();
        if c.as_ref().map(|(l, _)| *l) != Some(level) {
            let comp = zstd::bulk::Compressor::new(level)
                .map_err(|e| StorageError::Codec(format!("zstd init: {e}")))?;
            *c = Some((level, comp));
        }
        let (_, comp) = c.as_mut().unwrap();
        comp.compress(src)
            .map_err(|e| StorageError::Codec(format!("zstd compress: {e}")))
    })
}

/// zstd decompression into an exactly sized buffer, with a reused per-thread context.
pub fn zstd_decompress(src: &[u8], out: &mut [u8]) -> Result<()> {
    DCTX.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = Some(
                zstd::bulk::Decompressor::new()
                    .map_err(|e| StorageError::Codec(format!("zstd init: {e}")))?,
            );
        }
        let n = d
            .as_mut()
            .unwrap()
            .decompress_to_buffer(src, out)
            .map_err(|e| StorageError::Codec(format!("zstd decompress: {e}")))?;
        if n != out.len() {
            return Err(StorageError::Codec(format!(
                "zstd produced {n} bytes, expected {}",
                out.len()
            )));
        }
        Ok(())
    })
}

/// Byte shuffle: `out[k * n + i] = src[i * size + k]` for n elements of `size` bytes.
pub fn shuffle(src: &[u8], out: &mut [u8], size: usize) {
    let n = src.len() / size;
    for (i, elem) in src.chunks_exact(size).enumerate() {
        for (k, &b) in elem.iter().enumerate() {
            out[k * n + i] = b;
        }
    }
    // Trailing bytes that do not form a whole element stay in place.
    let tail = n * size;
    out[tail..].copy_from_slice(&src[tail..]);
}

/// Inverse of [`shuffle`]. Specialised for 4- and 8-byte elements, the hot path of reads.
pub fn unshuffle(src: &[u8], out: &mut [u8], size: usize) {
    let n = src.len() / size;
    match size {
        4 => unshuffle_n::<4>(src, out, n),
        8 => unshuffle_n::<8>(src, out, n),
        2 => unshuffle_n::<2>(src, out, n),
        _ => {
            for i in 0..n {
                for k in 0..size {
                    out[i * size + k] = src[k * n + i];
                }
            }
        }
    }
    let tail = n * size;
    out[tail..].copy_from_slice(&src[tail..]);
}

fn unshuffle_n<const S: usize>(src: &[u8], out: &mut [u8], n: usize) {
    let streams: [&[u8]; S] = std::array::from_fn(|k| &src[k * n..(k + 1) * n]);
    const BLOCK: usize = 32;
    let full = n / BLOCK * BLOCK;
    // Fixed-size blocks let the compiler keep the S streams in vector registers.
    for (bi, dst) in out[..full * S].chunks_exact_mut(BLOCK * S).enumerate() {
        let base = bi * BLOCK;
        let blk: [&[u8; BLOCK]; S] =
            std::array::from_fn(|k| streams[k][base..base + BLOCK].try_into().unwrap());
        for i in 0..BLOCK {
            for k in 0..S {
                dst[i * S + k] = blk[k][i];
            }
        }
    }
    for i in full..n {
        for k in 0..S {
            out[i * S + k] = streams[k][i];
        }
    }
}

/// Fills a typed buffer from row-major little-endian bytes (same length checked by caller).
pub(crate) fn decode_le_into(dtype: DType, bytes: &[u8], out: &mut Buffer) {
    if let Some(dst) = buffer_bytes_mut(out) {
        dst.copy_from_slice(bytes);
    } else if let Buffer::Bool(a) = out {
        for (d, &b) in a.iter_mut().zip(bytes) {
            *d = b != 0;
        }
    }
    debug_assert_eq!(out.dtype(), dtype);
}

/// The raw bytes of a numeric buffer in standard layout (None for bool and for
/// non-contiguous arrays).
pub fn buffer_bytes(b: &Buffer) -> Option<&[u8]> {
    macro_rules! bytes {
        ($a:expr) => {
            $a.as_slice().map(|s| bytemuck::cast_slice(s))
        };
    }
    match b {
        Buffer::F32(a) => bytes!(a),
        Buffer::F64(a) => bytes!(a),
        Buffer::I8(a) => bytes!(a),
        Buffer::I16(a) => bytes!(a),
        Buffer::I32(a) => bytes!(a),
        Buffer::I64(a) => bytes!(a),
        Buffer::U8(a) => bytes!(a),
        Buffer::U16(a) => bytes!(a),
        Buffer::U32(a) => bytes!(a),
        Buffer::U64(a) => bytes!(a),
        Buffer::Bool(_) => None,
    }
}

/// The raw bytes of a numeric buffer in standard layout (None for bool, whose bytes
/// must stay 0/1, and for non-contiguous arrays).
pub fn buffer_bytes_mut(b: &mut Buffer) -> Option<&mut [u8]> {
    macro_rules! bytes {
        ($a:expr) => {
            $a.as_slice_mut().map(|s| bytemuck::cast_slice_mut(s))
        };
    }
    match b {
        Buffer::F32(a) => bytes!(a),
        Buffer::F64(a) => bytes!(a),
        Buffer::I8(a) => bytes!(a),
        Buffer::I16(a) => bytes!(a),
        Buffer::I32(a) => bytes!(a),
        Buffer::I64(a) => bytes!(a),
        Buffer::U8(a) => bytes!(a),
        Buffer::U16(a) => bytes!(a),
        Buffer::U32(a) => bytes!(a),
        Buffer::U64(a) => bytes!(a),
        Buffer::Bool(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_roundtrip_all_sizes() {
        for size in [1, 2, 3, 4, 8] {
            let src: Vec<u8> = (0..1003u32).map(|i| (i * 7 + 3) as u8).collect();
            let mut s = vec![0; src.len()];
            let mut back = vec![0; src.len()];
            shuffle(&src, &mut s, size);
            unshuffle(&s, &mut back, size);
            assert_eq!(src, back, "size {size}");
        }
    }

    #[test]
    fn chain_roundtrip_and_checksum() {
        let raw: Vec<u8> = (0..4096u32)
            .flat_map(|i| (i as f32).to_le_bytes())
            .collect();
        for chain in [
            CodecChain::shuffle_zstd(4, 3),
            CodecChain::zstd(1),
            CodecChain::raw(),
        ] {
            let mut stored = chain.encode(&raw).unwrap();
            let mut out = vec![0; raw.len()];
            assert!(chain.decode_into(&stored, &mut out).unwrap());
            assert_eq!(out, raw);
            stored[3] ^= 0x40;
            assert!(!chain.decode_into(&stored, &mut out).unwrap());
        }
    }
}
