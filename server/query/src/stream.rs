//! Lazy result streams: the root operator's blocks, cut to at most `block_bytes` of
//! data each, computed as the consumer pulls them.

use crate::error::QueryError;
use crate::eval::Col;
use crate::physical::{query_stats, Block, BlockStream, ExecutionPlan, StoredLimits, TaskContext};
use crate::{QueryResult, QueryStats, ResultBlock, ResultHeader, StoredBlock, WireBlock};
use arrayq_storage::{Buffer, DType};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A query's result, computed block by block as it is pulled. Columns come one after
/// another, each row-major; every block holds at most `block_bytes` of data.
pub struct ResultStream {
    pub header: ResultHeader,
    root: Arc<dyn ExecutionPlan>,
    /// How the root runs; taken into `blocks` on the first pull.
    ctx: TaskContext,
    blocks: Option<BlockStream>,
    queue: VecDeque<WireBlock>,
    col_dtypes: Vec<DType>,
    block_bytes: usize,
    started: Instant,
    pre_stages: Vec<(String, Duration)>,
    pull: Duration,
    done: bool,
}

impl ResultStream {
    pub(crate) fn new(
        root: Arc<dyn ExecutionPlan>,
        header: ResultHeader,
        ctx: TaskContext,
        started: Instant,
        pre_stages: Vec<(String, Duration)>,
    ) -> ResultStream {
        ResultStream {
            col_dtypes: header.columns.iter().map(|c| c.1).collect(),
            block_bytes: ctx.block_bytes.max(64),
            header,
            root,
            ctx,
            blocks: None,
            queue: VecDeque::new(),
            started,
            pre_stages,
            pull: Duration::ZERO,
            done: false,
        }
    }

    /// Counters so far (complete once the stream is exhausted).
    pub fn stats(&self) -> QueryStats {
        query_stats(
            self.root.as_ref(),
            &self.pre_stages,
            self.pull,
            self.started,
            &self.header.layout,
        )
    }

    /// From now on, send the whole chunks of a plain projection that are contiguous
    /// runs of a column as they are stored ([`WireBlock::Stored`], at most
    /// `max_bytes` each) from [`ResultStream::next_wire`]; the iterator decodes them.
    /// Columns then come one after another, each read in its own pass. Returns
    /// whether the query qualifies (only before the first block is pulled).
    pub fn send_stored_chunks(&mut self, max_bytes: usize) -> bool {
        if self.blocks.is_some() || self.done || !self.root.sends_stored_chunks() {
            return false;
        }
        self.ctx.stored_chunks = Some(StoredLimits {
            max_bytes,
            decoded_bytes: self.block_bytes,
        });
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
            if self.done {
                break None;
            }
            match self.ctx.check().and_then(|_| self.step()) {
                Ok(true) => {}
                Ok(false) => self.done = true,
                Err(e) => {
                    self.done = true;
                    break Some(Err(e));
                }
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

    /// Pulls the root's next block into the queue; false once the root is done.
    fn step(&mut self) -> Result<bool, QueryError> {
        if self.blocks.is_none() {
            let ctx = Arc::new(self.ctx.clone());
            self.blocks = Some(self.root.clone().execute(ctx)?);
        }
        let blocks = self.blocks.as_mut().expect("started above");
        match blocks.next().transpose()? {
            None => Ok(false),
            Some(Block::Values {
                column,
                offset,
                data,
                len,
            }) => {
                self.push_blocks(column, offset, data, len);
                Ok(true)
            }
            Some(Block::Stored(b)) => {
                self.queue.push_back(WireBlock::Stored(b));
                Ok(true)
            }
            Some(Block::Piece { region, columns }) => Err(QueryError::Internal(format!(
                "the piece {region} of a scan ({} columns) reached the result stream; scans are read by the operator above them",
                columns.len()
            ))),
        }
    }

    fn elems_per_block(&self, col: usize) -> usize {
        (self.block_bytes / self.col_dtypes[col].size()).max(1)
    }

    fn push_blocks(&mut self, col: usize, base: usize, data: Col, len: usize) {
        let per = self.elems_per_block(col);
        let dt = self.col_dtypes[col];
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
