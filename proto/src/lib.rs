//! Protobuf / gRPC API of arrayq (`arrayq.v1`, service `ArrayQ`).
//!
//! The wire contract lives in `proto/arrayq/v1/arrayq.proto`; this crate
//! compiles it (with `protox`, no system `protoc`) into [`v1`] and adds only what
//! belongs to the contract itself:
//!
//! * the encoded descriptor set for gRPC reflection ([`FILE_DESCRIPTOR_SET`]) and
//!   the service name;
//! * the message bounds ([`MAX_BLOCK_BYTES`], [`MAX_STRING_BLOCK_BYTES`]);
//! * [`v1::DType`] element sizes and names;
//! * constructors for the oneof wrapper messages ([`v1::QueryResponse`],
//!   [`v1::WriteRequest`], [`v1::ResultDimension`]) and the Write stream's message
//!   sequence ([`write_requests`]);
//! * the error-position convention ([`invalid_argument_at`], [`error_position`],
//!   [`ERROR_POSITION_METADATA_KEY`]).
//!
//! Decoding a Query stream into values is the client's business
//! (`arrayq-client`); splitting results into messages is the server's.
//!
//! Generated items: `v1::array_q_server::{ArrayQ, ArrayQServer}` (server
//! trait and service) and `v1::array_q_client::ArrayQClient`.

use std::fmt;

use tonic::Status;

/// Generated protobuf messages and tonic client/server for `arrayq.v1`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    tonic::include_proto!("arrayq.v1");
}

pub use prost::bytes::Bytes;
/// The protobuf codec of the generated services, for code that frames or decodes
/// messages itself.
pub use tonic_prost::ProstCodec;
use v1::{DType, WriteHeader, WriteRequest};

mod messages;
mod position;

pub use messages::region_cells;
pub use position::{error_position, invalid_argument_at, status_at};

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

/// Most bytes of text one `DataBlock.strings` carries (the strings' UTF-8 bytes plus
/// protobuf's length prefix of each), so a block of a STRING column stays under the
/// same 4 MiB message bound as a block of raw elements.
pub const MAX_STRING_BLOCK_BYTES: usize = MAX_BLOCK_BYTES;

// ---------------------------------------------------------------------------
// DType
// ---------------------------------------------------------------------------

impl DType {
    /// All types an attribute can have, in `arrayq-format`'s order (`String` is a
    /// result-only type: catalog listings and DDL outcomes, never stored).
    pub fn elements() -> impl Iterator<Item = DType> {
        arrayq_format::DType::ALL.into_iter().map(DType::from)
    }

    /// The element type this wire type carries; `None` for `Unspecified` and for the
    /// result-only `String`. The one mapping between the wire and `arrayq-format`.
    pub const fn element(self) -> Option<arrayq_format::DType> {
        use arrayq_format::DType as E;
        Some(match self {
            DType::Unspecified | DType::String => return None,
            DType::F32 => E::F32,
            DType::F64 => E::F64,
            DType::I8 => E::I8,
            DType::I16 => E::I16,
            DType::I32 => E::I32,
            DType::I64 => E::I64,
            DType::U8 => E::U8,
            DType::U16 => E::U16,
            DType::U32 => E::U32,
            DType::U64 => E::U64,
            DType::Bool => E::Bool,
        })
    }

    /// Size of one element in bytes (BOOL: 1). `0` for `Unspecified` and for
    /// `String`, whose values travel as text (`DataBlock.strings`), not as bytes.
    pub fn size_bytes(self) -> usize {
        self.element().map_or(0, |e| e.size())
    }

    /// Short lower-case name: `"f32"`, `"i64"`, `"bool"`, ... (`"unspecified"`,
    /// `"string"`), the element type's name from `arrayq-format`.
    pub fn short_name(self) -> &'static str {
        match self {
            DType::Unspecified => "unspecified",
            DType::String => "string",
            d => d.element().map_or("", |e| e.name()),
        }
    }

    /// Parses a type name, case-insensitively: proto names (`D_TYPE_F32`) and
    /// every name of the one mapping, `arrayq_format::DType::from_name` (short
    /// names, SQL names with SQL's meaning: `int8` is I64, `int1`/`tinyint` I8).
    pub fn from_name(name: &str) -> Option<DType> {
        let lower = name.trim().to_ascii_lowercase();
        let n = lower.strip_prefix("d_type_").unwrap_or(&lower);
        arrayq_format::DType::from_name(n).map(DType::from)
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

    /// True for the result-only text type.
    pub const fn is_string(self) -> bool {
        matches!(self, DType::String)
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

impl From<arrayq_format::DType> for DType {
    fn from(e: arrayq_format::DType) -> DType {
        use arrayq_format::DType as E;
        match e {
            E::F32 => DType::F32,
            E::F64 => DType::F64,
            E::I8 => DType::I8,
            E::I16 => DType::I16,
            E::I32 => DType::I32,
            E::I64 => DType::I64,
            E::U8 => DType::U8,
            E::U16 => DType::U16,
            E::U32 => DType::U32,
            E::U64 => DType::U64,
            E::Bool => DType::Bool,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_name())
    }
}

// ---------------------------------------------------------------------------
// Write streams
// ---------------------------------------------------------------------------

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
// Protocol violations
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

#[cfg(test)]
mod tests {
    use super::v1::*;
    use super::*;
    use prost::Message;

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
        assert_eq!(DType::elements().count(), 11);
        for d in DType::elements() {
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
        // STRING is a valid result column type without a byte size and is no
        // attribute type.
        assert_eq!(DType::from_wire(DType::String as i32), Ok(DType::String));
        assert_eq!(DType::String.size_bytes(), 0);
        assert!(DType::elements().all(|d| d != DType::String));
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
                ..Default::default()
            }],
            expect_version: Some(4),
        };
        assert_eq!(region_cells(&header.region), Some(6));
        let x: Vec<u8> = (0..6i64).flat_map(|v| v.to_le_bytes()).collect();
        let flag = vec![1u8, 0, 1, 0, 1, 0];
        let mut reqs = write_requests(header.clone(), vec![x.clone(), flag.clone()]);
        let first = reqs.next().unwrap().into_header().unwrap();
        assert_eq!(first, header);
        // The blocks carry each attribute's bytes in order, under the message bound.
        let mut got: Vec<Vec<u8>> = vec![Vec::new(), Vec::new()];
        for r in reqs {
            let r = WriteRequest::decode(r.encode_to_vec().as_slice()).unwrap();
            let Some(write_request::Msg::Data(b)) = r.msg else {
                panic!("a data block after the header");
            };
            assert!(b.data.len() <= MAX_BLOCK_BYTES);
            let k = b.attribute as usize;
            assert_eq!(b.byte_offset, got[k].len() as u64);
            got[k].extend_from_slice(&b.data);
        }
        assert_eq!(got, vec![x, flag]);
    }
}
