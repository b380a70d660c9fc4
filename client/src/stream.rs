//! A Query response as it arrives: the header first, then the columns block by
//! block (raw little-endian elements, stored chunks decoded on rayon, or the strings
//! of a text column), checked against the protocol's ordering and size rules.

use arrayq_format::{Buffer, DType};
use arrayq_proto::v1::{self, query_response::Msg};
use arrayq_proto::Bytes;
use tonic::Streaming;

use crate::error::{Error, Result};
use crate::result::{buffer_from_le, Block, ColumnBuilder, Header, QueryResult, QueryStats};
use crate::stored::{on_rayon, StoredData};
use crate::values::{ColumnType, ColumnValues};

/// A query result arriving block by block (see [`Client::query_stream`]).
/// Dropping it cancels the query.
pub struct QueryStream {
    header: Header,
    inner: Streaming<v1::QueryResponse>,
    pending: Option<Msg>,
    /// The block after the one `next_block` returns last, already decoding.
    ahead: Option<Pending>,
    /// The error met while receiving `ahead`, reported on the next call.
    deferred: Option<Error>,
    elem_sizes: Vec<usize>,
    /// Elements received per column.
    received: Vec<usize>,
    expected: usize,
    current_column: usize,
    stats: Option<QueryStats>,
}

impl QueryStream {
    pub(crate) async fn open(mut inner: Streaming<v1::QueryResponse>) -> Result<QueryStream> {
        let first = next_msg(&mut inner).await?;
        let Msg::Header(mut h) = first else {
            return Err(Error::Protocol(
                "the first message is not a ResultHeader".into(),
            ));
        };
        let pending = loop {
            match next_msg(&mut inner).await? {
                Msg::Coordinates(b) => merge_coordinates(&mut h, b)?,
                other => break other,
            }
        };
        for (d, (dim, &n)) in h.dimensions.iter().zip(&h.shape).enumerate() {
            if let Some(len) = dim.explicit_len() {
                if len as u64 != n {
                    return Err(Error::Protocol(format!(
                        "dimension {d}: {len} of {n} coordinates received"
                    )));
                }
            }
        }
        let header = Header::from_proto(h)?;
        // Text columns have no element size: their values come as strings.
        let elem_sizes = header
            .columns
            .iter()
            .map(|c| c.column_type.dtype().map_or(0, |d| d.size()))
            .collect();
        Ok(QueryStream {
            expected: header.len(),
            received: vec![0; header.columns.len()],
            elem_sizes,
            header,
            inner,
            pending: Some(pending),
            ahead: None,
            deferred: None,
            current_column: 0,
            stats: None,
        })
    }

    /// What the result looks like.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The statistics, once the stream is complete.
    pub fn stats(&self) -> Option<&QueryStats> {
        self.stats.as_ref()
    }

    /// The next block of raw bytes: (column, element offset, bytes); `None`
    /// after the footer. Raw blocks are shared with the receive buffer (no copy);
    /// stored chunks are decoded first.
    pub async fn next_raw(&mut self) -> Result<Option<(usize, usize, Bytes)>> {
        let Some(p) = self.take_next().await? else {
            return Ok(None);
        };
        Ok(Some(match p {
            Pending::Raw {
                column,
                offset,
                bytes,
            } => (column, offset, bytes),
            decoding => {
                let dtype = self.numeric_dtype(decoding.column())?;
                let b = decoding.finish(dtype).await?;
                (b.column, b.offset, b.values.into_le_bytes())
            }
        }))
    }

    /// The block `next_block` received ahead (or the error that ended the stream
    /// there), else the next one from the stream.
    async fn take_next(&mut self) -> Result<Option<Pending>> {
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        if let Some(p) = self.ahead.take() {
            return Ok(Some(p));
        }
        self.start_block().await
    }

