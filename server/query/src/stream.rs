//! Lazy result streams: blocks are computed as the consumer pulls them.

use crate::error::QueryError;
use crate::eval::Col;
use crate::exec::{aggregate, project_slab, slabs, Exec, Slab};
use crate::logical::{Kind, Plan};
use crate::stored::{stored_pieces, StoredCursor, StoredLimits};
use crate::{QueryResult, QueryStats, ResultBlock, ResultHeader, StoredBlock, WireBlock};
use arrayq_storage::{Buffer, DType};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Columns 1.. of a projection are stashed while column 0 streams only up to this
/// many blocks; larger results are computed column by column (the chunks are read
/// once per column), so memory stays bounded by the slabs in flight.
const STASH_BLOCKS: u64 = 16;

enum State {
    /// Aggregation not run yet.
    AggPending,
    /// Projection: slabs still to compute. With `only`, each pass over the slabs
    /// computes one column (large multi-column results: re-reading the chunks per
    /// column keeps memory bounded); otherwise column 0 streams and the others are
    /// stashed until it is out.
    Project {
        slabs: Vec<Slab>,
        next: usize,
        only: Option<usize>,
    },
    /// Projection sent as stored chunks where it can be (see `crate::stored`).
    Stored(Box<StoredCursor>),
    /// Emitting finished columns (aggregates; projection columns after the first).
    Emit {
        cols: Vec<Option<Col>>,
        col: usize,
        offset: usize,
    },
    Done,
}

/// A query's result, computed block by block as it is pulled. Columns come one after
/// another, each row-major; every block holds at most `block_bytes` of data.
pub struct ResultStream {
    pub header: ResultHeader,
    plan: Arc<Plan>,
    exec: Arc<Exec>,
    state: State,
    queue: VecDeque<WireBlock>,
    /// Projection columns 1.. gathered while column 0 streams.
    stash: Vec<Vec<Col>>,
    block_bytes: usize,
    started: Instant,
    pre_stages: Vec<(String, Duration)>,
    pull: Duration,
    failed: bool,
}

impl ResultStream {
    pub(crate) fn new(
        plan: Plan,
        exec: Exec,
        block_bytes: usize,
        started: Instant,
        pre_stages: Vec<(String, Duration)>,
    ) -> ResultStream {
        let state = match &plan.kind {
            Kind::Aggregate { .. } => State::AggPending,
            Kind::Project { cols } => {
                if plan.empty || cols.is_empty() {
                    State::Done
                } else {
                    // Stash columns 1.. only while they are small; else one pass per column.
                    let rest: u64 = plan.col_dtypes[1..]
                        .iter()
                        .map(|d| d.size() as u64 * plan.header.len() as u64)
                        .sum();
                    let only = (rest > STASH_BLOCKS * block_bytes as u64).then_some(0);
                    State::Project {
                        slabs: slabs(&plan, block_bytes.max(64)),
                        next: 0,
                        only,
                    }
                }
            }
        };
        let ncols = plan.header.columns.len();
        ResultStream {
            header: plan.header.clone(),
            plan: Arc::new(plan),
            exec: Arc::new(exec),
            state,
            queue: VecDeque::new(),
            stash: (0..ncols).map(|_| Vec::new()).collect(),
            block_bytes: block_bytes.max(64),
            started,
            pre_stages,
            pull: Duration::ZERO,
            failed: false,
        }
    }

    /// Counters so far (complete once the stream is exhausted).
    pub fn stats(&self) -> QueryStats {
        let (chunks_read, chunks_fill, bytes_read, bytes_decoded) = self.exec.read.get();
        let mut stages = self.pre_stages.clone();
        let ns = |a: &std::sync::atomic::AtomicU64| Duration::from_nanos(a.load(Ordering::Relaxed));
        stages.push((
            "read+decode (cpu, all workers)".into(),
            ns(&self.exec.read_ns),
        ));
        stages.push((
            "compute (cpu, all workers)".into(),
            ns(&self.exec.compute_ns),
        ));
        if matches!(self.plan.kind, Kind::Aggregate { .. }) {
            stages.push(("merge partials".into(), ns(&self.exec.merge_ns)));
        }
        stages.push(("execute (wall)".into(), self.pull));
        QueryStats {
            chunks_read,
            chunks_fill,
            bytes_read,
            bytes_decoded,
            elapsed: self.started.elapsed(),
            stages,
            layout: self.header.layout.clone(),
        }
    }

    /// From now on, send the whole chunks of a plain projection that are contiguous
    /// runs of a column as they are stored ([`WireBlock::Stored`], at most
    /// `max_bytes` each) from [`ResultStream::next_wire`]; the iterator decodes them.
    /// Columns then come one after another, each read in its own pass. Returns
    /// whether the query qualifies (only before the first block is pulled).
    pub fn send_stored_chunks(&mut self, max_bytes: usize) -> bool {
        if !matches!(self.state, State::Project { next: 0, .. }) || !self.queue.is_empty() {
            return false;
        }
        let Some(pieces) = stored_pieces(&self.plan) else {
            return false;
        };
        let limits = StoredLimits {
            max_bytes,
            decoded_bytes: self.block_bytes,
        };
        self.state = State::Stored(Box::new(StoredCursor::new(pieces, limits)));
        true
    }

