//! Protobuf / gRPC API of arrayq (`arrayq.v1`, service `ArrayQ`).
//!
//! The wire contract lives in `proto/arrayq/v1/arrayq.proto`; this crate
//! compiles it (with `protox`, no system `protoc`) into [`v1`], exports the
//! encoded descriptor set for gRPC reflection ([`FILE_DESCRIPTOR_SET`]) and
//! adds small helpers that both sides need:
//!
//! * [`v1::DType`] element sizes and names;
//! * constructors for the oneof wrapper messages ([`v1::QueryResponse`],
//!   [`v1::WriteRequest`], [`v1::ResultDimension`]);
//! * splitting column bytes into size-limited blocks ([`data_blocks`],
//!   [`data_blocks_shared`], [`write_blocks`], [`write_requests`]);
//! * validating reassembly of a query stream ([`ResultCollector`]) and of a
//!   write stream ([`WriteCollector`]);
//! * the error-position convention ([`invalid_argument_at`],
//!   [`error_position`]) and ISO-8601 timestamp text ([`format_unix_ns`]).
//!
//! Generated items: `v1::array_q_server::{ArrayQ, ArrayQServer}` (server
//! trait and service) and `v1::array_q_client::ArrayQClient`.

use std::fmt;

use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

/// Generated protobuf messages and tonic client/server for `arrayq.v1`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    tonic::include_proto!("arrayq.v1");
}

pub use prost::bytes::Bytes;
use prost::Message;
/// The protobuf codec of the generated services, for code that frames or decodes
/// messages itself.
pub use tonic_prost::ProstCodec;
use v1::result_dimension::Coordinates;
use v1::{
    query_response, write_request, CoordinateBlock, DType, DataBlock, DoubleList, IndexRange,
    Int64List, QueryResponse, QueryStats, RegularCoordinate, ResultDimension, ResultFooter,
    ResultHeader, TimeCoordinate, WriteBlock, WriteHeader, WriteRequest,
};

/// Encoded `google.protobuf.FileDescriptorSet` of `arrayq/v1/arrayq.proto`
/// (with source info), for `tonic-reflection` and dynamic clients.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/arrayq_v1_descriptor.bin"));

/// Fully qualified gRPC service name.
pub const SERVICE_NAME: &str = "arrayq.v1.ArrayQ";

/// Metadata key (sent in the trailers of an INVALID_ARGUMENT status) holding
/// the 1-based SQL position `"line:col"` of the error.
pub const ERROR_POSITION_METADATA_KEY: &str = "arrayq-error-position";

/// Maximum payload (`data` bytes) of one `DataBlock` or `WriteBlock`:
/// 4 MiB - 64 KiB, so the whole encoded message stays below the default
/// 4 MiB gRPC message limit of every implementation. A multiple of 8, so a
/// full block always holds whole elements.
pub const MAX_BLOCK_BYTES: usize = 4 * 1024 * 1024 - 64 * 1024;

/// Maximum number of coordinates in one `CoordinateBlock` (an int64 varint
/// takes at most 10 bytes, so a block stays below 4 MiB).
pub const MAX_COORDINATES_PER_BLOCK: usize = 400_000;

// ---------------------------------------------------------------------------
// DType
// ---------------------------------------------------------------------------

impl DType {
    /// All valid (specified) types, in enum order.
    pub const ALL: [DType; 11] = [
        DType::F32,
        DType::F64,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::Bool,
    ];

    /// Size of one element in bytes (BOOL: 1). `0` for `Unspecified`.
    pub const fn size_bytes(self) -> usize {
        match self {
            DType::Unspecified => 0,
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
        }
    }

    /// Short lower-case name: `"f32"`, `"i64"`, `"bool"`, ... (`"unspecified"`).
    pub const fn short_name(self) -> &'static str {
        match self {
            DType::Unspecified => "unspecified",
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I8 => "i8",
            DType::I16 => "i16",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::U8 => "u8",
            DType::U16 => "u16",
            DType::U32 => "u32",
            DType::U64 => "u64",
            DType::Bool => "bool",
        }
    }

    /// numpy dtype string of the little-endian wire format (`"<f4"`, `"|b1"`, ...).
    pub const fn numpy_str(self) -> &'static str {
        match self {
            DType::Unspecified => "",
            DType::F32 => "<f4",
            DType::F64 => "<f8",
            DType::I8 => "|i1",
            DType::I16 => "<i2",
            DType::I32 => "<i4",
            DType::I64 => "<i8",
            DType::U8 => "|u1",
            DType::U16 => "<u2",
            DType::U32 => "<u4",
            DType::U64 => "<u8",
            DType::Bool => "|b1",
        }
    }

    /// Parses a type name, case-insensitively: proto names (`D_TYPE_F32`) and
    /// every name of the one mapping, `arrayq_format::DType::from_name` (short
    /// names, SQL names with SQL's meaning: `int8` is I64, `int1`/`tinyint` I8).
    pub fn from_name(name: &str) -> Option<DType> {
        let lower = name.trim().to_ascii_lowercase();
        let n = lower.strip_prefix("d_type_").unwrap_or(&lower);
        let d = arrayq_format::DType::from_name(n)?;
        DType::ALL.into_iter().find(|p| p.short_name() == d.name())
    }

    /// `F32` or `F64`.
    pub const fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// `I8` .. `I64`.
    pub const fn is_signed_int(self) -> bool {
        matches!(self, DType::I8 | DType::I16 | DType::I32 | DType::I64)
    }

    /// `U8` .. `U64`.
    pub const fn is_unsigned_int(self) -> bool {
        matches!(self, DType::U8 | DType::U16 | DType::U32 | DType::U64)
    }

    /// Converts the raw `i32` of a message field (`column.dtype`,
    /// `attribute.dtype`), rejecting unknown values and `Unspecified`.
    pub fn from_wire(value: i32) -> Result<DType, ProtocolError> {
        match DType::try_from(value) {
            Ok(DType::Unspecified) => Err(ProtocolError::new("dtype is unspecified")),
            Ok(d) => Ok(d),
            Err(_) => Err(ProtocolError::new(format!("unknown dtype value {value}"))),
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_name())
    }
}

// ---------------------------------------------------------------------------
// Constructors for oneof wrappers
// ---------------------------------------------------------------------------

impl QueryResponse {
    /// Wraps a `ResultHeader`.
    pub fn header(header: ResultHeader) -> Self {
        QueryResponse {
            msg: Some(query_response::Msg::Header(header)),
        }
    }

