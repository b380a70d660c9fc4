//! arrayq's query language: a small SQL dialect over n-d arrays.
//!
//! `parse -> logical plan -> optimizer rules (region pushdown, layout choice,
//! stored-chunk pass-through) -> physical operators -> stream of result blocks`,
//! executed chunk-parallel with rayon on top of `arrayq-storage`. See
//! `docs/query-language.md` for the language.
//!
//! Layers, each using only the ones before it: `error`, `timeutil`, `ast`,
//! `parser` -> `eval` (typed expressions) -> `logical` (the plan tree) ->
//! `planner` (SELECT -> tree) -> `optimizer` (rules) -> `physical` (operators,
//! EXPLAIN) -> `stream`, `command` (DDL) -> `engine`.

mod ast;
mod command;
mod engine;
mod error;
mod eval;
mod format;
mod logical;
mod materialize;
pub mod memory;
mod optimizer;
mod parser;
mod physical;
mod planner;
pub mod spacing;
mod statement_kind;
mod stream;
mod timeutil;

/// The one interval reader (`'30 days'`, `'PT15M'`), for callers outside the
/// language (the Vacuum RPC's `older_than`).
pub use timeutil::{format_duration, parse_duration};

pub use command::{vacuum_table, VACUUM_COLUMNS};
pub use engine::Engine;
pub use error::{Detail, QueryError, Span};
pub use parser::ArrayqDialect;
pub use statement_kind::{ParsedStatement, StatementKind};

use arrayq_storage::{Buffer, DType, LayoutCost, MetadataMap};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The memory a statement may hold unless configured: twice the default result
/// limit, room to sort a result of that limit.
pub const DEFAULT_MAX_QUERY_MEMORY_BYTES: u64 = 2 << 30;

/// Engine-wide limits (per query; a [`QueryContext`] may tighten them).
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Largest result (all columns, bytes) a query may produce. Default 1 GiB.
    pub max_result_bytes: u64,
    /// Wall-clock limit per query. Default 300 s.
    pub timeout: Option<Duration>,
    /// Upper bound of one [`ResultBlock`]'s data. Default 4 MiB.
    pub block_bytes: usize,
    /// Bytes a statement's operators may hold at once (sort, window, aggregation
    /// state, a join's right side; see [`memory`]). Default 2 GiB.
    pub max_query_memory_bytes: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_result_bytes: 1 << 30,
            timeout: Some(Duration::from_secs(300)),
            block_bytes: 4 << 20,
            max_query_memory_bytes: DEFAULT_MAX_QUERY_MEMORY_BYTES,
        }
    }
}

/// Per-query controls: a cancellation flag (checked between chunks), a deadline and
/// a result-size limit that override the engine's when tighter.
#[derive(Clone, Default)]
pub struct QueryContext {
    pub cancel: Arc<AtomicBool>,
    pub deadline: Option<Instant>,
    pub max_result_bytes: Option<u64>,
    /// A tighter memory bound than the engine's `max_query_memory_bytes`.
    pub max_memory_bytes: Option<u64>,
}

/// What executing one statement produced.
// One value per statement, moved a few times: boxing the stream would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Execution {
    /// A query result, streamed in blocks.
    Rows(ResultStream),
    /// DDL done: the array it concerned, and the version it committed, when it made one.
    Done {
        message: String,
        array: Option<String>,
        version: Option<u64>,
    },
    /// `EXPLAIN [ANALYZE] ...`
    Explain(ExplainOutput),
    /// `SHOW ARRAYS`, `DESCRIBE name`.
    Table(TextTable),
}

/// A small table of strings (catalog listings).
#[derive(Clone, Debug, PartialEq)]
pub struct TextTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// The plan, as text, with the layout chosen and the cost of every candidate.
#[derive(Clone, Debug)]
pub struct ExplainOutput {
    pub text: String,
    pub layout: String,
    pub candidates: Vec<LayoutCost>,
    /// The array version the plan reads.
    pub version: u64,
    /// Present for `EXPLAIN ANALYZE`: the statistics of the actual run.
    pub analyze: Option<QueryStats>,
}

