//! Where a pending write's bytes come from when its commit builds chunks: memory
//! (a caller's buffer) or a staging file. The chunk writer copies sub-regions out of
//! a source one chunk at a time, so a spilled write is never loaded back whole.

use crate::error::Result;
use crate::region::for_each_run;
use crate::Buffer;

/// The row-major little-endian bytes of one pending write.
pub(crate) trait WriteSource: Send + Sync {
    /// Total bytes (cells x element size).
    fn len(&self) -> usize;

    /// All the bytes as one slice, when they are held in memory that way.
    fn as_slice(&self) -> Option<&[u8]>;

    /// Copies bytes `offset..offset + out.len()` into `out`.
    fn read_at(&self, offset: usize, out: &mut [u8]) -> Result<()>;
}

/// A window of source bytes read at once: one read per chunk instead of one per
/// innermost run, unless the window would be much larger than what the chunk needs.
const MAX_WINDOW_BYTES: usize = 8 << 20;
/// A window this small is always read whole, however little of it the chunk needs.
const SMALL_WINDOW_BYTES: usize = 64 << 10;

/// Copies the box `count` at `src_start` of a source of `src_shape` into `dst` (of
/// `dst_shape`) at `dst_start`, like [`crate::region::copy_box`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn copy_box_from(
    src: &dyn WriteSource,
    src_shape: &[usize],
    src_start: &[usize],
    dst: &mut [u8],
    dst_shape: &[usize],
    dst_start: &[usize],
    count: &[usize],
    esize: usize,
) -> Result<()> {
    if let Some(bytes) = src.as_slice() {
        crate::region::copy_box(
            bytes, src_shape, src_start, dst, dst_shape, dst_start, count, esize,
        );
        return Ok(());
    }
    let mut runs = Vec::new();
    for_each_run(
        src_shape,
        src_start,
        dst_shape,
        dst_start,
        count,
        esize,
        |s, d, n| runs.push((s, d, n)),
    );
    let (Some(first), Some(last)) = (runs.first(), runs.last()) else {
        return Ok(());
    };
    let (lo, hi) = (first.0, last.0 + last.2);
    let needed: usize = runs.iter().map(|r| r.2).sum();
    let span = hi - lo;
    if span <= MAX_WINDOW_BYTES && (span <= 4 * needed || span <= SMALL_WINDOW_BYTES) {
        let mut window = vec![0u8; hi - lo];
        src.read_at(lo, &mut window)?;
        for (s, d, n) in runs {
            dst[d..d + n].copy_from_slice(&window[s - lo..s - lo + n]);
        }
    } else {
        for (s, d, n) in runs {
            src.read_at(s, &mut dst[d..d + n])?;
        }
    }
    Ok(())
}

/// A caller's buffer, already in standard layout (bool as 0/1 bytes).
pub(crate) struct BufferSource {
    buffer: Option<Buffer>,
    bytes: Vec<u8>,
}

impl BufferSource {
    pub(crate) fn new(buffer: Buffer) -> BufferSource {
        if crate::codec::buffer_bytes(&buffer).is_some() {
            BufferSource {
                buffer: Some(buffer),
                bytes: Vec::new(),
            }
        } else {
            BufferSource {
                bytes: buffer.to_le_bytes(),
                buffer: None,
            }
        }
    }

    fn bytes(&self) -> &[u8] {
        match &self.buffer {
            Some(b) => crate::codec::buffer_bytes(b).expect("checked in new"),
            None => &self.bytes,
        }
    }
}

impl WriteSource for BufferSource {
    fn len(&self) -> usize {
        self.bytes().len()
    }

    fn as_slice(&self) -> Option<&[u8]> {
        Some(self.bytes())
    }

    fn read_at(&self, offset: usize, out: &mut [u8]) -> Result<()> {
        out.copy_from_slice(&self.bytes()[offset..offset + out.len()]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that only answers `read_at`, as a spilled one does.
    struct Unsliced(Vec<u8>);

    impl WriteSource for Unsliced {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn as_slice(&self) -> Option<&[u8]> {
            None
        }
        fn read_at(&self, offset: usize, out: &mut [u8]) -> Result<()> {
            out.copy_from_slice(&self.0[offset..offset + out.len()]);
            Ok(())
        }
    }

    #[test]
    fn windowed_copy_matches_copy_box() {
        let src: Vec<u8> = (0..60).collect();
        let (shape, start, count) = ([3, 4, 5], [1, 1, 2], [2, 2, 3]);
        let mut want = vec![0u8; 2 * 2 * 3];
        crate::region::copy_box(&src, &shape, &start, &mut want, &count, &[0; 3], &count, 1);
        let mut got = vec![0u8; 12];
        let s = Unsliced(src);
        copy_box_from(&s, &shape, &start, &mut got, &count, &[0; 3], &count, 1).unwrap();
        assert_eq!(got, want);
        // Element (1+i, 1+j, 2+k) of a 3x4x5 array is byte 20(1+i) + 5(1+j) + 2+k.
        assert_eq!(&got[..3], &[27, 28, 29]);
    }
}
