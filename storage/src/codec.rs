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
                    let mut out = take_scratch(src.len());
                    shuffle(src, &mut out, elem_size);
                    out
                }
                BytesToBytes::Zstd { level } => zstd_compress(src, level)?,
            };
            // Intermediates go back to the per-thread pool.
            if let Some(old) = cur.replace(next) {
                give_scratch(old);
            }
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

impl CodecChain {
    /// Decodes stored chunks (`chunks`: each chunk's stored bytes and its number of
    /// elements, in order) into `out`, their elements' bytes concatenated; one chunk
    /// per rayon task. Names the first chunk that does not decode or fails its
    /// checksum.
    pub fn decode_chunks_into(
        &self,
        elem_size: usize,
        chunks: &[(&[u8], usize)],
        out: &mut [u8],
    ) -> Result<()> {
        use rayon::prelude::*;
        let decoded = chunks.iter().fold(0usize, |d, &(_, n)| {
            d.saturating_add(n.saturating_mul(elem_size))
        });
        if decoded != out.len() {
            return Err(StorageError::Codec(format!(
                "{} stored chunks decode to {decoded} bytes, {} bytes given",
                chunks.len(),
                out.len()
            )));
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
            .try_for_each(|(i, s, d)| match self.decode_into(s, d) {
                Ok(true) => Ok(()),
                Ok(false) => Err(StorageError::Codec(format!(
                    "stored chunk {i} of {total} fails its checksum"
                ))),
                Err(e) => Err(StorageError::Codec(format!(
                    "stored chunk {i} of {total}: {e}"
                ))),
            })
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
    assert_eq!(src.len(), out.len());
    let n = src.len() / size;
    let done = if size == 4 {
        simd::shuffle4(src, out, n)
    } else {
        0
    };
    for i in done..n {
        for k in 0..size {
            out[k * n + i] = src[i * size + k];
        }
    }
    // Trailing bytes that do not form a whole element stay in place.
    let tail = n * size;
    out[tail..].copy_from_slice(&src[tail..]);
}

/// Inverse of [`shuffle`]. Specialised for 2-, 4- and 8-byte elements, the hot path of
/// reads: with shuffled floats zstd decodes at several GB/s, so the transpose must run
/// near cache bandwidth not to dominate.
pub fn unshuffle(src: &[u8], out: &mut [u8], size: usize) {
    assert_eq!(src.len(), out.len());
    let n = src.len() / size;
    let done = match size {
        4 => simd::unshuffle4_wide(src, out, n),
        2 | 8 => simd::unshuffle(src, out, n, size),
        _ => 0,
    };
    for i in done..n {
        for k in 0..size {
            out[i * size + k] = src[k * n + i];
        }
    }
    let tail = n * size;
    out[tail..].copy_from_slice(&src[tail..]);
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    /// Unshuffles the first `16 * floor(n / 16)` elements; returns how many it did.
    pub fn unshuffle(src: &[u8], out: &mut [u8], n: usize, size: usize) -> usize {
        let blocks = n / 16;
        debug_assert!(src.len() >= n * size && out.len() >= n * size);
        // SAFETY: SSE2 is part of the x86_64 baseline; every load reads 16 bytes at
        // `k * n + 16 * b` with b < n / 16 (inside stream k), every store writes 16
        // bytes below `16 * blocks * size <= out.len()`.
        unsafe {
            let s = src.as_ptr();
            let o = out.as_mut_ptr();
            let ld = |k: usize, b: usize| _mm_loadu_si128(s.add(k * n + 16 * b) as *const __m128i);
            let st = |b: usize, j: usize, v: __m128i| {
                _mm_storeu_si128(o.add(16 * b * size + 16 * j) as *mut __m128i, v)
            };
            match size {
                2 => {
                    for b in 0..blocks {
                        let (x, y) = (ld(0, b), ld(1, b));
                        st(b, 0, _mm_unpacklo_epi8(x, y));
                        st(b, 1, _mm_unpackhi_epi8(x, y));
                    }
                }
                4 => {
                    for b in 0..blocks {
                        let (a, bb, c, d) = (ld(0, b), ld(1, b), ld(2, b), ld(3, b));
                        let ab_lo = _mm_unpacklo_epi8(a, bb);
                        let ab_hi = _mm_unpackhi_epi8(a, bb);
                        let cd_lo = _mm_unpacklo_epi8(c, d);
                        let cd_hi = _mm_unpackhi_epi8(c, d);
                        st(b, 0, _mm_unpacklo_epi16(ab_lo, cd_lo));
                        st(b, 1, _mm_unpackhi_epi16(ab_lo, cd_lo));
                        st(b, 2, _mm_unpacklo_epi16(ab_hi, cd_hi));
                        st(b, 3, _mm_unpackhi_epi16(ab_hi, cd_hi));
                    }
                }
                8 => {
                    for b in 0..blocks {
                        let v: [__m128i; 8] = std::array::from_fn(|k| ld(k, b));
                        // bytes 0-1, 2-3, 4-5, 6-7 of each element, interleaved
                        let p: [[__m128i; 2]; 4] = std::array::from_fn(|q| {
                            [
                                _mm_unpacklo_epi8(v[2 * q], v[2 * q + 1]),
                                _mm_unpackhi_epi8(v[2 * q], v[2 * q + 1]),
                            ]
                        });
                        for (h, ((p0, p1), (p2, p3))) in p[0]
                            .iter()
                            .zip(&p[1])
                            .zip(p[2].iter().zip(&p[3]))
                            .enumerate()
                        {
                            // 4-byte halves of elements (8h .. 8h+7)
                            let lo_a = _mm_unpacklo_epi16(*p0, *p1);
                            let hi_a = _mm_unpackhi_epi16(*p0, *p1);
                            let lo_b = _mm_unpacklo_epi16(*p2, *p3);
                            let hi_b = _mm_unpackhi_epi16(*p2, *p3);
                            st(b, 4 * h, _mm_unpacklo_epi32(lo_a, lo_b));
                            st(b, 4 * h + 1, _mm_unpackhi_epi32(lo_a, lo_b));
                            st(b, 4 * h + 2, _mm_unpacklo_epi32(hi_a, hi_b));
                            st(b, 4 * h + 3, _mm_unpackhi_epi32(hi_a, hi_b));
                        }
                    }
                }
                _ => return 0,
            }
        }
        blocks * 16
    }

    /// Unshuffles 4-byte elements with AVX2 when the CPU has it (32 per step), else
    /// with SSE2; returns how many elements it did (the caller does the tail).
    pub fn unshuffle4_wide(src: &[u8], out: &mut [u8], n: usize) -> usize {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked above).
            unsafe { unshuffle4_avx2(src, out, n) }
        } else {
            unshuffle(src, out, n, 4)
        }
    }

