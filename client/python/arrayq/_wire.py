"""Decoding of Query streams (docs/grpc.md, "Query"): header, coordinate blocks,
data blocks (raw elements or stored chunks) and footer.

The streamed messages arrive as the serialized bytes gRPC received. Small parts
(header, footer, coordinate blocks, the stored-chunk description) are parsed with the
generated protobuf classes; the payload of a DataBlock is never copied into a
protobuf message: its bytes are read in place and written once into the result
column (raw elements: one copy; stored chunks: checked with CRC32, decompressed and
un-shuffled straight into the column).
"""
from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Tuple

import numpy as np
import zstandard

from .errors import ProtocolError
from .v1 import arrayq_pb2 as pb

#: Largest DataBlock / WriteBlock payload (4 MiB - 64 KiB).
MAX_BLOCK_BYTES = 4 * 1024 * 1024 - 64 * 1024

#: numpy dtype of each wire DType (STRING columns become object arrays of str).
NUMPY_DTYPES: Dict[int, np.dtype] = {
    pb.D_TYPE_F32: np.dtype("<f4"),
    pb.D_TYPE_F64: np.dtype("<f8"),
    pb.D_TYPE_I8: np.dtype("i1"),
    pb.D_TYPE_I16: np.dtype("<i2"),
    pb.D_TYPE_I32: np.dtype("<i4"),
    pb.D_TYPE_I64: np.dtype("<i8"),
    pb.D_TYPE_U8: np.dtype("u1"),
    pb.D_TYPE_U16: np.dtype("<u2"),
    pb.D_TYPE_U32: np.dtype("<u4"),
    pb.D_TYPE_U64: np.dtype("<u8"),
    pb.D_TYPE_BOOL: np.dtype("?"),
    pb.D_TYPE_STRING: np.dtype(object),
}

# Stored chunks are decoded on a few threads (zstd, zlib and numpy's copies release
# the GIL), so decoding keeps up with the network.
_DECODE_THREADS = 4
_pool: Optional[ThreadPoolExecutor] = None
_pool_pid: Optional[int] = None


def _decode_pool() -> ThreadPoolExecutor:
    import os

    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        _pool = ThreadPoolExecutor(_DECODE_THREADS, thread_name_prefix="arrayq-decode")
        _pool_pid = os.getpid()
    return _pool


def numpy_dtype(dtype: int) -> np.dtype:
    try:
        return NUMPY_DTYPES[dtype]
    except KeyError:
        raise ProtocolError(f"unknown dtype {dtype} in a result header") from None


def _varint(buf: bytes, pos: int) -> Tuple[int, int]:
    result = 0
    shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtocolError("malformed varint in a Query message")


def _skip(buf: bytes, pos: int, wire_type: int) -> int:
    if wire_type == 0:
        return _varint(buf, pos)[1]
    if wire_type == 1:
        return pos + 8
    if wire_type == 2:
        n, pos = _varint(buf, pos)
        return pos + n
    if wire_type == 5:
        return pos + 4
    raise ProtocolError(f"unsupported wire type {wire_type} in a Query message")


class Stats:
    """Execution statistics of a query (the footer)."""

    __slots__ = ("chunks_read", "bytes_read", "bytes_decoded", "elapsed_ns", "layout", "version")

    def __init__(self, s: "pb.QueryStats") -> None:
        self.chunks_read: int = s.chunks_read
        self.bytes_read: int = s.bytes_read
        self.bytes_decoded: int = s.bytes_decoded
        self.elapsed_ns: int = s.elapsed_ns
        self.layout: str = s.layout
        self.version: int = s.version

    def __repr__(self) -> str:
        return (
            f"Stats(chunks_read={self.chunks_read}, bytes_read={self.bytes_read}, "
            f"bytes_decoded={self.bytes_decoded}, elapsed_ns={self.elapsed_ns}, "
            f"layout={self.layout!r}, version={self.version})"
        )