    /// The next data block, checked against the header and what came before.
    async fn next_data(&mut self) -> Result<Option<(usize, usize, Data)>> {
        if self.stats.is_some() {
            return Ok(None);
        }
        let msg = match self.pending.take() {
            Some(m) => m,
            None => next_msg(&mut self.inner).await?,
        };
        match msg {
            Msg::Data(b) => {
                let col = b.column as usize;
                if col >= self.received.len() || col < self.current_column {
                    return Err(Error::Protocol(format!(
                        "DataBlock for column {col} out of order"
                    )));
                }
                for earlier in self.current_column..col {
                    if self.received[earlier] != self.expected {
                        return Err(Error::Protocol(format!(
                            "DataBlock for column {col} before column {earlier} was complete"
                        )));
                    }
                }
                self.current_column = col;
                let size = self.elem_sizes[col];
                let c = &self.header.columns[col];
                let (n, data) = match (c.column_type, b.stored) {
                    (ColumnType::Text, stored) => {
                        if b.strings.is_empty() || !b.data.is_empty() || stored.is_some() {
                            return Err(Error::Protocol(format!(
                                "DataBlock of text column '{}' without strings",
                                c.name
                            )));
                        }
                        (b.strings.len(), Data::Text(b.strings))
                    }
                    (ColumnType::Numeric(_), _) if !b.strings.is_empty() => {
                        return Err(Error::Protocol(format!(
                            "DataBlock of numeric column '{}' with strings",
                            c.name
                        )));
                    }
                    (ColumnType::Numeric(dtype), Some(stored)) => {
                        let place =
                            format!("column '{}' from element {}", c.name, b.element_offset);
                        let s = StoredData::new(stored, b.data, dtype, place)?;
                        (s.elements, Data::Stored(s))
                    }
                    (ColumnType::Numeric(_), None) => {
                        if b.data.is_empty() || !b.data.len().is_multiple_of(size) {
                            return Err(Error::Protocol(format!(
                                "DataBlock of {} bytes for {size}-byte elements",
                                b.data.len()
                            )));
                        }
                        (b.data.len() / size, Data::Raw(b.data))
                    }
                };
                let end = self.received[col].checked_add(n);
                if b.element_offset != self.received[col] as u64
                    || end.is_none_or(|e| e > self.expected)
                {
                    return Err(Error::Protocol(format!(
                        "column {col}: block at element {} with {n} elements, {} of {} received",
                        b.element_offset, self.received[col], self.expected
                    )));
                }
                let offset = self.received[col];
                self.received[col] += n;
                Ok(Some((col, offset, data)))
            }
            Msg::Footer(f) => {
                if let Some(c) = self.received.iter().position(|&r| r != self.expected) {
                    return Err(Error::Protocol(format!(
                        "ResultFooter before column {c} was complete"
                    )));
                }
                self.stats = Some(f.stats.unwrap_or_default().into());
                // Read on to the end of the call (the trailers carry its status):
                // dropping the response earlier resets the HTTP/2 stream of every
                // call, and on a busy connection some calls then failed with
                // CANCELLED ("operation was canceled"; bench suite `grpc`).
                if self.inner.message().await?.is_some() {
                    return Err(Error::Protocol(
                        "a message followed the ResultFooter".into(),
                    ));
                }
                Ok(None)
            }
            Msg::Header(_) => Err(Error::Protocol("duplicate ResultHeader".into())),
            Msg::Coordinates(_) => Err(Error::Protocol("CoordinateBlock after data".into())),
        }
    }

    /// The next block of values; `None` once the result is complete. While a block
    /// of stored chunks decodes on rayon, the next block is already received (and
    /// starts decoding), so transfer and decoding overlap.
    pub async fn next_block(&mut self) -> Result<Option<Block>> {
        let Some(current) = self.take_next().await? else {
            return Ok(None);
        };
        if matches!(current, Pending::Decoding { .. }) {
            // An error there ends the stream after this block, not before it.
            match self.start_block().await {
                Ok(p) => self.ahead = p,
                Err(e) => self.deferred = Some(e),
            }
        }
        let dtype = self.numeric_dtype(current.column())?;
        current.finish(dtype).await.map(Some)
    }