    /// Wraps a `DataBlock`.
    pub fn data(column: u32, element_offset: u64, data: impl Into<Bytes>) -> Self {
        QueryResponse {
            msg: Some(query_response::Msg::Data(DataBlock {
                column,
                element_offset,
                data: data.into(),
                stored: None,
            })),
        }
    }

    /// Wraps a `CoordinateBlock`.
    pub fn coordinates(block: CoordinateBlock) -> Self {
        QueryResponse {
            msg: Some(query_response::Msg::Coordinates(block)),
        }
    }

    /// Wraps a `ResultFooter` with the given statistics.
    pub fn footer(stats: QueryStats) -> Self {
        QueryResponse {
            msg: Some(query_response::Msg::Footer(ResultFooter {
                stats: Some(stats),
            })),
        }
    }
}

impl From<DataBlock> for QueryResponse {
    fn from(block: DataBlock) -> Self {
        QueryResponse {
            msg: Some(query_response::Msg::Data(block)),
        }
    }
}

impl From<CoordinateBlock> for QueryResponse {
    fn from(block: CoordinateBlock) -> Self {
        QueryResponse::coordinates(block)
    }
}

impl WriteRequest {
    /// Wraps a `WriteHeader` (the first message of a Write stream).
    pub fn header(header: WriteHeader) -> Self {
        WriteRequest {
            msg: Some(write_request::Msg::Header(header)),
        }
    }

    /// Wraps a `WriteBlock`.
    pub fn data(attribute: u32, byte_offset: u64, data: Vec<u8>) -> Self {
        WriteRequest {
            msg: Some(write_request::Msg::Data(WriteBlock {
                attribute,
                byte_offset,
                data,
            })),
        }
    }

    /// Server side: takes the header out of the first message of a Write
    /// stream, or fails if it is not a header.
    pub fn into_header(self) -> Result<WriteHeader, ProtocolError> {
        match self.msg {
            Some(write_request::Msg::Header(h)) => Ok(h),
            Some(write_request::Msg::Data(_)) => Err(ProtocolError::new(
                "first Write message must be a WriteHeader, got a WriteBlock",
            )),
            None => Err(ProtocolError::new("empty WriteRequest")),
        }
    }
}

impl From<WriteBlock> for WriteRequest {
    fn from(block: WriteBlock) -> Self {
        WriteRequest {
            msg: Some(write_request::Msg::Data(block)),
        }
    }
}

impl ResultDimension {
    /// A dimension with explicit numeric coordinates.
    pub fn with_values(name: impl Into<String>, values: Vec<f64>) -> Self {
        Self::with(name, Coordinates::Values(DoubleList { values }))
    }

    /// A dimension with explicit timestamp coordinates (Unix ns).
    pub fn with_times(name: impl Into<String>, times_unix_ns: Vec<i64>) -> Self {
        Self::with(
            name,
            Coordinates::TimesUnixNs(Int64List {
                values: times_unix_ns,
            }),
        )
    }

    /// A dimension with integer label coordinates.
    pub fn with_labels(name: impl Into<String>, labels: Vec<i64>) -> Self {
        Self::with(name, Coordinates::Labels(Int64List { values: labels }))
    }

    /// A dimension with evenly spaced numeric coordinates `start + i * step`.
    pub fn with_regular(name: impl Into<String>, start: f64, step: f64) -> Self {
        Self::with(
            name,
            Coordinates::Regular(RegularCoordinate { start, step }),
        )
    }

    /// A dimension with evenly spaced timestamps `start_unix_ns + i * step_ns`.
    pub fn with_time(name: impl Into<String>, start_unix_ns: i64, step_ns: i64) -> Self {
        Self::with(
            name,
            Coordinates::Time(TimeCoordinate {
                start_unix_ns,
                step_ns,
            }),
        )
    }

    fn with(name: impl Into<String>, coordinates: Coordinates) -> Self {
        ResultDimension {
            name: name.into(),
            coordinates: Some(coordinates),
        }
    }

    /// Length of the explicit coordinate list (`values`, `times_unix_ns`,
    /// `labels`); `None` for the compact `regular` / `time` forms or when
    /// unset.
    pub fn explicit_len(&self) -> Option<usize> {
        match &self.coordinates {
            Some(Coordinates::Values(l)) => Some(l.values.len()),
            Some(Coordinates::TimesUnixNs(l)) | Some(Coordinates::Labels(l)) => {
                Some(l.values.len())
            }
            Some(Coordinates::Regular(_)) | Some(Coordinates::Time(_)) | None => None,
        }
    }
}

impl IndexRange {
    /// `[start, start + count)`.
    pub fn new(start: u64, count: u64) -> Self {
        IndexRange { start, count }
    }

    /// Exclusive end index, `None` on overflow.
    pub fn end(&self) -> Option<u64> {
        self.start.checked_add(self.count)
    }
}

/// Number of cells of a region (product of the counts; 1 for an empty
/// region), `None` on overflow.
pub fn region_cells(region: &[IndexRange]) -> Option<u64> {
    region
        .iter()
        .try_fold(1u64, |acc, r| acc.checked_mul(r.count))
}

impl ResultHeader {
    /// Number of elements in every column: 1 for a scalar result, otherwise
    /// the product of `shape`. `None` on overflow.
    pub fn element_count(&self) -> Option<u64> {
        if self.scalar {
            Some(1)
        } else {
            self.shape
                .iter()
                .try_fold(1u64, |acc, &n| acc.checked_mul(n))
        }
    }
}

// ---------------------------------------------------------------------------
// Block splitting
// ---------------------------------------------------------------------------

/// Server side: splits one column's raw bytes (`elem_size` bytes per element,
/// `data.len()` a multiple of it) into `DataBlock`s of at most
/// [`MAX_BLOCK_BYTES`] holding whole elements, with element offsets starting
/// at 0. Yields nothing for empty data.
///
/// # Panics
/// If `elem_size` is 0 or larger than [`MAX_BLOCK_BYTES`].
pub fn data_blocks(column: u32, elem_size: usize, data: &[u8]) -> impl Iterator<Item = DataBlock> {
    data_blocks_shared(column, elem_size, Bytes::copy_from_slice(data))
}

