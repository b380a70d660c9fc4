//! The gRPC client: connection (plain or TLS, optional bearer token) and one
//! method per RPC.

use std::ops::Range;
use std::time::Duration;

use arrayq_format::Buffer;
use arrayq_proto::v1::{self, array_q_client::ArrayQClient};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::Streaming;

use crate::error::{Error, Result};
use crate::result::{QueryResult, QueryStats};
pub use crate::stream::QueryStream;

/// Largest message the client accepts or sends (the server keeps streamed
/// messages under 4 MiB; unary answers with very long label lists can be
/// bigger).
const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// Largest HTTP/2 frame the client accepts (SETTINGS_MAX_FRAME_SIZE). Query
/// results arrive as messages of up to 4 MiB; with h2's default of 16 KiB each one
/// came as 256 frames, every frame a wake-up of the reading task, a lock of the
/// stream and a copy of its own. Streaming a 128 MB result (bench suite `grpc`,
/// scale S) cost the client 199 ms of CPU with 16 KiB frames and 44 ms with
/// 1 MiB frames (bench/README.md).
pub const MAX_FRAME_BYTES: u32 = 1 << 20;

/// HTTP/2 receive window per call: how far the server may send ahead of what
/// the caller has taken. A few result blocks, so the transfer goes on while the
/// client decodes a block.
pub const STREAM_WINDOW_BYTES: u32 = 16 << 20;

/// Adds `authorization: Bearer <token>` to every call when a token is set.
#[derive(Clone, Default)]
pub struct Auth {
    header: Option<MetadataValue<Ascii>>,
}

impl Interceptor for Auth {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(h) = &self.header {
            req.metadata_mut().insert("authorization", h.clone());
        }
        Ok(req)
    }
}

/// How to reach a server.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// `http://host:port`, `https://host:port` or `host:port` (then `http`,
    /// or `https` when a CA certificate is given).
    pub addr: String,
    /// Bearer token sent with every call.
    pub token: Option<String>,
    /// PEM CA certificate to verify the server with (enables TLS).
    pub ca_cert_pem: Option<Vec<u8>>,
    /// Name expected in the server's certificate (default: the host of
    /// `addr`).
    pub tls_domain: Option<String>,
    /// Give up connecting after this long (default 10 s).
    pub connect_timeout: Option<Duration>,
}

impl ConnectOptions {
    /// Options for `addr` with everything else default.
    pub fn new(addr: impl Into<String>) -> Self {
        ConnectOptions {
            addr: addr.into(),
            ..Default::default()
        }
    }
}

/// Limits of one query.
#[derive(Clone, Debug, Default)]
pub struct QueryOptions {
    /// Fail with RESOURCE_EXHAUSTED if the result data would exceed this many
    /// bytes (0: server default).
    pub max_result_bytes: u64,
    /// Server-side time limit (None: server default).
    pub timeout: Option<Duration>,
    /// Ask for raw elements only. By default the server may send whole chunks
    /// of a plain projection as stored (compressed), which this client decodes.
    pub raw_blocks: bool,
}

/// The plan of a query (see [`Client::explain`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ExplainResult {
    /// Human-readable plan.
    pub text: String,
    /// The layout chosen.
    pub layout: String,
    /// Every layout considered with its estimated cost.
    pub candidates: Vec<v1::LayoutCandidate>,
    /// Actual statistics (only with `analyze`).
    pub stats: Option<QueryStats>,
}

/// A connection to an arrayq server. Cheap to clone (clones share the
/// underlying HTTP/2 connection); all methods take `&self`.
#[derive(Clone)]
pub struct Client {
    channel: Channel,
    auth: Auth,
    addr: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("addr", &self.addr).finish()
    }
}

/// `host:port` -> `http://host:port` (or `https://` when `tls`).
pub fn normalize_addr(addr: &str, tls: bool) -> String {
    if addr.contains("://") {
        addr.to_string()
    } else if tls {
        format!("https://{addr}")
    } else {
        format!("http://{addr}")
    }
}

