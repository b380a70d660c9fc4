"""Offline tests: addresses, stream decoding (raw blocks, stored chunks), errors,
schema inference and region conditions. They need no server."""
from __future__ import annotations

import pickle
import zlib

import grpc
import numpy as np
import pandas as pd
import pytest
import zstandard

import arrayq
from arrayq import _wire, schema
from arrayq.errors import ProtocolError, from_rpc_error
from arrayq.v1 import arrayq_pb2 as pb


@pytest.mark.parametrize(
    "text, target, tls, path",
    [
        ("localhost:50051", "localhost:50051", False, None),
        ("127.0.0.1:7000", "127.0.0.1:7000", False, None),
        ("http://db.example:8080", "db.example:8080", False, None),
        ("https://db.example", "db.example:443", True, None),
        ("arrayq://127.0.0.1:50051/era5", "127.0.0.1:50051", False, "era5"),
        ("arrayqs://h:1/a%20b", "h:1", True, "a b"),
        ("[::1]:9000", "[::1]:9000", False, None),
        ("http://[::1]:9000/", "[::1]:9000", False, None),
        ("db.example", "db.example:50051", False, None),
    ],
)
def test_addresses(text, target, tls, path):
    a = arrayq.parse_address(text)
    assert (a.target, a.tls, a.path) == (target, tls, path)


@pytest.mark.parametrize("bad", ["", "ftp://x:1", "host:port", "http://:80"])
def test_bad_addresses(bad):
    with pytest.raises(ValueError):
        arrayq.parse_address(bad)


# ---------------------------------------------------------------- stored chunks


def shuffle(raw: bytes, k: int) -> bytes:
    """Byte b of element i to position b * n + i; trailing bytes stay (docs/format.md)."""
    a = np.frombuffer(raw, np.uint8)
    n = len(a) // k
    out = a.copy()
    out[: n * k] = a[: n * k].reshape(n, k).T.reshape(-1)
    return out.tobytes()


def encode(values: np.ndarray, codecs) -> bytes:
    raw = values.tobytes()
    for step in codecs:
        if step.WhichOneof("step") == "shuffle_element_size":
            raw = shuffle(raw, step.shuffle_element_size)
        else:
            raw = zstandard.ZstdCompressor(level=step.zstd_level).compress(raw)
    return raw + zlib.crc32(raw).to_bytes(4, "little")


SHUFFLE_ZSTD = [pb.CodecStep(shuffle_element_size=4), pb.CodecStep(zstd_level=3)]


@pytest.mark.parametrize(
    "dtype, codecs",
    [
        ("<f4", SHUFFLE_ZSTD),
        ("<f8", [pb.CodecStep(shuffle_element_size=8), pb.CodecStep(zstd_level=1)]),
        ("<i4", [pb.CodecStep(shuffle_element_size=8), pb.CodecStep(zstd_level=3)]),  # layout k > size
        ("<i2", [pb.CodecStep(zstd_level=3)]),
        ("u1", []),
        ("<u2", [pb.CodecStep(shuffle_element_size=2)]),
    ],
)
def test_stored_chunks_decode(dtype, codecs):
    rng = np.random.default_rng(1)
    chunks = [rng.integers(0, 100, n).astype(dtype) for n in (7, 1, 33)]
    blobs = [encode(c, codecs) for c in chunks]
    block = pb.DataBlock(
        column=0,
        element_offset=3,
        data=b"".join(blobs),
        stored=pb.StoredChunks(codecs=codecs, elements=[len(c) for c in chunks], bytes=[len(b) for b in blobs]),
    )
    total = 3 + sum(len(c) for c in chunks)
    asm = _wire.Assembler()
    asm.feed(header_msg([total], dtype))
    asm.feed(pb.QueryResponse(data=pb.DataBlock(column=0, element_offset=0, data=np.arange(3).astype(dtype).tobytes())).SerializeToString())
    asm.feed(pb.QueryResponse(data=block).SerializeToString())
    asm.feed(footer_msg())
    asm.finish()
    assert asm.stored_blocks == 1
    np.testing.assert_array_equal(asm.columns[0], np.concatenate([np.arange(3).astype(dtype)] + chunks))