    /// The next block as it would go over the wire: stored chunks only after
    /// [`ResultStream::send_stored_chunks`].
    pub fn next_wire(&mut self) -> Option<Result<WireBlock, QueryError>> {
        let t = Instant::now();
        let r = loop {
            if let Some(b) = self.queue.pop_front() {
                break Some(Ok(b));
            }
            if self.failed || matches!(self.state, State::Done) {
                break None;
            }
            if let Err(e) = self.exec.check().and_then(|_| self.step()) {
                self.failed = true;
                self.state = State::Done;
                break Some(Err(e));
            }
        };
        self.pull += t.elapsed();
        r
    }

    /// Pulls every block and assembles the columns, shaped like `header.shape`.
    pub fn collect_all(mut self) -> Result<QueryResult, QueryError> {
        let n = self.header.len();
        let mut cols: Vec<Buffer> = self
            .header
            .columns
            .iter()
            .map(|(_, dt)| Buffer::filled(*dt, &[n], zero(*dt)))
            .collect();
        for b in self.by_ref() {
            let b = b?;
            place(&mut cols[b.column], b.offset, &b.data)?;
        }
        let shape = self.header.shape.clone();
        let columns = cols
            .into_iter()
            .map(|c| reshape(c, &shape))
            .collect::<Result<Vec<_>, _>>()?;
        let stats = self.stats();
        Ok(QueryResult {
            header: self.header,
            columns,
            stats,
        })
    }

    fn elems_per_block(&self, col: usize) -> usize {
        (self.block_bytes / self.plan.col_dtypes[col].size()).max(1)
    }

    fn push_blocks(&mut self, col: usize, base: usize, data: Col, len: usize) {
        let per = self.elems_per_block(col);
        let dt = self.plan.col_dtypes[col];
        let whole = data.into_buffer(dt, len);
        if len <= per {
            self.queue.push_back(WireBlock::Values(ResultBlock {
                column: col,
                offset: base,
                data: whole,
            }));
            return;
        }
        let mut start = 0;
        while start < len {
            let end = (start + per).min(len);
            let part = slice_1d(&whole, start, end);
            self.queue.push_back(WireBlock::Values(ResultBlock {
                column: col,
                offset: base + start,
                data: part,
            }));
            start = end;
        }
    }

    fn step(&mut self) -> Result<(), QueryError> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Done => {}
            State::AggPending => {
                let cols = aggregate(&self.plan, &self.exec)?;
                self.state = State::Emit {
                    cols: cols.into_iter().map(Some).collect(),
                    col: 0,
                    offset: 0,
                };
            }
            State::Project {
                slabs,
                next,
                only: Some(c),
            } => {
                if next >= slabs.len() {
                    if c + 1 < self.plan.col_dtypes.len() {
                        self.state = State::Project {
                            slabs,
                            next: 0,
                            only: Some(c + 1),
                        };
                    }
                    return Ok(());
                }
                let slab = &slabs[next];
                let mut out = project_slab(&self.plan, &self.exec, slab, Some(c))?;
                let col = out.pop().expect("one column");
                self.push_blocks(c, slab.out_offset, col, slab.out_len);
                self.state = State::Project {
                    slabs,
                    next: next + 1,
                    only: Some(c),
                };
            }
            State::Project {
                slabs,
                next,
                only: None,
            } => {
                if next >= slabs.len() {
                    // Column 0 is out; the others were stashed slab by slab.
                    let mut cols: Vec<Option<Col>> = vec![None];
                    for c in 1..self.stash.len() {
                        let parts = std::mem::take(&mut self.stash[c]);
                        cols.push(Some(concat(parts)));
                    }
                    self.state = State::Emit {
                        cols,
                        col: 1,
                        offset: 0,
                    };
                    return Ok(());
                }
                let slab = &slabs[next];
                let mut out = project_slab(&self.plan, &self.exec, slab, None)?;
                let rest = out.split_off(1);
                for (k, c) in rest.into_iter().enumerate() {
                    self.stash[k + 1].push(c);
                }
                let c0 = out.pop().expect("one column");
                let (off, len) = (slab.out_offset, slab.out_len);
                self.push_blocks(0, off, c0, len);
                self.state = State::Project {
                    slabs,
                    next: next + 1,
                    only: None,
                };
            }
            State::Stored(mut cur) => {
                if cur.next >= cur.pieces.len() {
                    if cur.col + 1 < self.plan.col_dtypes.len() {
                        cur.start_column(cur.col + 1);
                        self.state = State::Stored(cur);
                    }
                    return Ok(());
                }
                match cur.next_block(&self.plan, &self.exec)? {
                    Some(b) => self.queue.push_back(WireBlock::Stored(b)),
                    None => {
                        // Decoded here: cut by the region, never written or too large.
                        let region = cur.pieces[cur.next].clone();
                        let n = region.len() as usize;
                        let slab = Slab {
                            region,
                            out_offset: cur.offset,
                            out_len: n,
                        };
                        let mut out = project_slab(&self.plan, &self.exec, &slab, Some(cur.col))?;
                        let c = out.pop().expect("one column");
                        self.push_blocks(cur.col, cur.offset, c, n);
                        cur.skip(n);
                    }
                }
                self.state = State::Stored(cur);
            }
            State::Emit {
                mut cols,
                col,
                offset,
            } => {
                let n = self.header.len();
                if col >= cols.len() || n == 0 {
                    return Ok(());
                }
                let per = self.elems_per_block(col);
                let data = cols[col].take().expect("column present");
                if offset == 0 && n <= per {
                    self.push_blocks(col, 0, data, n);
                    self.state = State::Emit {
                        cols,
                        col: col + 1,
                        offset: 0,
                    };
                } else {
                    let end = (offset + per).min(n);
                    let part = slice_col(&data, offset, end);
                    self.push_blocks(col, offset, part, end - offset);
                    let (ncol, noff) = if end >= n { (col + 1, 0) } else { (col, end) };
                    if ncol == col {
                        cols[col] = Some(data);
                    }
                    self.state = State::Emit {
                        cols,
                        col: ncol,
                        offset: noff,
                    };
                }
            }
        }
        Ok(())
    }
}