impl Client {
    /// Connects to `addr` (`http://127.0.0.1:50051` or `127.0.0.1:50051`)
    /// without TLS or token.
    pub async fn connect(addr: impl Into<String>) -> Result<Client> {
        Self::connect_with(ConnectOptions::new(addr)).await
    }

    /// Connects with explicit options (TLS, token, timeout).
    pub async fn connect_with(opts: ConnectOptions) -> Result<Client> {
        let tls = opts.ca_cert_pem.is_some();
        let addr = normalize_addr(&opts.addr, tls);
        let fail = |message: String| Error::Connect {
            addr: addr.clone(),
            message,
        };
        let mut endpoint = Endpoint::from_shared(addr.clone())
            .map_err(|e| fail(format!("invalid address: {e}")))?
            .connect_timeout(opts.connect_timeout.unwrap_or(Duration::from_secs(10)))
            .tcp_nodelay(true)
            .max_frame_size(MAX_FRAME_BYTES)
            .initial_stream_window_size(STREAM_WINDOW_BYTES)
            .initial_connection_window_size(2 * STREAM_WINDOW_BYTES);
        if let Some(pem) = &opts.ca_cert_pem {
            let mut tls_config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
            if let Some(domain) = &opts.tls_domain {
                tls_config = tls_config.domain_name(domain.clone());
            }
            endpoint = endpoint
                .tls_config(tls_config)
                .map_err(|e| fail(format!("TLS configuration: {}", error_chain(&e))))?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| fail(error_chain(&e)))?;
        let client = Client {
            channel,
            auth: Auth::default(),
            addr,
        };
        match opts.token {
            Some(t) => client.with_token(t),
            None => Ok(client),
        }
    }

    /// The same connection, sending `authorization: Bearer <token>` with
    /// every call.
    pub fn with_token(mut self, token: impl AsRef<str>) -> Result<Client> {
        let value = format!("Bearer {}", token.as_ref())
            .parse::<MetadataValue<Ascii>>()
            .map_err(|_| Error::InvalidInput("the token must be printable ASCII".into()))?;
        self.auth = Auth {
            header: Some(value),
        };
        Ok(self)
    }