    /// The element type of numeric column `column`; a text column is refused (the
    /// streaming API hands out [`Buffer`]s: text results arrive whole, with
    /// [`QueryStream::collect`]).
    fn numeric_dtype(&self, column: usize) -> Result<DType> {
        let c = &self.header.columns[column];
        match c.column_type {
            ColumnType::Numeric(dtype) => Ok(dtype),
            ColumnType::Text => Err(Error::InvalidInput(format!(
                "column '{}' holds text: read the result with collect()",
                c.name
            ))),
        }
    }

    /// Receives the next data block and starts turning it into values.
    async fn start_block(&mut self) -> Result<Option<Pending>> {
        let Some((column, offset, data)) = self.next_data().await? else {
            return Ok(None);
        };
        let dtype = self.header.columns[column]
            .column_type
            .dtype()
            .unwrap_or(DType::U8);
        Ok(Some(match data {
            Data::Raw(bytes) => Pending::Raw {
                column,
                offset,
                bytes,
            },
            Data::Text(strings) => Pending::Text { column, strings },
            Data::Stored(s) => Pending::Decoding {
                column,
                offset,
                values: Box::pin(on_rayon(move || {
                    let mut b = ColumnBuilder::with_capacity(dtype, s.elements);
                    s.decode_onto(&mut b)?;
                    b.finish(&[s.elements])
                })),
            },
        }))
    }

    /// Receives the rest of the result.
    pub async fn collect(mut self) -> Result<QueryResult> {
        // Each block is copied (or decoded) once, into its column's typed buffer of
        // the final size and shape (next_data has checked that blocks are contiguous
        // and in order).
        let mut cols: Vec<Collecting> = self
            .header
            .columns
            .iter()
            .map(|c| match c.column_type {
                ColumnType::Numeric(d) => Collecting::Numbers(ColumnBuilder::with_capacity(
                    d,
                    self.expected.min((1 << 30) / d.size()),
                )),
                ColumnType::Text => Collecting::Text(Vec::with_capacity(self.expected)),
            })
            .collect();
        if let Some(p) = self.ahead.take() {
            match p {
                Pending::Text { column, strings } => {
                    if let Collecting::Text(v) = &mut cols[column] {
                        v.extend(strings);
                    }
                }
                numbers => {
                    let dtype = self.numeric_dtype(numbers.column())?;
                    let b = numbers.finish(dtype).await?;
                    if let Collecting::Numbers(c) = &mut cols[b.column] {
                        c.extend_le(&b.values.to_le_bytes());
                    }
                }
            }
        }
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        while let Some((col, _, data)) = self.next_data().await? {
            match (data, &mut cols[col]) {
                (Data::Raw(bytes), Collecting::Numbers(c)) => c.extend_le(&bytes),
                (Data::Stored(s), Collecting::Numbers(c)) => {
                    let mut c = std::mem::replace(c, ColumnBuilder::with_capacity(DType::U8, 0));
                    c = on_rayon(move || s.decode_onto(&mut c).map(|_| c)).await??;
                    cols[col] = Collecting::Numbers(c);
                }
                (Data::Text(strings), Collecting::Text(v)) => v.extend(strings),
                // next_data matched every block with its column's type.
                _ => unreachable!("block kind checked against the column type"),
            }
        }
        let shape = if self.header.scalar {
            Vec::new()
        } else {
            self.header.shape.clone()
        };
        let values = cols
            .into_iter()
            .map(|c| c.finish(&shape))
            .collect::<Result<Vec<_>>>()?;
        let stats = self.stats.take().unwrap_or_default();
        QueryResult::new(self.header.clone(), values, stats)
    }
}

