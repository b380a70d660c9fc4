"""open_array (Dask-backed, one region per task) and the xarray backend, against
the numpy reference; the same code on a dask.distributed LocalCluster."""
from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr

import arrayq
import arrayq.lazy


def q3(x: xr.DataArray) -> xr.DataArray:
    """Hourly mean over the 50..54N, 3..8E box (float64, as the reference)."""
    box = x.sel(lat=slice(54, 50), lon=slice(3, 8))
    return box.astype(np.float64).mean(("lat", "lon"))


def q4(x: xr.DataArray) -> xr.DataArray:
    """Mean map over the first week (here: all 48 hours)."""
    return x.sel(time=slice(None, "2023-01-07T23:00")).astype(np.float64).mean("time")


def q5(x: xr.DataArray) -> xr.DataArray:
    """Daily maximum per cell."""
    return x.sel(time=slice(None, "2023-01-07T23:00")).resample(time="1D").max()


def check_workload(x: xr.DataArray, expected, cube) -> None:
    """Q1..Q6 computed with xarray on ``x`` match the reference."""
    np.testing.assert_array_equal(
        x.sel(lat=52.0, lon=5.0).values.astype(np.float64), np.array(expected["Q1"])
    )
    np.testing.assert_array_equal(x.isel(time=expected["Q2_hour"]).values.astype(np.float64), np.array(expected["Q2"]))
    np.testing.assert_allclose(q3(x).values, np.array(expected["Q3"]), rtol=1e-9, atol=0)
    np.testing.assert_allclose(q4(x).values, expected["Q4_array"], rtol=1e-9, atol=0)
    np.testing.assert_array_equal(q5(x).values, expected["Q5_array"])
    assert float(x.astype(np.float64).mean()) == pytest.approx(expected["Q6"], rel=1e-9)
    np.testing.assert_array_equal(x.values, cube)


