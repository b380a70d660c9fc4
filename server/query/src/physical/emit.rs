//! Finished columns (an aggregate's outputs, a projection's stashed columns) sent
//! as blocks of at most `block_bytes`, one column after another.

use super::Block;
use crate::error::QueryError;
use crate::eval::{Col, EType};
use crate::memory::MemoryReservation;
use arrayq_storage::DType;

/// Sends whole columns block by block.
pub struct ColumnEmitter {
    cols: Vec<Option<Col>>,
    dtypes: Vec<DType>,
    /// Elements of every column.
    len: usize,
    block_bytes: usize,
    col: usize,
    offset: usize,
}

impl ColumnEmitter {
    /// Emits `cols[first..]` (each `len` elements of its dtype).
    pub fn new(
        cols: Vec<Option<Col>>,
        first: usize,
        dtypes: Vec<DType>,
        len: usize,
        block_bytes: usize,
    ) -> ColumnEmitter {
        ColumnEmitter {
            cols,
            dtypes,
            len,
            block_bytes: block_bytes.max(64),
            col: first,
            offset: 0,
        }
    }
}

impl Iterator for ColumnEmitter {
    type Item = Block;

    fn next(&mut self) -> Option<Block> {
        let (n, col, offset) = (self.len, self.col, self.offset);
        if col >= self.cols.len() || n == 0 {
            return None;
        }
        let per = (self.block_bytes / self.dtypes[col].size()).max(1);
        let data = self.cols[col].take().expect("column present");
        if offset == 0 && n <= per {
            self.col += 1;
            return Some(Block::Values {
                column: col,
                offset: 0,
                data,
                len: n,
            });
        }
        let end = (offset + per).min(n);
        let part = slice_col(&data, offset, end);
        if end >= n {
            (self.col, self.offset) = (col + 1, 0);
        } else {
            self.cols[col] = Some(data);
            self.offset = end;
        }
        Some(Block::Values {
            column: col,
            offset,
            data: part,
            len: end - offset,
        })
    }
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

/// Parts of one column, in order, joined.
pub fn concat(parts: Vec<Col>) -> Col {
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

/// The stream of an operator that needs its whole input before it can answer (sort,
/// window): the child runs with values only (no stored chunks) when the stream is
/// first pulled, `compute` turns all its blocks into whole columns of `dtypes` and
/// `rows` elements, which then go out in blocks of the context's size. `compute`
/// charges what it holds to a reservation of `operator`, which then keeps the
/// output's size until the last block is out.
pub(crate) fn after_whole_input(
    input: std::sync::Arc<dyn super::ExecutionPlan>,
    ctx: std::sync::Arc<super::TaskContext>,
    operator: &'static str,
    compute: impl FnOnce(
            super::BlockStream,
            &mut MemoryReservation,
        ) -> Result<(Vec<Col>, Vec<DType>, usize), QueryError>
        + Send
        + 'static,
) -> Result<super::BlockStream, QueryError> {
    let child_ctx = std::sync::Arc::new(super::TaskContext {
        stored_chunks: None,
        ..(*ctx).clone()
    });
    let mut input = Some(input.execute(child_ctx)?);
    let mut compute = Some(compute);
    let mut emit: Option<ColumnEmitter> = None;
    let mut reservation = ctx.memory.reservation(operator);
    Ok(Box::new(std::iter::from_fn(move || {
        if let (Some(stream), Some(compute)) = (input.take(), compute.take()) {
            match compute(stream, &mut reservation) {
                Ok((cols, dtypes, rows)) => {
                    reservation.shrink_to(cols.iter().map(super::cells::col_bytes).sum());
                    let cols = cols.into_iter().map(Some).collect();
                    emit = Some(ColumnEmitter::new(cols, 0, dtypes, rows, ctx.block_bytes));
                }
                Err(e) => return Some(Err(e)),
            }
        }
        let next = emit.as_mut()?.next();
        if next.is_none() {
            reservation.shrink_to(0);
        }
        next.map(Ok)
    })))
}

/// Gathers an input's value blocks into whole columns of `n` elements of `dtypes`
/// (missing values where nothing was sent), charging each block to `reservation`.
pub(crate) fn gather_columns(
    stream: super::BlockStream,
    dtypes: &[DType],
    n: usize,
    reservation: &mut MemoryReservation,
    who: &str,
) -> Result<Vec<Col>, QueryError> {
    let mut parts: Vec<Vec<(usize, Col)>> = dtypes.iter().map(|_| Vec::new()).collect();
    for b in stream {
        match b? {
            Block::Values {
                column,
                offset,
                data,
                len,
            } => {
                let data = data.into_type(EType::of(dtypes[column]), len);
                reservation.try_grow(super::cells::col_bytes(&data), "its input's values")?;
                parts[column].push((offset, data));
            }
            _ => {
                return Err(QueryError::Internal(format!(
                    "a {who} input sent no values"
                )))
            }
        }
    }
    Ok(parts
        .into_iter()
        .zip(dtypes)
        .map(|(mut p, dt)| {
            p.sort_by_key(|x| x.0);
            let c = concat(p.into_iter().map(|x| x.1).collect());
            match super::cells::col_len(&c) == n {
                true => c,
                // Nothing selected (or nothing sent): missing values.
                false => Col::F64(vec![f64::NAN; n]).into_type(EType::of(*dt), n),
            }
        })
        .collect())
}