/// [`data_blocks`] over shared bytes: each block is a slice of `data` (no copy).
///
/// # Panics
/// If `elem_size` is 0 or larger than [`MAX_BLOCK_BYTES`].
pub fn data_blocks_shared(
    column: u32,
    elem_size: usize,
    data: Bytes,
) -> impl Iterator<Item = DataBlock> {
    assert!(
        elem_size > 0 && elem_size <= MAX_BLOCK_BYTES,
        "invalid element size {elem_size}"
    );
    debug_assert_eq!(data.len() % elem_size, 0, "partial element in column data");
    let step = (MAX_BLOCK_BYTES / elem_size) * elem_size;
    let len = data.len();
    (0..len).step_by(step).map(move |start| DataBlock {
        column,
        element_offset: (start / elem_size) as u64,
        data: data.slice(start..(start + step).min(len)),
        stored: None,
    })
}

/// Server side: the message(s) announcing a result. If the header fits in
/// one message (encoded size at most [`MAX_BLOCK_BYTES`]) it is returned
/// alone; otherwise every explicit coordinate list is moved out of it into
/// `CoordinateBlock`s of at most [`MAX_COORDINATES_PER_BLOCK`] entries, sent
/// right after the header (as the protocol requires).
pub fn header_messages(mut header: ResultHeader) -> Vec<QueryResponse> {
    if header.encoded_len() <= MAX_BLOCK_BYTES {
        return vec![QueryResponse::header(header)];
    }
    let mut blocks = Vec::new();
    for (d, dim) in header.dimensions.iter_mut().enumerate() {
        let (floats, ints) = match &mut dim.coordinates {
            Some(Coordinates::Values(l)) => (std::mem::take(&mut l.values), Vec::new()),
            Some(Coordinates::TimesUnixNs(l)) | Some(Coordinates::Labels(l)) => {
                (Vec::new(), std::mem::take(&mut l.values))
            }
            _ => continue,
        };
        for (i, chunk) in floats.chunks(MAX_COORDINATES_PER_BLOCK).enumerate() {
            blocks.push(QueryResponse::coordinates(CoordinateBlock {
                dimension: d as u32,
                offset: (i * MAX_COORDINATES_PER_BLOCK) as u64,
                values: chunk.to_vec(),
                ints: Vec::new(),
            }));
        }
        for (i, chunk) in ints.chunks(MAX_COORDINATES_PER_BLOCK).enumerate() {
            blocks.push(QueryResponse::coordinates(CoordinateBlock {
                dimension: d as u32,
                offset: (i * MAX_COORDINATES_PER_BLOCK) as u64,
                values: Vec::new(),
                ints: chunk.to_vec(),
            }));
        }
    }
    let mut out = Vec::with_capacity(blocks.len() + 1);
    out.push(QueryResponse::header(header));
    out.extend(blocks);
    out
}

/// Client side: splits one attribute's raw bytes into `WriteBlock`s of at
/// most [`MAX_BLOCK_BYTES`], with byte offsets starting at 0.
pub fn write_blocks(attribute: u32, data: &[u8]) -> impl Iterator<Item = WriteBlock> + '_ {
    data.chunks(MAX_BLOCK_BYTES)
        .enumerate()
        .map(move |(i, chunk)| WriteBlock {
            attribute,
            byte_offset: (i * MAX_BLOCK_BYTES) as u64,
            data: chunk.to_vec(),
        })
}

/// Client side: the complete message sequence of a Write call: the header,
/// then the blocks of attribute 0, attribute 1, ... (`attributes[k]` holds
/// the raw bytes of `header.attributes[k]`). The iterator owns its data, so
/// it can be fed to `tokio_stream::iter` for `ArrayQClient::write`.
pub fn write_requests(
    header: WriteHeader,
    attributes: Vec<Vec<u8>>,
) -> impl Iterator<Item = WriteRequest> + Send + 'static {
    std::iter::once(WriteRequest::header(header)).chain(
        attributes.into_iter().enumerate().flat_map(|(k, buf)| {
            let len = buf.len();
            (0..len).step_by(MAX_BLOCK_BYTES).map(move |off| {
                let end = (off + MAX_BLOCK_BYTES).min(len);
                WriteRequest::data(k as u32, off as u64, buf[off..end].to_vec())
            })
        }),
    )
}

// ---------------------------------------------------------------------------
// Stream reassembly
// ---------------------------------------------------------------------------

/// A violation of the streaming protocol (ordering, offsets, sizes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    /// Creates an error with the given message.
    pub fn new(msg: impl Into<String>) -> Self {
        ProtocolError(msg.into())
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProtocolError {}

impl From<ProtocolError> for Status {
    /// Protocol errors caused by the client are INVALID_ARGUMENT.
    fn from(e: ProtocolError) -> Self {
        Status::invalid_argument(e.0)
    }
}

/// A fully received query result.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// The result header, with any `CoordinateBlock`s merged into it (so
    /// explicit coordinate lists are complete).
    pub header: ResultHeader,
    /// Raw little-endian bytes of each column (`header.columns` order),
    /// row-major, `element_count * dtype size` bytes each.
    pub columns: Vec<Vec<u8>>,
    /// Statistics from the footer.
    pub stats: QueryStats,
}

/// Client side (and server tests): reassembles a Query response stream,
/// checking every ordering and size rule of the protocol (header first,
/// coordinate blocks before data, columns in order and contiguous, footer
/// last).
///
/// ```
/// # use arrayq_proto::{ResultCollector, v1::*};
/// let mut c = ResultCollector::new();
/// c.push(QueryResponse::header(ResultHeader {
///     columns: vec![ResultColumn { name: "x".into(), dtype: DType::I32 as i32 }],
///     scalar: true,
///     ..Default::default()
/// })).unwrap();
/// c.push(QueryResponse::data(0, 0, 7i32.to_le_bytes().to_vec())).unwrap();
/// c.push(QueryResponse::footer(QueryStats::default())).unwrap();
/// assert_eq!(c.finish().unwrap().columns[0], 7i32.to_le_bytes());
/// ```
#[derive(Debug, Default)]
pub struct ResultCollector {
    header: Option<ResultHeader>,
    elem_sizes: Vec<usize>,
    expected_bytes: Vec<usize>,
    columns: Vec<Vec<u8>>,
    current_column: usize,
    /// Per dimension: full length of its explicit coordinate list, `None`
    /// for compact coordinates.
    coord_lens: Vec<Option<usize>>,
    current_dimension: usize,
    data_started: bool,
    stats: Option<QueryStats>,
}

