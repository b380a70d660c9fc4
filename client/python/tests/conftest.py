"""Fixtures of the arrayq client tests: a server holding the ERA5 XS demo cube, and
the project's numpy reference (tests/reference/workload_ref.py).

The server is ``$ARRAYQ_TEST_ADDR`` when set (it must hold the cube as array
``$ARRAYQ_TEST_ARRAY``, default ``era5``, as ``arrayq demo era5 --scale XS`` loads
it). Otherwise the tests start ``arrayqd`` on a free loopback port themselves and load
the cube with ``arrayq demo era5 --scale XS``; both binaries come from
``$ARRAYQ_BIN_DIR``, else the repository's ``target/debug`` or ``target/release``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
REFERENCE_DIR = Path(os.environ.get("ARRAYQ_REFERENCE_DIR", REPO / "tests" / "reference"))


def _binary(name: str) -> Path:
    dirs = []
    if os.environ.get("ARRAYQ_BIN_DIR"):
        dirs.append(Path(os.environ["ARRAYQ_BIN_DIR"]))
    dirs += [REPO / "target" / "debug", REPO / "target" / "release"]
    for d in dirs:
        if (d / name).is_file():
            return d / name
    pytest.exit(
        f"no {name} binary in {[str(d) for d in dirs]}: build it (cargo build -p arrayq-server "
        "-p arrayq-client) or point ARRAYQ_TEST_ADDR at a server holding the ERA5 XS cube",
        returncode=2,
    )
    raise AssertionError("unreachable")


class _Server:
    """arrayqd on 127.0.0.1:0 with a temporary store, loaded with the XS cube."""

    def __init__(self) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="arrayq-pytest-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARRAYQ_")}
        self.log = open(Path(self.dir.name) / "arrayqd.log", "wb")
        self.proc = subprocess.Popen(
            [str(_binary("arrayqd")), "--data", str(Path(self.dir.name) / "data"), "--grpc", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=self.log,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        self.addr = None
        deadline = time.time() + 120
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode()
            if not line:
                break
            if "listening on" in line and "postgres" not in line:
                self.addr = line.rsplit("listening on", 1)[1].strip()
                break
        if self.addr is None:
            self.stop()
            pytest.exit("arrayqd did not start: " + (Path(self.dir.name) / "arrayqd.log").read_text(), returncode=2)
        # Keep draining stdout so the server never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        out = subprocess.run(
            [str(_binary("arrayq")), "demo", "era5", "--scale", "XS"],
            env={**env, "ARRAYQ_ADDR": self.addr},
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
        if out.returncode != 0:
            self.stop()
            pytest.exit(f"arrayq demo era5 failed: {out.stderr.decode()}", returncode=2)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.log.close()
        self.dir.cleanup()


@pytest.fixture(scope="session")
def addr():
    """Address of a server holding the ERA5 XS cube."""
    given = os.environ.get("ARRAYQ_TEST_ADDR")
    if given:
        yield given
        return
    server = _Server()
    try:
        yield server.addr
    finally:
        server.stop()


@pytest.fixture(scope="session")
def era5_name():
    return os.environ.get("ARRAYQ_TEST_ARRAY", "era5")


@pytest.fixture(scope="session")
def db(addr):
    import arrayq

    client = arrayq.connect(addr, timeout=120)
    yield client
    client.close()


@pytest.fixture(scope="session")
def ref():
    """The numpy reference module (tests/reference/workload_ref.py)."""
    sys.path.insert(0, str(REFERENCE_DIR))
    try:
        import workload_ref
    finally:
        sys.path.remove(str(REFERENCE_DIR))
    return workload_ref


@pytest.fixture(scope="session")
def cube(ref):
    """The ERA5 XS cube (time, lat, lon) float32, as numpy computes it."""
    return ref.era5_cube("XS")


@pytest.fixture(scope="session")
def expected(ref, cube):
    """Q1..Q6 as the reference computes them, Q4/Q5 as arrays."""
    with tempfile.TemporaryDirectory() as d:
        answers = ref.era5_queries(cube, d)
        answers["Q4_array"] = np.load(os.path.join(d, "Q4.npy"))
        answers["Q5_array"] = np.load(os.path.join(d, "Q5.npy"))
    return answers


@pytest.fixture
def fresh_name(db):
    """Makes array names no other test (or run on the same server) uses; the arrays
    are dropped afterwards."""
    made = []

    def make(prefix: str) -> str:
        name = f"{prefix}_{os.getpid()}_{time.time_ns() % 10**12}"
        made.append(name)
        return name

    yield make
    for name in made:
        db.drop_array(name, missing_ok=True)
