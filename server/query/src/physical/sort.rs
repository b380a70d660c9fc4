//! Sort: a gridded result as a table of rows (`ORDER BY`, `LIMIT`, `OFFSET`).
//!
//! The input's columns are gathered whole (charged, with the keys and the table,
//! to the query's memory bound), then the cells are ordered by the keys. With a LIMIT only the first
//! `offset + limit` cells are wanted: `select_nth_unstable_by` partitions them out
//! in linear time and only those are sorted, so a top-10 over a million cells
//! sorts ten. Ties, and a table without keys, keep row-major cell order (the
//! cell's index is the last key), so the result is deterministic.

use super::emit::{after_whole_input, gather_columns};
use super::{BlockStream, ExecutionPlan, OperatorMetrics, TaskContext};
use crate::error::QueryError;
use crate::eval::Col;
use crate::logical::SortKey;
use crate::memory::MemoryReservation;
use crate::CoordValues;
use arrayq_storage::DType;
use std::cmp::Ordering;
use std::sync::atomic::Ordering as Atomic;
use std::sync::Arc;
use std::time::Instant;

pub struct SortExec {
    pub input: Arc<dyn ExecutionPlan>,
    /// The input's grid: per dimension, name and coordinates.
    pub grid: Vec<(String, CoordValues)>,
    /// The input's columns' dtypes.
    pub dtypes: Vec<DType>,
    /// Keys over the table's columns (grid dimensions first).
    pub keys: Vec<SortKey>,
    pub limit: Option<u64>,
    pub offset: u64,
    pub metrics: OperatorMetrics,
}

/// The values of one key column, compared without loss (times are i64 ns).
enum KeyCol {
    F(Vec<f64>),
    I(Vec<i64>),
}

impl SortExec {
    fn cells(&self) -> usize {
        self.grid.iter().map(|g| g.1.len()).product()
    }

    fn rows(&self) -> usize {
        let after = (self.cells() as u64).saturating_sub(self.offset);
        self.limit.map_or(after, |l| after.min(l)) as usize
    }

    /// The coordinate index of every cell along grid dimension `d`.
    fn coord_index(&self, d: usize, cell: usize) -> usize {
        let inner: usize = self.grid[d + 1..].iter().map(|g| g.1.len()).product();
        (cell / inner) % self.grid[d].1.len()
    }

    /// Table column `c` (grid dimensions first) at the given cells.
    fn table_col(&self, c: usize, cols: &[Col], cells: &[usize]) -> Col {
        let nd = self.grid.len();
        if c >= nd {
            return gather(&cols[c - nd], cells);
        }
        let at = |i: &usize| self.coord_index(c, *i);
        match &self.grid[c].1 {
            CoordValues::Numbers(v) => Col::F64(cells.iter().map(|i| v[at(i)]).collect()),
            CoordValues::Times(v) | CoordValues::Labels(v) => {
                Col::I64(cells.iter().map(|i| v[at(i)]).collect())
            }
            // The planner refuses tables over text labels.
            CoordValues::Texts(_) => Col::I64(cells.iter().map(|i| at(i) as i64).collect()),
        }
    }

    /// The ordered, limited cells.
    fn order(&self, cols: &[Col]) -> Vec<usize> {
        let n = self.cells();
        let (offset, rows) = (self.offset as usize, self.rows());
        if self.keys.is_empty() {
            return (offset..offset + rows).collect();
        }
        let all: Vec<usize> = (0..n).collect();
        let keys: Vec<KeyCol> = self
            .keys
            .iter()
            .map(|k| match self.table_col(k.column, cols, &all) {
                Col::I64(v) => KeyCol::I(v),
                other => KeyCol::F(other.f64s(n)),
            })
            .collect();
        let cmp = |a: &usize, b: &usize| {
            for (k, col) in self.keys.iter().zip(&keys) {
                let o = match col {
                    KeyCol::I(v) => directed(v[*a].cmp(&v[*b]), k.desc),
                    KeyCol::F(v) => compare_f64(v[*a], v[*b], k),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            a.cmp(b)
        };
        let mut idx = all;
        let want = offset + rows;
        if want < n {
            // Only the first `want` cells in order: partition, then sort those.
            idx.select_nth_unstable_by(want, cmp);
            idx.truncate(want);
        }
        idx.sort_unstable_by(cmp);
        idx.drain(..offset.min(idx.len()));
        idx
    }
}

fn directed(o: Ordering, desc: bool) -> Ordering {
    if desc {
        o.reverse()
    } else {
        o
    }
}

/// NaN is missing: it sorts first or last per the key's NULLS rule, whatever the
/// direction.
fn compare_f64(a: f64, b: f64, k: &SortKey) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) if k.nulls_first => Ordering::Less,
        (true, false) => Ordering::Greater,
        (false, true) if k.nulls_first => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => directed(a.total_cmp(&b), k.desc),
    }
}