impl Iterator for ResultStream {
    type Item = Result<ResultBlock, QueryError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_wire()? {
            Ok(WireBlock::Values(b)) => Some(Ok(b)),
            Ok(WireBlock::Stored(b)) => Some(decode_block(&b)),
            Err(e) => Some(Err(e)),
        }
    }
}

/// A stored block decoded into a values block.
fn decode_block(b: &StoredBlock) -> Result<ResultBlock, QueryError> {
    let n = b.elements();
    let mut data = Buffer::filled(b.dtype, &[n], zero(b.dtype));
    let out = arrayq_storage::codec::buffer_bytes_mut(&mut data)
        .ok_or_else(|| QueryError::Internal("fresh buffer not contiguous".into()))?;
    b.decode_into(out)?;
    Ok(ResultBlock {
        column: b.column,
        offset: b.offset,
        data,
    })
}

fn zero(dt: DType) -> arrayq_storage::Scalar {
    if dt == DType::Bool {
        arrayq_storage::Scalar::Bool(false)
    } else {
        arrayq_storage::Scalar::I64(0)
    }
}

fn concat(parts: Vec<Col>) -> Col {
    let mut it = parts.into_iter();
    let Some(mut first) = it.next() else {
        return Col::F64(vec![]);
    };
    for p in it {
        match (&mut first, p) {
            (Col::F32(a), Col::F32(b)) => a.extend(b),
            (Col::F64(a), Col::F64(b)) => a.extend(b),
            (Col::I64(a), Col::I64(b)) => a.extend(b),
            (Col::Bool(a), Col::Bool(b)) => a.extend(b),
            _ => unreachable!("columns keep their type"),
        }
    }
    first
}

fn slice_col(c: &Col, a: usize, b: usize) -> Col {
    match c {
        Col::F32(v) => Col::F32(v[a..b].to_vec()),
        Col::F64(v) => Col::F64(v[a..b].to_vec()),
        Col::I64(v) => Col::I64(v[a..b].to_vec()),
        Col::Bool(v) => Col::Bool(v[a..b].to_vec()),
        Col::Const(l) => Col::Const(*l),
    }
}

fn slice_1d(b: &Buffer, start: usize, end: usize) -> Buffer {
    use ndarray::{ArrayD, IxDyn};
    arrayq_storage::with_buffer!(b, a => {
        let v: Vec<_> = a.as_slice().expect("1-D standard layout")[start..end].to_vec();
        arrayq_storage::Element::wrap(ArrayD::from_shape_vec(IxDyn(&[end - start]), v).expect("1-D"))
    })
}

fn place(dst: &mut Buffer, offset: usize, src: &Buffer) -> Result<(), QueryError> {
    macro_rules! cp {
        ($($v:ident),*) => {
            match (dst, src) {
                $((Buffer::$v(d), Buffer::$v(s)) => {
                    let d = d.as_slice_mut().expect("fresh buffer");
                    let s = s.as_slice().expect("1-D block");
                    if offset + s.len() > d.len() {
                        return Err(QueryError::Internal("result block beyond its column".into()));
                    }
                    d[offset..offset + s.len()].copy_from_slice(s);
                    Ok(())
                })*
                _ => Err(QueryError::Internal("result block of the wrong dtype".into())),
            }
        };
    }
    cp!(F32, F64, I8, I16, I32, I64, U8, U16, U32, U64, Bool)
}

fn reshape(b: Buffer, shape: &[usize]) -> Result<Buffer, QueryError> {
    b.into_shape(shape)
        .map_err(|e| QueryError::Internal(format!("reshape: {e}")))
}
