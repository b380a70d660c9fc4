//! Reading the pieces of a scan (one chunk's part of the region each) into buffers
//! a worker reuses from piece to piece: every chunk is decoded once, straight into
//! memory that is already mapped, and no chunk-sized buffer is allocated or filled
//! per chunk. A piece that is only part of its chunk is cut out of the decoded chunk
//! (short rows: contiguous, they fold into long runs), or, for callers that read
//! through [`Reader::input`], left there as a strided view (long rows: no copy).
//! Finished readers hand their buffers to a small global pool for the next query.

use super::ScanExec;
use crate::error::QueryError;
use crate::eval::{Col, EType};
use crate::physical::cells::{col_is, col_len, next_index, strides};
use crate::physical::TaskContext;
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
    boxes: Vec<Option<Col>>,
    /// Columns of earlier pieces, kept for reuse.
    spare: Vec<Col>,
    /// Slots not read (no expression of the caller uses them).
    skip: Vec<bool>,
    /// Leave a piece that is part of its chunk, with rows at least this long, in the
    /// chunk buffer (see [`Reader::input`]) instead of cutting it out.
    view_min_row: usize,
    /// Per slot, when the last piece was left in its chunk buffer: its offset there
    /// and the buffer's shape.
    view: Vec<Option<(usize, Vec<usize>)>>,
    array_shape: Vec<u64>,
    chunk_shape: Vec<u64>,
}

impl Reader {
    pub fn new(scan: &ScanExec) -> Reader {
        Reader {
            cols: scan.attrs.iter().map(|_| Col::F32(Vec::new())).collect(),
            boxes: scan.attrs.iter().map(|_| None).collect(),
            spare: {
                // A share of the pooled buffers (the other workers take theirs).
                let mut p = POOL.lock();
                let k = p.len().saturating_sub(6);
                p.split_off(k)
            },
            skip: scan.attrs.iter().map(|_| false).collect(),
            view_min_row: usize::MAX,
            view: scan.attrs.iter().map(|_| None).collect(),
            array_shape: scan.schema().shape(),
            chunk_shape: scan.chunk_shape().to_vec(),
        }
    }

    /// A reader of only the slots `used` marks.
    pub fn for_slots(scan: &ScanExec, used: &[bool]) -> Reader {
        let mut r = Reader::new(scan);
        r.skip = used.iter().map(|u| !u).collect();
        r
    }

    /// A reader whose pieces may stay in their chunk buffers (callers that read
    /// values through [`Reader::input`] only, never through `cols`). Pieces with short
    /// rows are cut out unless `short_rows` (callers whose kernels take strided short
    /// rows as they come).
    pub fn with_views(scan: &ScanExec, short_rows: bool) -> Reader {
        let mut r = Reader::new(scan);
        r.view_min_row = if short_rows { 1 } else { VIEW_MIN_ROW };
        r
    }

    /// Slot `k` of the last piece: the values, the offset of the piece's first cell
    /// among them, and the element strides of every dimension (the piece's own
    /// row-major strides unless it was left in its chunk buffer).
    pub fn input(&self, k: usize, piece_shape: &[usize]) -> (&Col, usize, Vec<usize>) {
        match &self.view[k] {
            Some((off, shape)) => (
                self.boxes[k].as_ref().expect("chunk buffer of a view"),
                *off,
                strides(shape),
            ),
            None => (&self.cols[k], 0, strides(piece_shape)),
        }
    }

    /// A spare column of exactly `n` elements if there is one, else the shortest one
    /// that is longer (truncated, not filled), else the longest (resized later).
    fn take(&mut self, n: usize) -> Col {
        let len = |i: &usize| col_len(&self.spare[*i]);
        let i = (0..self.spare.len())
            .filter(|i| len(i) >= n)
            .min_by_key(len)
            .or_else(|| (0..self.spare.len()).max_by_key(len));
        match i {
            Some(i) => self.spare.swap_remove(i),
            None => Col::F32(Vec::new()),
        }
    }

