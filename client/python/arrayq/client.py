"""The arrayq client: a gRPC connection and the calls of the ``arrayq.v1`` API."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import grpc
import numpy as np

from . import schema as _schema
from ._address import Address, parse_address
from ._result import QueryResult, XarrayObject
from ._wire import MAX_BLOCK_BYTES, Assembler, Stats
from .errors import ArrayQError, NotFoundError, ProtocolError, from_rpc_error
from .schema import ArrayInfo, ArraySummary
from .v1 import arrayq_pb2 as pb

_SERVICE = "/arrayq.v1.ArrayQ/"

# Generous receive limit: the server keeps streamed messages under 4 MiB, but a
# DescribeArray of an array with very many labels can be larger.
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]

_KINDS = {
    pb.CHANGE_KIND_CREATE: "create",
    pb.CHANGE_KIND_WRITE: "write",
    pb.CHANGE_KIND_ADD_LAYOUT: "add_layout",
    pb.CHANGE_KIND_DROP: "drop",
    pb.CHANGE_KIND_ADD_ROLLUP: "add_rollup",
    pb.CHANGE_KIND_DROP_ROLLUP: "drop_rollup",
}


@dataclass(frozen=True)
class Health:
    """``Client.health()``: whether the server serves, its version and uptime."""

    serving: bool
    version: str
    uptime_s: int


@dataclass(frozen=True)
class WriteResult:
    """A committed write: the version it made, its time and the cells written."""

    version: int
    timestamp: np.datetime64
    cells_written: int


@dataclass(frozen=True)
class Extent:
    """Extent of a change along one dimension: indices ``start..end`` (exclusive),
    the coordinates of the first and last as text, and as numbers (not for time)."""

    start: int
    end: int
    start_text: str
    end_text: str
    start_value: Optional[float] = None
    end_value: Optional[float] = None


@dataclass(frozen=True)
class ChangeEvent:
    """One commit, as sent by Subscribe. ``kind`` is ``"create"``, ``"write"``,
    ``"add_layout"``, ``"drop"``, ``"add_rollup"``, ``"drop_rollup"`` or
    ``"unknown"``; ``region`` maps each written dimension to its :class:`Extent`
    (writes only)."""

    seq: int
    array: str
    kind: str
    version: int
    timestamp: np.datetime64
    cells_written: int
    region: Dict[str, Extent]

    @classmethod
    def from_proto(cls, ev: "pb.ChangeEvent") -> "ChangeEvent":
        region = {}
        for r in ev.region:
            region[r.dim] = Extent(
                int(r.start),
                int(r.end),
                r.start_text,
                r.end_text,
                r.start_value if r.HasField("start_value") else None,
                r.end_value if r.HasField("end_value") else None,
            )
        return cls(
            seq=int(ev.seq),
            array=ev.array,
            kind=_KINDS.get(ev.kind, "unknown"),
            version=int(ev.version),
            timestamp=np.datetime64(int(ev.timestamp_ns), "ns"),
            cells_written=int(ev.cells_written),
            region=region,
        )


@dataclass(frozen=True)
class Explain:
    """``Client.explain()``: the plan text, the chosen layout, every candidate layout
    as ``(name, chunks, bytes)`` and, with ``analyze``, the statistics."""

    text: str
    layout: str
    candidates: Tuple[Tuple[str, int, int], ...]
    stats: Optional[Stats]


class Subscription(Iterator[ChangeEvent]):
    """An open Subscribe stream: iterate it for :class:`ChangeEvent` s (it never ends
    on its own); :meth:`cancel` (or leaving a ``with`` block) stops it."""

    def __init__(self, call: Any) -> None:
        self._call = call
        self._cancelled = False
        # Wait for the server's response headers: by then the subscription is
        # registered (no commit after this returns is missed) and an unknown array
        # has already failed.
        try:
            call.initial_metadata()
        except grpc.RpcError as e:  # pragma: no cover - depends on grpc internals
            raise from_rpc_error(e) from None
        if call.done() and call.code() != grpc.StatusCode.OK:
            raise from_rpc_error(call)

    def __iter__(self) -> "Subscription":
        return self

    def __next__(self) -> ChangeEvent:
        try:
            ev = next(self._call)
        except grpc.RpcError as e:
            if self._cancelled and e.code() == grpc.StatusCode.CANCELLED:
                raise StopIteration from None
            raise from_rpc_error(e) from None
        return ChangeEvent.from_proto(ev)

    def cancel(self) -> None:
        """Stops the stream; iteration then ends."""
        self._cancelled = True
        self._call.cancel()

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cancel()


class Client:
    """A connection to an arrayq server. Make one with :func:`connect`.

    Thread-safe: one client (one HTTP/2 channel) serves many threads at once.
    """

    def __init__(
        self,
        addr: str,
        token: Optional[str] = None,
        *,
        ca_cert: Optional[Union[str, bytes, os.PathLike]] = None,
        tls_domain: Optional[str] = None,
        timeout: Optional[float] = None,
        options: Optional[Sequence[Tuple[str, Any]]] = None,
    ) -> None:
        self.address: Address = parse_address(addr)
        self.addr = addr
        self._token = token
        self._ca_cert = ca_cert
        self._tls_domain = tls_domain
        self.timeout = timeout
        opts = list(_CHANNEL_OPTIONS) + list(options or [])
        tls = self.address.tls or ca_cert is not None
        if tls:
            root = None
            if ca_cert is not None:
                root = ca_cert if isinstance(ca_cert, bytes) else open(ca_cert, "rb").read()
            if tls_domain:
                opts.append(("grpc.ssl_target_name_override", tls_domain))
            creds = grpc.ssl_channel_credentials(root_certificates=root)
            self._channel = grpc.secure_channel(self.address.target, creds, options=opts)
        else:
            self._channel = grpc.insecure_channel(self.address.target, options=opts)
        self._metadata: Tuple[Tuple[str, str], ...] = (("authorization", f"Bearer {token}"),) if token else ()
        ch = self._channel

        def unary(name: str, req: Any, resp: Any) -> Any:
            return ch.unary_unary(_SERVICE + name, request_serializer=req.SerializeToString, response_deserializer=resp.FromString)

        self._health = unary("Health", pb.HealthRequest, pb.HealthResponse)
        self._create = unary("CreateArray", pb.CreateArrayRequest, pb.CreateArrayResponse)
        self._drop = unary("DropArray", pb.DropArrayRequest, pb.DropArrayResponse)
        self._list = unary("ListArrays", pb.ListArraysRequest, pb.ListArraysResponse)
        self._describe = unary("DescribeArray", pb.DescribeArrayRequest, pb.DescribeArrayResponse)
        self._explain = unary("Explain", pb.ExplainRequest, pb.ExplainResponse)
        # Query responses stay serialized bytes: see _wire.Assembler.
        self._query = ch.unary_stream(_SERVICE + "Query", request_serializer=pb.QueryRequest.SerializeToString)
        self._subscribe = ch.unary_stream(
            _SERVICE + "Subscribe",
            request_serializer=pb.SubscribeRequest.SerializeToString,
            response_deserializer=pb.ChangeEvent.FromString,
        )
        # Write requests are serialized here (the data blocks without a copy into a message).
        self._write = ch.stream_unary(_SERVICE + "Write", response_deserializer=pb.WriteResponse.FromString)
        self._lock = threading.Lock()

    # ------------------------------------------------------------ plumbing

    def _call(self, fn: Any, req: Any, timeout: Optional[float] = None) -> Any:
        try:
            return fn(req, timeout=timeout if timeout is not None else self.timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    def connection_args(self) -> Dict[str, Any]:
        """What :func:`connect` needs to open an equivalent client (elsewhere, for
        example in a Dask worker)."""
        return {
            "addr": self.addr,
            "token": self._token,
            "ca_cert": self._ca_cert,
            "tls_domain": self._tls_domain,
            "timeout": self.timeout,
        }

    def close(self) -> None:
        """Closes the channel (running calls are cancelled)."""
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"arrayq.Client({self.addr!r})"

    # ------------------------------------------------------------ calls

    def health(self, timeout: Optional[float] = None) -> Health:
        """Serving state (never needs the token)."""
        r = self._call(self._health, pb.HealthRequest(), timeout)
        return Health(r.status == pb.SERVING_STATUS_SERVING, r.version, int(r.uptime_s))

    def query(
        self,
        sql: str,
        *,
        stored_chunks: bool = True,
        max_result_bytes: int = 0,
        timeout: Optional[float] = None,
    ) -> XarrayObject:
        """Runs one SQL statement; the result as an ``xarray.DataArray`` (one column)
        or ``xarray.Dataset`` (several), with the result's coordinates (times as
        ``datetime64[ns]``) and attrs naming the query, version and layout read.

        Args:
            sql: the statement (arrayq SQL, docs/query-language.md).
            stored_chunks: let the server send whole chunks as stored (compressed);
                they are checked and decoded here. False asks for raw values only.
            max_result_bytes: fail with ResourceExhaustedError past this many result
                bytes (0: the server's limit).
            timeout: seconds (default: the client's timeout, else none).

        Raises:
            ArrayQError: (a subclass per status code) with the server's message and,
                for errors in the SQL text, ``position`` (line, column).
        """
        return self.query_result(
            sql, stored_chunks=stored_chunks, max_result_bytes=max_result_bytes, timeout=timeout
        ).to_xarray()

    def query_result(
        self,
        sql: str,
        *,
        stored_chunks: bool = True,
        max_result_bytes: int = 0,
        timeout: Optional[float] = None,
    ) -> QueryResult:
        """As :meth:`query`, the result as numpy arrays with the statistics
        (:class:`~arrayq.QueryResult`)."""
        req = pb.QueryRequest(sql=sql, max_result_bytes=max_result_bytes, accept_stored_chunks=stored_chunks)
        asm = Assembler()
        call = self._query(req, timeout=timeout if timeout is not None else self.timeout, metadata=self._metadata)
        try:
            for raw in call:
                asm.feed(raw)
            asm.finish()
        except grpc.RpcError as e:
            asm.cancel_pending()
            raise from_rpc_error(e) from None
        except BaseException:
            asm.cancel_pending()
            call.cancel()
            raise
        return QueryResult.from_assembler(sql, asm)

    def explain(self, sql: str, analyze: bool = False, timeout: Optional[float] = None) -> Explain:
        """The plan of a query (``analyze``: also run it and report statistics)."""
        r = self._call(self._explain, pb.ExplainRequest(sql=sql, analyze=analyze), timeout)
        return Explain(
            r.text,
            r.layout,
            tuple((c.name, int(c.chunks), int(c.bytes)) for c in r.candidates),
            Stats(r.stats) if r.HasField("stats") else None,
        )

    def arrays(self, timeout: Optional[float] = None) -> List[ArraySummary]:
        """All arrays, by name."""
        r = self._call(self._list, pb.ListArraysRequest(), timeout)
        return [
            ArraySummary(
                a.name,
                tuple(a.dimensions),
                tuple(int(s) for s in a.shape),
                tuple(a.attributes),
                int(a.head_version),
            )
            for a in r.arrays
        ]

    def describe(
        self,
        name: str,
        *,
        max_commits: int = 0,
        omit_labels: bool = False,
        timeout: Optional[float] = None,
    ) -> ArrayInfo:
        """Schema (current lengths, coordinates), head version, history and storage of
        one array. Raises NotFoundError when there is no such array."""
        r = self._call(
            self._describe,
            pb.DescribeArrayRequest(name=name, max_commits=max_commits, omit_labels=omit_labels),
            timeout,
        )
        return ArrayInfo.from_proto(r)

    def create_array(self, definition: Union[str, "pb.ArraySchema"], timeout: Optional[float] = None) -> ArrayInfo:
        """Creates an array from a ``CREATE ARRAY`` statement or a wire schema."""
        if isinstance(definition, str):
            req = pb.CreateArrayRequest(sql=definition)
        else:
            req = pb.CreateArrayRequest(schema=definition)
        r = self._call(self._create, req, timeout)
        return self.describe(r.schema.name, timeout=timeout)

    def drop_array(self, name: str, *, missing_ok: bool = False, timeout: Optional[float] = None) -> None:
        """Deletes an array with its history."""
        try:
            self._call(self._drop, pb.DropArrayRequest(name=name), timeout)
        except NotFoundError:
            if not missing_ok:
                raise

    def subscribe(self, array: Optional[str] = None, from_seq: Optional[int] = None) -> Subscription:
        """Change events of one array (``None``: all arrays), as an iterator.

        ``from_seq=None`` gives the commits made after this call returns; ``from_seq=N``
        first replays the logged events from sequence number N (1: all), then goes on
        live. Resume after a disconnect with the last seen ``seq + 1``.
        """
        req = pb.SubscribeRequest(array=array or "", from_seq=int(from_seq or 0))
        try:
            call = self._subscribe(req, metadata=self._metadata)
        except grpc.RpcError as e:  # pragma: no cover
            raise from_rpc_error(e) from None
        return Subscription(call)

    def write(
        self,
        name: str,
        data: XarrayObject,
        *,
        expect_version: Optional[int] = None,
        create: bool = True,
        chunks: Optional[Union[Mapping[str, int], Sequence[int]]] = None,
        growable: Optional[Sequence[str]] = None,
        steps: Optional[Mapping[str, Any]] = None,
        timeout: Optional[float] = None,
    ) -> WriteResult:
        """Writes an ``xarray.DataArray`` (one attribute, named after the DataArray, or
        ``"value"``) or ``Dataset`` (one attribute per data variable) into array
        ``name``, placed by its coordinates; committed atomically as one version.

        When the array does not exist (and ``create``), it is created from the data's
        coordinates: datetime64 -> a time dimension, evenly spaced numbers -> a regular
        dimension, other integers -> labels, strings -> text labels, no coordinate ->
        a plain index; ``chunks`` (per dimension) sets the layout (default: the
        server's), ``growable`` the dimensions that may grow (default: time and label
        dimensions), ``steps`` the step of a dimension with a single coordinate.
        Otherwise the coordinates must lie on the array's grid (labels not yet in a
        growable labels dimension are appended) and cover a dense box.
        """
        import xarray as xr

        if isinstance(data, xr.DataArray):
            var_name = data.name if data.name is not None else "value"
            ds = data.to_dataset(name=str(var_name))
        elif isinstance(data, xr.Dataset):
            ds = data
        else:
            raise TypeError(f"write() takes an xarray DataArray or Dataset, not {type(data).__name__}")
        variables = list(ds.data_vars)
        if not variables:
            raise ValueError("nothing to write: the Dataset has no data variables")
        dims = list(ds[variables[0]].dims)
        for v in variables[1:]:
            if set(ds[v].dims) != set(dims):
                raise ValueError(f"data variables {variables[0]!r} and {v!r} have different dimensions")
        try:
            info: Optional[ArrayInfo] = self.describe(name, timeout=timeout)
        except NotFoundError:
            if not create:
                raise
            info = None
        if info is None:
            self._create_from(name, ds, variables, dims, chunks, growable, steps, timeout)
            info = self.describe(name, timeout=timeout)
        return self._write_into(info, ds, variables, expect_version, timeout)

    def _create_from(self, name, ds, variables, dims, chunks, growable, steps, timeout) -> None:
        grow = set(growable) if growable is not None else None
        pdims = []
        for d in dims:
            coord = ds.coords[d].values if d in ds.coords else None
            pdims.append(
                _schema.dimension_from_coords(
                    d,
                    coord,
                    int(ds.sizes[d]),
                    growable=None if grow is None else d in grow,
                    step=(steps or {}).get(d),
                )
            )
            if d in ds.coords:
                pdims[-1].metadata.update(_schema.text_metadata(ds.coords[d].attrs))
        attrs = [
            _schema.attribute_for(v, ds[v].dtype, ds[v].attrs, ds[v].encoding) for v in variables
        ]
        layouts = []
        if chunks is not None:
            shape = [int(chunks[d]) for d in dims] if isinstance(chunks, Mapping) else [int(c) for c in chunks]
            if len(shape) != len(dims):
                raise ValueError(f"chunks has {len(shape)} extents for {len(dims)} dimensions")
            layouts.append(pb.Layout(name="primary", chunk_shape=shape, zstd_level=3, shuffle=True))
        schema = pb.ArraySchema(
            name=name,
            dimensions=pdims,
            attributes=attrs,
            layouts=layouts,
            metadata=_schema.text_metadata(ds.attrs),
        )
        self._call(self._create, pb.CreateArrayRequest(schema=schema), timeout)

    def _write_into(self, info: ArrayInfo, ds, variables, expect_version, timeout) -> WriteResult:
        array_dims = list(info.dim_names)
        data_dims = list(ds[variables[0]].dims)
        if set(data_dims) != set(array_dims):
            raise ValueError(f"the data's dimensions {data_dims} are not the array's {array_dims}")
        header = pb.WriteHeader(array=info.name, attributes=variables)
        if expect_version is not None:
            header.expect_version = int(expect_version)
        reorder = {}
        for d in info.dims:
            coord = ds.coords[d.name].values if d.name in ds.coords else None
            p = _schema.place(d, coord, int(ds.sizes[d.name]))
            header.region.add(start=p.start, count=p.count)
            if p.order is not None:
                reorder[d.name] = p.order
            if p.append_labels:
                if d.kind == "text_labels":
                    header.labels.add(dim=d.name, text_labels=p.append_labels)
                else:
                    header.labels.add(dim=d.name, labels=p.append_labels)
        buffers = []
        for v in variables:
            attr = info.attribute(v)
            arr = ds[v]
            if reorder:
                arr = arr.isel(reorder)
            values = np.asarray(arr.transpose(*array_dims).values)
            target = attr.dtype.newbyteorder("<")
            if values.dtype != target:
                if values.dtype.kind == "f" and attr.dtype.kind in "iub" and np.isnan(values).any():
                    raise ValueError(f"{v!r} has NaN values; attribute {v!r} is {attr.dtype}")
                values = values.astype(target)
            buffers.append(np.ascontiguousarray(values))

        def requests() -> Iterator[bytes]:
            yield pb.WriteRequest(header=header).SerializeToString()
            for k, buf in enumerate(buffers):
                raw = buf.reshape(-1).view(np.uint8).data
                for off in range(0, len(raw), MAX_BLOCK_BYTES):
                    yield _write_block(k, off, raw[off : off + MAX_BLOCK_BYTES])

        try:
            r = self._write(requests(), timeout=timeout if timeout is not None else self.timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        return WriteResult(int(r.version), np.datetime64(int(r.timestamp_ns), "ns"), int(r.cells_written))

    def open_array(self, name: str, chunks: Any = None, **kwargs: Any) -> XarrayObject:
        """:func:`arrayq.open_array` on this client's server."""
        from .lazy import open_array

        args = self.connection_args()
        args.pop("addr")
        return open_array(self.addr, name, chunks=chunks, **{**args, **kwargs})


def _varint_bytes(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _write_block(attribute: int, offset: int, data: memoryview) -> bytes:
    """A serialized ``WriteRequest{data: WriteBlock{attribute, byte_offset, data}}``:
    the payload is copied once, into the message."""
    inner_head = b""
    if attribute:
        inner_head += b"\x08" + _varint_bytes(attribute)
    if offset:
        inner_head += b"\x10" + _varint_bytes(offset)
    inner_head += b"\x1a" + _varint_bytes(len(data))
    inner_len = len(inner_head) + len(data)
    return b"".join((b"\x12", _varint_bytes(inner_len), inner_head, data))


def connect(
    addr: str,
    token: Optional[str] = None,
    *,
    ca_cert: Optional[Union[str, bytes, os.PathLike]] = None,
    tls_domain: Optional[str] = None,
    timeout: Optional[float] = None,
    options: Optional[Sequence[Tuple[str, Any]]] = None,
) -> Client:
    """Connects to an arrayq server.

    Args:
        addr: ``host:port``, or a URL: ``http://host:port``, ``https://host:port``
            (TLS), ``arrayq://host:port``. The port defaults to 50051.
        token: bearer token of a server started with ``--auth-token``.
        ca_cert: PEM (bytes, or a file path) of the CA that signed the server's
            certificate; implies TLS.
        tls_domain: the name in the server certificate, when connecting by IP.
        timeout: default deadline of every call, seconds (None: no deadline).
        options: extra grpcio channel options.

    The channel connects lazily: an unreachable server shows as an
    UnavailableError on the first call.
    """
    return Client(addr, token, ca_cert=ca_cert, tls_domain=tls_domain, timeout=timeout, options=options)


__all__ = [
    "ArrayQError",
    "ChangeEvent",
    "Client",
    "Explain",
    "Extent",
    "Health",
    "ProtocolError",
    "Subscription",
    "WriteResult",
    "connect",
]
