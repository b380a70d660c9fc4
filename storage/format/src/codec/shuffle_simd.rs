//! SIMD kernels of the byte shuffle (SSE2 / AVX2 on x86_64); elsewhere they do
//! nothing and the scalar loops in `shuffle.rs` do all the work.

#[cfg(not(target_arch = "x86_64"))]
pub(crate) use fallback::*;
#[cfg(target_arch = "x86_64")]
pub(crate) use x86::*;

#[cfg(target_arch = "x86_64")]
mod x86 {
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
mod fallback {
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
