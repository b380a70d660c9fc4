//! The logical plan: a tree of nodes carrying bound, typed expressions.
//!
//! The planner (`crate::planner`) builds `Projection | Aggregate -> Filter -> Scan`;
//! the optimizer rules (`crate::optimizer`) push the filter's hyperslab into the
//! scan, choose the layout and mark projections whose chunks can leave as stored;
//! the physical planner (`crate::physical`) turns the result into operators.

mod aggregate;
mod bucket;
mod regrid;
mod rollup;
mod rows;
mod selection;
mod statistics;
mod window;

pub use aggregate::{AggCall, AggFunc, AggInput, GroupKey};
pub use bucket::Bucket;
pub use regrid::{RegridNode, RegridSpec};
pub use rollup::RollupSource;
pub use rows::{MaskNode, SortKey, SortNode};
pub use selection::{chunk_pieces, DimSel, SKIP};
pub use statistics::ChunkStatistics;
pub use window::{WindowCol, WindowFunc, WindowNode};

use crate::eval::PExpr;
use crate::ResultHeader;
use arrayq_storage::{ArraySchema, DType, LayoutCost, Region, Snapshot};

/// A node of the logical plan.
pub enum LogicalPlan {
    /// Reads attributes of one array version over a region, through one layout.
    Scan(ScanNode),
    /// Keeps only the cells of a hyperslab (with label picks) of its input.
    Filter(FilterNode),
    /// Element-wise expressions over the selected cells.
    Projection(ProjectionNode),
    /// Aggregates over the selected cells, per group of the kept dimensions.
    Aggregate(AggregateNode),
    /// Its projection's chunks may be sent as they are stored.
    StoredChunks(StoredChunksNode),
    /// Cells failing a value condition become missing.
    Mask(MaskNode),
    /// The result as a table of rows, ordered and limited.
    Sort(SortNode),
    /// Window functions along one dimension of the result.
    Window(WindowNode),
}

impl LogicalPlan {
    /// The node's inputs.
    pub fn children(&self) -> Vec<&LogicalPlan> {
        match self {
            LogicalPlan::Scan(_) => vec![],
            LogicalPlan::Filter(f) => vec![&f.input],
            LogicalPlan::Projection(p) => vec![&p.input],
            LogicalPlan::Aggregate(a) => vec![&a.input],
            LogicalPlan::StoredChunks(s) => vec![&s.input],
            LogicalPlan::Mask(m) => vec![&m.input],
            LogicalPlan::Sort(s) => vec![&s.input],
            LogicalPlan::Window(w) => vec![&w.input],
        }
    }

    /// Rewrites the tree bottom-up: children first, then the node itself.
    pub fn transform_up<E>(
        self,
        f: &impl Fn(LogicalPlan) -> Result<LogicalPlan, E>,
    ) -> Result<LogicalPlan, E> {
        let node = match self {
            LogicalPlan::Scan(s) => LogicalPlan::Scan(s),
            LogicalPlan::Filter(mut n) => {
                n.input = Box::new(n.input.transform_up(f)?);
                LogicalPlan::Filter(n)
            }
            LogicalPlan::Projection(mut n) => {
                n.input = Box::new(n.input.transform_up(f)?);
                LogicalPlan::Projection(n)
            }
            LogicalPlan::Aggregate(mut n) => {
                n.input = Box::new(n.input.transform_up(f)?);
                LogicalPlan::Aggregate(n)
            }
            LogicalPlan::StoredChunks(mut n) => {
                n.input = Box::new(n.input.transform_up(f)?);
                LogicalPlan::StoredChunks(n)
            }
            LogicalPlan::Mask(mut n) => {
                n.input = Box::new(n.input.transform_up(f)?);
                LogicalPlan::Mask(n)
            }
            LogicalPlan::Sort(mut n) => {
                n.input = Box::new(n.input.transform_up(f)?);
                LogicalPlan::Sort(n)
            }
            LogicalPlan::Window(mut n) => {
                n.input = Box::new(n.input.transform_up(f)?);
                LogicalPlan::Window(n)
            }
        };
        f(node)
    }

    /// The scan at the bottom of the tree (for a regridded read, the scan of the
    /// target grid, whose source scan is [`RegridNode::source`]).
    pub fn scan(&self) -> Option<&ScanNode> {
        match self {
            LogicalPlan::Scan(s) => Some(s),
            other => other.children().into_iter().find_map(|c| c.scan()),
        }
    }
}

/// The layout a scan reads, why, and what every layout would have cost.
#[derive(Clone, Debug)]
pub struct LayoutChoice {
    pub layout: usize,
    pub why: LayoutWhy,
    pub candidates: Vec<LayoutCost>,
}

/// Why the plan reads the layout it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutWhy {
    /// Named by the query: `FROM a WITH (layout = 'x')`.
    Forced,
    /// Nothing is read.
    Empty,
    /// The least estimated bytes (ties: fewer chunks, then the primary).
    LeastBytes,
    /// Within a few percent of the least estimated bytes, with smaller chunks.
    SmallerChunks,
    /// An aggregate from chunk statistics: the fewest bytes left to decode.
    Statistics,
}