    /// The AVX2 form of the 4-byte unshuffle: 32 elements per step.
    #[target_feature(enable = "avx2")]
    unsafe fn unshuffle4_avx2(src: &[u8], out: &mut [u8], n: usize) -> usize {
        let blocks = n / 32;
        debug_assert!(src.len() >= n * 4 && out.len() >= n * 4);
        let s = src.as_ptr();
        let o = out.as_mut_ptr();
        for b in 0..blocks {
            // SAFETY: loads read 32 bytes at `k * n + 32 * b` with b < n / 32 (inside
            // stream k); stores write 32 bytes below `128 * blocks <= out.len()`.
            unsafe {
                let ld = |k: usize| _mm256_loadu_si256(s.add(k * n + 32 * b) as *const __m256i);
                let (a, bb, c, d) = (ld(0), ld(1), ld(2), ld(3));
                // Within each 128-bit lane, as the SSE2 form: x0 holds elements 0-3 (lane
                // 0) and 16-19 (lane 1), x1 4-7 / 20-23, x2 8-11 / 24-27, x3 12-15 / 28-31.
                let ab_lo = _mm256_unpacklo_epi8(a, bb);
                let ab_hi = _mm256_unpackhi_epi8(a, bb);
                let cd_lo = _mm256_unpacklo_epi8(c, d);
                let cd_hi = _mm256_unpackhi_epi8(c, d);
                let x0 = _mm256_unpacklo_epi16(ab_lo, cd_lo);
                let x1 = _mm256_unpackhi_epi16(ab_lo, cd_lo);
                let x2 = _mm256_unpacklo_epi16(ab_hi, cd_hi);
                let x3 = _mm256_unpackhi_epi16(ab_hi, cd_hi);
                let st = |j: usize, v: __m256i| {
                    _mm256_storeu_si256(o.add(128 * b + 32 * j) as *mut __m256i, v)
                };
                st(0, _mm256_permute2x128_si256::<0x20>(x0, x1));
                st(1, _mm256_permute2x128_si256::<0x20>(x2, x3));
                st(2, _mm256_permute2x128_si256::<0x31>(x0, x1));
                st(3, _mm256_permute2x128_si256::<0x31>(x2, x3));
            }
        }
        blocks * 32
    }

