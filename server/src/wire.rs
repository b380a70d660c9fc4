//! The Query RPC without tonic's response encoder.
//!
//! tonic encodes every streamed message into its own buffer, so each 4 MiB
//! `DataBlock` was copied once more on its way from the engine to the socket. Here
//! Query responses are framed by hand (5-byte gRPC prefix, then the protobuf bytes):
//! a data block goes out as a short frame with the prefix and the block's small
//! fields, followed by its payload `Bytes` (the engine's buffer, handed to h2 and
//! written to the socket without a copy). The bytes on the wire are exactly what
//! prost would produce (see the tests), so the contract is unchanged. Every other
//! RPC goes to the generated `ArrayQServer`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use arrayq_proto::v1::array_q_server::ArrayQServer;
use arrayq_proto::v1::{query_response::Msg, DataBlock, QueryRequest, QueryResponse};
use arrayq_proto::{Bytes, ProstCodec};
use http::{HeaderMap, HeaderValue};
use http_body::Frame;
use prost::bytes::{BufMut, BytesMut};
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};
use prost::Message;
use tokio_stream::Stream;
use tonic::body::Body;
use tonic::codec::{Codec, Streaming};
use tonic::server::NamedService;
use tonic::{Code, Status};
use tower::Service;

use crate::frames::QueryFrame;
use crate::query::CallStream;
use crate::service::ArrayQService;

/// Path of the Query RPC.
const QUERY_PATH: &str = "/arrayq.v1.ArrayQ/Query";
/// Payloads up to this size are copied into the message's frame: one frame is
/// cheaper than two for small results (point queries).
const INLINE_BYTES: usize = 32 * 1024;

/// `ArrayQServer` with Query served by [`QueryBody`].
#[derive(Clone)]
pub struct ArrayQRoutes {
    inner: ArrayQServer<ArrayQService>,
    service: ArrayQService,
    max_message_bytes: usize,
}

impl ArrayQRoutes {
    /// Every RPC of `service` (messages of at most `max_message_bytes`), Query framed
    /// by [`QueryBody`].
    pub fn new(service: ArrayQService, max_message_bytes: usize) -> Self {
        let inner = ArrayQServer::new(service.clone())
            .max_decoding_message_size(max_message_bytes)
            .max_encoding_message_size(max_message_bytes);
        ArrayQRoutes {
            inner,
            service,
            max_message_bytes,
        }
    }
}

impl NamedService for ArrayQRoutes {
    const NAME: &'static str = arrayq_proto::SERVICE_NAME;
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send + 'static>>;

impl Service<http::Request<Body>> for ArrayQRoutes {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        if req.uri().path() != QUERY_PATH {
            return self.inner.call(req);
        }
        let service = self.service.clone();
        let max = self.max_message_bytes;
        Box::pin(async move {
            let response = match unary_request::<QueryRequest>(req, max).await {
                Ok(request) => service.query_frames(request).await,
                Err(status) => Err(status),
            };
            Ok(match response {
                Ok(r) => {
                    let mut http = http::Response::new(Body::new(QueryBody::new(r.into_inner())));
                    http.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        HeaderValue::from_static("application/grpc"),
                    );
                    http
                }
                Err(status) => status.into_http(),
            })
        })
    }
}

/// The single message of a unary request body (uncompressed, at most `max` bytes),
/// decoded by tonic's own request decoder.
async fn unary_request<M: Message + Default + Send + 'static>(
    req: http::Request<Body>,
    max: usize,
) -> Result<tonic::Request<M>, Status> {
    if let Some(enc) = req.headers().get("grpc-encoding") {
        if enc != "identity" {
            return Err(Status::unimplemented(format!(
                "request compression {enc:?} is not supported"
            )));
        }
    }
    let (parts, body) = req.into_parts();
    let decoder = ProstCodec::<M, M>::default().decoder();
    let msg = Streaming::new_request(decoder, body, None, Some(max))
        .message()
        .await?
        .ok_or_else(|| Status::internal("Missing request message."))?;
    Ok(tonic::Request::from_http(http::Request::from_parts(
        parts, msg,
    )))
}

/// The response body of a Query call: its messages framed by hand, then the
/// trailers with the call's status.
struct QueryBody {
    stream: CallStream<QueryFrame>,
    /// The rest of the block whose prefix was just sent: its payload (in pieces),
    /// then the fields after it.
    rest: VecDeque<Bytes>,
    done: bool,
}

impl QueryBody {
    fn new(stream: CallStream<QueryFrame>) -> Self {
        QueryBody {
            stream,
            rest: VecDeque::new(),
            done: false,
        }
    }
}

impl http_body::Body for QueryBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.get_mut();
        if let Some(p) = this.rest.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(p))));
        }
        if this.done {
            return Poll::Ready(None);
        }
        let status = match ready!(Pin::new(&mut this.stream).poll_next(cx)) {
            Some(Ok(msg)) => {
                let (head, rest) = frame_message(msg);
                this.rest = rest;
                return Poll::Ready(Some(Ok(Frame::data(head))));
            }
            Some(Err(status)) => status,
            None => Status::new(Code::Ok, ""),
        };
        this.done = true;
        Poll::Ready(Some(Ok(Frame::trailers(trailers(&status)))))
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.rest.is_empty()
    }
}

/// The trailers reporting `status`.
fn trailers(status: &Status) -> HeaderMap {
    let mut h = HeaderMap::new();
    if status.add_header(&mut h).is_err() {
        h.clear();
        let _ = Status::internal("invalid status").add_header(&mut h);
    }
    h
}