class Assembler:
    """Builds a result from the serialized QueryResponse messages of one stream."""

    def __init__(self) -> None:
        self.header: Optional[pb.ResultHeader] = None
        self.columns: List[np.ndarray] = []
        self.coordinate_rest: List[list] = []
        self.received: List[int] = []
        self.stats: Optional[Stats] = None
        self.stored_blocks = 0
        self.bytes_received = 0
        self._pending: list = []  # futures of stored-chunk decoding
        self._n = 0

    # -------------------------------------------------------------- messages

    def feed(self, buf: bytes) -> None:
        """Takes one serialized QueryResponse."""
        self.bytes_received += len(buf)
        pos, end = 0, len(buf)
        while pos < end:
            tag, pos = _varint(buf, pos)
            field, wt = tag >> 3, tag & 7
            if wt != 2:
                pos = _skip(buf, pos, wt)
                continue
            n, pos = _varint(buf, pos)
            a, b = pos, pos + n
            pos = b
            if field == 2:
                self._data_block(buf, a, b)
            elif field == 1:
                self._on_header(pb.ResultHeader.FromString(buf[a:b]))
            elif field == 4:
                self._on_coordinates(pb.CoordinateBlock.FromString(buf[a:b]))
            elif field == 3:
                self._finish_pending()
                self.stats = Stats(pb.ResultFooter.FromString(buf[a:b]).stats)

    def _on_header(self, h: "pb.ResultHeader") -> None:
        if self.header is not None:
            raise ProtocolError("a second result header in one Query stream")
        self.header = h
        n = 1
        if not h.scalar:
            for s in h.shape:
                n *= int(s)
        self._n = n
        self.columns = []
        for c in h.columns:
            dt = numpy_dtype(c.dtype)
            self.columns.append(np.empty(n, dtype=dt))
        self.received = [0] * len(h.columns)
        self.coordinate_rest = [[] for _ in h.dimensions]

    def _on_coordinates(self, c: "pb.CoordinateBlock") -> None:
        if self.header is None or c.dimension >= len(self.coordinate_rest):
            raise ProtocolError("a coordinate block before the header or for an unknown dimension")
        rest = self.coordinate_rest[c.dimension]
        if c.texts:
            rest.extend(c.texts)
        elif c.ints:
            rest.extend(c.ints)
        else:
            rest.extend(c.values)

    def _data_block(self, buf: bytes, start: int, end: int) -> None:
        if self.header is None:
            raise ProtocolError("a data block before the header")
        column = 0
        offset = 0
        data_a = data_b = start
        stored = None
        strings: Optional[list] = None
        pos = start
        while pos < end:
            tag, pos = _varint(buf, pos)
            field, wt = tag >> 3, tag & 7
            if field == 1 and wt == 0:
                column, pos = _varint(buf, pos)
            elif field == 2 and wt == 0:
                offset, pos = _varint(buf, pos)
            elif field == 3 and wt == 2:
                n, pos = _varint(buf, pos)
                data_a, data_b = pos, pos + n
                pos += n
            elif field == 4 and wt == 2:
                n, pos = _varint(buf, pos)
                stored = pb.StoredChunks.FromString(buf[pos : pos + n])
                pos += n
            elif field == 5 and wt == 2:
                n, pos = _varint(buf, pos)
                if strings is None:
                    strings = []
                strings.append(bytes(buf[pos : pos + n]).decode("utf-8"))
                pos += n
            else:
                pos = _skip(buf, pos, wt)
        if column >= len(self.columns):
            raise ProtocolError(f"a data block for column {column} of {len(self.columns)}")
        col = self.columns[column]
        if strings is not None:
            count = len(strings)
            self._check_range(column, offset, count)
            col[offset : offset + count] = strings
            self.received[column] += count
            return
        itemsize = col.dtype.itemsize
        if stored is not None:
            count = sum(stored.elements)
            self._check_range(column, offset, count)
            target = col[offset : offset + count].view(np.uint8)
            self.stored_blocks += 1
            self._pending.append(
                _decode_pool().submit(_decode_stored, buf, data_a, data_b, stored, target, itemsize, column, offset)
            )
            self.received[column] += count
            return
        nbytes = data_b - data_a
        if nbytes % itemsize:
            raise ProtocolError(f"a data block of {nbytes} bytes for a column of {itemsize}-byte elements")
        count = nbytes // itemsize
        self._check_range(column, offset, count)
        # The only copy: from the received message into the column.
        col[offset : offset + count].view(np.uint8)[:] = np.frombuffer(buf, np.uint8, nbytes, data_a)
        self.received[column] += count

    def _check_range(self, column: int, offset: int, count: int) -> None:
        if offset + count > self._n:
            raise ProtocolError(
                f"a data block for elements {offset}..{offset + count} of column {column} "
                f"holding {self._n} elements"
            )

    def _finish_pending(self) -> None:
        pending, self._pending = self._pending, []
        for f in pending:
            f.result()  # re-raises a checksum or codec error

    def cancel_pending(self) -> None:
        for f in self._pending:
            f.cancel()
        self._pending = []

    # -------------------------------------------------------------- end

    def finish(self) -> None:
        """Checks that the stream was complete."""
        self._finish_pending()
        if self.header is None:
            raise ProtocolError("the Query stream ended without a header")
        if self.stats is None:
            raise ProtocolError("the Query stream ended without its footer (incomplete result)")
        for k, got in enumerate(self.received):
            if got != self._n:
                raise ProtocolError(f"column {k} got {got} of {self._n} elements")


