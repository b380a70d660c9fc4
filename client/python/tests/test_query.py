"""Eager queries (Client.query) against the numpy reference."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import xarray as xr

import arrayq

T0 = datetime(2023, 1, 1, tzinfo=timezone.utc)


def iso(hour: int) -> str:
    return (T0 + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_health(db):
    h = db.health()
    assert h.serving and h.version


def test_q1_point_timeseries(db, era5_name, expected, cube):
    da = db.query(f"SELECT t2m FROM {era5_name} WHERE lat = 52.0 AND lon = 5.0")
    assert isinstance(da, xr.DataArray)
    assert da.name == "t2m" and da.dims == ("time",) and da.dtype == np.float32
    np.testing.assert_array_equal(da.values.astype(np.float64), np.array(expected["Q1"]))
    assert da.time.dtype == np.dtype("datetime64[ns]")
    assert da.time.values[0] == np.datetime64("2023-01-01T00:00:00")
    assert da.time.values[-1] == np.datetime64("2023-01-01T00:00:00") + np.timedelta64(cube.shape[0] - 1, "h")
    assert da.attrs["arrayq_version"] >= 1


def test_q2_map(db, era5_name, expected, ref):
    hour = expected["Q2_hour"]
    da = db.query(f"SELECT t2m FROM {era5_name} WHERE time = '{iso(hour)}'")
    assert da.dims == ("lat", "lon")
    np.testing.assert_array_equal(da.values.astype(np.float64), np.array(expected["Q2"]))
    np.testing.assert_allclose(da.lat.values, ref.LATS)
    np.testing.assert_allclose(da.lon.values, ref.LONS)


def test_q3_box_mean_per_hour(db, era5_name, expected):
    da = db.query(
        f"SELECT avg(t2m) FROM {era5_name} WHERE lat BETWEEN 50 AND 54 AND lon BETWEEN 3 AND 8 GROUP BY time"
    )
    assert da.dims == ("time",) and da.time.dtype == np.dtype("datetime64[ns]")
    np.testing.assert_allclose(da.values, np.array(expected["Q3"]), rtol=1e-9, atol=0)


def test_q4_weekly_mean_map(db, era5_name, expected):
    da = db.query(f"SELECT avg(t2m) FROM {era5_name} WHERE time < '2023-01-08T00:00:00Z' GROUP BY lat, lon")
    assert da.dims == ("lat", "lon")
    np.testing.assert_allclose(da.values, expected["Q4_array"], rtol=1e-9, atol=0)


def test_q5_daily_max(db, era5_name, expected):
    da = db.query(
        f"SELECT max(t2m) FROM {era5_name} WHERE time < '2023-01-08T00:00:00Z' "
        "GROUP BY date_trunc('day', time), lat, lon"
    )
    q5 = expected["Q5_array"]
    assert da.shape == q5.shape
    np.testing.assert_array_equal(da.values.astype(np.float32), q5)
    assert da.dims[0] == "time" and da.time.values[1] - da.time.values[0] == np.timedelta64(1, "D")


def test_q6_scalar_mean(db, era5_name, expected):
    da = db.query(f"SELECT avg(t2m) FROM {era5_name}")
    assert da.dims == () and da.shape == ()
    assert float(da) == pytest.approx(expected["Q6"], rel=1e-9)


def test_whole_cube_raw_and_stored_chunks(db, era5_name, cube):
    raw = db.query_result(f"SELECT t2m FROM {era5_name}", stored_chunks=False)
    assert raw.stored_blocks == 0
    np.testing.assert_array_equal(raw.columns["t2m"], cube)
    # One stored chunk (24, 64, 64) is a contiguous run of this result: the server
    # sends it compressed and the client checks and decodes it.
    info = db.describe(era5_name)
    c = info.chunks
    sql = (
        f"SELECT t2m FROM {era5_name} WHERE time BETWEEN '{iso(0)}' AND '{iso(c['time'] - 1)}' "
        f"AND lat BETWEEN {72.0 - 0.25 * (c['lat'] - 1)} AND 72 AND lon BETWEEN -25 AND {-25 + 0.25 * (c['lon'] - 1)}"
    )
    stored = db.query_result(sql)
    assert stored.stored_blocks >= 1, stored
    assert stored.stats.bytes_decoded == 0
    np.testing.assert_array_equal(stored.columns["t2m"], cube[: c["time"], : c["lat"], : c["lon"]])
    da = db.query(sql, stored_chunks=False)
    np.testing.assert_array_equal(da.values, stored.columns["t2m"])


def test_several_columns_give_a_dataset(db, era5_name, cube):
    ds = db.query(
        f"SELECT t2m, t2m - 273.15 AS t2m_c, isnan(t2m) AS missing FROM {era5_name} "
        "WHERE time = '2023-01-01T05:00:00Z' AND lat BETWEEN 50 AND 51"
    )
    assert isinstance(ds, xr.Dataset)
    assert list(ds.data_vars) == ["t2m", "t2m_c", "missing"]
    assert ds.t2m.dtype == np.float32 and ds.missing.dtype == np.bool_
    assert ds.t2m.dims == ("lat", "lon") and ds.sizes["lat"] == 5
    np.testing.assert_array_equal(ds.t2m.values, cube[5, 84:89])
    np.testing.assert_allclose(ds.t2m_c.values, cube[5, 84:89] - np.float32(273.15), rtol=1e-6)
    assert not ds.missing.values.any()


def test_catalog_statements_are_text_tables(db, era5_name):
    ds = db.query("SHOW ARRAYS")
    assert era5_name in list(ds["name"].values)
    d = db.query(f"DESCRIBE {era5_name}")
    assert "dimension" in list(d["kind"].values)


def test_arrays_and_describe(db, era5_name, cube):
    names = {a.name: a for a in db.arrays()}
    a = names[era5_name]
    assert a.dims == ("time", "lat", "lon") and a.shape == cube.shape and a.attributes == ("t2m",)
    info = db.describe(era5_name)
    assert info.shape == cube.shape and info.dim_names == ("time", "lat", "lon")
    assert info.head_version >= 1 and info.commits[-1].version == info.head_version
    time_dim = info.dim("time")
    assert time_dim.kind == "time" and time_dim.growable
    coords = info.coords()
    assert coords["time"].dtype == np.dtype("datetime64[ns]")
    assert coords["time"][0] == np.datetime64("2023-01-01T00:00")
    np.testing.assert_allclose(coords["lat"], 72.0 - 0.25 * np.arange(153))
    assert info.attribute("t2m").dtype == np.float32
    assert info.layouts[0].chunks > 0 and info.layouts[0].bytes > 0
    assert len(info.layouts[0].chunk_shape) == 3


def test_syntax_error_has_message_and_position(db, era5_name):
    with pytest.raises(arrayq.InvalidArgumentError) as err:
        db.query(f"SELECT t2m FROM {era5_name}\nWHERE lat = = 3")
    e = err.value
    assert e.position is not None and e.position[0] == 2 and e.line == 2
    assert e.message.startswith(f"{e.position[0]}:{e.position[1]}: ")
    assert "Expected" in e.message or "expected" in e.message
    assert isinstance(e, arrayq.ArrayQError) and isinstance(e, ValueError)


def test_unknown_name_has_position(db, era5_name):
    with pytest.raises(arrayq.ArrayQError) as err:
        db.query(f"SELECT t2m FROM {era5_name} WHERE t2n > 3")
    assert err.value.position == (1, len(f"SELECT t2m FROM {era5_name} WHERE ") + 1)
    assert "t2n" in err.value.message


def test_unknown_array_is_not_found(db):
    with pytest.raises(arrayq.NotFoundError) as err:
        db.query("SELECT x FROM no_such_array_here")
    assert "no_such_array_here" in err.value.message
    with pytest.raises(arrayq.NotFoundError):
        db.describe("no_such_array_here")


def test_result_size_limit(db, era5_name):
    with pytest.raises(arrayq.ResourceExhaustedError):
        db.query(f"SELECT t2m FROM {era5_name}", max_result_bytes=1000)


def test_explain(db, era5_name):
    plan = db.explain(f"SELECT t2m FROM {era5_name} WHERE lat = 52 AND lon = 5")
    assert plan.text and plan.layout
    assert plan.layout in [c[0] for c in plan.candidates]


def test_order_by_rows_give_time_as_datetime64(db, era5_name, cube, ref):
    """A time dimension shown as a column (ORDER BY rows) arrives as datetime64[ns]."""
    i = int(np.argmin(np.abs(ref.LATS - 52.0)))
    j = int(np.argmin(np.abs(ref.LONS - 5.0)))
    series = cube[:, i, j].astype(np.float64)
    hottest = np.argsort(-series, kind="stable")[:3]
    ds = db.query(
        f"SELECT t2m FROM {era5_name} WHERE lat = 52.0 AND lon = 5.0 ORDER BY t2m DESC LIMIT 3"
    )
    assert ds["time"].dtype == np.dtype("datetime64[ns]")
    assert "units" not in ds["time"].attrs
    want = np.datetime64("2023-01-01T00:00:00", "ns") + hottest.astype("timedelta64[h]")
    np.testing.assert_array_equal(ds["time"].values, want)
    np.testing.assert_array_equal(ds["t2m"].values.astype(np.float64), series[hottest])