def test_stored_chunk_with_a_bad_checksum_fails():
    values = np.arange(10, dtype="<f4")
    blob = bytearray(encode(values, SHUFFLE_ZSTD))
    blob[-1] ^= 0xFF
    block = pb.DataBlock(
        data=bytes(blob), stored=pb.StoredChunks(codecs=SHUFFLE_ZSTD, elements=[10], bytes=[len(blob)])
    )
    asm = _wire.Assembler()
    asm.feed(header_msg([10], "<f4"))
    asm.feed(pb.QueryResponse(data=block).SerializeToString())
    with pytest.raises(ProtocolError, match="CRC32"):
        asm.feed(footer_msg())


def header_msg(shape, dtype, name="v") -> bytes:
    code = {v: k for k, v in _wire.NUMPY_DTYPES.items()}[np.dtype(dtype)]
    h = pb.ResultHeader(
        dimensions=[pb.ResultDimension(name=f"d{i}", regular=pb.RegularCoordinate(start=0, step=1)) for i in range(len(shape))],
        columns=[pb.ResultColumn(name=name, dtype=code)],
        shape=shape,
    )
    return pb.QueryResponse(header=h).SerializeToString()


def footer_msg() -> bytes:
    return pb.QueryResponse(footer=pb.ResultFooter(stats=pb.QueryStats(layout="l", version=3))).SerializeToString()


def test_raw_blocks_in_any_order_and_incomplete_streams():
    values = np.arange(12, dtype="<f8")
    asm = _wire.Assembler()
    asm.feed(header_msg([3, 4], "<f8"))
    for lo, hi in ((8, 12), (0, 5), (5, 8)):
        asm.feed(pb.QueryResponse(data=pb.DataBlock(element_offset=lo, data=values[lo:hi].tobytes())).SerializeToString())
    asm.feed(footer_msg())
    asm.finish()
    r = arrayq.QueryResult.from_assembler("q", asm)
    np.testing.assert_array_equal(r.columns["v"], values.reshape(3, 4))
    assert r.stats.version == 3 and r.dims == ["d0", "d1"]

    missing_footer = _wire.Assembler()
    missing_footer.feed(header_msg([2], "<f8"))
    missing_footer.feed(pb.QueryResponse(data=pb.DataBlock(data=values[:2].tobytes())).SerializeToString())
    with pytest.raises(ProtocolError, match="footer"):
        missing_footer.finish()

    missing_block = _wire.Assembler()
    missing_block.feed(header_msg([4], "<f8"))
    missing_block.feed(pb.QueryResponse(data=pb.DataBlock(data=values[:2].tobytes())).SerializeToString())
    missing_block.feed(footer_msg())
    with pytest.raises(ProtocolError, match="2 of 4"):
        missing_block.finish()

    overrun = _wire.Assembler()
    overrun.feed(header_msg([2], "<f8"))
    with pytest.raises(ProtocolError):
        overrun.feed(pb.QueryResponse(data=pb.DataBlock(element_offset=1, data=values[:2].tobytes())).SerializeToString())


def test_coordinates_of_results():
    from arrayq._result import result_coordinates

    t = pb.ResultDimension(name="time", time=pb.TimeCoordinate(start_unix_ns=1_700_000_000 * 10**9, step_ns=900 * 10**9))
    c = result_coordinates(t, 3, [])
    assert c.dtype == np.dtype("datetime64[ns]") and c[1] - c[0] == np.timedelta64(15, "m")
    lab = pb.ResultDimension(name="asset", labels=pb.Int64List(values=[5, 9]))
    np.testing.assert_array_equal(result_coordinates(lab, 4, [11, 12]), [5, 9, 11, 12])
    txt = pb.ResultDimension(name="asset", text_labels=pb.StringList(values=["a"]))
    assert list(result_coordinates(txt, 2, ["b"])) == ["a", "b"]
    with pytest.raises(ProtocolError):
        result_coordinates(lab, 3, [])


# ---------------------------------------------------------------- errors


class FakeRpcError(grpc.RpcError):
    def __init__(self, code, details, trailing=()):
        self._code, self._details, self._trailing = code, details, trailing

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._trailing


