//! Reading the pieces of a scan (one chunk's part of the region each) into buffers
//! a worker reuses from piece to piece: every chunk is decoded once, straight into
//! memory that is already mapped, and nothing is allocated per chunk.

use crate::error::QueryError;
use crate::eval::Col;
use crate::exec::Exec;
use crate::logical::Plan;
use arrayq_storage::{Buffer, DType, Element, ReadOptions, Region};
use ndarray::{ArrayD, IxDyn};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// One worker's read buffers: per scanned attribute, the values of the last piece
/// (row-major, shaped like the piece) and, when a piece is only part of its chunk,
/// the decoded chunk it was cut from.
pub struct Reader {
    /// Values of the last piece read, one column per scanned attribute.
    pub cols: Vec<Col>,
    boxes: Vec<Option<Buffer>>,
    array_shape: Vec<u64>,
    chunk_shape: Vec<u64>,
}

impl Reader {
    pub fn new(plan: &Plan) -> Reader {
        Reader {
            cols: plan.attrs.iter().map(|_| Col::F32(Vec::new())).collect(),
            boxes: plan.attrs.iter().map(|_| None).collect(),
            array_shape: plan.snap.shape(),
            chunk_shape: plan.snap.schema().layouts[plan.layout].chunk_shape.clone(),
        }
    }

    /// The part of the chunk holding `piece` that lies inside the array.
    fn chunk_box(&self, piece: &Region) -> Region {
        Region(
            piece
                .0
                .iter()
                .zip(&self.chunk_shape)
                .zip(&self.array_shape)
                .map(|((r, &c), &n)| {
                    let a = r.start / c * c;
                    a..(a + c).min(n)
                })
                .collect(),
        )
    }