    fn give(&mut self, c: Col) {
        const KEEP: usize = 8;
        if matches!(c, Col::Const(_)) || col_len(&c) == 0 {
            return;
        }
        if self.spare.len() >= KEEP {
            self.spare.remove(0);
        }
        self.spare.push(c);
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
    /// scan's layout) into [`Reader::cols`].
    pub fn read(
        &mut self,
        scan: &ScanExec,
        ctx: &TaskContext,
        piece: &Region,
    ) -> Result<(), QueryError> {
        ctx.check()?;
        if let Some(rg) = &scan.regrid {
            self.view.iter_mut().for_each(|v| *v = None);
            return rg.fill(
                &scan.metrics,
                ctx,
                piece,
                &scan.attrs,
                &self.skip,
                &mut self.cols,
            );
        }
        let t = Instant::now();
        let opts = ReadOptions {
            layout: Some(scan.layout),
            cancel: Some(&ctx.cancel),
            stats: Some(&scan.metrics.read),
        };
        let cbox = self.chunk_box(piece);
        let whole = cbox == *piece;
        let shape = piece.shape();
        let n: usize = shape.iter().product();
        let nattrs = scan.snap.schema().attrs.len();
        for (k, &a) in scan.attrs.iter().enumerate() {
            if self.skip[k] || a >= nattrs {
                continue;
            }
            let dtype = scan.snap.schema().attrs[a].dtype;
            self.view[k] = None;
            // The last piece's column goes back to the spares; take one of this length
            // (pieces of a scan come in few shapes), so no memory is filled twice.
            let last = std::mem::replace(&mut self.cols[k], Col::Const(crate::eval::Lit::I(0)));
            self.give(last);
            let col = self.take(n);
            let native = matches!(dtype, DType::F32 | DType::F64 | DType::I64 | DType::Bool);
            let col = if !native {
                // Narrow integers widen to i64 columns: read and convert.
                self.give(col);
                let b = scan
                    .snap
                    .read_with(a, piece, opts)
                    .map_err(QueryError::from_storage)?;
                Col::from_buffer(b)
            } else if whole {
                // The piece is its whole chunk: decode straight into the column.
                let mut buf = into_buffer(dtype, col, &shape, n);
                scan.snap
                    .read_into(a, piece, opts, &mut buf)
                    .map_err(QueryError::from_storage)?;
                Col::from_buffer(buf)
            } else {
                // Decode the whole chunk into this worker's chunk buffer (no scratch, no
                // fill pass in storage), then cut the piece out of it, or leave it there
                // for callers that take views.
                let cshape = cbox.shape();
                let cn: usize = cshape.iter().product();
                let old = match self.boxes[k].take() {
                    Some(b) if col_is(&b, EType::of(dtype)) && col_len(&b) == cn => b,
                    Some(b) => {
                        self.give(b);
                        self.take(cn)
                    }
                    None => self.take(cn),
                };
                let mut buf = into_buffer(dtype, old, &cshape, cn);
                scan.snap
                    .read_into(a, &cbox, opts, &mut buf)
                    .map_err(QueryError::from_storage)?;
                let start: Vec<usize> = piece
                    .0
                    .iter()
                    .zip(&cbox.0)
                    .map(|(p, c)| (p.start - c.start) as usize)
                    .collect();
                // Short rows are cut out unless the caller takes them strided: contiguous,
                // they fold into longer runs that vectorise, which pays for the copy.
                let view = shape.last().is_some_and(|&w| w >= self.view_min_row);
                let out = if view {
                    let off = start
                        .iter()
                        .zip(strides(&cshape))
                        .map(|(s, st)| s * st)
                        .sum();
                    self.view[k] = Some((off, cshape.clone()));
                    col
                } else {
                    cut(&buf, &cshape, &start, &shape, col, n)
                };
                self.boxes[k] = Some(Col::from_buffer(buf));
                out
            };
            self.cols[k] = col;
        }
        if let Some(j) = &scan.join {
            self.fill_join(scan, ctx, j, piece)?;
        }
        scan.metrics
            .read_ns
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Ok(())
    }
}

impl Reader {
    /// The right side's values of a join over `piece`: per left cell, the right cell
    /// its keys map it to (NaN where there is none).
    fn fill_join(
        &mut self,
        scan: &ScanExec,
        ctx: &TaskContext,
        j: &crate::planner::JoinSpec,
        piece: &Region,
    ) -> Result<(), QueryError> {
        use crate::physical::NO_MATCH;
        let slots: Vec<usize> = (0..scan.attrs.len())
            .filter(|&k| !self.skip[k] && scan.attrs[k] >= j.nleft)
            .collect();
        if slots.is_empty() {
            return Ok(());
        }
        let values = j.values(&ctx.memory)?;
        let rshape: Vec<usize> = j
            .right
            .schema()
            .dims
            .iter()
            .map(|d| d.len as usize)
            .collect();
        let rstrides = strides(&rshape);
        let shape = piece.shape();
        let n: usize = shape.iter().product();
        // Per left dimension, per index of the piece: the right offset it adds.
        let mut add: Vec<Vec<usize>> = shape.iter().map(|&len| vec![0; len]).collect();
        for key in &j.keys {
            let r = &piece.0[key.left_dim];
            for (i, a) in add[key.left_dim].iter_mut().enumerate() {
                let m = key.map[r.start as usize + i];
                let rb = &j.rbox.0[key.right_dim];
                // Outside the box read: only cells outside the selection map there.
                let inside = m != NO_MATCH && (rb.start..rb.end).contains(&(m as u64));
                *a = match (inside, *a) {
                    (false, _) | (_, NO_MATCH) => NO_MATCH,
                    (true, a) => a + (m - rb.start as usize) * rstrides[key.right_dim],
                };
            }
        }
        // Right offsets row by row (a row = the innermost dimension): one base per
        // row, and the innermost offsets, which for a key like `e.lon = c.lon` are a
        // contiguous run of the right array, so a row is one slice copy.
        let Some((&inner, outer)) = shape.split_last() else {
            return Ok(());
        };
        let inner_add = &add[shape.len() - 1];
        let run = inner_add.first().filter(|&&a0| {
            a0 != NO_MATCH && inner_add.iter().enumerate().all(|(i, &a)| a == a0 + i)
        });
        let rows = n.checked_div(inner).unwrap_or(0);
        let mut bases = Vec::with_capacity(rows);
        let mut idx = vec![0usize; outer.len()];
        for _ in 0..rows {
            let mut o = 0usize;
            for (d, &i) in idx.iter().enumerate() {
                let a = add[d][i];
                if a == NO_MATCH {
                    o = NO_MATCH;
                    break;
                }
                o += a;
            }
            bases.push(o);
            next_index(&mut idx, outer);
        }
        let rs = j.right.schema();
        for k in slots {
            let ra = scan.attrs[k] - j.nleft;
            let v = &values[ra];
            self.view[k] = None;
            let old = std::mem::replace(&mut self.cols[k], Col::F32(Vec::new()));
            self.give(old);
            let spare = self.take(n);
            self.cols[k] = match rs.attrs[ra].dtype {
                DType::F32 => {
                    let mut out = match spare {
                        Col::F32(mut o) => {
                            o.clear();
                            o
                        }
                        _ => Vec::with_capacity(n),
                    };
                    gather_rows(v, &bases, inner_add, run.copied(), |x| x as f32, &mut out);
                    Col::F32(out)
                }
                _ => {
                    let mut out = match spare {
                        Col::F64(mut o) => {
                            o.clear();
                            o
                        }
                        _ => Vec::with_capacity(n),
                    };
                    gather_rows(v, &bases, inner_add, run.copied(), |x| x, &mut out);
                    Col::F64(out)
                }
            };
        }
        Ok(())
    }
}

/// Appends, per row, the right values at `base + inner_add[i]` (NaN where the row
/// or the cell has no match); `run` is the first offset when `inner_add` is a
/// contiguous run (the row is then one slice).
fn gather_rows<T: Copy>(
    v: &[f64],
    bases: &[usize],
    inner_add: &[usize],
    run: Option<usize>,
    conv: impl Fn(f64) -> T,
    out: &mut Vec<T>,
) {
    use crate::physical::NO_MATCH;
    let nan = conv(f64::NAN);
    let inner = inner_add.len();
    for &b in bases {
        match (b, run) {
            (NO_MATCH, _) => out.extend(std::iter::repeat_n(nan, inner)),
            (b, Some(a0)) => out.extend(v[b + a0..b + a0 + inner].iter().map(|&x| conv(x))),
            (b, None) => {
                out.extend(inner_add.iter().map(
                    |&a| {
                        if a == NO_MATCH {
                            nan
                        } else {
                            conv(v[b + a])
                        }
                    },
                ))
            }
        }
    }
}

/// Shortest innermost extent of a piece left in its chunk buffer as a view.
const VIEW_MIN_ROW: usize = 32;

/// Buffers of finished readers, for the next ones: a query's workers start with
/// memory that is already mapped and the right size (chunk-sized buffers would
/// otherwise be faulted in and zero-filled by every query). Bounded by `POOL_BYTES`.
static POOL: parking_lot::Mutex<Vec<Col>> = parking_lot::Mutex::new(Vec::new());
const POOL_BYTES: usize = 32 << 20;

fn col_bytes(c: &Col) -> usize {
    match c {
        Col::F32(v) => v.capacity() * 4,
        Col::F64(v) => v.capacity() * 8,
        Col::I64(v) => v.capacity() * 8,
        Col::Bool(v) => v.capacity(),
        Col::Const(_) => 0,
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let mut mine: Vec<Col> = std::mem::take(&mut self.spare);
        mine.append(&mut self.cols);
        mine.extend(self.boxes.drain(..).flatten());
        mine.retain(|c| col_len(c) > 0);
        let mut pool = POOL.lock();
        let mut bytes: usize = pool.iter().map(col_bytes).sum();
        for c in mine {
            let b = col_bytes(&c);
            if bytes + b <= POOL_BYTES && pool.len() < 16 {
                bytes += b;
                pool.push(c);
            }
        }
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
        let strides = strides(shape);
        let mut idx = vec![0usize; rank - 1];
        for row in out.chunks_exact_mut(inner) {
            let mut off = start[rank - 1];
            for d in 0..rank - 1 {
                off += (start[d] + idx[d]) * strides[d];
            }
            row.copy_from_slice(&src[off..off + inner]);
            next_index(&mut idx, &count[..rank - 1]);
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
