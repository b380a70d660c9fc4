//! A Python gRPC client (grpcio, stubs generated at test time from
//! `proto/arrayq/v1/arrayq.proto` with grpc_tools.protoc) against the real
//! `arrayqd`: it writes the XS ERA5 cube through the Write RPC, runs Q1..Q6 in arrayq
//! SQL and compares the answers with the project's numpy reference
//! (`tests/reference/workload_ref.py --era5 XS --queries`). It also asks for stored
//! chunks and decodes them itself (zstandard, numpy, zlib) from the description in
//! `docs/grpc.md`.
//!
//! The server binary is `$ARRAYQD` if set, else `target/<profile>/arrayqd`, built
//! there first when missing (see `arrayq_tests::arrayqd_binary`).

use std::process::Command;
use std::time::Instant;

use arrayq_tests::{python, run_reference, workspace_root, TestServer};

/// The Python client: writes the cube, runs the queries, checks the answers.
const CLIENT: &str = r#"
import json
import os
import sys
import zlib
from datetime import datetime, timedelta, timezone

stubs, ref_dir, addr, expected_path, npy_dir = sys.argv[1:6]
sys.path.insert(0, stubs)
sys.path.insert(0, ref_dir)

import grpc
import numpy as np
import zstandard

from arrayq.v1 import arrayq_pb2 as pb
from arrayq.v1 import arrayq_pb2_grpc as rpc
import workload_ref as ref

MAX_BLOCK = 4 * 1024 * 1024 - 64 * 1024
NUMPY = {
    pb.D_TYPE_F32: "<f4", pb.D_TYPE_F64: "<f8",
    pb.D_TYPE_I8: "i1", pb.D_TYPE_I16: "<i2", pb.D_TYPE_I32: "<i4", pb.D_TYPE_I64: "<i8",
    pb.D_TYPE_U8: "u1", pb.D_TYPE_U16: "<u2", pb.D_TYPE_U32: "<u4", pb.D_TYPE_U64: "<u8",
    pb.D_TYPE_BOOL: "?",
}
T0 = datetime(2023, 1, 1, tzinfo=timezone.utc)


def write(stub, header, arrays):
    def messages():
        yield pb.WriteRequest(header=header)
        for k, a in enumerate(arrays):
            buf = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()
            for off in range(0, len(buf), MAX_BLOCK):
                yield pb.WriteRequest(data=pb.WriteBlock(
                    attribute=k, byte_offset=off, data=buf[off:off + MAX_BLOCK]))
    return stub.Write(messages())


def coords(dim, n, rest):
    kind = dim.WhichOneof("coordinates")
    if kind == "regular":
        return dim.regular.start + dim.regular.step * np.arange(n)
    if kind == "time":
        ns = dim.time.start_unix_ns + dim.time.step_ns * np.arange(n, dtype=np.int64)
        return ns.view("datetime64[ns]")
    values = list(getattr(dim, kind).values) + rest
    if kind == "values":
        return np.array(values, dtype=np.float64)
    ints = np.array(values, dtype=np.int64)
    return ints.view("datetime64[ns]") if kind == "times_unix_ns" else ints


def decode_stored(b, dtype):
    """The elements of a DataBlock of stored chunks (docs/grpc.md, Stored chunks)."""
    parts, pos = [], 0
    for n, size in zip(b.stored.elements, b.stored.bytes):
        blob = b.data[pos:pos + size]
        pos += size
        payload, crc = blob[:-4], int.from_bytes(blob[-4:], "little")
        assert zlib.crc32(payload) == crc, "stored chunk checksum"
        raw = payload
        for step in reversed(b.stored.codecs):
            kind = step.WhichOneof("step")
            if kind == "zstd_level":
                raw = zstandard.ZstdDecompressor().decompress(
                    raw, max_output_size=n * np.dtype(dtype).itemsize)
            elif kind == "shuffle_element_size":
                # Whole elements are shuffled; trailing bytes stay in place
                # (the layout's shuffle size may exceed this column's element).
                k = step.shuffle_element_size
                planes = np.frombuffer(raw, np.uint8)
                m = len(planes) // k
                raw = planes[:m * k].reshape(k, m).T.tobytes() + planes[m * k:].tobytes()
            else:
                raise AssertionError(f"unknown codec step {step}")
        parts.append(np.frombuffer(raw, dtype=dtype))
        assert len(parts[-1]) == n
    assert pos == len(b.data)
    return np.concatenate(parts)


STORED_BLOCKS = [0]