/// Attributes of one array version over a region.
pub struct ScanNode {
    pub snap: Snapshot,
    /// Slot -> attribute index: the attributes the expressions above read.
    pub attrs: Vec<usize>,
    /// Per dimension, what is read (the whole dimension until a filter is pushed in).
    pub dims: Vec<DimSel>,
    /// The bounding box of `dims`.
    pub region: Region,
    /// Some dimension selects nothing: no chunk is read.
    pub empty: bool,
    /// The WHERE conditions the region came from (for EXPLAIN).
    pub filters: Vec<String>,
    /// `FROM a WITH (layout = 'x')`.
    pub forced_layout: Option<usize>,
    /// Set by the layout rule.
    pub layout: Option<LayoutChoice>,
    /// `FROM reproject(...)`: the scan reads a virtual array on the target grid,
    /// interpolated from a scan of the source array.
    pub regrid: Option<Box<RegridNode>>,
    /// `JOIN`: slots of attributes past the array's own are the right array's,
    /// filled by the join (see `crate::planner::JoinSpec`).
    pub join: Option<std::sync::Arc<crate::planner::JoinSpec>>,
}

impl ScanNode {
    /// The array it reads: the stored one, or the virtual array on a target grid.
    pub fn schema(&self) -> &ArraySchema {
        match &self.regrid {
            Some(r) => &r.schema,
            None => self.snap.schema(),
        }
    }

    /// Reads `dims`: the region is their bounding box; a dimension selecting
    /// nothing makes the scan empty.
    pub fn set_dims(&mut self, dims: Vec<DimSel>) {
        self.region = Region(dims.iter().map(|d| d.range.clone()).collect());
        self.empty = dims.iter().any(|d| d.count() == 0);
        self.dims = dims;
    }

    /// A scan of the whole array (or of the whole target grid of `regrid`).
    pub fn whole(
        snap: Snapshot,
        attrs: Vec<usize>,
        forced_layout: Option<usize>,
        regrid: Option<Box<RegridNode>>,
    ) -> ScanNode {
        let schema = match &regrid {
            Some(r) => &r.schema,
            None => snap.schema(),
        };
        let dims: Vec<DimSel> = schema.dims.iter().map(|d| DimSel::all(d.len)).collect();
        let region = Region(dims.iter().map(|d| d.range.clone()).collect());
        ScanNode {
            empty: dims.iter().any(|d| d.count() == 0),
            snap,
            attrs,
            dims,
            region,
            filters: Vec::new(),
            forced_layout,
            layout: None,
            regrid,
            join: None,
        }
    }
}

/// A hyperslab with label picks, resolved from the WHERE clause.
pub struct FilterNode {
    pub input: Box<LogicalPlan>,
    pub dims: Vec<DimSel>,
    /// The conditions, as written (sorted, unique).
    pub texts: Vec<String>,
}

/// One result column: its name, the expression text and its type.
#[derive(Clone, Debug)]
pub struct OutputColumn {
    pub name: String,
    pub text: String,
    pub dtype: DType,
}

impl OutputColumn {
    /// `expr [dtype]` or `expr AS name [dtype]`.
    pub fn describe(&self) -> String {
        if self.text == self.name {
            format!("{} [{}]", self.text, self.dtype)
        } else {
            format!("{} AS {} [{}]", self.text, self.name, self.dtype)
        }
    }
}

/// One output column per expression, over the selected cells.
pub struct ProjectionNode {
    pub input: Box<LogicalPlan>,
    /// One expression per output column (slots are the scan's attributes).
    pub exprs: Vec<PExpr>,
    pub columns: Vec<OutputColumn>,
}

/// Aggregate calls per group; `outputs` combine them into the result columns.
pub struct AggregateNode {
    pub input: Box<LogicalPlan>,
    pub inputs: Vec<AggInput>,
    pub calls: Vec<AggCall>,
    /// Output expressions; their slots are the calls.
    pub outputs: Vec<PExpr>,
    pub groups: Vec<GroupKey>,
    pub columns: Vec<OutputColumn>,
    /// Bytes of the merged aggregation state (all groups).
    pub state_bytes: u64,
    /// What the state holds, for the memory bound's error.
    pub state_what: String,
    /// `HAVING`: a bool expression over the calls; groups where it is not true
    /// become missing (NaN) in every output column. With its text, for EXPLAIN.
    pub having: Option<(PExpr, String)>,
    /// Whole chunks answered from their statistics (the `chunk_statistics` rule).
    pub statistics: Option<std::sync::Arc<ChunkStatistics>>,
    /// Whole days answered from a rollup (the `rollup_source` rule).
    pub rollup: Option<std::sync::Arc<RollupSource>>,
    /// Why the array's rollups do not answer it (for EXPLAIN), when it has some.
    pub rollup_skipped: Option<String>,
}

/// A projection of bare attributes whose chunks are contiguous runs of its output
/// columns: `pieces` (one chunk each, in output order) may go out as stored.
pub struct StoredChunksNode {
    pub input: Box<LogicalPlan>,
    pub pieces: Vec<Region>,
}

/// A planned query: the tree and the result it produces.
pub struct QueryPlan {
    pub root: LogicalPlan,
    /// The result's header (its layout is named once the layout rule ran).
    pub header: ResultHeader,
}