    /// Shuffles the first `16 * floor(n / 16)` 4-byte elements; returns how many.
    pub fn shuffle4(src: &[u8], out: &mut [u8], n: usize) -> usize {
        let blocks = n / 16;
        // SAFETY: loads read 64 bytes at `64 * b < 4 * n`; stores write 16 bytes at
        // `k * n + 16 * b`, inside stream k.
        unsafe {
            let s = src.as_ptr();
            let o = out.as_mut_ptr();
            let ld = |b: usize, j: usize| _mm_loadu_si128(s.add(64 * b + 16 * j) as *const __m128i);
            // Three rounds of byte interleaving turn 8 elements (two vectors) into
            // [byte 0 of each, byte 1 of each] and [byte 2.., byte 3..].
            let split = |x: __m128i, y: __m128i| {
                let (a, b) = (_mm_unpacklo_epi8(x, y), _mm_unpackhi_epi8(x, y));
                let (a, b) = (_mm_unpacklo_epi8(a, b), _mm_unpackhi_epi8(a, b));
                (_mm_unpacklo_epi8(a, b), _mm_unpackhi_epi8(a, b))
            };
            for b in 0..blocks {
                let (p, q) = split(ld(b, 0), ld(b, 1));
                let (r, t) = split(ld(b, 2), ld(b, 3));
                let st = |k: usize, v: __m128i| {
                    _mm_storeu_si128(o.add(k * n + 16 * b) as *mut __m128i, v)
                };
                st(0, _mm_unpacklo_epi64(p, r));
                st(1, _mm_unpackhi_epi64(p, r));
                st(2, _mm_unpacklo_epi64(q, t));
                st(3, _mm_unpackhi_epi64(q, t));
            }
        }
        blocks * 16
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod simd {
    pub fn shuffle4(_: &[u8], _: &mut [u8], _: usize) -> usize {
        0
    }

    pub fn unshuffle(_: &[u8], _: &mut [u8], _: usize, _: usize) -> usize {
        0
    }

    pub fn unshuffle4_wide(_: &[u8], _: &mut [u8], _: usize) -> usize {
        0
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
        for (size, len) in [1, 2, 3, 4, 8].into_iter().flat_map(|s| {
            [
                (s, 7),
                (s, 1003),
                (s, 4096 + 5),
                (s, 4 * 95),
                (s, 4 * 160 + 2),
            ]
        }) {
            let src: Vec<u8> = (0..len as u32)
                .map(|i| (i * 7 + 3 + i / 251) as u8)
                .collect();
            let mut s = vec![0; src.len()];
            let mut back = vec![0; src.len()];
            shuffle(&src, &mut s, size);
            let n = len / size;
            for i in 0..n {
                for k in 0..size {
                    assert_eq!(s[k * n + i], src[i * size + k], "size {size} len {len}");
                }
            }
            unshuffle(&s, &mut back, size);
            assert_eq!(src, back, "size {size}");
        }
    }

    #[test]
    fn wide_and_narrow_4_byte_unshuffles_agree() {
        // The SSE2 form runs only on CPUs without AVX2: check it against the one used.
        let n = 32 * 9 + 16;
        let src: Vec<u8> = (0..4 * n as u32).map(|i| (i * 13 + i / 7) as u8).collect();
        let (mut wide, mut narrow) = (vec![0; src.len()], vec![0; src.len()]);
        let done_wide = simd::unshuffle4_wide(&src, &mut wide, n);
        let done_narrow = simd::unshuffle(&src, &mut narrow, n, 4);
        let done = done_wide.min(done_narrow);
        assert!(done >= 32 * 9 || cfg!(not(target_arch = "x86_64")));
        assert_eq!(wide[..4 * done], narrow[..4 * done]);
        for i in 0..done {
            for k in 0..4 {
                assert_eq!(narrow[i * 4 + k], src[k * n + i]);
            }
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