def query(stub, sql, stored=False):
    header, stats, cols, rest = None, None, [], []
    request = pb.QueryRequest(sql=sql, accept_stored_chunks=stored)
    for msg in stub.Query(request, timeout=120):
        kind = msg.WhichOneof("msg")
        if kind == "header":
            header = msg.header
            n = 1 if header.scalar else int(np.prod(header.shape, dtype=np.int64))
            cols = [np.empty(n, dtype=NUMPY[c.dtype]) for c in header.columns]
            rest = [[] for _ in header.dimensions]
        elif kind == "coordinates":
            b = msg.coordinates
            rest[b.dimension].extend(b.values or b.ints)
        elif kind == "data":
            b = msg.data
            col = cols[b.column]
            if b.HasField("stored"):
                STORED_BLOCKS[0] += 1
                values = decode_stored(b, col.dtype)
            else:
                values = np.frombuffer(b.data, dtype=col.dtype)
            col[b.element_offset:b.element_offset + len(values)] = values
        elif kind == "footer":
            stats = msg.footer.stats
    assert stats is not None, f"incomplete result stream for {sql}"
    shape = () if header.scalar else tuple(header.shape)
    dims = {d.name: coords(d, n, r) for d, n, r in zip(header.dimensions, header.shape, rest)}
    data = [a.reshape(shape) for a in cols]
    return dims, data, stats, header


def check(name, ok, detail=""):
    if not ok:
        raise AssertionError(f"{name} differs from the numpy reference {detail}")
    print(f"{name}: ok")


with grpc.insecure_channel(addr) as channel:
    stub = rpc.ArrayQStub(channel)
    health = stub.Health(pb.HealthRequest(), timeout=30)
    assert health.status == pb.SERVING_STATUS_SERVING, health

    cube = ref.era5_cube("XS")
    n = cube.shape[0]
    stub.CreateArray(pb.CreateArrayRequest(schema=pb.ArraySchema(
        name="era5",
        dimensions=[
            pb.Dimension(name="time", growable=True, time=pb.TimeCoordinate(
                start_unix_ns=int(T0.timestamp()) * 10**9, step_ns=3600 * 10**9)),
            pb.Dimension(name="lat", length=153, regular=pb.RegularCoordinate(start=72.0, step=-0.25)),
            pb.Dimension(name="lon", length=281, regular=pb.RegularCoordinate(start=-25.0, step=0.25)),
        ],
        attributes=[pb.Attribute(name="t2m", dtype=pb.D_TYPE_F32)],
        layouts=[
            pb.Layout(name="maps", chunk_shape=[1, 153, 281], zstd_level=3, shuffle=True),
            pb.Layout(name="pencils", chunk_shape=[n, 8, 8], zstd_level=3, shuffle=True),
        ],
    )))
    events = stub.Subscribe(pb.SubscribeRequest(array="era5", from_seq=1))
    first = next(events)
    assert first.kind == pb.CHANGE_KIND_CREATE, first

    resp = write(stub, pb.WriteHeader(
        array="era5", attributes=["t2m"], expect_version=0,
        region=[pb.IndexRange(start=0, count=n), pb.IndexRange(start=0, count=153),
                pb.IndexRange(start=0, count=281)],
    ), [cube])
    assert resp.version == 1 and resp.cells_written == cube.size, resp
    ev = next(events)
    assert ev.kind == pb.CHANGE_KIND_WRITE and ev.version == 1, ev
    assert ev.region[0].start_text == "2023-01-01T00:00:00Z", ev.region[0]
    events.cancel()

    listed = stub.ListArrays(pb.ListArraysRequest()).arrays
    assert [a.name for a in listed] == ["era5"] and list(listed[0].shape) == [n, 153, 281], listed
    described = stub.DescribeArray(pb.DescribeArrayRequest(name="era5"))
    assert described.head_version == 1 and len(described.layouts) == 2, described

    want = json.load(open(expected_path))

    dims, data, stats, _ = query(stub, "SELECT t2m FROM era5 WHERE lat = 52.0 AND lon = 5.0")
    check("Q1", np.array_equal(data[0].astype(np.float64), np.array(want["Q1"])))
    assert dims["time"][0] == np.datetime64("2023-01-01T00:00:00"), dims["time"][:2]

    hour = (T0 + timedelta(hours=want["Q2_hour"])).strftime("%Y-%m-%dT%H:%M:%SZ")
    dims, data, stats, _ = query(stub, f"SELECT t2m FROM era5 WHERE time = '{hour}'")
    check("Q2", np.array_equal(data[0].astype(np.float64), np.array(want["Q2"])))
    assert np.allclose(dims["lat"], ref.LATS) and np.allclose(dims["lon"], ref.LONS)
    assert STORED_BLOCKS[0] == 0, "stored chunks without asking"

    # Stored chunks, decoded here: the map and the whole cube.
    dims, data, stats, _ = query(stub, f"SELECT t2m FROM era5 WHERE time = '{hour}'", stored=True)
    check("Q2 from stored chunks", STORED_BLOCKS[0] == 1 and stats.bytes_decoded == 0
          and np.array_equal(data[0].astype(np.float64), np.array(want["Q2"])),
          f"({STORED_BLOCKS[0]} stored blocks, {stats.bytes_decoded} bytes decoded by the server)")
    dims, data, stats, _ = query(
        stub, "SELECT t2m FROM era5 WHERE time < '2023-01-01T05:00:00Z'", stored=True)
    check("5 maps from stored chunks", STORED_BLOCKS[0] == 2 and stats.layout == "maps"
          and np.array_equal(data[0], cube[:5]), f"({STORED_BLOCKS[0]} stored blocks)")

    dims, data, stats, _ = query(
        stub, "SELECT avg(t2m) FROM era5 WHERE lat BETWEEN 50 AND 54 AND lon BETWEEN 3 AND 8 GROUP BY time")
    check("Q3", np.allclose(data[0], np.array(want["Q3"]), rtol=1e-9, atol=0))

    dims, data, stats, _ = query(
        stub, "SELECT avg(t2m) FROM era5 WHERE time < '2023-01-08T00:00:00Z' GROUP BY lat, lon")
    q4 = np.load(os.path.join(npy_dir, "Q4.npy"))
    check("Q4", data[0].shape == q4.shape and np.allclose(data[0], q4, rtol=1e-9, atol=0),
          f"{data[0].shape} vs {q4.shape}")

    dims, data, stats, _ = query(
        stub, "SELECT max(t2m) FROM era5 WHERE time < '2023-01-08T00:00:00Z' "
              "GROUP BY date_trunc('day', time), lat, lon")
    q5 = np.load(os.path.join(npy_dir, "Q5.npy"))
    check("Q5", data[0].shape == q5.shape and np.array_equal(data[0].astype(np.float32), q5),
          f"{data[0].shape} vs {q5.shape}")

    dims, data, stats, header = query(stub, "SELECT avg(t2m) FROM era5")
    assert header.scalar
    q6 = float(data[0].reshape(-1)[0])
    check("Q6", abs(q6 - want["Q6"]) <= 1e-9 * abs(want["Q6"]), f"{q6} vs {want['Q6']}")

    plan = stub.Explain(pb.ExplainRequest(sql="SELECT t2m FROM era5 WHERE lat = 52.0 AND lon = 5.0"))
    assert {c.name for c in plan.candidates} == {"maps", "pencils"}, plan
    assert plan.layout in ("maps", "pencils") and plan.text, plan

    try:
        query(stub, "SELECT t2m FROM era5\nWHERE lat = = 3")
        raise AssertionError("a syntax error was accepted")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
        position = dict(e.trailing_metadata() or ()).get("arrayq-error-position")
        assert position and position.startswith("2:"), (position, e.details())
        assert e.details().startswith(position + ": "), e.details()
    try:
        query(stub, "SELECT t2m FROM nope")
        raise AssertionError("an unknown array was accepted")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND, e

