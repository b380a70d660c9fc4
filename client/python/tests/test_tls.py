"""TLS: the client against arrayqd serving a self-signed certificate
(``$ARRAYQ_TEST_TLS_ADDR``, its certificate in ``$ARRAYQ_TEST_TLS_CA``, issued for
``localhost``; tests/tests/python_client.rs starts that server). Eager queries,
writes and Dask-lazy reads go over the encrypted channel; a client that does not
trust the certificate is refused."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import arrayq

TLS_ADDR = os.environ.get("ARRAYQ_TEST_TLS_ADDR")
TLS_CA = os.environ.get("ARRAYQ_TEST_TLS_CA")

pytestmark = pytest.mark.skipif(
    not (TLS_ADDR and TLS_CA), reason="needs ARRAYQ_TEST_TLS_ADDR and ARRAYQ_TEST_TLS_CA"
)


def tls_url() -> str:
    port = str(TLS_ADDR).rsplit(":", 1)[1]
    return f"arrayqs://localhost:{port}"


def test_write_query_and_lazy_read_over_tls():
    db = arrayq.connect(tls_url(), ca_cert=TLS_CA, timeout=30)
    times = pd.date_range("2024-01-01", periods=8, freq="h")
    da = xr.DataArray(
        np.arange(32, dtype=np.float32).reshape(8, 4) / 4,
        dims=("time", "x"),
        coords={"time": times, "x": np.arange(4) * 0.5},
        name="v",
        attrs={"units": "K"},
    )
    w = db.write("tls_cube", da, chunks={"time": 3, "x": 4})
    assert w.cells_written == 32

    back = db.query("SELECT v FROM tls_cube WHERE x >= 1.0")
    np.testing.assert_array_equal(back.values, da.values[:, 2:])
    np.testing.assert_array_equal(back.time.values, times.values)
    assert back.attrs["units"] == "K"

    lazy = arrayq.open_array(tls_url(), "tls_cube", ca_cert=TLS_CA)
    assert lazy.chunks == ((3, 3, 2), (4,))
    assert float(lazy.sum().compute()) == float(da.values.astype(np.float64).sum())


def test_a_client_that_does_not_trust_the_certificate_is_refused():
    db = arrayq.connect(tls_url(), timeout=5)
    with pytest.raises(arrayq.UnavailableError):
        db.arrays()