fn gather(c: &Col, cells: &[usize]) -> Col {
    match c {
        Col::F32(v) => Col::F32(cells.iter().map(|&i| v[i]).collect()),
        Col::F64(v) => Col::F64(cells.iter().map(|&i| v[i]).collect()),
        Col::I64(v) => Col::I64(cells.iter().map(|&i| v[i]).collect()),
        Col::Bool(v) => Col::Bool(cells.iter().map(|&i| v[i]).collect()),
        Col::Const(l) => Col::Const(*l),
    }
}

impl ExecutionPlan for SortExec {
    fn name(&self) -> &'static str {
        if self.keys.is_empty() {
            "Limit"
        } else {
            "Sort"
        }
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        vec![self.input.as_ref()]
    }

    fn fmt_explain(&self) -> Vec<String> {
        let mut first = match self.keys.is_empty() {
            true => "Limit:".to_string(),
            false => {
                let k: Vec<&str> = self.keys.iter().map(|k| k.text.as_str()).collect();
                format!("Sort: {}", k.join(", "))
            }
        };
        if let Some(l) = self.limit {
            first.push_str(&format!(" LIMIT {l}"));
        }
        if self.offset > 0 {
            first.push_str(&format!(" OFFSET {}", self.offset));
        }
        let how = match (self.keys.is_empty(), self.limit.is_some()) {
            (true, _) => "rows in cell order".to_string(),
            (false, true) => format!(
                "top {}: select_nth over {} cells, then sort those",
                self.offset as usize + self.rows(),
                self.cells()
            ),
            (false, false) => format!("full sort of {} cells", self.cells()),
        };
        let dims: Vec<&str> = self.grid.iter().map(|g| g.0.as_str()).collect();
        vec![
            first,
            format!("  {how}; ties in row-major cell order"),
            format!(
                "  result: table of {} rows along 'row', coordinates [{}] as columns",
                self.rows(),
                dims.join(", ")
            ),
        ]
    }

    fn execute(self: Arc<Self>, ctx: Arc<TaskContext>) -> Result<BlockStream, QueryError> {
        let op = self.clone();
        after_whole_input(self.input.clone(), ctx, self.name(), move |stream, mem| {
            Ok((op.run(stream, mem)?, op.table_dtypes(), op.rows()))
        })
    }

    fn metrics(&self) -> &OperatorMetrics {
        &self.metrics
    }
}

impl SortExec {
    fn table_dtypes(&self) -> Vec<DType> {
        let dims = self.grid.iter().map(|g| match g.1 {
            CoordValues::Numbers(_) => DType::F64,
            _ => DType::I64,
        });
        dims.chain(self.dtypes.iter().copied()).collect()
    }

    /// Gathers the input's columns, orders the cells, builds the table's columns;
    /// all of it charged to `mem` before it is allocated.
    fn run(
        &self,
        stream: BlockStream,
        mem: &mut MemoryReservation,
    ) -> Result<Vec<Col>, QueryError> {
        let n = self.cells();
        let cols = gather_columns(stream, &self.dtypes, n, mem, "sort")?;
        let t = Instant::now();
        // The key columns and the cell index (8 bytes a cell each), then the table.
        let keys = if self.keys.is_empty() {
            0
        } else {
            self.keys.len() + 1
        };
        mem.try_grow(8 * n as u64 * keys as u64, "its sort keys")?;
        let ncols = self.grid.len() + cols.len();
        mem.try_grow(8 * self.rows() as u64 * ncols as u64, "its output rows")?;
        let cells = self.order(&cols);
        let out = (0..ncols)
            .map(|c| self.table_col(c, &cols, &cells))
            .collect();
        self.metrics.cells_in.fetch_add(n as u64, Atomic::Relaxed);
        self.metrics
            .cells_out
            .fetch_add(cells.len() as u64, Atomic::Relaxed);
        OperatorMetrics::add(&self.metrics.compute_ns, t);
        Ok(out)
    }
}
