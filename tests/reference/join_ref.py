#!/usr/bin/env python3
"""Reference answers with xarray for arrayq's joins of arrays.

    join_ref.py --src cube.npy --time0 2023-01-01T00:00:00 --t0 6 --t1 30 --tp 13

`cube.npy` holds t2m (time, lat, lon) as stored (f32), hourly from time0. The
climatologies are means over time in f64 (as arrayq's avg); the anomalies are
xarray's broadcasting arithmetic of a group-by: `x - x.groupby('time.month').mean()`.
Prints JSON: per-cell grids (row-major, null for missing).
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
    for k in ("t0", "t1", "tp"):
        ap.add_argument(f"--{k}", type=int, required=True)
    ap.add_argument("--time0", required=True)
    ap.add_argument("--src", required=True)
    a = ap.parse_args()
    x = np.load(a.src).astype(np.float64)
    nt, ny, nx = x.shape
    time = pd.date_range(a.time0, periods=nt, freq="h")
    da = xr.DataArray(x, dims=("time", "lat", "lon"), coords={"time": time})
    out = {}
    # Monthly climatology anomaly over the selected hours t0..t1 (inclusive).
    month = da.groupby("time.month") - da.groupby("time.month").mean("time")
    out["month_anom"] = grid(month.isel(time=slice(a.t0, a.t1 + 1)).transpose("time", "lat", "lon"))
    # Hour-of-day climatology anomaly over every hour.
    hour = da.groupby("time.hour") - da.groupby("time.hour").mean("time")
    out["hour_anom"] = grid(hour.transpose("time", "lat", "lon"))
    # One hour minus the per-cell mean: numpy broadcasting.
    out["plain"] = grid(x[a.tp] - x.mean(axis=0))
    # Average anomaly per latitude (over time and longitude).
    out["lat_mean"] = grid((x - x.mean(axis=0)).mean(axis=(0, 2)))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