print("python grpc client: all checks passed")
"#;

fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{text}",
        out.status
    );
    text
}

#[test]
fn python_grpc_client_runs_the_era5_queries() {
    let root = workspace_root();
    let py = python();
    let tmp = tempfile::tempdir().unwrap();

    // Stubs from the .proto, as a Python user would make them.
    let stubs = tmp.path().join("stubs");
    std::fs::create_dir_all(&stubs).unwrap();
    run_ok(
        Command::new(&py)
            .args(["-m", "grpc_tools.protoc", "-I"])
            .arg(root.join("proto"))
            .arg(format!("--python_out={}", stubs.display()))
            .arg(format!("--grpc_python_out={}", stubs.display()))
            .arg(root.join("proto/arrayq/v1/arrayq.proto")),
        "grpc_tools.protoc",
    );
    assert!(stubs.join("arrayq/v1/arrayq_pb2_grpc.py").exists());

    // Expected answers from the numpy reference.
    let npy = tmp.path().join("ref");
    let out = run_reference(&[
        "--era5",
        "XS",
        "--queries",
        "--outdir",
        npy.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "workload_ref.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = tmp.path().join("expected.json");
    std::fs::write(&expected, &out.stdout).unwrap();

    let server = TestServer::builder(tmp.path().join("data"))
        .log_file(tmp.path().join("arrayqd.log"))
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = server.addr().to_string();
    let script = tmp.path().join("client.py");
    std::fs::write(&script, CLIENT).unwrap();
    let started = Instant::now();
    let text = run_ok(
        Command::new(&py)
            .arg(&script)
            .arg(&stubs)
            .arg(root.join("tests/reference"))
            .arg(&addr)
            .arg(&expected)
            .arg(&npy),
        "the Python gRPC client",
    );
    println!("{text}(took {:?})", started.elapsed());
    assert!(text.contains("all checks passed"), "{text}");
    let log = server.log_text();
    assert_eq!(
        log.matches("arrayq::query").count(),
        11,
        "one log line per query and explain:\n{log}"
    );
}
