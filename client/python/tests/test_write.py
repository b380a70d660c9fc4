"""Client.write (creating arrays from xarray coordinates) and Client.subscribe."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import arrayq


def small_dataarray() -> xr.DataArray:
    times = pd.date_range("2024-05-01T00:00", periods=6, freq="h")
    return xr.DataArray(
        np.arange(18, dtype=np.float32).reshape(6, 3) * 0.5,
        dims=("time", "station"),
        coords={"time": times, "station": [101, 205, 307]},
        name="temp",
    )


def test_write_round_trip_creates_the_array(db, fresh_name):
    name = fresh_name("py_small")
    da = small_dataarray()
    w = db.write(name, da, chunks={"time": 4, "station": 2})
    assert w.version == 1 and w.cells_written == 18

    info = db.describe(name)
    assert info.dim_names == ("time", "station")
    assert info.dim("time").kind == "time" and info.dim("time").step == 3600 * 10**9
    assert info.dim("station").kind == "labels" and info.dim("station").labels == (101, 205, 307)
    assert info.attribute("temp").dtype == np.float32
    assert info.layouts[0].chunk_shape == (4, 2)

    back = db.query(f"SELECT temp FROM {name}")
    assert back.dims == da.dims
    xr.testing.assert_equal(back, da)  # values, dims, coordinates and name
    np.testing.assert_array_equal(back.values, da.values)
    np.testing.assert_array_equal(back.time.values, da.time.values)
    np.testing.assert_array_equal(back.station.values, da.station.values)
    assert back.time.dtype == np.dtype("datetime64[ns]")

    # Lazily, through Dask, the same values.
    lazy = arrayq.open_array(db.addr, name)
    assert lazy.chunks == ((4, 2), (2, 1))
    np.testing.assert_array_equal(lazy.values, da.values)


def test_write_places_by_coordinates_and_appends(db, fresh_name):
    name = fresh_name("py_grow")
    db.write(name, small_dataarray())
    # Two new hours for one existing and one new station, dims in another order,
    # stations in reverse array order: placed by coordinates, labels appended.
    more = xr.DataArray(
        np.array([[1.0, 2.0], [3.0, 4.0]]),
        dims=("station", "time"),
        coords={"station": [999, 307], "time": pd.date_range("2024-05-01T06:00", periods=2, freq="h")},
        name="temp",
    )
    w = db.write(name, more, expect_version=1)
    assert w.version == 2 and w.cells_written == 4
    back = db.query(f"SELECT temp FROM {name}")
    assert back.shape == (8, 4)
    assert list(back.station.values) == [101, 205, 307, 999]
    np.testing.assert_array_equal(back.sel(station=307).values[6:], [3.0, 4.0])
    np.testing.assert_array_equal(back.sel(station=999).values[6:], [1.0, 2.0])
    assert np.isnan(back.sel(station=999).values[:6]).all()  # never written: fill

    with pytest.raises(arrayq.FailedPreconditionError):
        db.write(name, more.isel(station=[1]) * 0, expect_version=1)
    with pytest.raises(ValueError):
        off_grid = small_dataarray().assign_coords(time=pd.date_range("2024-05-01T00:30", periods=6, freq="h"))
        db.write(name, off_grid)


def test_write_dataset_and_plain_dimensions(db, fresh_name):
    name = fresh_name("py_ds")
    ds = xr.Dataset(
        {
            "count": (("x", "y"), np.arange(12, dtype=np.int32).reshape(4, 3)),
            "level": (("x", "y"), np.linspace(0, 1, 12).reshape(4, 3)),
            "flag": (("x", "y"), np.arange(12).reshape(4, 3) % 2 == 0),
        },
        coords={"x": 10.0 + 0.5 * np.arange(4)},  # y has no coordinate: a plain index
    )
    db.write(name, ds)
    info = db.describe(name)
    assert [a.name for a in info.attributes] == ["count", "level", "flag"]
    assert info.dim("x").kind == "regular" and info.dim("x").start == 10.0 and info.dim("x").step == 0.5
    back = db.query(f"SELECT count, level, flag FROM {name}")
    assert isinstance(back, xr.Dataset)
    for v in ds.data_vars:
        assert back[v].dtype == ds[v].dtype
        np.testing.assert_array_equal(back[v].values, ds[v].values)
    np.testing.assert_allclose(back.x.values, ds.x.values)


def test_write_text_labels(db, fresh_name):
    name = fresh_name("py_text")
    da = xr.DataArray(
        np.array([[1, 2], [3, 4]], dtype=np.int64),
        dims=("asset", "time"),
        coords={"asset": ["NL-WIND-042", "NL-SOLAR-007"], "time": pd.date_range("2024-01-01", periods=2, freq="15min")},
        name="mw",
    )
    db.write(name, da)
    back = db.query(f"SELECT mw FROM {name}")
    assert list(back.asset.values) == ["NL-WIND-042", "NL-SOLAR-007"]
    np.testing.assert_array_equal(back.values, da.values)
    one = db.query(f"SELECT mw FROM {name} WHERE asset = 'NL-SOLAR-007'")
    np.testing.assert_array_equal(one.values, [3, 4])


def test_subscribe_sees_a_write(db, fresh_name):
    name = fresh_name("py_sub")
    db.write(name, small_dataarray())
    with db.subscribe(name) as events:
        more = small_dataarray().isel(time=[0, 1]).assign_coords(
            time=pd.date_range("2024-05-01T06:00", periods=2, freq="h")
        )
        w = db.write(name, more)
        ev = next(events)
    assert ev.kind == "write" and ev.array == name and ev.version == w.version
    assert ev.cells_written == 6
    assert ev.region["time"].start == 6 and ev.region["time"].end == 8
    assert ev.region["time"].start_text == "2024-05-01T06:00:00Z"
    assert ev.region["time"].start_value is None
    assert ev.region["station"].start_value == 101.0
    assert ev.timestamp == w.timestamp
    assert list(events) == []  # cancelled: iteration ends

    # Replay from the log: create, first write, second write.
    with db.subscribe(name, from_seq=1) as replay:
        kinds = [next(replay).kind for _ in range(3)]
    assert kinds == ["create", "write", "write"]


def test_subscribe_unknown_array(db):
    with pytest.raises(arrayq.NotFoundError):
        db.subscribe("no_such_array_here")


def test_write_keeps_text_attrs_as_metadata_and_query_returns_them(db, fresh_name):
    name = fresh_name("py_meta")
    da = small_dataarray()
    da.attrs.update(units="degC", long_name="air temperature", valid_max=60.0)
    da.time.attrs.update(long_name="time of observation")
    ds = da.to_dataset()
    ds.attrs.update(title="stations", history=["not text"])
    db.write(name, ds)

    info = db.describe(name)
    # Text attrs only: numbers and lists are not descriptions arrayq keeps.
    assert dict(info.attribute("temp").metadata) == {"units": "degC", "long_name": "air temperature"}
    assert dict(info.dim("time").metadata) == {"long_name": "time of observation"}
    assert dict(info.metadata) == {"title": "stations"}

    back = db.query(f"SELECT temp FROM {name}")
    assert back.attrs["units"] == "degC" and back.attrs["long_name"] == "air temperature"
    assert back.time.attrs == {"long_name": "time of observation"}
    renamed = db.query(f"SELECT temp AS t FROM {name}")
    assert renamed.attrs["units"] == "degC"
    computed = db.query(f"SELECT temp * 2 AS twice FROM {name}")
    assert "units" not in computed.attrs, computed.attrs

    lazy = arrayq.open_array(db.addr, name)
    assert lazy.attrs["units"] == "degC"
    assert lazy.time.attrs == {"long_name": "time of observation"}
    opened = xr.open_dataset(f"arrayq://{db.addr.split('://')[-1]}/{name}", engine="arrayq")
    assert opened.attrs["title"] == "stations"
    assert opened["temp"].attrs["long_name"] == "air temperature"