def _decode_stored(
    buf: bytes,
    a: int,
    b: int,
    stored: "pb.StoredChunks",
    target: np.ndarray,
    itemsize: int,
    column: int,
    offset: int,
) -> None:
    """Decodes the stored chunks in ``buf[a:b]`` into ``target`` (uint8, exactly their
    decoded size); see docs/grpc.md, "Stored chunks"."""
    view = memoryview(buf)
    codecs = list(stored.codecs)
    if len(stored.elements) != len(stored.bytes):
        raise ProtocolError("a stored-chunk description with unequal elements and bytes lists")
    pos = a
    out = 0
    element = offset
    for n_elem, n_bytes in zip(stored.elements, stored.bytes):
        n_elem = int(n_elem)
        n_bytes = int(n_bytes)
        if n_bytes < 4 or pos + n_bytes > b:
            raise ProtocolError(f"stored chunk of column {column} at element {element} overruns its block")
        payload = view[pos : pos + n_bytes - 4]
        crc = int.from_bytes(view[pos + n_bytes - 4 : pos + n_bytes], "little")
        if zlib.crc32(payload) != crc:
            raise ProtocolError(
                f"stored chunk of column {column} at element {element}: CRC32 mismatch "
                "(corrupt on disk or in transfer)"
            )
        size = n_elem * itemsize
        decode_chunk(payload, codecs, target[out : out + size], column, element)
        pos += n_bytes
        out += size
        element += n_elem
    if pos != b or out != len(target):
        raise ProtocolError(f"stored chunks of column {column} at element {offset} do not add up to their block")


def decode_chunk(payload, codecs, target: np.ndarray, column: int = 0, element: int = 0) -> None:
    """Runs the codec chain (listed in encoding order) backwards over ``payload``,
    writing the raw elements into ``target`` (a uint8 array of their exact size)."""
    size = len(target)
    src = payload
    steps = list(reversed(codecs))
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        kind = step.WhichOneof("step")
        if kind == "zstd_level":
            if last:
                _zstd_into(src, target, column, element)
                return
            src = zstandard.ZstdDecompressor().decompress(src, max_output_size=size)
            if len(src) != size:
                raise ProtocolError(f"stored chunk of column {column} at element {element}: wrong decoded size")
        elif kind == "shuffle_element_size":
            # Byte b of element i was moved to b * n + i (n whole k-byte elements;
            # the layout's k can differ from the column's element size); trailing
            # bytes that make no whole element stayed in place (docs/format.md).
            k = step.shuffle_element_size
            if k <= 0:
                raise ProtocolError(f"stored chunk of column {column}: shuffle of {k}-byte elements")
            if len(src) != size:
                raise ProtocolError(f"stored chunk of column {column} at element {element}: wrong size")
            n = size // k
            main = n * k
            raw = np.frombuffer(src, np.uint8, size)
            dest = target if last else np.empty(size, np.uint8)
            elements = dest[:main].reshape(n, k)
            for b in range(k):  # plane by plane: much faster than one transposed copy
                elements[:, b] = raw[b * n : (b + 1) * n]
            dest[main:] = raw[main:]
            if last:
                return
            src = dest
        else:
            raise ProtocolError(f"stored chunk of column {column}: unknown codec step {step}")
    # No codec (raw chunk) or a chain that ended on an intermediate buffer.
    if len(src) != size:
        raise ProtocolError(f"stored chunk of column {column} at element {element}: wrong size")
    target[:] = np.frombuffer(src, np.uint8, size)


def _zstd_into(src, target: np.ndarray, column: int, element: int) -> None:
    size = len(target)
    dctx = zstandard.ZstdDecompressor()
    out = target.data  # a writable memoryview of the column
    got = 0
    with dctx.stream_reader(src, read_across_frames=False) as reader:
        while got < size:
            n = reader.readinto(out[got:])
            if not n:
                break
            got += n
        extra = reader.read(1) if got == size else b""
    if got != size or extra:
        raise ProtocolError(f"stored chunk of column {column} at element {element}: wrong decoded size")
