#!/usr/bin/env python3
"""Reference answers with xarray for arrayq's subqueries and CTEs.

    subquery_ref.py --src cube.npy --time0 2023-01-01T00:00:00 --tp 12

`cube.npy` holds t2m (time, lat, lon) as stored (f32), hourly from time0. Means are
taken in f64 (as arrayq's avg). Prints JSON: scalars and per-cell grids (row-major,
null for missing).
"""
import argparse
import json

import numpy as np
import pandas as pd
import xarray as xr


def grid(a):
    return [None if np.isnan(v) else float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tp", type=int, required=True)
    ap.add_argument("--time0", required=True)
    ap.add_argument("--src", required=True)
    a = ap.parse_args()
    x = np.load(a.src).astype(np.float64)
    nt = x.shape[0]
    time = pd.date_range(a.time0, periods=nt, freq="h")
    ds = xr.Dataset({"t2m": (("time", "lat", "lon"), x)}, coords={"time": time})
    t2m = ds.t2m
    cell_mean = t2m.mean("time")
    out = {}
    # One hour minus the per-cell climatology (a CTE joined on lat and lon).
    out["hour_anom"] = grid(t2m.isel(time=a.tp) - cell_mean)
    # The largest per-cell mean (a subquery in FROM), and per latitude (two CTEs).
    out["max_mean"] = float(cell_mean.max())
    out["row_max"] = grid(cell_mean.max("lon"))
    # January minus the January climatology (a subquery joined on the month).
    jan = t2m.sel(time=t2m.time.dt.month == 1)
    clim = t2m.groupby("time.month").mean("time").sel(month=1)
    out["month_anom"] = grid((jan - clim).transpose("time", "lat", "lon"))
    # Every hour minus its day's mean (a subquery joined on date_trunc('day', time)).
    day = t2m.time.dt.floor("D")
    daily = t2m.groupby(day) - t2m.groupby(day).mean("time")
    out["day_anom"] = grid(daily.transpose("time", "lat", "lon"))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