impl ResultCollector {
    /// An empty collector waiting for the header.
    pub fn new() -> Self {
        Self::default()
    }

    /// The header, once received.
    pub fn header(&self) -> Option<&ResultHeader> {
        self.header.as_ref()
    }

    /// True once the footer was received.
    pub fn is_complete(&self) -> bool {
        self.stats.is_some()
    }

    /// Feeds the next stream message.
    pub fn push(&mut self, msg: QueryResponse) -> Result<(), ProtocolError> {
        if self.stats.is_some() {
            return Err(ProtocolError::new("message after ResultFooter"));
        }
        match msg.msg {
            None => Err(ProtocolError::new("empty QueryResponse")),
            Some(query_response::Msg::Header(h)) => self.on_header(h),
            Some(query_response::Msg::Coordinates(b)) => self.on_coordinates(b),
            Some(query_response::Msg::Data(b)) => self.on_block(b),
            Some(query_response::Msg::Footer(f)) => {
                if self.header.is_none() {
                    return Err(ProtocolError::new("ResultFooter before ResultHeader"));
                }
                self.check_coordinates_complete()?;
                for (i, col) in self.columns.iter().enumerate() {
                    if col.len() != self.expected_bytes[i] {
                        return Err(ProtocolError::new(format!(
                            "ResultFooter before column {i} was complete ({} of {} bytes)",
                            col.len(),
                            self.expected_bytes[i]
                        )));
                    }
                }
                self.stats = Some(f.stats.unwrap_or_default());
                Ok(())
            }
        }
    }

    fn on_header(&mut self, h: ResultHeader) -> Result<(), ProtocolError> {
        if self.header.is_some() {
            return Err(ProtocolError::new("duplicate ResultHeader"));
        }
        if h.scalar && (!h.shape.is_empty() || !h.dimensions.is_empty()) {
            return Err(ProtocolError::new("scalar result with dimensions"));
        }
        if h.dimensions.len() != h.shape.len() {
            return Err(ProtocolError::new(format!(
                "{} dimensions but {} shape entries",
                h.dimensions.len(),
                h.shape.len()
            )));
        }
        for (d, (dim, &n)) in h.dimensions.iter().zip(&h.shape).enumerate() {
            let n = usize::try_from(n).map_err(|_| ProtocolError::new("result shape overflows"))?;
            match dim.explicit_len() {
                Some(len) if len > n => {
                    return Err(ProtocolError::new(format!(
                        "dimension {d} has {len} coordinates for length {n}"
                    )))
                }
                Some(_) => self.coord_lens.push(Some(n)),
                None if dim.coordinates.is_none() => {
                    return Err(ProtocolError::new(format!(
                        "dimension {d} ('{}') has no coordinates",
                        dim.name
                    )))
                }
                None => self.coord_lens.push(None),
            }
        }
        let elems = h
            .element_count()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| ProtocolError::new("result shape overflows"))?;
        for col in &h.columns {
            let size = DType::from_wire(col.dtype)
                .map_err(|e| ProtocolError::new(format!("column '{}': {e}", col.name)))?
                .size_bytes();
            let bytes = elems
                .checked_mul(size)
                .ok_or_else(|| ProtocolError::new("result size overflows"))?;
            self.elem_sizes.push(size);
            self.expected_bytes.push(bytes);
            self.columns.push(Vec::new());
        }
        self.header = Some(h);
        Ok(())
    }

    fn check_coordinates_complete(&self) -> Result<(), ProtocolError> {
        let Some(h) = &self.header else {
            return Ok(());
        };
        for (d, want) in self.coord_lens.iter().enumerate() {
            if let Some(want) = *want {
                let have = h.dimensions[d].explicit_len().unwrap_or(0);
                if have != want {
                    return Err(ProtocolError::new(format!(
                        "dimension {d}: {have} of {want} coordinates received"
                    )));
                }
            }
        }
        Ok(())
    }

    fn on_coordinates(&mut self, b: CoordinateBlock) -> Result<(), ProtocolError> {
        let Some(h) = self.header.as_mut() else {
            return Err(ProtocolError::new("CoordinateBlock before ResultHeader"));
        };
        if self.data_started {
            return Err(ProtocolError::new("CoordinateBlock after a DataBlock"));
        }
        let d = b.dimension as usize;
        let Some(&want) = self.coord_lens.get(d) else {
            return Err(ProtocolError::new(format!(
                "CoordinateBlock for dimension {d}, result has {}",
                self.coord_lens.len()
            )));
        };
        let Some(want) = want else {
            return Err(ProtocolError::new(format!(
                "CoordinateBlock for dimension {d}, which has compact coordinates"
            )));
        };
        if d < self.current_dimension {
            return Err(ProtocolError::new(format!(
                "CoordinateBlock for dimension {d} after dimension {}",
                self.current_dimension
            )));
        }
        for earlier in self.current_dimension..d {
            if let Some(n) = self.coord_lens[earlier] {
                if h.dimensions[earlier].explicit_len() != Some(n) {
                    return Err(ProtocolError::new(format!(
                        "CoordinateBlock for dimension {d} before dimension {earlier} was complete"
                    )));
                }
            }
        }
        self.current_dimension = d;
        let count = b.values.len() + b.ints.len();
        if count == 0 || count > MAX_COORDINATES_PER_BLOCK {
            return Err(ProtocolError::new(format!(
                "CoordinateBlock with {count} coordinates"
            )));
        }
        let have = h.dimensions[d].explicit_len().unwrap_or(0);
        if b.offset != have as u64 {
            return Err(ProtocolError::new(format!(
                "dimension {d}: CoordinateBlock at offset {} but {have} coordinates received",
                b.offset
            )));
        }
        if have + count > want {
            return Err(ProtocolError::new(format!(
                "dimension {d}: more than {want} coordinates"
            )));
        }
        match &mut h.dimensions[d].coordinates {
            Some(Coordinates::Values(l)) if b.ints.is_empty() => {
                l.values.extend_from_slice(&b.values)
            }
            Some(Coordinates::TimesUnixNs(l)) | Some(Coordinates::Labels(l))
                if b.values.is_empty() =>
            {
                l.values.extend_from_slice(&b.ints)
            }
            _ => {
                return Err(ProtocolError::new(format!(
                    "dimension {d}: CoordinateBlock carries the wrong value type"
                )))
            }
        }
        Ok(())
    }

    fn on_block(&mut self, b: DataBlock) -> Result<(), ProtocolError> {
        if self.header.is_none() {
            return Err(ProtocolError::new("DataBlock before ResultHeader"));
        }
        if !self.data_started {
            self.check_coordinates_complete()?;
            self.data_started = true;
        }
        let col = b.column as usize;
        if col >= self.columns.len() {
            return Err(ProtocolError::new(format!(
                "DataBlock for column {col}, result has {} columns",
                self.columns.len()
            )));
        }
        if col < self.current_column {
            return Err(ProtocolError::new(format!(
                "DataBlock for column {col} after column {}",
                self.current_column
            )));
        }
        for earlier in self.current_column..col {
            if self.columns[earlier].len() != self.expected_bytes[earlier] {
                return Err(ProtocolError::new(format!(
                    "DataBlock for column {col} before column {earlier} was complete"
                )));
            }
        }
        if b.stored.is_some() {
            return Err(ProtocolError::new(
                "DataBlock of stored chunks, which were not requested (accept_stored_chunks)",
            ));
        }
        self.current_column = col;
        let size = self.elem_sizes[col];
        let have = self.columns[col].len();
        if b.data.is_empty() || !b.data.len().is_multiple_of(size) {
            return Err(ProtocolError::new(format!(
                "DataBlock of {} bytes is not a positive number of {size}-byte elements",
                b.data.len()
            )));
        }
        if b.data.len() > MAX_BLOCK_BYTES {
            return Err(ProtocolError::new(format!(
                "DataBlock of {} bytes exceeds {MAX_BLOCK_BYTES}",
                b.data.len()
            )));
        }
        if b.element_offset.checked_mul(size as u64) != Some(have as u64) {
            return Err(ProtocolError::new(format!(
                "column {col}: DataBlock at element {} but {} elements received",
                b.element_offset,
                have / size
            )));
        }
        if have + b.data.len() > self.expected_bytes[col] {
            return Err(ProtocolError::new(format!(
                "column {col}: more data than the header's shape allows"
            )));
        }
        let buf = &mut self.columns[col];
        if buf.capacity() == 0 {
            buf.reserve_exact(self.expected_bytes[col].min(1 << 30));
        }
        buf.extend_from_slice(&b.data);
        Ok(())
    }

    /// Returns the result; fails if the footer has not been received.
    pub fn finish(self) -> Result<QueryResult, ProtocolError> {
        match (self.header, self.stats) {
            (Some(header), Some(stats)) => Ok(QueryResult {
                header,
                columns: self.columns,
                stats,
            }),
            (None, _) => Err(ProtocolError::new("stream ended without ResultHeader")),
            (Some(_), None) => Err(ProtocolError::new("stream ended without ResultFooter")),
        }
    }
}