/// One response message as gRPC frame bytes: everything, or (for a large data
/// block) everything up to the payload, then the payload's pieces and the encoded
/// fields after it (stored-chunk descriptions) to send in that order.
fn frame_message(frame: QueryFrame) -> (Bytes, VecDeque<Bytes>) {
    match frame {
        QueryFrame::Stored { block, chunks } => frame_data(block, chunks),
        QueryFrame::Message(QueryResponse {
            msg: Some(Msg::Data(mut block)),
        }) if block.data.len() > INLINE_BYTES => {
            let payload = std::mem::take(&mut block.data);
            frame_data(block, vec![payload])
        }
        QueryFrame::Message(msg) => {
            let len = msg.encoded_len();
            let mut buf = BytesMut::with_capacity(5 + len);
            buf.put_u8(0);
            buf.put_u32(len as u32);
            msg.encode_raw(&mut buf);
            (buf.freeze(), VecDeque::new())
        }
    }
}

/// A data block whose `data` is the concatenation of `pieces`: the frame up to the
/// payload, then the pieces and the fields after `data`.
fn frame_data(mut block: DataBlock, pieces: Vec<Bytes>) -> (Bytes, VecDeque<Bytes>) {
    let payload_len: usize = pieces.iter().map(Bytes::len).sum();
    let tail = block.stored.take().map(|stored| {
        let mut t = BytesMut::with_capacity(prost::encoding::message::encoded_len(4, &stored));
        prost::encoding::message::encode(4, &stored, &mut t);
        t.freeze()
    });
    let head = DataBlock {
        data: Bytes::new(),
        ..block
    };
    let block_len = head.encoded_len()
        + key_len(3)
        + encoded_len_varint(payload_len as u64)
        + payload_len
        + tail.as_ref().map_or(0, Bytes::len);
    let msg_len = key_len(2) + encoded_len_varint(block_len as u64) + block_len;
    let mut buf = BytesMut::with_capacity(5 + msg_len - payload_len);
    buf.put_u8(0);
    buf.put_u32(msg_len as u32);
    encode_key(2, WireType::LengthDelimited, &mut buf);
    encode_varint(block_len as u64, &mut buf);
    // proto3 leaves default fields out and prost writes fields in tag order, so
    // `head` (fields 1 and 2), field 3, then field 4 is the full encoding.
    head.encode_raw(&mut buf);
    encode_key(3, WireType::LengthDelimited, &mut buf);
    encode_varint(payload_len as u64, &mut buf);
    let mut rest: VecDeque<Bytes> = pieces.into_iter().filter(|p| !p.is_empty()).collect();
    rest.extend(tail);
    (buf.freeze(), rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrayq_proto::v1::{QueryStats, ResultHeader};

    fn tonic_framing(msg: &QueryResponse) -> Vec<u8> {
        let body = msg.encode_to_vec();
        let mut v = vec![0u8];
        v.extend_from_slice(&(body.len() as u32).to_be_bytes());
        v.extend_from_slice(&body);
        v
    }

    #[test]
    fn frames_match_prost() {
        let big = Bytes::from((0..200_000u32).map(|i| i as u8).collect::<Vec<u8>>());
        let msgs = [
            QueryResponse::data(3, 1 << 40, big.clone()),
            QueryResponse::data(0, 0, big.slice(..40_000)),
            QueryResponse::from(DataBlock {
                column: 2,
                element_offset: 9,
                data: big.slice(..120_000),
                stored: Some(arrayq_proto::v1::StoredChunks {
                    codecs: vec![arrayq_proto::v1::CodecStep {
                        step: Some(arrayq_proto::v1::codec_step::Step::ZstdLevel(3)),
                    }],
                    elements: vec![70_000, 80_000],
                    bytes: vec![50_000, 70_000],
                }),
                strings: Vec::new(),
            }),
            QueryResponse::data(1, 7, vec![1, 2, 3, 4]),
            QueryResponse::header(ResultHeader {
                shape: vec![2, 3],
                notes: vec!["n".into()],
                ..Default::default()
            }),
            QueryResponse::footer(QueryStats {
                chunks_read: 5,
                ..Default::default()
            }),
        ];
        let stored_pieces = QueryFrame::Stored {
            block: DataBlock {
                column: 1,
                element_offset: 5,
                data: Bytes::new(),
                stored: Some(arrayq_proto::v1::StoredChunks {
                    codecs: vec![],
                    elements: vec![10, 20, 30],
                    bytes: vec![60_000, 0, 9],
                }),
                strings: Vec::new(),
            },
            chunks: vec![big.slice(..60_000), Bytes::new(), big.slice(7..16)],
        };
        let frames = msgs
            .into_iter()
            .map(QueryFrame::Message)
            .chain([stored_pieces]);
        for (i, f) in frames.enumerate() {
            let m = f.clone().into_message();
            let original = m.clone();
            let expected = tonic_framing(&m);
            let (head, rest) = frame_message(f);
            assert_eq!(!rest.is_empty(), i < 3 || i == 6, "message {i}");
            let mut got = head.to_vec();
            for p in rest {
                got.extend_from_slice(&p);
            }
            assert_eq!(got, expected, "message {i}");
            // And tonic's own decoder reads the frame back as the message.
            let body = http_body_util::Full::new(Bytes::from(got));
            let decoder = ProstCodec::<QueryResponse, QueryResponse>::default().decoder();
            let back = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(Streaming::new_request(decoder, body, None, None).message())
                .unwrap();
            assert_eq!(back.as_ref(), Some(&original), "message {i}");
        }
    }

    #[test]
    fn status_trailers() {
        let h = trailers(&Status::new(Code::Ok, ""));
        assert_eq!(h.get("grpc-status").unwrap(), "0");
        let h = trailers(&Status::invalid_argument("1:3: bad"));
        assert_eq!(h.get("grpc-status").unwrap(), "3");
        assert!(h.get("grpc-message").is_some());
    }
}
