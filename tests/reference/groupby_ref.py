#!/usr/bin/env python3
"""Reference group-bys with numpy, pandas and xarray, for arrayq's bucket and
quantile tests.

    groupby_ref.py --cube cube.npy --t0 2023-01-01T00:00:00 --step-hours 5
                   --lat LAT0,DLAT --lon LON0,DLON

`cube.npy` holds float32 values (time, lat, lon), NaN missing; time starts at `t0`
(UTC) every `step-hours`, lat and lon are regular. Prints JSON (missing values as
null), every statistic computed in float64 by the tools users would otherwise use:
numpy.nanquantile (method 'linear') per pixel and per month and pixel; xarray
groupby('time.month' | 'time.hour' | 'time.dayofyear').mean(); pandas resample
('7h', origin=...) and resample('1D') in Europe/Amsterdam; xarray
coarsen(lat=4, lon=4, boundary='trim') and coarsen(lat=3, boundary='trim').
"""
import argparse
import json
import warnings

import numpy as np
import pandas as pd
import xarray as xr


def clean(a):
    return [None if np.isnan(x) else float(x) for x in np.asarray(a, dtype=np.float64).ravel()]


def ns(index):
    return [int(t.value) for t in index]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cube", required=True)
    ap.add_argument("--t0", required=True)
    ap.add_argument("--step-hours", type=int, required=True)
    ap.add_argument("--lat", required=True)
    ap.add_argument("--lon", required=True)
    a = ap.parse_args()
    cube = np.load(a.cube).astype(np.float64)
    nt, ny, nx = cube.shape
    lat0, dlat = (float(x) for x in a.lat.split(","))
    lon0, dlon = (float(x) for x in a.lon.split(","))
    time = pd.date_range(a.t0, periods=nt, freq=f"{a.step_hours}h", tz="UTC")
    da = xr.DataArray(
        cube,
        dims=("time", "lat", "lon"),
        coords={
            "time": time.tz_localize(None),
            "lat": lat0 + dlat * np.arange(ny),
            "lon": lon0 + dlon * np.arange(nx),
        },
    )
    out = {}
    warnings.simplefilter("ignore")  # all-NaN groups: NaN, as they should
    qs = [0.5, 0.1, 0.9]
    out["q_pixel"] = {str(q): clean(np.nanquantile(cube, q, axis=0, method="linear")) for q in qs}
    months = sorted(set(time.month))
    out["months"] = months
    out["q_month"] = {
        str(q): clean([np.nanquantile(cube[time.month == m], q, axis=0, method="linear") for m in months])
        for q in qs
    }
    for key, comp in [("month", "time.month"), ("hour", "time.hour"), ("doy", "time.dayofyear")]:
        g = da.groupby(comp).mean()
        out[f"mean_{key}"] = {"keys": [int(k) for k in g[comp.split(".")[1]].values], "values": clean(g.values)}

    flat = pd.DataFrame(cube.reshape(nt, ny * nx), index=time)
    r = flat.resample("7h", origin=pd.Timestamp("2023-01-01T02:00:00Z"))
    size = r.size()
    keep = size > 0
    out["bin7h"] = {"starts": ns(size.index[keep]), "values": clean(r.mean()[keep].values)}

    local = flat.tz_convert("Europe/Amsterdam").resample("1D")
    total = local.sum().sum(axis=1) / local.count().sum(axis=1)
    out["day_ams"] = {"starts": ns(total.index.tz_convert("UTC")), "values": clean(total.values)}

    c = da.coarsen(lat=4, lon=4, boundary="trim").mean()
    out["coarsen44"] = {"lat": clean(c.lat), "lon": clean(c.lon), "values": clean(c.values)}
    c = da.coarsen(lat=3, boundary="trim").mean()
    out["coarsen3"] = {"lat": clean(c.lat), "values": clean(c.values)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