/// Shape and meaning of a result: dimensions (with coordinates) and typed columns.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultHeader {
    pub dims: Vec<String>,
    pub coords: Vec<CoordValues>,
    pub shape: Vec<usize>,
    pub columns: Vec<(String, DType)>,
    /// True when the result is a single value per column (no dimensions).
    pub scalar: bool,
    /// Remarks about the query (e.g. a coordinate outside the grid, empty result).
    pub notes: Vec<String>,
    pub layout: String,
    pub version: u64,
    /// Descriptions (CF attributes) of the dimensions and columns, where the
    /// array has them for what the result shows unchanged.
    pub metadata: ResultMetadata,
}

/// Per result dimension and per column, the metadata of the array dimension or
/// attribute it shows (empty maps, or shorter lists, where there is none).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResultMetadata {
    pub dims: Vec<MetadataMap>,
    pub columns: Vec<MetadataMap>,
}

impl ResultMetadata {
    /// The metadata of result dimension `d` (empty when none).
    pub fn dim(&self, d: usize) -> &MetadataMap {
        self.dims.get(d).unwrap_or(&EMPTY_METADATA)
    }

    /// The metadata of result column `c` (empty when none).
    pub fn column(&self, c: usize) -> &MetadataMap {
        self.columns.get(c).unwrap_or(&EMPTY_METADATA)
    }
}

static EMPTY_METADATA: MetadataMap = MetadataMap::new();

impl ResultHeader {
    /// Number of elements of each column.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The coordinates of one result dimension.
#[derive(Clone, Debug, PartialEq)]
pub enum CoordValues {
    Numbers(Vec<f64>),
    /// UTC nanoseconds since the Unix epoch.
    Times(Vec<i64>),
    Labels(Vec<i64>),
    /// Text labels.
    Texts(Vec<String>),
}

impl CoordValues {
    pub fn len(&self) -> usize {
        match self {
            CoordValues::Numbers(v) => v.len(),
            CoordValues::Times(v) | CoordValues::Labels(v) => v.len(),
            CoordValues::Texts(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A piece of one result column: `data` (1-D) holds the elements starting at
/// `offset` (row-major within the column).
#[derive(Clone, Debug, PartialEq)]
pub struct ResultBlock {
    pub column: usize,
    pub offset: usize,
    pub data: Buffer,
}

/// Whole chunks of one result column in their stored (encoded) form, in order:
/// decoded and concatenated they are the column's elements from `offset` on (see
/// [`ResultStream::send_stored_chunks`]).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredBlock {
    pub column: usize,
    pub offset: usize,
    /// The codec chain every chunk was encoded with.
    pub codec: arrayq_storage::CodecChain,
    pub dtype: DType,
    /// Per chunk: its stored bytes (codec output followed by its CRC32; a view of the
    /// store's segment file, not a copy) and its number of elements.
    pub chunks: Vec<(arrayq_storage::Bytes, usize)>,
}

impl StoredBlock {
    /// Number of elements the block decodes to.
    pub fn elements(&self) -> usize {
        self.chunks.iter().map(|c| c.1).sum()
    }

    /// Stored bytes of all its chunks.
    pub fn stored_bytes(&self) -> usize {
        self.chunks.iter().map(|c| c.0.len()).sum()
    }

    /// Decodes the chunks into `out` (exactly the elements' little-endian bytes).
    pub fn decode_into(&self, out: &mut [u8]) -> Result<(), QueryError> {
        let chunks: Vec<(&[u8], usize)> = self.chunks.iter().map(|(b, n)| (&b[..], *n)).collect();
        Ok(self
            .codec
            .decode_chunks_into(self.dtype.size(), &chunks, out)
            .map_err(arrayq_storage::StorageError::from)?)
    }
}

/// One block of a result stream as a server sends it.
#[derive(Clone, Debug, PartialEq)]
pub enum WireBlock {
    Values(ResultBlock),
    Stored(StoredBlock),
}

/// A whole result, collected.
#[derive(Clone, Debug)]
pub struct QueryResult {
    pub header: ResultHeader,
    /// One buffer per column, each shaped like `header.shape`.
    pub columns: Vec<Buffer>,
    pub stats: QueryStats,
}

/// What a query did: chunk I/O, time per stage.
#[derive(Clone, Debug, Default)]
pub struct QueryStats {
    pub chunks_read: u64,
    pub chunks_fill: u64,
    pub bytes_read: u64,
    pub bytes_decoded: u64,
    pub elapsed: Duration,
    pub stages: Vec<(String, Duration)>,
    pub layout: String,
}

pub use format::render_table;
pub use stream::ResultStream;