/// A column being received whole.
enum Collecting {
    Numbers(ColumnBuilder),
    Text(Vec<String>),
}

impl Collecting {
    fn finish(self, shape: &[usize]) -> Result<ColumnValues> {
        match self {
            Collecting::Numbers(c) => c.finish(shape).map(ColumnValues::Numeric),
            Collecting::Text(v) => {
                let n = v.len();
                ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), v)
                    .map(ColumnValues::Text)
                    .map_err(|e| {
                        Error::Protocol(format!("{n} text values do not fit shape {shape:?}: {e}"))
                    })
            }
        }
    }
}

/// A received block on its way to values.
enum Pending {
    /// Little-endian elements as received.
    Raw {
        column: usize,
        offset: usize,
        bytes: Bytes,
    },
    /// The strings of a text column.
    Text { column: usize, strings: Vec<String> },
    /// Stored chunks decoding on rayon (already running: `on_rayon` spawns at once).
    Decoding {
        column: usize,
        offset: usize,
        values: std::pin::Pin<Box<dyn std::future::Future<Output = Result<Result<Buffer>>> + Send>>,
    },
}

impl Pending {
    fn column(&self) -> usize {
        match self {
            Pending::Raw { column, .. }
            | Pending::Text { column, .. }
            | Pending::Decoding { column, .. } => *column,
        }
    }

    /// The values (raw bytes read as `dtype`, the column's type).
    async fn finish(self, dtype: DType) -> Result<Block> {
        match self {
            Pending::Raw {
                column,
                offset,
                bytes,
            } => Ok(Block {
                column,
                offset,
                values: buffer_from_le(dtype, &bytes)?,
            }),
            Pending::Decoding {
                column,
                offset,
                values,
            } => Ok(Block {
                column,
                offset,
                values: values.await??,
            }),
            Pending::Text { column, .. } => Err(Error::InvalidInput(format!(
                "column {column} holds text, not {dtype} values"
            ))),
        }
    }
}

/// The values of a data block as received.
enum Data {
    /// Little-endian elements.
    Raw(Bytes),
    /// The strings of a text column.
    Text(Vec<String>),
    /// Stored chunks, to decode.
    Stored(StoredData),
}

async fn next_msg(inner: &mut Streaming<v1::QueryResponse>) -> Result<Msg> {
    match inner.message().await? {
        Some(v1::QueryResponse { msg: Some(m) }) => Ok(m),
        Some(_) => Err(Error::Protocol("empty QueryResponse".into())),
        None => Err(Error::Protocol(
            "the result stream ended without a ResultFooter".into(),
        )),
    }
}

fn merge_coordinates(h: &mut v1::ResultHeader, b: v1::CoordinateBlock) -> Result<()> {
    use v1::result_dimension::Coordinates as C;
    let d = b.dimension as usize;
    let Some(dim) = h.dimensions.get_mut(d) else {
        return Err(Error::Protocol(format!(
            "CoordinateBlock for unknown dimension {d}"
        )));
    };
    let have = dim.explicit_len().unwrap_or(0) as u64;
    if b.offset != have {
        return Err(Error::Protocol(format!(
            "dimension {d}: CoordinateBlock at {} but {have} coordinates received",
            b.offset
        )));
    }
    match &mut dim.coordinates {
        Some(C::Values(l)) if b.ints.is_empty() && b.texts.is_empty() => {
            l.values.extend_from_slice(&b.values)
        }
        Some(C::TimesUnixNs(l)) | Some(C::Labels(l))
            if b.values.is_empty() && b.texts.is_empty() =>
        {
            l.values.extend_from_slice(&b.ints)
        }
        Some(C::TextLabels(l)) if b.values.is_empty() && b.ints.is_empty() => {
            l.values.extend(b.texts)
        }
        _ => {
            return Err(Error::Protocol(format!(
                "dimension {d}: CoordinateBlock does not match the coordinates"
            )))
        }
    }
    Ok(())
}