    /// Reads every scanned attribute over `piece` (which lies in one chunk of the
    /// plan's layout) into [`Reader::cols`].
    pub fn read(&mut self, plan: &Plan, ex: &Exec, piece: &Region) -> Result<(), QueryError> {
        ex.check()?;
        let t = Instant::now();
        let opts = ReadOptions {
            layout: Some(plan.layout),
            cancel: Some(&ex.cancel),
            stats: Some(&ex.read),
        };
        let cbox = self.chunk_box(piece);
        let whole = cbox == *piece;
        let shape = piece.shape();
        let n: usize = shape.iter().product();
        for (k, &a) in plan.attrs.iter().enumerate() {
            let dtype = plan.snap.schema().attrs[a].dtype;
            let col = std::mem::replace(&mut self.cols[k], Col::Const(crate::eval::Lit::I(0)));
            let native = matches!(dtype, DType::F32 | DType::F64 | DType::I64 | DType::Bool);
            let col = if !native {
                // Narrow integers widen to i64 columns: read and convert.
                let b = plan
                    .snap
                    .read_with(a, piece, opts)
                    .map_err(QueryError::from_storage)?;
                Col::from_buffer(b)
            } else if whole {
                // The piece is its whole chunk: decode straight into the column.
                let mut buf = into_buffer(dtype, col, &shape, n);
                plan.snap
                    .read_into(a, piece, opts, &mut buf)
                    .map_err(QueryError::from_storage)?;
                from_buffer(buf)
            } else {
                // Decode the whole chunk into this worker's chunk buffer (no scratch, no
                // fill pass in storage), then cut the piece out of it.
                let cshape = cbox.shape();
                let cn: usize = cshape.iter().product();
                let old = self.boxes[k].take().filter(|b| b.dtype() == dtype);
                let old = old.map(from_buffer).unwrap_or(Col::F32(Vec::new()));
                let mut buf = into_buffer(dtype, old, &cshape, cn);
                plan.snap
                    .read_into(a, &cbox, opts, &mut buf)
                    .map_err(QueryError::from_storage)?;
                let start: Vec<usize> = piece
                    .0
                    .iter()
                    .zip(&cbox.0)
                    .map(|(p, c)| (p.start - c.start) as usize)
                    .collect();
                let out = cut(&buf, &cshape, &start, &shape, col, n);
                self.boxes[k] = Some(buf);
                out
            };
            self.cols[k] = col;
        }
        ex.read_ns
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Reuses `v`'s memory for `n` elements (contents are overwritten by the read).
fn sized<T: Clone + Default>(mut v: Vec<T>, n: usize) -> Vec<T> {
    v.resize(n, T::default());
    v
}

/// A buffer of `dtype` shaped `shape` (`n` elements) built on the memory of `col`.
fn into_buffer(dtype: DType, col: Col, shape: &[usize], n: usize) -> Buffer {
    fn arr<T: Element + Default>(v: Vec<T>, shape: &[usize], n: usize) -> Buffer {
        T::wrap(ArrayD::from_shape_vec(IxDyn(shape), sized(v, n)).expect("sized to the shape"))
    }
    match (dtype, col) {
        (DType::F32, Col::F32(v)) => arr(v, shape, n),
        (DType::F64, Col::F64(v)) => arr(v, shape, n),
        (DType::I64, Col::I64(v)) => arr(v, shape, n),
        (DType::Bool, Col::Bool(v)) => arr(v, shape, n),
        (DType::F32, _) => arr(Vec::<f32>::new(), shape, n),
        (DType::F64, _) => arr(Vec::<f64>::new(), shape, n),
        (DType::I64, _) => arr(Vec::<i64>::new(), shape, n),
        (DType::Bool, _) => arr(Vec::<bool>::new(), shape, n),
        (other, _) => Buffer::zeroed(other, shape),
    }
}

/// The column holding a native buffer's memory (no copy).
fn from_buffer(b: Buffer) -> Col {
    fn raw<T>(a: ArrayD<T>) -> Vec<T> {
        let (v, off) = a.into_raw_vec_and_offset();
        debug_assert_eq!(off.unwrap_or(0), 0);
        v
    }
    match b {
        Buffer::F32(a) => Col::F32(raw(a)),
        Buffer::F64(a) => Col::F64(raw(a)),
        Buffer::I64(a) => Col::I64(raw(a)),
        Buffer::Bool(a) => Col::Bool(raw(a)),
        other => Col::from_buffer(other),
    }
}

/// Copies the box `count` at `start` of a row-major `src` of `shape` into `dst`'s
/// memory (resized to `n`).
fn cut(src: &Buffer, shape: &[usize], start: &[usize], count: &[usize], dst: Col, n: usize) -> Col {
    fn go<T: Copy + Default>(
        src: &[T],
        shape: &[usize],
        start: &[usize],
        count: &[usize],
        dst: Vec<T>,
        n: usize,
    ) -> Vec<T> {
        let mut out = sized(dst, n);
        let rank = shape.len();
        let inner = count[rank - 1];
        if n == 0 {
            return out;
        }
        let mut strides = vec![1usize; rank];
        for d in (0..rank - 1).rev() {
            strides[d] = strides[d + 1] * shape[d + 1];
        }
        let mut idx = vec![0usize; rank - 1];
        for row in out.chunks_exact_mut(inner) {
            let mut off = start[rank - 1];
            for d in 0..rank - 1 {
                off += (start[d] + idx[d]) * strides[d];
            }
            row.copy_from_slice(&src[off..off + inner]);
            let mut d = rank - 1;
            while d > 0 {
                d -= 1;
                idx[d] += 1;
                if idx[d] < count[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        out
    }
    fn s<T>(a: &ArrayD<T>) -> &[T] {
        a.as_slice().expect("standard layout")
    }
    match (src, dst) {
        (Buffer::F32(a), Col::F32(v)) => Col::F32(go(s(a), shape, start, count, v, n)),
        (Buffer::F32(a), _) => Col::F32(go(s(a), shape, start, count, Vec::new(), n)),
        (Buffer::F64(a), Col::F64(v)) => Col::F64(go(s(a), shape, start, count, v, n)),
        (Buffer::F64(a), _) => Col::F64(go(s(a), shape, start, count, Vec::new(), n)),
        (Buffer::I64(a), Col::I64(v)) => Col::I64(go(s(a), shape, start, count, v, n)),
        (Buffer::I64(a), _) => Col::I64(go(s(a), shape, start, count, Vec::new(), n)),
        (Buffer::Bool(a), Col::Bool(v)) => Col::Bool(go(s(a), shape, start, count, v, n)),
        (Buffer::Bool(a), _) => Col::Bool(go(s(a), shape, start, count, Vec::new(), n)),
        _ => unreachable!("only native dtypes are cut from chunk buffers"),
    }
}