/// Server side: reassembles the data of a Write stream after its header,
/// checking offsets and sizes.
///
/// The server reads the first message with [`WriteRequest::into_header`],
/// resolves the attribute names against the schema, then creates the
/// collector with the element size of each listed attribute.
#[derive(Debug)]
pub struct WriteCollector {
    header: WriteHeader,
    cells: u64,
    expected_bytes: Vec<usize>,
    buffers: Vec<Vec<u8>>,
}

impl WriteCollector {
    /// Validates the header's shape (at least one attribute, no duplicates,
    /// positive counts) and prepares one buffer per attribute.
    /// `elem_sizes[k]` is the element size of `header.attributes[k]`.
    pub fn new(header: WriteHeader, elem_sizes: &[usize]) -> Result<Self, ProtocolError> {
        if header.attributes.is_empty() {
            return Err(ProtocolError::new("WriteHeader lists no attributes"));
        }
        if elem_sizes.len() != header.attributes.len() {
            return Err(ProtocolError::new(format!(
                "{} element sizes for {} attributes",
                elem_sizes.len(),
                header.attributes.len()
            )));
        }
        for (i, a) in header.attributes.iter().enumerate() {
            if header.attributes[..i].contains(a) {
                return Err(ProtocolError::new(format!("attribute '{a}' listed twice")));
            }
        }
        if let Some(i) = header.region.iter().position(|r| r.count == 0) {
            return Err(ProtocolError::new(format!(
                "region count of dimension {i} is 0"
            )));
        }
        if header.region.iter().any(|r| r.end().is_none()) {
            return Err(ProtocolError::new("region end overflows"));
        }
        let cells =
            region_cells(&header.region).ok_or_else(|| ProtocolError::new("region too large"))?;
        let mut expected_bytes = Vec::with_capacity(elem_sizes.len());
        for &size in elem_sizes {
            let bytes = cells
                .checked_mul(size as u64)
                .and_then(|b| usize::try_from(b).ok())
                .ok_or_else(|| ProtocolError::new("region too large"))?;
            expected_bytes.push(bytes);
        }
        Ok(WriteCollector {
            buffers: vec![Vec::new(); elem_sizes.len()],
            header,
            cells,
            expected_bytes,
        })
    }

    /// The header.
    pub fn header(&self) -> &WriteHeader {
        &self.header
    }

    /// Number of cells in the region.
    pub fn cells(&self) -> u64 {
        self.cells
    }

    /// Total bytes the stream must carry (all attributes).
    pub fn expected_total_bytes(&self) -> u64 {
        self.expected_bytes.iter().map(|&b| b as u64).sum()
    }

    /// Feeds the next stream message (must be a `WriteBlock`).
    pub fn push(&mut self, req: WriteRequest) -> Result<(), ProtocolError> {
        match req.msg {
            Some(write_request::Msg::Data(b)) => self.push_block(b),
            Some(write_request::Msg::Header(_)) => {
                Err(ProtocolError::new("WriteHeader after the first message"))
            }
            None => Err(ProtocolError::new("empty WriteRequest")),
        }
    }

    /// Feeds one block.
    pub fn push_block(&mut self, b: WriteBlock) -> Result<(), ProtocolError> {
        let k = b.attribute as usize;
        let Some(buf) = self.buffers.get_mut(k) else {
            return Err(ProtocolError::new(format!(
                "WriteBlock for attribute index {k}, header lists {}",
                self.expected_bytes.len()
            )));
        };
        if b.byte_offset != buf.len() as u64 {
            return Err(ProtocolError::new(format!(
                "attribute '{}': WriteBlock at byte {} but {} bytes received",
                self.header.attributes[k],
                b.byte_offset,
                buf.len()
            )));
        }
        if buf.len() + b.data.len() > self.expected_bytes[k] {
            return Err(ProtocolError::new(format!(
                "attribute '{}': more than the region's {} bytes",
                self.header.attributes[k], self.expected_bytes[k]
            )));
        }
        if buf.capacity() == 0 {
            buf.reserve_exact(self.expected_bytes[k].min(1 << 30));
        }
        buf.extend_from_slice(&b.data);
        Ok(())
    }