def test_errors_carry_code_message_and_position():
    e = from_rpc_error(
        FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "3:13: Expected: an expression", (("arrayq-error-position", "3:13"),))
    )
    assert isinstance(e, arrayq.InvalidArgumentError) and isinstance(e, ValueError)
    assert e.position == (3, 13) and e.message == "3:13: Expected: an expression"
    assert "INVALID_ARGUMENT" in str(e)
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is type(e) and again.position == (3, 13) and again.code == grpc.StatusCode.INVALID_ARGUMENT
    nf = from_rpc_error(FakeRpcError(grpc.StatusCode.NOT_FOUND, "1:15: array 'x' does not exist"))
    assert isinstance(nf, arrayq.NotFoundError) and nf.position == (1, 15)
    other = from_rpc_error(FakeRpcError(grpc.StatusCode.INTERNAL, "boom"))
    assert type(other) is arrayq.ArrayQError and other.position is None


# ---------------------------------------------------------------- schema


def test_dimensions_from_coordinates():
    t = schema.dimension_from_coords("time", pd.date_range("2024-01-01", periods=3, freq="15min").values, 3)
    assert t.WhichOneof("coordinate") == "time" and t.time.step_ns == 900 * 10**9 and t.growable
    r = schema.dimension_from_coords("lat", np.array([72.0, 71.75, 71.5]), 3)
    assert (r.regular.start, r.regular.step, r.growable) == (72.0, -0.25, False)
    labels = schema.dimension_from_coords("id", np.array([3, 17, 5]), 3)
    assert list(labels.labels.labels) == [3, 17, 5]
    text = schema.dimension_from_coords("asset", np.array(["a", "b"], dtype=object), 2)
    assert list(text.text_labels.labels) == ["a", "b"]
    plain = schema.dimension_from_coords("y", None, 7)
    assert plain.WhichOneof("coordinate") is None and plain.length == 7
    one = schema.dimension_from_coords("time", np.array(["2024-01-01"], dtype="datetime64[ns]"), 1, step=np.timedelta64(1, "h"))
    assert one.time.step_ns == 3600 * 10**9
    with pytest.raises(ValueError):
        schema.dimension_from_coords("time", np.array(["2024-01-01"], dtype="datetime64[ns]"), 1)
    with pytest.raises(ValueError):
        schema.dimension_from_coords("x", np.array([0.0, 1.0, 3.0]), 3)


def test_region_conditions():
    lat = schema.Dimension("lat", "regular", 153, start=72.0, step=-0.25)
    assert schema.region_condition(lat, 0, 153) is None
    assert schema.region_condition(lat, 0, 2) == '"lat" BETWEEN 71.6875 AND 72.0625'
    time = schema.Dimension("time", "time", 48, True, 1_672_531_200 * 10**9, 3600 * 10**9)
    assert schema.region_condition(time, 1, 3) == (
        "\"time\" BETWEEN '2023-01-01T01:00:00.000000000Z' AND '2023-01-01T02:00:00.000000000Z'"
    )
    asset = schema.Dimension("asset", "text_labels", 3, labels=("a", "b'c", "d"))
    assert schema.region_condition(asset, 1, 2) == "\"asset\" IN ('b''c')"
    ids = schema.Dimension("id", "labels", 3, labels=(7, 3, 9))
    assert schema.region_condition(ids, 0, 2) == '"id" IN (7, 3)'
    sql = schema.region_sql("era5", ["t2m"], [time, lat], [(0, 48), (0, 2)], version=4)
    assert sql == 'SELECT "t2m" FROM "era5" AS OF VERSION 4 WHERE "lat" BETWEEN 71.6875 AND 72.0625'


def test_write_placement():
    time = schema.Dimension("time", "time", 48, True, 0, 3600 * 10**9)
    p = schema.place(time, (np.array([5, 6, 7]) * 3600 * 10**9).astype("datetime64[ns]"), 3)
    assert (p.start, p.count, p.order) == (5, 3, None)
    ids = schema.Dimension("id", "labels", 2, True, labels=(10, 20))
    p = schema.place(ids, np.array([30, 20]), 2)
    assert p.start == 1 and list(p.order) == [1, 0] and p.append_labels == [30]
    with pytest.raises(ValueError):
        schema.place(ids, np.array([10, 30]), 2)  # indices 0 and 2: not a dense run
