//! Reassembles a Query response stream as the tests see it: the header (with its
//! `CoordinateBlock`s merged), each numeric column's raw little-endian bytes, each
//! STRING column's text, and the footer's statistics. Every ordering and size rule
//! of the protocol is checked on the way (docs/grpc.md, "Query").

use arrayq_proto::v1::result_dimension::Coordinates;
use arrayq_proto::v1::*;

/// A fully received query result.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub header: ResultHeader,
    /// Raw bytes of each numeric column (empty for STRING columns).
    pub columns: Vec<Vec<u8>>,
    /// The values of each STRING column (empty for numeric columns).
    pub texts: Vec<Vec<String>>,
    pub stats: QueryStats,
}

impl QueryResult {
    /// The text of the STRING column called `name`.
    pub fn text(&self, name: &str) -> &[String] {
        let k = self
            .header
            .columns
            .iter()
            .position(|c| c.name == name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", self.header.columns));
        &self.texts[k]
    }
}

#[derive(Debug, Default)]
pub struct ResultCollector {
    header: Option<ResultHeader>,
    elements: u64,
    columns: Vec<Vec<u8>>,
    texts: Vec<Vec<String>>,
    current_column: usize,
    data_started: bool,
    stats: Option<QueryStats>,
}

fn received(c: &ResultCollector, k: usize) -> u64 {
    let h = c.header.as_ref().unwrap();
    if h.columns[k].dtype() == DType::String {
        c.texts[k].len() as u64
    } else {
        c.columns[k].len() as u64 / h.columns[k].dtype().size_bytes() as u64
    }
}

impl ResultCollector {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, msg: QueryResponse) -> Result<(), String> {
        if self.stats.is_some() {
            return Err("message after ResultFooter".into());
        }
        use query_response::Msg;
        match msg.msg.ok_or("empty QueryResponse")? {
            Msg::Header(h) => self.on_header(h),
            Msg::Coordinates(b) => self.on_coordinates(b),
            Msg::Data(b) => self.on_block(b),
            Msg::Footer(f) => {
                if self.header.is_none() {
                    return Err("ResultFooter before ResultHeader".into());
                }
                for k in 0..self.columns.len() {
                    if received(self, k) != self.elements {
                        return Err(format!("ResultFooter before column {k} was complete"));
                    }
                }
                self.stats = Some(f.stats.unwrap_or_default());
                Ok(())
            }
        }
    }

    fn on_header(&mut self, h: ResultHeader) -> Result<(), String> {
        if self.header.is_some() {
            return Err("duplicate ResultHeader".into());
        }
        if h.dimensions.len() != h.shape.len() {
            return Err("dimensions and shape differ in length".into());
        }
        if h.scalar && !h.shape.is_empty() {
            return Err("scalar result with dimensions".into());
        }
        if h.dimensions.iter().any(|d| d.coordinates.is_none()) {
            return Err("result dimension without coordinates".into());
        }
        for c in &h.columns {
            DType::from_wire(c.dtype).map_err(|e| format!("column {}: {e}", c.name))?;
        }
        self.elements = if h.scalar {
            1
        } else {
            h.shape.iter().product()
        };
        self.columns = vec![Vec::new(); h.columns.len()];
        self.texts = vec![Vec::new(); h.columns.len()];
        self.header = Some(h);
        Ok(())
    }

    fn on_coordinates(&mut self, b: CoordinateBlock) -> Result<(), String> {
        if self.data_started {
            return Err("CoordinateBlock after data".into());
        }
        let h = self
            .header
            .as_mut()
            .ok_or("CoordinateBlock before header")?;
        let dim = h
            .dimensions
            .get_mut(b.dimension as usize)
            .ok_or("CoordinateBlock for an unknown dimension")?;
        let have = dim
            .explicit_len()
            .ok_or("CoordinateBlock for compact coordinates")?;
        if b.offset != have as u64 {
            return Err(format!("CoordinateBlock at {} after {have}", b.offset));
        }
        match dim.coordinates.as_mut().unwrap() {
            Coordinates::Values(l) if b.ints.is_empty() => l.values.extend(b.values),
            Coordinates::TimesUnixNs(l) | Coordinates::Labels(l) if b.values.is_empty() => {
                l.values.extend(b.ints)
            }
            _ => return Err("CoordinateBlock of the wrong value type".into()),
        }
        Ok(())
    }

    fn on_block(&mut self, b: DataBlock) -> Result<(), String> {
        let h = self
            .header
            .as_ref()
            .ok_or("DataBlock before ResultHeader")?;
        if !self.data_started {
            for (d, (dim, &n)) in h.dimensions.iter().zip(&h.shape).enumerate() {
                if dim.explicit_len().is_some_and(|len| len as u64 != n) {
                    return Err(format!("dimension {d}: coordinates incomplete"));
                }
            }
            self.data_started = true;
        }
        let k = b.column as usize;
        if k >= h.columns.len() || k < self.current_column {
            return Err(format!("DataBlock for column {k} out of order"));
        }
        for earlier in self.current_column..k {
            if received(self, earlier) != self.elements {
                return Err(format!("column {k} before column {earlier} was complete"));
            }
        }
        if b.stored.is_some() {
            return Err("stored chunks, which were not requested".into());
        }
        let dtype = h.columns[k].dtype();
        self.current_column = k;
        if b.element_offset != received(self, k) {
            return Err(format!("column {k}: block at element {}", b.element_offset));
        }
        let n = if dtype == DType::String {
            if !b.data.is_empty() || b.strings.is_empty() {
                return Err(format!("STRING column {k}: block without strings"));
            }
            let n = b.strings.len() as u64;
            self.texts[k].extend(b.strings);
            n
        } else {
            let size = dtype.size_bytes();
            if b.data.is_empty() || !b.data.len().is_multiple_of(size) || !b.strings.is_empty() {
                return Err(format!(
                    "column {k}: {} bytes of {size}-byte elements",
                    b.data.len()
                ));
            }
            if b.data.len() > arrayq_proto::MAX_BLOCK_BYTES {
                return Err(format!("DataBlock of {} bytes", b.data.len()));
            }
            self.columns[k].extend_from_slice(&b.data);
            (b.data.len() / size) as u64
        };
        if b.element_offset + n > self.elements {
            return Err(format!("column {k}: more data than the shape allows"));
        }
        Ok(())
    }

    pub fn finish(self) -> Result<QueryResult, String> {
        match (self.header, self.stats) {
            (Some(header), Some(stats)) => Ok(QueryResult {
                header,
                columns: self.columns,
                texts: self.texts,
                stats,
            }),
            (None, _) => Err("stream ended without ResultHeader".into()),
            (Some(_), None) => Err("stream ended without ResultFooter".into()),
        }
    }
}