    /// Ends the stream: every attribute must be complete. Returns the header
    /// and the raw bytes of each attribute (header order).
    pub fn finish(self) -> Result<(WriteHeader, Vec<Vec<u8>>), ProtocolError> {
        for (k, buf) in self.buffers.iter().enumerate() {
            if buf.len() != self.expected_bytes[k] {
                return Err(ProtocolError::new(format!(
                    "attribute '{}': got {} bytes, region needs {}",
                    self.header.attributes[k],
                    buf.len(),
                    self.expected_bytes[k]
                )));
            }
        }
        Ok((self.header, self.buffers))
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Server side: an INVALID_ARGUMENT status for an error at 1-based SQL
/// position `line:col`. The message becomes `"line:col: message"` and the
/// trailers carry `arrayq-error-position: line:col`.
pub fn invalid_argument_at(line: u32, col: u32, message: impl fmt::Display) -> Status {
    status_at(Code::InvalidArgument, line, col, message)
}

/// Server side: a status of `code` for an error at `line:col` of the query text, in
/// the form [`invalid_argument_at`] describes.
pub fn status_at(code: Code, line: u32, col: u32, message: impl fmt::Display) -> Status {
    let pos = format!("{line}:{col}");
    let mut md = MetadataMap::new();
    if let Ok(v) = MetadataValue::try_from(pos.as_str()) {
        md.insert(ERROR_POSITION_METADATA_KEY, v);
    }
    Status::with_metadata(code, format!("{pos}: {message}"), md)
}

/// Client side: the `(line, col)` of an error status, from the
/// `arrayq-error-position` metadata or else from a `"line:col: "` message
/// prefix.
pub fn error_position(status: &Status) -> Option<(u32, u32)> {
    if let Some(p) = status
        .metadata()
        .get(ERROR_POSITION_METADATA_KEY)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_position)
    {
        return Some(p);
    }
    let (prefix, _) = status.message().split_once(": ")?;
    parse_position(prefix)
}

fn parse_position(s: &str) -> Option<(u32, u32)> {
    let (l, c) = s.trim().split_once(':')?;
    Some((l.parse().ok()?, c.parse().ok()?))
}

// ---------------------------------------------------------------------------
// Time text
// ---------------------------------------------------------------------------

/// Formats Unix nanoseconds as ISO-8601 UTC, the format used in
/// `DimExtent.start_text` / `end_text`: `"2024-05-01T12:00:00Z"`, with a
/// fractional second (trailing zeros trimmed) only when non-zero, e.g.
/// `"2024-05-01T12:00:00.25Z"`.
pub fn format_unix_ns(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::v1::*;
    use super::*;
    use prost::Message;

    fn sample_header() -> ResultHeader {
        ResultHeader {
            dimensions: vec![
                ResultDimension::with_times("time", vec![0, 1_000_000_000]),
                ResultDimension::with_labels("sensor", vec![7, 9, 11]),
            ],
            columns: vec![
                ResultColumn {
                    name: "temp".into(),
                    dtype: DType::F32 as i32,
                },
                ResultColumn {
                    name: "ok".into(),
                    dtype: DType::Bool as i32,
                },
            ],
            shape: vec![2, 3],
            scalar: false,
            notes: vec!["note".into()],
        }
    }

    #[test]
    fn query_response_roundtrip() {
        let msgs = vec![
            QueryResponse::header(sample_header()),
            QueryResponse::data(0, 0, vec![1, 2, 3, 4]),
            QueryResponse::footer(QueryStats {
                chunks_read: 3,
                bytes_read: 100,
                bytes_decoded: 400,
                elapsed_ns: 12345,
                layout: "default".into(),
                version: 5,
            }),
        ];
        for m in msgs {
            let bytes = m.encode_to_vec();
            let back = QueryResponse::decode(bytes.as_slice()).unwrap();
            assert_eq!(back, m);
        }
        let h = QueryResponse::decode(
            QueryResponse::header(sample_header())
                .encode_to_vec()
                .as_slice(),
        )
        .unwrap();
        match h.msg {
            Some(query_response::Msg::Header(h)) => {
                assert_eq!(h.dimensions[1].explicit_len(), Some(3));
                assert_eq!(h.element_count(), Some(6));
                assert_eq!(h.columns[0].dtype(), DType::F32);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn descriptor_set_contains_service() {
        let fds = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
        let file = fds
            .file
            .iter()
            .find(|f| f.name() == "arrayq/v1/arrayq.proto")
            .expect("arrayq.proto in descriptor set");
        assert_eq!(file.package(), "arrayq.v1");
        let svc = file
            .service
            .iter()
            .find(|s| format!("{}.{}", file.package(), s.name()) == SERVICE_NAME)
            .expect("service arrayq.v1.ArrayQ");
        let methods: Vec<_> = svc.method.iter().map(|m| m.name().to_string()).collect();
        for m in [
            "CreateArray",
            "DropArray",
            "ListArrays",
            "DescribeArray",
            "Write",
            "Query",
            "Explain",
            "Subscribe",
            "Health",
        ] {
            assert!(methods.iter().any(|x| x == m), "missing method {m}");
        }
        let write = svc.method.iter().find(|m| m.name() == "Write").unwrap();
        assert!(write.client_streaming() && !write.server_streaming());
        let query = svc.method.iter().find(|m| m.name() == "Query").unwrap();
        assert!(query.server_streaming() && !query.client_streaming());
        // Comments are kept (useful for reflection-based tools).
        assert!(file.source_code_info.is_some());
    }

    #[test]
    fn generated_service_names() {
        assert_eq!(
            <array_q_server::ArrayQServer<Dummy> as tonic::server::NamedService>::NAME,
            SERVICE_NAME
        );
    }

    struct Dummy;

    #[test]
    fn dtype_helpers() {
        assert_eq!(DType::F32.size_bytes(), 4);
        assert_eq!(DType::F64.size_bytes(), 8);
        assert_eq!(DType::I8.size_bytes(), 1);
        assert_eq!(DType::U16.size_bytes(), 2);
        assert_eq!(DType::Bool.size_bytes(), 1);
        assert_eq!(DType::Unspecified.size_bytes(), 0);
        for d in DType::ALL {
            assert_eq!(DType::from_name(d.short_name()), Some(d));
            assert_eq!(DType::from_name(d.as_str_name()), Some(d));
            assert!(d.size_bytes() > 0);
            assert_eq!(DType::from_wire(d as i32), Ok(d));
        }
        assert_eq!(DType::from_name("Float64"), Some(DType::F64));
        // SQL's meaning: int8 is the 8-byte integer, int1 / tinyint the 1-byte one.
        assert_eq!(DType::from_name("int8"), Some(DType::I64));
        assert_eq!(DType::from_name("INT1"), Some(DType::I8));
        assert_eq!(DType::from_name("tinyint"), Some(DType::I8));
        assert_eq!(DType::from_name("double precision"), Some(DType::F64));
        assert_eq!(DType::from_name("complex"), None);
        assert!(DType::from_wire(0).is_err());
        assert!(DType::from_wire(99).is_err());
        assert_eq!(DType::U64.to_string(), "u64");
    }

    #[test]
    fn split_and_collect() {
        let h = sample_header();
        // Big enough to need several blocks per column: make the shape large.
        let n = 3 * MAX_BLOCK_BYTES / 4 + 17; // f32 elements => ~3 blocks
        let header = ResultHeader {
            shape: vec![1, n as u64],
            dimensions: vec![
                ResultDimension::with_values("a", vec![0.0]),
                ResultDimension::with_regular("b", 0.0, 0.5),
            ],
            ..h
        };
        let temp: Vec<u8> = (0..n as u32)
            .flat_map(|i| (i as f32).to_le_bytes())
            .collect();
        let ok: Vec<u8> = (0..n).map(|i| (i % 2) as u8).collect();
        let mut c = ResultCollector::new();
        c.push(QueryResponse::header(header.clone())).unwrap();
        let blocks: Vec<_> = data_blocks(0, 4, &temp).collect();
        assert_eq!(blocks.len(), 4);
        assert!(blocks.iter().all(|b| b.data.len() <= MAX_BLOCK_BYTES));
        let shared: Vec<_> = data_blocks_shared(0, 4, Bytes::from(temp.clone())).collect();
        assert_eq!(shared, blocks);
        for b in blocks {
            let encoded = QueryResponse::from(b.clone()).encoded_len();
            assert!(encoded < 4 * 1024 * 1024);
            c.push(b.into()).unwrap();
        }
        for b in data_blocks(1, 1, &ok) {
            c.push(b.into()).unwrap();
        }
        assert!(!c.is_complete());
        c.push(QueryResponse::footer(QueryStats::default()))
            .unwrap();
        assert!(c.is_complete());
        assert!(c.push(QueryResponse::data(1, 0, vec![1])).is_err());
        let r = c.finish().unwrap();
        assert_eq!(r.columns[0], temp);
        assert_eq!(r.columns[1], ok);
        assert_eq!(r.header, header);
    }

    #[test]
    fn collector_rejects_protocol_violations() {
        let h = sample_header(); // 6 elements, f32 + bool
        let mut c = ResultCollector::new();
        assert!(c.push(QueryResponse::data(0, 0, vec![0; 4])).is_err());
        c.push(QueryResponse::header(h.clone())).unwrap();
        assert!(c.push(QueryResponse::header(h.clone())).is_err());
        // partial element
        assert!(c.push(QueryResponse::data(0, 0, vec![0; 3])).is_err());
        // wrong offset
        assert!(c.push(QueryResponse::data(0, 1, vec![0; 4])).is_err());
        // unknown column
        assert!(c.push(QueryResponse::data(2, 0, vec![0])).is_err());
        // column 1 before column 0 complete
        assert!(c.push(QueryResponse::data(1, 0, vec![0])).is_err());
        c.push(QueryResponse::data(0, 0, vec![0; 8])).unwrap();
        c.push(QueryResponse::data(0, 2, vec![0; 16])).unwrap();
        // too much
        assert!(c.push(QueryResponse::data(0, 6, vec![0; 4])).is_err());
        // footer before column 1
        assert!(c
            .push(QueryResponse::footer(QueryStats::default()))
            .is_err());
        c.push(QueryResponse::data(1, 0, vec![1; 6])).unwrap();
        // back to column 0
        assert!(c.push(QueryResponse::data(0, 6, vec![0; 4])).is_err());
        c.push(QueryResponse::footer(QueryStats::default()))
            .unwrap();
        assert!(c.finish().is_ok());

        // Empty result: no blocks at all.
        let mut c = ResultCollector::new();
        let mut empty = sample_header();
        empty.shape = vec![0, 3];
        empty.dimensions[0] = ResultDimension::with_times("time", vec![]);
        c.push(QueryResponse::header(empty)).unwrap();
        c.push(QueryResponse::footer(QueryStats::default()))
            .unwrap();
        let r = c.finish().unwrap();
        assert!(r.columns.iter().all(|c| c.is_empty()));

        // Missing footer.
        let mut c = ResultCollector::new();
        c.push(QueryResponse::header(sample_header())).unwrap();
        assert!(c.finish().is_err());
    }

    #[test]
    fn long_coordinate_lists_are_split() {
        let n = 1_000_000u64;
        let labels: Vec<i64> = (0..n as i64).map(|i| 1_000_000_000_000 + i).collect();
        let header = ResultHeader {
            dimensions: vec![
                ResultDimension::with_labels("asset", labels.clone()),
                ResultDimension::with_time("time", 0, 1_000),
            ],
            columns: vec![ResultColumn {
                name: "v".into(),
                dtype: DType::U8 as i32,
            }],
            shape: vec![n, 2],
            ..Default::default()
        };
        // Small headers stay whole.
        assert_eq!(header_messages(sample_header()).len(), 1);
        let msgs = header_messages(header.clone());
        assert_eq!(msgs.len(), 1 + 3);
        for m in &msgs {
            assert!(m.encoded_len() < 4 * 1024 * 1024);
        }
        let mut c = ResultCollector::new();
        for m in msgs {
            c.push(m).unwrap();
        }
        let data = vec![7u8; 2 * n as usize];
        for b in data_blocks(0, 1, &data) {
            c.push(b.into()).unwrap();
        }
        c.push(QueryResponse::footer(QueryStats::default()))
            .unwrap();
        let r = c.finish().unwrap();
        assert_eq!(r.header, header);
        assert_eq!(r.columns[0], data);

        // Data before the coordinates are complete is rejected.
        let mut msgs = header_messages(header.clone());
        let mut c = ResultCollector::new();
        c.push(msgs.remove(0)).unwrap();
        c.push(msgs.remove(0)).unwrap();
        assert!(c.push(QueryResponse::data(0, 0, vec![1])).is_err());
        // Wrong offset, wrong type, compact dimension, too many.
        let mut c = ResultCollector::new();
        let mut h = header.clone();
        if let Some(Coordinates::Labels(l)) = &mut h.dimensions[0].coordinates {
            l.values.truncate(10);
        }
        c.push(QueryResponse::header(h)).unwrap();
        let block = |dimension, offset, values: Vec<f64>, ints: Vec<i64>| {
            QueryResponse::coordinates(CoordinateBlock {
                dimension,
                offset,
                values,
                ints,
            })
        };
        assert!(c.push(block(0, 0, vec![], vec![1])).is_err());
        assert!(c.push(block(0, 10, vec![1.0], vec![])).is_err());
        assert!(c.push(block(1, 0, vec![], vec![1])).is_err());
        assert!(c.push(block(0, 10, vec![], vec![])).is_err());
        c.push(block(0, 10, vec![], vec![5; 400_000])).unwrap();
        c.push(block(0, 400_010, vec![], vec![5; 400_000])).unwrap();
        assert!(c.push(block(0, 800_010, vec![], vec![5; 200_000])).is_err());
        c.push(block(0, 800_010, vec![], vec![5; 199_990])).unwrap();
        assert!(c
            .push(QueryResponse::footer(QueryStats::default()))
            .is_err());

        // A dimension without coordinates is rejected.
        let mut c = ResultCollector::new();
        let mut h = header;
        h.dimensions[1].coordinates = None;
        assert!(c.push(QueryResponse::header(h)).is_err());
    }

    #[test]
    fn write_stream_roundtrip() {
        let header = WriteHeader {
            array: "a".into(),
            attributes: vec!["x".into(), "flag".into()],
            region: vec![IndexRange::new(0, 2), IndexRange::new(5, 3)],
            labels: vec![LabelAppend {
                dim: "sensor".into(),
                labels: vec![1, 2, 3],
            }],
            expect_version: Some(4),
        };
        assert_eq!(region_cells(&header.region), Some(6));
        let x: Vec<u8> = (0..6i64).flat_map(|v| v.to_le_bytes()).collect();
        let flag = vec![1u8, 0, 1, 0, 1, 0];
        let mut reqs = write_requests(header.clone(), vec![x.clone(), flag.clone()]);
        let first = reqs.next().unwrap().into_header().unwrap();
        assert_eq!(first, header);
        let mut c = WriteCollector::new(first, &[8, 1]).unwrap();
        assert_eq!(c.cells(), 6);
        assert_eq!(c.expected_total_bytes(), 54);
        for r in reqs {
            let r = WriteRequest::decode(r.encode_to_vec().as_slice()).unwrap();
            c.push(r).unwrap();
        }
        let (h, bufs) = c.finish().unwrap();
        assert_eq!(h.expect_version, Some(4));
        assert_eq!(bufs, vec![x, flag]);
    }

    #[test]
    fn write_collector_rejects_bad_streams() {
        let header = WriteHeader {
            array: "a".into(),
            attributes: vec!["x".into()],
            region: vec![IndexRange::new(0, 4)],
            ..Default::default()
        };
        assert!(WriteRequest::data(0, 0, vec![]).into_header().is_err());
        assert!(WriteCollector::new(header.clone(), &[]).is_err());
        let dup = WriteHeader {
            attributes: vec!["x".into(), "x".into()],
            ..header.clone()
        };
        assert!(WriteCollector::new(dup, &[4, 4]).is_err());
        let zero = WriteHeader {
            region: vec![IndexRange::new(0, 0)],
            ..header.clone()
        };
        assert!(WriteCollector::new(zero, &[4]).is_err());

        let mut c = WriteCollector::new(header.clone(), &[4]).unwrap();
        assert!(c.push(WriteRequest::header(header.clone())).is_err());
        assert!(c.push(WriteRequest::data(1, 0, vec![0; 4])).is_err());
        assert!(c.push(WriteRequest::data(0, 4, vec![0; 4])).is_err());
        // Unaligned splits are fine.
        c.push(WriteRequest::data(0, 0, vec![0; 3])).unwrap();
        c.push(WriteRequest::data(0, 3, vec![0; 10])).unwrap();
        assert!(c.push(WriteRequest::data(0, 13, vec![0; 4])).is_err());
        let c2 = WriteCollector::new(header, &[4]).unwrap();
        assert!(c2.finish().is_err()); // incomplete
        c.push(WriteRequest::data(0, 13, vec![0; 3])).unwrap();
        assert_eq!(c.finish().unwrap().1[0].len(), 16);
    }

    #[test]
    fn error_position_roundtrip() {
        let s = invalid_argument_at(3, 14, "unknown attribute 'tmp'");
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "3:14: unknown attribute 'tmp'");
        assert_eq!(
            s.metadata()
                .get(ERROR_POSITION_METADATA_KEY)
                .unwrap()
                .to_str()
                .unwrap(),
            "3:14"
        );
        assert_eq!(error_position(&s), Some((3, 14)));
        let plain = Status::invalid_argument("1:2: bad");
        assert_eq!(error_position(&plain), Some((1, 2)));
        assert_eq!(error_position(&Status::not_found("no array 'x'")), None);
    }

    #[test]
    fn unix_ns_text() {
        assert_eq!(format_unix_ns(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_unix_ns(1_714_564_800_000_000_000),
            "2024-05-01T12:00:00Z"
        );
        assert_eq!(
            format_unix_ns(1_714_564_800_250_000_000),
            "2024-05-01T12:00:00.25Z"
        );
        assert_eq!(format_unix_ns(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(
            format_unix_ns(951_782_400_000_000_000),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(format_unix_ns(i64::MIN), "1677-09-21T00:12:43.145224192Z");
        assert_eq!(format_unix_ns(i64::MAX), "2262-04-11T23:47:16.854775807Z");
    }
}