    /// The address connected to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    fn rpc(&self) -> ArrayQClient<InterceptedService<Channel, Auth>> {
        ArrayQClient::with_interceptor(self.channel.clone(), self.auth.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// Liveness probe: serving status, server version, uptime.
    pub async fn health(&self) -> Result<v1::HealthResponse> {
        Ok(self.rpc().health(v1::HealthRequest {}).await?.into_inner())
    }

    /// Runs a query and collects the whole result.
    pub async fn query(&self, sql: &str) -> Result<QueryResult> {
        self.query_stream(sql).await?.collect().await
    }

    /// [`Client::query`] with limits.
    pub async fn query_with(&self, sql: &str, opts: &QueryOptions) -> Result<QueryResult> {
        self.query_stream_with(sql, opts).await?.collect().await
    }

    /// Starts a query and returns as soon as its header arrived; the data
    /// follows block by block ([`QueryStream::next_block`]). Dropping the
    /// stream cancels the call (the server stops the query).
    pub async fn query_stream(&self, sql: &str) -> Result<QueryStream> {
        self.query_stream_with(sql, &QueryOptions::default()).await
    }

    /// [`Client::query_stream`] with limits.
    pub async fn query_stream_with(&self, sql: &str, opts: &QueryOptions) -> Result<QueryStream> {
        let req = v1::QueryRequest {
            sql: sql.to_string(),
            max_result_bytes: opts.max_result_bytes,
            timeout_ms: opts.timeout.map_or(0, |t| (t.as_millis() as u64).max(1)),
            accept_stored_chunks: !opts.raw_blocks,
        };
        let inner = self.rpc().query(req).await?.into_inner();
        QueryStream::open(inner).await
    }

    /// Plans a query (`EXPLAIN` prefix optional); with `analyze` also runs it
    /// and reports what it did.
    pub async fn explain(&self, sql: &str, analyze: bool) -> Result<ExplainResult> {
        let r = self
            .rpc()
            .explain(v1::ExplainRequest {
                sql: sql.to_string(),
                analyze,
            })
            .await?
            .into_inner();
        Ok(ExplainResult {
            text: r.text,
            layout: r.layout,
            candidates: r.candidates,
            stats: r.stats.map(QueryStats::from),
        })
    }

    /// Creates an array from a structured schema.
    pub async fn create_array(&self, schema: v1::ArraySchema) -> Result<v1::CreateArrayResponse> {
        self.create(v1::create_array_request::Definition::Schema(schema))
            .await
    }

    /// Creates an array from a `CREATE ARRAY ...` statement.
    pub async fn create_array_sql(&self, sql: &str) -> Result<v1::CreateArrayResponse> {
        self.create(v1::create_array_request::Definition::Sql(sql.to_string()))
            .await
    }

    async fn create(
        &self,
        def: v1::create_array_request::Definition,
    ) -> Result<v1::CreateArrayResponse> {
        Ok(self
            .rpc()
            .create_array(v1::CreateArrayRequest {
                definition: Some(def),
            })
            .await?
            .into_inner())
    }

    /// Deletes an array with its history.
    pub async fn drop_array(&self, name: &str) -> Result<()> {
        self.rpc()
            .drop_array(v1::DropArrayRequest {
                name: name.to_string(),
            })
            .await?;
        Ok(())
    }

    /// Removes old versions of `array` now (the Vacuum RPC): keeping the newest
    /// `keep_versions`, or what is younger than `older_than` (an interval such as
    /// `"30 days"`), or with neither only the newest version.
    pub async fn vacuum(
        &self,
        array: &str,
        keep_versions: Option<u64>,
        older_than: Option<&str>,
    ) -> Result<v1::VacuumResponse> {
        Ok(self
            .rpc()
            .vacuum(v1::VacuumRequest {
                array: array.to_string(),
                keep_versions,
                older_than: older_than.map(str::to_string),
            })
            .await?
            .into_inner())
    }

    /// All arrays, ordered by name.
    pub async fn list_arrays(&self) -> Result<Vec<v1::ArraySummary>> {
        Ok(self
            .rpc()
            .list_arrays(v1::ListArraysRequest {})
            .await?
            .into_inner()
            .arrays)
    }

    /// Schema, head version, history and storage statistics of an array.
    pub async fn describe(&self, name: &str) -> Result<v1::DescribeArrayResponse> {
        self.describe_with(name, 0, false).await
    }

    /// [`Client::describe`] keeping only the newest `max_commits` commits
    /// (0: all) and optionally leaving label lists out.
    pub async fn describe_with(
        &self,
        name: &str,
        max_commits: u32,
        omit_labels: bool,
    ) -> Result<v1::DescribeArrayResponse> {
        Ok(self
            .rpc()
            .describe_array(v1::DescribeArrayRequest {
                name: name.to_string(),
                max_commits,
                omit_labels,
            })
            .await?
            .into_inner())
    }

    /// Writes a dense region: `attrs[k]` gets `data[k]` (row-major over the
    /// region, any shape with the region's number of cells, dtype of the
    /// attribute). `region` has one index range per dimension; `labels`
    /// appends labels to growable label dimensions first. Sent in blocks of
    /// at most [`arrayq_proto::MAX_BLOCK_BYTES`]; commits atomically as one
    /// new version.
    pub async fn write(
        &self,
        array: &str,
        attrs: &[&str],
        region: &[Range<u64>],
        labels: Vec<v1::LabelAppend>,
        data: &[Buffer],
    ) -> Result<v1::WriteResponse> {
        if attrs.len() != data.len() {
            return Err(Error::InvalidInput(format!(
                "{} attributes but {} buffers",
                attrs.len(),
                data.len()
            )));
        }
        let header = write_header(array, attrs, region, labels)?;
        let cells = arrayq_proto::region_cells(&header.region)
            .ok_or_else(|| Error::InvalidInput("region too large".into()))?;
        for (a, d) in attrs.iter().zip(data) {
            if d.len() as u64 != cells {
                return Err(Error::InvalidInput(format!(
                    "attribute '{a}': {} values for a region of {cells} cells",
                    d.len()
                )));
            }
        }
        let bytes = data.iter().map(Buffer::to_le_bytes).collect();
        self.write_raw(header, bytes).await
    }

    /// Writes raw little-endian bytes (one buffer per header attribute).
    pub async fn write_raw(
        &self,
        header: v1::WriteHeader,
        data: Vec<Vec<u8>>,
    ) -> Result<v1::WriteResponse> {
        self.write_raw_with_progress(header, data, |_| {}).await
    }

    /// [`Client::write_raw`], calling `progress(bytes)` as each block is
    /// handed to the transport.
    pub async fn write_raw_with_progress(
        &self,
        header: v1::WriteHeader,
        data: Vec<Vec<u8>>,
        mut progress: impl FnMut(usize) + Send + 'static,
    ) -> Result<v1::WriteResponse> {
        let requests = arrayq_proto::write_requests(header, data).inspect(move |r| {
            if let Some(v1::write_request::Msg::Data(b)) = &r.msg {
                progress(b.data.len());
            }
        });
        Ok(self
            .rpc()
            .write(tokio_stream::iter(requests))
            .await?
            .into_inner())
    }

    /// A write whose data blocks are produced as they are sent (read from files, say):
    /// `requests` is the header, then data blocks in the order of
    /// [`arrayq_proto::write_requests`]. One commit at the end; a stream that ends
    /// early, or a call dropped before it returns, commits nothing.
    pub async fn write_stream(
        &self,
        requests: impl tokio_stream::Stream<Item = v1::WriteRequest> + Send + 'static,
    ) -> Result<v1::WriteResponse> {
        Ok(self.rpc().write(requests).await?.into_inner())
    }

    /// Sends timeseries rows to the series ingest (`IngestRows`): `header` says
    /// where they go, `batches` are the rows in columns. Returns after the last
    /// commit, with every commit made.
    pub async fn ingest_rows(
        &self,
        header: v1::IngestRowsHeader,
        batches: impl tokio_stream::Stream<Item = v1::RowBatch> + Send + 'static,
    ) -> Result<v1::IngestRowsResponse> {
        use tokio_stream::StreamExt as _;
        use v1::ingest_rows_request::Msg;
        let first = v1::IngestRowsRequest {
            msg: Some(Msg::Header(header)),
        };
        let rest = batches.map(|b| v1::IngestRowsRequest {
            msg: Some(Msg::Rows(b)),
        });
        let requests = tokio_stream::once(first).chain(rest);
        Ok(self.rpc().ingest_rows(requests).await?.into_inner())
    }

    /// Change events of `array` (all arrays if empty), from sequence number
    /// `from_seq` (0: only new ones). The stream never ends by itself; drop
    /// it to stop.
    pub async fn subscribe(&self, array: &str, from_seq: u64) -> Result<Subscription> {
        let inner = self
            .rpc()
            .subscribe(v1::SubscribeRequest {
                array: array.to_string(),
                from_seq,
            })
            .await?
            .into_inner();
        Ok(Subscription { inner })
    }
}

/// A `WriteHeader` for `array` (no `expect_version`).
pub fn write_header(
    array: &str,
    attrs: &[&str],
    region: &[Range<u64>],
    labels: Vec<v1::LabelAppend>,
) -> Result<v1::WriteHeader> {
    let mut ranges = Vec::with_capacity(region.len());
    for (d, r) in region.iter().enumerate() {
        if r.end <= r.start {
            return Err(Error::InvalidInput(format!(
                "empty range {r:?} for dimension {d}"
            )));
        }
        ranges.push(v1::IndexRange::new(r.start, r.end - r.start));
    }
    Ok(v1::WriteHeader {
        array: array.to_string(),
        attributes: attrs.iter().map(|s| s.to_string()).collect(),
        region: ranges,
        labels,
        expect_version: None,
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

/// A stream of change events (see [`Client::subscribe`]).
pub struct Subscription {
    inner: Streaming<v1::ChangeEvent>,
}

impl Subscription {
    /// The next event; `None` if the server ended the stream.
    pub async fn next(&mut self) -> Result<Option<v1::ChangeEvent>> {
        Ok(self.inner.message().await?)
    }
}
