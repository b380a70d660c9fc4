//! The byte-shuffle step: groups the k-th byte of every element together, so smooth
//! numeric data compresses better. Byte `k` of element `i` moves to `k * n + i` (n
//! whole elements); trailing bytes that do not form a whole element stay in place.

use super::shuffle_simd as simd;
use super::{scratch, BytesCodec, CodecError};

/// Byte shuffle of `elem_size`-byte elements (1..=16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShuffleCodec {
    pub elem_size: usize,
}

impl BytesCodec for ShuffleCodec {
    fn validate(&self) -> Result<(), CodecError> {
        if !(1..=16).contains(&self.elem_size) {
            return Err(CodecError::Invalid(format!(
                "shuffle element size {} must be 1..16",
                self.elem_size
            )));
        }
        Ok(())
    }

    /// The output comes from this thread's scratch pool (the chain returns it there).
    fn encode(&self, src: &[u8]) -> Result<Vec<u8>, CodecError> {
        let mut out = scratch::take(src.len());
        shuffle(src, &mut out, self.elem_size);
        Ok(out)
    }

    fn decode_into(&self, src: &[u8], dst: &mut [u8]) -> Result<(), CodecError> {
        if src.len() != dst.len() {
            return Err(CodecError::Size {
                what: "shuffled chunk",
                got: src.len(),
                expected: dst.len(),
            });
        }
        unshuffle(src, dst, self.elem_size);
        Ok(())
    }
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
            assert_eq!(s[n * size..], src[n * size..], "tail stays in place");
            unshuffle(&s, &mut back, size);
            assert_eq!(src, back, "size {size}");
        }
    }

    #[test]
    fn known_small_shuffle() {
        // Three 2-byte elements and one trailing byte.
        let src = [0xa0, 0xa1, 0xb0, 0xb1, 0xc0, 0xc1, 0xdd];
        let mut out = [0; 7];
        shuffle(&src, &mut out, 2);
        assert_eq!(out, [0xa0, 0xb0, 0xc0, 0xa1, 0xb1, 0xc1, 0xdd]);
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
}