def test_open_array_is_lazy_and_chunked_like_storage(db, addr, era5_name, cube, monkeypatch):
    x = arrayq.open_array(addr, era5_name)
    assert isinstance(x, xr.DataArray) and isinstance(x.data, da.Array)
    info = db.describe(era5_name)
    stored = tuple(info.layouts[0].chunk_shape)
    assert x.data.chunksize == tuple(min(c, n) for c, n in zip(stored, cube.shape))
    # One task per stored chunk, each reading one region.
    n_chunks = int(np.prod([-(-n // c) for n, c in zip(cube.shape, stored)]))
    assert x.data.npartitions == n_chunks
    assert x.dims == ("time", "lat", "lon") and x.shape == cube.shape
    assert x.time.dtype == np.dtype("datetime64[ns]")
    assert x.attrs["arrayq_version"] == info.head_version
    assert x.encoding["preferred_chunks"] == dict(zip(x.dims, stored))
    # Reading a piece runs only the tasks it needs: one region read (one query) each.
    reads = []
    original = arrayq.lazy.RegionReader.read
    monkeypatch.setattr(arrayq.lazy.RegionReader, "read", lambda self, region: reads.append(region) or original(self, region))
    piece = x.isel(time=slice(0, 2), lat=slice(0, 3), lon=slice(0, 3))
    with dask.config.set(scheduler="threads"):
        np.testing.assert_array_equal(piece.values, cube[:2, :3, :3])
        assert reads == [[(0, stored[0]), (0, stored[1]), (0, stored[2])]]
        reads.clear()
        np.testing.assert_array_equal(x.values, cube)
    assert len(reads) == n_chunks
    covered = np.zeros(cube.shape, np.int32)
    for region in reads:
        covered[tuple(slice(a, b) for a, b in region)] += 1
    assert (covered == 1).all()  # every cell read exactly once


def test_open_array_workload_threads(addr, era5_name, expected, cube):
    x = arrayq.open_array(addr, era5_name)
    with dask.config.set(scheduler="threads"):
        check_workload(x, expected, cube)


def test_open_array_chunks_are_aligned(db, addr, era5_name, cube):
    stored = db.describe(era5_name).layouts[0].chunk_shape
    x = arrayq.open_array(addr, era5_name, chunks={"time": 1, "lat": -1})
    assert x.data.chunksize[0] == min(stored[0], cube.shape[0])  # rounded up to a stored chunk
    assert x.data.chunksize[1] == cube.shape[1]  # -1: the whole dimension
    assert x.data.chunksize[2] == min(stored[2], cube.shape[2])  # unnamed: as stored
    np.testing.assert_array_equal(x.values, cube)
    y = arrayq.open_array(addr, era5_name, chunks="auto")
    assert all(c % s == 0 or c == n for c, s, n in zip(y.data.chunksize, stored, cube.shape))
    assert float(y.astype(np.float64).mean()) == pytest.approx(float(cube.astype(np.float64).mean()), rel=1e-12)


def test_open_array_pins_the_version(db, fresh_name):
    name = fresh_name("py_pin")
    import pandas as pd

    first = xr.DataArray(
        np.ones((4, 2), np.float32), dims=("time", "x"),
        coords={"time": pd.date_range("2024-01-01", periods=4, freq="h"), "x": [0.0, 1.0]}, name="v",
    )
    db.write(name, first)
    x = arrayq.open_array(db.addr, name)
    db.write(name, first * 2)
    np.testing.assert_array_equal(x.values, 1.0)  # still version 1
    np.testing.assert_array_equal(arrayq.open_array(db.addr, name).values, 2.0)
    np.testing.assert_array_equal(arrayq.open_array(db.addr, name, version=1).values, 1.0)


def test_open_array_several_attributes(db, fresh_name):
    name = fresh_name("py_lazy_ds")
    ds = xr.Dataset(
        {"a": (("x",), np.arange(10, dtype=np.int16)), "b": (("x",), np.arange(10) * 0.5)},
        coords={"x": np.arange(10) * 2.0},
    )
    db.write(name, ds, chunks=(4,))
    lazy = arrayq.open_array(db.addr, name)
    assert isinstance(lazy, xr.Dataset) and lazy.a.chunks == ((4, 4, 2),)
    xr.testing.assert_equal(lazy.compute(), ds)
    only_b = arrayq.open_array(db.addr, name, attributes="b")
    assert isinstance(only_b, xr.DataArray) and only_b.name == "b"


def test_xarray_backend(addr, era5_name, expected, cube):
    url = f"arrayq://{addr}/{era5_name}"
    ds = xr.open_dataset(url, engine="arrayq")
    assert list(ds.data_vars) == ["t2m"] and ds.t2m.shape == cube.shape
    assert not isinstance(ds.t2m.variable._data, np.ndarray)  # lazily indexed, not loaded
    # Indexing reads only the region asked for.
    np.testing.assert_array_equal(ds.t2m.isel(time=3, lat=slice(10, 20, 3)).values, cube[3, 10:20:3])
    np.testing.assert_array_equal(ds.t2m.sel(lat=52.0, lon=5.0).values, cube[:, 80, 120])

    # chunks={} as for Zarr: Dask arrays chunked like the stored chunks.
    dsc = xr.open_dataset(url, engine="arrayq", chunks={})
    assert isinstance(dsc.t2m.data, da.Array)
    preferred = ds.t2m.encoding["preferred_chunks"]
    assert dsc.t2m.data.chunksize == tuple(min(preferred[d], n) for d, n in dsc.sizes.items())
    check_workload(dsc.t2m, expected, cube)
    # The engine is also found from the URL alone.
    assert list(xr.open_dataset(url).data_vars) == ["t2m"]


def test_open_dataset_unknown_array(addr):
    with pytest.raises(arrayq.NotFoundError):
        xr.open_dataset(f"arrayq://{addr}/no_such_array_here", engine="arrayq")


def test_distributed_local_cluster(addr, era5_name, expected, cube):
    import distributed
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        x = arrayq.open_array(addr, era5_name)
        # The reads are spread over both workers: each holds some of the regions.
        persisted = x.data.persist()
        distributed.wait(persisted)
        holders = {w for ws in client.who_has(persisted).values() for w in ws}
        assert len(holders) == 2, client.who_has(persisted)
        check_workload(x, expected, cube)
        # The lazy array (a graph of region reads) travels to the workers as is.
        total = client.compute(x.astype(np.float64).sum()).result()
        assert float(total) == pytest.approx(float(cube.astype(np.float64).sum()), rel=1e-12)
        # So does the xarray backend's.
        dsc = xr.open_dataset(f"arrayq://{addr}/{era5_name}", engine="arrayq", chunks={})
        np.testing.assert_allclose(q4(dsc.t2m).values, expected["Q4_array"], rtol=1e-9, atol=0)
