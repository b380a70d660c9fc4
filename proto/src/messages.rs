//! Constructors of the oneof wrapper messages and small helpers on generated types.

use crate::v1::result_dimension::Coordinates;
use crate::v1::{
    query_response, write_request, CoordinateBlock, DataBlock, DoubleList, IndexRange, Int64List,
    QueryResponse, QueryStats, RegularCoordinate, ResultDimension, ResultFooter, ResultHeader,
    StringList, TimeCoordinate, WriteBlock, WriteHeader, WriteRequest,
};
use crate::{Bytes, ProtocolError};

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
                ..Default::default()
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

    /// A dimension with text label coordinates.
    pub fn with_text_labels(name: impl Into<String>, labels: Vec<String>) -> Self {
        Self::with(name, Coordinates::TextLabels(StringList { values: labels }))
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
            metadata: Default::default(),
        }
    }

    /// Length of the explicit coordinate list (`values`, `times_unix_ns`,
    /// `labels`, `text_labels`); `None` for the compact `regular` / `time` forms or when
    /// unset.
    pub fn explicit_len(&self) -> Option<usize> {
        match &self.coordinates {
            Some(Coordinates::Values(l)) => Some(l.values.len()),
            Some(Coordinates::TimesUnixNs(l)) | Some(Coordinates::Labels(l)) => {
                Some(l.values.len())
            }
            Some(Coordinates::TextLabels(l)) => Some(l.values.len()),
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
