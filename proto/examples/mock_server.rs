//! A tiny in-memory stand-in for the arrayq server, speaking the real
//! `arrayq.v1.ArrayQ` protocol. Useful to try client code (for example the
//! Python script in `docs/grpc.md`) without the real server, and used by the
//! crate's loopback test. It is NOT the server: it keeps only the last write
//! of each array and its "SQL" is just `SELECT ... FROM <array>` (returning
//! that last write, whatever the select list); Subscribe replays from an
//! in-memory log; SQL not starting with SELECT or
//! containing the word `error` fails with a positioned INVALID_ARGUMENT.
//!
//! ```text
//! cargo run -p arrayq-proto --example mock_server -- 127.0.0.1:50051
//! ```

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arrayq_proto::v1::array_q_server::{ArrayQ, ArrayQServer};
use arrayq_proto::v1::dimension::Coordinate;
use arrayq_proto::v1::*;
use arrayq_proto::{
    data_blocks, format_unix_ns, header_messages, invalid_argument_at, WriteCollector,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The last write of an array: region, attribute names, raw bytes.
type LastWrite = (Vec<IndexRange>, Vec<String>, Vec<Vec<u8>>);

struct Stored {
    schema: ArraySchema,
    version: u64,
    commits: Vec<Commit>,
    last: Option<LastWrite>,
}

#[derive(Default)]
struct State {
    arrays: BTreeMap<String, Stored>,
    seq: u64,
    log: Vec<ChangeEvent>,
    subscribers: Vec<(String, mpsc::Sender<Result<ChangeEvent, Status>>)>,
}

impl State {
    fn publish(&mut self, mut ev: ChangeEvent) {
        self.seq += 1;
        ev.seq = self.seq;
        self.log.push(ev.clone());
        self.subscribers.retain(|(filter, tx)| {
            if !filter.is_empty() && *filter != ev.array {
                return !tx.is_closed();
            }
            tx.try_send(Ok(ev.clone())).is_ok()
        });
    }
}

/// In-memory mock implementation of the `ArrayQ` service.
pub struct MockArrayQ {
    started: Instant,
    state: Mutex<State>,
}

impl Default for MockArrayQ {
    fn default() -> Self {
        MockArrayQ {
            started: Instant::now(),
            state: Mutex::new(State::default()),
        }
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Coordinate of index `i` as (text, numeric value).
fn coord_at(dim: &Dimension, i: u64) -> (String, Option<f64>) {
    match &dim.coordinate {
        Some(Coordinate::Regular(r)) => {
            let v = r.start + i as f64 * r.step;
            (v.to_string(), Some(v))
        }
        Some(Coordinate::Time(t)) => (format_unix_ns(t.start_unix_ns + i as i64 * t.step_ns), None),
        Some(Coordinate::Labels(l)) => {
            let v = l.labels.get(i as usize).copied().unwrap_or_default();
            (v.to_string(), Some(v as f64))
        }
        None => (i.to_string(), Some(i as f64)),
    }
}

fn result_dimension(dim: &Dimension, range: &IndexRange) -> ResultDimension {
    let name = dim.name.clone();
    match &dim.coordinate {
        Some(Coordinate::Time(t)) => ResultDimension::with_time(
            name,
            t.start_unix_ns + range.start as i64 * t.step_ns,
            t.step_ns,
        ),
        Some(Coordinate::Labels(l)) => ResultDimension::with_labels(
            name,
            l.labels[range.start as usize..(range.start + range.count) as usize].to_vec(),
        ),
        Some(Coordinate::Regular(r)) => {
            ResultDimension::with_regular(name, r.start + range.start as f64 * r.step, r.step)
        }
        None => ResultDimension::with_regular(name, range.start as f64, 1.0),
    }
}

fn summary(s: &Stored) -> ArraySummary {
    ArraySummary {
        name: s.schema.name.clone(),
        dimensions: s.schema.dimensions.iter().map(|d| d.name.clone()).collect(),
        shape: s.schema.dimensions.iter().map(|d| d.length).collect(),
        attributes: s.schema.attributes.iter().map(|a| a.name.clone()).collect(),
        head_version: s.version,
    }
}

fn event(array: &str, kind: ChangeKind, version: u64, ts: i64) -> ChangeEvent {
    ChangeEvent {
        seq: 0,
        array: array.to_string(),
        version,
        timestamp_ns: ts,
        cells_written: 0,
        region: vec![],
        kind: kind as i32,
    }
}

#[tonic::async_trait]
impl ArrayQ for MockArrayQ {
    async fn create_array(
        &self,
        request: Request<CreateArrayRequest>,
    ) -> Result<Response<CreateArrayResponse>, Status> {
        let mut schema = match request.into_inner().definition {
            Some(create_array_request::Definition::Schema(s)) => s,
            Some(create_array_request::Definition::Sql(_)) => {
                return Err(Status::unimplemented("mock server: structured schema only"))
            }
            None => return Err(Status::invalid_argument("schema or sql is required")),
        };
        if schema.name.is_empty() || schema.dimensions.is_empty() || schema.attributes.is_empty() {
            return Err(Status::invalid_argument(
                "name, dimensions and attributes are required",
            ));
        }
        for a in &schema.attributes {
            DType::from_wire(a.dtype)
                .map_err(|e| Status::invalid_argument(format!("attribute '{}': {e}", a.name)))?;
        }
        for d in &mut schema.dimensions {
            if let Some(Coordinate::Labels(l)) = &d.coordinate {
                d.length = l.labels.len() as u64;
            }
        }
        if schema.layouts.is_empty() {
            schema.layouts.push(Layout {
                name: "default".into(),
                chunk_shape: schema
                    .dimensions
                    .iter()
                    .map(|d| d.length.clamp(1, 1024))
                    .collect(),
                zstd_level: 3,
                shuffle: true,
            });
        }
        let mut st = self.state.lock().unwrap();
        if st.arrays.contains_key(&schema.name) {
            return Err(Status::already_exists(format!(
                "array '{}' already exists",
                schema.name
            )));
        }
        let ts = now_ns();
        st.arrays.insert(
            schema.name.clone(),
            Stored {
                schema: schema.clone(),
                version: 0,
                commits: vec![Commit {
                    version: 0,
                    timestamp_ns: ts,
                    cells_written: 0,
                }],
                last: None,
            },
        );
        st.publish(event(&schema.name, ChangeKind::Create, 0, ts));
        Ok(Response::new(CreateArrayResponse {
            schema: Some(schema),
            version: 0,
        }))
    }

    async fn drop_array(
        &self,
        request: Request<DropArrayRequest>,
    ) -> Result<Response<DropArrayResponse>, Status> {
        let name = request.into_inner().name;
        let mut st = self.state.lock().unwrap();
        let stored = st
            .arrays
            .remove(&name)
            .ok_or_else(|| Status::not_found(format!("array '{name}' not found")))?;
        st.publish(event(&name, ChangeKind::Drop, stored.version, now_ns()));
        Ok(Response::new(DropArrayResponse {}))
    }

    async fn list_arrays(
        &self,
        _request: Request<ListArraysRequest>,
    ) -> Result<Response<ListArraysResponse>, Status> {
        let st = self.state.lock().unwrap();
        Ok(Response::new(ListArraysResponse {
            arrays: st.arrays.values().map(summary).collect(),
        }))
    }

    async fn describe_array(
        &self,
        request: Request<DescribeArrayRequest>,
    ) -> Result<Response<DescribeArrayResponse>, Status> {
        let req = request.into_inner();
        let st = self.state.lock().unwrap();
        let s = st
            .arrays
            .get(&req.name)
            .ok_or_else(|| Status::not_found(format!("array '{}' not found", req.name)))?;
        let skip = match req.max_commits {
            0 => 0,
            n => s.commits.len().saturating_sub(n as usize),
        };
        let mut schema = s.schema.clone();
        if req.omit_labels {
            for d in &mut schema.dimensions {
                if let Some(Coordinate::Labels(l)) = &mut d.coordinate {
                    l.labels.clear();
                }
            }
        }
        Ok(Response::new(DescribeArrayResponse {
            schema: Some(schema),
            head_version: s.version,
            commits: s.commits[skip..].to_vec(),
            layouts: s
                .schema
                .layouts
                .iter()
                .map(|l| LayoutStats {
                    name: l.name.clone(),
                    chunks: 0,
                    bytes: 0,
                })
                .collect(),
        }))
    }

    async fn write(
        &self,
        request: Request<Streaming<WriteRequest>>,
    ) -> Result<Response<WriteResponse>, Status> {
        let mut stream = request.into_inner();
        let header = stream
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("empty Write stream"))?
            .into_header()?;

        // Validate against a copy of the schema; it is stored at commit time.
        let (mut schema, base_version) = {
            let st = self.state.lock().unwrap();
            let s = st
                .arrays
                .get(&header.array)
                .ok_or_else(|| Status::not_found(format!("array '{}' not found", header.array)))?;
            (s.schema.clone(), s.version)
        };
        if let Some(v) = header.expect_version {
            if v != base_version {
                return Err(Status::failed_precondition(format!(
                    "version conflict: expected {v}, head is {base_version}"
                )));
            }
        }
        for la in &header.labels {
            let d = schema
                .dimensions
                .iter_mut()
                .find(|d| d.name == la.dim)
                .ok_or_else(|| Status::invalid_argument(format!("no dimension '{}'", la.dim)))?;
            match &mut d.coordinate {
                Some(Coordinate::Labels(l)) if d.growable => {
                    l.labels.extend_from_slice(&la.labels);
                    d.length = l.labels.len() as u64;
                }
                _ => {
                    return Err(Status::invalid_argument(format!(
                        "dimension '{}' is not a growable labels dimension",
                        la.dim
                    )))
                }
            }
        }
        if header.region.len() != schema.dimensions.len() {
            return Err(Status::invalid_argument(format!(
                "region has {} ranges, array has {} dimensions",
                header.region.len(),
                schema.dimensions.len()
            )));
        }
        for (d, r) in schema.dimensions.iter_mut().zip(&header.region) {
            let end = r.end().unwrap_or(u64::MAX);
            if end > d.length {
                let is_labels = matches!(d.coordinate, Some(Coordinate::Labels(_)));
                if !d.growable || is_labels {
                    return Err(Status::invalid_argument(format!(
                        "region end {end} beyond length {} of dimension '{}'",
                        d.length, d.name
                    )));
                }
                d.length = end;
            }
        }
        let mut sizes = Vec::new();
        for name in &header.attributes {
            let a = schema
                .attributes
                .iter()
                .find(|a| &a.name == name)
                .ok_or_else(|| Status::invalid_argument(format!("no attribute '{name}'")))?;
            sizes.push(DType::from_wire(a.dtype)?.size_bytes());
        }
        let mut collector = WriteCollector::new(header, &sizes)?;
        while let Some(msg) = stream.message().await? {
            collector.push(msg)?;
        }
        let cells = collector.cells();
        let (header, bufs) = collector.finish()?;

        let mut st = self.state.lock().unwrap();
        let ts = now_ns();
        let s = st
            .arrays
            .get_mut(&header.array)
            .ok_or_else(|| Status::not_found("array dropped during write"))?;
        if s.version != base_version {
            return Err(Status::failed_precondition("concurrent write"));
        }
        s.version += 1;
        let version = s.version;
        s.commits.push(Commit {
            version,
            timestamp_ns: ts,
            cells_written: cells,
        });
        let region = schema
            .dimensions
            .iter()
            .zip(&header.region)
            .map(|(d, r)| {
                let (start_text, start_value) = coord_at(d, r.start);
                let (end_text, end_value) = coord_at(d, r.start + r.count - 1);
                DimExtent {
                    dim: d.name.clone(),
                    start: r.start,
                    end: r.start + r.count,
                    start_text,
                    end_text,
                    start_value,
                    end_value,
                }
            })
            .collect();
        s.schema = schema;
        s.last = Some((header.region, header.attributes, bufs));
        let mut ev = event(&header.array, ChangeKind::Write, version, ts);
        ev.cells_written = cells;
        ev.region = region;
        st.publish(ev);
        Ok(Response::new(WriteResponse {
            version,
            timestamp_ns: ts,
            cells_written: cells,
        }))
    }

    type QueryStream = BoxStream<QueryResponse>;

    async fn query(
        &self,
        request: Request<QueryRequest>,
    ) -> Result<Response<Self::QueryStream>, Status> {
        let started = Instant::now();
        let req = request.into_inner();
        if let Some(pos) = req.sql.to_ascii_lowercase().find("error") {
            return Err(invalid_argument_at(
                1,
                pos as u32 + 1,
                "syntax error near 'error'",
            ));
        }
        let lower = req.sql.to_ascii_lowercase();
        if !lower.trim_start().starts_with("select ") {
            let col = req.sql.len() - req.sql.trim_start().len() + 1;
            return Err(invalid_argument_at(1, col as u32, "expected SELECT"));
        }
        let name = lower
            .find(" from ")
            .map(|i| &req.sql[i + 6..])
            .and_then(|rest| rest.split_whitespace().next())
            .map(|n| n.trim_end_matches(';').to_string())
            .ok_or_else(|| invalid_argument_at(1, 1, "mock server: expected '... FROM <array>'"))?;
        let st = self.state.lock().unwrap();
        let s = st
            .arrays
            .get(&name)
            .ok_or_else(|| Status::not_found(format!("array '{name}' not found")))?;
        let mut msgs = Vec::new();
        let mut header = ResultHeader::default();
        let mut columns: Vec<(usize, &[u8])> = Vec::new();
        match &s.last {
            Some((region, attrs, bufs)) => {
                for (d, r) in s.schema.dimensions.iter().zip(region) {
                    header.dimensions.push(result_dimension(d, r));
                    header.shape.push(r.count);
                }
                for (a, buf) in attrs.iter().zip(bufs) {
                    let dtype = s
                        .schema
                        .attributes
                        .iter()
                        .find(|x| &x.name == a)
                        .map(|x| x.dtype)
                        .unwrap_or_default();
                    header.columns.push(ResultColumn {
                        name: a.clone(),
                        dtype,
                    });
                    columns.push((DType::from_wire(dtype)?.size_bytes(), buf));
                }
            }
            None => {
                for d in &s.schema.dimensions {
                    header
                        .dimensions
                        .push(result_dimension(d, &IndexRange::new(0, 0)));
                    header.shape.push(0);
                }
                for a in &s.schema.attributes {
                    header.columns.push(ResultColumn {
                        name: a.name.clone(),
                        dtype: a.dtype,
                    });
                }
                header.notes.push("empty selection".into());
            }
        }
        let total: u64 = columns.iter().map(|(_, b)| b.len() as u64).sum();
        if req.max_result_bytes > 0 && total > req.max_result_bytes {
            return Err(Status::resource_exhausted(format!(
                "result of {total} bytes exceeds max_result_bytes {}",
                req.max_result_bytes
            )));
        }
        msgs.extend(header_messages(header).into_iter().map(Ok));
        for (k, (size, buf)) in columns.iter().enumerate() {
            msgs.extend(data_blocks(k as u32, *size, buf).map(|b| Ok(b.into())));
        }
        msgs.push(Ok(QueryResponse::footer(QueryStats {
            chunks_read: 0,
            bytes_read: total,
            bytes_decoded: total,
            elapsed_ns: started.elapsed().as_nanos() as u64,
            layout: s
                .schema
                .layouts
                .first()
                .map(|l| l.name.clone())
                .unwrap_or_default(),
            version: s.version,
        })));
        Ok(Response::new(Box::pin(tokio_stream::iter(msgs))))
    }

    async fn explain(
        &self,
        request: Request<ExplainRequest>,
    ) -> Result<Response<ExplainResponse>, Status> {
        let req = request.into_inner();
        Ok(Response::new(ExplainResponse {
            text: format!("mock plan for: {}", req.sql),
            layout: "default".into(),
            candidates: vec![LayoutCandidate {
                name: "default".into(),
                chunks: 0,
                bytes: 0,
            }],
            stats: req.analyze.then(QueryStats::default),
        }))
    }

    type SubscribeStream = BoxStream<ChangeEvent>;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let req = request.into_inner();
        let mut st = self.state.lock().unwrap();
        if !req.array.is_empty() && !st.arrays.contains_key(&req.array) {
            return Err(Status::not_found(format!(
                "array '{}' not found",
                req.array
            )));
        }
        let (tx, rx) = mpsc::channel(st.log.len() + 1024);
        if req.from_seq > 0 {
            for ev in &st.log {
                if ev.seq >= req.from_seq && (req.array.is_empty() || ev.array == req.array) {
                    let _ = tx.try_send(Ok(ev.clone()));
                }
            }
        }
        st.subscribers.push((req.array, tx));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn health(
        &self,
        _request: Request<HealthRequest>,
    ) -> Result<Response<HealthResponse>, Status> {
        Ok(Response::new(HealthResponse {
            status: ServingStatus::Serving as i32,
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_s: self.started.elapsed().as_secs(),
        }))
    }
}

/// The mock wrapped as a tonic service. Like the real server it accepts
/// requests up to 64 MiB (large label lists), while every message it sends
/// stays under the default 4 MiB.
pub fn service() -> ArrayQServer<MockArrayQ> {
    ArrayQServer::new(MockArrayQ::default()).max_decoding_message_size(64 << 20)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50051".to_string())
        .parse()?;
    eprintln!("arrayq mock server listening on {addr}");
    tonic::transport::Server::builder()
        .add_service(service())
        .serve(addr)
        .await?;
    Ok(())
}
